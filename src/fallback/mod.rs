//! Middleware that turns a local rejection (or, if asked, any final
//! failure) into a degraded answer from a closure, such as a cached value.
//!
//! The closure is told why ([`FallbackReason`]) and gets the error, so it
//! can answer differently for an open circuit than for a deadline, or give
//! the error back (`Err(err)`) to decline.
//!
//! By default the layer handles the local rejections: circuit open
//! ([`CircuitOpen`](crate::error::CircuitOpen)), throttled
//! ([`Throttled`](crate::error::Throttled)), retry budget refused and
//! deadline passed. [`FallbackLayer::on_failures`] adds every other final
//! failure.
//!
//! A budget refusal leaves the backend's own error in place, so only the
//! retry layer's future knows about it:
//! [`FallbackLayer::reading_stop_reason`] makes the fallback ask the inner
//! future ([`StopInfo`]) before it looks at the error. Use it when the
//! inner service is the retry layer (or the breaker); other inner services
//! need the default, [`ErrorsOnly`].
//!
//! # Examples
//!
//! ```
//! use failsoft::breaker::{Breaker, BreakerConfig, CircuitBreaker};
//! use failsoft::fallback::{FallbackLayer, FallbackReason};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), failsoft::BoxError> {
//! let breaker = Breaker::new(&BreakerConfig::builder().build()?);
//! breaker.force_open();
//! let backend = service_fn(|_: ()| async { Ok::<_, std::io::Error>("fresh schedule") });
//! let svc = FallbackLayer::new(|reason: FallbackReason, _err| match reason {
//!     FallbackReason::CircuitOpen(_) => Ok("cached schedule"),
//!     _ => Ok("default schedule"),
//! })
//! .layer(CircuitBreaker::new(backend, breaker));
//! assert_eq!(svc.oneshot(()).await?, "cached schedule");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use tower::Service;

use crate::BoxError;

mod answer;
pub mod future;
mod layer;
mod reason;

pub use self::answer::{Answer, Decline};
pub use self::layer::FallbackLayer;
pub use self::reason::{ErrorsOnly, FallbackReason, ReadStopInfo, ReasonSource, StopInfo};

use self::future::ResponseFuture;

/// Answers chosen failures of the inner service with a closure.
///
/// `poll_ready` errors pass through unchanged (the inner service is
/// broken, not the request).
///
/// # Sharing
///
/// Clones clone the closure; share a cache by capturing an `Arc`.
///
/// # Examples
///
/// ```
/// use failsoft::fallback::{Fallback, FallbackReason};
/// use tower::{service_fn, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), failsoft::BoxError> {
/// let backend = service_fn(|_: ()| async { Err::<u32, _>(failsoft::BoxError::from("down")) });
/// let svc = Fallback::new(backend, |reason: FallbackReason, _err| {
///     assert_eq!(reason, FallbackReason::Failed);
///     Ok(0)
/// })
/// .on_failures(true);
/// assert_eq!(svc.oneshot(()).await?, 0);
/// # Ok(())
/// # }
/// ```
pub struct Fallback<S, F, R = ErrorsOnly> {
    inner: S,
    fallback: F,
    on_failures: bool,
    _source: PhantomData<fn() -> R>,
}

// === impl Fallback ===

impl<S, F> Fallback<S, F> {
    /// Wraps `inner`; `fallback` answers local rejections.
    pub fn new(inner: S, fallback: F) -> Self {
        Self {
            inner,
            fallback,
            on_failures: false,
            _source: PhantomData,
        }
    }
}

impl<S, F, R> Fallback<S, F, R> {
    /// Also answer every other final failure ([`FallbackReason::Failed`]).
    pub fn on_failures(mut self, yes: bool) -> Self {
        self.on_failures = yes;
        self
    }

    /// Ask the inner future ([`StopInfo`]) why it stopped before looking
    /// at the error.
    pub fn reading_stop_reason(self) -> Fallback<S, F, ReadStopInfo> {
        Fallback {
            inner: self.inner,
            fallback: self.fallback,
            on_failures: self.on_failures,
            _source: PhantomData,
        }
    }

    pub(crate) fn from_parts(inner: S, fallback: F, on_failures: bool) -> Self {
        Self {
            inner,
            fallback,
            on_failures,
            _source: PhantomData,
        }
    }

    /// The future of a request rejected locally instead of being called,
    /// answered like the inner future's failure would be.
    #[cold]
    pub(crate) fn rejected<Req>(&self, error: BoxError) -> ResponseFuture<S::Future, F, R>
    where
        S: Service<Req>,
        F: Clone,
    {
        ResponseFuture::rejected(error, self.fallback.clone(), self.on_failures)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, F: Clone, R> Clone for Fallback<S, F, R> {
    fn clone(&self) -> Self {
        Self::from_parts(self.inner.clone(), self.fallback.clone(), self.on_failures)
    }
}

impl<S: fmt::Debug, F, R> fmt::Debug for Fallback<S, F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback")
            .field("inner", &self.inner)
            .field("on_failures", &self.on_failures)
            .finish_non_exhaustive()
    }
}

impl<S, F, R, Req> Service<Req> for Fallback<S, F, R>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    F: Answer<S::Response> + Clone,
    R: ReasonSource<S::Future>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, F, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        ResponseFuture::new(
            self.inner.call(req),
            self.fallback.clone(),
            self.on_failures,
        )
    }
}
