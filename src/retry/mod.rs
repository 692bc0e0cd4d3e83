//! Retries that are bounded, spread, deadline-aware and honour the server.
//!
//! [`Retry`] owns a *logical request*: it sends the first attempt, asks the
//! [`Classify`] what the result means, and, while the result is a retryable
//! failure, waits a jittered [backoff](crate::backoff) and sends the request
//! again. It stops at the first of:
//!
//! - success, or a failure the classifier calls fatal;
//! - the attempt limit (default 3);
//! - the overall deadline: each attempt's timeout is the smaller of the
//!   per-attempt timeout and the time remaining, and no retry starts whose
//!   delay would end past the deadline;
//! - a server hint: `Retry-After` sets a floor on the delay, a gRPC
//!   pushback sets the delay exactly and restarts the backoff (both
//!   clamped to [`max_hint`](RetryLayerBuilder::max_hint)); a hint reaching
//!   past the deadline, or "do not retry", ends retrying at once;
//! - the retry budget refusing ([`RetryBudget`]);
//! - a local rejection from a failsoft layer below (circuit open,
//!   throttled): never retried, whatever the classifier says.
//!
//! # What the caller gets back
//!
//! The last attempt's result, unchanged: a 503 response stays that
//! response, a backend error stays that error (downcast the [`BoxError`]).
//! Retry never invents an error, except [`TimedOut`](crate::error::TimedOut)
//! when it cuts an attempt short itself.
//!
//! *Why* retrying stopped and how many attempts were made are on the
//! response future ([`ResponseFuture::stop_reason`],
//! [`ResponseFuture::attempts`]) and, summed, in [`RetryCounters`]. A
//! `tracing` event is emitted at `DEBUG` for every scheduled retry and
//! every give-up.
//!
//! # Requests that cannot be cloned
//!
//! The layer keeps a copy of each request, made by its [`Replay`]
//! ([`CloneRequest`] by default). With [`SendOnce`] (or a replay closure
//! returning `None`) the request is sent exactly once, never dropped; its
//! result is passed through unclassified with
//! [`StopReason::NotReplayable`].
//!
//! # Examples
//!
//! ```
//! use failsoft::retry::RetryLayer;
//! use failsoft::BoxError;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let calls = Arc::new(AtomicU32::new(0));
//! let flaky = {
//!     let calls = calls.clone();
//!     service_fn(move |req: &'static str| {
//!         let n = calls.fetch_add(1, Ordering::Relaxed);
//!         async move {
//!             if n == 0 { Err::<String, BoxError>("reset".into()) } else { Ok(format!("{req}: ok")) }
//!         }
//!     })
//! };
//! let layer = RetryLayer::builder().seed(1).build()?;
//! let counters = layer.counters();
//! let mut svc = ServiceBuilder::new().layer(layer).service(flaky);
//! let res = svc.ready().await?.call("GET /").await?;
//! assert_eq!(res, "GET /: ok");
//! assert_eq!(counters.snapshot().attempts, 2);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::stripes::PerThread;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::Service;

use crate::BoxError;
use crate::backoff::ExponentialBackoff;
use crate::budget::RetryBudget;
use crate::classify::Classify;
use crate::rng::Streams;

mod clock;
mod counters;
mod decide;
mod early;
pub mod future;
mod layer;
mod replay;
mod stop;

pub use self::counters::{GiveUps, RetryCounters, RetrySnapshot};
pub(crate) use self::early::Rejects;
pub use self::layer::{RetryLayer, RetryLayerBuilder};
pub use self::replay::{CloneRequest, Replay, SendOnce};
pub use self::stop::StopReason;

use self::future::ResponseFuture;

/// Retries a service's failed attempts; see the [module docs](self).
///
/// Made by [`RetryLayer`].
///
/// # Sharing
///
/// Clones share the layer's budget, counters and random streams, and clone
/// the inner service; a clone allocates nothing. The service made by the
/// layer keeps a few copies of the configuration and classifier, each with
/// a spare clone of the inner service, behind one `Arc` per thread stripe
/// (made once, by [`RetryLayer`]'s `layer`), which every clone shares: a
/// request's future holds its thread's `Arc`, so callers on different
/// threads do not contend on one reference count. A successful first
/// attempt clones nothing; a request that needs a retry takes its own clone
/// of the inner service from its stripe's spare (under a lock held only for
/// the clone), and draws its jitter from its own random stream.
///
/// # Examples
///
/// ```
/// use failsoft::retry::RetryLayer;
/// use tower::{service_fn, Layer};
///
/// let svc = RetryLayer::new().layer(service_fn(|x: u32| async move {
///     Ok::<_, failsoft::BoxError>(x + 1)
/// }));
/// let _ = svc.clone();
/// ```
pub struct Retry<
    S,
    C = crate::classify::DefaultClassify,
    B = crate::budget::NoBudget,
    R = CloneRequest,
> {
    inner: S,
    shared: PerThread<Local<S, C, B, R>>,
}

/// The validated, plain-data part of the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) max_attempts: u32,
    pub(crate) backoff: ExponentialBackoff,
    pub(crate) deadline: Option<Duration>,
    pub(crate) attempt_timeout: Option<Duration>,
    /// The service below ends every attempt within this long.
    pub(crate) inner_timeout: Option<Duration>,
    pub(crate) max_hint: Duration,
    pub(crate) honor_hints: bool,
    pub(crate) throttle_backoff: Option<ExponentialBackoff>,
    /// `max_hint` caps a `Retry-After` above the backoff, not outright.
    pub(crate) hint_over_backoff: bool,
}

/// The layer's configuration: classifier and replay by value; budget,
/// counters and streams shared.
pub(crate) struct Shared<C, B, R> {
    pub(crate) config: Config,
    pub(crate) classify: C,
    pub(crate) budget: B,
    pub(crate) replay: R,
    pub(crate) counters: RetryCounters,
    pub(crate) streams: Arc<Streams>,
}

impl<C: Clone, B: Clone, R: Clone> Clone for Shared<C, B, R> {
    fn clone(&self) -> Self {
        Self {
            config: self.config,
            classify: self.classify.clone(),
            budget: self.budget.clone(),
            replay: self.replay.clone(),
            counters: self.counters.clone(),
            streams: Arc::clone(&self.streams),
        }
    }
}

/// One service clone's own state: its view of the layer and a spare clone
/// of the inner service, from which a request's future takes the service
/// for its retries only when it needs one (the success path clones
/// nothing). Aligned to its own cache lines so that clones used on
/// different threads do not falsely share a reference count.
#[repr(align(128))]
pub(crate) struct Local<S, C, B, R> {
    shared: Shared<C, B, R>,
    spare: Mutex<S>,
}

// === impl Local ===

impl<S, C, B, R> Local<S, C, B, R> {
    pub(crate) fn new(shared: Shared<C, B, R>, spare: S) -> Self {
        Self {
            shared,
            spare: Mutex::new(spare),
        }
    }

    /// A clone of the inner service for a retry. The lock is held only
    /// while the inner service is cloned.
    pub(crate) fn retry_service(&self) -> S
    where
        S: Clone,
    {
        self.spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<S, C, B, R> std::ops::Deref for Local<S, C, B, R> {
    type Target = Shared<C, B, R>;

    fn deref(&self) -> &Shared<C, B, R> {
        &self.shared
    }
}

// === impl Retry ===

impl<S, C, B, R> Retry<S, C, B, R> {
    /// The inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::RetryLayer;
    /// # use tower::Layer;
    /// let svc = RetryLayer::new().layer(5u8);
    /// assert_eq!(*svc.get_ref(), 5);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::RetryLayer;
    /// # use tower::Layer;
    /// let mut svc = RetryLayer::new().layer(5u8);
    /// *svc.get_mut() = 6;
    /// assert_eq!(svc.into_inner(), 6);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the wrapper, returning the inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::RetryLayer;
    /// # use tower::Layer;
    /// assert_eq!(RetryLayer::new().layer(5u8).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The counters this service adds to (shared with its layer).
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::RetryLayer;
    /// # use tower::Layer;
    /// let svc = RetryLayer::new().layer(());
    /// assert_eq!(svc.counters().snapshot().requests, 0);
    /// ```
    pub fn counters(&self) -> RetryCounters {
        self.shared.first().counters.clone()
    }
}

impl<S: Clone, C: Clone, B: Clone, R: Clone> Clone for Retry<S, C, B, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, C, B, R> fmt::Debug for Retry<S, C, B, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("inner", &self.inner)
            .field("config", &self.shared.first().config)
            .finish_non_exhaustive()
    }
}

impl<S, Req, C, B, R> Service<Req> for Retry<S, C, B, R>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    C: Classify<Req, S::Response>,
    B: RetryBudget,
    R: Replay<Req>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, C, B, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let shared = self.shared.get();
        shared.counters.request();
        shared.budget.on_request();
        let copy = shared.replay.replay(&req);
        // Taken before the inner future is written: a locked add waits
        // for the stores before it to drain, and the future is hundreds
        // of bytes (about 10 ns per call on the stack's success path).
        let shared = Arc::clone(shared);
        // The service driven to readiness takes this attempt (tower's
        // contract); a retry takes its own clone, made only if needed.
        let fut = self.inner.call(req);
        ResponseFuture::new(fut, copy, shared)
    }
}
