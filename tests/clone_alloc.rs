//! `svc.clone().oneshot(req)` allocates nothing, for every layer and for
//! the recommended stack: a clone shares its layer's state (no `Arc` or
//! `Box` of its own). And an open breaker's fast fail through the stack,
//! with a fallback answering, allocates nothing either, nor does a
//! shedding throttle's.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::breaker::{BreakerConfig, CircuitBreakerLayer, KeyedCircuitBreakerLayer, State};
use failsoft::budget::RatioBudget;
use failsoft::fallback::{FallbackLayer, FallbackReason};
use failsoft::retry::RetryLayer;
use failsoft::stack::{AttemptTimeoutLayer, StackLayer};
use failsoft::throttle::ThrottleLayer;
use tower::{Layer, Service, ServiceExt};

/// An in-process backend answering at once.
#[derive(Clone, Copy, Debug)]
struct Echo;

impl Service<u64> for Echo {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> Self::Future {
        ready(Ok(req))
    }
}

/// `svc.clone().oneshot(req)`, which must complete at its first poll;
/// returns the answer.
fn clone_oneshot<S>(svc: &S, req: u64) -> Result<u64, S::Error>
where
    S: Service<u64, Response = u64> + Clone,
{
    let mut cx = Context::from_waker(Waker::noop());
    let fut = pin!(svc.clone().oneshot(req));
    match fut.poll(&mut cx) {
        Poll::Ready(res) => res,
        Poll::Pending => panic!("an in-process call completes at once"),
    }
}

/// Allocations made by 1,000 `clone().oneshot` calls (after one to warm up
/// thread-locals), each answered `want`.
fn allocations<S>(svc: &S, want: u64) -> u64
where
    S: Service<u64, Response = u64> + Clone,
    S::Error: std::fmt::Debug,
{
    assert_eq!(clone_oneshot(svc, 7).unwrap(), want);
    allocation_counter::measure(|| {
        for _ in 0..1_000 {
            assert_eq!(clone_oneshot(svc, 7).unwrap(), want);
        }
    })
    .count_total
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn retry_clones_allocate_nothing() {
    let rt = runtime();
    let _enter = rt.enter();
    let plain = RetryLayer::builder().seed(1).build().unwrap().layer(Echo);
    assert_eq!(allocations(&plain, 7), 0, "no budget");
    let budgeted = RetryLayer::builder()
        .budget(RatioBudget::builder().build().unwrap())
        .deadline(Duration::from_secs(5))
        .seed(1)
        .build()
        .unwrap()
        .layer(Echo);
    assert_eq!(allocations(&budgeted, 7), 0, "ratio budget and deadline");
}

#[test]
fn throttle_clones_allocate_nothing() {
    let rt = runtime();
    let _enter = rt.enter();
    let svc = ThrottleLayer::builder()
        .seed(1)
        .build()
        .unwrap()
        .layer(Echo);
    assert_eq!(allocations(&svc, 7), 0);
}

#[test]
fn breaker_clones_allocate_nothing() {
    let rt = runtime();
    let _enter = rt.enter();
    let cfg = BreakerConfig::builder().seed(1).build().unwrap();
    let svc = CircuitBreakerLayer::new(cfg.clone()).layer(Echo);
    assert_eq!(allocations(&svc, 7), 0, "closed");
    let keyed = KeyedCircuitBreakerLayer::new(cfg, 16, |_: &u64| 0u8)
        .unwrap()
        .layer(Echo);
    assert_eq!(allocations(&keyed, 7), 0, "keyed, key known");
}

#[test]
fn fallback_and_attempt_timeout_clones_allocate_nothing() {
    let rt = runtime();
    let _enter = rt.enter();
    let fallback = FallbackLayer::new(|_: FallbackReason, _: BoxError| Ok(0u64)).layer(Echo);
    assert_eq!(allocations(&fallback, 7), 0, "fallback");
    let timeout = AttemptTimeoutLayer::new(Duration::from_secs(1)).layer(Echo);
    assert_eq!(allocations(&timeout, 7), 0, "attempt timeout");
}

#[test]
fn stack_clones_allocate_nothing() {
    let rt = runtime();
    let _enter = rt.enter();
    let layer = StackLayer::builder().seed(1).build().unwrap();
    let svc = layer.layer(Echo);
    assert_eq!(allocations(&svc, 7), 0);
    assert_eq!(layer.breaker().state(), State::Closed);
}

#[test]
fn an_open_breaker_through_the_stack_answers_the_fallback_without_allocating() {
    let rt = runtime();
    let _enter = rt.enter();
    let layer = StackLayer::builder()
        .fallback(|reason: FallbackReason, _: BoxError| match reason {
            FallbackReason::CircuitOpen(_) => Ok(0u64),
            other => panic!("expected the open breaker, got {other:?}"),
        })
        .seed(1)
        .build()
        .unwrap();
    let svc = layer.layer(Echo);
    layer.breaker().force_open();
    assert_eq!(allocations(&svc, 0), 0, "forced open");
    // Open by failures: the fast fail reads the clock, still no allocation.
    layer.breaker().reset();
    let failing = layer.layer(tower::service_fn(|_: u64| {
        ready(Err::<u64, BoxError>(
            failsoft::error::TimedOut::new(Duration::ZERO, false).into(),
        ))
    }));
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..20 {
        let _ = pin!(failing.clone().oneshot(1)).poll(&mut cx);
        if layer.breaker().state() == State::Open {
            break;
        }
    }
    assert_eq!(layer.breaker().state(), State::Open);
    assert_eq!(allocations(&svc, 0), 0, "open");
    assert_eq!(layer.breaker().state(), State::Open);
}

#[test]
fn after_an_outage_shed_and_open_calls_answer_the_fallback_without_allocating() {
    // As after a real outage: the breaker open and the throttle shedding
    // most calls (1,000 requests without an accept in its window). A shed
    // call's `Throttled` carries no data, so boxing it allocates nothing.
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let rt = runtime();
    let _enter = rt.enter();
    let shed = Arc::new(AtomicU64::new(0));
    let open = Arc::new(AtomicU64::new(0));
    let (seen_shed, seen_open) = (Arc::clone(&shed), Arc::clone(&open));
    let layer = StackLayer::builder()
        .breaker(BreakerConfig::builder().consecutive_failures(1))
        .fallback(move |reason: FallbackReason, _: BoxError| {
            match reason {
                FallbackReason::Throttled(_) => seen_shed.fetch_add(1, Ordering::Relaxed),
                FallbackReason::CircuitOpen(_) => seen_open.fetch_add(1, Ordering::Relaxed),
                other => panic!("expected a local rejection, got {other:?}"),
            };
            Ok(0u64)
        })
        .seed(1)
        .build()
        .unwrap();
    let svc = layer.layer(Echo);
    let now = failsoft::time::now();
    let permit = layer.breaker().try_acquire_at(now).unwrap();
    layer.breaker().record_at(
        permit,
        failsoft::classify::Outcome::Retryable(failsoft::classify::FailureKind::Error),
        now,
    );
    for _ in 0..1_000 {
        layer.throttle().record_request_at(now);
    }
    assert!(layer.throttle().probability_at(now) > 0.5);
    assert_eq!(allocations(&svc, 0), 0);
    let (shed, open) = (shed.load(Ordering::Relaxed), open.load(Ordering::Relaxed));
    assert_eq!(shed + open, 1_001);
    assert!(shed > 500 && open > 50, "shed {shed}, open {open}");
    assert_eq!(layer.breaker().state(), State::Open);
}

#[test]
fn construction_stays_cheap_enough_for_a_stack_per_host() {
    // What one backend host costs: a `StackLayer`, and the service it
    // makes (which keeps one copy of each layer's per-thread state per
    // stripe, so that clones cost nothing). Print the figures with
    // `cargo test --test clone_alloc -- --nocapture`.
    let rt = runtime();
    let _enter = rt.enter();
    // The first layer of a process also pays for process-wide set-up.
    let first = allocation_counter::measure(|| drop(StackLayer::builder().seed(1).build()));
    let mut layer = None;
    let built = allocation_counter::measure(|| {
        layer = Some(StackLayer::builder().seed(1).build().unwrap());
    });
    let layer = layer.unwrap();
    let mut svc = None;
    let made = allocation_counter::measure(|| svc = Some(layer.layer(Echo)));
    let svc = svc.unwrap();
    println!(
        "first StackLayer of the process: {} allocations, {} bytes",
        first.count_total, first.bytes_total
    );
    println!(
        "StackLayer: {} allocations, {} bytes live ({} allocated); \
         its service: {} allocations, {} bytes live",
        built.count_total,
        built.bytes_current,
        built.bytes_total,
        made.count_total,
        made.bytes_current,
    );
    // 29 allocations (9.9 KB) before clones shared their state and the
    // stripe count was asked once per process. (Bytes grow with the
    // machine's cores: striped counters have up to 64 stripes, the
    // service's per-thread copies up to 8.)
    assert!(built.count_total <= 14, "{built:?}");
    assert!(made.count_total <= 32, "{made:?}");
    assert_eq!(clone_oneshot(&svc, 3).unwrap(), 3);
}
