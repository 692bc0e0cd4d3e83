//! How an admitted call counts for the throttle once it ends: an accept,
//! or not. Shared by [`Throttle`](super::Throttle) and the stack's gate.

use std::time::Duration;

use tokio::time::Instant;

use super::handle::ThrottleHandle;
use crate::BoxError;
use crate::classify::Outcome;
use crate::error::is_local_rejection;

/// The slow-call clock of one call: started at its first wait, so a call
/// that completes at its first poll never reads the clock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slow {
    /// No slow-call threshold, or one that cannot be reached.
    Off,
    /// The threshold, before the call first returned `Pending`.
    Armed(Duration),
    /// From this instant on, a completion is slow.
    Until(Instant),
}

impl Slow {
    pub(crate) fn new(threshold: Option<Duration>) -> Self {
        threshold.map_or(Self::Off, Self::Armed)
    }

    /// The call has to wait: start its clock, if not yet started.
    #[inline]
    pub(crate) fn waiting(&mut self) {
        if let Self::Armed(limit) = *self {
            *self = crate::time::now()
                .checked_add(limit)
                .map_or(Self::Off, Self::Until);
        }
    }

    fn late(self) -> bool {
        matches!(self, Self::Until(at) if crate::time::now() >= at)
    }
}

/// The accept rule: a success is an accept; a fatal failure is an accept
/// (the backend answered, say with a well-formed 4xx) unless it is a local
/// rejection by an inner layer; a retryable failure (a fast 503, a timeout)
/// is not. (A slow call is judged apart, in [`settle`].)
pub(crate) fn is_accept<T>(outcome: Outcome, result: &Result<T, BoxError>) -> bool {
    match outcome {
        Outcome::Success => true,
        Outcome::Retryable(_) => false,
        Outcome::Fatal => !matches!(result, Err(e) if is_local_rejection(e.as_ref())),
    }
}

/// Counts the end of an admitted call: an accept unless the backend
/// refused it or answered too late.
#[inline]
pub(crate) fn settle<T>(
    handle: &ThrottleHandle,
    outcome: Outcome,
    result: &Result<T, BoxError>,
    slow: Slow,
) {
    // The clock is read again only for a would-be accept of a call that
    // waited.
    if is_accept(outcome, result) && !slow.late() {
        handle.accept();
    } else {
        handle.failed();
    }
}
