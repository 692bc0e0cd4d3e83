//! The success path of a closed breaker allocates nothing, through the
//! pure API and through the Tower service.

use std::future::{Ready, ready};
use std::task::{Context, Poll};

use failsoft::breaker::{Breaker, BreakerConfig, CircuitBreaker};
use failsoft::classify::Outcome;
use futures::task::noop_waker_ref;
use tokio::time::Instant;
use tower::Service;

#[derive(Clone, Copy, Debug)]
struct Echo;

impl Service<u64> for Echo {
    type Response = u64;
    type Error = std::convert::Infallible;
    type Future = Ready<Result<u64, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> Self::Future {
        ready(Ok(req))
    }
}

#[test]
fn success_path_allocates_nothing_per_call() {
    let cfg = BreakerConfig::builder().seed(1).build().unwrap();

    let breaker = Breaker::new(&cfg);
    let now = Instant::now();
    // Fill the window first (the first 100 calls take the locked path).
    for _ in 0..200 {
        let permit = breaker.try_acquire_at(now).unwrap();
        breaker.record_at(permit, Outcome::Success, now);
    }
    let info = allocation_counter::measure(|| {
        for _ in 0..10_000 {
            let permit = breaker.try_acquire_at(now).unwrap();
            breaker.record_at(permit, Outcome::Success, now);
        }
    });
    assert_eq!(info.count_total, 0, "pure API");

    let mut svc = CircuitBreaker::new(Echo, Breaker::new(&cfg));
    let mut cx = Context::from_waker(noop_waker_ref());
    let mut one = |svc: &mut CircuitBreaker<Echo>| {
        assert!(svc.poll_ready(&mut cx).is_ready());
        let mut fut = std::pin::pin!(svc.call(1));
        assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(1))));
    };
    for _ in 0..200 {
        one(&mut svc);
    }
    let info = allocation_counter::measure(|| {
        for _ in 0..10_000 {
            one(&mut svc);
        }
    });
    assert_eq!(info.count_total, 0, "service");
}

#[test]
fn tripping_is_counted_as_allocating() {
    // Guards the measurement: an open breaker's rejection is boxed.
    let cfg = BreakerConfig::builder()
        .consecutive_failures(1)
        .seed(1)
        .build()
        .unwrap();
    let mut svc = CircuitBreaker::new(Echo, Breaker::new(&cfg));
    svc.handle().force_open();
    let mut cx = Context::from_waker(noop_waker_ref());
    let info = allocation_counter::measure(|| {
        assert!(svc.poll_ready(&mut cx).is_ready());
        let mut fut = std::pin::pin!(svc.call(1));
        assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Err(_))));
    });
    assert!(info.count_total > 0);
}
