//! [`ExponentialBackoff`] and its builder.

use std::time::Duration;

use super::jitter::{Jitter, secs_to_duration};
use super::schedule::Schedule;
use crate::error::ConfigError;
use crate::rng::Rng;

/// A capped exponential schedule with jitter: a validated, `Copy` value.
///
/// Retry `n` (counting from 0) has the ceiling
/// `min(max, base × multiplierⁿ)`, then [`Jitter`] spreads it below that
/// ceiling. Optional limits end a [`Schedule`]: `max_attempts` (the schedule
/// yields `max_attempts - 1` delays, one before each retry) and `max_elapsed`
/// (it ends before the sum of delays would pass it).
///
/// Defaults: base 100 ms, multiplier 2, max 20 s (the AWS SDK's cap), full
/// jitter, no attempt or elapsed limit.
///
/// # Examples
///
/// ```
/// use failsoft::backoff::ExponentialBackoff;
/// use failsoft::rng::Rng;
/// use std::time::Duration;
///
/// let backoff = ExponentialBackoff::default();
/// let mut rng = Rng::from_seed(1);
/// let d = backoff.delay(3, Duration::ZERO, &mut rng);
/// assert!(d <= backoff.ceiling(3));
/// assert_eq!(backoff.ceiling(3), Duration::from_millis(800));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialBackoff {
    base: Duration,
    multiplier: f64,
    max: Duration,
    jitter: Jitter,
    max_attempts: Option<u32>,
    max_elapsed: Option<Duration>,
}

/// Builds an [`ExponentialBackoff`]; setters are `const` and cannot fail,
/// [`build`](ExponentialBackoffBuilder::build) checks everything.
///
/// # Examples
///
/// ```
/// use failsoft::backoff::{ExponentialBackoff, ExponentialBackoffBuilder, Jitter};
/// use std::time::Duration;
///
/// const BACKOFF: ExponentialBackoffBuilder = ExponentialBackoff::builder()
///     .base(Duration::from_millis(25))
///     .max(Duration::from_millis(250))
///     .jitter(Jitter::Full);
/// let backoff = BACKOFF.build()?;
/// assert_eq!(backoff.max(), Duration::from_millis(250));
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialBackoffBuilder {
    inner: ExponentialBackoff,
}

pub(crate) const DEFAULT: ExponentialBackoff = ExponentialBackoff {
    base: Duration::from_millis(100),
    multiplier: 2.0,
    max: Duration::from_secs(20),
    jitter: Jitter::Full,
    max_attempts: None,
    max_elapsed: None,
};

// === impl ExponentialBackoff ===

impl ExponentialBackoff {
    /// A builder starting from the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::ExponentialBackoff;
    /// let b = ExponentialBackoff::builder().build()?;
    /// assert_eq!(b, ExponentialBackoff::default());
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn builder() -> ExponentialBackoffBuilder {
        ExponentialBackoffBuilder { inner: DEFAULT }
    }

    /// The delay before the first retry, before jitter.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::ExponentialBackoff;
    /// # use std::time::Duration;
    /// assert_eq!(ExponentialBackoff::default().base(), Duration::from_millis(100));
    /// ```
    pub const fn base(&self) -> Duration {
        self.base
    }

    /// The cap: no delay is longer, jitter included.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::ExponentialBackoff;
    /// # use std::time::Duration;
    /// assert_eq!(ExponentialBackoff::default().max(), Duration::from_secs(20));
    /// ```
    pub const fn max(&self) -> Duration {
        self.max
    }

    /// The growth factor per retry.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::ExponentialBackoff;
    /// assert_eq!(ExponentialBackoff::default().multiplier(), 2.0);
    /// ```
    pub const fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// The jitter mode.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::{ExponentialBackoff, Jitter};
    /// assert_eq!(ExponentialBackoff::default().jitter(), Jitter::Full);
    /// ```
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The attempt limit of a [`Schedule`], if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::ExponentialBackoff;
    /// assert_eq!(ExponentialBackoff::default().max_attempts(), None);
    /// ```
    pub const fn max_attempts(&self) -> Option<u32> {
        self.max_attempts
    }

    /// The limit on the sum of a [`Schedule`]'s delays, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::ExponentialBackoff;
    /// assert_eq!(ExponentialBackoff::default().max_elapsed(), None);
    /// ```
    pub const fn max_elapsed(&self) -> Option<std::time::Duration> {
        self.max_elapsed
    }

    /// The ceiling for retry `retry` (from 0): `min(max, base × multiplierʳᵉᵗʳʸ)`,
    /// saturating at `max` for any `retry`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::ExponentialBackoff;
    /// # use std::time::Duration;
    /// let b = ExponentialBackoff::default();
    /// assert_eq!(b.ceiling(0), Duration::from_millis(100));
    /// assert_eq!(b.ceiling(u32::MAX), b.max());
    /// ```
    pub fn ceiling(&self, retry: u32) -> Duration {
        secs_to_duration(self.ceiling_secs(retry), self.max)
    }

    fn ceiling_secs(&self, retry: u32) -> f64 {
        let exp = i32::try_from(retry).unwrap_or(i32::MAX);
        // multiplier >= 1 and finite, so this is >= base or +inf, never NaN.
        let grown = self.base.as_secs_f64() * self.multiplier.powi(exp);
        grown.min(self.max.as_secs_f64())
    }

    /// The jittered delay before retry `retry` (from 0). `previous` is the
    /// delay returned for the retry before (ignored except by
    /// [`Jitter::Decorrelated`]; pass `Duration::ZERO` for the first).
    /// Never exceeds [`max`](Self::max) and never panics.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::{ExponentialBackoff, Jitter};
    /// # use failsoft::rng::Rng;
    /// # use std::time::Duration;
    /// let b = ExponentialBackoff::builder().jitter(Jitter::Equal).build()?;
    /// let d = b.delay(1_000_000, Duration::ZERO, &mut Rng::from_seed(5));
    /// assert!(d >= b.max() / 2 && d <= b.max());
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn delay(&self, retry: u32, previous: Duration, rng: &mut Rng) -> Duration {
        let base = self.base.as_secs_f64();
        let previous = if previous.is_zero() {
            base
        } else {
            previous.as_secs_f64()
        };
        let secs = self.jitter.apply(
            self.ceiling_secs(retry),
            previous,
            base,
            self.max.as_secs_f64(),
            rng,
        );
        secs_to_duration(secs, self.max)
    }

    /// A schedule drawing its jitter from `rng`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::ExponentialBackoff;
    /// # use failsoft::rng::Rng;
    /// let mut s = ExponentialBackoff::default().schedule(Rng::from_seed(2));
    /// assert!(s.next().is_some());
    /// ```
    pub fn schedule(&self, rng: Rng) -> Schedule {
        Schedule::new(*self, rng)
    }

    /// A schedule whose jitter is fully determined by `seed`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::ExponentialBackoff;
    /// let b = ExponentialBackoff::default();
    /// let a: Vec<_> = b.schedule_seeded(3).take(5).collect();
    /// let c: Vec<_> = b.schedule_seeded(3).take(5).collect();
    /// assert_eq!(a, c);
    /// ```
    pub fn schedule_seeded(&self, seed: u64) -> Schedule {
        Schedule::new(*self, Rng::from_seed(seed))
    }
}

impl Default for ExponentialBackoff {
    fn default() -> Self {
        DEFAULT
    }
}

// === impl ExponentialBackoffBuilder ===

impl ExponentialBackoffBuilder {
    /// The delay ceiling of the first retry. Default 100 ms.
    pub const fn base(mut self, base: Duration) -> Self {
        self.inner.base = base;
        self
    }

    /// The growth factor per retry. Default 2.
    pub const fn multiplier(mut self, multiplier: f64) -> Self {
        self.inner.multiplier = multiplier;
        self
    }

    /// The cap on every delay, jitter included. Default 20 s.
    pub const fn max(mut self, max: Duration) -> Self {
        self.inner.max = max;
        self
    }

    /// The jitter mode. Default [`Jitter::Full`].
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.inner.jitter = jitter;
        self
    }

    /// Ends a [`Schedule`] after `max_attempts - 1` delays. Default none.
    pub const fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.inner.max_attempts = Some(max_attempts);
        self
    }

    /// Ends a [`Schedule`] before its delays add up to more than
    /// `max_elapsed`. Default none.
    pub const fn max_elapsed(mut self, max_elapsed: Duration) -> Self {
        self.inner.max_elapsed = Some(max_elapsed);
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field when:
    /// - `backoff.base` is zero;
    /// - `backoff.max` is smaller than `base`;
    /// - `backoff.multiplier` is NaN, infinite or below 1;
    /// - `backoff.max_attempts` is 0;
    /// - `backoff.max_elapsed` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::ExponentialBackoff;
    /// let err = ExponentialBackoff::builder().multiplier(f64::NAN).build().unwrap_err();
    /// assert_eq!(err.field(), "backoff.multiplier");
    /// ```
    pub fn build(self) -> Result<ExponentialBackoff, ConfigError> {
        let b = self.inner;
        if b.base.is_zero() {
            return Err(ConfigError::new(
                "backoff.base",
                "must be greater than zero",
            ));
        }
        if b.max < b.base {
            return Err(ConfigError::new(
                "backoff.max",
                "must be at least backoff.base",
            ));
        }
        if !(b.multiplier.is_finite() && b.multiplier >= 1.0) {
            return Err(ConfigError::new(
                "backoff.multiplier",
                "must be finite and at least 1.0",
            ));
        }
        if b.max_attempts == Some(0) {
            return Err(ConfigError::new(
                "backoff.max_attempts",
                "must be at least 1",
            ));
        }
        if b.max_elapsed.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::new(
                "backoff.max_elapsed",
                "must be greater than zero",
            ));
        }
        Ok(b)
    }
}

impl Default for ExponentialBackoffBuilder {
    fn default() -> Self {
        ExponentialBackoff::builder()
    }
}

#[cfg(test)]
mod tests;
