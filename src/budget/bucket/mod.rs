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
/// Each preset follows a published behaviour; where it deviates, it says so.
///
/// - [`TokenBucket::aws_standard`]: the AWS SDKs' standard retry mode
///   ("Retry Behavior 2.0", the SDKs' pre-2026 standard mode): capacity
///   500, a retry costs 5, a retry after a timeout 10, a success without
///   retries adds 1 (`NO_RETRY_INCREMENT`), a success after retries returns
///   its last retry's cost. Sources: the AWS SDKs and Tools Reference Guide,
///   "Retry behavior"; the SDKs' published standard-mode test cases, which
///   `tests/aws_standard.rs` replays through the retry layer.
/// - [`TokenBucket::aws_standard_2026`]: the revised standard mode the AWS
///   SDKs ship behind `AWS_NEW_RETRIES_2026` (default from November 2026):
///   a retry costs 14, a retry after a throttling error 5, timeouts no
///   longer cost extra; refunds as above. Sources: the AWS Developer Tools
///   Blog, "Announcing updated retry behavior for AWS SDKs and Tools", and
///   the published "new retries" test cases (smithy-kotlin's copy). The
///   no-retry increment of 1 is assumed unchanged: the cases do not test it.
/// - [`TokenBucket::fixed_refund`]: AWS's capacity and costs with a refund
///   of 1 for every success, retried or not: failsoft's earlier
///   `aws_standard`, more conservative than AWS (a budget that drains by 4
///   tokens each time a retry works).
/// - [`TokenBucket::grpc`]: gRPC retry throttling (gRFC A6 "gRPC Retry
///   Design"): `maxTokens` 10, `tokenRatio` 0.1; every failed attempt
///   with a retryable status takes 1 token (the last attempt's failure
///   too, through [`RetryBudget::on_final_failure`], and failures whose
///   retry is refused), every success adds 0.1, and a retry is allowed only
///   while the count stays above half of `maxTokens`.
///
/// The bucket is only the quota. The retry layer supplies the rest of each
/// mode: AWS standard mode is 3 attempts with a backoff of base 1 s
/// (2026: 50 ms), multiplier 2, cap 20 s, full jitter. AWS's pre-2026
/// formula draws the jitter *before* the cap (`min(b × 2ⁱ, 20 s)`),
/// failsoft's [`Jitter::Full`](crate::backoff::Jitter::Full) draws it below
/// the cap, as the 2026 revision does; without jitter the two agree.
///
/// # Amplification bound
///
/// Over any period, granted retries ≤ `(capacity + refund × successes) /
/// cheapest cost` (for `keep_above(k)`: `capacity − k` instead of
/// `capacity`). With `n` attempts per request, attempts ≤ `requests +` that,
/// and ≤ `n × requests`. With
/// [`return_retry_cost`](TokenBucketBuilder::return_retry_cost) (the AWS
/// presets) a request that succeeds on a retry gets that retry back, so add
/// at most one retry per *successful* request: a retry that works is free,
/// a retry that fails is not. Either way, with the AWS preset a storm where
/// nothing succeeds costs the backend at most 100 extra attempts per
/// client, then none.
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
/// A bucket that returns a retry's cost on success
/// ([`return_retry_cost`](TokenBucketBuilder::return_retry_cost)) returns it
/// only for the request's last granted retry, as the retry layer reports it.
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
    return_retry_cost: bool,
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

    /// The AWS SDKs' standard-mode retry quota, exactly: 500 tokens, a
    /// retry costs 5 (10 after a timeout), a success after retries returns
    /// its last retry's cost, a success without retries adds 1. Source and
    /// the one deviation (in the backoff, not here): see the type docs.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::budget::{RetryBudget, TokenBucket};
    /// use failsoft::classify::FailureKind;
    /// let bucket = TokenBucket::aws_standard();
    /// bucket.try_retry(FailureKind::Timeout)?;
    /// assert_eq!(bucket.snapshot().tokens, 490.0);
    /// bucket.on_success_after(Some(FailureKind::Timeout)); // the retry worked
    /// assert_eq!(bucket.snapshot().tokens, 500.0);
    /// # Ok::<(), failsoft::budget::BudgetRefused>(())
    /// ```
    pub fn aws_standard() -> Self {
        Self::from_config(TokenBucketBuilder::AWS_STANDARD)
    }

    /// The AWS SDKs' revised (2026) standard-mode retry quota: 500 tokens, a
    /// retry costs 14, 5 after a throttling error (timeouts cost as other
    /// errors); refunds as [`aws_standard`](Self::aws_standard). Pair it
    /// with a 50 ms backoff base (see the type docs for the sources), and
    /// for `x-amz-retry-after` a 5 s
    /// [`max_hint`](crate::retry::RetryLayerBuilder::max_hint) with
    /// [`hint_over_backoff`](crate::retry::RetryLayerBuilder::hint_over_backoff).
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::budget::{RetryBudget, TokenBucket};
    /// use failsoft::classify::FailureKind;
    /// let bucket = TokenBucket::aws_standard_2026();
    /// bucket.try_retry(FailureKind::Error)?;
    /// bucket.try_retry(FailureKind::Throttled)?;
    /// assert_eq!(bucket.snapshot().tokens, 481.0);
    /// # Ok::<(), failsoft::budget::BudgetRefused>(())
    /// ```
    pub fn aws_standard_2026() -> Self {
        Self::from_config(TokenBucketBuilder::AWS_STANDARD_2026)
    }

    /// AWS's standard costs with a fixed refund: 500 tokens, retry 5,
    /// timeout retry 10, and every success gives back 1, retried or not.
    /// More conservative than AWS: a request that needs one retry and
    /// succeeds leaves the bucket 4 tokens lower, so a steady 25 % of
    /// requests needing one retry drains it (AWS's stays full).
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::budget::{RetryBudget, TokenBucket};
    /// use failsoft::classify::FailureKind;
    /// let bucket = TokenBucket::fixed_refund();
    /// bucket.try_retry(FailureKind::Error)?;
    /// bucket.on_success_after(Some(FailureKind::Error));
    /// assert_eq!(bucket.snapshot().tokens, 496.0);
    /// # Ok::<(), failsoft::budget::BudgetRefused>(())
    /// ```
    pub fn fixed_refund() -> Self {
        Self::from_config(TokenBucketBuilder::FIXED_REFUND)
    }

    /// gRPC retry throttling (gRFC A6): 10 tokens, each failed attempt
    /// costs 1 (the last one too), each success adds 0.1, retries only
    /// while more than 5 tokens remain after paying. The gRFC throttles per
    /// server name: share one bucket per server.
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
                return_retry_cost: c.return_retry_cost,
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

    /// Without the kind of the last retry, a retried success is taken to
    /// have paid for an error ([`FailureKind::Error`]).
    #[inline]
    fn on_success(&self, retried: bool) {
        self.on_success_after(retried.then_some(FailureKind::Error));
    }

    #[inline]
    fn on_success_after(&self, last_retry: Option<FailureKind>) {
        let s = &*self.shared;
        let units = match last_retry {
            Some(kind) if s.return_retry_cost => s.cost(kind),
            _ => s.refund,
        };
        // Healthy path: a full bucket is only read, never written.
        if units == 0 || s.tokens.load(Ordering::Relaxed) >= s.capacity {
            return;
        }
        s.add(units);
    }

    fn on_final_failure(&self, kind: FailureKind) {
        let s = &*self.shared;
        if !s.charge_refused {
            return;
        }
        let cost = s.cost(kind);
        let _ = s
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t > 0).then(|| t.saturating_sub(cost))
            });
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
