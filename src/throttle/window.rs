//! The throttle's pure core: requests and accepts over a bucketed window,
//! and the SRE book's rejection probability.
//!
//! # Window mechanics
//!
//! Time is cut into buckets of `window / buckets`, counted from the moment
//! the window was made. Counts go to the bucket of the `now` they are
//! recorded at; a bucket leaves the window once `buckets` newer buckets
//! exist. Running totals are kept, so the probability costs O(1); moving the
//! window forward clears at most `buckets` slots, however long the gap.

use std::time::Duration;

use tokio::time::Instant;

use crate::buckets::BucketClock;

/// Requests and accepts over a sliding window of buckets.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    slots: Box<[Counts]>,
    clock: BucketClock,
    head: u64,
    totals: Counts,
    k: f64,
    max_probability: f64,
    min_requests: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    requests: u64,
    accepts: u64,
    /// Of the requests, those the throttle itself rejected.
    rejected: u64,
}

// === impl Window ===

impl Window {
    /// A window of `buckets` buckets spanning `window`, starting at `epoch`.
    /// The builder has checked `window >= buckets` milliseconds.
    pub(crate) fn new(
        window: Duration,
        buckets: u32,
        k: f64,
        max_probability: f64,
        min_requests: u64,
        epoch: Instant,
    ) -> Self {
        let buckets = buckets.max(1);
        Self {
            slots: vec![Counts::default(); buckets as usize].into_boxed_slice(),
            clock: BucketClock::new(epoch, window, buckets),
            head: 0,
            totals: Counts::default(),
            k,
            max_probability,
            min_requests,
        }
    }

    fn slot(&mut self, bucket: u64) -> &mut Counts {
        let i = (bucket % self.slots.len() as u64) as usize;
        &mut self.slots[i]
    }

    /// How this window numbers its buckets, to tell without the window
    /// (and its lock) whether `now` is in a newer bucket.
    pub(crate) fn clock(&self) -> BucketClock {
        self.clock
    }

    /// Moves the window to `now`'s bucket (never backwards).
    fn advance(&mut self, now: Instant) {
        let bucket = self.clock.bucket(now);
        if bucket <= self.head {
            return;
        }
        let steps = (bucket - self.head).min(self.slots.len() as u64);
        for b in (bucket - steps + 1)..=bucket {
            let old = std::mem::take(self.slot(b));
            self.totals.requests -= old.requests;
            self.totals.accepts -= old.accepts;
            self.totals.rejected -= old.rejected;
        }
        self.head = bucket;
    }

    /// Counts one request sent to the backend at `now`.
    pub(crate) fn record_request(&mut self, now: Instant) {
        self.record(now, 1, 0);
    }

    /// Counts one accept (the backend handled the request) at `now`.
    pub(crate) fn record_accept(&mut self, now: Instant) {
        self.record(now, 0, 1);
    }

    /// Counts one request the throttle rejected itself at `now`.
    pub(crate) fn record_rejection(&mut self, now: Instant) {
        self.advance(now);
        self.record_rejections(1);
    }

    /// Counts `n` requests the throttle rejected itself in the newest
    /// bucket the window has moved to, without moving it. Rejections
    /// counted without the lock are folded this way, before the window
    /// moves on to the folding call's `now`: in the bucket they were made
    /// in, or an earlier one, never a later one, where they would keep
    /// the probability up for longer than they happened.
    pub(crate) fn record_rejections(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        let head = self.head;
        let slot = self.slot(head);
        slot.requests = slot.requests.saturating_add(n);
        slot.rejected = slot.rejected.saturating_add(n);
        self.totals.requests = self.totals.requests.saturating_add(n);
        self.totals.rejected = self.totals.rejected.saturating_add(n);
    }

    /// Counts `requests` requests and `accepts` accepts at `now`.
    pub(crate) fn record(&mut self, now: Instant, requests: u64, accepts: u64) {
        self.advance(now);
        let head = self.head;
        let slot = self.slot(head);
        slot.requests = slot.requests.saturating_add(requests);
        slot.accepts = slot.accepts.saturating_add(accepts);
        self.totals.requests = self.totals.requests.saturating_add(requests);
        self.totals.accepts = self.totals.accepts.saturating_add(accepts);
    }

    /// `min(max_probability, max(0, (requests − K·accepts) / (requests + 1)))`
    /// over the window at `now`; 0 while the window holds fewer than
    /// `min_requests` requests.
    ///
    /// The newest buckets ([`Self::recent`]: the newest two, and older
    /// ones until they hold `min_requests` requests) bound it from above
    /// once they hold `min_requests` requests (at least one) and the
    /// backend accepted at least `1 − 1/(2K)` of the attempts sent in them
    /// (three quarters at `K = 2`, well above the `1/K` the rule holds an
    /// overloaded backend to): by 0 if they also hold `min_requests` sent
    /// attempts, otherwise by the same formula over them with `2K` in place
    /// of `K`. The rule's `K` is how far a client may send beyond the
    /// accepts of an overloaded backend; a backend that accepts what it is
    /// sent is not overloaded by this client, so the client may double
    /// what it sends per span of `min_requests` requests rather than grow
    /// it by `K`, whatever it rejected before. (With `K`, a fleet of quiet
    /// devices at 0.5 requests/s took 40–55 s to reach 95 % of its demand
    /// after a brownout, `seeds/brownout.toml`; with `2K`, 19–20 s.) An
    /// overloaded backend is judged by the whole window as the SRE rule
    /// has it (a bound from the newest buckets alone would be biased low
    /// by their noise).
    pub(crate) fn probability(&mut self, now: Instant) -> f64 {
        self.advance(now);
        if self.totals.requests < self.min_requests {
            return 0.0;
        }
        let whole = self.formula(self.totals);
        let recent = self.recent();
        let enough = self.min_requests.max(1);
        let sent = recent.requests - recent.rejected;
        let two_k = 2.0 * self.k;
        let accepting = sent > 0 && recent.accepts as f64 * two_k >= sent as f64 * (two_k - 1.0);
        if recent.requests < enough || !accepting {
            return whole;
        }
        if sent >= enough {
            return 0.0;
        }
        whole.min(self.formula_k(recent, two_k))
    }

    fn formula(&self, counts: Counts) -> f64 {
        self.formula_k(counts, self.k)
    }

    fn formula_k(&self, counts: Counts, k: f64) -> f64 {
        let requests = counts.requests as f64;
        let accepts = counts.accepts as f64;
        let p = (requests - k * accepts) / (requests + 1.0);
        p.clamp(0.0, self.max_probability)
    }

    /// The counts of the newest buckets: the newest two (the current one,
    /// partly filled, and the one before it), and older ones after them
    /// until they hold `min_requests` requests or the window ends. A busy
    /// client is judged by its last few seconds; a quiet one (a device
    /// sending every few seconds) by its last `min_requests` requests,
    /// which a window of minutes would otherwise hold for minutes.
    fn recent(&self) -> Counts {
        let enough = self.min_requests.max(1);
        let len = self.slots.len() as u64;
        let mut sum = Counts::default();
        for back in 0..len.min(self.head + 1) {
            if back >= 2 && sum.requests >= enough {
                break;
            }
            let slot = self.slots[((self.head - back) % len) as usize];
            sum.requests = sum.requests.saturating_add(slot.requests);
            sum.accepts = sum.accepts.saturating_add(slot.accepts);
            sum.rejected = sum.rejected.saturating_add(slot.rejected);
        }
        sum
    }

    /// The counts of the newest two buckets, as of the last update.
    fn newest_two(&self) -> Counts {
        let len = self.slots.len() as u64;
        let mut sum = self.slots[(self.head % len) as usize];
        if self.head >= 1 && len > 1 {
            let prev = self.slots[((self.head - 1) % len) as usize];
            sum.requests = sum.requests.saturating_add(prev.requests);
            sum.accepts = sum.accepts.saturating_add(prev.accepts);
            sum.rejected = sum.rejected.saturating_add(prev.rejected);
        }
        sum
    }

    /// Accepts per second over the newest two buckets at `now` (the span
    /// from the start of the older one to `now`), when they hold at least
    /// `min_requests` accepts (at least one): enough to measure.
    pub(crate) fn busy_accept_rate(&mut self, now: Instant) -> Option<f64> {
        self.advance(now);
        let accepts = self.newest_two().accepts;
        if accepts < self.min_requests.max(1) {
            return None;
        }
        let accepts = accepts as f64;
        let first = self.head.saturating_sub(1);
        let start_nanos = self.clock.start_nanos(first);
        let now_nanos = self.clock.nanos(now);
        let span = (now_nanos.saturating_sub(start_nanos) as f64 / 1e9).max(1e-3);
        Some(accepts / span)
    }

    /// Requests and accepts inside the window (as of the last update).
    pub(crate) fn totals(&self) -> (u64, u64) {
        (self.totals.requests, self.totals.accepts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(t0: Instant) -> Window {
        Window::new(Duration::from_secs(120), 12, 2.0, 0.9, 0, t0)
    }

    #[test]
    fn healthy_backend_gives_zero_probability() {
        let t0 = Instant::now();
        let mut w = window(t0);
        for _ in 0..100 {
            w.record_request(t0);
            w.record_accept(t0);
        }
        assert_eq!(w.probability(t0), 0.0);
    }

    #[test]
    fn probability_follows_the_sre_formula() {
        let t0 = Instant::now();
        let mut w = Window::new(Duration::from_secs(120), 12, 2.0, 0.99, 0, t0);
        for i in 0..100 {
            w.record_request(t0);
            if i < 20 {
                w.record_accept(t0);
            }
        }
        // (100 - 2 × 20) / 101
        assert!((w.probability(t0) - 60.0 / 101.0).abs() < 1e-12);
    }

    #[test]
    fn probability_is_capped() {
        let t0 = Instant::now();
        let mut w = window(t0);
        for _ in 0..1_000 {
            w.record_request(t0);
        }
        assert_eq!(w.probability(t0), 0.9);
    }

    #[test]
    fn counts_leave_after_the_window() {
        let t0 = Instant::now();
        let mut w = window(t0);
        for _ in 0..50 {
            w.record_request(t0);
        }
        assert_eq!(w.totals(), (50, 0));
        assert_eq!(w.probability(t0 + Duration::from_secs(119)), 0.9);
        assert_eq!(w.probability(t0 + Duration::from_secs(120)), 0.0);
        assert_eq!(w.totals(), (0, 0));
    }

    #[test]
    fn time_never_runs_backwards() {
        let t0 = Instant::now();
        let mut w = window(t0);
        w.record_request(t0 + Duration::from_secs(60));
        w.record_request(t0);
        assert_eq!(w.totals(), (2, 0));
    }

    #[test]
    fn quiet_windows_never_reject() {
        let t0 = Instant::now();
        let mut w = Window::new(Duration::from_secs(120), 12, 2.0, 0.9, 10, t0);
        for n in 1..=9 {
            w.record_request(t0);
            assert_eq!(w.probability(t0), 0.0, "{n} failed requests");
        }
        w.record_request(t0);
        // 10 requests, none accepted: (10 - 0) / 11, capped.
        assert_eq!(w.probability(t0), 0.9);
    }

    /// A device at one request every 2 s, throttled near the cap by a
    /// minute of failures: once what it still sends is accepted, its last
    /// `min_requests` requests judge it (20 s of them), not the whole
    /// 2-minute window, and the bound lets its sends double per span.
    #[test]
    fn a_quiet_client_is_judged_by_its_last_min_requests_requests() {
        let t0 = Instant::now();
        let mut w = Window::new(Duration::from_secs(120), 60, 2.0, 0.9, 10, t0);
        let at = |s: u64| t0 + Duration::from_secs(s);
        for s in (0..60).step_by(2) {
            w.record_request(at(s));
        }
        assert!(w.probability(at(60)) >= 0.89);
        // 20 s healthy: 10 requests, 3 of them sent and accepted.
        for (i, s) in (60..80).step_by(2).enumerate() {
            if i % 3 == 0 && i < 9 {
                w.record(at(s), 1, 1);
            } else {
                w.record_rejection(at(s));
            }
        }
        let whole = w.formula(w.totals);
        assert!(whole > 0.7, "the whole window still says {whole}");
        // 10 requests, 3 accepts: (10 - 4 * 3) / 11 < 0 with 2K.
        assert_eq!(w.probability(at(80)), 0.0);
        // A backend that accepts less than three quarters of what it is
        // sent is judged by the whole window, however recent.
        w.record(at(81), 1, 0);
        w.record(at(81), 1, 0);
        assert!(w.probability(at(81)) > 0.7);
    }
}
