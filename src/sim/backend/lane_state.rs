//! A lane's settings after scaling, and its state during a replay: the
//! capacity at the current time of day, the FIFO queue, and the hint it
//! sends when it sheds.

use std::collections::VecDeque;
use std::time::Duration;

use crate::classify::Hint;
use crate::sim::record::Fleet;
use crate::sim::scenario::LaneSpec;

/// A lane's settings after scaling.
#[derive(Debug, Clone)]
pub(crate) struct LaneConfig {
    pub(crate) spec: LaneSpec,
    /// Full capacity in requests per second, scaled.
    pub(crate) full_rps: f64,
    /// Extra full capacity over `[from, to)` seconds of the day.
    pub(crate) extras: Vec<(f64, f64, f64)>,
    /// Send hints at all (the run's switch).
    pub(crate) hints: bool,
}

/// A lane during a replay: its settings, queue and current capacity.
pub(super) struct LaneState {
    pub(super) cfg: LaneConfig,
    pub(super) queue: VecDeque<Queued>,
    /// Queue length beyond which the lane sheds.
    pub(super) limit: usize,
    /// Minimum service time, in nanoseconds.
    pub(super) service: u64,
    /// Capacity carried over between ticks, in requests.
    pub(super) credit: f64,
    /// Capacity now, in requests per second.
    pub(super) rps: f64,
    /// Share of full capacity now.
    pub(super) fraction: f64,
}

/// A request waiting in a lane's queue.
pub(super) struct Queued {
    /// Nanoseconds since the replay's start.
    pub(super) arrived: u64,
    pub(super) fleet: Fleet,
    /// Where its answer waits.
    pub(super) slot: usize,
}

// === impl LaneState ===

impl LaneState {
    /// Sets the capacity for `sec`, the second of the day.
    pub(super) fn set_capacity(&mut self, sec: f64) {
        let extra: f64 = self
            .cfg
            .extras
            .iter()
            .filter(|(from, to, _)| (*from..*to).contains(&sec))
            .map(|(_, _, rps)| rps)
            .sum();
        self.fraction = self.cfg.spec.fraction_at(sec);
        self.rps = (self.cfg.full_rps + extra) * self.fraction;
    }

    /// The hint a shed request carries now, if the lane sends hints.
    pub(super) fn hint(&self) -> Option<Hint> {
        if !self.cfg.hints {
            return None;
        }
        if self
            .cfg
            .spec
            .do_not_retry_below
            .is_some_and(|t| self.fraction < t)
        {
            return Some(Hint::DoNotRetry);
        }
        if self.cfg.spec.retry_after {
            // The time the queue needs to drain, in whole seconds, at least 1.
            let wait = self.queue.len() as f64 / self.rps.max(1e-3);
            let secs = wait.ceil().clamp(1.0, 3600.0) as u64;
            return Some(Hint::RetryAfter(Duration::from_secs(secs)));
        }
        None
    }
}
