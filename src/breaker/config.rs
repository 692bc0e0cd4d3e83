//! [`BreakerConfig`] and its builder.

use std::sync::Arc;
use std::time::Duration;

use super::window::Window;
use crate::backoff::{ExponentialBackoff, Jitter};
use crate::error::{ConfigError, MOST_BUCKETS};
use crate::rng::Streams;

/// A validated circuit-breaker configuration.
///
/// Defaults (after resilience4j and Envoy, with a fleet in mind):
/// - trip after 5 consecutive failures, or at a 50% failure rate over the
///   last 100 calls once at least 20 calls were seen; no slow-call policy;
/// - stay open for a jittered, growing time: 5 s on the first trip, doubling
///   on each trip that follows a failed probe, capped at 60 s, with
///   [`Jitter::Equal`] (each open time lies in `[ceiling / 2, ceiling]`);
/// - half-open admits at most 3 probes and closes after 3 successes; probes
///   that take longer than 30 s lose their slots to other calls;
/// - after closing, ramp traffic up over 10 s.
///
/// # Sharing
///
/// A config is cheap to clone. Clones share one seeded source of random
/// streams: each breaker built from it (or from a clone) draws its own
/// stream, so a fleet of breakers built from one seeded config is
/// reproducible and still jitters independently.
///
/// # Examples
///
/// ```
/// use failsoft::breaker::{BreakerConfig, Window};
/// use std::time::Duration;
///
/// let cfg = BreakerConfig::builder()
///     .failure_rate(0.25)
///     .window(Window::Time { length: Duration::from_secs(30), buckets: 10 })
///     .minimum_calls(50)
///     .seed(7)
///     .build()?;
/// assert_eq!(cfg.failure_rate(), Some(0.25));
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BreakerConfig {
    pub(crate) consecutive_failures: Option<u32>,
    pub(crate) failure_rate: Option<f64>,
    pub(crate) slow_call_rate: Option<f64>,
    pub(crate) slow_call_duration: Duration,
    pub(crate) window: Window,
    pub(crate) minimum_calls: u32,
    pub(crate) half_open_probes: u32,
    pub(crate) half_open_successes: u32,
    pub(crate) open_backoff: ExponentialBackoff,
    pub(crate) ramp_up: Option<Duration>,
    pub(crate) trip_memory: Duration,
    pub(crate) half_open_wait: Duration,
    pub(crate) streams: Arc<Streams>,
}

/// Builds a [`BreakerConfig`]; setters are `const` and cannot fail,
/// [`build`](BreakerConfigBuilder::build) checks everything.
///
/// # Examples
///
/// ```
/// use failsoft::breaker::{BreakerConfig, BreakerConfigBuilder};
///
/// const CFG: BreakerConfigBuilder = BreakerConfig::builder()
///     .consecutive_failures(3)
///     .without_failure_rate();
/// let cfg = CFG.build()?;
/// assert_eq!(cfg.consecutive_failures(), Some(3));
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfigBuilder {
    consecutive_failures: Option<u32>,
    failure_rate: Option<f64>,
    slow_call_rate: Option<f64>,
    slow_call_duration: Duration,
    window: Window,
    minimum_calls: u32,
    half_open_probes: u32,
    half_open_successes: u32,
    open_backoff: Option<ExponentialBackoff>,
    ramp_up: Option<Duration>,
    trip_memory: Duration,
    half_open_wait: Duration,
    seed: Option<u64>,
}

const LARGEST_WINDOW: u32 = 1 << 20;

// === impl BreakerConfig ===

impl BreakerConfig {
    /// A builder starting from the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::BreakerConfig;
    /// let cfg = BreakerConfig::builder().build()?;
    /// assert_eq!(cfg.half_open_probes(), 3);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn builder() -> BreakerConfigBuilder {
        BreakerConfigBuilder {
            consecutive_failures: Some(5),
            failure_rate: Some(0.5),
            slow_call_rate: None,
            slow_call_duration: Duration::from_secs(1),
            window: Window::Count(100),
            minimum_calls: 20,
            half_open_probes: 3,
            half_open_successes: 3,
            open_backoff: None,
            ramp_up: Some(Duration::from_secs(10)),
            trip_memory: Duration::from_secs(120),
            half_open_wait: Duration::from_secs(30),
            seed: None,
        }
    }

    /// Consecutive failures that trip the breaker, if that policy is on.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::BreakerConfig;
    /// assert_eq!(BreakerConfig::builder().build()?.consecutive_failures(), Some(5));
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn consecutive_failures(&self) -> Option<u32> {
        self.consecutive_failures
    }

    /// The failure rate that trips the breaker, if that policy is on.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::BreakerConfig;
    /// assert_eq!(BreakerConfig::builder().build()?.failure_rate(), Some(0.5));
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn failure_rate(&self) -> Option<f64> {
        self.failure_rate
    }

    /// The slow-call rate that trips the breaker, if that policy is on.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::BreakerConfig;
    /// assert_eq!(BreakerConfig::builder().build()?.slow_call_rate(), None);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn slow_call_rate(&self) -> Option<f64> {
        self.slow_call_rate
    }

    /// The window the rates are judged over.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{BreakerConfig, Window};
    /// assert_eq!(BreakerConfig::builder().build()?.window(), Window::Count(100));
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn window(&self) -> Window {
        self.window
    }

    /// How many probes half-open admits (at most; never unlimited).
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::BreakerConfig;
    /// assert_eq!(BreakerConfig::builder().half_open_probes(5).build()?.half_open_probes(), 5);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn half_open_probes(&self) -> u32 {
        self.half_open_probes
    }

    /// The schedule of open times: trip `n` (from 0, reset on closing)
    /// stays open for `open_backoff.delay(n, ..)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::BreakerConfig;
    /// # use std::time::Duration;
    /// let cfg = BreakerConfig::builder().build()?;
    /// assert_eq!(cfg.open_backoff().max(), Duration::from_secs(60));
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn open_backoff(&self) -> ExponentialBackoff {
        self.open_backoff
    }

    /// How long traffic ramps up after closing, if it does.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::BreakerConfig;
    /// assert_eq!(BreakerConfig::builder().without_ramp_up().build()?.ramp_up(), None);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn ramp_up(&self) -> Option<Duration> {
        self.ramp_up
    }

    /// How long the breaker must stay closed before it forgets its trips
    /// (see [`BreakerConfigBuilder::trip_memory`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::BreakerConfig;
    /// # use std::time::Duration;
    /// assert_eq!(BreakerConfig::builder().build()?.trip_memory(), Duration::from_secs(120));
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn trip_memory(&self) -> Duration {
        self.trip_memory
    }

    /// How long half-open waits for its probes before it gives their slots
    /// to others (see [`BreakerConfigBuilder::half_open_wait`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::BreakerConfig;
    /// # use std::time::Duration;
    /// assert_eq!(BreakerConfig::builder().build()?.half_open_wait(), Duration::from_secs(30));
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn half_open_wait(&self) -> Duration {
        self.half_open_wait
    }
}

fn default_open_backoff() -> Result<ExponentialBackoff, ConfigError> {
    ExponentialBackoff::builder()
        .base(Duration::from_secs(5))
        .multiplier(2.0)
        .max(Duration::from_secs(60))
        .jitter(Jitter::Equal)
        .build()
}

// === impl BreakerConfigBuilder ===

impl BreakerConfigBuilder {
    /// Trip after `n` failures in a row. Default 5.
    pub const fn consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = Some(n);
        self
    }

    /// Turn off the consecutive-failures policy.
    pub const fn without_consecutive_failures(mut self) -> Self {
        self.consecutive_failures = None;
        self
    }

    /// Trip when at least this share of the window's calls failed.
    /// Default 0.5.
    pub const fn failure_rate(mut self, rate: f64) -> Self {
        self.failure_rate = Some(rate);
        self
    }

    /// Turn off the failure-rate policy.
    pub const fn without_failure_rate(mut self) -> Self {
        self.failure_rate = None;
        self
    }

    /// Trip when at least `rate` of the window's calls took `duration` or
    /// longer. Off by default.
    ///
    /// Through the layer, a call is timed from its first poll that has to
    /// wait: a call that completes at its first poll took no time, and
    /// costs no clock read.
    pub const fn slow_calls(mut self, rate: f64, duration: Duration) -> Self {
        self.slow_call_rate = Some(rate);
        self.slow_call_duration = duration;
        self
    }

    /// The window rates are judged over. Default `Window::Count(100)`.
    pub const fn window(mut self, window: Window) -> Self {
        self.window = window;
        self
    }

    /// Rates count only once the window holds this many calls. Default 20.
    pub const fn minimum_calls(mut self, n: u32) -> Self {
        self.minimum_calls = n;
        self
    }

    /// Probes admitted per half-open period. Default 3.
    pub const fn half_open_probes(mut self, n: u32) -> Self {
        self.half_open_probes = n;
        self
    }

    /// Successful probes needed to close. Default 3.
    pub const fn half_open_successes(mut self, n: u32) -> Self {
        self.half_open_successes = n;
        self
    }

    /// The schedule of open times (see [`BreakerConfig::open_backoff`]).
    /// Default 5 s, ×2 per trip, capped at 60 s, equal jitter.
    pub const fn open_backoff(mut self, backoff: ExponentialBackoff) -> Self {
        self.open_backoff = Some(backoff);
        self
    }

    /// After closing, admit a share of calls growing linearly from 10% to
    /// 100% over a ramp of `period` × U(1, 1.5), doubled for each trip the
    /// breaker remembers beyond the first (at most ×4; see
    /// [`trip_memory`](Self::trip_memory)). Default 10 s.
    ///
    /// A fleet of breakers facing one backend trips together; the jitter
    /// spreads their returns, and the growth keeps a fleet that keeps
    /// tripping (a backend with too little capacity for all of it) from
    /// bringing every device back above capacity within one short ramp.
    pub const fn ramp_up(mut self, period: Duration) -> Self {
        self.ramp_up = Some(period);
        self
    }

    /// Admit every call at once after closing.
    pub const fn without_ramp_up(mut self) -> Self {
        self.ramp_up = None;
        self
    }

    /// How long the breaker must stay closed, without a trip, before it
    /// forgets the trips before. Default 2 minutes.
    ///
    /// While it remembers, each trip opens for longer (the
    /// [open backoff](Self::open_backoff) counts remembered trips) and
    /// each ramp-up is longer: a backend that fails again soon after a
    /// successful probe is kept away longer, so a fleet stops flapping
    /// with it. Zero forgets at every close (the behaviour of breakers
    /// whose open time restarts from the base after each recovery).
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::breaker::BreakerConfig;
    /// use std::time::Duration;
    /// let cfg = BreakerConfig::builder().trip_memory(Duration::from_secs(300)).build()?;
    /// assert_eq!(cfg.trip_memory(), Duration::from_secs(300));
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn trip_memory(mut self, memory: Duration) -> Self {
        self.trip_memory = memory;
        self
    }

    /// The longest half-open waits for the probes it let out before it
    /// gives their slots to other calls. Default 30 s.
    ///
    /// A layer reserves a probe's slot when its `poll_ready` admits it, so
    /// a service that never gets ready (a full `Buffer`, a balancer with
    /// no endpoint) could hold every slot, and the breaker would reject
    /// everyone, forever. After this wait the next call starts a fresh
    /// half-open period with the slots free; the late probes' outcomes are
    /// ignored. (resilience4j's maximum wait in half-open, on by default
    /// here.)
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::breaker::BreakerConfig;
    /// use std::time::Duration;
    /// let cfg = BreakerConfig::builder().half_open_wait(Duration::from_secs(5)).build()?;
    /// assert_eq!(cfg.half_open_wait(), Duration::from_secs(5));
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn half_open_wait(mut self, wait: Duration) -> Self {
        self.half_open_wait = wait;
        self
    }

    /// Seeds the breakers' jitter and ramp-up draws. Default: a seed from
    /// the operating system.
    pub const fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field when:
    /// - `breaker.consecutive_failures` is 0;
    /// - `breaker.failure_rate` or `breaker.slow_call_rate` is NaN or
    ///   outside `(0, 1]`;
    /// - `breaker.slow_call_duration` is zero;
    /// - `breaker.policy`: every trip policy is turned off;
    /// - `breaker.window_size` (count window) is 0 or above 2²⁰;
    /// - `breaker.window_length` (time window) is zero;
    /// - `breaker.window_buckets` is 0, above 1,000, or leaves buckets
    ///   shorter than 1 ms;
    /// - `breaker.minimum_calls` is 0, or larger than a count window;
    /// - `breaker.half_open_probes` is 0;
    /// - `breaker.half_open_successes` is 0 or above `half_open_probes`;
    /// - `breaker.ramp_up` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::BreakerConfig;
    /// let err = BreakerConfig::builder().failure_rate(f64::NAN).build().unwrap_err();
    /// assert_eq!(err.field(), "breaker.failure_rate");
    /// ```
    pub fn build(self) -> Result<BreakerConfig, ConfigError> {
        self.check_policies()?;
        self.check_window()?;
        self.check_half_open()?;
        let open_backoff = match self.open_backoff {
            Some(b) => b,
            None => default_open_backoff()?,
        };
        Ok(BreakerConfig {
            consecutive_failures: self.consecutive_failures,
            failure_rate: self.failure_rate,
            slow_call_rate: self.slow_call_rate,
            slow_call_duration: self.slow_call_duration,
            window: self.window,
            minimum_calls: self.minimum_calls,
            half_open_probes: self.half_open_probes,
            half_open_successes: self.half_open_successes,
            open_backoff,
            ramp_up: self.ramp_up,
            trip_memory: self.trip_memory,
            half_open_wait: self.half_open_wait,
            streams: Arc::new(Streams::new(self.seed)),
        })
    }

    fn check_policies(&self) -> Result<(), ConfigError> {
        if self.consecutive_failures == Some(0) {
            return Err(ConfigError::new(
                "breaker.consecutive_failures",
                "must be at least 1",
            ));
        }
        let in_unit = |r: f64| r > 0.0 && r <= 1.0;
        if self.failure_rate.is_some_and(|r| !in_unit(r)) {
            return Err(ConfigError::new(
                "breaker.failure_rate",
                "must be within (0, 1]",
            ));
        }
        if let Some(rate) = self.slow_call_rate {
            if !in_unit(rate) {
                return Err(ConfigError::new(
                    "breaker.slow_call_rate",
                    "must be within (0, 1]",
                ));
            }
            if self.slow_call_duration.is_zero() {
                return Err(ConfigError::new(
                    "breaker.slow_call_duration",
                    "must be greater than zero",
                ));
            }
        }
        if self.consecutive_failures.is_none()
            && self.failure_rate.is_none()
            && self.slow_call_rate.is_none()
        {
            return Err(ConfigError::new(
                "breaker.policy",
                "must enable at least one trip policy",
            ));
        }
        if self.ramp_up.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::new(
                "breaker.ramp_up",
                "must be greater than zero",
            ));
        }
        Ok(())
    }

    fn check_window(&self) -> Result<(), ConfigError> {
        match self.window {
            Window::Count(size) => {
                if size == 0 || size > LARGEST_WINDOW {
                    return Err(ConfigError::new(
                        "breaker.window_size",
                        "must be within [1, 2^20]",
                    ));
                }
                if self.minimum_calls > size {
                    return Err(ConfigError::new(
                        "breaker.minimum_calls",
                        "must not exceed breaker.window_size",
                    ));
                }
            }
            Window::Time { length, buckets } => {
                if length.is_zero() {
                    return Err(ConfigError::new(
                        "breaker.window_length",
                        "must be greater than zero",
                    ));
                }
                if buckets == 0
                    || buckets > MOST_BUCKETS
                    || length / buckets < Duration::from_millis(1)
                {
                    return Err(ConfigError::new(
                        "breaker.window_buckets",
                        "must be within [1, 1000] and leave buckets of at least 1 ms",
                    ));
                }
            }
        }
        if self.minimum_calls == 0 {
            return Err(ConfigError::new(
                "breaker.minimum_calls",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    fn check_half_open(&self) -> Result<(), ConfigError> {
        if self.half_open_probes == 0 {
            return Err(ConfigError::new(
                "breaker.half_open_probes",
                "must be at least 1",
            ));
        }
        if self.half_open_successes == 0 || self.half_open_successes > self.half_open_probes {
            return Err(ConfigError::new(
                "breaker.half_open_successes",
                "must be within [1, breaker.half_open_probes]",
            ));
        }
        Ok(())
    }
}

impl Default for BreakerConfigBuilder {
    fn default() -> Self {
        BreakerConfig::builder()
    }
}
