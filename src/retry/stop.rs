//! [`StopReason`]: why a logical request stopped making attempts.

use std::fmt;

use crate::budget::BudgetRefused;

/// Why the retry layer stopped making attempts for one logical request.
///
/// Read it from the response future ([`ResponseFuture::stop_reason`]) or
/// as give-up counts in [`RetrySnapshot`]. Whatever the reason, the caller
/// gets the last attempt's result unchanged.
///
/// [`ResponseFuture::stop_reason`]: crate::retry::future::ResponseFuture::stop_reason
/// [`RetrySnapshot`]: crate::retry::RetrySnapshot
///
/// # Examples
///
/// ```
/// use failsoft::retry::StopReason;
/// assert!(StopReason::Succeeded.is_success());
/// assert_eq!(StopReason::AttemptsExhausted.as_str(), "attempts_exhausted");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The last attempt succeeded.
    Succeeded,
    /// The attempt limit was reached.
    AttemptsExhausted,
    /// The overall deadline passed, would pass during the backoff, or cut
    /// the last attempt short.
    Deadline,
    /// The server's retry-after hint reached past the deadline.
    Hint,
    /// The server said not to retry.
    DoNotRetry,
    /// The classifier said the failure is not worth retrying.
    NonRetryable,
    /// A failsoft layer below rejected the attempt locally (circuit open,
    /// throttled); such rejections are never retried.
    LocalRejection,
    /// The retry budget refused the retry.
    Budget(BudgetRefused),
    /// The request could not be replayed, so it was sent once.
    NotReplayable,
}

/// The give-up reasons in counter order (every [`StopReason`] but
/// [`StopReason::Succeeded`]).
pub(crate) const GIVE_UP_KINDS: usize = 8;

// === impl StopReason ===

impl StopReason {
    /// `true` only for [`StopReason::Succeeded`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::StopReason;
    /// assert!(!StopReason::Deadline.is_success());
    /// ```
    pub const fn is_success(self) -> bool {
        matches!(self, StopReason::Succeeded)
    }

    /// A short snake_case name for logs, metrics and reports.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::StopReason;
    /// assert_eq!(StopReason::LocalRejection.as_str(), "local_rejection");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            StopReason::Succeeded => "succeeded",
            StopReason::AttemptsExhausted => "attempts_exhausted",
            StopReason::Deadline => "deadline",
            StopReason::Hint => "hint",
            StopReason::DoNotRetry => "do_not_retry",
            StopReason::NonRetryable => "non_retryable",
            StopReason::LocalRejection => "local_rejection",
            StopReason::Budget(_) => "budget",
            StopReason::NotReplayable => "not_replayable",
        }
    }

    /// Index into the give-up counters; `None` for success.
    pub(crate) const fn give_up_index(self) -> Option<usize> {
        match self {
            StopReason::Succeeded => None,
            StopReason::AttemptsExhausted => Some(0),
            StopReason::Deadline => Some(1),
            StopReason::Hint => Some(2),
            StopReason::DoNotRetry => Some(3),
            StopReason::NonRetryable => Some(4),
            StopReason::LocalRejection => Some(5),
            StopReason::Budget(_) => Some(6),
            StopReason::NotReplayable => Some(7),
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Budget(refused) => write!(f, "budget: {}", refused.reason()),
            other => f.write_str(other.as_str()),
        }
    }
}
