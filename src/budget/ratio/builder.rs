//! [`RatioBudgetBuilder`]: validated configuration of a [`RatioBudget`].

use std::time::Duration;

use super::RatioBudget;
use crate::error::{ConfigError, check_bucketed_window};

/// Builds a [`RatioBudget`]; setters are `const` and cannot fail,
/// [`build`](RatioBudgetBuilder::build) checks everything.
///
/// Defaults: ratio 0.1, floor 0.1 retries per second, window 10 s cut into
/// 10 buckets. See [`RatioBudget`] for why.
///
/// # Examples
///
/// ```
/// use failsoft::budget::{RatioBudget, RatioBudgetBuilder};
/// use std::time::Duration;
///
/// const CFG: RatioBudgetBuilder = RatioBudget::builder()
///     .ratio(0.2)
///     .floor(1.0)
///     .window(Duration::from_secs(30))
///     .buckets(30);
/// let budget = CFG.build()?;
/// assert_eq!(budget.ratio(), 0.2);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioBudgetBuilder {
    pub(super) ratio: f64,
    pub(super) floor: f64,
    pub(super) window: Duration,
    pub(super) buckets: u32,
}

// === impl RatioBudgetBuilder ===

impl RatioBudgetBuilder {
    pub(super) const DEFAULT: Self = Self {
        ratio: 0.1,
        floor: 0.1,
        window: Duration::from_secs(10),
        buckets: 10,
    };

    /// Retries earned per request, in `[0, 1]` (0.1: one retry per ten
    /// requests). Counted exactly to six decimal places, rounded down beyond.
    pub const fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// Retries per second allowed however few requests there are (finite,
    /// `>= 0`); the window holds `floor × window` of them.
    pub const fn floor(mut self, per_second: f64) -> Self {
        self.floor = per_second;
        self
    }

    /// How long a request's credit (and a retry's withdrawal) counts.
    pub const fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// How many buckets the window slides by (its resolution).
    pub const fn buckets(mut self, buckets: u32) -> Self {
        self.buckets = buckets;
        self
    }

    /// Checks the configuration and builds the budget.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field when:
    /// - `budget.ratio` is NaN or outside `[0, 1]`;
    /// - `budget.floor` is NaN, infinite or negative;
    /// - `budget.window` is zero;
    /// - `budget.buckets` is zero or more than 1,000;
    /// - `budget.window` is shorter than its buckets: less than 1 ms per
    ///   bucket.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::budget::RatioBudget;
    /// let err = RatioBudget::builder().ratio(f64::NAN).build().unwrap_err();
    /// assert_eq!(err.field(), "budget.ratio");
    /// ```
    pub fn build(self) -> Result<RatioBudget, ConfigError> {
        if !(0.0..=1.0).contains(&self.ratio) {
            return Err(ConfigError::new("budget.ratio", "must be within [0, 1]"));
        }
        if !(self.floor.is_finite() && self.floor >= 0.0) {
            return Err(ConfigError::new("budget.floor", "must be finite and >= 0"));
        }
        check_bucketed_window("budget.window", "budget.buckets", self.window, self.buckets)?;
        Ok(RatioBudget::from_config(self))
    }
}

impl Default for RatioBudgetBuilder {
    fn default() -> Self {
        Self::DEFAULT
    }
}
