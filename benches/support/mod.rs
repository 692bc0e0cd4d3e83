//! Pieces shared by the benches: a backend that answers at once, a driver
//! for one call, and the tower `Retry` policies measured as baselines.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::retry::Policy;
use tower::retry::budget::{Budget, TpsBudget};
use tower::{Service, service_fn};

/// The bare backend: answers at once.
pub(crate) fn backend()
-> impl Service<u64, Response = u64, Error = Infallible, Future = Ready<Result<u64, Infallible>>>
+ Clone
+ Send {
    service_fn(|x: u64| ready(Ok::<_, Infallible>(x)))
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
