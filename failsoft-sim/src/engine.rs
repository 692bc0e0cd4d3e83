//! Running a replay: per strategy, an event loop of plain retry loops, or
//! the crate's layers on the replay's own clock and executor (or on a
//! paused Tokio runtime, [`Engine::Tokio`]).

use std::rc::Rc;
use std::time::Duration;

use tokio::time::Instant;

use super::backend::{Backend, LaneConfig};
use super::client;
use super::exec::Tasks;
use super::fleet::{self, Fleets};
use super::options::{Engine, RunOptions};
use super::plain;
use super::record::{Fleet, Recorder};
use super::scenario::Scenario;
use super::stack::Parts;
use super::strategy::Strategy;
use super::timers::Clock;
use failsoft::rng::Streams;

/// The raw outcome of replaying one strategy.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) strategy: Strategy,
    pub(crate) rec: Recorder,
    pub(crate) devices: u64,
}

/// The simulated period in ticks, as both the plain event loop and the
/// layered driver walk it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Period {
    /// Second of the day the replay starts at.
    pub(crate) start: u32,
    pub(crate) tick_ms: u64,
    pub(crate) total_ms: u64,
}

/// What a strategy's replay starts from: the backend, the fleets and the
/// period, built alike for every strategy.
pub(crate) struct Setup {
    pub(crate) backend: Rc<Backend>,
    pub(crate) fleets: Fleets,
    pub(crate) period: Period,
    pub(crate) t0: Instant,
}

/// Replays one strategy over the scenario's period; `progress` is called
/// with the simulated minutes done.
pub(crate) fn run_strategy(
    s: &Scenario,
    opts: &RunOptions,
    strategy: Strategy,
    progress: &dyn Fn(u32),
) -> std::io::Result<Run> {
    if strategy.parts().is_none() {
        // Plain strategies need no runtime: their event loop keeps time.
        let setup = Setup::new(s, opts, Instant::now());
        let devices = setup.fleets.devices();
        let rec = plain::run(s, opts, strategy, setup, progress);
        return Ok(Run {
            strategy,
            rec,
            devices,
        });
    }
    let parts = strategy
        .parts()
        .ok_or_else(|| std::io::Error::other("a plain strategy has no stacks"))?;
    let (rec, devices) = match opts.engine {
        Engine::Replay => drive(s, opts, parts, progress)?,
        Engine::Tokio => on_tokio::replay(s, opts, parts, progress)?,
    };
    Ok(Run {
        strategy,
        rec,
        devices,
    })
}

fn lane_configs(s: &Scenario, opts: &RunOptions) -> Vec<LaneConfig> {
    let extra = fleet::provisioned(s, opts.scale)
        .filter(|_| opts.fleets.is_empty() || opts.fleets.contains(&Fleet::Tickets));
    s.lanes
        .values()
        .enumerate()
        .map(|(i, spec)| LaneConfig {
            spec: spec.clone(),
            full_rps: spec.capacity_rps * opts.scale,
            extras: extra
                .iter()
                .filter(|e| e.0 == i)
                .map(|e| (e.1, e.2, e.3))
                .collect(),
            hints: opts.hints,
        })
        .collect()
}

// === impl Period ===

impl Period {
    fn new(s: &Scenario) -> Self {
        let start = s.sim.start.seconds();
        Self {
            start,
            tick_ms: u64::from(s.sim.tick_ms),
            total_ms: u64::from(s.sim.end.seconds() - start) * 1000,
        }
    }

    /// Minutes simulated (the last one may be partial).
    pub(crate) fn minutes(&self) -> usize {
        self.total_ms.div_ceil(60_000) as usize
    }

    /// Number of ticks.
    pub(crate) fn ticks(&self) -> u64 {
        self.total_ms.div_ceil(self.tick_ms.max(1))
    }

    /// Second of the day at `ms` into the replay.
    pub(crate) fn second(&self, ms: u64) -> f64 {
        f64::from(self.start) + ms as f64 / 1000.0
    }
}

// === impl Setup ===

impl Setup {
    /// Builds backend and fleets with the replay starting at `t0`.
    pub(crate) fn new(s: &Scenario, opts: &RunOptions, t0: Instant) -> Self {
        let period = Period::new(s);
        let rec = Recorder::new(period.minutes(), s.lanes.len());
        let backend = Rc::new(Backend::new(lane_configs(s, opts), rec, t0));
        let traffic = Streams::seeded(opts.seed);
        let fleets = Fleets::new(s, opts.scale, &opts.fleets, &traffic);
        Self {
            backend,
            fleets,
            period,
            t0,
        }
    }
}

/// Timers further ahead than this wait outside the wheel's ring.
const TIMER_SPAN_MS: u64 = 65_536;

/// Replays a layered strategy: its clients' real layers, on the replay's
/// own clock ([`Clock`]) and executor ([`Tasks`]).
///
/// Within one tick, as in the plain event loop: timers of the milliseconds
/// before the tick (each millisecond's woken requests run before the
/// next), then at the tick its timers and the backend's service, the
/// requests woken by either (an answer beats a timeout of the same
/// millisecond: an attempt's timeout looks at the answer first), then the
/// user actions due.
fn drive(
    s: &Scenario,
    opts: &RunOptions,
    parts: Parts,
    progress: &dyn Fn(u32),
) -> std::io::Result<(Recorder, u64)> {
    let start = Instant::now();
    let period = Period::new(s);
    // Installed before the layers are built: they read it from the start.
    let mut clock = Clock::install(start, TIMER_SPAN_MS, period.tick_ms)?;
    let Setup {
        backend,
        mut fleets,
        period,
        t0,
    } = Setup::new(s, opts, start);
    let devices = fleets.devices();
    let mut clients = client::layered(
        s,
        parts,
        backend.clone(),
        (opts.seed, opts.scale),
        fleets.entitlements(),
    )
    .map_err(std::io::Error::other)?;
    let mut tasks = Tasks::new();
    let tick_ms = period.tick_ms;
    let dt = Duration::from_millis(tick_ms);
    let mut due = Vec::new();
    for tick in 0..period.ticks() {
        let ms = tick * tick_ms;
        while let Some(at) = ms.checked_sub(1).and_then(|m| clock.next_due(m)) {
            clock.advance(at);
            tasks.run_ready(&mut |out| clients.end(out));
            clients.flush(t0 + Duration::from_millis(at));
        }
        clock.advance(ms);
        let now = t0 + Duration::from_millis(ms);
        backend.serve(now, period.second(ms), dt);
        tasks.run_ready(&mut |out| clients.end(out));
        fleets.due(tick, period.second(ms), &mut due);
        for action in due.drain(..) {
            if clients.begin(action)
                && let Some(out) = tasks.spawn(|| clients.request(action))
            {
                clients.end(out);
            }
        }
        clients.flush(now);
        if ms.is_multiple_of(60_000) {
            progress((ms / 60_000) as u32);
        }
    }
    progress(period.minutes() as u32);
    let rec = backend.take_recorder();
    // Requests still in flight go before the clock their timers are on.
    drop(tasks);
    drop(clients);
    drop(clock);
    Ok((rec, devices))
}

mod on_tokio;
#[cfg(test)]
mod tests;
