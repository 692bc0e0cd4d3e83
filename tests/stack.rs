//! The recommended stack end to end, on paused time.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::breaker::{BreakerConfig, State};
use failsoft::budget::RatioBudget;
use failsoft::error::{CircuitOpen, TimedOut};
use failsoft::fallback::FallbackReason;
use failsoft::stack::StackLayer;
use tokio::time;
use tower::{Layer, ServiceExt, service_fn};

type Reasons = Arc<Mutex<Vec<&'static str>>>;

fn recording(
    reasons: &Reasons,
) -> impl Fn(FallbackReason, BoxError) -> Result<&'static str, BoxError> + Clone {
    let reasons = Arc::clone(reasons);
    move |reason, _err| {
        reasons.lock().unwrap().push(reason.as_str());
        Ok("cached")
    }
}

/// A backend that always fails, counting the calls that reach it.
fn down(
    calls: &Arc<AtomicU32>,
) -> impl tower::Service<(), Response = &'static str, Error = BoxError, Future = impl Send> + Clone
{
    let calls = Arc::clone(calls);
    service_fn(move |_: ()| {
        calls.fetch_add(1, Ordering::Relaxed);
        async { Err::<&'static str, BoxError>("503".into()) }
    })
}

#[test]
fn default_config_is_valid() {
    assert!(StackLayer::builder().build().is_ok());
}

#[test]
fn attempt_timeout_must_fit_the_deadline() {
    let err = StackLayer::builder()
        .deadline(Duration::from_secs(1))
        .attempt_timeout(Duration::from_secs(2))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "stack.attempt_timeout");
    let err = StackLayer::builder()
        .attempt_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "stack.attempt_timeout");
}

#[test]
fn parts_report_their_own_fields() {
    let bad_breaker = BreakerConfig::builder().failure_rate(2.0);
    let err = StackLayer::builder()
        .breaker(bad_breaker)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "breaker.failure_rate");
    let bad_budget = RatioBudget::builder().ratio(f64::NAN);
    let err = StackLayer::builder()
        .budget(bad_budget)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "budget.ratio");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn open_breaker_is_answered_by_the_fallback_and_never_retried() {
    let calls = Arc::new(AtomicU32::new(0));
    let reasons = Reasons::default();
    let stack = StackLayer::builder()
        .budget(RatioBudget::builder().ratio(1.0))
        .breaker(BreakerConfig::builder().consecutive_failures(3))
        .fallback(recording(&reasons))
        .seed(1)
        .build()
        .unwrap();
    let client = stack.layer(down(&calls));
    // A plain failure goes back to the caller (no fallback for it)...
    let err = client.clone().oneshot(()).await.unwrap_err();
    assert_eq!(err.to_string(), "503");
    assert_eq!(calls.load(Ordering::Relaxed), 3, "three attempts");
    assert_eq!(stack.breaker().state(), State::Open);
    // ...then the open breaker is answered by the fallback, nothing is sent.
    for _ in 0..10 {
        assert_eq!(client.clone().oneshot(()).await.unwrap(), "cached");
    }
    assert_eq!(calls.load(Ordering::Relaxed), 3, "nothing sent while open");
    assert_eq!(reasons.lock().unwrap().len(), 10);
    // The throttle in front of the breaker sheds some of them first.
    let reasons = reasons.lock().unwrap();
    assert!(
        reasons
            .iter()
            .all(|r| *r == "circuit_open" || *r == "throttled")
    );
    assert!(reasons.contains(&"circuit_open"));
    assert_eq!(stack.counters().snapshot().attempts, 3 + 10);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn attempt_timeouts_count_as_breaker_failures() {
    let stack = StackLayer::builder()
        .max_attempts(1)
        .attempt_timeout(Duration::from_millis(100))
        .breaker(BreakerConfig::builder().consecutive_failures(2))
        .seed(2)
        .build()
        .unwrap();
    let sent = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&sent);
    let client = stack.layer(service_fn(move |_: ()| {
        counter.fetch_add(1, Ordering::Relaxed);
        async {
            time::sleep(Duration::from_secs(1)).await;
            Ok::<_, BoxError>("late")
        }
    }));
    let err = client.clone().oneshot(()).await.unwrap_err();
    assert!(
        err.downcast_ref::<TimedOut>()
            .is_some_and(|t| !t.by_deadline())
    );
    // The throttle may shed some of the next calls; the ones that reach the
    // breaker time out and count as failures.
    let mut calls = 1;
    while stack.breaker().state() != State::Open {
        let err = client.clone().oneshot(()).await.unwrap_err();
        assert!(err.is::<TimedOut>() || err.is::<failsoft::error::Throttled>());
        calls += 1;
        assert!(calls < 20, "timeouts never tripped the breaker");
    }
    let before = sent.load(Ordering::Relaxed);
    assert_eq!(before, 2, "two timeouts tripped it");
    let err = client.oneshot(()).await.unwrap_err();
    assert!(err.is::<CircuitOpen>() || err.is::<failsoft::error::Throttled>());
    assert_eq!(sent.load(Ordering::Relaxed), before, "rejected locally");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn budget_refusal_reaches_the_fallback() {
    let calls = Arc::new(AtomicU32::new(0));
    let reasons = Reasons::default();
    // No floor and a tiny ratio: the first retry is refused.
    let budget = RatioBudget::builder().ratio(0.0).floor(0.0);
    let stack = StackLayer::builder()
        .budget(budget)
        .breaker(
            BreakerConfig::builder()
                .consecutive_failures(100)
                .without_failure_rate(),
        )
        .fallback(recording(&reasons))
        .seed(3)
        .build()
        .unwrap();
    let client = stack.layer(down(&calls));
    assert_eq!(client.oneshot(()).await.unwrap(), "cached");
    assert_eq!(*reasons.lock().unwrap(), ["budget_refused"]);
    assert_eq!(calls.load(Ordering::Relaxed), 1, "no retry was sent");
    assert_eq!(stack.budget().snapshot().refused, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn healthy_backend_passes_through_untouched() {
    let stack = StackLayer::builder().seed(4).build().unwrap();
    let client = stack.layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x * 2) }));
    for i in 0..100 {
        assert_eq!(client.clone().oneshot(i).await.unwrap(), i * 2);
    }
    assert_eq!(stack.counters().snapshot().attempts, 100);
    assert_eq!(stack.breaker().state(), State::Closed);
}

/// A backend that answers every call with HTTP-like status 503.
fn unavailable(
    calls: Arc<AtomicU32>,
) -> impl tower::Service<u32, Response = u16, Error = BoxError, Future: Send> + Clone {
    service_fn(move |_: u32| {
        calls.fetch_add(1, Ordering::Relaxed);
        async { Ok::<u16, BoxError>(503) }
    })
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn one_result_classifier_drives_retry_and_breaker() {
    use failsoft::classify::{FailureKind, Verdict};

    // By default a 503 *response* is an `Ok`: a success to every layer.
    let calls = Arc::new(AtomicU32::new(0));
    let stack = StackLayer::builder().seed(3).build().unwrap();
    let svc = stack.layer(unavailable(Arc::clone(&calls)));
    assert_eq!(svc.oneshot(1).await.unwrap(), 503);
    assert_eq!(calls.load(Ordering::Relaxed), 1);

    // Classified by status, the same 503s are retried and trip the breaker.
    let calls = Arc::new(AtomicU32::new(0));
    let stack = StackLayer::builder()
        .breaker(BreakerConfig::builder().consecutive_failures(3))
        .classify_results(|res: &Result<u16, BoxError>| match res {
            Ok(500..=599) => Verdict::retryable(FailureKind::Error),
            Ok(_) => Verdict::success(),
            Err(_) => Verdict::retryable(FailureKind::Error),
        })
        .seed(3)
        .build()
        .unwrap();
    let breaker = stack.breaker().clone();
    let counters = stack.counters();
    let svc = stack.layer(unavailable(Arc::clone(&calls)));
    assert_eq!(svc.clone().oneshot(1).await.unwrap(), 503);
    // The budget's floor paid for one retry.
    assert_eq!(counters.snapshot().retries, 1, "the 503 was retried");
    for _ in 0..4 {
        let _ = svc.clone().oneshot(1).await;
    }
    assert_eq!(breaker.state(), State::Open, "503s tripped the breaker");
    // Three consecutive 503s opened it; later calls never left the client.
    assert_eq!(calls.load(Ordering::Relaxed), 3);
}
