//! [`TokenBucketBuilder`]: validated configuration of a [`TokenBucket`].

use super::TokenBucket;
use crate::error::ConfigError;

/// The largest token amount accepted, so every amount fits the fixed-point
/// counter with room to spare.
const MAX_TOKENS: f64 = 1e12;

/// Builds a [`TokenBucket`]; setters are `const` and cannot fail,
/// [`build`](TokenBucketBuilder::build) checks everything.
///
/// Defaults are the AWS SDK standard retry quota
/// ([`TokenBucket::aws_standard`]): capacity 500, a retry after an error or a
/// throttle costs 5, after a timeout 10, a success without retries adds 1,
/// a success after retries returns its last retry's cost.
///
/// # Examples
///
/// ```
/// use failsoft::budget::{TokenBucket, TokenBucketBuilder};
///
/// const CFG: TokenBucketBuilder = TokenBucket::builder()
///     .capacity(100.0)
///     .error_cost(5.0)
///     .timeout_cost(10.0)
///     .throttle_cost(2.0)
///     .refund(1.0);
/// let bucket = CFG.build()?;
/// assert_eq!(bucket.snapshot().tokens, 100.0);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucketBuilder {
    pub(super) capacity: f64,
    pub(super) error_cost: f64,
    pub(super) timeout_cost: f64,
    pub(super) throttle_cost: f64,
    pub(super) refund: f64,
    pub(super) keep_above: Option<f64>,
    pub(super) charge_refused: bool,
    pub(super) return_retry_cost: bool,
}

// === impl TokenBucketBuilder ===

impl TokenBucketBuilder {
    /// The AWS SDKs' standard mode ([`TokenBucket::aws_standard`]), as a
    /// starting point: `TokenBucketBuilder::AWS_STANDARD.capacity(5.0)`.
    pub const AWS_STANDARD: Self = Self {
        capacity: 500.0,
        error_cost: 5.0,
        timeout_cost: 10.0,
        throttle_cost: 5.0,
        refund: 1.0,
        keep_above: None,
        charge_refused: false,
        return_retry_cost: true,
    };

    /// The AWS SDKs' 2026 standard mode ([`TokenBucket::aws_standard_2026`]).
    pub const AWS_STANDARD_2026: Self = Self {
        error_cost: 14.0,
        timeout_cost: 14.0,
        throttle_cost: 5.0,
        ..Self::AWS_STANDARD
    };

    /// AWS's costs with a fixed refund ([`TokenBucket::fixed_refund`]).
    pub const FIXED_REFUND: Self = Self {
        return_retry_cost: false,
        ..Self::AWS_STANDARD
    };

    /// gRPC retry throttling ([`TokenBucket::grpc`]).
    pub const GRPC: Self = Self {
        capacity: 10.0,
        error_cost: 1.0,
        timeout_cost: 1.0,
        throttle_cost: 1.0,
        refund: 0.1,
        keep_above: Some(5.0),
        charge_refused: true,
        return_retry_cost: false,
    };

    /// Tokens when full (the bucket starts full).
    pub const fn capacity(mut self, tokens: f64) -> Self {
        self.capacity = tokens;
        self
    }

    /// Cost of a retry after [`FailureKind::Error`](crate::classify::FailureKind::Error).
    pub const fn error_cost(mut self, tokens: f64) -> Self {
        self.error_cost = tokens;
        self
    }

    /// Cost of a retry after [`FailureKind::Timeout`](crate::classify::FailureKind::Timeout).
    pub const fn timeout_cost(mut self, tokens: f64) -> Self {
        self.timeout_cost = tokens;
        self
    }

    /// Cost of a retry after [`FailureKind::Throttled`](crate::classify::FailureKind::Throttled).
    pub const fn throttle_cost(mut self, tokens: f64) -> Self {
        self.throttle_cost = tokens;
        self
    }

    /// Tokens given back (up to capacity) by each successful request; with
    /// [`return_retry_cost`](Self::return_retry_cost), only by those that
    /// needed no retry (AWS's `NO_RETRY_INCREMENT`).
    pub const fn refund(mut self, tokens: f64) -> Self {
        self.refund = tokens;
        self
    }

    /// When `true` (the AWS presets), a request that succeeds after retries
    /// gives back what its last retry cost, instead of
    /// [`refund`](Self::refund); the earlier retries of that request stay
    /// spent. When `false`, every success gives back `refund`, retried or
    /// not ([`TokenBucket::fixed_refund`], [`TokenBucket::grpc`]).
    pub const fn return_retry_cost(mut self, on: bool) -> Self {
        self.return_retry_cost = on;
        self
    }

    /// Grants a retry only while the tokens left after paying for it stay
    /// strictly above `tokens` (gRPC: above half the capacity). Without it a
    /// retry is granted while the bucket holds its cost.
    pub const fn keep_above(mut self, tokens: f64) -> Self {
        self.keep_above = Some(tokens);
        self
    }

    /// When `true`, every failure the retry layer asks about pays its cost,
    /// even when the retry is refused (gRPC counts failures, not retries).
    /// Default `false`: only granted retries pay (AWS).
    pub const fn charge_refused(mut self, charge: bool) -> Self {
        self.charge_refused = charge;
        self
    }

    /// Checks the configuration and builds the bucket.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field when:
    /// - `budget.capacity`, `budget.error_cost`, `budget.timeout_cost`,
    ///   `budget.throttle_cost` or `budget.refund` is NaN, infinite,
    ///   negative or above 10¹²;
    /// - `budget.refund` is positive but below one millionth of a token (the
    ///   bucket counts in millionths, so it would never refill);
    /// - `budget.keep_above` is NaN, negative, or not below the capacity.
    ///
    /// A capacity of 0, or one smaller than a retry's cost, is accepted: the
    /// AWS SDKs' published cases use both ("No retries at all if retry
    /// quota is 0"). Such a bucket refuses those retries until successes
    /// fill it; with capacity 0 it never grants a retry that costs anything.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::budget::{RetryBudget, TokenBucket};
    /// use failsoft::classify::FailureKind;
    /// let err = TokenBucket::builder().capacity(-1.0).build().unwrap_err();
    /// assert_eq!(err.field(), "budget.capacity");
    /// let none = TokenBucket::builder().capacity(0.0).build()?;
    /// assert!(none.try_retry(FailureKind::Error).is_err());
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn build(self) -> Result<TokenBucket, ConfigError> {
        let amount = |v: f64| v.is_finite() && (0.0..=MAX_TOKENS).contains(&v);
        const RANGE: &str = "must be finite, >= 0 and at most 1e12";
        let fields = [
            ("budget.capacity", self.capacity),
            ("budget.error_cost", self.error_cost),
            ("budget.timeout_cost", self.timeout_cost),
            ("budget.throttle_cost", self.throttle_cost),
            ("budget.refund", self.refund),
        ];
        for (field, v) in fields {
            if !amount(v) {
                return Err(ConfigError::new(field, RANGE));
            }
        }
        if self.refund > 0.0 && self.refund < 1e-6 {
            return Err(ConfigError::new(
                "budget.refund",
                "must be 0 or at least 0.000001 (one millionth of a token)",
            ));
        }
        if let Some(k) = self.keep_above
            && !(k >= 0.0 && k < self.capacity)
        {
            return Err(ConfigError::new(
                "budget.keep_above",
                "must be >= 0 and below the capacity",
            ));
        }
        Ok(TokenBucket::from_config(self))
    }
}

impl Default for TokenBucketBuilder {
    fn default() -> Self {
        Self::AWS_STANDARD
    }
}
