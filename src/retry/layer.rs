//! [`RetryLayer`] and its builder.

use std::fmt;
use std::sync::Arc;

use crate::stripes::PerThread;
use std::time::Duration;

use tower::Layer;

use super::counters::RetryCounters;
use super::replay::CloneRequest;
use super::{Config, Local, Retry, Shared};
use crate::backoff::ExponentialBackoff;
use crate::budget::NoBudget;
use crate::classify::DefaultClassify;
use crate::error::ConfigError;
use crate::rng::Streams;

/// Wraps services in [`Retry`].
///
/// Every service this layer makes, and every clone of those services,
/// shares the layer's budget, counters and random streams.
///
/// # Sharing
///
/// Cloning the layer or calling [`layer`](Layer::layer) shares its budget
/// (a cheap handle), counters and random streams; the classifier and
/// replay are cloned. Build a second layer for an independent budget and
/// independent counters.
///
/// # Examples
///
/// ```
/// use failsoft::retry::RetryLayer;
/// use std::time::Duration;
///
/// let layer = RetryLayer::builder()
///     .max_attempts(3)
///     .deadline(Duration::from_secs(10))
///     .attempt_timeout(Duration::from_secs(2))
///     .seed(7)
///     .build()?;
/// assert_eq!(layer.counters().snapshot().requests, 0);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
pub struct RetryLayer<C = DefaultClassify, B = NoBudget, R = CloneRequest> {
    shared: Arc<Shared<C, B, R>>,
}

/// Builds a [`RetryLayer`]. Setters cannot fail;
/// [`build`](RetryLayerBuilder::build) checks everything.
///
/// Defaults: 3 attempts (the SRE book's and the AWS SDK's), the default
/// [`ExponentialBackoff`] (100 ms base, ×2, 20 s cap, full jitter), no
/// deadline, no attempt timeout, server hints honoured up to 60 s, no
/// budget, requests replayed by cloning, seed drawn from the OS.
///
/// # Examples
///
/// ```
/// use failsoft::backoff::{ExponentialBackoff, Jitter};
/// use failsoft::classify::{FailureKind, Verdict};
/// use failsoft::retry::RetryLayer;
/// use failsoft::BoxError;
/// use std::time::Duration;
///
/// let layer = RetryLayer::builder()
///     .backoff(ExponentialBackoff::builder().jitter(Jitter::Decorrelated).build()?)
///     .max_hint(Duration::from_secs(30))
///     .classify(|_req: &u32, res: &Result<u16, BoxError>| match res {
///         Ok(503) => Verdict::retryable(FailureKind::Throttled),
///         Ok(_) => Verdict::success(),
///         Err(_) => Verdict::retryable(FailureKind::Error),
///     })
///     .build()?;
/// # let _ = layer;
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
pub struct RetryLayerBuilder<C = DefaultClassify, B = NoBudget, R = CloneRequest> {
    config: Config,
    seed: Option<u64>,
    classify: C,
    budget: B,
    replay: R,
}

const DEFAULT_CONFIG: Config = Config {
    max_attempts: 3,
    backoff: crate::backoff::DEFAULT_BACKOFF,
    deadline: None,
    attempt_timeout: None,
    inner_timeout: None,
    max_hint: Duration::from_secs(60),
    honor_hints: true,
    throttle_backoff: None,
    hint_over_backoff: false,
};

// === impl RetryLayer ===

impl RetryLayer {
    /// A layer with the defaults (see [`RetryLayerBuilder`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::RetryLayer;
    /// let _layer = RetryLayer::new();
    /// ```
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the default retry configuration is valid")
    }

    /// A builder starting from the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::RetryLayer;
    /// let layer = RetryLayer::builder().max_attempts(5).build()?;
    /// # let _ = layer;
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn builder() -> RetryLayerBuilder {
        RetryLayerBuilder {
            config: DEFAULT_CONFIG,
            seed: None,
            classify: DefaultClassify,
            budget: NoBudget,
            replay: CloneRequest,
        }
    }
}

impl Default for RetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<C, B, R> RetryLayer<C, B, R> {
    /// The counters shared by every service this layer makes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::RetryLayer;
    /// let layer = RetryLayer::new();
    /// assert_eq!(layer.counters().snapshot().retries, 0);
    /// ```
    pub fn counters(&self) -> RetryCounters {
        self.shared.counters.clone()
    }

    /// The base seed of the layer's random streams (drawn from the OS when
    /// none was set); log it to reproduce a run's jitter.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::RetryLayer;
    /// let layer = RetryLayer::builder().seed(3).build()?;
    /// assert_eq!(layer.seed(), 3);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn seed(&self) -> u64 {
        self.shared.streams.base_seed()
    }
}

impl<C, B, R> Clone for RetryLayer<C, B, R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: Clone, C: Clone, B: Clone, R: Clone> Layer<S> for RetryLayer<C, B, R> {
    type Service = Retry<S, C, B, R>;

    fn layer(&self, inner: S) -> Self::Service {
        let shared = PerThread::new(|| Local::new((*self.shared).clone(), inner.clone()));
        Retry { inner, shared }
    }
}

impl<C, B, R> fmt::Debug for RetryLayer<C, B, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("config", &self.shared.config)
            .field("counters", &self.shared.counters)
            .finish_non_exhaustive()
    }
}

// === impl RetryLayerBuilder ===

impl<C, B, R> RetryLayerBuilder<C, B, R> {
    /// The most attempts per logical request, the first included. Default 3.
    pub const fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.config.max_attempts = max_attempts;
        self
    }

    /// The delay schedule between attempts.
    pub const fn backoff(mut self, backoff: ExponentialBackoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// A separate delay schedule for retries after a throttling error
    /// ([`FailureKind::Throttled`](crate::classify::FailureKind::Throttled)).
    /// Default: none, every retry uses [`backoff`](Self::backoff). The
    /// schedule's step is still the request's retry count. AWS's 2026
    /// standard mode backs off from 50 ms after errors and from 1 s after
    /// throttling errors.
    pub const fn throttle_backoff(mut self, backoff: ExponentialBackoff) -> Self {
        self.config.throttle_backoff = Some(backoff);
        self
    }

    /// An overall deadline per logical request: attempts are cut short at
    /// it, and no retry starts whose delay would end past it.
    ///
    /// The deadline starts at the request's first poll that has to wait
    /// (or when its first attempt fails at once), so a first attempt that
    /// succeeds at its first poll never reads the clock. A request polled
    /// as soon as it is made (`svc.call(req).await`) starts its deadline
    /// at the call; one made and left unpolled starts it when first polled.
    pub const fn deadline(mut self, deadline: Duration) -> Self {
        self.config.deadline = Some(deadline);
        self
    }

    /// A timeout per attempt; with a deadline, each attempt gets the smaller
    /// of this and the time remaining.
    pub const fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.config.attempt_timeout = Some(timeout);
        self
    }

    /// Tells the layer that the service below ends every attempt within
    /// `timeout`, as an [`AttemptTimeoutLayer`](crate::stack::AttemptTimeoutLayer)
    /// under it does. Then, while an attempt has at least that long before
    /// its [`deadline`](Self::deadline) or
    /// [`attempt_timeout`](Self::attempt_timeout), the layer sets no timer
    /// of its own for it: the inner timeout ends it first. An attempt with
    /// less time left gets its timer as before. The recommended stack sets
    /// this to its attempt timeout, so a request waiting on its backend
    /// holds one timer, not two.
    ///
    /// Only say so if it is true: an attempt the service below never ends
    /// would then outlive the deadline. Default: not set.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use failsoft::retry::RetryLayer;
    /// use failsoft::stack::AttemptTimeoutLayer;
    /// use tower::ServiceBuilder;
    ///
    /// let timeout = Duration::from_secs(2);
    /// let retry = RetryLayer::builder()
    ///     .deadline(Duration::from_secs(10))
    ///     .inner_timeout(timeout)
    ///     .build()?;
    /// let client = ServiceBuilder::new()
    ///     .layer(retry)
    ///     .layer(AttemptTimeoutLayer::new(timeout))
    ///     .service(tower::service_fn(|x: u8| async move { Ok::<_, failsoft::BoxError>(x) }));
    /// # let _ = client;
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn inner_timeout(mut self, timeout: Duration) -> Self {
        self.config.inner_timeout = Some(timeout);
        self
    }

    /// The longest server hint honoured (`Retry-After`, gRPC pushback);
    /// longer hints are cut to it. Default 60 s.
    pub const fn max_hint(mut self, max_hint: Duration) -> Self {
        self.config.max_hint = max_hint;
        self
    }

    /// Caps a `Retry-After` hint at [`max_hint`](Self::max_hint) *beyond*
    /// the backoff delay instead of at `max_hint` itself: the wait is the
    /// hint, at least the backoff and at most the backoff plus `max_hint`.
    /// This is how the AWS SDKs' 2026 standard retry behaviour bounds
    /// `x-amz-retry-after` ("5 s + exponential backoff"); pair it with
    /// [`TokenBucket::aws_standard_2026`](crate::budget::TokenBucket::aws_standard_2026)
    /// and a 5 s `max_hint`. Default off (the cap is `max_hint`). A gRPC
    /// pushback is the exact delay either way, capped at `max_hint`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use failsoft::retry::RetryLayer;
    ///
    /// let layer = RetryLayer::builder()
    ///     .max_hint(Duration::from_secs(5))
    ///     .hint_over_backoff(true)
    ///     .build()?;
    /// # let _ = layer;
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn hint_over_backoff(mut self, on: bool) -> Self {
        self.config.hint_over_backoff = on;
        self
    }

    /// Whether server hints count at all. Default `true`.
    pub const fn honor_hints(mut self, honor: bool) -> Self {
        self.config.honor_hints = honor;
        self
    }

    /// Seeds the jitter streams: the same seed and call order give the same
    /// delays. Default: a seed drawn once from the OS.
    pub const fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The classifier deciding what each attempt's result means.
    pub fn classify<C2>(self, classify: C2) -> RetryLayerBuilder<C2, B, R> {
        RetryLayerBuilder {
            config: self.config,
            seed: self.seed,
            classify,
            budget: self.budget,
            replay: self.replay,
        }
    }

    /// The retry budget asked before every retry. Default [`NoBudget`].
    pub fn budget<B2>(self, budget: B2) -> RetryLayerBuilder<C, B2, R> {
        RetryLayerBuilder {
            config: self.config,
            seed: self.seed,
            classify: self.classify,
            budget,
            replay: self.replay,
        }
    }

    /// How requests are copied for retries. Default [`CloneRequest`].
    pub fn replay<R2>(self, replay: R2) -> RetryLayerBuilder<C, B, R2> {
        RetryLayerBuilder {
            config: self.config,
            seed: self.seed,
            classify: self.classify,
            budget: self.budget,
            replay,
        }
    }

    /// Checks the configuration and builds the layer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field when:
    /// - `retry.max_attempts` is 0;
    /// - `retry.deadline` is zero;
    /// - `retry.attempt_timeout` is zero;
    /// - `retry.inner_timeout` is zero;
    /// - `retry.max_hint` is zero (use `honor_hints(false)` to ignore hints).
    ///
    /// The backoff was checked when it was built.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::RetryLayer;
    /// let err = RetryLayer::builder().max_attempts(0).build().unwrap_err();
    /// assert_eq!(err.field(), "retry.max_attempts");
    /// ```
    pub fn build(self) -> Result<RetryLayer<C, B, R>, ConfigError> {
        let c = &self.config;
        if c.max_attempts == 0 {
            return Err(ConfigError::new("retry.max_attempts", "must be at least 1"));
        }
        if c.deadline.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::new(
                "retry.deadline",
                "must be greater than zero",
            ));
        }
        if c.attempt_timeout.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::new(
                "retry.attempt_timeout",
                "must be greater than zero",
            ));
        }
        if c.inner_timeout.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::new(
                "retry.inner_timeout",
                "must be greater than zero",
            ));
        }
        if c.max_hint.is_zero() {
            return Err(ConfigError::new(
                "retry.max_hint",
                "must be greater than zero (use honor_hints(false) to ignore hints)",
            ));
        }
        Ok(RetryLayer {
            shared: Arc::new(Shared {
                config: self.config,
                classify: self.classify,
                budget: self.budget,
                replay: self.replay,
                counters: RetryCounters::new(),
                streams: Arc::new(Streams::new(self.seed)),
            }),
        })
    }
}

impl<C, B, R> fmt::Debug for RetryLayerBuilder<C, B, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayerBuilder")
            .field("config", &self.config)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}
