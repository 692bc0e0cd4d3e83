//! The pure state machine: no clock, no locks, no runtime.
//!
//! Every method takes `now`, so the machine is tested with plain `#[test]`s
//! and driven by paused time in the layer. [`Breaker`](super::Breaker)
//! wraps it in a mutex and mirrors its state into one atomic word for the
//! hot path.
//!
//! Each state change bumps an *epoch*. A permit remembers the epoch it was
//! issued in; outcomes of permits from an older epoch are ignored, so a
//! stale probe cannot close a breaker that has since reopened, and a call
//! from before a trip cannot count against the fresh window.

use std::time::Duration;

use tokio::time::Instant;

use super::config::BreakerConfig;
use super::window::{Sliding, Totals};
use crate::rng::Rng;

/// The state of a breaker.
///
/// Note the electrical wording: **open means rejecting** (the circuit is
/// broken, no current flows), closed means calls go through.
///
/// # Examples
///
/// ```
/// use failsoft::breaker::State;
/// assert!(State::Open.is_rejecting());
/// assert!(!State::Closed.is_rejecting());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls go through; outcomes are recorded.
    Closed,
    /// Calls are rejected with [`CircuitOpen`](crate::error::CircuitOpen)
    /// until the open time has passed.
    Open,
    /// A limited number of probe calls go through; enough successes close
    /// the breaker, one failure opens it again.
    HalfOpen,
    /// Opened by hand: rejects every call until reset.
    ForcedOpen,
    /// Turned off by hand: admits every call and records nothing.
    Disabled,
}

/// Why a breaker opened.
///
/// # Examples
///
/// ```
/// use failsoft::breaker::TripReason;
/// assert_eq!(TripReason::FailureRate.as_str(), "failure_rate");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TripReason {
    /// Too many failures in a row.
    ConsecutiveFailures,
    /// The failure rate over the window reached the threshold.
    FailureRate,
    /// The slow-call rate over the window reached the threshold.
    SlowCallRate,
    /// A half-open probe failed.
    ProbeFailed,
}

/// What a state change was, for events and subscribers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Transition {
    Opened {
        reason: TripReason,
        open_for: Duration,
        trips: u32,
    },
    HalfOpened,
    Closed,
    Manual(State),
}

/// An admission's identity: the epoch and whether it holds a probe slot,
/// packed in one word (`epoch << 1 | probe`) so permits move cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

/// A refusal: when the next probe may happen, and whether it was the
/// ramp-up (not an open circuit) that refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) next_probe: Option<Instant>,
    pub(crate) ramping: bool,
}

/// How a call went, as the breaker counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) failure: bool,
    pub(crate) slow: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Closed {
        ramp: Option<(Instant, Duration)>,
    },
    Open {
        until: Instant,
    },
    HalfOpen {
        in_flight: u32,
        successes: u32,
        /// When this half-open period began.
        since: Instant,
    },
    ForcedOpen,
    Disabled,
}

/// The breaker's state machine.
#[derive(Debug)]
pub(crate) struct Core {
    cfg: BreakerConfig,
    rng: Rng,
    window: Sliding,
    phase: Phase,
    epoch: u64,
    consecutive: u32,
    trips: u32,
    last_open: Duration,
    /// When the breaker last closed after a trip, while it remembers trips.
    closed_at: Option<Instant>,
    /// The latest instant the machine was told of; plain successes counted
    /// apart since then happened after it.
    seen: Instant,
}

/// Epochs wrap within 60 bits so they fit the breaker's atomic word.
pub(crate) const EPOCH_MASK: u64 = (1 << 60) - 1;

/// The share of calls a ramp-up admits at its start.
const RAMP_FLOOR: f64 = 0.1;

// === impl Ticket ===

impl Ticket {
    #[inline]
    pub(crate) const fn new(epoch: u64, probe: bool) -> Self {
        Self((epoch << 1) | probe as u64)
    }

    /// The packed word, for holders that store a ticket as one word.
    #[inline]
    pub(crate) const fn word(self) -> u64 {
        self.0
    }

    #[inline]
    pub(crate) const fn from_word(word: u64) -> Self {
        Self(word)
    }

    #[inline]
    pub(crate) const fn epoch(self) -> u64 {
        self.0 >> 1
    }

    #[inline]
    pub(crate) const fn probe(self) -> bool {
        self.0 & 1 == 1
    }
}

// === impl State ===

impl State {
    /// `true` for [`State::Open`] and [`State::ForcedOpen`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::State;
    /// assert!(State::ForcedOpen.is_rejecting());
    /// ```
    pub const fn is_rejecting(self) -> bool {
        matches!(self, State::Open | State::ForcedOpen)
    }

    /// A short lowercase name for tracing fields.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::State;
    /// assert_eq!(State::HalfOpen.as_str(), "half_open");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
        }
    }
}

// === impl TripReason ===

impl TripReason {
    /// A short lowercase name for tracing fields.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::TripReason;
    /// assert_eq!(TripReason::ProbeFailed.as_str(), "probe_failed");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            TripReason::ConsecutiveFailures => "consecutive_failures",
            TripReason::FailureRate => "failure_rate",
            TripReason::SlowCallRate => "slow_call_rate",
            TripReason::ProbeFailed => "probe_failed",
        }
    }
}

// === impl Core ===

impl Core {
    pub(crate) fn new(cfg: BreakerConfig, now: Instant) -> Self {
        let rng = cfg.streams.next_stream();
        let window = Sliding::new(cfg.window, now);
        Self {
            cfg,
            rng,
            window,
            phase: Phase::Closed { ramp: None },
            epoch: 0,
            consecutive: 0,
            trips: 0,
            last_open: Duration::ZERO,
            closed_at: None,
            seen: now,
        }
    }

    pub(crate) fn config(&self) -> &BreakerConfig {
        &self.cfg
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    pub(crate) fn state(&self) -> State {
        match self.phase {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
            Phase::ForcedOpen => State::ForcedOpen,
            Phase::Disabled => State::Disabled,
        }
    }

    /// `true` while closing's ramp-up is still limiting calls.
    pub(crate) fn is_ramping(&self) -> bool {
        matches!(self.phase, Phase::Closed { ramp: Some(_) })
    }

    /// `true` when a plain success would change nothing: closed, not
    /// ramping, no failure streak, and a window full of successes (or no
    /// window in use).
    pub(crate) fn success_is_noop(&self) -> bool {
        matches!(self.phase, Phase::Closed { ramp: None })
            && self.consecutive == 0
            && (!self.uses_window()
                || self.window.is_full_of_successes()
                || self.window.is_clean_time_window(self.seen))
    }

    /// Folds `count` plain successes counted apart (a clean time window's)
    /// into the window, spread over the time since the machine last saw
    /// a call.
    pub(crate) fn fold_successes(&mut self, count: u64, now: Instant) {
        if count > 0 && matches!(self.phase, Phase::Closed { .. }) {
            self.window.fold_successes(count, self.seen, now);
        }
        self.seen = self.seen.max(now);
    }

    fn uses_window(&self) -> bool {
        self.cfg.failure_rate.is_some() || self.cfg.slow_call_rate.is_some()
    }

    /// When the next probe may be admitted, if the breaker is open.
    pub(crate) fn next_probe(&self) -> Option<Instant> {
        match self.phase {
            Phase::Open { until } => Some(until),
            _ => None,
        }
    }

    /// The window's counts at `now`.
    pub(crate) fn totals(&self, now: Instant) -> Totals {
        self.window.totals(now)
    }

    /// Trips the breaker remembers at `now` (see
    /// [`trip_memory`](super::BreakerConfigBuilder::trip_memory)).
    pub(crate) fn trips(&self, now: Instant) -> u32 {
        if self.forgets_at(now) { 0 } else { self.trips }
    }

    /// `true` once the breaker has stayed closed for its trip memory.
    fn forgets_at(&self, now: Instant) -> bool {
        self.closed_at
            .is_some_and(|at| now.saturating_duration_since(at) >= self.cfg.trip_memory)
    }

    /// Decides whether a call may go out at `now`.
    pub(crate) fn acquire(
        &mut self,
        now: Instant,
    ) -> (Result<Ticket, Refusal>, Option<Transition>) {
        let mut change = None;
        if let Phase::Open { until } = self.phase {
            if now < until {
                return (Err(self.refusal(Some(until))), None);
            }
            self.enter(Phase::HalfOpen {
                in_flight: 0,
                successes: 0,
                since: now,
            });
            change = Some(Transition::HalfOpened);
        }
        let verdict = match &mut self.phase {
            Phase::Closed { ramp } => match *ramp {
                Some((start, period)) => {
                    let elapsed = now.saturating_duration_since(start);
                    if elapsed >= period {
                        *ramp = None;
                        Ok(false)
                    } else {
                        let progress = elapsed.as_secs_f64() / period.as_secs_f64();
                        let share = RAMP_FLOOR + (1.0 - RAMP_FLOOR) * progress;
                        if self.rng.chance(share) {
                            Ok(false)
                        } else {
                            Err(Refusal {
                                next_probe: None,
                                ramping: true,
                            })
                        }
                    }
                }
                None => Ok(false),
            },
            Phase::HalfOpen {
                in_flight,
                successes,
                since,
            } => {
                if in_flight.saturating_add(*successes) < self.cfg.half_open_probes {
                    *in_flight += 1;
                    Ok(true)
                } else if *in_flight > 0
                    && now.saturating_duration_since(*since) >= self.cfg.half_open_wait
                {
                    // The probes out have waited too long (for a service
                    // that never gets ready, or a call that never ends):
                    // their slots go to others. A fresh half-open period
                    // ignores their outcomes, as of any older epoch.
                    self.enter(Phase::HalfOpen {
                        in_flight: 1,
                        successes: 0,
                        since: now,
                    });
                    change = Some(Transition::HalfOpened);
                    Ok(true)
                } else {
                    Err(Refusal {
                        next_probe: None,
                        ramping: false,
                    })
                }
            }
            Phase::Disabled => Ok(false),
            Phase::ForcedOpen | Phase::Open { .. } => Err(Refusal {
                next_probe: None,
                ramping: false,
            }),
        };
        let epoch = self.epoch;
        (verdict.map(|probe| Ticket::new(epoch, probe)), change)
    }

    fn refusal(&self, next_probe: Option<Instant>) -> Refusal {
        Refusal {
            next_probe,
            ramping: false,
        }
    }

    /// Records how an admitted call went.
    pub(crate) fn record(
        &mut self,
        ticket: Ticket,
        call: Call,
        now: Instant,
    ) -> Option<Transition> {
        if ticket.epoch() != self.epoch {
            return None;
        }
        match &mut self.phase {
            Phase::Closed { .. } => self.record_closed(call, now),
            Phase::HalfOpen {
                in_flight,
                successes,
                ..
            } if ticket.probe() => {
                *in_flight = in_flight.saturating_sub(1);
                let slow_fails = self.cfg.slow_call_rate.is_some() && call.slow;
                if call.failure || slow_fails {
                    return Some(self.trip(TripReason::ProbeFailed, now));
                }
                *successes += 1;
                if *successes >= self.cfg.half_open_successes {
                    self.close(now);
                    return Some(Transition::Closed);
                }
                None
            }
            _ => None,
        }
    }

    fn record_closed(&mut self, call: Call, now: Instant) -> Option<Transition> {
        self.consecutive = if call.failure {
            self.consecutive.saturating_add(1)
        } else {
            0
        };
        if self
            .cfg
            .consecutive_failures
            .is_some_and(|n| self.consecutive >= n)
        {
            return Some(self.trip(TripReason::ConsecutiveFailures, now));
        }
        if !self.uses_window() {
            return None;
        }
        self.window.record(call.failure, call.slow, now);
        let totals = self.window.totals(now);
        if totals.calls < self.cfg.minimum_calls {
            return None;
        }
        if self
            .cfg
            .failure_rate
            .is_some_and(|r| totals.failure_rate() >= r)
        {
            return Some(self.trip(TripReason::FailureRate, now));
        }
        if self
            .cfg
            .slow_call_rate
            .is_some_and(|r| totals.slow_rate() >= r)
        {
            return Some(self.trip(TripReason::SlowCallRate, now));
        }
        None
    }

    /// Gives back the slot of a probe that ended without an outcome.
    pub(crate) fn release(&mut self, ticket: Ticket) {
        if let Phase::HalfOpen { in_flight, .. } = &mut self.phase
            && ticket.probe()
            && ticket.epoch() == self.epoch
        {
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    fn trip(&mut self, reason: TripReason, now: Instant) -> Transition {
        if self.forgets_at(now) {
            self.trips = 0;
            self.last_open = Duration::ZERO;
        }
        self.closed_at = None;
        let open_for = self
            .cfg
            .open_backoff
            .delay(self.trips, self.last_open, &mut self.rng);
        self.trips = self.trips.saturating_add(1);
        self.last_open = open_for;
        // An open time past tokio's range saturates at a year, then at now.
        let until = now
            .checked_add(open_for)
            .or_else(|| now.checked_add(Duration::from_secs(86_400 * 365)))
            .unwrap_or(now);
        self.enter(Phase::Open { until });
        Transition::Opened {
            reason,
            open_for,
            trips: self.trips,
        }
    }

    /// Closes after successful probes. The trips are remembered until the
    /// breaker has stayed closed for its trip memory; the ramp-up is
    /// jittered and grows with them.
    fn close(&mut self, now: Instant) {
        self.closed_at = Some(now);
        let growth = f64::from(1u32 << self.trips.saturating_sub(1).min(2));
        let jitter = 1.0 + 0.5 * self.rng.next_f64();
        let ramp = self.cfg.ramp_up.map(|period| {
            let secs = period.as_secs_f64() * growth * jitter;
            (
                now,
                Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX),
            )
        });
        self.enter(Phase::Closed { ramp });
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.epoch = self.epoch.wrapping_add(1) & EPOCH_MASK;
        self.consecutive = 0;
        self.window.clear();
    }

    /// Manual override: reject everything until [`reset`](Self::reset).
    pub(crate) fn force_open(&mut self) -> Transition {
        self.enter(Phase::ForcedOpen);
        Transition::Manual(State::ForcedOpen)
    }

    /// Manual override: admit everything, record nothing.
    pub(crate) fn disable(&mut self) -> Transition {
        self.enter(Phase::Disabled);
        Transition::Manual(State::Disabled)
    }

    /// Back to a fresh closed breaker (no ramp-up, no trip history).
    pub(crate) fn reset(&mut self) -> Transition {
        self.trips = 0;
        self.last_open = Duration::ZERO;
        self.closed_at = None;
        self.enter(Phase::Closed { ramp: None });
        Transition::Manual(State::Closed)
    }
}
