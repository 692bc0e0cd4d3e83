//! Issue 13, defect 1: the deadline bounds every wait of a retry, including
//! the wait for the inner service to become ready again. On paused time.

use std::pin::pin;
use std::time::Duration;

use failsoft::BoxError;
use failsoft::backoff::{ExponentialBackoff, Jitter};
use failsoft::breaker::BreakerConfig;
use failsoft::budget::RatioBudget;
use failsoft::retry::{RetryLayer, StopReason};
use failsoft::stack::StackLayer;
use tokio::time::{self, Instant};
use tower::{Layer, Service, ServiceExt};
use tower_test::mock;

const DEADLINE: Duration = Duration::from_secs(1);
/// Far past the deadline: a request still pending then waited unbounded.
const HOUR: Duration = Duration::from_secs(3600);

fn backoff_100ms() -> ExponentialBackoff {
    ExponentialBackoff::builder()
        .base(Duration::from_millis(100))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

/// One retry per window from the floor, none from requests.
fn one_retry_budget() -> RatioBudget {
    RatioBudget::builder()
        .ratio(0.0)
        .floor(0.1)
        .build()
        .unwrap()
}

/// A mock backend that is ready for exactly one call and fails it at once;
/// after that it is never ready (as `Buffer` or `ConcurrencyLimit` in front
/// of a dead backend), unless the test allows more calls.
fn fail_first_then_stall(
    mut handle: mock::Handle<&'static str, u16>,
) -> tokio::task::JoinHandle<()> {
    handle.allow(1);
    tokio::spawn(async move {
        while let Some((_req, send)) = handle.next_request().await {
            send.send_error("reset");
        }
    })
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_service_never_ready_again_ends_the_request_at_its_deadline() {
    let (inner, handle) = mock::pair::<&'static str, u16>();
    let _backend = fail_first_then_stall(handle);
    let budget = one_retry_budget();
    let layer = RetryLayer::builder()
        .deadline(DEADLINE)
        .backoff(backoff_100ms())
        .budget(budget.clone())
        .seed(1)
        .build()
        .unwrap();
    let counters = layer.counters();
    let mut svc = layer.layer(inner);
    let start = Instant::now();
    ServiceExt::<&str>::ready(&mut svc).await.unwrap();
    let mut fut = pin!(svc.call("x"));
    let res = time::timeout(HOUR, fut.as_mut())
        .await
        .expect("the request ends by its deadline, not after an hour");
    assert_eq!(
        Instant::now() - start,
        DEADLINE,
        "ends exactly at the deadline"
    );
    // The caller gets the last attempt's result, unchanged.
    assert_eq!(res.unwrap_err().to_string(), "reset");
    assert_eq!(fut.stop_reason(), Some(StopReason::Deadline));
    assert_eq!(fut.attempts(), 1);
    let snap = counters.snapshot();
    assert_eq!((snap.requests, snap.attempts, snap.retries), (1, 1, 0));
    assert_eq!(snap.give_ups.deadline, 1);
    assert_eq!(snap.cancelled, 0);
    // The withdrawal for the retry that was never sent is given back.
    let b = budget.snapshot();
    assert_eq!((b.granted, b.cancelled), (0, 1));
    assert_eq!(b.available, 1.0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_service_ready_only_after_the_deadline_gets_no_retry() {
    let (inner, mut handle) = mock::pair::<&'static str, u16>();
    handle.allow(1);
    let budget = one_retry_budget();
    let layer = RetryLayer::builder()
        .deadline(DEADLINE)
        .backoff(backoff_100ms())
        .budget(budget.clone())
        .seed(2)
        .build()
        .unwrap();
    let counters = layer.counters();
    let mut svc = layer.layer(inner);
    let start = Instant::now();
    // The backend answers the first call, becomes ready again at 5 s and
    // records when every later call reaches it.
    let backend = tokio::spawn(async move {
        let (_req, send) = handle.next_request().await.unwrap();
        send.send_error("reset");
        time::sleep_until(start + Duration::from_secs(5)).await;
        handle.allow(10);
        let mut late = Vec::new();
        while let Ok(Some((_req, send))) =
            time::timeout(Duration::from_secs(60), handle.next_request()).await
        {
            late.push(Instant::now() - start);
            send.send_response(200);
        }
        late
    });
    ServiceExt::<&str>::ready(&mut svc).await.unwrap();
    let mut fut = pin!(svc.call("x"));
    let res = time::timeout(HOUR, fut.as_mut()).await.expect("bounded");
    assert_eq!(Instant::now() - start, DEADLINE);
    assert!(res.is_err());
    assert_eq!(fut.stop_reason(), Some(StopReason::Deadline));
    drop(svc);
    let late = backend.await.unwrap();
    assert_eq!(late, Vec::<Duration>::new(), "no retry after the deadline");
    assert_eq!(counters.snapshot().retries, 0);
    assert_eq!(budget.snapshot().cancelled, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_service_ready_before_the_deadline_still_gets_its_retry() {
    let (inner, mut handle) = mock::pair::<&'static str, u16>();
    handle.allow(1);
    let budget = one_retry_budget();
    let layer = RetryLayer::builder()
        .deadline(DEADLINE)
        .backoff(backoff_100ms())
        .budget(budget.clone())
        .seed(3)
        .build()
        .unwrap();
    let mut svc = layer.layer(inner);
    let start = Instant::now();
    let backend = tokio::spawn(async move {
        let (_req, send) = handle.next_request().await.unwrap();
        send.send_error("reset");
        time::sleep_until(start + Duration::from_millis(700)).await;
        handle.allow(1);
        let (_req, send) = handle.next_request().await.unwrap();
        let at = Instant::now() - start;
        send.send_response(200);
        at
    });
    ServiceExt::<&str>::ready(&mut svc).await.unwrap();
    let mut fut = pin!(svc.call("x"));
    assert_eq!(fut.as_mut().await.unwrap(), 200);
    assert_eq!(backend.await.unwrap(), Duration::from_millis(700));
    assert_eq!(fut.stop_reason(), Some(StopReason::Succeeded));
    let b = budget.snapshot();
    assert_eq!((b.granted, b.cancelled), (1, 0));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn through_the_stack_a_stalled_service_ends_at_the_deadline() {
    let (inner, handle) = mock::pair::<&'static str, u16>();
    let _backend = fail_first_then_stall(handle);
    let stack = StackLayer::builder()
        .deadline(DEADLINE)
        .attempt_timeout(Duration::from_millis(500))
        .backoff(backoff_100ms())
        .budget(RatioBudget::builder().ratio(0.0).floor(0.1))
        .breaker(
            BreakerConfig::builder()
                .consecutive_failures(100)
                .without_failure_rate(),
        )
        .seed(4)
        .build()
        .unwrap();
    let counters = stack.counters();
    let budget = stack.budget().clone();
    let svc = stack.layer(inner);
    let start = Instant::now();
    let res: Result<u16, BoxError> = time::timeout(HOUR, svc.oneshot("x"))
        .await
        .expect("the stack's request ends by its deadline");
    assert_eq!(Instant::now() - start, DEADLINE);
    assert!(res.is_err());
    let snap = counters.snapshot();
    assert_eq!((snap.requests, snap.retries), (1, 0));
    assert_eq!(snap.give_ups.deadline, 1);
    let b = budget.snapshot();
    assert_eq!((b.granted, b.cancelled), (0, 1));
}
