//! Middleware that stops calling a failing backend for a while, and lets
//! traffic back in gently once it recovers.
//!
//! # States
//!
//! ```text
//!            trip policy fires                open time passed
//!  Closed ─────────────────────────► Open ─────────────────────► HalfOpen
//!    ▲  (ramp-up: a growing share      ▲   (rejects everything)     │
//!    │   of calls for a while)         └──── a probe fails ─────────┤
//!    └───────────────── enough probes succeed ──────────────────────┘
//! ```
//!
//! **Open means rejecting**, as in an electrical circuit. Two manual states
//! override everything: [`State::ForcedOpen`] rejects every call and
//! [`State::Disabled`] admits every call; [`Breaker::reset`] ends both.
//!
//! - **Trip policies**: consecutive failures; failure rate over a count or
//!   time [`Window`]; slow-call rate. Rates count only once the window
//!   holds [`minimum_calls`](BreakerConfigBuilder::minimum_calls).
//! - **Half-open** admits at most
//!   [`half_open_probes`](BreakerConfigBuilder::half_open_probes) calls
//!   (never unlimited), closes after
//!   [`half_open_successes`](BreakerConfigBuilder::half_open_successes),
//!   and reopens on the first failure.
//! - **Open time** grows exponentially with each trip that follows a failed
//!   probe, with jitter and a cap ([`BreakerConfigBuilder::open_backoff`]),
//!   so a fleet of devices does not probe at the same instant.
//! - **Ramp-up**: after closing, a share of calls growing linearly from 10%
//!   to 100% is admitted over [`ramp_up`](BreakerConfigBuilder::ramp_up);
//!   the others fail with [`CircuitOpen`] while the breaker's
//!   [`Snapshot::ramping_up`] is `true`.
//!
//! # What counts as a failure
//!
//! Results are classified by a [`Classify`]
//! ([`DefaultClassify`] unless set). [`Outcome::Retryable`](crate::classify::Outcome::Retryable)
//! (errors, timeouts, 5xx, throttling) is a failure.
//! [`Outcome::Success`](crate::classify::Outcome::Success) and
//! [`Outcome::Fatal`](crate::classify::Outcome::Fatal) (a 4xx: the backend
//! answered, the request was wrong) are successes. An error that is a
//! local rejection from a layer further in
//! ([`is_local_rejection`](crate::error::is_local_rejection)) never reached
//! the backend and counts as nothing. The breaker does not keep the
//! request, so its classifier sees `&()` in place of the request.
//!
//! # Observing
//!
//! State changes emit `tracing` events (target `failsoft::breaker`),
//! [`Breaker::subscribe`] returns a `watch` receiver, and
//! [`Breaker::snapshot_at`] returns the state, failure rate and next probe
//! time.
//!
//! # Examples
//!
//! ```
//! use failsoft::breaker::{BreakerConfig, CircuitBreakerLayer};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), failsoft::BoxError> {
//! let cfg = BreakerConfig::builder().consecutive_failures(3).seed(1).build()?;
//! let svc = ServiceBuilder::new()
//!     .layer(CircuitBreakerLayer::new(cfg))
//!     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x + 1) }));
//! assert_eq!(svc.oneshot(1).await?, 2);
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use std::task::{Context, Poll};

use tower::Service;

use crate::BoxError;
use crate::classify::{Classify, DefaultClassify};
#[cfg(doc)]
use crate::error::CircuitOpen;
use crate::stripes::ReadStripes;

mod admit;
mod config;
pub mod future;
mod handle;
mod keyed;
mod layer;
mod state;
mod window;

pub(crate) use self::admit::{Admit, settle};
pub use self::config::{BreakerConfig, BreakerConfigBuilder};
pub use self::handle::{Breaker, Permit, Snapshot};
pub use self::keyed::{KeyedBreakers, KeyedCircuitBreaker, KeyedCircuitBreakerLayer};
pub use self::layer::CircuitBreakerLayer;
pub use self::state::{State, TripReason};
pub use self::window::Window;

use self::future::{Handle, ResponseFuture};

/// Rejects calls at once while its breaker is open.
///
/// Admission is decided in `poll_ready` and stored; `poll_ready` never
/// returns `Pending` because of the breaker (only when the inner service
/// is not ready), and `call` on a rejected admission returns a future that
/// fails at once with [`CircuitOpen`] boxed as [`BoxError`].
///
/// # Sharing
///
/// Clones share one [`Breaker`] and allocate nothing (they share the
/// service's per-thread references to it). See [`CircuitBreakerLayer`] for
/// when a new breaker is made and how to share one across services.
///
/// An open breaker's fast fail takes no lock and allocates nothing
/// ([`CircuitOpen`] has no data): it reads the breaker's state word and
/// the end of the open time, both atomics, and the clock once (not at all
/// when forced open), so callers on many threads scale as they do on the
/// success path.
///
/// # Panics
///
/// `call` panics if `poll_ready` did not return `Ready(Ok(()))` first
/// ("poll_ready must be called first").
///
/// # Examples
///
/// ```
/// use failsoft::breaker::{Breaker, BreakerConfig, CircuitBreaker, State};
/// use tower::{service_fn, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), failsoft::BoxError> {
/// let breaker = Breaker::new(&BreakerConfig::builder().consecutive_failures(1).build()?);
/// let svc = CircuitBreaker::new(
///     service_fn(|_: ()| async { Err::<(), _>(std::io::Error::other("down")) }),
///     breaker.clone(),
/// );
/// assert!(svc.clone().oneshot(()).await.is_err());
/// assert_eq!(breaker.state(), State::Open);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct CircuitBreaker<S, C = DefaultClassify> {
    inner: S,
    // One `Arc` around the shared handle per thread stripe, shared by
    // every clone: a clone allocates nothing, and futures on different
    // threads do not bump one shared reference count. `poll_ready` reads
    // the copy kept next to the stripes' addresses.
    breaker: ReadStripes<Breaker>,
    classify: C,
    admit: Admit,
}

// === impl CircuitBreaker ===

impl<S> CircuitBreaker<S> {
    /// Wraps `inner` with `breaker`, classifying with [`DefaultClassify`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{Breaker, BreakerConfig, CircuitBreaker};
    /// # use tower::service_fn;
    /// let breaker = Breaker::new(&BreakerConfig::builder().build()?);
    /// let svc = CircuitBreaker::new(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }), breaker);
    /// # let _ = svc;
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn new(inner: S, breaker: Breaker) -> Self {
        Self::with_classify(inner, breaker, DefaultClassify)
    }
}

impl<S, C> CircuitBreaker<S, C> {
    /// Wraps `inner` with `breaker`, classifying results with `classify`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{Breaker, BreakerConfig, CircuitBreaker};
    /// # use failsoft::classify::{FailureKind, Verdict};
    /// # use failsoft::BoxError;
    /// # use tower::service_fn;
    /// let classify = |_: &(), res: &Result<u16, BoxError>| match res {
    ///     Ok(500..) | Err(_) => Verdict::retryable(FailureKind::Error),
    ///     Ok(_) => Verdict::success(),
    /// };
    /// let breaker = Breaker::new(&BreakerConfig::builder().build()?);
    /// let inner = service_fn(|_: ()| async { Ok::<u16, std::io::Error>(503) });
    /// let svc = CircuitBreaker::with_classify(inner, breaker, classify);
    /// # let _ = svc;
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn with_classify(inner: S, breaker: Breaker, classify: C) -> Self {
        Self {
            inner,
            breaker: ReadStripes::new(|| breaker.clone()),
            classify,
            admit: Admit::default(),
        }
    }

    /// The shared breaker.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{Breaker, BreakerConfig, CircuitBreaker, State};
    /// # use tower::service_fn;
    /// # let breaker = Breaker::new(&BreakerConfig::builder().build()?);
    /// let svc = CircuitBreaker::new(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }), breaker);
    /// assert_eq!(svc.handle().state(), State::Closed);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn handle(&self) -> &Breaker {
        self.breaker.read()
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

impl<S: Clone, C: Clone> Clone for CircuitBreaker<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
            // One instance's admission must not leak into another.
            admit: Admit::default(),
        }
    }
}

impl<S, C, Req> Service<Req> for CircuitBreaker<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<(), S::Response> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !self.admit.decide(self.breaker.read()) {
            // Fail fast in `call`; never wait while open.
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Err(e)) => {
                self.admit.clear();
                Poll::Ready(Err(e.into()))
            }
            other => other.map_err(Into::into),
        }
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.admit.take() {
            Ok(permit) => {
                // Before the inner future is written (see `Retry::call`).
                let handle = Handle::Clone(Arc::clone(self.breaker.get()));
                let fut = self.inner.call(req);
                ResponseFuture::called(fut, handle, permit, self.classify.clone())
            }
            Err(open) => ResponseFuture::rejected(open),
        }
    }
}

#[cfg(test)]
mod tests;
