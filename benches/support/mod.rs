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
