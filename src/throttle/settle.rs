//! How an admitted call counts for the throttle once it ends: an accept,
//! or not. Shared by [`Throttle`](super::Throttle) and the stack's gate.

use std::time::Duration;

use tokio::time::Instant;

use super::handle::ThrottleHandle;
use crate::BoxError;
use crate::classify::{FailureKind, Hint, Outcome, Verdict};
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

/// What holds a throttle's handle for a sent call: the throttle's own
/// future, or the stack's gate.
pub(crate) trait Owner {
    fn throttle(&self) -> &ThrottleHandle;
}

impl Owner for crate::stripes::Stripe<ThrottleHandle> {
    #[inline]
    fn throttle(&self) -> &ThrottleHandle {
        self
    }
}

/// A sent call's count for the throttle, owed until the call ends: settled
/// by [`Sent::settle`] or, if its future is dropped first, counted as a
/// request without an accept (an unfinished call is no accept).
pub(crate) struct Sent<H: Owner> {
    owner: H,
    owed: bool,
}

impl<H: Owner> Sent<H> {
    #[inline]
    pub(crate) fn new(owner: H) -> Self {
        Self { owner, owed: true }
    }

    #[inline]
    pub(crate) fn owner(&self) -> &H {
        &self.owner
    }

    /// Counts the call's end (see [`settle`]).
    #[inline]
    pub(crate) fn settle<T>(&mut self, verdict: Verdict, result: &Result<T, BoxError>, slow: Slow) {
        if std::mem::take(&mut self.owed) {
            settle(self.owner.throttle(), verdict, result, slow);
        }
    }
}

impl<H: Owner> Drop for Sent<H> {
    fn drop(&mut self) {
        if self.owed {
            self.owner.throttle().failed();
        }
    }
}

impl<H: Owner> std::fmt::Debug for Sent<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sent").field("owed", &self.owed).finish()
    }
}

/// Counts the end of a sent call: nothing if an inner layer rejected it
/// locally (it never reached the backend); otherwise a request, and an
/// accept unless the backend refused it or answered too late. An overload
/// answer with a server hint (`Retry-After`, pushback) also paces the
/// client.
///
/// Always inlined: with `#[inline]` alone, a program with many stacks of
/// one response type (the `stack` bench binary) got it, and the breaker's
/// `record_with`, as calls on every success, which cost that program
/// about 9 % more instructions per call (callgrind).
#[inline(always)]
pub(crate) fn settle<T>(
    handle: &ThrottleHandle,
    verdict: Verdict,
    result: &Result<T, BoxError>,
    slow: Slow,
) {
    if let Err(e) = result
        && is_local_rejection(e.as_ref())
    {
        return;
    }
    // The clock is read again only for a would-be accept of a call that
    // waited.
    if is_accept(verdict.outcome, result) && !slow.late() {
        handle.accept();
        return;
    }
    handle.failed();
    if let (Outcome::Retryable(FailureKind::Throttled), Some(Hint::RetryAfter(wait))) =
        (verdict.outcome, verdict.hint)
    {
        handle.pace_at(crate::time::now(), wait);
    }
}
