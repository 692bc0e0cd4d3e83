//! Retry budgets: a bound on how much extra load retries may add.
//!
//! The retry layer asks its budget before every retry. [`RetryBudget`] is the
//! hook; [`NoBudget`] (the default) allows every retry, so only the attempt
//! limit bounds them. [`RatioBudget`] and [`TokenBucket`] are the two real
//! budgets.
//!
//! # Why budgets and not just an attempt limit
//!
//! An attempt limit bounds each request, not the client. When a backend
//! fails every request, a client allowed `n` attempts sends `n` times its
//! normal load, exactly when the backend can least take it, and a backend
//! pushed over its capacity by retries keeps failing because of them: the
//! outage sustains itself (a *metastable* failure, as on 7 December 2021).
//! Backoff and jitter only spread that load over time; they do not remove
//! it. A budget does: it counts retries across *all* requests of a client and
//! refuses them once they exceed a small share of the requests (10 % in the
//! Google SRE book), so an outage costs the backend at most about 1.1× its
//! normal load instead of `n`×. When a request is refused a retry, the caller
//! gets the backend's own last result, and the retry layer's give-up reason
//! says "budget".
//!
//! An isolated failure still gets retried: the budget is shared, and the
//! healthy requests around it have paid for the retry.
//!
//! # The amplification bound
//!
//! With at most `n` attempts per request, a [`RatioBudget`] of ratio `r` and
//! floor `f` (retries per second) over window `w` guarantees, whatever the
//! failure pattern:
//!
//! ```text
//! attempts ≤ requests × (1 + r) + f × w      in any window w
//! attempts ≤ requests × n                    always
//! ```
//!
//! and over a longer period `T`, retries ≤ `r ×` (requests in the period and
//! the window before it) `+ f × (T + w + w / buckets)`. In a steady storm at
//! `R` requests per second this is an amplification of at most
//! `1 + r + f / R` (plus edge terms that vanish as `T` grows). The floor's
//! share, `f / R`, is why the default floor is small.
//!
//! A [`TokenBucket`] of capacity `C`, cheapest retry cost `c` and success
//! refund `s` grants at most `(C + s × successes) / c` retries over any
//! period, plus (for the AWS presets, which give a successful retry its
//! cost back) one per request that succeeded on a retry. Once `C` is spent
//! in a storm where nothing succeeds, it grants no retry at all (100 retries
//! per client for the AWS preset).
//!
//! Both budgets are withdrawn from *before* the backoff sleep, so retries
//! still sleeping count; a request dropped during its sleep gives its
//! withdrawal back through [`RetryBudget::cancel_retry`], with the receipt
//! [`try_retry`](RetryBudget::try_retry) gave it. A receipt gives back only
//! its own withdrawal, once, and (for the ratio budget) nothing once that
//! withdrawal has left the window, so the bounds above hold under any
//! pattern of cancellations, even when a retry waits longer than the
//! window (a `Retry-After` of 30 s against a 10 s window).

use std::fmt;

use crate::classify::FailureKind;

mod bucket;
mod ledger;
mod ratio;
mod receipt;
mod units;

pub use self::bucket::{TokenBucket, TokenBucketBuilder, TokenBucketSnapshot};
pub use self::ratio::{RatioBudget, RatioBudgetBuilder, RatioSnapshot};
pub use self::receipt::{RatioReceipt, TokenReceipt};

/// The retry layer's budget hook.
///
/// The retry layer calls, for each logical request:
/// 1. [`on_request`](RetryBudget::on_request) once, before the first attempt;
/// 2. [`try_retry`](RetryBudget::try_retry) before each retry, *before*
///    sleeping in backoff, so retries still waiting are accounted for; a
///    granted retry comes with a [`Receipt`](RetryBudget::Receipt);
/// 3. [`cancel_retry`](RetryBudget::cancel_retry) with that receipt if the
///    request is dropped (or its deadline passes) after the withdrawal but
///    before that retry was sent; the receipt is dropped once the retry is
///    sent;
/// 4. [`on_success_after`](RetryBudget::on_success_after) once, if the
///    request ends in success (by default it calls
///    [`on_success`](RetryBudget::on_success));
/// 5. [`on_final_failure`](RetryBudget::on_final_failure) once, if the
///    request ends on a retryable failure that is not retried for a reason
///    other than the budget (attempts used up, server said no, deadline).
///
/// Implementations take `&self` and are shared (behind an `Arc` inside a
/// cheap handle).
///
/// # Examples
///
/// ```
/// use failsoft::budget::{BudgetRefused, RetryBudget};
/// use failsoft::classify::FailureKind;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// /// Allows a fixed number of retries in total.
/// #[derive(Debug)]
/// struct Fixed(AtomicU32);
///
/// /// One granted retry; not `Clone`, so it is given back at most once.
/// #[derive(Debug)]
/// struct Granted;
///
/// impl RetryBudget for Fixed {
///     type Receipt = Granted;
///     fn on_request(&self) {}
///     fn try_retry(&self, _kind: FailureKind) -> Result<Granted, BudgetRefused> {
///         self.0
///             .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
///             .map(|_| Granted)
///             .map_err(|_| BudgetRefused::new("fixed budget spent"))
///     }
///     fn cancel_retry(&self, _receipt: Granted) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
///     fn on_success(&self, _retried: bool) {}
/// }
///
/// let b = Fixed(AtomicU32::new(1));
/// assert!(b.try_retry(FailureKind::Error).is_ok());
/// assert!(b.try_retry(FailureKind::Error).is_err());
/// ```
pub trait RetryBudget {
    /// What [`try_retry`](RetryBudget::try_retry) hands back for a granted
    /// retry: the proof of that one withdrawal, to give back to
    /// [`cancel_retry`](RetryBudget::cancel_retry) if the retry is never
    /// sent. Make it identify the withdrawal (as [`RatioReceipt`] names its
    /// window bucket) so a cancel can never give back another request's,
    /// and not `Clone`, so it is given back at most once. A receipt is plain
    /// data a request carries across threads (`Send + Sync + 'static`).
    type Receipt: Send + Sync + 'static;

    /// A logical request is about to make its first attempt.
    fn on_request(&self);

    /// Asks to retry after a failure of `kind`. `Ok` spends budget and
    /// carries the withdrawal's receipt.
    ///
    /// # Errors
    ///
    /// [`BudgetRefused`] saying why, when the budget has no room.
    fn try_retry(&self, kind: FailureKind) -> Result<Self::Receipt, BudgetRefused>;

    /// Gives back the withdrawal of `receipt`, whose retry was never sent
    /// (the request was dropped during backoff, or its deadline passed).
    /// Gives back that withdrawal only, and nothing if it no longer counts
    /// against the budget.
    fn cancel_retry(&self, receipt: Self::Receipt);

    /// The logical request ended in success; `retried` says whether it
    /// needed retries.
    fn on_success(&self, retried: bool);

    /// The logical request ended in success; `last_retry` is the failure
    /// kind its last granted retry paid for (`None`: the first attempt
    /// succeeded). The retry layer calls this, not
    /// [`on_success`](RetryBudget::on_success), so that a budget can give
    /// back what the last retry cost (the AWS SDKs' retry quota does).
    ///
    /// The default calls `on_success(last_retry.is_some())`.
    #[inline]
    fn on_success_after(&self, last_retry: Option<FailureKind>) {
        self.on_success(last_retry.is_some());
    }

    /// A retryable failure of `kind` that will not be retried, for a reason
    /// other than this budget refusing: the attempts are used up, the
    /// server said not to retry, or the delay would pass the deadline.
    ///
    /// gRPC's retry throttling (gRFC A6) counts every failed attempt,
    /// the last one included; a budget that counts failures charges here.
    /// The default does nothing.
    #[inline]
    fn on_final_failure(&self, kind: FailureKind) {
        let _ = kind;
    }
}

/// A budget that allows every retry: only the attempt limit bounds retries.
///
/// # Examples
///
/// ```
/// use failsoft::budget::{NoBudget, RetryBudget};
/// use failsoft::classify::FailureKind;
/// assert!(NoBudget.try_retry(FailureKind::Timeout).is_ok());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBudget;

/// Why a budget refused a retry.
///
/// # Examples
///
/// ```
/// use failsoft::budget::BudgetRefused;
/// let r = BudgetRefused::new("ratio budget empty");
/// assert_eq!(r.reason(), "ratio budget empty");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetRefused {
    reason: &'static str,
}

// === impl NoBudget ===

impl RetryBudget for NoBudget {
    type Receipt = ();

    #[inline]
    fn on_request(&self) {}

    #[inline]
    fn try_retry(&self, _kind: FailureKind) -> Result<(), BudgetRefused> {
        Ok(())
    }

    #[inline]
    fn cancel_retry(&self, _receipt: ()) {}

    #[inline]
    fn on_success(&self, _retried: bool) {}
}

impl<B: RetryBudget + ?Sized> RetryBudget for std::sync::Arc<B> {
    type Receipt = B::Receipt;

    #[inline]
    fn on_request(&self) {
        (**self).on_request()
    }

    #[inline]
    fn try_retry(&self, kind: FailureKind) -> Result<B::Receipt, BudgetRefused> {
        (**self).try_retry(kind)
    }

    #[inline]
    fn cancel_retry(&self, receipt: B::Receipt) {
        (**self).cancel_retry(receipt)
    }

    #[inline]
    fn on_success(&self, retried: bool) {
        (**self).on_success(retried)
    }

    #[inline]
    fn on_success_after(&self, last_retry: Option<FailureKind>) {
        (**self).on_success_after(last_retry)
    }

    #[inline]
    fn on_final_failure(&self, kind: FailureKind) {
        (**self).on_final_failure(kind)
    }
}

/// Both budgets must grant a retry: `(RatioBudget, TokenBucket)` caps
/// retries by share of requests *and* by a quota. A retry the first budget
/// grants but the second refuses is given back to the first.
///
/// # Examples
///
/// ```
/// use failsoft::budget::{RatioBudget, RetryBudget, TokenBucket};
/// use failsoft::classify::FailureKind;
///
/// let ratio = RatioBudget::builder().floor(1.0).build()?; // 10 per window
/// let quota = TokenBucket::builder().capacity(10.0).build()?; // 2 at cost 5
/// let both = (ratio.clone(), quota);
/// let granted = (0..10).filter(|_| both.try_retry(FailureKind::Error).is_ok()).count();
/// assert_eq!(granted, 2);
/// assert_eq!(ratio.snapshot().granted, 2); // refusals were given back
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
impl<A: RetryBudget, B: RetryBudget> RetryBudget for (A, B) {
    type Receipt = (A::Receipt, B::Receipt);

    #[inline]
    fn on_request(&self) {
        self.0.on_request();
        self.1.on_request();
    }

    fn try_retry(&self, kind: FailureKind) -> Result<Self::Receipt, BudgetRefused> {
        let first = self.0.try_retry(kind)?;
        match self.1.try_retry(kind) {
            Ok(second) => Ok((first, second)),
            Err(refused) => {
                self.0.cancel_retry(first);
                Err(refused)
            }
        }
    }

    fn cancel_retry(&self, (first, second): Self::Receipt) {
        self.0.cancel_retry(first);
        self.1.cancel_retry(second);
    }

    #[inline]
    fn on_success(&self, retried: bool) {
        self.0.on_success(retried);
        self.1.on_success(retried);
    }

    #[inline]
    fn on_success_after(&self, last_retry: Option<FailureKind>) {
        self.0.on_success_after(last_retry);
        self.1.on_success_after(last_retry);
    }

    #[inline]
    fn on_final_failure(&self, kind: FailureKind) {
        self.0.on_final_failure(kind);
        self.1.on_final_failure(kind);
    }
}

// === impl BudgetRefused ===

impl BudgetRefused {
    /// A refusal with a short reason.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::budget::BudgetRefused;
    /// let _ = BudgetRefused::new("bucket below half");
    /// ```
    pub const fn new(reason: &'static str) -> Self {
        Self { reason }
    }

    /// Why the retry was refused.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::budget::BudgetRefused;
    /// assert_eq!(BudgetRefused::new("x").reason(), "x");
    /// ```
    pub const fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for BudgetRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "retry budget refused: {}", self.reason)
    }
}

impl std::error::Error for BudgetRefused {}
