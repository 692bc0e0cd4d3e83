//! The plain strategies (naive, backoff, jitter) as an event loop.
//!
//! A plain client is a retry loop: send, wait for the answer or the
//! timeout, sleep, send again, up to its attempt cap. Run as tasks, each
//! attempt costs a task's wake-ups and a timer or two on the runtime; here
//! a logical request is a few words in a table, and its timeouts and retry
//! sleeps are entries in a [`Wheel`] of whole milliseconds (the runtime's
//! timer resolution). The backend answers through the same queue slots as
//! for tasks and lists the requests it answered.
//!
//! Within one tick, events happen in this order: timers of the
//! milliseconds before the tick, the backend's service at the tick (an
//! answer beats a timeout of the same millisecond, as a task polling its
//! response before its timer would see), timers of the tick itself, then
//! the user actions due.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::time::Instant;

use super::backend::{Backend, Waiter};
use super::client::{client_spec, finish};
use super::engine::{RunOptions, Setup};
use super::fleet::Action;
use super::record::{Ending, FLEETS, Fleet, Recorder};
use super::scenario::Scenario;
use super::strategy::{PlainPolicy, Strategy};
use super::wheel::Wheel;
use crate::rng::{Rng, Streams, mix};

/// A timer of the loop: request `id`, valid while its epoch is `epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    id: u32,
    epoch: u32,
}

/// A logical request in flight.
#[derive(Debug)]
struct Request {
    action: Action,
    /// Attempts sent so far (the current one included while waiting).
    sent: u32,
    previous: Duration,
    rng: Rng,
    /// The answer slot of the attempt in flight, if one is queued.
    slot: Option<usize>,
    /// Bumped whenever the request's timer is set or it ends, so a timer
    /// set earlier is recognised as stale.
    epoch: u32,
}

/// The event loop of one replay under a plain strategy.
struct Loop<'a> {
    backend: &'a Backend,
    t0: Instant,
    policies: [Option<PlainPolicy>; FLEETS],
    requests: Vec<Request>,
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
        t0,
    } = setup;
    let policies = Fleet::ALL.map(|f| {
        client_spec(s, f).and_then(|c| {
            let timeout = Duration::try_from_secs_f64(c.timeout_s).unwrap_or(Duration::MAX);
            strategy.plain(timeout, t0)
        })
    });
    let span = policies
        .iter()
        .flatten()
        .map(|p| p.timeout.max(p.longest_delay()))
        .max()
        .unwrap_or_default();
    let mut wheel = Wheel::new(ms_ceil(span).saturating_add(1), period.tick_ms);
    let mut run = Loop {
        backend: &backend,
        t0,
        policies,
        requests: Vec::new(),
        free: Vec::new(),
        // The same jitter streams as the layered strategies draw from.
        jitter: Streams::seeded(mix(opts.seed ^ 0x6a17_7e2a)),
        entitlements: fleets.entitlements(),
    };
    let dt = Duration::from_millis(period.tick_ms);
    let (mut due, mut answered) = (Vec::new(), Vec::new());
    for tick in 0..period.ticks() {
        let ms = tick * period.tick_ms;
        if ms > 0 {
            wheel.advance(ms - 1, |w, at, t| run.fire(w, at, t));
        }
        let now = run.at(ms);
        backend.serve(now, period.second(ms), dt);
        backend.take_answered(&mut answered);
        for id in answered.drain(..) {
            run.end(id, now, Ending::Ok);
        }
        wheel.advance(ms, |w, at, t| run.fire(w, at, t));
        fleets.due(tick, period.second(ms), &mut due);
        for action in due.drain(..) {
            run.start(&mut wheel, ms, action);
        }
        if ms.is_multiple_of(60_000) {
            progress((ms / 60_000) as u32);
        }
    }
    progress(period.minutes() as u32);
    drop(run);
    backend.take_recorder()
}

/// Whole milliseconds in `d`, rounded up (as the runtime's timers round).
fn ms_ceil(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

// === impl Loop ===

impl Loop<'_> {
    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// Starts `action` at `ms` with its first attempt.
    fn start(&mut self, wheel: &mut Wheel<Timer>, ms: u64, action: Action) {
        let now = self.at(ms);
        self.backend.record_at(now, |rec, minute| {
            rec.started(action.lane, action.fleet, minute)
        });
        if self.policies[action.fleet.index()].is_none() {
            return;
        }
        let request = Request {
            action,
            sent: 0,
            previous: Duration::ZERO,
            rng: self.jitter.next_stream(),
            slot: None,
            epoch: 0,
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
        self.send(wheel, ms, id);
    }

    /// A timer fired: the attempt in flight timed out, or a retry is due.
    fn fire(&mut self, wheel: &mut Wheel<Timer>, ms: u64, timer: Timer) {
        let r = &mut self.requests[timer.id as usize];
        if r.epoch != timer.epoch {
            return;
        }
        match r.slot.take() {
            Some(slot) => {
                self.backend.abandon(slot);
                self.retry(wheel, ms, timer.id);
            }
            None => self.send(wheel, ms, timer.id),
        }
    }

    /// Sends the next attempt of request `id` at `ms`.
    fn send(&mut self, wheel: &mut Wheel<Timer>, ms: u64, id: u32) {
        let now = self.at(ms);
        let r = &mut self.requests[id as usize];
        let Some(policy) = self.policies[r.action.fleet.index()] else {
            return;
        };
        r.sent += 1;
        let sent = self
            .backend
            .send(r.action.lane, r.action.fleet, now, Waiter::Request(id));
        match sent {
            Ok(slot) => {
                r.slot = Some(slot);
                r.epoch = r.epoch.wrapping_add(1);
                let epoch = r.epoch;
                wheel.set(
                    ms.saturating_add(ms_ceil(policy.timeout)),
                    Timer { id, epoch },
                );
            }
            Err(_) => self.retry(wheel, ms, id),
        }
    }

    /// The attempt of request `id` failed at `ms`: sleep before the next
    /// one, or end the request when it has used all its attempts.
    fn retry(&mut self, wheel: &mut Wheel<Timer>, ms: u64, id: u32) {
        let now = self.at(ms);
        let r = &mut self.requests[id as usize];
        let Some(policy) = self.policies[r.action.fleet.index()] else {
            return;
        };
        if r.sent >= policy.attempts {
            self.end(id, now, Ending::Hard);
            return;
        }
        let (at, d) = policy.delay.until(now, r.sent - 1, r.previous, &mut r.rng);
        r.previous = d;
        r.epoch = r.epoch.wrapping_add(1);
        let epoch = r.epoch;
        let at_ms = ms_ceil(at.saturating_duration_since(self.t0));
        wheel.set(at_ms, Timer { id, epoch });
    }

    /// Request `id` ended at `now`: records how and frees its entry.
    fn end(&mut self, id: u32, now: Instant, ending: Ending) {
        let r = &mut self.requests[id as usize];
        r.epoch = r.epoch.wrapping_add(1);
        r.slot = None;
        let action = r.action;
        let grant = action
            .grants
            .then_some(self.entitlements.as_deref())
            .flatten();
        finish(self.backend, now, action, ending, grant);
        self.free.push(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::record::LaneCount;

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
        for strategy in [Strategy::Naive, Strategy::Jitter] {
            let opts = RunOptions {
                scale: 0.05,
                strategies: vec![strategy],
                ..RunOptions::default()
            };
            let setup = Setup::new(&s, &opts, Instant::now());
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
