//! Adaptive client-side throttling (Google SRE book, "Handling Overload").
//!
//! A client that keeps sending to a backend that rejects most of its
//! requests wastes the backend's capacity on rejections. The throttle
//! counts, over a sliding window (default 2 minutes), the `requests` this
//! client made and the `accepts` the backend handled, and rejects new
//! requests *locally*, without sending them, with probability
//!
//! ```text
//! p = min(max_probability, max(0, (requests − K × accepts) / (requests + 1)))
//! ```
//!
//! With `K = 2`, nothing is rejected while the backend accepts at least half
//! of the requests; as it accepts less, the client sends about `K` times
//! what it accepts. The cap (default 0.9) keeps a trickle flowing so a
//! recovered backend is noticed from its first accepted request: every
//! accept lowers `p` at once.
//!
//! # What counts
//!
//! A request counts when its attempt ends: sent to the backend and
//! answered (an accept or not), timed out, or dropped unfinished (no
//! accept). The throttle's own probabilistic rejections count as requests
//! without accepts, as the SRE rule has it: that is what holds the client
//! near `K` times what the backend accepts. Nothing else counts: not a
//! caller that gave up waiting for readiness, not a local rejection by an
//! inner layer (an open breaker), not a request held by pacing. A gate
//! never feeds on another gate's rejections.
//!
//! # Recovery within seconds
//!
//! The SRE rule alone recovers slowly: rejected requests keep counting, so
//! once the backend accepts everything again `1 − p` only doubles with each
//! window's worth of traffic, minutes with a 2-minute window. So the window's
//! newest buckets bound `p` from above: the two newest (2 to 4 s by
//! default), and older ones until they hold `min_requests` requests, so a
//! device sending every few seconds is judged by its last `min_requests`
//! requests. Once the backend accepted at least `1 − 1/(2K)` of what was
//! sent in them (three quarters at `K = 2`; an overloaded backend is held
//! near `1/K`), the bound is 0 if they hold `min_requests` sent attempts,
//! otherwise the same formula over them with `2K` for `K`: the client may
//! double what it sends per span. After a minute of failures at the cap, a
//! healed backend gets every request within about 4 s
//! (`throttling_falls_away_within_seconds_once_attempts_succeed` in
//! `tests/recovery.rs`); a fleet of devices at one request every 2 s is
//! back at 95 % of its demand 19–30 s after a brownout
//! (`tests/recovery_targets.rs`).
//!
//! # Server pacing
//!
//! An overload answer that says when to come back (a
//! [`FailureKind::Throttled`](crate::classify::FailureKind::Throttled)
//! verdict with a [`Hint::RetryAfter`](crate::classify::Hint::RetryAfter):
//! a 429 or 503 with `Retry-After`, gRPC pushback) paces the whole client,
//! not only that request's retry: see [`ThrottleHandle::pace_at`]. Pacing
//! rejections resolve to [`Paced`](crate::error::Paced), carrying when the
//! pace [ends](crate::error::Paced::until). A quiet client's calls
//! [hold](crate::error::Paced::holds): the retry layer sends them again once the pace
//! ends (by up to a fifth of the wait later, so they do not all go out at
//! once), if that is before the request's deadline. A busy client's calls
//! over the paced rate are shed, not held.

use std::sync::Arc;

use crate::stripes::ReadStripes;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::Service;

use crate::BoxError;
use crate::classify::Classify;

pub mod future;
mod handle;
mod layer;
mod pace;
mod rejection;
mod settle;
#[cfg(test)]
mod tests;
mod window;

pub use self::handle::{ThrottleHandle, ThrottleSnapshot};
pub use self::layer::{ThrottleBuilder, ThrottleLayer};
pub use self::rejection::Rejection;

use self::future::ResponseFuture;
pub(crate) use self::settle::{Owner, Sent, Slow};

/// Rejects requests locally, at once, with the SRE book's adaptive
/// probability; see the [module docs](self).
///
/// # What counts as an accept
///
/// The classifier ([`Classify`], on `&()`: the request has been handed to
/// the inner service by the time its result is known, so the throttle judges
/// results only; [`DefaultClassify`](crate::classify::DefaultClassify) and
/// any classifier generic over the request type work):
///
/// - [`Outcome::Success`](crate::classify::Outcome::Success) is an accept;
/// - [`Outcome::Fatal`](crate::classify::Outcome::Fatal) is an accept (the
///   backend did its job and answered, say, a well-formed 4xx), unless the
///   error is a local rejection by an inner layer such as the breaker;
/// - [`Outcome::Retryable`](crate::classify::Outcome::Retryable) is not: a
///   fast 503, a throttle or a timeout is the backend failing to take the
///   request;
/// - with [`slow_call`](ThrottleBuilder::slow_call) set, a response that
///   took at least that long is not an accept either, whatever its outcome:
///   a backend that answers only after a long wait in its queue is
///   overloaded. The response still reaches the caller unchanged.
///
/// A request counts when it ends; see [What counts](self#what-counts).
///
/// # Errors
///
/// `Error = BoxError`. A rejected request resolves at once to
/// [`Throttled`](crate::error::Throttled) when the probability shed it
/// (match it with `err.is::<Throttled>()`; boxing it allocates nothing),
/// or to [`Paced`](crate::error::Paced) while the server paces the client.
/// The retry layer never retries either as a failure (a call held for the
/// server's pacing is sent again when the pace ends). Inner errors are
/// passed through.
///
/// # Sharing
///
/// Clones share the [`ThrottleHandle`] of the layer that made them, and
/// allocate nothing (they share the service's per-thread references to
/// it); the admission decided by `poll_ready` is per instance and is not
/// cloned.
///
/// # Panics
///
/// `call` without a successful `poll_ready` first panics ("poll_ready must
/// be called first"), as tower's contract allows.
///
/// # Examples
///
/// ```
/// use failsoft::classify::{FailureKind, Verdict};
/// use failsoft::error::Throttled;
/// use failsoft::throttle::ThrottleLayer;
/// use failsoft::BoxError;
/// use tower::{Service, ServiceExt};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// // A backend that answers 503 to everything.
/// let backend = tower::service_fn(|_: ()| async { Ok::<u16, BoxError>(503) });
/// let layer = ThrottleLayer::builder()
///     .seed(7)
///     .classify(|_: &(), res: &Result<u16, BoxError>| match res {
///         Ok(503) => Verdict::retryable(FailureKind::Throttled),
///         _ => Verdict::success(),
///     })
///     .build()?;
/// let handle = layer.handle();
/// let mut svc = tower::ServiceBuilder::new().layer(layer).service(backend);
/// let mut rejected = 0;
/// for _ in 0..100 {
///     match svc.ready().await?.call(()).await {
///         Err(e) if e.is::<Throttled>() => rejected += 1,
///         _ => {}
///     }
/// }
/// assert!(rejected > 50);
/// assert_eq!(handle.snapshot().rejected, rejected);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Throttle<S, C> {
    inner: S,
    // One `Arc` around the shared handle per thread stripe, shared by
    // every clone: a clone allocates nothing, and futures on different
    // threads do not bump one shared reference count. `poll_ready` reads
    // the copy kept next to the stripes' addresses.
    handle: ReadStripes<ThrottleHandle>,
    classify: C,
    slow_call: Option<Duration>,
    admission: Option<Admission>,
}

#[derive(Debug)]
enum Admission {
    Admit,
    Reject(Rejection),
}

// === impl Throttle ===

impl<S, C> Throttle<S, C> {
    pub(crate) fn new(
        inner: S,
        handle: ThrottleHandle,
        classify: C,
        slow_call: Option<Duration>,
    ) -> Self {
        Self {
            inner,
            handle: ReadStripes::new(|| handle.clone()),
            classify,
            slow_call,
            admission: None,
        }
    }

    /// The shared throttle state.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// # use tower::Layer;
    /// let svc = ThrottleLayer::builder().build()?.layer(tower::service_fn(
    ///     |x: u8| async move { Ok::<_, failsoft::BoxError>(x) },
    /// ));
    /// assert_eq!(svc.handle().probability(), 0.0);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn handle(&self) -> &ThrottleHandle {
        self.handle.read()
    }

    /// The inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// # use tower::Layer;
    /// let svc = ThrottleLayer::builder().build()?.layer(5u8);
    /// assert_eq!(*svc.get_ref(), 5);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Consumes the throttle, returning the inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// # use tower::Layer;
    /// let svc = ThrottleLayer::builder().build()?.layer(5u8);
    /// assert_eq!(svc.into_inner(), 5);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C: Clone> Clone for Throttle<S, C> {
    fn clone(&self) -> Self {
        // Readiness is per instance: the clone decides for itself.
        Self {
            inner: self.inner.clone(),
            handle: self.handle.clone(),
            classify: self.classify.clone(),
            slow_call: self.slow_call,
            admission: None,
        }
    }
}

impl<S, C, Req> Service<Req> for Throttle<S, C>
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
        let admission = self
            .admission
            .get_or_insert_with(|| match self.handle.read().admit() {
                Ok(()) => Admission::Admit,
                Err(t) => Admission::Reject(t),
            });
        match admission {
            // Fail fast: ready at once, `call` returns the rejection.
            Admission::Reject(_) => Poll::Ready(Ok(())),
            Admission::Admit => self.inner.poll_ready(cx).map_err(Into::into),
        }
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self
            .admission
            .take()
            .expect("poll_ready must be called first")
        {
            Admission::Reject(t) => ResponseFuture::rejected(t),
            Admission::Admit => {
                // Before the inner future is written (see `Retry::call`).
                let handle = Arc::clone(self.handle.get());
                let fut = self.inner.call(req);
                ResponseFuture::called(fut, self.classify.clone(), handle, self.slow_call)
            }
        }
    }
}
