//! The time seam: where every layer reads the clock and makes its timers.
//!
//! By default that is Tokio: [`tokio::time::Instant::now`] and Tokio's
//! sleeps, so tests run on paused time (`start_paused = true`) and cost
//! nothing extra. A program that keeps time another way (a simulator, a
//! runtime other than Tokio's timer, a test harness with its own clock)
//! installs a [`Timer`] once per process with [`install`]; the layers then
//! ask it first, on every thread, and fall back to Tokio wherever it answers
//! `None` (say, on threads it does not drive).
//!
//! The cost when nothing is installed is one atomic load per clock read or
//! timer, with no allocation: Tokio's sleep is kept inline.
//!
//! Where a few milliseconds of error are harmless and clock reads are a
//! measurable share of a call (an open breaker's or a shedding throttle's
//! fast fail reads the clock every call), install a [`CoarseClock`]: a
//! read is then an atomic load, kept current by a thread of its own.
//!
//! A request reads the clock at most once per poll of its future: the
//! first reading in a poll of the retry layer's future is handed to every
//! layer below that asks during that poll (see [`now`]). A request answered
//! at its first poll reads none; one that waits reads it when it first
//! waits (the deadline, the attempt timeouts and the slow-call clocks all
//! start from that instant) and, when the breaker or the throttle times
//! slow calls, once more when it ends.
//!
//! # Examples
//!
//! A clock that stands still at a chosen instant on threads that ask for it:
//!
//! ```
//! use std::cell::Cell;
//! use std::pin::Pin;
//! use failsoft::time::{Instant, Timer, TimerSleep, install};
//!
//! thread_local!(static FROZEN: Cell<Option<Instant>> = const { Cell::new(None) });
//!
//! struct Frozen;
//!
//! impl Timer for Frozen {
//!     fn now(&self) -> Option<Instant> {
//!         FROZEN.get()
//!     }
//!     fn sleep_until(&self, _deadline: Instant) -> Option<Pin<Box<dyn TimerSleep>>> {
//!         None // Tokio's timers
//!     }
//! }
//!
//! static TIMER: Frozen = Frozen;
//! assert!(install(&TIMER));
//! let t = Instant::now();
//! FROZEN.set(Some(t));
//! assert_eq!(failsoft::time::now(), t);
//! FROZEN.set(None);
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

pub use tokio::time::Instant;

mod coarse;

pub use coarse::CoarseClock;

/// A source of time and timers in place of Tokio's; see the
/// [module docs](self).
///
/// # Sharing
///
/// One timer serves every thread of the process, so it must be `Sync`; a
/// timer that drives some threads only keeps its state per thread and
/// answers `None` on the others.
pub trait Timer: Send + Sync + 'static {
    /// The current instant on this thread, or `None` for Tokio's.
    fn now(&self) -> Option<Instant>;

    /// A timer firing at `deadline` on this thread's clock, or `None` for
    /// Tokio's.
    fn sleep_until(&self, deadline: Instant) -> Option<Pin<Box<dyn TimerSleep>>>;

    /// A timer firing `delay` from now, or `None` for Tokio's. The default
    /// asks [`sleep_until`](Self::sleep_until) at [`now`](Self::now) plus
    /// `delay` (saturating).
    fn sleep(&self, delay: Duration) -> Option<Pin<Box<dyn TimerSleep>>> {
        let now = self.now()?;
        self.sleep_until(saturating_add(now, delay))
    }
}

/// A timer made by a [`Timer`]: ready at its deadline, which can move.
///
/// # Cancel safety
///
/// Dropping it must forget the deadline (and any waker kept for it).
pub trait TimerSleep: Future<Output = ()> + Send {
    /// Moves the deadline; a task waiting on the old one is woken at the
    /// new one instead.
    fn reset(self: Pin<&mut Self>, deadline: Instant);
}

static TIMER: OnceLock<&'static dyn Timer> = OnceLock::new();

/// Installs `timer` for the whole process, once. Returns `true` if `timer`
/// is the installed timer afterwards (installing the same one again is
/// fine), `false` if another one was installed first.
///
/// # Examples
///
/// ```
/// use std::pin::Pin;
/// use failsoft::time::{Instant, Timer, TimerSleep, install};
///
/// struct Tokio;
/// impl Timer for Tokio {
///     fn now(&self) -> Option<Instant> { None }
///     fn sleep_until(&self, _: Instant) -> Option<Pin<Box<dyn TimerSleep>>> { None }
/// }
/// static TIMER: Tokio = Tokio;
/// assert!(install(&TIMER));
/// assert!(install(&TIMER), "the same timer again");
/// ```
pub fn install(timer: &'static dyn Timer) -> bool {
    let installed = TIMER.get_or_init(|| timer);
    std::ptr::addr_eq(*installed as *const dyn Timer, timer as *const dyn Timer)
}

#[inline]
fn timer() -> Option<&'static dyn Timer> {
    TIMER.get().copied()
}

/// The current instant, as every layer reads it: the installed
/// [`Timer`]'s, else Tokio's.
///
/// # Examples
///
/// ```
/// let t = failsoft::time::now();
/// assert!(failsoft::time::now() >= t);
/// ```
///
/// Inside one poll of a request's future (the retry layer's), the first
/// read is kept and handed to every layer that asks during that poll: the
/// deadline, the attempt timeouts, the breaker's and the throttle's
/// slow-call clocks all see one instant, read once. A poll is synchronous,
/// so the instant is at most as old as the poll itself (and exact on
/// paused time or a simulator's clock, which move only between polls).
#[inline]
pub fn now() -> Instant {
    let (depth, kept) = POLL.get();
    if depth == 0 {
        return read();
    }
    match kept {
        Some(now) => now,
        None => {
            let now = read();
            POLL.set((depth, Some(now)));
            now
        }
    }
}

/// Reads the clock: the installed [`Timer`]'s, else Tokio's.
#[inline]
fn read() -> Instant {
    #[cfg(test)]
    test_reads::READS.set(test_reads::READS.get() + 1);
    match timer().and_then(Timer::now) {
        Some(now) => now,
        None => Instant::now(),
    }
}

thread_local! {
    /// Nested polls under way on this thread, and the instant read during
    /// the outermost one, if any.
    static POLL: std::cell::Cell<(u32, Option<Instant>)> =
        const { std::cell::Cell::new((0, None)) };
}

/// One poll of a request's future: [`now`] reads the clock at most once
/// until the outermost `OnePoll` on this thread is dropped.
#[derive(Debug)]
pub(crate) struct OnePoll(());

impl OnePoll {
    #[inline]
    pub(crate) fn enter() -> Self {
        let (depth, kept) = POLL.get();
        POLL.set((depth.saturating_add(1), kept));
        Self(())
    }
}

impl Drop for OnePoll {
    #[inline]
    fn drop(&mut self) {
        let (depth, kept) = POLL.get();
        let depth = depth.saturating_sub(1);
        POLL.set((depth, if depth == 0 { None } else { kept }));
    }
}

fn saturating_add(at: Instant, delay: Duration) -> Instant {
    at.checked_add(delay)
        .unwrap_or_else(|| at + Duration::from_secs(30 * 365 * 86_400))
}

/// `delay` from now, saturating at about 30 years (as Tokio's `sleep`
/// does) for a delay too long to represent.
pub(crate) fn after(delay: Duration) -> Instant {
    saturating_add(now(), delay)
}

pin_project! {
    /// A layer's timer: Tokio's, inline, or the installed [`Timer`]'s.
    #[project = Proj]
    pub(crate) enum Sleep {
        Tokio { #[pin] sleep: tokio::time::Sleep },
        Other { sleep: Pin<Box<dyn TimerSleep>> },
    }
}

/// A timer firing at `deadline`.
pub(crate) fn sleep_until(deadline: Instant) -> Sleep {
    match timer().and_then(|t| t.sleep_until(deadline)) {
        Some(sleep) => Sleep::Other { sleep },
        None => Sleep::Tokio {
            sleep: tokio::time::sleep_until(deadline),
        },
    }
}

/// A timer firing `delay` from now (saturating as [`after`]).
pub(crate) fn sleep(delay: Duration) -> Sleep {
    match timer().and_then(|t| t.sleep(delay)) {
        Some(sleep) => Sleep::Other { sleep },
        None => Sleep::Tokio {
            sleep: tokio::time::sleep_until(after(delay)),
        },
    }
}

impl Sleep {
    /// Moves the deadline to `deadline`, keeping the registration.
    pub(crate) fn reset(self: Pin<&mut Self>, deadline: Instant) {
        match self.project() {
            Proj::Tokio { sleep } => sleep.reset(deadline),
            Proj::Other { sleep } => sleep.as_mut().reset(deadline),
        }
    }
}

impl Future for Sleep {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project() {
            Proj::Tokio { sleep } => sleep.poll(cx),
            Proj::Other { sleep } => sleep.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sleep::Tokio { sleep } => f.debug_tuple("Tokio").field(&sleep.deadline()).finish(),
            Sleep::Other { .. } => f.write_str("Other"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn without_a_timer_sleeps_are_tokios_and_inline() {
        let t0 = now();
        let sleep = sleep_until(t0 + Duration::from_millis(5));
        assert!(matches!(sleep, Sleep::Tokio { .. }), "{sleep:?}");
        sleep.await;
        assert_eq!(now(), t0 + Duration::from_millis(5));
    }
}

/// Counts this thread's clock reads in the crate's unit tests.
#[cfg(test)]
pub(crate) mod test_reads {
    use std::cell::Cell;

    thread_local!(pub(super) static READS: Cell<u64> = const { Cell::new(0) });

    /// Clock reads made on this thread by `f`.
    pub(crate) fn count(f: impl FnOnce()) -> u64 {
        let before = READS.get();
        f();
        READS.get() - before
    }
}
