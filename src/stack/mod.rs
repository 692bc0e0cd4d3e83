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
//!   nothing.)
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

use crate::backoff::ExponentialBackoff;
use crate::breaker::{Breaker, BreakerConfig, BreakerConfigBuilder, Window};
use crate::budget::{RatioBudget, RatioBudgetBuilder};
use crate::classify::{ByResult, DefaultClassify};
use crate::error::ConfigError;
use crate::fallback::{Decline, Fallback};
use crate::retry::{CloneRequest, RetryCounters, RetryLayer};
use crate::rng::mix;
use crate::throttle::{ThrottleBuilder, ThrottleHandle, ThrottleLayer};

mod gate;
mod gate_layer;
mod service;
mod timeout;

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

/// Builds a [`StackLayer`]; [`build`](StackBuilder::build) checks
/// everything, including each part's own builder.
///
/// Defaults: at most 3 attempts within a 10 s deadline, 2 s per attempt,
/// the default backoff (full jitter), a 10% [`RatioBudget`], the default
/// throttle (K = 2 over 2 minutes) with answers slower than half the attempt
/// timeout (1 s by default) counted as no accepts
/// ([`ThrottleBuilder::slow_call`]) and the default breaker (see
/// [`BreakerConfig`]), no fallback ([`Decline`]).
///
/// # Examples
///
/// ```
/// use failsoft::breaker::BreakerConfig;
/// use failsoft::stack::StackLayer;
///
/// let stack = StackLayer::builder()
///     .max_attempts(2)
///     .breaker(BreakerConfig::builder().consecutive_failures(3))
///     .build()?;
/// # let _ = stack;
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
pub struct StackBuilder<F = Decline, C = DefaultClassify, R = CloneRequest> {
    max_attempts: u32,
    deadline: Duration,
    attempt_timeout: Duration,
    backoff: Option<ExponentialBackoff>,
    budget: RatioBudgetBuilder,
    throttle: Option<ThrottleBuilder>,
    breaker: Option<BreakerConfigBuilder>,
    seed: Option<u64>,
    fallback: F,
    on_failures: bool,
    classify: C,
    replay: R,
}

// === impl StackLayer ===

impl StackLayer {
    /// A builder starting from the defaults.
    pub const fn builder() -> StackBuilder {
        StackBuilder {
            max_attempts: 3,
            deadline: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(2),
            backoff: None,
            budget: RatioBudget::builder(),
            // `None`: the default throttle, with answers slower than half
            // the attempt timeout counted as no accepts (see `build`).
            throttle: None,
            // `None`: the stack's breaker (see `StackBuilder::breaker`).
            breaker: None,
            seed: None,
            fallback: Decline,
            on_failures: false,
            classify: DefaultClassify,
            replay: CloneRequest,
        }
    }
}

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

// === impl StackBuilder ===

impl<F, C, R> StackBuilder<F, C, R> {
    /// Attempts per logical request, first included. Default 3.
    pub const fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// The logical request's overall deadline. Default 10 s.
    pub const fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The limit on each attempt, inside the breaker. Default 2 s.
    pub const fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// The backoff between attempts. Default: the retry layer's.
    pub const fn backoff(mut self, backoff: ExponentialBackoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// The retry budget. Default: ratio 0.1.
    pub const fn budget(mut self, budget: RatioBudgetBuilder) -> Self {
        self.budget = budget;
        self
    }

    /// The throttle. Default: [`ThrottleLayer::builder`] with a
    /// [`slow_call`](ThrottleBuilder::slow_call) of half the attempt
    /// timeout; this replaces it whole (set its `slow_call` yourself).
    pub const fn throttle(mut self, throttle: ThrottleBuilder) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// The breaker; this replaces the stack's default whole.
    ///
    /// Default: [`BreakerConfig::builder`] judged the way a device needs:
    /// rates over a 60 s time window (in 12 buckets) once it holds 5 calls,
    /// so they work at 0.1 requests per second, where a count window of
    /// 100 calls with a minimum of 20 would take minutes to fill; and
    /// calls slower than half the attempt timeout count as slow, tripping
    /// the breaker when half the window's calls are, before a backend's
    /// queue grows to the timeout. Everything else as
    /// [`BreakerConfig`]'s defaults: 5 failures in a row, a 50 % failure
    /// rate, growing open times remembered for 2 minutes, a jittered
    /// ramp-up. See [`StackLayer::default_breaker`].
    pub const fn breaker(mut self, breaker: BreakerConfigBuilder) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Seeds every random choice of the stack (each part gets its own
    /// stream). Default: a seed from the operating system.
    pub const fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Answer local rejections (circuit open, throttled, budget refused,
    /// deadline) with `fallback`, told the reason.
    pub fn fallback<F2>(self, fallback: F2) -> StackBuilder<F2, C, R> {
        self.with_parts(|_, classify| (fallback, classify))
    }

    /// Classifies every attempt's result, in the retry layer, the throttle
    /// and the breaker alike, by the result alone (see [`ByResult`]): for
    /// example a 503 response as a retryable failure that trips the breaker.
    /// Default: [`DefaultClassify`] (`Ok` is a success, errors are failures).
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::classify::{FailureKind, Verdict};
    /// use failsoft::stack::StackLayer;
    /// use failsoft::BoxError;
    ///
    /// let stack = StackLayer::builder()
    ///     .classify_results(|res: &Result<u16, BoxError>| match res {
    ///         Ok(500..=599) => Verdict::retryable(FailureKind::Error),
    ///         Ok(_) => Verdict::success(),
    ///         Err(_) => Verdict::retryable(FailureKind::Error),
    ///     })
    ///     .build()?;
    /// # let _ = stack;
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn classify_results<G>(self, classify: G) -> StackBuilder<F, ByResult<G>, R> {
        self.with_parts(|fallback, _| (fallback, ByResult(classify)))
    }

    /// Classifies every attempt's result with `classify`, which must work
    /// both with the request (`Classify<Req, Res>`, in the retry layer) and
    /// without it (`Classify<(), Res>`, in the throttle and the breaker),
    /// as [`HttpClassify`](crate::http::HttpClassify) does: its
    /// idempotency rule needs the request, its status rules do not.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::classify::DefaultClassify;
    /// use failsoft::stack::StackLayer;
    /// let stack = StackLayer::builder().classify(DefaultClassify).build()?;
    /// # let _ = stack;
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn classify<G>(self, classify: G) -> StackBuilder<F, G, R> {
        self.with_parts(|fallback, _| (fallback, classify))
    }

    /// How the retry layer copies a request for another attempt. Default
    /// [`CloneRequest`]; see [`Replay`](crate::retry::Replay).
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::retry::SendOnce;
    /// use failsoft::stack::StackLayer;
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), failsoft::BoxError> {
    /// struct Upload; // not Clone: sent once, never retried
    /// let stack = StackLayer::builder().replay(SendOnce).build()?;
    /// let svc = stack.layer(service_fn(|_: Upload| async { Ok::<_, failsoft::BoxError>(1) }));
    /// assert_eq!(svc.oneshot(Upload).await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn replay<R2>(self, replay: R2) -> StackBuilder<F, C, R2> {
        StackBuilder {
            max_attempts: self.max_attempts,
            deadline: self.deadline,
            attempt_timeout: self.attempt_timeout,
            backoff: self.backoff,
            budget: self.budget,
            throttle: self.throttle,
            breaker: self.breaker,
            seed: self.seed,
            fallback: self.fallback,
            on_failures: self.on_failures,
            classify: self.classify,
            replay,
        }
    }

    /// Sets up the stack for `http::Request`s (and, with the `reqwest`
    /// feature, `reqwest::Request`s): [`HttpClassify`](crate::http::HttpClassify)
    /// for status codes, hints and idempotency, and
    /// [`HttpReplay`](crate::http::HttpReplay) to resend bodies that can be
    /// copied (others are sent once). Feature `http`.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::stack::StackLayer;
    /// let stack = StackLayer::builder().http().build()?;
    /// # let _ = stack;
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn http(self) -> StackBuilder<F, crate::http::HttpClassify, crate::http::HttpReplay> {
        self.classify(crate::http::HttpClassify::new())
            .replay(crate::http::HttpReplay)
    }

    /// Sets up the stack for gRPC over `http::Request`s:
    /// [`GrpcClassify`](crate::grpc::GrpcClassify) and
    /// [`HttpReplay`](crate::http::HttpReplay). Feature `grpc`.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::stack::StackLayer;
    /// let stack = StackLayer::builder().grpc().build()?;
    /// # let _ = stack;
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    #[cfg(feature = "grpc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
    pub fn grpc(self) -> StackBuilder<F, crate::grpc::GrpcClassify, crate::http::HttpReplay> {
        self.classify(crate::grpc::GrpcClassify::new())
            .replay(crate::http::HttpReplay)
    }

    /// The same settings with the fallback and classifier mapped by `parts`.
    fn with_parts<F2, C2>(self, parts: impl FnOnce(F, C) -> (F2, C2)) -> StackBuilder<F2, C2, R> {
        let (fallback, classify) = parts(self.fallback, self.classify);
        StackBuilder {
            max_attempts: self.max_attempts,
            deadline: self.deadline,
            attempt_timeout: self.attempt_timeout,
            backoff: self.backoff,
            budget: self.budget,
            throttle: self.throttle,
            breaker: self.breaker,
            seed: self.seed,
            fallback,
            on_failures: self.on_failures,
            classify,
            replay: self.replay,
        }
    }

    /// Also answer every other final failure with the fallback.
    pub const fn on_failures(mut self, yes: bool) -> Self {
        self.on_failures = yes;
        self
    }

    /// Checks the configuration and builds the layer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field when:
    /// - `stack.attempt_timeout` is zero or longer than `stack.deadline`;
    /// - any part's own builder rejects its settings (`retry.*`,
    ///   `budget.*`, `throttle.*`, `breaker.*`, `backoff.*`).
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::stack::StackLayer;
    /// use std::time::Duration;
    /// let err = StackLayer::builder().attempt_timeout(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err.field(), "stack.attempt_timeout");
    /// let err = StackLayer::builder().max_attempts(0).build().unwrap_err();
    /// assert_eq!(err.field(), "retry.max_attempts");
    /// ```
    pub fn build(self) -> Result<StackLayer<F, C, R>, ConfigError>
    where
        C: Clone,
    {
        if self.attempt_timeout.is_zero() || self.attempt_timeout > self.deadline {
            return Err(ConfigError::new(
                "stack.attempt_timeout",
                "must be greater than zero and at most stack.deadline",
            ));
        }
        let seeds = self.seed.map(|s| [mix(s ^ 1), mix(s ^ 2), mix(s ^ 3)]);
        let budget = self.budget.build()?;
        let mut retry = RetryLayer::builder()
            .max_attempts(self.max_attempts)
            .deadline(self.deadline)
            .classify(self.classify.clone())
            .budget(budget.clone())
            .replay(self.replay);
        if let Some(backoff) = self.backoff {
            retry = retry.backoff(backoff);
        }
        // Answers slower than half the attempt timeout are no accepts. The
        // 7 Dec replay at that ratio: outage waste 0.42 -> 0.36 (a tenth of
        // the timeout: 0.03), but a backend normally slower than the
        // threshold is throttled at the cap, so a default stays well above
        // normal latency, which an attempt timeout is set well above.
        let mut throttle = self
            .throttle
            .unwrap_or_else(|| ThrottleLayer::builder().slow_call(self.attempt_timeout / 2));
        let mut breaker = self
            .breaker
            .unwrap_or_else(|| StackLayer::default_breaker(self.attempt_timeout));
        if let Some([r, t, b]) = seeds {
            retry = retry.seed(r);
            throttle = throttle.seed(t);
            breaker = breaker.seed(b);
        }
        Ok(StackLayer {
            fallback: self.fallback,
            on_failures: self.on_failures,
            retry: retry.build()?,
            budget,
            // The gate classifies with the throttle's copy.
            throttle: throttle.classify(self.classify).build()?,
            breaker: Breaker::new(&breaker.build()?),
            attempt_timeout: self.attempt_timeout,
        })
    }
}

impl<F, C, R> fmt::Debug for StackBuilder<F, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackBuilder")
            .field("max_attempts", &self.max_attempts)
            .field("deadline", &self.deadline)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod reads;
