//! Pieces shared by the benches: a backend that answers at once, a driver
//! for one call, the tower `Retry` policies measured as baselines, a
//! failsoft stack as after an outage, and the order many stacks are
//! called in.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::backoff::{ExponentialBackoff, Jitter};
use failsoft::breaker::{BreakerConfig, State};
use failsoft::budget::RatioBudget;
use failsoft::classify::{FailureKind, Outcome};
use failsoft::fallback::{FallbackLayer, FallbackReason};
use failsoft::retry::RetryLayer;
use failsoft::rng::Rng;
use failsoft::stack::{AttemptTimeoutLayer, StackLayer};
use tower::retry::Policy;
use tower::retry::budget::{Budget, TpsBudget};
use tower::{Layer, Service, service_fn};

/// The bare backend: answers at once.
pub(crate) fn backend()
-> impl Service<u64, Response = u64, Error = Infallible, Future = Ready<Result<u64, Infallible>>>
+ Clone
+ Send {
    service_fn(|x: u64| ready(Ok::<_, Infallible>(x)))
}

/// A backend that waits once: its future is pending at the first poll
/// (waking itself) and answers at the second, as a call over the network
/// is pending at first.
pub(crate) fn waiting_backend()
-> impl Service<u64, Response = u64, Error = Infallible, Future = WaitOnce> + Clone + Send {
    service_fn(|x: u64| WaitOnce(Some(x), false))
}

/// The future of [`waiting_backend`].
pub(crate) struct WaitOnce(Option<u64>, bool);

impl Future for WaitOnce {
    type Output = Result<u64, Infallible>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if std::mem::replace(&mut self.1, true) {
            Poll::Ready(Ok(self.0.take().unwrap_or_default()))
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Drives one call that waits once to completion (poll_ready, call, two
/// polls); `true` when it succeeded at the second.
#[inline]
pub(crate) fn drive_waiting<S: Service<u64>>(svc: &mut S, req: u64, cx: &mut Context<'_>) -> bool {
    if !matches!(svc.poll_ready(cx), Poll::Ready(Ok(()))) {
        return false;
    }
    let mut fut = pin!(svc.call(req));
    fut.as_mut().poll(cx).is_pending() && matches!(fut.poll(cx), Poll::Ready(Ok(_)))
}

/// Drives one call to completion (poll_ready, call, one poll); `true` when
/// it succeeded at once.
#[inline]
pub(crate) fn drive<S: Service<u64>>(svc: &mut S, req: u64, cx: &mut Context<'_>) -> bool {
    if !matches!(svc.poll_ready(cx), Poll::Ready(Ok(()))) {
        return false;
    }
    let fut = pin!(svc.call(req));
    matches!(fut.poll(cx), Poll::Ready(Ok(_)))
}

/// tower's `Retry` with a policy that never retries.
#[derive(Clone)]
pub(crate) struct Never;

impl<Req, Res, E> Policy<Req, Res, E> for Never {
    type Future = Ready<()>;
    fn retry(&mut self, _req: &mut Req, _res: &mut Result<Res, E>) -> Option<Self::Future> {
        None
    }
    fn clone_request(&mut self, _req: &Req) -> Option<Req> {
        None
    }
}

/// tower's `Retry` with a `TpsBudget`, deposited on success.
#[derive(Clone)]
pub(crate) struct WithTps(pub Arc<TpsBudget>);

impl<Req: Clone, Res, E> Policy<Req, Res, E> for WithTps {
    type Future = Ready<()>;
    fn retry(&mut self, _req: &mut Req, res: &mut Result<Res, E>) -> Option<Self::Future> {
        match res {
            Ok(_) => {
                self.0.deposit();
                None
            }
            Err(_) => self.0.withdraw().then(|| ready(())),
        }
    }
    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// tower's budget with the SRE book's 10 % and a floor of 10 retries/s.
pub(crate) fn tps() -> Arc<TpsBudget> {
    Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.1))
}

/// tower's `Retry` with a `TpsBudget` and tower's jittered exponential
/// backoff between attempts (the sleep is only made for a retry).
#[derive(Clone)]
pub(crate) struct WithTpsBackoff {
    budget: Arc<TpsBudget>,
    backoff: tower::retry::backoff::ExponentialBackoff,
}

impl WithTpsBackoff {
    pub(crate) fn new() -> Self {
        use tower::retry::backoff::{ExponentialBackoffMaker, MakeBackoff};
        use tower::util::rng::HasherRng;
        let mut maker = ExponentialBackoffMaker::new(
            Duration::from_millis(100),
            Duration::from_secs(10),
            1.0,
            HasherRng::default(),
        )
        .expect("valid backoff");
        Self {
            budget: tps(),
            backoff: maker.make_backoff(),
        }
    }
}

impl<Req: Clone, Res, E> Policy<Req, Res, E> for WithTpsBackoff {
    type Future = tokio::time::Sleep;
    fn retry(&mut self, _req: &mut Req, res: &mut Result<Res, E>) -> Option<Self::Future> {
        use tower::retry::backoff::Backoff;
        match res {
            Ok(_) => {
                self.budget.deposit();
                None
            }
            Err(_) => self.budget.withdraw().then(|| self.backoff.next_backoff()),
        }
    }
    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// tower's nearest to the recommended stack's success path: `Retry` with a
/// `TpsBudget` and backoff around a 2 s `Timeout`.
pub(crate) fn tower_stack<S>(
    inner: S,
) -> tower::retry::Retry<WithTpsBackoff, tower::timeout::Timeout<S>> {
    tower::retry::Retry::new(
        WithTpsBackoff::new(),
        tower::timeout::Timeout::new(inner, Duration::from_secs(2)),
    )
}

/// `svc.clone().oneshot(req)` driven by hand: the clone's `poll_ready`,
/// `call` and one poll; `true` when it succeeded at once.
#[inline]
pub(crate) fn clone_oneshot<S: Service<u64> + Clone>(
    svc: &S,
    req: u64,
    cx: &mut Context<'_>,
) -> bool {
    use tower::ServiceExt;
    let fut = pin!(svc.clone().oneshot(req));
    matches!(fut.poll(cx), Poll::Ready(Ok(_)))
}

/// A failsoft stack whose breaker is open for an hour, with a fallback answering 0;
/// with `shedding`, its throttle also rejects most calls (1,000 requests
/// without an accept in its window), as after a real outage.
pub(crate) fn open_stack<S>(
    inner: S,
    shedding: bool,
) -> impl Service<u64, Response = u64, Error = BoxError> + Clone + Send
where
    S: Service<u64, Response = u64> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    let hour = Duration::from_secs(3_600);
    let open_for = ExponentialBackoff::builder()
        .base(hour)
        .max(hour)
        .jitter(Jitter::None)
        .build()
        .expect("valid backoff");
    let layer = StackLayer::builder()
        .breaker(
            BreakerConfig::builder()
                .consecutive_failures(1)
                .open_backoff(open_for),
        )
        .fallback(|_: FallbackReason, _: BoxError| Ok(0u64))
        .seed(1)
        .build()
        .expect("valid config");
    let now = failsoft::time::now();
    let permit = layer.breaker().try_acquire_at(now).expect("closed");
    layer
        .breaker()
        .record_at(permit, Outcome::Retryable(FailureKind::Error), now);
    assert_eq!(layer.breaker().state(), State::Open);
    if shedding {
        for _ in 0..1_000 {
            layer.throttle().record_request_at(now);
        }
        assert!(layer.throttle().probability_at(now) > 0.5);
    }
    layer.layer(inner)
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// `0..n` in a fixed Fisher-Yates shuffle drawn from the crate's own
/// seeded generator: the order many stacks are called in, every index
/// once per round.
pub(crate) fn shuffled(n: usize) -> Vec<usize> {
    let mut rng = Rng::from_seed(0x2545_f491);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    order
}

/// `svc` under the recommended stack's layers and defaults (3 attempts,
/// 10 s deadline, 2 s attempt timeout, a default `RatioBudget`), without
/// the gate.
pub(crate) fn gateless<S>(svc: S) -> impl Service<u64, Response = u64> + Clone
where
    S: Service<u64, Response = u64> + Clone,
    S::Error: Into<BoxError>,
{
    let retry = RetryLayer::builder()
        .max_attempts(3)
        .deadline(Duration::from_secs(10))
        .budget(RatioBudget::builder().build().expect("valid budget"))
        .seed(1)
        .build()
        .expect("valid config");
    tower::ServiceBuilder::new()
        .layer(FallbackLayer::new(|_: FallbackReason, e: BoxError| {
            Err::<u64, _>(e)
        }))
        .layer(retry)
        .layer(AttemptTimeoutLayer::new(Duration::from_secs(2)))
        .service(svc)
}
