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
mod tests;
