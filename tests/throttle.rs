//! The throttle under the retry layer: local rejections are typed, returned
//! at once and never retried, and the counters of both layers agree.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use failsoft::budget::RatioBudget;
use failsoft::error::Throttled;
use failsoft::retry::{RetryLayer, StopReason};
use failsoft::throttle::ThrottleLayer;
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

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
        if let Some(t) = err.downcast_ref::<Throttled>() {
            throttled += 1;
            assert!(t.probability() > 0.0 && t.probability() <= 0.9);
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
