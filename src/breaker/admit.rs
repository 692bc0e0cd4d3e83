//! What a breaker service keeps between `poll_ready` and `call`, and what
//! it records when the call ends: shared by
//! [`CircuitBreaker`](super::CircuitBreaker) and the stack's gate.

use tokio::time::Instant;

use super::handle::{Breaker, Permit, PlainPermit};
use crate::BoxError;
use crate::classify::{FailureKind, Hint, Outcome, Verdict};
use crate::error::{CircuitOpen, is_local_rejection};

/// `poll_ready`'s decision for the next `call`: a closed breaker's permit
/// as one plain word (the hot path, see `PlainPermit`), a permit the state
/// machine gave (a probe's, or one during the ramp), or a rejection.
///
/// The hot decisions are single words written in `poll_ready` and read
/// back whole in `call`: the plain permit is a `u64` ([`NO_PLAIN`] for
/// none), not an `Option` (a tag and a word, which the compiler reads back
/// as one 16-byte load and the CPU then cannot forward from the two
/// stores), and a rejection is a flag, not a stored `Result`.
#[derive(Debug)]
pub(crate) struct Admit {
    plain: u64,
    permit: Option<Permit>,
    rejected: bool,
}

/// [`Admit::plain`] holding no permit.
const NO_PLAIN: u64 = u64::MAX;

impl Default for Admit {
    fn default() -> Self {
        Self {
            plain: NO_PLAIN,
            permit: None,
            rejected: false,
        }
    }
}

impl Admit {
    /// Decides once per `call`; `false` when the breaker rejects, so the
    /// service is ready at once and `call` fails fast.
    #[inline]
    pub(crate) fn decide(&mut self, breaker: &Breaker) -> bool {
        self.decide_with(breaker, crate::time::now)
    }

    /// [`decide`](Self::decide), asking `now` for the time if the breaker
    /// needs it (a layer above may have read it already).
    #[inline]
    pub(crate) fn decide_with(&mut self, breaker: &Breaker, now: impl Fn() -> Instant) -> bool {
        if self.plain != NO_PLAIN || self.permit.is_some() {
            return true;
        }
        if self.rejected {
            return false;
        }
        if let Some(plain) = breaker.acquire_plain() {
            self.plain = plain.word();
            return true;
        }
        self.decide_slow(breaker, now)
    }

    /// A decision that takes more than the closed breaker's plain permit:
    /// out of line, so the plain path inlines into `poll_ready`.
    #[inline(never)]
    fn decide_slow(&mut self, breaker: &Breaker, now: impl Fn() -> Instant) -> bool {
        match breaker.acquire_slow(now, false) {
            Ok(permit) => {
                self.permit = Some(permit);
                true
            }
            Err(_) => {
                self.rejected = true;
                false
            }
        }
    }

    /// Takes the decision for this `call` if it is a rejection; leaves an
    /// admission in place for [`take`](Self::take).
    #[inline]
    pub(crate) fn take_rejection(&mut self) -> Option<CircuitOpen> {
        std::mem::take(&mut self.rejected).then(CircuitOpen::new)
    }

    /// Forgets the decision, giving the permit (and a probe's slot) back.
    pub(crate) fn clear(&mut self) {
        self.plain = NO_PLAIN;
        self.permit = None;
        self.rejected = false;
    }

    /// Takes the decision for this `call`.
    ///
    /// # Panics
    ///
    /// When `decide` was not called first: `call` without `poll_ready`.
    #[inline]
    pub(crate) fn take(&mut self) -> Result<Permit, CircuitOpen> {
        let plain = std::mem::replace(&mut self.plain, NO_PLAIN);
        if plain != NO_PLAIN {
            return Ok(PlainPermit::from_word(plain).into_permit());
        }
        if std::mem::take(&mut self.rejected) {
            return Err(CircuitOpen::new());
        }
        Ok(self.permit.take().expect("poll_ready must be called first"))
    }
}

/// Records how an admitted call ended. A local rejection from further in
/// never reached the backend and counts as nothing; nor does an overload
/// answer that says when to come back (the backend is up and pacing its
/// clients, which the throttle honours: see [`is_paced_overload`]).
#[inline]
pub(crate) fn settle<T>(
    breaker: &Breaker,
    permit: Permit,
    result: &Result<T, BoxError>,
    verdict: impl FnOnce() -> Verdict,
) {
    match result {
        Err(e) if is_local_rejection(e.as_ref()) => drop(permit),
        _ => {
            let verdict = verdict();
            if is_paced_overload(verdict) {
                drop(permit);
            } else {
                breaker.record_with(permit, verdict.outcome, crate::time::now);
            }
        }
    }
}

/// `true` for an overload answer ([`FailureKind::Throttled`]) carrying a
/// [`Hint::RetryAfter`]: overload, not outage.
#[inline]
pub(crate) fn is_paced_overload(verdict: Verdict) -> bool {
    matches!(
        (verdict.outcome, verdict.hint),
        (
            Outcome::Retryable(FailureKind::Throttled),
            Some(Hint::RetryAfter(_))
        )
    )
}

#[cfg(test)]
mod tests {
    use super::{Admit, NO_PLAIN};
    use crate::breaker::handle::PlainPermit;
    use crate::breaker::state::Ticket;
    use crate::breaker::{Breaker, BreakerConfig};

    #[test]
    fn a_plain_permit_word_never_reads_as_none() {
        // The largest epoch a breaker's word can carry (60 bits).
        for epoch in [0, 1, (1u64 << 60) - 1] {
            let word = Ticket::new(epoch, false).word();
            assert_ne!(word, NO_PLAIN);
            assert_eq!(PlainPermit::from_word(word).word(), word);
        }
    }

    #[test]
    fn a_closed_breaker_admits_once_per_call() {
        let breaker = Breaker::new(&BreakerConfig::builder().build().expect("valid"));
        let mut admit = Admit::default();
        assert!(admit.decide(&breaker));
        // Asked again before `call`: the kept decision, not a second one.
        assert!(admit.decide(&breaker));
        let permit = admit.take().expect("closed");
        assert_eq!(admit.plain, NO_PLAIN, "taken");
        drop(permit);
        breaker.force_open();
        assert!(!admit.decide(&breaker));
        assert!(admit.take().is_err());
        assert!(!admit.rejected, "taken");
    }
}
