//! A timer wheel of whole milliseconds for the replay's event loops.
//!
//! Timers go into a ring of buckets of a power of two milliseconds (at
//! most the replay's tick), in the order set: setting one only appends to
//! a bucket that is hot in the cache, wherever in the next seconds it
//! fires. When the wheel reaches a bucket, it sorts the bucket's timers by
//! millisecond with a counting sort (keeping the order set within one).
//! Timers set for a bucket already reached wait in a small heap, and those
//! beyond the ring's span in a heap of their own. Timers of one millisecond
//! fire in the order they were set, so a replay is deterministic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

/// A timer in a heap: millisecond, order set, item.
type Entry<T> = Reverse<(u64, u64, T)>;

/// Timers carrying a `T` each, fired in order of their millisecond.
#[derive(Debug)]
pub(crate) struct Wheel<T> {
    /// Bucket `b & (len - 1)` holds the timers of milliseconds
    /// `[b << shift, (b + 1) << shift)`, for buckets `b` in
    /// `[loaded, loaded + len)`; `len` is a power of two.
    ring: Vec<Vec<(u64, T)>>,
    /// Buckets are `1 << shift` milliseconds wide.
    shift: u32,
    /// The first bucket not sorted into `sorted` yet.
    loaded: u64,
    /// Timers of the buckets reached, in firing order from `pos` on.
    sorted: Vec<(u64, T)>,
    pos: usize,
    /// Timers set for buckets already reached.
    late: BinaryHeap<Entry<T>>,
    /// Timers beyond the ring's span.
    later: BinaryHeap<Entry<T>>,
    /// Timers set into a heap so far (their order there).
    set: u64,
    /// The first millisecond not fired yet.
    next: u64,
    /// Scratch of the counting sort: the timers of the bucket being
    /// loaded, then where each millisecond of it goes in `sorted`.
    spill: Vec<(u64, T)>,
    counts: Vec<usize>,
    /// Timers in the ring, so a stretch of empty buckets is skipped at once.
    in_ring: usize,
}

/// Whole milliseconds in `d`, rounded up (as the runtime's timers round).
pub(crate) fn ms_ceil(d: Duration) -> u64 {
    let sub = d.subsec_nanos().div_ceil(1_000_000);
    d.as_secs()
        .saturating_mul(1_000)
        .saturating_add(u64::from(sub))
}

// === impl Wheel ===

impl<T: Ord + Copy> Wheel<T> {
    /// An empty wheel of buckets of at most `bucket_ms` whose ring spans at
    /// least `span_ms` (capped at about a minute: longer timers wait in a
    /// heap).
    pub(crate) fn new(span_ms: u64, bucket_ms: u64) -> Self {
        let shift = bucket_ms.max(1).ilog2().min(16);
        let len = ((span_ms.min(1 << 16) >> shift) + 2).next_power_of_two() as usize;
        Self {
            ring: (0..len).map(|_| Vec::new()).collect(),
            shift,
            loaded: 0,
            sorted: Vec::new(),
            pos: 0,
            late: BinaryHeap::new(),
            later: BinaryHeap::new(),
            set: 0,
            next: 0,
            spill: Vec::new(),
            counts: vec![0; 1 << shift],
            in_ring: 0,
        }
    }

    /// Sets a timer firing `item` at `ms` (at once, with the current
    /// millisecond, if `ms` has passed).
    pub(crate) fn set(&mut self, ms: u64, item: T) {
        let ms = ms.max(self.next);
        let bucket = ms >> self.shift;
        let len = self.ring.len() as u64;
        if bucket >= self.loaded && bucket - self.loaded < len {
            self.ring[(bucket & (len - 1)) as usize].push((ms, item));
            self.in_ring += 1;
            return;
        }
        self.set += 1;
        let entry = Reverse((ms, self.set, item));
        if bucket < self.loaded {
            self.late.push(entry);
        } else {
            self.later.push(entry);
        }
    }

    /// Fires every timer up to and including `until`, calling `fire` with
    /// the millisecond and item; timers `fire` sets meanwhile fire too when
    /// due by `until`.
    pub(crate) fn advance(&mut self, until: u64, mut fire: impl FnMut(&mut Self, u64, T)) {
        if until < self.next {
            return;
        }
        while let Some((ms, item)) = self.pop(until) {
            fire(self, ms, item);
        }
        self.next = until + 1;
    }

    /// Takes the first timer due by `until`, with its millisecond, if any.
    /// Timers set later for a millisecond before it fire at it.
    pub(crate) fn pop(&mut self, until: u64) -> Option<(u64, T)> {
        let (ms, from_sorted) = self.first(until)?;
        let item = if from_sorted {
            self.pos += 1;
            self.sorted[self.pos - 1].1
        } else {
            self.late.pop()?.0.2
        };
        self.next = ms;
        Some((ms, item))
    }

    /// The first timer due by `until`, with its millisecond, left in place.
    pub(crate) fn peek(&mut self, until: u64) -> Option<(u64, T)> {
        let (ms, from_sorted) = self.first(until)?;
        let item = if from_sorted {
            self.sorted[self.pos].1
        } else {
            self.late.peek()?.0.2
        };
        Some((ms, item))
    }

    /// The millisecond of the first timer due by `until`, and whether it
    /// is in `sorted` (else in `late`).
    fn first(&mut self, until: u64) -> Option<(u64, bool)> {
        if until < self.next {
            return None;
        }
        self.load(until >> self.shift);
        let first = self.sorted.get(self.pos).map(|e| e.0);
        let late = self.late.peek().map(|Reverse(e)| e.0);
        // On a tie the sorted timer goes first: it was set earlier.
        let (ms, from_sorted) = match (first, late) {
            (Some(a), Some(b)) if b < a => (b, false),
            (Some(a), _) => (a, true),
            (None, Some(b)) => (b, false),
            (None, None) => return None,
        };
        (ms <= until).then_some((ms, from_sorted))
    }

    /// Sorts the buckets up to `last` into `sorted`.
    fn load(&mut self, last: u64) {
        if self.pos == self.sorted.len() {
            self.sorted.clear();
            self.pos = 0;
        }
        let mask = self.ring.len() as u64 - 1;
        while self.loaded <= last {
            if self.in_ring == 0 {
                // Nothing in the ring: go straight to the first bucket
                // holding a timer from beyond the span, or past `last`.
                let later = self
                    .later
                    .peek()
                    .map(|Reverse((ms, _, _))| ms >> self.shift);
                let to = later.map_or(last + 1, |b| b.min(last + 1));
                self.loaded = self.loaded.max(to);
                if self.loaded > last {
                    break;
                }
            }
            // Timers from beyond the span were set before the bucket's
            // own: they go first.
            while let Some(Reverse((ms, _, _))) = self.later.peek() {
                if ms >> self.shift > self.loaded {
                    break;
                }
                if let Some(Reverse((ms, _, item))) = self.later.pop() {
                    self.spill.push((ms, item));
                }
            }
            let bucket = &mut self.ring[(self.loaded & mask) as usize];
            self.in_ring -= bucket.len();
            if self.spill.is_empty() {
                std::mem::swap(&mut self.spill, bucket);
            } else {
                self.spill.append(bucket);
            }
            self.sort_spill(self.loaded << self.shift);
            self.loaded += 1;
        }
    }

    /// Appends the timers in `spill` (of milliseconds from `base` on, one
    /// bucket's worth) to `sorted` by millisecond, keeping their order
    /// within one, and empties `spill`.
    fn sort_spill(&mut self, base: u64) {
        let Some(&fill) = self.spill.first() else {
            return;
        };
        let top = self.counts.len() - 1;
        let slot = |ms: u64| (ms.saturating_sub(base) as usize).min(top);
        self.counts.fill(0);
        for e in &self.spill {
            self.counts[slot(e.0)] += 1;
        }
        let mut at = self.sorted.len();
        for c in &mut self.counts {
            let n = *c;
            *c = at;
            at += n;
        }
        self.sorted.resize(at, fill);
        for &e in &self.spill {
            let c = &mut self.counts[slot(e.0)];
            self.sorted[*c] = e;
            *c += 1;
        }
        self.spill.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(wheel: &mut Wheel<u32>, until: u64) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        wheel.advance(until, |_, ms, item| out.push((ms, item)));
        out
    }

    #[test]
    fn timers_fire_by_millisecond_then_in_the_order_set() {
        let mut wheel = Wheel::new(8, 2);
        wheel.set(5, 1);
        wheel.set(3, 2);
        wheel.set(5, 3);
        assert_eq!(fired(&mut wheel, 4), vec![(3, 2)]);
        assert_eq!(fired(&mut wheel, 10), vec![(5, 1), (5, 3)]);
        assert!(fired(&mut wheel, 20).is_empty());
    }

    #[test]
    fn timers_beyond_the_span_wait_and_fire_on_time() {
        let mut wheel = Wheel::new(4, 2);
        wheel.set(1_000, 7);
        wheel.set(2, 8);
        assert_eq!(fired(&mut wheel, 999), vec![(2, 8)]);
        assert_eq!(fired(&mut wheel, 1_000), vec![(1_000, 7)]);
    }

    #[test]
    fn a_timer_set_while_firing_fires_when_due() {
        let mut wheel = Wheel::<u32>::new(16, 3);
        wheel.set(1, 0);
        let mut out = Vec::new();
        wheel.advance(5, |w, ms, item| {
            out.push((ms, item));
            if item < 3 {
                // Once at the same millisecond, then two later.
                w.set(ms + u64::from(item), item + 1);
            }
        });
        assert_eq!(out, vec![(1, 0), (1, 1), (2, 2), (4, 3)]);
    }

    #[test]
    fn peeking_and_popping_take_timers_one_at_a_time_in_firing_order() {
        let mut wheel = Wheel::new(16, 4);
        wheel.set(7, 1);
        wheel.set(2, 2);
        wheel.set(7, 3);
        assert_eq!(wheel.peek(1), None);
        assert_eq!(wheel.peek(6), Some((2, 2)));
        assert_eq!(wheel.pop(6), Some((2, 2)));
        assert_eq!(wheel.pop(6), None);
        // Set after 2 fired, for a millisecond already passed: due at 2.
        wheel.set(1, 4);
        assert_eq!(wheel.pop(6), Some((2, 4)));
        assert_eq!(wheel.pop(9), Some((7, 1)));
        assert_eq!(wheel.pop(9), Some((7, 3)));
        assert_eq!(wheel.pop(9), None);
    }

    #[test]
    fn a_timer_from_beyond_the_span_fires_before_a_later_set_one_of_its_millisecond() {
        let mut wheel = Wheel::new(4, 2);
        wheel.set(100, 1);
        assert!(fired(&mut wheel, 95).is_empty());
        // Now within the ring's span: set after the first, fires after it.
        wheel.set(100, 2);
        wheel.set(99, 3);
        assert_eq!(fired(&mut wheel, 100), vec![(99, 3), (100, 1), (100, 2)]);
    }

    #[test]
    fn random_timers_fire_by_millisecond_then_in_the_order_set() {
        use crate::rng::Rng;
        use std::collections::BTreeSet;
        let mut rng = Rng::from_seed(17);
        let mut wheel = Wheel::new(300, 100);
        // The model: every timer as (millisecond, order set, item).
        let mut model = BTreeSet::new();
        let (mut next, mut count, mut order) = (0u64, 0u32, 0u32);
        let mut until = 0;
        for _ in 0..400 {
            for _ in 0..(rng.next_u64() % 20) {
                let ms = until + rng.next_u64() % 1_000;
                wheel.set(ms, count);
                model.insert((ms.max(next), order, count));
                (count, order) = (count + 1, order + 1);
            }
            until += rng.next_u64() % 150;
            let mut seen = Vec::new();
            wheel.advance(until, |w, ms, item| {
                seen.push((ms, item));
                // Some timers set more, due at once or soon.
                if item % 3 == 0 {
                    w.set(ms + u64::from(item % 5), item + 1_000_000);
                }
            });
            let mut want = Vec::new();
            while let Some(&(ms, _, item)) = model.first().filter(|e| e.0 <= until) {
                model.pop_first();
                next = ms;
                want.push((ms, item));
                if item % 3 == 0 {
                    let at = (ms + u64::from(item % 5)).max(next);
                    model.insert((at, order, item + 1_000_000));
                    order += 1;
                }
            }
            next = until + 1;
            assert_eq!(seen, want, "until {until}");
        }
        assert!(count > 3_000, "{count} timers");
    }

    #[test]
    fn whole_milliseconds_round_up() {
        assert_eq!(ms_ceil(Duration::ZERO), 0);
        assert_eq!(ms_ceil(Duration::from_nanos(1)), 1);
        assert_eq!(ms_ceil(Duration::from_millis(5_000)), 5_000);
        assert_eq!(ms_ceil(Duration::new(2, 1_000_001)), 2_002);
        assert_eq!(ms_ceil(Duration::MAX), u64::MAX);
    }

    #[test]
    fn a_query_far_ahead_skips_empty_buckets_at_once() {
        let mut wheel = Wheel::new(1_000, 64);
        wheel.set(5, 1);
        // Bucket by bucket, these would take billions of steps.
        assert_eq!(wheel.pop(u64::MAX / 2), Some((5, 1)));
        assert_eq!(wheel.pop(u64::MAX / 2), None);
        wheel.set(1 << 40, 2);
        wheel.set((1 << 40) + 3, 3);
        assert_eq!(wheel.pop(u64::MAX / 2), Some((1 << 40, 2)));
        // Set near the new position, in the ring again.
        wheel.set((1 << 40) + 1, 4);
        assert_eq!(
            fired(&mut wheel, u64::MAX / 2),
            vec![((1 << 40) + 1, 4), ((1 << 40) + 3, 3)]
        );
    }

    #[test]
    fn a_timer_in_the_past_fires_next() {
        let mut wheel = Wheel::new(16, 4);
        assert!(fired(&mut wheel, 9).is_empty());
        wheel.set(3, 1);
        assert_eq!(fired(&mut wheel, 10), vec![(10, 1)]);
    }
}
