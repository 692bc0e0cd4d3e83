//! [`Permit`]: the right to make one call, and the forms it takes on the
//! hot path.

use std::fmt;

use super::{Breaker, NO_START};
use crate::breaker::state::Ticket;

/// The right to make one call, from [`Breaker::try_acquire_at`].
///
/// Hand it back with [`Breaker::record_at`] when the call ends. Dropping it
/// instead counts the call as neither success nor failure; a half-open
/// probe's slot is returned, so a cancelled probe never leaves the breaker
/// stuck in half-open.
///
/// # Examples
///
/// ```
/// use failsoft::breaker::{Breaker, BreakerConfig};
/// use tokio::time::Instant;
///
/// let breaker = Breaker::new(&BreakerConfig::builder().build()?);
/// let permit = breaker.try_acquire_at(Instant::now()).expect("closed");
/// drop(permit); // the call was cancelled: nothing is recorded
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[must_use = "record the call's outcome with Breaker::record_at"]
pub struct Permit {
    pub(super) ticket: Ticket,
    /// Signed nanoseconds from the breaker's origin to the call's start,
    /// or [`NO_START`] when slow calls are not tracked. A plain integer
    /// keeps the permit a few whole words, cheap to move on the hot path.
    pub(super) start: i64,
    // Boxed: only probes (rare) pay for the slot; a plain permit is three
    // words.
    pub(super) probe: Option<Box<ProbeSlot>>,
}

/// A [`Permit`] for a closed breaker, as one plain word: what a service
/// keeps between `poll_ready` and `call`. One word is stored and read back
/// whole; a permit of several words stored piece by piece and then copied
/// as a block stalls the CPU's store forwarding on this hot path. Its slow
/// call clock is not started (see [`Breaker::start_waiting`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlainPermit(pub(super) Ticket);

impl PlainPermit {
    #[inline]
    pub(crate) fn into_permit(self) -> Permit {
        Permit {
            ticket: self.0,
            start: NO_START,
            probe: None,
        }
    }

    /// The permit as a word below [`u64::MAX`] (an epoch has at most 60
    /// bits), so a holder can use `u64::MAX` for "none".
    #[inline]
    pub(crate) const fn word(self) -> u64 {
        self.0.word()
    }

    /// The permit [`word`](Self::word) returned.
    #[inline]
    pub(crate) const fn from_word(word: u64) -> Self {
        Self(Ticket::from_word(word))
    }
}

/// A half-open probe slot, given back on drop unless the probe's outcome
/// was recorded. Kept apart from [`Permit`] so a plain permit has no drop
/// code at all.
pub(super) struct ProbeSlot {
    pub(super) breaker: Option<Breaker>,
    pub(super) ticket: Ticket,
}

// === impl Permit ===

impl Permit {
    /// `true` when this permit holds one of half-open's probe slots.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{Breaker, BreakerConfig};
    /// # use tokio::time::Instant;
    /// let b = Breaker::new(&BreakerConfig::builder().build()?);
    /// assert!(!b.try_acquire_at(Instant::now()).unwrap().is_probe());
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn is_probe(&self) -> bool {
        self.ticket.probe()
    }

    #[cfg(test)]
    pub(crate) fn epoch(&self) -> u64 {
        self.ticket.epoch()
    }
}

impl Drop for ProbeSlot {
    fn drop(&mut self) {
        if let Some(breaker) = self.breaker.take() {
            breaker.release(self.ticket);
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("epoch", &self.ticket.epoch())
            .field("probe", &self.ticket.probe())
            .finish()
    }
}
