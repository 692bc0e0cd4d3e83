//! Errors: [`ConfigError`] for every builder, and the typed local rejections.
//!
//! A *local rejection* is an error that a failsoft layer produces itself,
//! at once, without touching the network: [`CircuitOpen`] from the breaker,
//! and [`Throttled`] (shed by its probability) or [`Paced`] (turned away
//! while the server paces the client) from the adaptive throttle. The
//! retry layer never
//! retries a local rejection (see [`is_local_rejection`]), and the fallback
//! layer can match them by type.
//!
//! [`TimedOut`] is returned when the retry layer cuts an attempt short,
//! either at the per-attempt timeout or at the overall deadline.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

mod throttled;

pub use throttled::{Paced, Throttled};

/// A builder was given a value it cannot work with.
///
/// Every `build()` in the crate returns `Result<_, ConfigError>`; nothing in
/// the crate panics on configuration. The error names the offending field
/// (for example `backoff.multiplier`) so it can be asserted on in tests.
///
/// # Examples
///
/// ```
/// use failsoft::backoff::ExponentialBackoff;
/// use std::time::Duration;
///
/// let err = ExponentialBackoff::builder()
///     .base(Duration::ZERO)
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "backoff.base");
/// assert_eq!(err.to_string(), "invalid config: backoff.base must be greater than zero");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    reason: &'static str,
}

/// The attempt was cut short by the retry layer.
///
/// Either the per-attempt timeout elapsed, or the logical request's overall
/// deadline arrived while the attempt was still running. A timeout is
/// classified as a retryable failure of kind
/// [`FailureKind::Timeout`](crate::classify::FailureKind::Timeout) by the
/// default classifier; one caused by the deadline ends retrying.
///
/// # Examples
///
/// ```
/// use failsoft::error::TimedOut;
/// use std::time::Duration;
///
/// let err: failsoft::BoxError = Box::new(TimedOut::new(Duration::from_secs(2), true));
/// let t = err.downcast_ref::<TimedOut>().expect("a TimedOut");
/// assert_eq!(t.after(), Duration::from_secs(2));
/// assert!(t.by_deadline());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedOut {
    after: Duration,
    by_deadline: bool,
}

/// The circuit breaker is open (rejecting): the call was not sent.
///
/// Returned at once by the breaker layer; never retried by the retry layer.
/// It carries no data, so boxing it as a [`BoxError`](crate::BoxError)
/// allocates nothing: a fast fail costs no allocation. When the next probe
/// is due, and whether the ramp-up after closing (rather than an open
/// circuit) turned the call away, are on the breaker's
/// [`snapshot`](crate::breaker::Breaker::snapshot_at)
/// (`next_probe`, `ramping_up`).
///
/// # Examples
///
/// ```
/// use failsoft::error::{is_local_rejection, CircuitOpen};
///
/// let err: failsoft::BoxError = Box::new(CircuitOpen::new());
/// assert!(is_local_rejection(err.as_ref()));
/// assert!(err.downcast_ref::<CircuitOpen>().is_some());
/// assert_eq!(size_of::<CircuitOpen>(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CircuitOpen {
    _private: (),
}

// === impl ConfigError ===

impl ConfigError {
    /// Creates an error for `field` (dotted path, such as `retry.max_attempts`)
    /// with a reason phrased to follow the field name ("must be finite").
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::ConfigError;
    /// let err = ConfigError::new("budget.ratio", "must be within [0, 1]");
    /// assert_eq!(err.field(), "budget.ratio");
    /// ```
    pub const fn new(field: &'static str, reason: &'static str) -> Self {
        Self { field, reason }
    }

    /// The dotted name of the offending field.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::ConfigError;
    /// assert_eq!(ConfigError::new("a.b", "is wrong").field(), "a.b");
    /// ```
    pub const fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with the field.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::ConfigError;
    /// assert_eq!(ConfigError::new("a.b", "is wrong").reason(), "is wrong");
    /// ```
    pub const fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid config: {} {}", self.field, self.reason)
    }
}

impl Error for ConfigError {}

// === impl TimedOut ===

impl TimedOut {
    /// Creates the error for an attempt that ran for `after`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::error::TimedOut;
    /// # use std::time::Duration;
    /// let t = TimedOut::new(Duration::from_secs(2), true);
    /// assert!(t.by_deadline());
    /// ```
    pub const fn new(after: Duration, by_deadline: bool) -> Self {
        Self { after, by_deadline }
    }

    /// How long the attempt ran before it was cut short.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::error::TimedOut;
    /// # use std::time::Duration;
    /// assert_eq!(TimedOut::new(Duration::from_secs(1), false).after(), Duration::from_secs(1));
    /// ```
    pub const fn after(&self) -> Duration {
        self.after
    }

    /// `true` when the overall deadline, not the per-attempt timeout, ended it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::error::TimedOut;
    /// # use std::time::Duration;
    /// assert!(!TimedOut::new(Duration::from_secs(1), false).by_deadline());
    /// ```
    pub const fn by_deadline(&self) -> bool {
        self.by_deadline
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.by_deadline {
            "deadline"
        } else {
            "attempt timeout"
        };
        write!(f, "{what} elapsed after {:?}", self.after)
    }
}

impl Error for TimedOut {}

// === impl CircuitOpen ===

impl CircuitOpen {
    /// Creates the rejection.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::error::CircuitOpen;
    /// assert_eq!(CircuitOpen::new(), CircuitOpen::default());
    /// ```
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("circuit open (or ramping up after closing): call rejected locally")
    }
}

impl Error for CircuitOpen {}

/// The most buckets a sliding window may have (breaker, budget, throttle):
/// each is a slot allocated up front, and a thousand already resolve a
/// window finer than anyone reads it.
pub(crate) const MOST_BUCKETS: u32 = 1_000;

/// Checks a sliding window cut into buckets, as the budgets and the
/// throttle use: the window is not zero, there are 1 to [`MOST_BUCKETS`]
/// buckets, and each bucket is at least 1 ms long.
pub(crate) fn check_bucketed_window(
    window_field: &'static str,
    buckets_field: &'static str,
    window: Duration,
    buckets: u32,
) -> Result<(), ConfigError> {
    if window.is_zero() {
        return Err(ConfigError::new(window_field, "must be greater than zero"));
    }
    if buckets == 0 || buckets > MOST_BUCKETS {
        return Err(ConfigError::new(buckets_field, "must be within [1, 1000]"));
    }
    if window < Duration::from_millis(1).saturating_mul(buckets) {
        return Err(ConfigError::new(
            window_field,
            "must be at least 1 ms per bucket",
        ));
    }
    Ok(())
}

/// When the server's pacing ends, if `err` (or an error in its source
/// chain) is a [`Paced`] that [holds](Paced::holds) the call.
pub(crate) fn held_until(err: &(dyn Error + Send + Sync + 'static)) -> Option<Instant> {
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(paced) = e.downcast_ref::<Paced>() {
            return paced.holds().then_some(paced.until());
        }
        cur = e.source();
    }
    None
}

/// `true` when `err` (or an error in its `source()` chain) is a failsoft
/// local rejection: [`CircuitOpen`], [`Throttled`] or [`Paced`].
///
/// The retry layer uses this to guarantee that a local rejection is never
/// retried as a failure, whatever the classifier says (a call held for the
/// server's pacing is sent again when the pace ends; see
/// [`Paced::holds`]).
///
/// # Examples
///
/// ```
/// use failsoft::error::{is_local_rejection, CircuitOpen};
/// use failsoft::BoxError;
///
/// let err: BoxError = Box::new(CircuitOpen::new());
/// assert!(is_local_rejection(err.as_ref()));
/// let other: BoxError = "connection reset".into();
/// assert!(!is_local_rejection(other.as_ref()));
/// ```
pub fn is_local_rejection(err: &(dyn Error + Send + Sync + 'static)) -> bool {
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<CircuitOpen>() || e.is::<Throttled>() || e.is::<Paced>() {
            return true;
        }
        cur = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(CircuitOpen);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapped")
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn local_rejection_is_found_through_sources() {
        let err: crate::BoxError = Box::new(Wrapper(CircuitOpen::new()));
        assert!(is_local_rejection(err.as_ref()));
        let err: crate::BoxError = Box::new(Throttled::new());
        assert!(is_local_rejection(err.as_ref()));
        let err: crate::BoxError = Box::new(TimedOut::new(Duration::from_secs(1), false));
        assert!(!is_local_rejection(err.as_ref()));
    }

    #[test]
    fn config_error_names_field_in_message() {
        let e = ConfigError::new("retry.max_attempts", "must be at least 1");
        assert_eq!(
            e.to_string(),
            "invalid config: retry.max_attempts must be at least 1"
        );
    }
}
