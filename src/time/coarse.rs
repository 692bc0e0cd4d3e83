//! [`CoarseClock`]: a clock read from memory, kept current by a thread.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Instant, Timer, TimerSleep, saturating_add};
use crate::{BoxError, ConfigError};

/// A [`Timer`] whose clock is read from memory: a thread of its own stores
/// the time there every `resolution`, so a read costs an atomic load and an
/// addition instead of a system call, and may be up to about one
/// `resolution` old (more when that thread waits for a busy CPU).
///
/// Install it with [`install`](super::install) where a few milliseconds of
/// error are harmless and clock reads are a measurable share of a call: a
/// fast fail reads the clock every call (an open breaker, to know whether
/// its open time has run out; a shedding throttle, to know whether a new
/// bucket has begun), and on this project's VM a read of Tokio's clock
/// costs about 19 ns of the open stack's 68 ns. Open times, windows and
/// pacing are seconds long, so a millisecond late is nothing to them;
/// timeouts and deadlines may fire up to one `resolution` early, since a
/// timer's deadline is counted from the coarse instant while Tokio fires it
/// by the real clock. Timers stay Tokio's.
///
/// It follows the real clock only: do not install it in tests on paused
/// time (`start_paused = true`), whose clock it would not see. Installing
/// is once per process, so the thread runs for the rest of the process,
/// waking every `resolution` (1,000 wake-ups a second at 1 ms).
///
/// # Sharing
///
/// One clock serves every thread; reads are a relaxed atomic load and never
/// go back in time, on any thread.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use failsoft::time::{CoarseClock, Timer};
///
/// let clock = CoarseClock::start(Duration::from_millis(1))?;
/// let coarse = clock.now().expect("answers on every thread");
/// assert!(coarse <= tokio::time::Instant::now(), "never ahead of the real clock");
/// // In a program: assert!(failsoft::time::install(clock));
/// # Ok::<(), failsoft::BoxError>(())
/// ```
#[derive(Debug)]
pub struct CoarseClock {
    origin: Instant,
    /// Nanoseconds from `origin` at the last tick.
    elapsed: AtomicU64,
    resolution: Duration,
}

// === impl CoarseClock ===

impl CoarseClock {
    /// The finest resolution [`start`](Self::start) accepts.
    pub const MIN_RESOLUTION: Duration = Duration::from_micros(100);

    /// The coarsest resolution [`start`](Self::start) accepts.
    pub const MAX_RESOLUTION: Duration = Duration::from_millis(50);

    /// Starts the clock and the thread that keeps it, ticking every
    /// `resolution`. The clock lives for the rest of the process (it is
    /// meant to be [installed](super::install), which is for good).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `coarse_clock.resolution` when it is not
    /// within [`MIN_RESOLUTION`](Self::MIN_RESOLUTION) to
    /// [`MAX_RESOLUTION`](Self::MAX_RESOLUTION); the [`std::io::Error`]
    /// when the operating system would not start the thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use failsoft::ConfigError;
    /// use failsoft::time::CoarseClock;
    ///
    /// let err = CoarseClock::start(Duration::ZERO).unwrap_err();
    /// let err = err.downcast_ref::<ConfigError>().unwrap();
    /// assert_eq!(err.field(), "coarse_clock.resolution");
    /// ```
    pub fn start(resolution: Duration) -> Result<&'static CoarseClock, BoxError> {
        if !(Self::MIN_RESOLUTION..=Self::MAX_RESOLUTION).contains(&resolution) {
            return Err(ConfigError::new(
                "coarse_clock.resolution",
                "must be within [100 µs, 50 ms]",
            )
            .into());
        }
        let clock: &'static CoarseClock = Box::leak(Box::new(CoarseClock {
            origin: Instant::now(),
            elapsed: AtomicU64::new(0),
            resolution,
        }));
        std::thread::Builder::new()
            .name("failsoft-coarse-clock".into())
            .spawn(move || clock.keep())?;
        Ok(clock)
    }

    /// How often the clock's thread stores the time.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use failsoft::time::CoarseClock;
    /// let clock = CoarseClock::start(Duration::from_millis(2))?;
    /// assert_eq!(clock.resolution(), Duration::from_millis(2));
    /// # Ok::<(), failsoft::BoxError>(())
    /// ```
    pub fn resolution(&self) -> Duration {
        self.resolution
    }

    /// The thread's loop: store the time, wait a resolution, forever.
    fn keep(&self) {
        loop {
            self.tick();
            // Wakes at the timeout (or earlier, spuriously: one more tick).
            std::thread::park_timeout(self.resolution);
        }
    }

    /// Stores the real clock's time. Only the clock's own thread writes,
    /// and the real clock is monotonic, so the stored time only grows.
    fn tick(&self) {
        let since = Instant::now().saturating_duration_since(self.origin);
        let nanos = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX);
        self.elapsed.store(nanos, Ordering::Relaxed);
    }
}

impl Timer for CoarseClock {
    /// The time at the last tick: never ahead of the real clock, and at
    /// most about one resolution behind it.
    #[inline]
    fn now(&self) -> Option<Instant> {
        let elapsed = Duration::from_nanos(self.elapsed.load(Ordering::Relaxed));
        Some(saturating_add(self.origin, elapsed))
    }

    /// Tokio's timers.
    fn sleep_until(&self, _deadline: Instant) -> Option<Pin<Box<dyn TimerSleep>>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolutions_out_of_range_are_refused_by_name() {
        for bad in [
            Duration::ZERO,
            Duration::from_micros(99),
            Duration::from_millis(51),
        ] {
            let err = CoarseClock::start(bad).unwrap_err();
            let err = err.downcast_ref::<ConfigError>().expect("a ConfigError");
            assert_eq!(err.field(), "coarse_clock.resolution", "{bad:?}");
        }
    }

    #[test]
    fn a_tick_stores_the_real_time_and_reads_never_go_back() {
        // A clock without its thread, ticked by hand.
        let clock = CoarseClock {
            origin: Instant::now(),
            elapsed: AtomicU64::new(0),
            resolution: Duration::from_millis(1),
        };
        assert_eq!(clock.now(), Some(clock.origin));
        let mut last = clock.origin;
        for _ in 0..1_000 {
            let before = Instant::now();
            clock.tick();
            let read = clock.now().unwrap();
            assert!(read >= last, "went back");
            assert!(read >= before, "older than the tick");
            assert!(read <= Instant::now(), "ahead of the real clock");
            last = read;
        }
    }
}
