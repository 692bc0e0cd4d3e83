//! The fallback layer on paused time, against `tower_test` mocks and the
//! real retry layer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::budget::{BudgetRefused, RetryBudget};
use failsoft::classify::FailureKind;
use failsoft::error::{CircuitOpen, Paced, Throttled, TimedOut};
use failsoft::fallback::{FallbackLayer, FallbackReason};
use failsoft::retry::RetryLayer;
use tokio_test::assert_ready_ok;
use tower::{Layer, ServiceExt, service_fn};
use tower_test::mock;

type Reasons = Arc<std::sync::Mutex<Vec<FallbackReason>>>;

/// A fallback that records why it was called and answers "cached".
fn recording(
    reasons: &Reasons,
) -> impl Fn(FallbackReason, BoxError) -> Result<&'static str, BoxError> + Clone {
    let reasons = Arc::clone(reasons);
    move |reason, _err| {
        reasons.lock().unwrap().push(reason);
        Ok("cached")
    }
}

async fn answer_with_error(
    err: BoxError,
    on_failures: bool,
) -> (Result<&'static str, BoxError>, Vec<FallbackReason>) {
    let reasons = Reasons::default();
    let layer = FallbackLayer::new(recording(&reasons)).on_failures(on_failures);
    let (mut svc, mut handle) = mock::spawn_layer::<(), &'static str, _>(layer);
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call(());
    let (_, send) = handle.next_request().await.unwrap();
    send.send_error(err);
    let res = fut.await;
    let seen = reasons.lock().unwrap().clone();
    (res, seen)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn circuit_open_falls_back_and_says_why() {
    let (res, seen) = answer_with_error(Box::new(CircuitOpen::new()), false).await;
    assert_eq!(res.unwrap(), "cached");
    assert_eq!(seen, [FallbackReason::CircuitOpen(CircuitOpen::new())]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn throttled_falls_back() {
    let (res, seen) = answer_with_error(Box::new(Throttled::new()), false).await;
    assert_eq!(res.unwrap(), "cached");
    assert_eq!(seen, [FallbackReason::Throttled(Throttled::new())]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_paced_rejection_falls_back_with_the_pace_end() {
    let until = tokio::time::Instant::now() + Duration::from_secs(2);
    let (res, seen) = answer_with_error(Box::new(Paced::over_rate(until)), false).await;
    assert_eq!(res.unwrap(), "cached");
    assert_eq!(seen, [FallbackReason::Paced(Paced::over_rate(until))]);
    assert_eq!(seen[0].as_str(), "paced");
    assert!(seen[0].is_local_rejection());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn deadline_timeout_falls_back_but_attempt_timeout_does_not() {
    let by_deadline = Box::new(TimedOut::new(Duration::from_secs(5), true));
    let (res, seen) = answer_with_error(by_deadline, false).await;
    assert_eq!(res.unwrap(), "cached");
    assert_eq!(seen, [FallbackReason::Deadline]);

    let by_attempt = Box::new(TimedOut::new(Duration::from_secs(1), false));
    let (res, seen) = answer_with_error(by_attempt, false).await;
    assert!(res.unwrap_err().is::<TimedOut>());
    assert!(seen.is_empty());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn backend_failures_pass_through_unless_asked() {
    let (res, seen) = answer_with_error("connection reset".into(), false).await;
    assert_eq!(res.unwrap_err().to_string(), "connection reset");
    assert!(seen.is_empty());

    let (res, seen) = answer_with_error("connection reset".into(), true).await;
    assert_eq!(res.unwrap(), "cached");
    assert_eq!(seen, [FallbackReason::Failed]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn successes_never_call_the_closure() {
    let reasons = Reasons::default();
    let layer = FallbackLayer::new(recording(&reasons)).on_failures(true);
    let (mut svc, mut handle) = mock::spawn_layer::<(), &'static str, _>(layer);
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call(());
    handle
        .next_request()
        .await
        .unwrap()
        .1
        .send_response("fresh");
    assert_eq!(fut.await.unwrap(), "fresh");
    assert!(reasons.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn closure_can_decline_by_returning_the_error() {
    let layer = FallbackLayer::new(|reason: FallbackReason, err: BoxError| match reason {
        FallbackReason::Throttled(_) => Ok("cached"),
        _ => Err(err),
    });
    let svc = layer.layer(service_fn(|_: ()| async {
        Err::<&str, BoxError>(Box::new(CircuitOpen::new()))
    }));
    assert!(svc.oneshot(()).await.unwrap_err().is::<CircuitOpen>());
}

/// A budget that refuses every retry.
#[derive(Clone, Debug, Default)]
struct Empty(Arc<AtomicU32>);

impl RetryBudget for Empty {
    type Receipt = ();
    fn on_request(&self) {}
    fn try_retry(&self, _: FailureKind) -> Result<(), BudgetRefused> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Err(BudgetRefused::new("empty"))
    }
    fn cancel_retry(&self, _: ()) {}
    fn on_success(&self, _: bool) {}
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn budget_refusal_is_learned_from_the_retry_layer() {
    let budget = Empty::default();
    let retry = RetryLayer::builder()
        .budget(budget.clone())
        .seed(1)
        .build()
        .unwrap();
    let backend = service_fn(|_: ()| async { Err::<&'static str, BoxError>("503".into()) });

    // The retry layer hands back the backend's own error...
    let reasons = Reasons::default();
    let plain = FallbackLayer::new(recording(&reasons)).layer(retry.layer(backend));
    assert_eq!(plain.oneshot(()).await.unwrap_err().to_string(), "503");
    assert!(
        reasons.lock().unwrap().is_empty(),
        "the error alone does not tell"
    );

    // ...so only the retry future's stop reason says the budget refused.
    let svc = FallbackLayer::new(recording(&reasons))
        .reading_stop_reason()
        .layer(retry.layer(backend));
    assert_eq!(svc.oneshot(()).await.unwrap(), "cached");
    assert_eq!(
        *reasons.lock().unwrap(),
        [FallbackReason::BudgetRefused(BudgetRefused::new("empty"))]
    );
    assert_eq!(budget.0.load(Ordering::Relaxed), 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn deadline_is_learned_from_the_retry_layer() {
    let retry = RetryLayer::builder()
        .deadline(Duration::from_millis(300))
        .seed(1)
        .build()
        .unwrap();
    let backend = service_fn(|_: ()| async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Err::<&'static str, BoxError>("503".into())
    });
    let reasons = Reasons::default();
    let svc = FallbackLayer::new(recording(&reasons))
        .reading_stop_reason()
        .layer(retry.layer(backend));
    assert_eq!(svc.oneshot(()).await.unwrap(), "cached");
    assert_eq!(*reasons.lock().unwrap(), [FallbackReason::Deadline]);
}
