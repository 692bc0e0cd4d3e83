//! Running a replay: one current-thread runtime on paused time per strategy.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::backend::{Backend, LaneConfig};
use super::client::Clients;
use super::fleet::{self, Fleets};
use super::record::{Fleet, Recorder};
use super::scenario::Scenario;
use super::strategy::Strategy;
use crate::rng::Streams;

/// What to replay: seed, scale, strategies, fleets and switches.
///
/// # Examples
///
/// ```
/// use failsoft::sim::{RunOptions, Strategy};
/// let opts = RunOptions { scale: 0.1, strategies: vec![Strategy::Naive], ..RunOptions::default() };
/// assert_eq!(opts.seed, 7);
/// ```
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Seed of every random choice.
    pub seed: u64,
    /// Multiplies device counts and capacities (ratios stay the same).
    pub scale: f64,
    /// Strategies to replay, each on its own copy of the day.
    pub strategies: Vec<Strategy>,
    /// Fleets to simulate; empty means all in the scenario. Fleets left out
    /// send nothing, so they no longer load shared lanes.
    pub fleets: Vec<Fleet>,
    /// Let lanes send server hints as their scenario says (`false`: never).
    pub hints: bool,
    /// Strategies replayed in parallel (each on its own thread).
    pub threads: usize,
}

/// The raw outcome of replaying one strategy.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) strategy: Strategy,
    pub(crate) rec: Recorder,
    pub(crate) devices: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            seed: 7,
            scale: 1.0,
            strategies: Strategy::ALL.to_vec(),
            fleets: Vec::new(),
            hints: true,
            threads: 1,
        }
    }
}

/// Replays one strategy over the scenario's period; `progress` is called
/// with the simulated minutes done.
pub(crate) fn run_strategy(
    s: &Scenario,
    opts: &RunOptions,
    strategy: Strategy,
    progress: &dyn Fn(u32),
) -> std::io::Result<Run> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    rt.block_on(drive(s, opts, strategy, progress))
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

async fn drive(
    s: &Scenario,
    opts: &RunOptions,
    strategy: Strategy,
    progress: &dyn Fn(u32),
) -> std::io::Result<Run> {
    let t0 = Instant::now();
    let start = s.sim.start.seconds();
    let total_ms = u64::from(s.sim.end.seconds() - start) * 1000;
    let tick_ms = u64::from(s.sim.tick_ms);
    let minutes = total_ms.div_ceil(60_000) as usize;
    let rec = Recorder::new(minutes, s.lanes.len());
    let backend = Arc::new(Backend::new(lane_configs(s, opts), rec, t0));
    let traffic = Streams::seeded(opts.seed);
    let mut fleets = Fleets::new(s, opts.scale, &opts.fleets, &traffic);
    let devices = fleets.devices();
    let clients = Clients::new(
        s,
        strategy,
        backend.clone(),
        (opts.seed, opts.scale),
        t0,
        fleets.entitlements(),
    )
    .map_err(std::io::Error::other)?;
    let dt = Duration::from_millis(tick_ms);
    let mut due = Vec::new();
    let mut tick: u64 = 0;
    // One timer for the whole day, moved to each tick: no timer is created
    // and torn down per tick.
    let mut timer = std::pin::pin!(tokio::time::sleep_until(t0));
    while tick * tick_ms < total_ms {
        let now = t0 + Duration::from_millis(tick * tick_ms);
        timer.as_mut().reset(now);
        timer.as_mut().await;
        let ms = tick * tick_ms;
        let sec = f64::from(start) + ms as f64 / 1000.0;
        backend.serve(now, sec, dt);
        fleets.due(tick, sec, &mut due);
        for action in due.drain(..) {
            clients.start(action);
        }
        if ms.is_multiple_of(60_000) {
            progress((ms / 60_000) as u32);
        }
        tick += 1;
    }
    progress(minutes as u32);
    drop(clients);
    let rec = backend.take_recorder();
    Ok(Run {
        strategy,
        rec,
        devices,
    })
}
