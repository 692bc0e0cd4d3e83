//! Receipts: what a budget hands back for a granted retry, so that a
//! cancelled request gives back its own withdrawal and no other.

/// The receipt of one retry granted by a [`RatioBudget`](super::RatioBudget):
/// the window bucket its withdrawal was recorded in.
///
/// Give it back with [`cancel_retry`](super::RetryBudget::cancel_retry) (or
/// [`RatioBudget::cancel_retry_at`](super::RatioBudget::cancel_retry_at)) if
/// the retry is never sent; drop it once the retry is sent. It cannot be
/// cloned, so a withdrawal is given back at most once. Give it only to the
/// budget (or a clone of the budget) that issued it.
///
/// # Examples
///
/// ```
/// use failsoft::budget::{RatioBudget, RetryBudget};
/// use failsoft::classify::FailureKind;
///
/// let budget = RatioBudget::builder().floor(0.1).build()?; // one per window
/// let receipt = budget.try_retry(FailureKind::Error)?;
/// assert!(budget.try_retry(FailureKind::Error).is_err());
/// budget.cancel_retry(receipt); // the retry was never sent
/// assert!(budget.try_retry(FailureKind::Error).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct RatioReceipt {
    pub(super) bucket: u64,
}

/// The receipt of one retry granted by a [`TokenBucket`](super::TokenBucket):
/// the tokens it cost.
///
/// Give it back with [`cancel_retry`](super::RetryBudget::cancel_retry) if
/// the retry is never sent; drop it once the retry is sent. It cannot be
/// cloned, so a cost is refunded at most once.
///
/// # Examples
///
/// ```
/// use failsoft::budget::{RetryBudget, TokenBucket};
/// use failsoft::classify::FailureKind;
///
/// let bucket = TokenBucket::aws_standard();
/// let receipt = bucket.try_retry(FailureKind::Timeout)?; // 500 → 490
/// bucket.cancel_retry(receipt);
/// assert_eq!(bucket.snapshot().tokens, 500.0);
/// # Ok::<(), failsoft::budget::BudgetRefused>(())
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct TokenReceipt {
    pub(super) cost: u64,
}
