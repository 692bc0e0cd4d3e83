//! Sliding windows of recent call outcomes.
//!
//! # Window mechanics
//!
//! A breaker judges a backend by the share of recent calls that failed (or
//! were slow). "Recent" is one of two things:
//!
//! - **Count-based**: the last `size` calls, kept in a ring. Each new call
//!   pushes out the oldest one, so the window never holds more than `size`
//!   calls however fast they come.
//! - **Time-based**: the calls of the last `length`, kept in `buckets`
//!   buckets of `length / buckets` each. A bucket is reused (and cleared)
//!   when time comes round to it again, so the window never counts a call
//!   older than `length`; it forgets in steps of one bucket. A call
//!   recorded late, at an instant whose bucket has already been reused, is
//!   dropped: it never erases the newer calls in that slot.
//!
//! Both keep running totals, so reading the rates costs no scan of the ring
//! (the time window sums at most `buckets` small structs).
//!
//! Cost on a healthy backend: once a count window is full of successes, a
//! further success cannot change any rate, so the breaker stops writing
//! and a success costs one atomic load. A time window must note when each
//! success happened, so every call is recorded under the breaker's lock
//! (held for a few instructions) and the layer reads the clock at the end
//! of each call. Prefer a count window on hot paths.

use std::time::Duration;

use tokio::time::Instant;

use crate::buckets::BucketClock;

/// Which window a breaker judges failure and slow-call rates over.
///
/// # Examples
///
/// ```
/// use failsoft::breaker::Window;
/// use std::time::Duration;
///
/// let by_count = Window::Count(100);
/// let by_time = Window::Time { length: Duration::from_secs(30), buckets: 10 };
/// assert_ne!(by_count, by_time);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last `n` calls.
    Count(u32),
    /// The calls of the last `length`, in `buckets` steps.
    Time {
        /// How far back the window reaches.
        length: Duration,
        /// How many buckets the window is split into; it forgets one bucket
        /// at a time.
        buckets: u32,
    },
}

/// Counts read from a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
    pub(crate) slow: u32,
}

/// A window as kept by the breaker core.
#[derive(Debug)]
pub(crate) enum Sliding {
    Count(CountWindow),
    Time(TimeWindow),
}

#[derive(Debug)]
pub(crate) struct CountWindow {
    ring: Box<[u8]>,
    next: usize,
    totals: Totals,
}

#[derive(Debug)]
pub(crate) struct TimeWindow {
    clock: BucketClock,
    buckets: Box<[Bucket]>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    tick: u64,
    totals: Totals,
}

const FAILURE: u8 = 1;
const SLOW: u8 = 2;

// === impl Totals ===

impl Totals {
    fn add(&mut self, failure: bool, slow: bool) {
        self.calls = self.calls.saturating_add(1);
        self.failures = self.failures.saturating_add(u32::from(failure));
        self.slow = self.slow.saturating_add(u32::from(slow));
    }

    /// `failures / calls`, or 0 for an empty window.
    pub(crate) fn failure_rate(&self) -> f64 {
        ratio(self.failures, self.calls)
    }

    /// `slow / calls`, or 0 for an empty window.
    pub(crate) fn slow_rate(&self) -> f64 {
        ratio(self.slow, self.calls)
    }
}

fn ratio(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / f64::from(whole)
    }
}

// === impl Sliding ===

impl Sliding {
    /// A window for a validated [`Window`]; `origin` anchors time buckets.
    pub(crate) fn new(spec: Window, origin: Instant) -> Self {
        match spec {
            Window::Count(size) => Sliding::Count(CountWindow {
                ring: vec![0; size.max(1) as usize].into_boxed_slice(),
                next: 0,
                totals: Totals::default(),
            }),
            Window::Time { length, buckets } => {
                let n = buckets.max(1);
                Sliding::Time(TimeWindow {
                    clock: BucketClock::new(origin, length, n),
                    buckets: vec![Bucket::default(); n as usize].into_boxed_slice(),
                })
            }
        }
    }

    /// Records one call.
    pub(crate) fn record(&mut self, failure: bool, slow: bool, now: Instant) {
        match self {
            Sliding::Count(w) => w.record(failure, slow),
            Sliding::Time(w) => w.record(failure, slow, now),
        }
    }

    /// The counts of the calls still inside the window at `now`.
    pub(crate) fn totals(&self, now: Instant) -> Totals {
        match self {
            Sliding::Count(w) => w.totals,
            Sliding::Time(w) => w.totals(now),
        }
    }

    /// Forgets every call.
    pub(crate) fn clear(&mut self) {
        match self {
            Sliding::Count(w) => {
                w.ring.fill(0);
                w.next = 0;
                w.totals = Totals::default();
            }
            Sliding::Time(w) => w.buckets.fill(Bucket::default()),
        }
    }

    /// `true` when a time window holds no failure and no slow call at
    /// `now`: its plain successes may then be counted apart, without the
    /// lock, and folded in later ([`Self::fold_successes`]).
    pub(crate) fn is_clean_time_window(&self, now: Instant) -> bool {
        match self {
            Sliding::Count(_) => false,
            Sliding::Time(w) => {
                let t = w.totals(now);
                t.failures == 0 && t.slow == 0
            }
        }
    }

    /// Records `count` plain successes that happened between `since` and
    /// `now`, spread evenly over the buckets of that span (a time window;
    /// a count window records them as they come instead).
    pub(crate) fn fold_successes(&mut self, count: u64, since: Instant, now: Instant) {
        if let Sliding::Time(w) = self
            && count > 0
        {
            w.fold_successes(count, since, now);
        }
    }

    /// `true` when the window is full of plain successes, so one more
    /// success would change nothing. Only a count window can know this
    /// without reading the clock.
    pub(crate) fn is_full_of_successes(&self) -> bool {
        match self {
            Sliding::Count(w) => {
                w.totals.calls as usize == w.ring.len()
                    && w.totals.failures == 0
                    && w.totals.slow == 0
            }
            Sliding::Time(_) => false,
        }
    }
}

// === impl CountWindow ===

impl CountWindow {
    fn record(&mut self, failure: bool, slow: bool) {
        let len = self.ring.len();
        if self.totals.calls as usize >= len {
            let old = self.ring[self.next];
            self.totals.calls -= 1;
            self.totals.failures -= u32::from(old & FAILURE != 0);
            self.totals.slow -= u32::from(old & SLOW != 0);
        }
        self.ring[self.next] = if failure { FAILURE } else { 0 } | if slow { SLOW } else { 0 };
        self.totals.add(failure, slow);
        self.next = (self.next + 1) % len;
    }
}

// === impl TimeWindow ===

impl TimeWindow {
    fn tick(&self, now: Instant) -> u64 {
        self.clock.bucket(now)
    }

    fn record(&mut self, failure: bool, slow: bool, now: Instant) {
        let tick = self.tick(now);
        let n = self.buckets.len() as u64;
        let bucket = &mut self.buckets[(tick % n) as usize];
        if bucket.tick > tick {
            // The slot already holds a newer bucket, so this call's bucket
            // has left the window: the call is forgotten, as it would have
            // been had it been recorded on time. (Clearing the slot would
            // erase newer calls.)
            return;
        }
        if bucket.tick != tick {
            *bucket = Bucket {
                tick,
                totals: Totals::default(),
            };
        }
        bucket.totals.add(failure, slow);
    }

    fn fold_successes(&mut self, count: u64, since: Instant, now: Instant) {
        let n = self.buckets.len() as u64;
        let last = self.tick(now);
        let first = self.tick(since).max(last.saturating_sub(n - 1));
        let ticks = last - first + 1;
        for (i, tick) in (first..=last).enumerate() {
            // Spread evenly; the remainder goes to the newest buckets.
            let share = count / ticks + u64::from((i as u64) >= ticks - count % ticks);
            let bucket = &mut self.buckets[(tick % n) as usize];
            if bucket.tick != tick {
                *bucket = Bucket {
                    tick,
                    totals: Totals::default(),
                };
            }
            let share = u32::try_from(share).unwrap_or(u32::MAX);
            bucket.totals.calls = bucket.totals.calls.saturating_add(share);
        }
    }

    fn totals(&self, now: Instant) -> Totals {
        let tick = self.tick(now);
        let n = self.buckets.len() as u64;
        let mut sum = Totals::default();
        for b in self.buckets.iter() {
            // Only buckets of the last `n` ticks; never a future one.
            if b.tick <= tick && tick - b.tick < n {
                sum.calls = sum.calls.saturating_add(b.totals.calls);
                sum.failures = sum.failures.saturating_add(b.totals.failures);
                sum.slow = sum.slow.saturating_add(b.totals.slow);
            }
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time_window(t0: Instant) -> Sliding {
        let spec = Window::Time {
            length: Duration::from_secs(10),
            buckets: 10,
        };
        Sliding::new(spec, t0)
    }

    // Issue 13, defect 9: a call recorded at an instant one full window
    // old maps to the newest bucket's slot and used to clear it.
    #[test]
    fn a_stale_instant_does_not_erase_newer_calls() {
        let t0 = Instant::now();
        let mut w = time_window(t0);
        let newest = t0 + Duration::from_millis(10_500);
        for _ in 0..5 {
            w.record(true, false, newest);
        }
        w.record(false, false, t0 + Duration::from_millis(500));
        let totals = w.totals(newest);
        assert_eq!((totals.calls, totals.failures), (5, 5));
        // Stale but still inside the window: counted in its own bucket.
        w.record(false, false, t0 + Duration::from_millis(1_500));
        assert_eq!(w.totals(newest).calls, 6);
    }

    #[test]
    fn a_bucket_is_reused_once_time_comes_round_to_it() {
        let t0 = Instant::now();
        let mut w = time_window(t0);
        w.record(true, false, t0);
        let later = t0 + Duration::from_secs(10);
        w.record(false, true, later);
        let totals = w.totals(later);
        assert_eq!((totals.calls, totals.failures, totals.slow), (1, 0, 1));
    }
}
