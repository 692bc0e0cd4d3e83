//! [`RetryCounters`]: cheap, shared counts of requests, attempts and give-ups.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::stop::{GIVE_UP_KINDS, StopReason};
use crate::stripes::{add, mine, stripe_count};

/// Counts kept by a retry layer, readable at runtime without a metrics
/// backend: amplification is attempts that reached the transport divided
/// by logical requests ([`RetrySnapshot::amplification`]). Every request
/// ends in exactly one of success, a give-up or a cancel, so once none is
/// in flight, `requests == successes + give_ups.total() + cancelled`.
///
/// Counts are striped: each of the first few threads to count owns a
/// cache line of counts and adds to it with a plain load and store (no
/// atomic read-modify-write); further threads share one more line, added
/// to atomically. A [`snapshot`](RetryCounters::snapshot) sums the lines.
/// Threads on different cores therefore do not contend on the success
/// path.
///
/// # Sharing
///
/// Clones share the same counts. Every service made by one
/// [`RetryLayer`](crate::retry::RetryLayer), and every clone of those
/// services, adds to the same counters.
///
/// # Examples
///
/// ```
/// use failsoft::retry::RetryLayer;
///
/// let layer = RetryLayer::new();
/// let counters = layer.counters();
/// let snap = counters.snapshot();
/// assert_eq!(snap.requests, 0);
/// assert_eq!(snap.amplification(), None);
/// ```
#[derive(Clone)]
pub struct RetryCounters {
    cells: Arc<[Stripe]>,
}

/// A point-in-time copy of [`RetryCounters`].
///
/// # Examples
///
/// ```
/// use failsoft::retry::RetrySnapshot;
///
/// let snap = RetrySnapshot { requests: 10, attempts: 12, retries: 2, ..Default::default() };
/// assert_eq!(snap.amplification(), Some(1.2));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetrySnapshot {
    /// Logical requests (calls to the retry service).
    pub requests: u64,
    /// Attempts handed to the inner service: `requests + retries`. Those a
    /// layer below rejected locally (an open breaker, the throttle) are
    /// among them; [`sent`](Self::sent) leaves them out.
    pub attempts: u64,
    /// Retries sent (attempts after the first).
    pub retries: u64,
    /// Requests that ended in success.
    pub successes: u64,
    /// Requests that ended in failure, by reason.
    pub give_ups: GiveUps,
    /// Requests whose future was dropped before it finished.
    pub cancelled: u64,
    /// Attempts a pacing throttle below [held](crate::error::Paced::holds)
    /// until the server's pace ended, then sent again. Each is among
    /// [`attempts`](Self::attempts), and its second try among
    /// [`retries`](Self::retries); [`sent`](Self::sent) leaves them out.
    pub held: u64,
    /// Retry-after hints that set a delay.
    pub hints_honoured: u64,
    /// Retry-after hints cut to the configured maximum.
    pub hints_clamped: u64,
    /// Hints the server sent that could not be read, ignored.
    pub hints_malformed: u64,
}

/// Give-ups by [`StopReason`].
///
/// # Examples
///
/// ```
/// use failsoft::retry::GiveUps;
/// let g = GiveUps { budget: 3, deadline: 1, ..Default::default() };
/// assert_eq!(g.total(), 4);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GiveUps {
    /// [`StopReason::AttemptsExhausted`].
    pub attempts_exhausted: u64,
    /// [`StopReason::Deadline`].
    pub deadline: u64,
    /// [`StopReason::Hint`].
    pub hint: u64,
    /// [`StopReason::DoNotRetry`].
    pub do_not_retry: u64,
    /// [`StopReason::NonRetryable`].
    pub non_retryable: u64,
    /// [`StopReason::LocalRejection`].
    pub local_rejection: u64,
    /// [`StopReason::Budget`].
    pub budget: u64,
    /// [`StopReason::NotReplayable`].
    pub not_replayable: u64,
}

/// One cache line of counts, written by the thread that owns its slot (or,
/// for the last one, by every thread without a slot).
#[repr(align(128))]
#[derive(Default)]
struct Stripe {
    requests: AtomicU64,
    retries: AtomicU64,
    successes: AtomicU64,
    cancelled: AtomicU64,
    held: AtomicU64,
    hints_honoured: AtomicU64,
    hints_clamped: AtomicU64,
    hints_malformed: AtomicU64,
    give_ups: [AtomicU64; GIVE_UP_KINDS],
}

// === impl RetryCounters ===

impl RetryCounters {
    /// New counters, all zero.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::RetryCounters;
    /// assert_eq!(RetryCounters::new().snapshot().attempts, 0);
    /// ```
    pub fn new() -> Self {
        Self {
            cells: (0..=stripe_count()).map(|_| Stripe::default()).collect(),
        }
    }

    /// Sums the stripes into a snapshot. Counts taken while requests run
    /// are each exact, though not all from the same instant.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::RetryCounters;
    /// let snap = RetryCounters::new().snapshot();
    /// assert_eq!(snap.give_ups.total(), 0);
    /// ```
    pub fn snapshot(&self) -> RetrySnapshot {
        let mut s = RetrySnapshot::default();
        let mut give_ups = [0u64; GIVE_UP_KINDS];
        for stripe in self.cells.iter() {
            let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
            s.requests += load(&stripe.requests);
            s.retries += load(&stripe.retries);
            s.successes += load(&stripe.successes);
            s.cancelled += load(&stripe.cancelled);
            s.held += load(&stripe.held);
            s.hints_honoured += load(&stripe.hints_honoured);
            s.hints_clamped += load(&stripe.hints_clamped);
            s.hints_malformed += load(&stripe.hints_malformed);
            for (sum, c) in give_ups.iter_mut().zip(&stripe.give_ups) {
                *sum += load(c);
            }
        }
        s.attempts = s.requests + s.retries;
        let [a, d, h, n, f, l, b, r] = give_ups;
        s.give_ups = GiveUps {
            attempts_exhausted: a,
            deadline: d,
            hint: h,
            do_not_retry: n,
            non_retryable: f,
            local_rejection: l,
            budget: b,
            not_replayable: r,
        };
        s
    }

    /// Adds one to the count `pick` chooses on the caller's line.
    #[inline]
    fn bump(&self, pick: impl FnOnce(&Stripe) -> &AtomicU64) {
        let (stripe, owned) = mine(&self.cells);
        add(pick(stripe), owned);
    }

    #[inline]
    pub(crate) fn request(&self) {
        self.bump(|s| &s.requests);
    }

    pub(crate) fn retry(&self) {
        self.bump(|s| &s.retries);
    }

    #[inline]
    pub(crate) fn succeeded(&self) {
        self.bump(|s| &s.successes);
    }

    pub(crate) fn cancelled(&self) {
        self.bump(|s| &s.cancelled);
    }

    pub(crate) fn held(&self) {
        self.bump(|s| &s.held);
    }

    pub(crate) fn hint(&self, clamped: bool) {
        self.bump(|s| &s.hints_honoured);
        if clamped {
            self.bump(|s| &s.hints_clamped);
        }
    }

    pub(crate) fn malformed_hint(&self) {
        self.bump(|s| &s.hints_malformed);
    }

    pub(crate) fn stopped(&self, reason: StopReason) {
        if let Some(i) = reason.give_up_index() {
            self.bump(|s| &s.give_ups[i]);
        }
    }
}

impl Default for RetryCounters {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RetryCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RetryCounters")
            .field(&self.snapshot())
            .finish()
    }
}

// === impl RetrySnapshot ===

impl RetrySnapshot {
    /// Attempts that reached the transport: [`attempts`](Self::attempts)
    /// less the [local rejections](Self::local_rejections) and the attempts
    /// [held](Self::held) for the server's pacing. A local rejection ends
    /// its request, so each counts once.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::{GiveUps, RetrySnapshot};
    /// let s = RetrySnapshot {
    ///     requests: 10,
    ///     attempts: 12,
    ///     retries: 2,
    ///     held: 1,
    ///     give_ups: GiveUps { local_rejection: 8, ..Default::default() },
    ///     ..Default::default()
    /// };
    /// assert_eq!(s.sent(), 3);
    /// ```
    pub const fn sent(&self) -> u64 {
        self.attempts
            .saturating_sub(self.give_ups.local_rejection)
            .saturating_sub(self.held)
    }

    /// Attempts rejected locally by a layer below (circuit open, throttled):
    /// they never reached the transport.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::{GiveUps, RetrySnapshot};
    /// let s = RetrySnapshot { give_ups: GiveUps { local_rejection: 2, ..Default::default() }, ..Default::default() };
    /// assert_eq!(s.local_rejections(), 2);
    /// ```
    pub const fn local_rejections(&self) -> u64 {
        self.give_ups.local_rejection
    }

    /// Load amplification: attempts that reached the transport
    /// ([`sent`](Self::sent)) per logical request; `None` before any
    /// request. Below 1 when layers below shed load locally.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::{GiveUps, RetrySnapshot};
    /// let s = RetrySnapshot { requests: 4, attempts: 6, ..Default::default() };
    /// assert_eq!(s.amplification(), Some(1.5));
    /// // Three of the attempts were rejected by an open breaker.
    /// let shed = RetrySnapshot { give_ups: GiveUps { local_rejection: 3, ..s.give_ups }, ..s };
    /// assert_eq!(shed.amplification(), Some(0.75));
    /// ```
    pub fn amplification(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.sent() as f64 / self.requests as f64)
    }
}

// === impl GiveUps ===

impl GiveUps {
    /// All give-ups together.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::retry::GiveUps;
    /// assert_eq!(GiveUps::default().total(), 0);
    /// ```
    pub fn total(&self) -> u64 {
        self.attempts_exhausted
            + self.deadline
            + self.hint
            + self.do_not_retry
            + self.non_retryable
            + self.local_rejection
            + self.budget
            + self.not_replayable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::BudgetRefused;

    #[test]
    fn counts_from_many_threads_add_up() {
        let c = RetryCounters::new();
        std::thread::scope(|s| {
            // More threads than owned slots: some share the last line.
            for _ in 0..4 + 2 * stripe_count() {
                let c = c.clone();
                s.spawn(move || {
                    for _ in 0..1000 {
                        c.request();
                        c.retry();
                    }
                    c.stopped(StopReason::Budget(BudgetRefused::new("x")));
                });
            }
        });
        let snap = c.snapshot();
        let threads = 4 + 2 * stripe_count() as u64;
        assert_eq!(snap.requests, 1000 * threads);
        assert_eq!(snap.attempts, 2000 * threads);
        assert_eq!(snap.give_ups.budget, threads);
        assert_eq!(snap.amplification(), Some(2.0));
    }

    #[test]
    fn success_is_not_a_give_up() {
        let c = RetryCounters::new();
        c.stopped(StopReason::Succeeded);
        assert_eq!(c.snapshot().give_ups.total(), 0);
        c.succeeded();
        assert_eq!(c.snapshot().successes, 1);
    }
}
