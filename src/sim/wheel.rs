//! A timer wheel of whole milliseconds for the plain event loop.
//!
//! Timers within the wheel's span sit in a ring of per-millisecond buckets
//! (pushing and firing cost O(1)); later ones wait in a heap until they come
//! within the span. Timers of one millisecond fire in the order they were
//! set, so a replay is deterministic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Timers carrying a `T` each, fired in order of their millisecond.
#[derive(Debug)]
pub(crate) struct Wheel<T> {
    /// Bucket `ms % len` holds the timers of `ms`, for `ms` in
    /// `[next, next + len)`.
    ring: Vec<Vec<T>>,
    /// Timers beyond the ring's span: `(ms, order set, item)`.
    later: BinaryHeap<Reverse<(u64, u64, T)>>,
    set: u64,
    /// The first millisecond not fired yet.
    next: u64,
    spare: Vec<T>,
}

// === impl Wheel ===

impl<T: Ord> Wheel<T> {
    /// An empty wheel whose ring spans at least `span_ms` (a power of two
    /// at least that long, capped at about a minute: longer timers wait in
    /// the heap).
    pub(crate) fn new(span_ms: u64) -> Self {
        let len = span_ms.clamp(1, 1 << 16).next_power_of_two() as usize;
        Self {
            ring: (0..len).map(|_| Vec::new()).collect(),
            later: BinaryHeap::new(),
            set: 0,
            next: 0,
            spare: Vec::new(),
        }
    }

    /// Sets a timer firing `item` at `ms` (at once, with the current
    /// millisecond, if `ms` has passed).
    pub(crate) fn set(&mut self, ms: u64, item: T) {
        let ms = ms.max(self.next);
        let len = self.ring.len() as u64;
        if ms - self.next < len {
            self.ring[(ms % len) as usize].push(item);
        } else {
            self.set += 1;
            self.later.push(Reverse((ms, self.set, item)));
        }
    }

    /// Fires every timer up to and including `until`, calling `fire` with
    /// the millisecond and item; timers `fire` sets meanwhile fire too when
    /// due by `until`.
    pub(crate) fn advance(&mut self, until: u64, mut fire: impl FnMut(&mut Self, u64, T)) {
        while self.next <= until {
            let ms = self.next;
            let len = self.ring.len() as u64;
            // Timers that came within the span enter their bucket after
            // those set directly into it: they were set earlier, but the
            // order within a millisecond only has to be deterministic.
            while let Some(Reverse((at, _, _))) = self.later.peek() {
                if *at - ms >= len {
                    break;
                }
                if let Some(Reverse((at, _, item))) = self.later.pop() {
                    self.ring[(at % len) as usize].push(item);
                }
            }
            let bucket = (ms % len) as usize;
            while !self.ring[bucket].is_empty() {
                let mut due =
                    std::mem::replace(&mut self.ring[bucket], std::mem::take(&mut self.spare));
                for item in due.drain(..) {
                    fire(self, ms, item);
                }
                self.spare = due;
            }
            self.next = ms + 1;
        }
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
        let mut wheel = Wheel::new(8);
        wheel.set(5, 1);
        wheel.set(3, 2);
        wheel.set(5, 3);
        assert_eq!(fired(&mut wheel, 4), vec![(3, 2)]);
        assert_eq!(fired(&mut wheel, 10), vec![(5, 1), (5, 3)]);
        assert!(fired(&mut wheel, 20).is_empty());
    }

    #[test]
    fn timers_beyond_the_span_wait_and_fire_on_time() {
        let mut wheel = Wheel::new(4);
        wheel.set(1_000, 7);
        wheel.set(2, 8);
        assert_eq!(fired(&mut wheel, 999), vec![(2, 8)]);
        assert_eq!(fired(&mut wheel, 1_000), vec![(1_000, 7)]);
    }

    #[test]
    fn a_timer_set_while_firing_fires_when_due() {
        let mut wheel = Wheel::<u32>::new(16);
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
    fn a_timer_in_the_past_fires_next() {
        let mut wheel = Wheel::new(16);
        assert!(fired(&mut wheel, 9).is_empty());
        wheel.set(3, 1);
        assert_eq!(fired(&mut wheel, 10), vec![(10, 1)]);
    }
}
