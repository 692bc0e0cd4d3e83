//! A local rejection known before the call, settled without a future.

use super::Retry;
use super::stop::StopReason;
use crate::BoxError;
use crate::budget::RetryBudget;

/// A service that knows, once ready, whether its next `call` would only
/// fail fast with a local rejection (the stack's
/// [`Gate`](crate::stack::Gate)).
pub(crate) trait Rejects {
    /// Takes that rejection in place of the `call`; `None` when the call
    /// must go ahead.
    fn take_rejection(&mut self) -> Option<BoxError>;
}

impl<S, C, B: RetryBudget, R> Retry<S, C, B, R> {
    /// The local rejection the inner service decided for this call (after
    /// `poll_ready`), with the request's accounts settled exactly as its
    /// future would settle them: one request, its budget deposit, and a
    /// give-up by [`StopReason::LocalRejection`] (never retried). `None`
    /// when the request must be called as usual.
    ///
    /// This spares the caller the request's future, and with it the
    /// reference count the future takes on the layer's state.
    #[inline]
    pub(crate) fn take_local_rejection(&mut self) -> Option<BoxError>
    where
        S: Rejects,
    {
        let err = self.inner.take_rejection()?;
        let shared = self.shared.first();
        shared.counters.request();
        shared.budget.on_request();
        super::decide::gave_up(shared, StopReason::LocalRejection);
        Some(err)
    }
}
