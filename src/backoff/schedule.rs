//! [`Schedule`]: an iterator over one session's delays.

use std::time::Duration;

use super::exponential::ExponentialBackoff;
use crate::rng::Rng;

/// The delays of one retry session, in order; an [`Iterator`] that needs
/// no runtime.
///
/// Ends after `max_attempts - 1` delays or before the sum of delays would
/// pass `max_elapsed`, when those limits are set; otherwise it is endless
/// (at the cap).
///
/// # Examples
///
/// ```
/// use failsoft::backoff::ExponentialBackoff;
///
/// let backoff = ExponentialBackoff::builder().max_attempts(3).build()?;
/// let mut schedule = backoff.schedule_seeded(9);
/// assert!(schedule.next_delay().is_some());
/// assert!(schedule.next_delay().is_some());
/// assert_eq!(schedule.next_delay(), None);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Schedule {
    backoff: ExponentialBackoff,
    rng: Rng,
    retry: u32,
    previous: Duration,
    elapsed: Duration,
    done: bool,
}

// === impl Schedule ===

impl Schedule {
    pub(super) fn new(backoff: ExponentialBackoff, rng: Rng) -> Self {
        Self {
            backoff,
            rng,
            retry: 0,
            previous: Duration::ZERO,
            elapsed: Duration::ZERO,
            done: false,
        }
    }

    /// The next delay, or `None` when a limit ends the schedule.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::ExponentialBackoff;
    /// let mut s = ExponentialBackoff::default().schedule_seeded(1);
    /// assert!(s.next_delay().unwrap() <= ExponentialBackoff::default().max());
    /// ```
    pub fn next_delay(&mut self) -> Option<Duration> {
        if self.done {
            return None;
        }
        let attempts_left = self
            .backoff
            .max_attempts()
            .is_none_or(|max| self.retry.saturating_add(1) < max);
        if !attempts_left {
            self.done = true;
            return None;
        }
        let delay = self.backoff.delay(self.retry, self.previous, &mut self.rng);
        let elapsed = self.elapsed.saturating_add(delay);
        if self.backoff.max_elapsed().is_some_and(|max| elapsed > max) {
            self.done = true;
            return None;
        }
        self.elapsed = elapsed;
        self.previous = delay;
        self.retry = self.retry.saturating_add(1);
        Some(delay)
    }

    /// How many delays this schedule has yielded.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::ExponentialBackoff;
    /// let mut s = ExponentialBackoff::default().schedule_seeded(1);
    /// s.next_delay();
    /// assert_eq!(s.retries(), 1);
    /// ```
    pub const fn retries(&self) -> u32 {
        self.retry
    }

    /// The sum of the delays yielded so far.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::{ExponentialBackoff, Jitter};
    /// # use std::time::Duration;
    /// let b = ExponentialBackoff::builder().jitter(Jitter::None).build()?;
    /// let mut s = b.schedule_seeded(1);
    /// s.next_delay();
    /// s.next_delay();
    /// assert_eq!(s.elapsed(), Duration::from_millis(300));
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.next_delay()
    }
}
