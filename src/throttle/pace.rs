//! [`Pacer`]: the server's pacing of the whole client, after an overload
//! answer that said when to come back.
//!
//! A pace has an end (`until`) and, for a client busy enough to measure
//! what the backend accepts, a rate: calls go out at that rate from a small
//! token bucket. Without a rate, every call waits for the end.

use std::time::Duration;

use tokio::time::Instant;

use crate::error::Paced;

/// Headroom over the measured accept rate while paced: enough to find out
/// that the backend takes more, little enough to stay near what it takes.
const HEADROOM: f64 = 1.1;

/// How much of a second's rate may go out at once while paced.
const BURST_SECONDS: f64 = 0.05;

#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    max_wait: Duration,
    pace: Option<Pace>,
}

#[derive(Debug, Clone, Copy)]
struct Pace {
    until: Instant,
    /// Calls per second, or `None`: hold every call.
    rate: Option<f64>,
    tokens: f64,
    refilled: Instant,
}

impl Pacer {
    pub(crate) fn new(max_wait: Duration) -> Self {
        Self {
            max_wait,
            pace: None,
        }
    }

    /// The end of the pace in force at `now`; forgets a pace that ended.
    pub(crate) fn until(&mut self, now: Instant) -> Option<Instant> {
        match self.pace {
            Some(p) if now < p.until => Some(p.until),
            Some(_) => {
                self.pace = None;
                None
            }
            None => None,
        }
    }

    /// Starts or extends a pace of `wait × jitter` (the wait clamped to the
    /// maximum) from `now`; `accept_rate` is the backend's measured accept
    /// rate, if the client is busy enough to measure it. Returns the end.
    pub(crate) fn pace(
        &mut self,
        now: Instant,
        wait: Duration,
        jitter: f64,
        accept_rate: Option<f64>,
    ) -> Option<Instant> {
        let wait = wait.min(self.max_wait);
        if wait.is_zero() {
            return None;
        }
        let secs = wait.as_secs_f64() * jitter.clamp(1.0, 2.0);
        let wait = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
        let until = now.checked_add(wait).unwrap_or(now);
        let rate = accept_rate.map(|r| r * HEADROOM).filter(|r| r.is_finite());
        let pace = match self.pace.filter(|p| now < p.until) {
            Some(p) => Pace {
                until: p.until.max(until),
                rate: rate.or(p.rate),
                ..p
            },
            None => Pace {
                until,
                rate,
                tokens: 0.0,
                refilled: now,
            },
        };
        self.pace = Some(pace);
        Some(pace.until)
    }

    /// Decides a call at `now` while paced: `None` if no pace is in force.
    pub(crate) fn admit(&mut self, now: Instant) -> Option<Result<(), Paced>> {
        let until = self.until(now)?;
        let pace = self.pace.as_mut()?;
        let Some(rate) = pace.rate else {
            return Some(Err(Paced::hold(until)));
        };
        let elapsed = now.saturating_duration_since(pace.refilled).as_secs_f64();
        pace.refilled = now;
        let burst = (rate * BURST_SECONDS).max(1.0);
        pace.tokens = (pace.tokens + elapsed * rate).min(burst);
        if pace.tokens >= 1.0 {
            pace.tokens -= 1.0;
            Some(Ok(()))
        } else {
            Some(Err(Paced::over_rate(until)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn a_quiet_client_holds_until_the_end() {
        let t0 = Instant::now();
        let mut p = Pacer::new(60 * SEC);
        let until = p.pace(t0, 2 * SEC, 1.1, None).unwrap();
        assert_eq!(until, t0 + Duration::from_millis(2_200));
        let held = p.admit(t0).unwrap().unwrap_err();
        assert!(held.holds(), "a quiet client's call waits for the end");
        assert_eq!(held.until(), until);
        assert!(p.admit(until - Duration::from_millis(1)).unwrap().is_err());
        assert!(p.admit(until).is_none(), "the pace is over at its end");
    }

    #[test]
    fn a_busy_client_keeps_sending_at_the_measured_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::new(60 * SEC);
        p.pace(t0, 10 * SEC, 1.0, Some(100.0)).unwrap();
        let mut admitted = 0;
        // One call a millisecond (1,000/s) for 5 s against 110/s.
        for ms in 0..5_000 {
            let now = t0 + Duration::from_millis(ms);
            match p.admit(now).unwrap() {
                Ok(()) => admitted += 1,
                // Over the rate: shed, not held (held, the excess would
                // all go out at the pace's end).
                Err(shed) => assert!(!shed.holds()),
            }
        }
        assert!((545..=556).contains(&admitted), "{admitted}");
    }

    #[test]
    fn waits_are_clamped_and_a_zero_wait_does_nothing() {
        let t0 = Instant::now();
        let mut p = Pacer::new(60 * SEC);
        assert_eq!(p.pace(t0, Duration::ZERO, 1.0, None), None);
        assert!(p.admit(t0).is_none());
        let year = Duration::from_secs(365 * 86_400);
        assert_eq!(p.pace(t0, year, 1.0, None), Some(t0 + 60 * SEC));
    }

    #[test]
    fn a_pace_is_extended_never_shortened() {
        let t0 = Instant::now();
        let mut p = Pacer::new(60 * SEC);
        p.pace(t0, 10 * SEC, 1.0, None);
        assert_eq!(p.pace(t0 + SEC, SEC, 1.0, None), Some(t0 + 10 * SEC));
        assert_eq!(p.pace(t0 + SEC, 20 * SEC, 1.0, None), Some(t0 + 21 * SEC));
    }
}
