//! What waiting for readiness must not do to the gates: count as a request,
//! hold the breaker's half-open slots forever, or make a probe slow.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::breaker::{Breaker, BreakerConfig, CircuitBreakerLayer, State};
use failsoft::error::Throttled;
use failsoft::throttle::ThrottleLayer;
use tokio::time::{self, Instant};
use tower::{Layer, Service, ServiceExt};

/// A service that is ready only while `ready` is set (it never wakes a
/// waiter: callers poll again or give up), answering after `latency`
/// with `Ok` or, while `fail` is set, an error.
#[derive(Clone)]
struct Gated {
    ready: Arc<AtomicBool>,
    fail: Arc<AtomicBool>,
    latency: Duration,
}

impl Gated {
    fn new(ready: bool, latency: Duration) -> Self {
        Self {
            ready: Arc::new(AtomicBool::new(ready)),
            fail: Arc::new(AtomicBool::new(false)),
            latency,
        }
    }
}

impl Service<()> for Gated {
    type Response = ();
    type Error = BoxError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.ready.load(Ordering::Relaxed) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, (): ()) -> Self::Future {
        let (fail, latency) = (self.fail.load(Ordering::Relaxed), self.latency);
        Box::pin(async move {
            time::sleep(latency).await;
            if fail { Err("down".into()) } else { Ok(()) }
        })
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn callers_who_give_up_waiting_for_readiness_are_not_requests() {
    let layer = ThrottleLayer::builder().seed(2).build().unwrap();
    let handle = layer.handle();
    let backend = Gated::new(false, Duration::ZERO);
    let svc = layer.layer(backend.clone());
    // Twenty callers wait for a service that is not ready, and give up.
    for _ in 0..20 {
        let mut caller = svc.clone();
        let waited = time::timeout(Duration::from_millis(10), caller.ready()).await;
        assert!(waited.is_err(), "still not ready");
    }
    // One real failure, then a healthy backend.
    backend.ready.store(true, Ordering::Relaxed);
    backend.fail.store(true, Ordering::Relaxed);
    assert!(svc.clone().oneshot(()).await.is_err());
    backend.fail.store(false, Ordering::Relaxed);
    let mut shed = 0;
    for _ in 0..100 {
        if let Err(e) = svc.clone().oneshot(()).await {
            assert!(e.is::<Throttled>());
            shed += 1;
        }
    }
    assert_eq!(shed, 0, "one failure in one request is no overload");
    assert_eq!(handle.snapshot().requests, 101);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn probes_stuck_waiting_for_readiness_lose_their_slots() {
    let cfg = BreakerConfig::builder()
        .consecutive_failures(1)
        .half_open_probes(2)
        .half_open_successes(1)
        .half_open_wait(Duration::from_secs(30))
        .without_ramp_up()
        .seed(3)
        .build()
        .unwrap();
    let breaker = Breaker::new(&cfg);
    let layer = CircuitBreakerLayer::with_handle(breaker.clone());
    let healthy = Gated::new(true, Duration::ZERO);
    healthy.fail.store(true, Ordering::Relaxed);
    assert!(layer.layer(healthy.clone()).oneshot(()).await.is_err());
    assert_eq!(breaker.state(), State::Open);
    healthy.fail.store(false, Ordering::Relaxed);
    time::sleep_until(breaker.snapshot_at(Instant::now()).next_probe.unwrap()).await;

    // Two callers take both probe slots in `poll_ready`, on a service that
    // never gets ready, and keep waiting.
    let mut stuck: Vec<_> = (0..2)
        .map(|_| layer.layer(Gated::new(false, Duration::ZERO)))
        .collect();
    for svc in &mut stuck {
        let polled = poll_fn(|cx| Poll::Ready(svc.poll_ready(cx))).await;
        assert!(polled.is_pending());
    }
    assert_eq!(breaker.state(), State::HalfOpen);
    let err = layer.layer(healthy.clone()).oneshot(()).await.unwrap_err();
    assert!(
        err.is::<failsoft::error::CircuitOpen>(),
        "both slots are held"
    );
    // After the half-open wait, the slots go to callers that can use them.
    time::sleep(Duration::from_secs(30)).await;
    layer.layer(healthy.clone()).oneshot(()).await.unwrap();
    assert_eq!(breaker.state(), State::Closed);
    drop(stuck);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "late probes count for nothing"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_probe_is_timed_from_its_call_not_its_wait_for_readiness() {
    let cfg = BreakerConfig::builder()
        .consecutive_failures(1)
        .slow_calls(0.5, Duration::from_secs(1))
        .half_open_successes(1)
        .without_ramp_up()
        .seed(5)
        .build()
        .unwrap();
    let breaker = Breaker::new(&cfg);
    let layer = CircuitBreakerLayer::with_handle(breaker.clone());
    let backend = Gated::new(true, Duration::from_millis(10));
    backend.fail.store(true, Ordering::Relaxed);
    assert!(layer.layer(backend.clone()).oneshot(()).await.is_err());
    backend.fail.store(false, Ordering::Relaxed);
    time::sleep_until(breaker.snapshot_at(Instant::now()).next_probe.unwrap()).await;

    // The probe is admitted in `poll_ready`, then waits 5 s for the
    // service to get ready, then is answered in 10 ms.
    let mut svc = layer.layer(backend.clone());
    backend.ready.store(false, Ordering::Relaxed);
    let polled = poll_fn(|cx| Poll::Ready(svc.poll_ready(cx))).await;
    assert!(polled.is_pending());
    assert_eq!(breaker.state(), State::HalfOpen);
    time::sleep(Duration::from_secs(5)).await;
    backend.ready.store(true, Ordering::Relaxed);
    svc.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(breaker.state(), State::Closed, "a 10 ms answer is not slow");
}
