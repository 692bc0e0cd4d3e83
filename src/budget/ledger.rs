//! The ratio budget's pure core: a ring of buckets counting deposits and
//! withdrawals, indexed by bucket number (time is converted by the caller).
//!
//! # Window mechanics
//!
//! Time is cut into buckets of `window / buckets`. Bucket `k` lives while the
//! newest bucket seen (`head`) is at most `k + buckets - 1`; then its counts
//! leave the window together. A retry is granted at bucket `k` when
//!
//! ```text
//! floor_units + deposit_units × deposits(window) − UNIT × withdrawals(window) ≥ UNIT
//! ```
//!
//! Withdrawals stay in the window as long as deposits do, so credit is never
//! spent twice: every granted retry can be matched to its own unit of credit
//! created (by a request or by the floor) within one window before it.
//!
//! A withdrawal is recorded in the bucket it was granted at, and that bucket
//! number is its receipt. A cancel removes one withdrawal from the
//! receipt's own bucket, and nothing once that bucket has left the window:
//! it never touches another request's withdrawal, so the match above holds
//! whatever is cancelled when.

use super::units::UNIT;

/// Deposits and withdrawals per bucket over a sliding window of buckets.
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    slots: Box<[Slot]>,
    /// The newest bucket number seen; the window is `head - len + 1 ..= head`.
    head: u64,
    deposits: u64,
    withdrawals: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    deposits: u64,
    withdrawals: u64,
}

// === impl Ledger ===

impl Ledger {
    /// An empty ledger of `buckets` buckets (at least one).
    pub(crate) fn new(buckets: u32) -> Self {
        let len = buckets.max(1) as usize;
        Self {
            slots: vec![Slot::default(); len].into_boxed_slice(),
            head: 0,
            deposits: 0,
            withdrawals: 0,
        }
    }

    fn len(&self) -> u64 {
        self.slots.len() as u64
    }

    fn slot(&mut self, bucket: u64) -> &mut Slot {
        let i = (bucket % self.len()) as usize;
        &mut self.slots[i]
    }

    /// The oldest bucket still inside the window.
    fn oldest(&self) -> u64 {
        self.head.saturating_add(1).saturating_sub(self.len())
    }

    /// Moves the window forward so that `bucket` is the newest; never back.
    pub(crate) fn advance(&mut self, bucket: u64) {
        if bucket <= self.head {
            return;
        }
        let steps = (bucket - self.head).min(self.len());
        for b in (bucket - steps + 1)..=bucket {
            let slot = std::mem::take(self.slot(b));
            self.deposits -= slot.deposits;
            self.withdrawals -= slot.withdrawals;
        }
        self.head = bucket;
    }

    /// Credits `n` requests to `bucket`; dropped if that bucket has already
    /// left the window (never credited later than it happened).
    pub(crate) fn deposit(&mut self, bucket: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.advance(bucket);
        if bucket < self.oldest() {
            return;
        }
        let slot = self.slot(bucket);
        slot.deposits = slot.deposits.saturating_add(n);
        self.deposits = self.deposits.saturating_add(n);
    }

    /// Credit left in the window, in units (saturating at zero).
    pub(crate) fn credit(&self, floor_units: u64, deposit_units: u64) -> u64 {
        floor_units
            .saturating_add(deposit_units.saturating_mul(self.deposits))
            .saturating_sub(UNIT.saturating_mul(self.withdrawals))
    }

    /// Withdraws one retry at `bucket` if a whole unit of credit is left;
    /// returns the bucket the withdrawal is recorded in (its receipt).
    pub(crate) fn try_withdraw(
        &mut self,
        bucket: u64,
        floor_units: u64,
        deposit_units: u64,
    ) -> Option<u64> {
        self.advance(bucket);
        if self.credit(floor_units, deposit_units) < UNIT {
            return None;
        }
        let head = self.head;
        let slot = self.slot(head);
        slot.withdrawals += 1;
        self.withdrawals += 1;
        Some(head)
    }

    /// At `now` (a bucket), gives back one withdrawal recorded in bucket
    /// `granted`: the caller's own, whose receipt that bucket is. Returns
    /// `false`, giving back nothing, once that bucket has left the window
    /// (the withdrawal has expired, and with it the credit it spent).
    pub(crate) fn cancel(&mut self, granted: u64, now: u64) -> bool {
        self.advance(now);
        if granted < self.oldest() || granted > self.head {
            return false;
        }
        let slot = self.slot(granted);
        if slot.withdrawals == 0 {
            return false;
        }
        slot.withdrawals -= 1;
        self.withdrawals -= 1;
        true
    }

    /// Requests and withdrawals currently inside the window.
    pub(crate) fn totals(&self) -> (u64, u64) {
        (self.deposits, self.withdrawals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENTH: u64 = UNIT / 10;

    #[test]
    fn ten_requests_at_a_tenth_earn_exactly_one_retry() {
        let mut l = Ledger::new(10);
        l.deposit(0, 9);
        assert!(l.try_withdraw(0, 0, TENTH).is_none());
        l.deposit(0, 1);
        assert_eq!(l.try_withdraw(0, 0, TENTH), Some(0));
        assert!(l.try_withdraw(0, 0, TENTH).is_none());
    }

    #[test]
    fn credit_and_withdrawals_leave_the_window_together() {
        let mut l = Ledger::new(10);
        l.deposit(0, 10);
        assert_eq!(l.try_withdraw(5, 0, TENTH), Some(5));
        // Bucket 0's deposits leave at bucket 10, the withdrawal at 15.
        l.advance(10);
        assert_eq!(l.totals(), (0, 1));
        l.deposit(10, 10);
        assert!(l.try_withdraw(14, 0, TENTH).is_none());
        assert!(l.try_withdraw(15, 0, TENTH).is_some());
    }

    #[test]
    fn deposits_for_expired_buckets_are_dropped() {
        let mut l = Ledger::new(4);
        l.advance(10);
        l.deposit(6, 100);
        assert_eq!(l.totals(), (0, 0));
        l.deposit(7, 100);
        assert_eq!(l.totals(), (100, 0));
    }

    #[test]
    fn cancel_returns_the_callers_own_withdrawal() {
        let mut l = Ledger::new(4);
        assert_eq!(l.try_withdraw(0, 2 * UNIT, 0), Some(0));
        let second = l.try_withdraw(2, 2 * UNIT, 0).unwrap();
        assert!(l.try_withdraw(2, 2 * UNIT, 0).is_none());
        assert!(l.cancel(second, 2));
        // Bucket 2's withdrawal was given back, so at bucket 4 (bucket 0
        // gone) nothing is left; at bucket 3 bucket 0's still was.
        assert_eq!(l.totals(), (0, 1));
        l.advance(4);
        assert_eq!(l.totals(), (0, 0));
    }

    // Issue 13, defect 2: a cancel after its own withdrawal expired used
    // to give back the oldest one in the window, another request's.
    #[test]
    fn cancel_after_expiry_gives_back_nothing() {
        let mut l = Ledger::new(4);
        let old = l.try_withdraw(0, UNIT, 0).unwrap();
        // Bucket 0 has left the window at bucket 4; the floor refilled.
        let live = l.try_withdraw(4, UNIT, 0).unwrap();
        assert!(!l.cancel(old, 5), "expired: nothing to give back");
        assert_eq!(l.totals(), (0, 1), "the live withdrawal stays");
        assert!(l.try_withdraw(5, UNIT, 0).is_none());
        assert!(l.cancel(live, 5));
        assert!(!l.cancel(live, 5), "each withdrawal is given back once");
    }

    #[test]
    fn the_floor_refills_every_window() {
        let mut l = Ledger::new(2);
        assert!(l.try_withdraw(0, UNIT, 0).is_some());
        assert!(l.try_withdraw(1, UNIT, 0).is_none());
        assert!(l.try_withdraw(2, UNIT, 0).is_some());
    }

    #[test]
    fn huge_jumps_clear_every_bucket_once() {
        let mut l = Ledger::new(3);
        l.deposit(1, 5);
        l.advance(u64::MAX);
        assert_eq!(l.totals(), (0, 0));
    }
}
