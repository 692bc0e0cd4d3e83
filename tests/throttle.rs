//! The throttle under the retry layer: local rejections are typed, returned
//! at once and never retried, and the counters of both layers agree. And
//! its slow-call threshold: a slow answer is no accept.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use failsoft::budget::RatioBudget;
use failsoft::error::Throttled;
use failsoft::retry::{RetryLayer, StopReason};
use failsoft::stack::StackLayer;
use failsoft::throttle::ThrottleLayer;
use tokio::time::Instant;
use tokio_test::{assert_pending, assert_ready_ok, task};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_test::mock;

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn throttled_attempts_are_never_retried() {
    let calls = Arc::new(AtomicU64::new(0));
    let backend = {
        let calls = Arc::clone(&calls);
        service_fn(move |_: ()| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err::<(), _>(std::io::Error::other("503 unavailable")) }
        })
    };
    let throttle = ThrottleLayer::builder().seed(5).build().unwrap();
    let handle = throttle.handle();
    let retry = RetryLayer::builder()
        .max_attempts(3)
        .seed(1)
        .budget(RatioBudget::default())
        .build()
        .unwrap();
    let counters = retry.counters();
    let mut client = ServiceBuilder::new()
        .layer(retry)
        .layer(throttle)
        .service(backend);

    let mut throttled = 0;
    for _ in 0..300 {
        let fut = client.ready().await.unwrap().call(());
        tokio::pin!(fut);
        let started = Instant::now();
        let err = fut.as_mut().await.unwrap_err();
        if err.is::<Throttled>() {
            throttled += 1;
            let p = handle.probability();
            assert!(p > 0.0 && p <= 0.9, "shed at p = {p}");
            assert_eq!(fut.stop_reason(), Some(StopReason::LocalRejection));
            // A first-attempt rejection comes back at once, with no backoff.
            if fut.attempts() == 1 {
                assert_eq!(Instant::now(), started);
            }
        } else {
            assert_eq!(err.to_string(), "503 unavailable");
        }
    }
    let retry = counters.snapshot();
    let th = handle.snapshot();
    assert!(throttled > 150, "{throttled}");
    assert_eq!(th.rejected, throttled);
    assert_eq!(retry.give_ups.local_rejection, throttled);
    // Every attempt either reached the backend or was rejected locally.
    assert_eq!(retry.attempts, calls.load(Ordering::Relaxed) + th.rejected);
    assert_eq!(th.requests, retry.attempts);
    assert_eq!(th.accepts, 0);
    assert!(th.probability > 0.8);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn throttle_works_alone_in_a_service_builder() {
    let layer = ThrottleLayer::builder().seed(9).build().unwrap();
    let handle = layer.handle();
    let mut svc = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|x: u32| async move {
            Ok::<_, std::io::Error>(x * 2)
        }));
    for i in 0..100 {
        assert_eq!(svc.ready().await.unwrap().call(i).await.unwrap(), i * 2);
    }
    let s = handle.snapshot();
    assert_eq!((s.requests, s.accepts, s.rejected), (100, 100, 0));
}

/// One call through a throttle with a 1 s slow-call threshold: the mock
/// backend answers 200 after `took`. Returns (requests, accepts).
/// A throttle counting answers that took 1 s or more as no accepts.
fn slow_throttle(seed: u64) -> ThrottleLayer {
    ThrottleLayer::builder()
        .seed(seed)
        .slow_call(Duration::from_secs(1))
        .build()
        .unwrap()
}

async fn accepted_after(took: Duration) -> (u64, u64) {
    let layer = slow_throttle(3);
    let handle = layer.handle();
    let (mut svc, mut inner) = mock::spawn_layer::<(), u16, _>(layer);
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(()));
    assert_pending!(fut.poll()); // the clock starts here
    let (_, send) = inner.next_request().await.unwrap();
    tokio::time::advance(took).await;
    send.send_response(200);
    // The response reaches the caller unchanged, slow or not.
    assert_eq!(assert_ready_ok!(fut.poll()), 200);
    let s = handle.snapshot();
    (s.requests, s.accepts)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_slow_response_is_not_an_accept() {
    assert_eq!(accepted_after(Duration::from_secs(3)).await, (1, 0));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_fast_response_is_an_accept() {
    assert_eq!(accepted_after(Duration::from_millis(200)).await, (1, 1));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_slow_call_threshold_itself_is_slow() {
    assert_eq!(accepted_after(Duration::from_millis(999)).await, (1, 1));
    assert_eq!(accepted_after(Duration::from_secs(1)).await, (1, 0));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_call_ready_on_its_first_poll_is_fast_however_late_it_is_polled() {
    let layer = slow_throttle(3);
    let handle = layer.handle();
    let mut svc = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(
            |x: u8| async move { Ok::<_, std::io::Error>(x) },
        ));
    let fut = svc.ready().await.unwrap().call(7);
    // Time is measured from the first poll that finds the call pending;
    // this one never is.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(fut.await.unwrap(), 7);
    let s = handle.snapshot();
    assert_eq!((s.requests, s.accepts), (1, 1));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_backend_that_answers_only_slowly_is_throttled() {
    let layer = slow_throttle(4);
    let handle = layer.handle();
    let mut svc = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|_: ()| async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok::<u16, std::io::Error>(200)
        }));
    let (mut answered, mut throttled) = (0, 0);
    for _ in 0..100 {
        match svc.ready().await.unwrap().call(()).await {
            Ok(200) => answered += 1,
            Err(e) if e.is::<Throttled>() => throttled += 1,
            other => panic!("{other:?}"),
        }
    }
    // Every answer was a success, and none was an accept: after the first
    // 10 requests the probability sits at the 0.9 cap.
    assert_eq!(handle.snapshot().accepts, 0);
    assert!(throttled > 70, "{answered} answered, {throttled} throttled");
    assert_eq!(handle.probability(), 0.9);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_slow_call_dropped_before_it_completes_counts_only_as_a_request() {
    let layer = slow_throttle(5);
    let handle = layer.handle();
    let (mut svc, mut inner) = mock::spawn_layer::<(), u16, _>(layer);
    assert_ready_ok!(svc.poll_ready());
    let mut fut = task::spawn(svc.call(()));
    assert_pending!(fut.poll());
    let (_, send) = inner.next_request().await.unwrap();
    tokio::time::advance(Duration::from_secs(3)).await;
    drop(fut);
    send.send_response(200); // nobody is listening any more
    let s = handle.snapshot();
    assert_eq!((s.requests, s.accepts, s.probability), (1, 0, 0.0));
    // The next call is judged on its own.
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call(());
    let (_, send) = inner.next_request().await.unwrap();
    send.send_response(200);
    assert_eq!(fut.await.unwrap(), 200);
    let s = handle.snapshot();
    assert_eq!((s.requests, s.accepts), (2, 1));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_unreachable_slow_call_threshold_never_judges_a_call_slow() {
    let layer = ThrottleLayer::builder()
        .seed(6)
        .slow_call(Duration::MAX)
        .build()
        .unwrap();
    let handle = layer.handle();
    let mut svc = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|_: ()| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<u16, std::io::Error>(200)
        }));
    assert_eq!(svc.ready().await.unwrap().call(()).await.unwrap(), 200);
    assert_eq!(handle.snapshot().accepts, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_recommended_stack_counts_answers_slower_than_half_the_attempt_timeout_as_no_accepts() {
    for (timeout_ms, fast, slow) in [(2_000, 900, 1_500), (4_000, 1_900, 2_500)] {
        let stack = StackLayer::builder()
            .attempt_timeout(Duration::from_millis(timeout_ms))
            .seed(2)
            .build()
            .unwrap();
        let throttle = stack.throttle();
        let mut svc = stack.layer(service_fn(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<u64, std::io::Error>(ms)
        }));
        // Both answer within the attempt timeout.
        assert_eq!(svc.ready().await.unwrap().call(fast).await.unwrap(), fast);
        assert_eq!(svc.ready().await.unwrap().call(slow).await.unwrap(), slow);
        let s = throttle.snapshot();
        assert_eq!((s.requests, s.accepts), (2, 1), "timeout {timeout_ms} ms");
    }
}
