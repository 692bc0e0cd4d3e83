//! The gate against the two layers it fuses, driven side by side.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, advance, sleep};
use tower::{Layer, Service, ServiceExt};

use super::Gate;
use crate::BoxError;
use crate::breaker::{Breaker, BreakerConfig, CircuitBreaker, Snapshot};
use crate::classify::{FailureKind, Outcome};
use crate::error::{CircuitOpen, Throttled};
use crate::rng::Rng;
use crate::throttle::{ThrottleLayer, ThrottleSnapshot};

/// What the backend does with one call.
#[derive(Debug, Clone, Copy)]
enum Step {
    Ok,
    Fail,
    /// Answers well after the slow-call thresholds.
    Slow,
    /// Never answers: the caller drops the call while it waits.
    Cancel,
}

/// Answers as each call's [`Step`] says; every `fail_every`-th
/// `poll_ready` fails.
#[derive(Clone)]
struct Backend {
    polls: u32,
    fail_every: u32,
}

impl Backend {
    fn new(fail_every: u32) -> Self {
        Self {
            polls: 0,
            fail_every,
        }
    }
}

impl Service<Step> for Backend {
    type Response = u8;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<u8, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.polls += 1;
        if self.polls.is_multiple_of(self.fail_every) {
            Poll::Ready(Err("not ready".into()))
        } else {
            Poll::Ready(Ok(()))
        }
    }

    fn call(&mut self, step: Step) -> Self::Future {
        Box::pin(async move {
            match step {
                Step::Ok => Ok(1),
                Step::Fail => Err("backend failed".into()),
                Step::Slow => {
                    sleep(Duration::from_secs(3)).await;
                    Ok(1)
                }
                Step::Cancel => {
                    sleep(Duration::from_secs(3600)).await;
                    Ok(1)
                }
            }
        })
    }
}

fn throttle() -> ThrottleLayer {
    ThrottleLayer::builder()
        .min_requests(4)
        .slow_call(Duration::from_secs(1))
        .seed(11)
        .build()
        .expect("valid throttle")
}

fn breaker() -> Breaker {
    let cfg = BreakerConfig::builder()
        .consecutive_failures(4)
        .slow_calls(0.5, Duration::from_secs(2))
        .minimum_calls(4)
        .half_open_probes(2)
        .half_open_successes(2)
        .seed(5)
        .build()
        .expect("valid breaker");
    Breaker::new(&cfg)
}

fn kind(result: &Result<u8, BoxError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) if e.is::<Throttled>() => "throttled",
        Err(e) if e.is::<CircuitOpen>() => "open",
        Err(_) => "failed",
    }
}

type Call = Pin<Box<dyn Future<Output = Result<u8, BoxError>> + Send>>;

/// Gets `svc` ready and makes the call, without polling it.
async fn start<S>(svc: &mut S, step: Step) -> Option<Call>
where
    S: Service<Step, Response = u8, Error = BoxError>,
    S::Future: Send + 'static,
{
    let ready = svc.ready().await.ok()?;
    Some(Box::pin(ready.call(step)))
}

/// How a started call ended, as seen by its caller.
async fn finish(call: Option<Call>, step: Step) -> &'static str {
    let Some(mut fut) = call else {
        return "not ready";
    };
    if let Step::Cancel = step {
        let first = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
        return match first {
            Poll::Pending => "cancelled",
            Poll::Ready(res) => kind(&res),
        };
    }
    kind(&fut.await)
}

fn states(t: &ThrottleLayer, b: &Breaker) -> (ThrottleSnapshot, Snapshot) {
    (t.handle().snapshot(), b.snapshot_at(Instant::now()))
}

#[tokio::test(start_paused = true)]
async fn the_gate_throttles_and_breaks_exactly_like_the_two_layers_it_fuses() {
    let (t_gate, b_gate) = (throttle(), breaker());
    let mut gate = Gate::new(Backend::new(13), t_gate.parts(), b_gate.clone());
    let (t_ref, b_ref) = (throttle(), breaker());
    let mut layered = t_ref.layer(CircuitBreaker::new(Backend::new(13), b_ref.clone()));

    let mut rng = Rng::from_seed(3);
    let mut seen = std::collections::BTreeMap::new();
    let mut in_flight = None;
    for i in 0..3_001 {
        // Phases of a healthy, a failing and a slow backend, with noise.
        let phase = (i / 250) % 4;
        let r = rng.next_f64();
        let s = match phase {
            0 | 2 if r < 0.9 => Step::Ok,
            1 => Step::Fail,
            3 if r < 0.7 => Step::Slow,
            _ if r < 0.95 => Step::Fail,
            _ => Step::Cancel,
        };
        let calls = tokio::join!(start(&mut gate, s), start(&mut layered, s));
        // Each call is polled only after the next one was made, so what a
        // call does before its first poll shows in the next admission.
        let Some((i, s, (a, b))) = in_flight.replace((i, s, calls)) else {
            continue;
        };
        let (a, b) = tokio::join!(finish(a, s), finish(b, s));
        assert_eq!(a, b, "call {i} ({s:?}) ended differently");
        *seen.entry(a).or_insert(0u32) += 1;
        assert_eq!(
            states(&t_gate, &b_gate),
            states(&t_ref, &b_ref),
            "state after call {i} ({s:?})"
        );
        advance(Duration::from_millis(rng.next_u64() % 2_000)).await;
    }
    // The run went through every path, not only the healthy one.
    for k in [
        "ok",
        "failed",
        "throttled",
        "open",
        "cancelled",
        "not ready",
    ] {
        assert!(seen.get(k).is_some_and(|&n| n >= 10), "{k}: {seen:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_backend_that_is_not_ready_gets_no_probe_slot_kept_for_it() {
    let b = breaker();
    for _ in 0..4 {
        let permit = b.try_acquire_at(Instant::now()).expect("closed");
        let failed = Outcome::Retryable(FailureKind::Error);
        b.record_at(permit, failed, Instant::now());
    }
    let probe_at = b.snapshot_at(Instant::now()).next_probe.expect("open");
    tokio::time::sleep_until(probe_at).await;
    // Half-open with two probe slots. A gate whose backend cannot get
    // ready takes a slot in `poll_ready`, and must give it back.
    let mut stuck = Gate::new(Backend::new(1), throttle().parts(), b.clone());
    assert!(stuck.ready().await.is_err());
    let mut gate = Gate::new(Backend::new(u32::MAX), throttle().parts(), b.clone());
    let mut probes = Vec::new();
    for _ in 0..2 {
        let fut = gate.ready().await.expect("ready").call(Step::Cancel);
        let mut fut = Box::pin(fut);
        let first = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
        assert!(first.is_pending(), "both probe slots are free");
        probes.push(fut);
    }
    let third = gate.ready().await.expect("ready").call(Step::Ok).await;
    assert_eq!(kind(&third), "open", "only two probes at a time");
}

#[tokio::test(start_paused = true)]
async fn an_attempt_the_breaker_turns_away_counts_for_neither_gate() {
    // Gates never feed on each other: circuit-open rejections are not
    // requests the backend failed to accept.
    let (t, b) = (throttle(), breaker());
    b.force_open();
    let mut gate = Gate::new(Backend::new(u32::MAX), t.parts(), b);
    for _ in 0..50 {
        let call = start(&mut gate, Step::Ok).await.expect("ready");
        assert_eq!(finish(Some(call), Step::Ok).await, "open");
    }
    assert_eq!(t.handle().published(), 0.0);
    let s = t.handle().snapshot();
    assert_eq!((s.requests, s.rejected, s.probability), (0, 0, 0.0));
}
