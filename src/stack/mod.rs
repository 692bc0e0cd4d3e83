//! The recommended client stack, assembled with sensible defaults.
//!
//! ```text
//! caller
//!   │
//!   ▼
//! fallback ─► retry (deadline, backoff, hints, budget) ─► throttle ─► breaker ─► attempt timeout ─► transport
//! ```
//!
//! Why this order, outermost first:
//!
//! - **Fallback** is outermost: whatever happens inside, the caller gets a
//!   real answer or a degraded one it chose. It reads the retry layer's
//!   stop reason, so it can tell "budget refused" and "deadline" apart from
//!   a plain failure.
//! - **Retry** owns the logical request: the overall deadline, the attempt
//!   limit, jittered backoff, server hints, and the shared 10% budget. It
//!   never retries a local rejection from the layers below.
//! - **Throttle** and **breaker** judge single attempts and reject locally,
//!   at once, without touching the network. The throttle sheds a share of
//!   load as the backend accepts less; the breaker stops everything when the
//!   backend is down, then probes and ramps back up. The stack runs the two
//!   as one service, a [`Gate`], which behaves exactly like a
//!   [`Throttle`](crate::throttle::Throttle) around a
//!   [`CircuitBreaker`](crate::breaker::CircuitBreaker) and costs one
//!   shared reference per call instead of two. A call the gate rejects
//!   goes straight to the fallback, without a retry future
//!   ([`StackService`]).
//! - **Attempt timeout** is innermost, so a timed-out attempt reaches the
//!   breaker and the throttle as the backend's failure. (A timeout outside
//!   them would cancel their futures, and a cancelled call counts as
//!   nothing.) The retry layer knows it is there
//!   ([`inner_timeout`](crate::retry::RetryLayerBuilder::inner_timeout)):
//!   an attempt waiting on the backend holds this one timer, and the
//!   deadline gets a timer of its own only for an attempt with less time
//!   left than the attempt timeout.
//!
//! # What each gate counts
//!
//! Gates never feed on each other: a rejection made by failsoft itself is
//! not evidence that the backend refused, so no gate counts another's.
//!
//! | gate | counts | does not count |
//! | --- | --- | --- |
//! | retry budget | logical requests (deposits), retries it granted | local rejections (they are never retried) |
//! | throttle | attempts sent to the backend, when they end (an accept or not); its own probabilistic rejections, as the SRE rule requires | attempts the breaker rejected, requests held by pacing, callers that gave up waiting for readiness |
//! | breaker | attempts it admitted, when they end: failures, slow calls | local rejections from further in, overload answers carrying a `Retry-After` (overload is not outage) |
//! | [`RetryCounters`] | [`sent`](crate::retry::RetrySnapshot::sent) attempts apart from [`local_rejections`](crate::retry::RetrySnapshot::local_rejections); amplification is sent ÷ requests | |
//!
//! # How the stack comes back after an outage
//!
//! Shedding load is half the job; the other half is letting it back in
//! as soon as the backend can take it, and not all at once.
//!
//! - **The throttle forgets quickly.** Its probability is bounded by its
//!   newest buckets (2 to 4 s, or a quiet client's last 10 requests): once
//!   they show the backend accepting three quarters of what was sent, it
//!   soon stops rejecting, whatever the rest of its 2-minute window
//!   remembers. After a minute of failures at the 0.9 cap, a healed backend
//!   gets every request within 4 s (`tests/recovery.rs`); devices at one
//!   request every 2 s are back within 30 s of a brownout
//!   (`tests/recovery_targets.rs`).
//! - **Server pacing is honoured client-wide.** An overload answer
//!   (classified [`FailureKind::Throttled`](crate::classify::FailureKind::Throttled))
//!   with a `Retry-After` paces the whole client until then, jittered by
//!   ×U(1, 1.2) so a fleet does not return in one instant, and clamped to
//!   60 s: a quiet client holds its requests (the retry layer sends them,
//!   and the request's own retry, once the pace ends, if that is before
//!   their deadline; otherwise the fallback answers at once); a busy one
//!   keeps sending at 1.1 times the rate the backend accepted. The breaker does not count
//!   such answers, so a rate limit never trips a long open. Against a
//!   server allowing 200 requests/s while 1,000/s are asked, the stack
//!   sends a quarter of the requests, gets at least 90 % of what the server
//!   allows, and serves 100 % within a second of the load dropping.
//! - **The breaker works at device rates and does not flap.** The stack's
//!   breaker judges rates over a 60 s time window once it holds 5 calls
//!   (0.1 requests/s is enough), counts calls slower than half the attempt
//!   timeout as slow, remembers its trips until it has stayed closed for 2
//!   minutes (so open times keep growing through a flapping episode), and
//!   ramps traffic back over a jittered period that grows with those trips.
//!   A device asking once a minute is served within one open-time cap
//!   (60 s) of its backend healing.
//! - **Probes are not held hostage.** Half-open gives the slots of probes
//!   stuck waiting for readiness to other calls after 30 s
//!   ([`BreakerConfigBuilder::half_open_wait`]).
//!
//! Every layer made by one [`StackLayer`] shares one budget, one throttle
//! and one breaker: use one `StackLayer` per backend. For other budgets,
//! classifiers or per-endpoint breakers, assemble the layers by hand in a
//! `ServiceBuilder` in the same order.
//!
//! # Examples
//!
//! ```
//! use failsoft::fallback::FallbackReason;
//! use failsoft::stack::StackLayer;
//! use std::time::Duration;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), failsoft::BoxError> {
//! let stack = StackLayer::builder()
//!     .deadline(Duration::from_secs(5))
//!     .attempt_timeout(Duration::from_secs(1))
//!     .fallback(|_reason: FallbackReason, _err| Ok("cached schedule"))
//!     .seed(7)
//!     .build()?;
//! let client = stack.layer(service_fn(|_: ()| async { Ok::<_, std::io::Error>("fresh schedule") }));
//! assert_eq!(client.oneshot(()).await?, "fresh schedule");
//! # Ok(())
//! # }
//! ```
//!
//! # Spawning
//!
//! A stack's call spawns as users write it, `tokio::spawn(async move {
//! svc.ready().await?.call(req).await })`, when its parts are named types:
//! owned requests, [`DefaultClassify`], [`HttpClassify`](crate::http::HttpClassify),
//! hyper-util's or reqwest's client. When a part is a closure whose
//! signature carries a lifetime (a `service_fn` over `&'static str`, a
//! [`classify_results`](StackBuilder::classify_results) closure over
//! `Result<_, BoxError>`), rustc cannot prove the spawned future `Send`
//! and says "implementation of `FnOnce` is not general enough": it checks
//! the future's `Service::Future` types with lifetimes erased and then
//! cannot show the closure's bounds hold for every lifetime (rustc issue
//! [#102211](https://github.com/rust-lang/rust/issues/102211); tower's own
//! `Retry` over `Timeout` fails the same way). The one obvious way out is to
//! box the service once, where its type is still fully known:
//!
//! ```
//! use failsoft::classify::{FailureKind, Verdict};
//! use failsoft::stack::StackLayer;
//! use failsoft::BoxError;
//! use tower::util::BoxCloneService;
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), BoxError> {
//! let svc = StackLayer::builder()
//!     .classify_results(|res: &Result<usize, BoxError>| match res {
//!         Ok(_) => Verdict::success(),
//!         Err(_) => Verdict::retryable(FailureKind::Error),
//!     })
//!     .build()?
//!     .layer(service_fn(|device: &'static str| async move { Ok::<_, BoxError>(device.len()) }));
//! let mut svc = BoxCloneService::new(svc); // needs tower's `util` feature
//! let task = tokio::spawn(async move { svc.ready().await?.call("vacuum-7").await });
//! assert_eq!(task.await??, 8);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use tower::Layer;

use crate::breaker::{Breaker, BreakerConfig, BreakerConfigBuilder, Window};
use crate::budget::RatioBudget;
use crate::classify::DefaultClassify;
use crate::fallback::{Decline, Fallback};
use crate::retry::{CloneRequest, RetryCounters, RetryLayer};
use crate::throttle::{ThrottleHandle, ThrottleLayer};

mod builder;
mod gate;
mod gate_layer;
mod service;
mod timeout;

pub use self::builder::StackBuilder;
pub use self::gate::{Gate, GateFuture};
pub use self::gate_layer::GateLayer;
pub use self::service::{Retried, StackService};
pub use self::timeout::{AttemptTimeout, AttemptTimeoutLayer, TimeoutFuture};

/// Wraps a transport in the recommended stack; see the [module docs](self).
///
/// # Sharing
///
/// Every service this layer makes (and their clones) shares one retry
/// budget and counters, one throttle and one breaker.
///
/// # Examples
///
/// ```
/// use failsoft::stack::StackLayer;
/// let stack = StackLayer::builder().build()?;
/// assert_eq!(stack.breaker().state(), failsoft::breaker::State::Closed);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct StackLayer<F = Decline, C = DefaultClassify, R = CloneRequest> {
    fallback: F,
    on_failures: bool,
    retry: RetryLayer<C, RatioBudget, R>,
    budget: RatioBudget,
    throttle: ThrottleLayer<C>,
    breaker: Breaker,
    attempt_timeout: Duration,
}

// === impl StackLayer ===

impl StackLayer {
    /// The stack's default breaker for a given attempt timeout (what
    /// [`build`](StackBuilder::build) uses unless [`breaker`](StackBuilder::breaker) was
    /// given), to start a custom breaker from.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::breaker::Window;
    /// use failsoft::stack::StackLayer;
    /// use std::time::Duration;
    ///
    /// let cfg = StackLayer::default_breaker(Duration::from_secs(2)).build()?;
    /// assert_eq!(cfg.window(), Window::Time { length: Duration::from_secs(60), buckets: 12 });
    /// assert_eq!(cfg.slow_call_rate(), Some(0.5));
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn default_breaker(attempt_timeout: Duration) -> BreakerConfigBuilder {
        BreakerConfig::builder()
            .window(Window::Time {
                length: Duration::from_secs(60),
                buckets: 12,
            })
            .minimum_calls(5)
            .slow_calls(
                0.5,
                match attempt_timeout.checked_div(2) {
                    Some(half) => half,
                    None => attempt_timeout,
                },
            )
    }
}

impl<F, C, R> StackLayer<F, C, R> {
    /// The shared breaker (watch it, force it open).
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The shared throttle's handle.
    pub fn throttle(&self) -> ThrottleHandle {
        self.throttle.handle()
    }

    /// The shared retry budget.
    pub fn budget(&self) -> &RatioBudget {
        &self.budget
    }

    /// The retry layer's counters: attempts, retries, give-ups by reason.
    pub fn counters(&self) -> RetryCounters {
        self.retry.counters()
    }
}

impl<S: Clone, F: Clone, C: Clone, R: Clone> Layer<S> for StackLayer<F, C, R> {
    type Service = StackService<S, F, C, R>;

    fn layer(&self, transport: S) -> Self::Service {
        let timed = AttemptTimeout::new(transport, self.attempt_timeout);
        let gated = Gate::new(timed, self.throttle.parts(), self.breaker.clone());
        let retried = self.retry.layer(gated);
        StackService::new(
            Fallback::new(retried, self.fallback.clone())
                .on_failures(self.on_failures)
                .reading_stop_reason(),
        )
    }
}

impl<F, C, R> fmt::Debug for StackLayer<F, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackLayer")
            .field("breaker", &self.breaker)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("on_failures", &self.on_failures)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod reads;
