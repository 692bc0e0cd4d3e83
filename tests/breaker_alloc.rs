//! The success path of a closed breaker and the fast fail of an open one
//! allocate nothing, through the pure API and through the Tower service.

use std::future::{Ready, ready};
use std::task::{Context, Poll};

use failsoft::breaker::{Breaker, BreakerConfig, CircuitBreaker, State};
use failsoft::classify::{FailureKind, Outcome};
use failsoft::error::CircuitOpen;
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
fn the_fast_fail_allocates_nothing() {
    // The rejection is a zero-sized `CircuitOpen`: boxing it as a
    // `BoxError` allocates nothing, open or forced open, through the pure
    // API and through the Tower service.
    let cfg = BreakerConfig::builder()
        .consecutive_failures(1)
        .seed(1)
        .build()
        .unwrap();
    let mut svc = CircuitBreaker::new(Echo, Breaker::new(&cfg));
    let breaker = svc.handle().clone();
    let now = Instant::now();
    let permit = breaker.try_acquire_at(now).unwrap();
    breaker.record_at(permit, Outcome::Retryable(FailureKind::Error), now);
    assert_eq!(breaker.state(), State::Open);
    let mut cx = Context::from_waker(noop_waker_ref());
    let mut reject = |svc: &mut CircuitBreaker<Echo>| {
        assert!(svc.poll_ready(&mut cx).is_ready());
        let mut fut = std::pin::pin!(svc.call(1));
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(Err(e)) => assert!(e.is::<CircuitOpen>()),
            _ => panic!("an open breaker must reject"),
        }
    };
    reject(&mut svc);
    for (state, what) in [(State::Open, "open"), (State::ForcedOpen, "forced open")] {
        if state == State::ForcedOpen {
            breaker.force_open();
        }
        let info = allocation_counter::measure(|| {
            for _ in 0..1_000 {
                assert!(breaker.try_acquire_at(now).is_err());
                reject(&mut svc);
            }
        });
        assert_eq!(breaker.state(), state);
        assert_eq!(info.count_total, 0, "{what}");
    }
}

#[test]
fn a_data_carrying_error_is_counted_as_allocating() {
    // Guards the measurement: boxing an error with data allocates.
    let info = allocation_counter::measure(|| {
        let until = Instant::now();
        let err: failsoft::BoxError = Box::new(failsoft::error::Paced::over_rate(until));
        std::hint::black_box(err);
    });
    assert!(info.count_total > 0);
}
