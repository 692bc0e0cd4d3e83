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

/// Requests and accepts over a sliding window of buckets.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    slots: Box<[Counts]>,
    epoch: Instant,
    bucket_nanos: u128,
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
            epoch,
            bucket_nanos: (window.as_nanos() / u128::from(buckets)).max(1),
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

    /// Moves the window to `now`'s bucket (never backwards).
    fn advance(&mut self, now: Instant) {
        let nanos = now.saturating_duration_since(self.epoch).as_nanos();
        let bucket = u64::try_from(nanos / self.bucket_nanos).unwrap_or(u64::MAX);
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
        self.record(now, 1, 0);
        let head = self.head;
        self.slot(head).rejected += 1;
        self.totals.rejected += 1;
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
    /// The newest two buckets ([`Self::recent`]) bound it from above once
    /// they hold `min_requests` requests (at least one) and the backend
    /// accepted at least `1 − 1/(2K)` of the attempts sent in them (three
    /// quarters at `K = 2`, well above the `1/K` the rule holds an
    /// overloaded backend to): by the same formula over them, and by 0 if
    /// they also hold `min_requests` sent attempts. A backend that accepts
    /// again is believed within a few buckets, whatever the client
    /// rejected before, while an overloaded one is judged by the whole
    /// window as the SRE rule has it (a bound taken from the newest
    /// buckets alone would be biased low by their noise).
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
        whole.min(self.formula(recent))
    }

    fn formula(&self, counts: Counts) -> f64 {
        let requests = counts.requests as f64;
        let accepts = counts.accepts as f64;
        let p = (requests - self.k * accepts) / (requests + 1.0);
        p.clamp(0.0, self.max_probability)
    }

    /// The counts of the newest two buckets (the current one, partly
    /// filled, and the one before it), as of the last update.
    fn recent(&self) -> Counts {
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
        let accepts = self.recent().accepts;
        if accepts < self.min_requests.max(1) {
            return None;
        }
        let accepts = accepts as f64;
        let first = self.head.saturating_sub(1);
        let start_nanos = u128::from(first) * self.bucket_nanos;
        let now_nanos = now.saturating_duration_since(self.epoch).as_nanos();
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
}
