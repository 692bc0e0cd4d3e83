//! [`StackBuilder`]: the recommended stack's settings, checked by `build`.

use std::fmt;
use std::time::Duration;

use super::StackLayer;
use crate::backoff::ExponentialBackoff;
use crate::breaker::{Breaker, BreakerConfigBuilder};
use crate::budget::{RatioBudget, RatioBudgetBuilder};
use crate::classify::{ByResult, DefaultClassify};
use crate::error::ConfigError;
use crate::fallback::Decline;
use crate::retry::{CloneRequest, RetryLayer};
use crate::rng::mix;
use crate::throttle::{ThrottleBuilder, ThrottleLayer};

/// Builds a [`StackLayer`]; [`build`](StackBuilder::build) checks
/// everything, including each part's own builder.
///
/// Defaults: at most 3 attempts within a 10 s deadline, 2 s per attempt,
/// the default backoff (full jitter), a 10% [`RatioBudget`], the default
/// throttle (K = 2 over 2 minutes) with answers slower than half the attempt
/// timeout (1 s by default) counted as no accepts
/// ([`ThrottleBuilder::slow_call`]) and the default breaker (see
/// [`BreakerConfig`](crate::breaker::BreakerConfig)), no fallback ([`Decline`]).
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
    /// Default: [`BreakerConfig::builder`](crate::breaker::BreakerConfig::builder) judged the way a device needs:
    /// rates over a 60 s time window (in 12 buckets) once it holds 5 calls,
    /// so they work at 0.1 requests per second, where a count window of
    /// 100 calls with a minimum of 20 would take minutes to fill; and
    /// calls slower than half the attempt timeout count as slow, tripping
    /// the breaker when half the window's calls are, before a backend's
    /// queue grows to the timeout. Everything else as
    /// [`BreakerConfig`](crate::breaker::BreakerConfig)'s defaults: 5 failures in a row, a 50 % failure
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
            // The gate's attempt timeout ends every attempt: one timer per
            // waiting attempt, not two.
            .inner_timeout(self.attempt_timeout)
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
