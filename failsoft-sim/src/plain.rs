//! The plain strategies (naive, backoff, jitter) as an event loop.
//!
//! A plain client is a retry loop: send, wait for the answer or the
//! timeout, sleep, send again, up to its attempt cap. Run as tasks, each
//! attempt costs a task's wake-ups and a timer or two on the runtime; here
//! a logical request is a few words in a table, and its timeouts and retry
//! sleeps are entries in a [`Wheel`] of whole milliseconds (the runtime's
//! timer resolution). The backend answers through the same queue slots as
//! for tasks and lists the requests it answered. The loop keeps time as
//! whole milliseconds since the replay's start (integer arithmetic only)
//! and drives the backend under one lock per tick.
//!
//! Within one tick, events happen in this order: timers of the
//! milliseconds before the tick, the backend's service at the tick (an
//! answer beats a timeout of the same millisecond, as a task polling its
//! response before its timer would see), timers of the tick itself, then
//! the user actions due.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::backend::{Shared, Waiter};
use super::client::client_spec;
use super::engine::Setup;
use super::fleet::Action;
use super::options::RunOptions;
use super::record::{Ending, FLEETS, Fleet, Recorder};
use super::scenario::Scenario;
use super::strategy::{Draws, PlainPolicy, Strategy};
use super::wheel::{Wheel, ms_ceil};
use failsoft::rng::{Rng, Streams, mix};

/// A timer of the loop: request `id`, valid while its epoch is `epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    id: u32,
    epoch: u32,
}

/// A request's `slot` when none of its attempts is queued.
const NO_SLOT: usize = usize::MAX;

/// A logical request in flight.
#[derive(Debug)]
struct Request {
    action: Action,
    /// The answer slot of the attempt in flight, or [`NO_SLOT`].
    slot: usize,
    /// Bumped whenever the request's timer is set or it ends, so a timer
    /// set earlier is recognised as stale.
    epoch: u32,
    /// Attempts sent so far (the current one included while waiting).
    sent: u32,
}

/// A fleet's retry loop, with its attempt timeout in whole milliseconds.
#[derive(Debug, Clone, Copy)]
struct Plan {
    policy: PlainPolicy,
    timeout_ms: u64,
}

/// The event loop of one replay under a plain strategy. Time is whole
/// milliseconds since the replay's start.
struct Loop {
    plans: [Option<Plan>; FLEETS],
    requests: Vec<Request>,
    /// Each request's stream and last delay, by id, when delays draw on
    /// them (jitter); otherwise empty.
    draws: Vec<Draws>,
    /// Stands in for a request's draws when delays never read them.
    unused: Draws,
    free: Vec<u32>,
    jitter: Streams,
    entitlements: Option<Arc<[AtomicBool]>>,
}

/// Replays `strategy` (a plain one) from `setup`; `progress` is called
/// with the simulated minutes done.
pub(crate) fn run(
    s: &Scenario,
    opts: &RunOptions,
    strategy: Strategy,
    setup: Setup,
    progress: &dyn Fn(u32),
) -> Recorder {
    let Setup {
        backend,
        mut fleets,
        period,
        ..
    } = setup;
    let plans = Fleet::ALL.map(|f| {
        client_spec(s, f).and_then(|c| {
            let timeout = Duration::try_from_secs_f64(c.timeout_s).unwrap_or(Duration::MAX);
            let policy = strategy.plain(timeout)?;
            Some(Plan {
                policy,
                timeout_ms: ms_ceil(timeout),
            })
        })
    });
    let span = plans
        .iter()
        .flatten()
        .map(|p| p.policy.timeout.max(p.policy.longest_delay()))
        .max()
        .unwrap_or_default();
    let mut wheel = Wheel::new(ms_ceil(span).saturating_add(1), period.tick_ms);
    // The same jitter streams as the layered strategies draw from.
    let jitter = Streams::seeded(mix(opts.seed ^ 0x6a17_7e2a));
    let mut run = Loop {
        plans,
        requests: Vec::new(),
        draws: Vec::new(),
        unused: Draws {
            rng: Rng::from_seed(0),
            previous: Duration::ZERO,
        },
        free: Vec::new(),
        jitter,
        entitlements: fleets.entitlements(),
    };
    let dt = Duration::from_millis(period.tick_ms);
    let (mut due, mut answered) = (Vec::new(), Vec::new());
    for tick in 0..period.ticks() {
        let ms = tick * period.tick_ms;
        let mut shared = backend.lock();
        let sh = &mut *shared;
        if ms > 0 {
            wheel.advance(ms - 1, |w, at, t| run.fire(sh, w, at, t));
        }
        sh.serve_at(ms.saturating_mul(1_000_000), period.second(ms), dt);
        sh.take_answered(&mut answered);
        for id in answered.drain(..) {
            run.end(sh, id, ms, Ending::Ok);
        }
        wheel.advance(ms, |w, at, t| run.fire(sh, w, at, t));
        fleets.due(tick, period.second(ms), &mut due);
        for action in due.drain(..) {
            run.start(sh, &mut wheel, ms, action);
        }
        drop(shared);
        if ms.is_multiple_of(60_000) {
            progress((ms / 60_000) as u32);
        }
    }
    progress(period.minutes() as u32);
    backend.take_recorder()
}

/// The minute of the replay at `ms`.
fn minute(ms: u64) -> usize {
    (ms / 60_000) as usize
}

// === impl Loop ===

impl Loop {
    /// Starts `action` at `ms` with its first attempt.
    fn start(&mut self, sh: &mut Shared, wheel: &mut Wheel<Timer>, ms: u64, action: Action) {
        sh.rec
            .started(action.lane, action.fleet, (ms / 1000) as usize);
        let Some(plan) = self.plans[action.fleet.index()] else {
            return;
        };
        let request = Request {
            action,
            slot: NO_SLOT,
            epoch: 0,
            sent: 0,
        };
        let id = match self.free.pop() {
            Some(id) => {
                let r = &mut self.requests[id as usize];
                // Keep the epoch counting: stale timers of the id's last
                // request must not match this one.
                let epoch = r.epoch;
                *r = Request { epoch, ..request };
                id
            }
            None => {
                self.requests.push(request);
                (self.requests.len() - 1) as u32
            }
        };
        if plan.policy.draws() {
            let draws = Draws {
                rng: self.jitter.next_stream(),
                previous: Duration::ZERO,
            };
            let i = id as usize;
            if self.draws.len() <= i {
                self.draws.resize(i + 1, self.unused.clone());
            }
            self.draws[i] = draws;
        }
        self.send(sh, wheel, ms, id);
    }

    /// A timer fired: the attempt in flight timed out, or a retry is due.
    fn fire(&mut self, sh: &mut Shared, wheel: &mut Wheel<Timer>, ms: u64, timer: Timer) {
        let r = &mut self.requests[timer.id as usize];
        if r.epoch != timer.epoch {
            return;
        }
        let slot = std::mem::replace(&mut r.slot, NO_SLOT);
        if slot == NO_SLOT {
            self.send(sh, wheel, ms, timer.id);
        } else {
            sh.abandon(slot);
            self.retry(sh, wheel, ms, timer.id);
        }
    }

    /// Sends the next attempt of request `id` at `ms`.
    fn send(&mut self, sh: &mut Shared, wheel: &mut Wheel<Timer>, ms: u64, id: u32) {
        let r = &mut self.requests[id as usize];
        let Some(plan) = &self.plans[r.action.fleet.index()] else {
            return;
        };
        r.sent += 1;
        let now = ms.saturating_mul(1_000_000);
        match sh.send_at(r.action.lane, r.action.fleet, now, Waiter::Request(id)) {
            Some(slot) => {
                r.slot = slot;
                r.epoch = r.epoch.wrapping_add(1);
                let epoch = r.epoch;
                wheel.set(ms.saturating_add(plan.timeout_ms), Timer { id, epoch });
            }
            None => self.retry(sh, wheel, ms, id),
        }
    }

    /// The attempt of request `id` failed at `ms`: sleep before the next
    /// one, or end the request when it has used all its attempts.
    fn retry(&mut self, sh: &mut Shared, wheel: &mut Wheel<Timer>, ms: u64, id: u32) {
        let r = &mut self.requests[id as usize];
        let Some(plan) = &self.plans[r.action.fleet.index()] else {
            return;
        };
        if r.sent >= plan.policy.attempts {
            self.end(sh, id, ms, Ending::Hard);
            return;
        }
        let draws = match self.draws.get_mut(id as usize) {
            Some(d) if plan.policy.draws() => d,
            _ => &mut self.unused,
        };
        let at = plan.policy.delay.until(ms, r.sent - 1, draws);
        r.epoch = r.epoch.wrapping_add(1);
        let epoch = r.epoch;
        wheel.set(at, Timer { id, epoch });
    }

    /// Request `id` ended at `ms`: records how and frees its entry; a
    /// success grants the device its entitlement when the action grants
    /// one.
    fn end(&mut self, sh: &mut Shared, id: u32, ms: u64, ending: Ending) {
        let r = &mut self.requests[id as usize];
        r.epoch = r.epoch.wrapping_add(1);
        r.slot = NO_SLOT;
        let action = r.action;
        if ending == Ending::Ok && action.grants {
            let flags = self.entitlements.as_deref();
            if let Some(flag) = flags.and_then(|g| g.get(action.device as usize)) {
                flag.store(true, Ordering::Relaxed);
            }
        }
        sh.rec
            .finished(action.fleet, action.fallback, minute(ms), ending);
        self.free.push(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::LaneCount;

    /// Sums `f(lane, fleet, minute)` over the whole record.
    fn total(rec: &Recorder, f: impl Fn(usize, Fleet, usize) -> u64) -> u64 {
        let mut sum = 0;
        for lane in 0..rec.lanes {
            for fleet in Fleet::ALL {
                sum += (0..rec.minutes).map(|m| f(lane, fleet, m)).sum::<u64>();
            }
        }
        sum
    }

    #[test]
    fn every_request_ends_once_within_its_attempt_cap() {
        let s = Scenario::dec7_2021();
        for strategy in [Strategy::Naive, Strategy::Backoff, Strategy::Jitter] {
            let opts = RunOptions {
                scale: 0.05,
                strategies: vec![strategy],
                ..RunOptions::default()
            };
            let setup = Setup::new(&s, &opts, tokio::time::Instant::now());
            let rec = run(&s, &opts, strategy, setup, &|_| {});
            let started = total(&rec, |l, f, m| rec.organic(l, f, m));
            let attempts = total(&rec, |l, f, m| rec.lane_count(l, f, m, LaneCount::Attempts));
            let ended: u64 = Fleet::ALL
                .into_iter()
                .flat_map(|f| (0..rec.minutes).map(move |m| (f, m)))
                .map(|(f, m)| rec.ending(f, m, Ending::Ok) + rec.ending(f, m, Ending::Hard))
                .sum();
            assert!(started > 1_000, "{strategy:?}: {started} requests");
            // The last seconds' requests may still be in flight.
            assert!(
                ended <= started && started - ended < 100,
                "{strategy:?}: {ended}/{started}"
            );
            // The outage forces retries, but never more than four attempts.
            assert!(
                attempts > started && attempts <= 4 * started,
                "{strategy:?}: {attempts}"
            );
        }
    }
}
