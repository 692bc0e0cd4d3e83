//! The replay's own clock and timers, which the layers read on the thread
//! replaying a layered strategy.
//!
//! Tokio's paused clock does the same job, but each instant it jumps to
//! costs a pass through the runtime (its driver, its metrics and a lock on
//! the clock), and every read of `now` takes that lock. Here `now` is a
//! thread-local copy and a timer is an entry in a [`Wheel`] of whole
//! milliseconds, the resolution of Tokio's timers: a deadline fires at the
//! first millisecond at or after it, and timers of one millisecond fire in
//! the order they were set.
//!
//! The layers reach this through the crate's time seam
//! ([`failsoft::time::Timer`](crate::time::Timer)), as any program that keeps
//! its own time would: on a thread without an installed [`Clock`] the
//! replay's timer answers `None`, and the layers use Tokio's clock and
//! timers as always.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

use super::wheel::{Wheel, ms_ceil};
use crate::time::{Timer, TimerSleep};

/// The replay's [`Timer`]: the thread's [`Clock`], where one is installed.
struct ReplayTimer;

static REPLAY_TIMER: ReplayTimer = ReplayTimer;

impl Timer for ReplayTimer {
    #[inline]
    fn now(&self) -> Option<Instant> {
        now()
    }

    fn sleep_until(&self, deadline: Instant) -> Option<Pin<Box<dyn TimerSleep>>> {
        SimSleep::until(deadline).map(|s| Box::pin(s) as Pin<Box<dyn TimerSleep>>)
    }

    fn sleep(&self, delay: Duration) -> Option<Pin<Box<dyn TimerSleep>>> {
        SimSleep::after(delay).map(|s| Box::pin(s) as Pin<Box<dyn TimerSleep>>)
    }
}

thread_local! {
    /// The simulated time, while a [`Clock`] is installed on this thread.
    static NOW: Cell<Option<Instant>> = const { Cell::new(None) };
    static TIMERS: RefCell<Option<Timers>> = const { RefCell::new(None) };
}

/// A timer's entry: its index in the table and the table entry's
/// generation when it was set, so a timer cancelled and reused is never
/// fired for its old owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    index: u32,
    generation: u32,
}

/// The timers of the thread's replay.
struct Timers {
    t0: Instant,
    /// Milliseconds since `t0`: the simulated now.
    ms: u64,
    wheel: Wheel<Key>,
    /// By index: the generation and the waker of a timer set, if any.
    wakers: Vec<(u32, Option<Waker>)>,
    free: Vec<u32>,
}

/// The simulated clock of the current thread, from installation until the
/// guard is dropped.
///
/// Not `Send`: it belongs to the thread it was installed on.
pub(crate) struct Clock {
    fired: Vec<Waker>,
    _thread: PhantomData<*const ()>,
}

/// The simulated now, if a clock is installed on this thread.
#[inline]
pub(crate) fn now() -> Option<Instant> {
    NOW.with(Cell::get)
}

/// Whole milliseconds from `t0` to `at`, rounded up (as Tokio rounds a
/// deadline to its timer's resolution); 0 for an instant before `t0`.
fn ms_after(t0: Instant, at: Instant) -> u64 {
    ms_ceil(at.saturating_duration_since(t0))
}

// === impl Clock ===

impl Clock {
    /// Installs a clock at `t0` on this thread, replacing any other. Timers
    /// up to `span_ms` ahead go into a ring of `bucket_ms` buckets.
    ///
    /// # Errors
    ///
    /// When the process installed another [`Timer`] first: the layers
    /// would not read this clock.
    pub(crate) fn install(t0: Instant, span_ms: u64, bucket_ms: u64) -> std::io::Result<Clock> {
        if !crate::time::install(&REPLAY_TIMER) {
            return Err(std::io::Error::other(
                "another failsoft::time::Timer is installed; the replay needs its own",
            ));
        }
        NOW.set(Some(t0));
        TIMERS.set(Some(Timers {
            t0,
            ms: 0,
            wheel: Wheel::new(span_ms, bucket_ms),
            wakers: Vec::new(),
            free: Vec::new(),
        }));
        Ok(Clock {
            fired: Vec::new(),
            _thread: PhantomData,
        })
    }

    /// The millisecond of the first timer due by `until`, if any.
    pub(crate) fn next_due(&mut self, until: u64) -> Option<u64> {
        TIMERS.with_borrow_mut(|t| {
            let t = t.as_mut()?;
            // Skip cancelled timers, so the clock never stops for them.
            while let Some((ms, key)) = t.wheel.peek(until) {
                if t.live(key) {
                    return Some(ms);
                }
                t.wheel.pop(until);
            }
            None
        })
    }

    /// Moves the clock to `ms` after the start (never back) and wakes the
    /// timers due by then, in the order they fire.
    pub(crate) fn advance(&mut self, ms: u64) {
        TIMERS.with_borrow_mut(|t| {
            let Some(t) = t.as_mut() else { return };
            t.ms = t.ms.max(ms);
            while let Some((_, key)) = t.wheel.pop(t.ms) {
                if let Some(waker) = t.cancel(key) {
                    self.fired.push(waker);
                }
            }
            NOW.set(Some(t.t0 + Duration::from_millis(t.ms)));
        });
        // Woken outside the borrow: a waker may touch the timers.
        self.fired.drain(..).for_each(Waker::wake);
    }
}

impl Drop for Clock {
    fn drop(&mut self) {
        NOW.set(None);
        // Taken out first: dropping wakers must not find the table borrowed.
        drop(TIMERS.take());
    }
}

// === impl Timers ===

impl Timers {
    fn live(&self, key: Key) -> bool {
        self.wakers
            .get(key.index as usize)
            .is_some_and(|(g, w)| *g == key.generation && w.is_some())
    }

    fn set(&mut self, at_ms: u64, waker: Waker) -> Key {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.wakers.push((0, None));
                u32::try_from(self.wakers.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let entry = &mut self.wakers[index as usize];
        entry.1 = Some(waker);
        let key = Key {
            index,
            generation: entry.0,
        };
        self.wheel.set(at_ms, key);
        key
    }

    /// Takes timer `key` out, returning its waker if it was still set.
    fn cancel(&mut self, key: Key) -> Option<Waker> {
        let entry = self.wakers.get_mut(key.index as usize)?;
        if entry.0 != key.generation || entry.1.is_none() {
            return None;
        }
        entry.0 = entry.0.wrapping_add(1);
        self.free.push(key.index);
        entry.1.take()
    }
}

/// A sleep on the simulated clock, made while a [`Clock`] is installed.
#[derive(Debug)]
pub(crate) struct SimSleep {
    at_ms: u64,
    key: Option<Key>,
}

// === impl SimSleep ===

impl SimSleep {
    /// A sleep until `deadline`, or `None` when no clock is installed.
    pub(crate) fn until(deadline: Instant) -> Option<Self> {
        TIMERS.with_borrow(|t| {
            let t = t.as_ref()?;
            Some(Self {
                at_ms: ms_after(t.t0, deadline),
                key: None,
            })
        })
    }

    /// A sleep of `delay` from now, or `None` when no clock is installed.
    /// The same as [`until`](Self::until) now plus `delay`, without
    /// instant arithmetic: now is a whole millisecond.
    pub(crate) fn after(delay: Duration) -> Option<Self> {
        TIMERS.with_borrow(|t| {
            let t = t.as_ref()?;
            Some(Self {
                at_ms: t.ms.saturating_add(ms_ceil(delay)),
                key: None,
            })
        })
    }

    /// Moves the deadline to `deadline`; a task waiting on the old one is
    /// woken at the new one.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        TIMERS.with_borrow_mut(|t| {
            let Some(t) = t.as_mut() else { return };
            let waker = self.key.take().and_then(|k| t.cancel(k));
            self.at_ms = ms_after(t.t0, deadline);
            if let Some(waker) = waker.filter(|_| self.at_ms > t.ms) {
                self.key = Some(t.set(self.at_ms, waker));
            }
        });
    }

    /// Ready once the clock reached the deadline; until then the task is
    /// woken when it does. Never ready once the clock is gone.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        TIMERS.with_borrow_mut(|t| {
            let Some(t) = t.as_mut() else {
                return Poll::Pending;
            };
            if t.ms >= self.at_ms {
                if let Some(key) = self.key.take() {
                    t.cancel(key);
                }
                return Poll::Ready(());
            }
            match self.key {
                Some(key) => {
                    if let Some((g, Some(w))) = t.wakers.get_mut(key.index as usize)
                        && *g == key.generation
                        && !w.will_wake(cx.waker())
                    {
                        w.clone_from(cx.waker());
                    }
                }
                None => self.key = Some(t.set(self.at_ms, cx.waker().clone())),
            }
            Poll::Pending
        })
    }
}

impl Future for SimSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        SimSleep::poll(&mut self, cx)
    }
}

impl TimerSleep for SimSleep {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        SimSleep::reset(&mut self, deadline);
    }
}

impl Drop for SimSleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // The clock may be gone already (`try_with`: or the thread).
            let _ = TIMERS.try_with(|t| {
                if let Ok(mut t) = t.try_borrow_mut()
                    && let Some(t) = t.as_mut()
                {
                    t.cancel(key);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests;
