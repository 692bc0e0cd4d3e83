//! [`FallbackReason`] and the [`StopInfo`] hook.

use std::error::Error;
use std::fmt;

use crate::BoxError;
use crate::budget::{BudgetRefused, RetryBudget};
use crate::error::{CircuitOpen, Paced, Throttled, TimedOut};

/// Why the fallback closure was called.
///
/// # Examples
///
/// ```
/// use failsoft::error::CircuitOpen;
/// use failsoft::fallback::FallbackReason;
///
/// let r = FallbackReason::CircuitOpen(CircuitOpen::new());
/// assert!(r.is_local_rejection());
/// assert_eq!(r.as_str(), "circuit_open");
/// assert!(!FallbackReason::Failed.is_local_rejection());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FallbackReason {
    /// A breaker rejected the call (or the ramp-up after closing did).
    CircuitOpen(CircuitOpen),
    /// The adaptive throttle shed the call by its probability.
    Throttled(Throttled),
    /// The adaptive throttle turned the call away while the server paces
    /// the client (and the retry layer could not hold it to the pace's
    /// end).
    Paced(Paced),
    /// The retry budget refused a retry, so the request ended with its last
    /// failure.
    BudgetRefused(BudgetRefused),
    /// The logical request's deadline passed.
    Deadline,
    /// Any other final failure (only when the layer was asked to handle
    /// them, see [`FallbackLayer::on_failures`](super::FallbackLayer::on_failures)).
    Failed,
}

/// What a response future knows about why its request stopped, read by
/// [`Fallback`](super::Fallback) before it looks at the error.
///
/// The retry layer's future implements it (budget refusals and deadlines
/// leave the backend's own error in place, so only the future can tell),
/// and so does the breaker's. Enable it with
/// [`FallbackLayer::reading_stop_reason`](super::FallbackLayer::reading_stop_reason);
/// without it, the fallback relies on error downcasts alone.
///
/// # Examples
///
/// ```
/// use failsoft::fallback::{FallbackReason, StopInfo};
///
/// /// A future that always knows the deadline ended it.
/// struct Late;
/// impl StopInfo for Late {
///     fn stop_info(&self) -> Option<FallbackReason> {
///         Some(FallbackReason::Deadline)
///     }
/// }
/// assert_eq!(Late.stop_info(), Some(FallbackReason::Deadline));
/// ```
pub trait StopInfo {
    /// Why the request stopped, if this future knows better than its error.
    fn stop_info(&self) -> Option<FallbackReason>;
}

/// How a [`Fallback`](super::Fallback) learns a reason beyond the error:
/// [`ErrorsOnly`] or [`ReadStopInfo`].
pub trait ReasonSource<Fut> {
    /// The inner future's own account, if this source reads one.
    fn read(fut: &Fut) -> Option<FallbackReason>;
}

/// Learn the reason from the error alone (works with any inner service).
///
/// # Examples
///
/// ```
/// use failsoft::fallback::{ErrorsOnly, ReasonSource};
/// assert_eq!(<ErrorsOnly as ReasonSource<()>>::read(&()), None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorsOnly;

/// Ask the inner future first ([`StopInfo`]), then the error.
///
/// # Examples
///
/// ```
/// use failsoft::fallback::{FallbackReason, ReadStopInfo, ReasonSource, StopInfo};
/// struct Late;
/// impl StopInfo for Late {
///     fn stop_info(&self) -> Option<FallbackReason> { Some(FallbackReason::Deadline) }
/// }
/// assert_eq!(<ReadStopInfo as ReasonSource<Late>>::read(&Late), Some(FallbackReason::Deadline));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadStopInfo;

// === impl FallbackReason ===

impl FallbackReason {
    /// `true` for the reasons that mean "not sent" or "given up locally":
    /// everything but [`FallbackReason::Failed`].
    pub const fn is_local_rejection(&self) -> bool {
        !matches!(self, FallbackReason::Failed)
    }

    /// A short snake_case name for logs and metrics.
    pub const fn as_str(&self) -> &'static str {
        match self {
            FallbackReason::CircuitOpen(_) => "circuit_open",
            FallbackReason::Throttled(_) => "throttled",
            FallbackReason::Paced(_) => "paced",
            FallbackReason::BudgetRefused(_) => "budget_refused",
            FallbackReason::Deadline => "deadline",
            FallbackReason::Failed => "failed",
        }
    }

    /// The reason an error carries, looking through its `source()` chain:
    /// [`CircuitOpen`], [`Throttled`], [`Paced`], [`BudgetRefused`], or a
    /// [`TimedOut`] caused by the deadline; else [`FallbackReason::Failed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::error::TimedOut;
    /// use failsoft::fallback::FallbackReason;
    /// use std::time::Duration;
    ///
    /// let err: failsoft::BoxError = Box::new(TimedOut::new(Duration::from_secs(3), true));
    /// assert_eq!(FallbackReason::from_error(&err), FallbackReason::Deadline);
    /// let err: failsoft::BoxError = "reset".into();
    /// assert_eq!(FallbackReason::from_error(&err), FallbackReason::Failed);
    /// ```
    pub fn from_error(err: &BoxError) -> Self {
        let mut cur: Option<&(dyn Error + 'static)> = Some(err.as_ref());
        while let Some(e) = cur {
            if let Some(open) = e.downcast_ref::<CircuitOpen>() {
                return FallbackReason::CircuitOpen(*open);
            }
            if let Some(shed) = e.downcast_ref::<Throttled>() {
                return FallbackReason::Throttled(*shed);
            }
            if let Some(paced) = e.downcast_ref::<Paced>() {
                return FallbackReason::Paced(*paced);
            }
            if let Some(b) = e.downcast_ref::<BudgetRefused>() {
                return FallbackReason::BudgetRefused(*b);
            }
            if e.downcast_ref::<TimedOut>()
                .is_some_and(TimedOut::by_deadline)
            {
                return FallbackReason::Deadline;
            }
            cur = e.source();
        }
        FallbackReason::Failed
    }
}

// === impl ReasonSource ===

impl fmt::Display for FallbackReason {
    /// The reason in words: "circuit open", "throttled", "budget refused",
    /// "deadline" or "failed".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str().replace('_', " "))
    }
}

impl<Fut> ReasonSource<Fut> for ErrorsOnly {
    fn read(_: &Fut) -> Option<FallbackReason> {
        None
    }
}

impl<Fut: StopInfo> ReasonSource<Fut> for ReadStopInfo {
    fn read(fut: &Fut) -> Option<FallbackReason> {
        fut.stop_info()
    }
}

// === impl StopInfo ===

impl<F, C> StopInfo for crate::breaker::future::ResponseFuture<F, C> {
    fn stop_info(&self) -> Option<FallbackReason> {
        self.rejection().copied().map(FallbackReason::CircuitOpen)
    }
}

impl<S, Req, C, B, R> StopInfo for crate::retry::future::ResponseFuture<S, Req, C, B, R>
where
    S: tower::Service<Req>,
    B: RetryBudget,
{
    fn stop_info(&self) -> Option<FallbackReason> {
        use crate::retry::StopReason;
        match self.stop_reason()? {
            StopReason::Budget(refused) => Some(FallbackReason::BudgetRefused(refused)),
            StopReason::Deadline => Some(FallbackReason::Deadline),
            // The error itself says which local rejection it was.
            _ => None,
        }
    }
}
