//! Jitter: how much randomness spreads each delay.
//!
//! The four modes are the ones Marc Brooker compares in "Exponential Backoff
//! And Jitter" (AWS Architecture Blog, 2015,
//! <https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/>).
//! With `c = min(cap, base × multiplierⁿ)` the ceiling for retry `n`
//! (counting from 0) and `U(a, b)` a uniform draw:
//!
//! | mode | delay |
//! | --- | --- |
//! | [`Jitter::None`] | `c` |
//! | [`Jitter::Full`] | `U(0, c)` |
//! | [`Jitter::Equal`] | `c/2 + U(0, c/2)` |
//! | [`Jitter::Decorrelated`] | `min(cap, U(base, 3 × previous))`, previous starting at `base` |
//!
//! Brooker's simulation found full and decorrelated jitter do the least
//! total work; without jitter, clients that failed together retry together.
//! In every mode the delay never exceeds the cap.

use std::time::Duration;

use crate::rng::Rng;

/// How randomness spreads the delays of a backoff schedule.
///
/// The default is [`Jitter::Full`].
///
/// # Examples
///
/// ```
/// use failsoft::backoff::Jitter;
/// assert_eq!(Jitter::default(), Jitter::Full);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Jitter {
    /// No randomness: the plain exponential ceiling. Clients that fail
    /// together retry together; use only for comparison.
    None,
    /// Uniform in `[0, ceiling)`: the most spread, Brooker's recommendation.
    #[default]
    Full,
    /// Half the ceiling plus uniform in `[0, ceiling / 2)`: never very short.
    Equal,
    /// Uniform in `[base, 3 × previous delay)`, capped: grows from the
    /// previous delay rather than from the attempt number. Ignores the
    /// multiplier.
    Decorrelated,
}

// === impl Jitter ===

impl Jitter {
    /// A short lowercase name for logs and reports.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::backoff::Jitter;
    /// assert_eq!(Jitter::Decorrelated.as_str(), "decorrelated");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Jitter::None => "none",
            Jitter::Full => "full",
            Jitter::Equal => "equal",
            Jitter::Decorrelated => "decorrelated",
        }
    }

    /// Applies the jitter. `ceiling` is `min(cap, base × multiplierⁿ)`;
    /// `previous` is the delay before this one (`base` for the first);
    /// `base` and `cap` are the schedule's bounds, all as seconds.
    /// The result lies in `[0, cap]`.
    pub(crate) fn apply(
        self,
        ceiling: f64,
        previous: f64,
        base: f64,
        cap: f64,
        rng: &mut Rng,
    ) -> f64 {
        let d = match self {
            Jitter::None => ceiling,
            Jitter::Full => rng.uniform(0.0, ceiling),
            Jitter::Equal => ceiling / 2.0 + rng.uniform(0.0, ceiling / 2.0),
            Jitter::Decorrelated => rng.uniform(base, (previous * 3.0).max(base)),
        };
        d.clamp(0.0, cap)
    }
}

/// Converts seconds to a `Duration`, saturating at `cap` (never panics).
pub(crate) fn secs_to_duration(secs: f64, cap: Duration) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    // Fast path: whole nanoseconds fit in a u64 below about 584 years.
    let nanos = secs * 1e9;
    if nanos < 1.8e19 {
        return Duration::from_nanos(nanos as u64).min(cap);
    }
    Duration::try_from_secs_f64(secs).map_or(cap, |d| d.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secs_to_duration_saturates() {
        let cap = Duration::from_secs(5);
        assert_eq!(secs_to_duration(f64::INFINITY, cap), cap);
        assert_eq!(secs_to_duration(f64::NAN, cap), Duration::ZERO);
        assert_eq!(secs_to_duration(-1.0, cap), Duration::ZERO);
        assert_eq!(secs_to_duration(1e300, Duration::MAX), Duration::MAX);
        assert_eq!(secs_to_duration(2.0, cap), Duration::from_secs(2));
    }
}
