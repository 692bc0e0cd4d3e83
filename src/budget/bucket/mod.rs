//! [`TokenBucket`]: retries pay tokens by failure kind, successes refund.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::units::{to_f64, units_down, units_up};
use super::{BudgetRefused, RetryBudget, TokenReceipt};
use crate::classify::FailureKind;

mod builder;
#[cfg(test)]
mod tests;

pub use self::builder::TokenBucketBuilder;

/// A retry quota: each retry pays tokens according to what went wrong, each
/// successful request puts some back (the AWS SDK's retry quota and gRPC's
/// retry throttling).
///
/// The bucket starts full. A retry after an error costs more than nothing, a
/// retry after a timeout (which held a connection for the whole timeout)
/// costs more; when the tokens run out, retries stop until successes refill
/// the bucket. Nothing here depends on time: the bucket refills by successes
/// only, so it needs no `*_at(now)` variants; its methods are already pure.
///
/// # Presets
///
/// - [`TokenBucket::aws_standard`]: capacity 500, retry 5, timeout retry 10,
///   success refund 1. Source: the AWS SDKs and Tools Reference Guide,
///   "Retry behavior", standard mode (retry quota of 500, `RETRY_COST` 5,
///   `RETRY_TIMEOUT_COST` 10, `NO_RETRY_INCREMENT` 1). The AWS SDKs also
///   return a successful retry's full cost; this bucket refunds the fixed
///   amount either way, which is more conservative.
/// - [`TokenBucket::grpc`]: max 10 tokens, token ratio 0.1. Source: gRFC A6
///   "gRPC Retry Design", retry throttling: each failure takes 1 token, each
///   success adds `tokenRatio` (0.1), and retries are allowed only while
///   the token count is above half of `maxTokens`. Failures this budget
///   hears about are those the retry layer asks to retry; gRPC also counts
///   the final failure of a request, which is never asked about.
///
/// # Amplification bound
///
/// Over any period, granted retries ≤ `(capacity + refund × successes) /
/// cheapest cost` (for `keep_above(k)`: `capacity − k` instead of
/// `capacity`). With `n` attempts per request, attempts ≤ `requests +` that,
/// and ≤ `n × requests`. With the AWS preset, a storm where nothing succeeds
/// costs the backend at most 100 extra attempts per client, then none.
///
/// # Cost
///
/// The healthy path writes no shared state: a success on a full bucket only
/// reads one atomic. Withdrawals and refunds are single compare-and-swap
/// loops; the bucket never exceeds its capacity.
///
/// # Sharing
///
/// Clones share one bucket (an `Arc` inside).
///
/// # Cancel safety
///
/// [`cancel_retry`](RetryBudget::cancel_retry) returns the cost its
/// [`TokenReceipt`] records (up to capacity), once. A bucket that charges failures
/// ([`charge_refused`](TokenBucketBuilder::charge_refused), the gRPC preset)
/// has charged for the failure, which did happen, so it gives nothing back.
///
/// # Examples
///
/// ```
/// use failsoft::budget::{RetryBudget, TokenBucket};
/// use failsoft::classify::FailureKind;
///
/// let bucket = TokenBucket::builder().capacity(10.0).build()?;
/// assert!(bucket.try_retry(FailureKind::Timeout).is_ok()); // 10 → 0
/// let refused = bucket.try_retry(FailureKind::Error).unwrap_err();
/// assert_eq!(refused.reason(), "token bucket below retry cost");
/// bucket.on_success(false);
/// assert_eq!(bucket.snapshot().tokens, 1.0);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct TokenBucket {
    shared: Arc<Shared>,
}

/// Counters of a [`TokenBucket`], read with [`TokenBucket::snapshot`].
///
/// # Examples
///
/// ```
/// use failsoft::budget::TokenBucket;
/// let s = TokenBucket::grpc().snapshot();
/// assert_eq!((s.tokens, s.capacity), (10.0, 10.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct TokenBucketSnapshot {
    /// Tokens in the bucket now.
    pub tokens: f64,
    /// Tokens when full.
    pub capacity: f64,
    /// Retries granted (less those given back).
    pub granted: u64,
    /// Retries refused.
    pub refused: u64,
    /// Withdrawals given back by [`cancel_retry`](RetryBudget::cancel_retry).
    pub cancelled: u64,
}

struct Shared {
    tokens: AtomicU64,
    capacity: u64,
    costs: [u64; 3],
    refund: u64,
    /// Tokens that must be left after paying for a retry.
    min_after: u64,
    charge_refused: bool,
    granted: AtomicU64,
    refused: AtomicU64,
    cancelled: AtomicU64,
}

// === impl TokenBucket ===

impl TokenBucket {
    /// A builder starting from the AWS standard preset.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::budget::TokenBucket;
    /// let bucket = TokenBucket::builder().capacity(50.0).build()?;
    /// assert_eq!(bucket.snapshot().capacity, 50.0);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn builder() -> TokenBucketBuilder {
        TokenBucketBuilder::AWS_STANDARD
    }

    /// The AWS SDK standard retry quota: 500 tokens, retry 5, timeout retry
    /// 10, success refund 1 (see the type docs for the source).
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::budget::{RetryBudget, TokenBucket};
    /// use failsoft::classify::FailureKind;
    /// let bucket = TokenBucket::aws_standard();
    /// bucket.try_retry(FailureKind::Timeout)?;
    /// assert_eq!(bucket.snapshot().tokens, 490.0);
    /// # Ok::<(), failsoft::budget::BudgetRefused>(())
    /// ```
    pub fn aws_standard() -> Self {
        Self::from_config(TokenBucketBuilder::AWS_STANDARD)
    }

    /// gRPC retry throttling (gRFC A6): 10 tokens, each failure costs 1,
    /// each success adds 0.1, retries only while more than 5 tokens remain.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::budget::{RetryBudget, TokenBucket};
    /// use failsoft::classify::FailureKind;
    /// let bucket = TokenBucket::grpc();
    /// let granted = (0..10).filter(|_| bucket.try_retry(FailureKind::Error).is_ok()).count();
    /// assert_eq!(granted, 4); // 9, 8, 7, 6 are above half; 5 is not
    /// ```
    pub fn grpc() -> Self {
        Self::from_config(TokenBucketBuilder::GRPC)
    }

    fn from_config(c: TokenBucketBuilder) -> Self {
        let capacity = units_down(c.capacity);
        let min_after = c.keep_above.map_or(0, |k| units_down(k).saturating_add(1));
        Self {
            shared: Arc::new(Shared {
                tokens: AtomicU64::new(capacity),
                capacity,
                costs: [
                    units_up(c.error_cost),
                    units_up(c.timeout_cost),
                    units_up(c.throttle_cost),
                ],
                refund: units_down(c.refund),
                min_after,
                charge_refused: c.charge_refused,
                granted: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                cancelled: AtomicU64::new(0),
            }),
        }
    }

    /// The bucket's tokens and counters.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::budget::TokenBucket;
    /// assert_eq!(TokenBucket::aws_standard().snapshot().tokens, 500.0);
    /// ```
    pub fn snapshot(&self) -> TokenBucketSnapshot {
        let s = &*self.shared;
        TokenBucketSnapshot {
            tokens: to_f64(s.tokens.load(Ordering::Acquire)),
            capacity: to_f64(s.capacity),
            granted: s.granted.load(Ordering::Relaxed),
            refused: s.refused.load(Ordering::Relaxed),
            cancelled: s.cancelled.load(Ordering::Relaxed),
        }
    }
}

impl RetryBudget for TokenBucket {
    type Receipt = TokenReceipt;

    #[inline]
    fn on_request(&self) {}

    fn try_retry(&self, kind: FailureKind) -> Result<TokenReceipt, BudgetRefused> {
        let s = &*self.shared;
        let cost = s.cost(kind);
        let mut granted = false;
        let update = s
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                granted = t
                    .checked_sub(cost)
                    .is_some_and(|after| after >= s.min_after);
                if granted {
                    Some(t - cost)
                } else if s.charge_refused && t > 0 {
                    Some(t.saturating_sub(cost))
                } else {
                    None
                }
            });
        if granted {
            s.granted.fetch_add(1, Ordering::Relaxed);
            return Ok(TokenReceipt { cost });
        }
        let tokens = update.unwrap_or_else(|t| t);
        s.refused.fetch_add(1, Ordering::Relaxed);
        let reason = if s.min_after > 0 {
            "token bucket at or below its threshold"
        } else {
            "token bucket below retry cost"
        };
        tracing::debug!(
            kind = kind.as_str(),
            tokens = to_f64(tokens),
            reason,
            "token bucket refused a retry"
        );
        Err(BudgetRefused::new(reason))
    }

    fn cancel_retry(&self, receipt: TokenReceipt) {
        let s = &*self.shared;
        if s.charge_refused {
            return;
        }
        let had_grant = s
            .granted
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |g| g.checked_sub(1))
            .is_ok();
        if had_grant {
            s.add(receipt.cost);
            s.cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[inline]
    fn on_success(&self, _retried: bool) {
        let s = &*self.shared;
        // Healthy path: a full bucket is only read, never written.
        if s.refund == 0 || s.tokens.load(Ordering::Relaxed) >= s.capacity {
            return;
        }
        s.add(s.refund);
    }
}

impl fmt::Debug for TokenBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snap = self.snapshot();
        f.debug_struct("TokenBucket")
            .field("tokens", &snap.tokens)
            .field("capacity", &snap.capacity)
            .finish()
    }
}

// === impl Shared ===

impl Shared {
    fn cost(&self, kind: FailureKind) -> u64 {
        match kind {
            FailureKind::Error => self.costs[0],
            FailureKind::Timeout => self.costs[1],
            FailureKind::Throttled => self.costs[2],
        }
    }

    /// Adds `units`, never above capacity.
    fn add(&self, units: u64) {
        let cap = self.capacity;
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t < cap).then(|| t.saturating_add(units).min(cap))
            });
    }
}
