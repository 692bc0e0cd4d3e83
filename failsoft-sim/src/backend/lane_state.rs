//! A lane's settings after scaling, and its state during a replay: the
//! capacity at the current time of day, the FIFO queue (or, for a rate
//! limiter, its token bucket and the requests it admitted), and the hint it
//! sends when it sheds.

use std::collections::VecDeque;
use std::time::Duration;

use super::Shed;
use crate::record::Fleet;
use crate::scenario::{LaneKind, LaneSpec};
use failsoft::classify::Hint;

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
    /// A rate limiter's token bucket; `None` for a FIFO lane.
    pub(super) bucket: Option<Bucket>,
}

/// A token bucket refilled at the lane's current capacity.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Bucket {
    /// Tokens now (requests that may be admitted at once).
    pub(super) tokens: f64,
    /// When `tokens` was last refilled, in nanoseconds since the start.
    pub(super) at: u64,
    /// Bucket size in seconds of the current rate.
    pub(super) burst_s: f64,
    /// `Retry-After` of a refusal.
    pub(super) retry_after: Duration,
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
    /// A lane of `cfg` at full capacity, empty, its bucket (if a rate
    /// limiter) full.
    pub(super) fn new(cfg: LaneConfig) -> Self {
        let queue_s = cfg.spec.queue_s.unwrap_or(0.0);
        let limit = (cfg.full_rps * queue_s).round().max(1.0) as usize;
        let bucket = (cfg.spec.kind == LaneKind::RateLimit).then(|| {
            let burst_s = cfg.spec.burst_s.unwrap_or(LaneSpec::DEFAULT_BURST_S);
            let retry_after = cfg
                .spec
                .retry_after_s
                .unwrap_or(LaneSpec::DEFAULT_RETRY_AFTER_S);
            Bucket {
                tokens: Bucket::size(cfg.full_rps, burst_s),
                at: 0,
                burst_s,
                retry_after: Duration::try_from_secs_f64(retry_after).unwrap_or(Duration::ZERO),
            }
        });
        LaneState {
            service: u64::from(cfg.spec.service_ms) * 1_000_000,
            // A rate limiter's queue holds what it admitted, in service.
            queue: VecDeque::with_capacity(if bucket.is_some() {
                64
            } else {
                limit.min(1 << 16)
            }),
            limit,
            credit: 0.0,
            rps: cfg.full_rps,
            fraction: 1.0,
            bucket,
            cfg,
        }
    }

    /// Takes a request arriving at `now` (nanoseconds since the start), or
    /// refuses it: a FIFO lane when its queue is full (spending its
    /// rejection cost), a rate limiter when its bucket has no token.
    pub(super) fn admit(&mut self, now: u64) -> bool {
        let rps = self.rps;
        match &mut self.bucket {
            Some(b) => b.take(now, rps),
            None if self.queue.len() >= self.limit => {
                let cost = self.cfg.spec.reject_cost.unwrap_or(0.0);
                self.credit = (self.credit - cost).max(-self.cfg.full_rps);
                false
            }
            None => true,
        }
    }

    /// The refusal a request gets now.
    pub(super) fn shed(&self) -> Shed {
        match self.bucket {
            Some(_) => Shed::rate_limited(self.hint()),
            None => Shed::new(self.hint()),
        }
    }

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
        if let Some(b) = &self.bucket {
            return Some(Hint::RetryAfter(b.retry_after));
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

// === impl Bucket ===

impl Bucket {
    /// Tokens a full bucket holds at `rps`: `burst_s` seconds of it, and
    /// at least one request, so a slow lane still admits something.
    pub(super) fn size(rps: f64, burst_s: f64) -> f64 {
        (rps * burst_s).max(1.0)
    }

    /// Refills for the time since the last call at `rps`, then takes a
    /// token if there is one.
    pub(super) fn take(&mut self, now: u64, rps: f64) -> bool {
        let dt = now.saturating_sub(self.at) as f64 / 1e9;
        self.at = self.at.max(now);
        self.tokens = (self.tokens + rps * dt).min(Self::size(rps, self.burst_s));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
