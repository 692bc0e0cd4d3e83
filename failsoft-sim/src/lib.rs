//! The storm simulator: replay a day like 7 December 2021 against client
//! strategies and see which keep a recovering backend down.
//!
//! A scenario ([`Scenario`], from TOML) describes lanes (shared backend
//! dependencies whose capacity changes over the day) and device fleets. A
//! replay ([`replay`]) runs the day once per [`Strategy`]: the layered ones
//! drive the crate's Tower layers on the replay's own simulated clock and
//! executor (or, with [`Engine::Tokio`], on a current-thread Tokio runtime
//! with paused time), the plain retry loops run as an event loop on
//! simulated milliseconds. A simulated day takes seconds and the same seed
//! gives the same [`Report`], byte for byte.
//!
//! The backend ([`Lane`]) is a Tower `Service` with a bounded FIFO queue
//! that keeps serving requests whose clients already gave up: the wasted
//! work that makes retry storms metastable.
//!
//! # Examples
//!
//! ```
//! use failsoft_sim::{replay, RunOptions, Scenario, Strategy};
//!
//! let scenario = Scenario::dec7_2021();
//! let opts = RunOptions { scale: 0.01, strategies: vec![Strategy::Naive], ..RunOptions::default() };
//! let report = replay(&scenario, &opts, &|_, _| {})?;
//! let w1 = report.row("vacuums", "naive", "W1").unwrap();
//! assert!(w1.amplification.unwrap() > 1.0);
//! # Ok::<(), std::io::Error>(())
//! ```

mod backend;
mod chart;
mod client;
mod engine;
mod exec;
mod fleet;
mod metrics;
mod options;
mod plain;
mod record;
mod recovery;
mod report;
mod scenario;
mod stack;
mod strategy;
mod table;
pub(crate) mod timers;
mod wheel;

use std::sync::Mutex;

pub use self::backend::{Call, Lane, LaneFuture, Served, Shed};
pub use self::options::{Engine, MAX_DEVICES, RunOptions};
pub use self::record::Fleet;
pub use self::report::{RecoveryTable, Report, Row};
pub use self::scenario::{
    CapacityPoint, ClientSpec, ClientsSpec, ClockTime, DEC7_2021, Fact, LaneKind, LaneSpec,
    MAX_DESCRIPTION, MAX_RPS, Period, RatePoint, Scenario, ScenarioError, Source, StreamingSpec,
    TicketSpec, VacuumSpec, Window,
};
pub use self::strategy::Strategy;
pub use self::table::Table;

/// Replays `scenario` once per strategy in `opts` and builds the report.
///
/// `progress(strategy, minutes_done)` is called as simulated minutes pass.
/// Strategies run on up to `opts.threads` threads; the report does not
/// depend on the thread count.
///
/// # Errors
///
/// An I/O error of kind [`InvalidInput`](std::io::ErrorKind::InvalidInput)
/// carrying a [`ScenarioError`] if the scenario fails
/// [`Scenario::validate`] (it was changed in code after loading), or a
/// [`ConfigError`](failsoft::ConfigError) if the options fail
/// [`RunOptions::validate`] (a scale that is not a finite number above
/// zero, or too many devices). An I/O error if a Tokio runtime or a thread
/// cannot be created, or if a strategy's layers reject their configuration
/// (the scenario's client settings).
pub fn replay(
    scenario: &Scenario,
    opts: &RunOptions,
    progress: &(dyn Fn(Strategy, u32) + Sync),
) -> std::io::Result<Report> {
    let invalid = |e: Box<dyn std::error::Error + Send + Sync>| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    };
    scenario.validate().map_err(|e| invalid(e.into()))?;
    opts.validate(scenario).map_err(|e| invalid(e.into()))?;
    // Longest first, so the last strategy to start is a short one and the
    // threads finish close together. Results keep the order of `opts`.
    let mut jobs: Vec<(usize, Strategy)> = opts.strategies.iter().copied().enumerate().collect();
    jobs.sort_by_key(|&(i, s)| (std::cmp::Reverse(cost(s)), i));
    let results = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    let threads = opts.threads.clamp(1, jobs.len().max(1));
    std::thread::scope(|scope| -> std::io::Result<()> {
        let mut handles = Vec::new();
        for _ in 0..threads {
            handles.push(scope.spawn(|| -> std::io::Result<()> {
                loop {
                    let job = {
                        let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                        let job = *n;
                        *n += 1;
                        job
                    };
                    let Some(&(i, strategy)) = jobs.get(job) else {
                        return Ok(());
                    };
                    let run =
                        engine::run_strategy(scenario, opts, strategy, &|m| progress(strategy, m))?;
                    results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((i, run));
                }
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| std::io::Error::other("a replay thread panicked"))??;
        }
        Ok(())
    })?;
    let mut runs = results.into_inner().unwrap_or_else(|p| p.into_inner());
    runs.sort_by_key(|(i, _)| *i);
    let runs: Vec<_> = runs.into_iter().map(|(_, r)| r).collect();
    Ok(Report::build(
        scenario,
        opts.seed,
        opts.scale,
        &opts.fleets,
        &runs,
    ))
}

/// Relative cost of replaying `strategy`: its CPU time at scale 1, in
/// tenths of a second, as measured. The layered strategies run the real
/// layers' futures and timers, the retry layer alone (metastable, three
/// attempts per action) most; the plain ones are a lean event loop.
const fn cost(strategy: Strategy) -> u32 {
    match strategy {
        Strategy::RetryOnly => 21,
        Strategy::NoBudget => 11,
        Strategy::Failsoft => 10,
        Strategy::NoFallback => 9,
        Strategy::NoThrottleBreaker => 9,
        Strategy::Jitter => 8,
        Strategy::Backoff => 5,
        Strategy::Naive => 5,
    }
}

/// Renders the report's chart as an SVG document.
///
/// # Errors
///
/// A message if drawing fails.
pub fn chart_svg(report: &Report, scenario: &Scenario) -> Result<String, String> {
    chart::svg(report, f64::from(scenario.sim.start.seconds()) / 3600.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(strategies: &[Strategy], threads: usize) -> Report {
        let opts = RunOptions {
            scale: 0.01,
            strategies: strategies.to_vec(),
            threads,
            ..RunOptions::default()
        };
        replay(&Scenario::dec7_2021(), &opts, &|_, _| {}).unwrap()
    }

    #[test]
    fn rows_keep_the_requested_order_whichever_strategy_runs_first() {
        // `jitter` costs more, so it starts first; `naive` was asked first.
        let order = [Strategy::Naive, Strategy::Jitter];
        assert!(cost(Strategy::Jitter) > cost(Strategy::Naive));
        let two = run(&order, 2);
        for fleet in ["vacuums", "streaming", "tickets"] {
            let names: Vec<&str> = two
                .rows
                .iter()
                .filter(|r| r.fleet == fleet)
                .map(|r| r.strategy)
                .collect();
            let first_jitter = names.iter().position(|n| *n == "jitter").unwrap();
            assert!(first_jitter > 0);
            assert!(names[..first_jitter].iter().all(|n| *n == "naive"));
            assert!(names[first_jitter..].iter().all(|n| *n == "jitter"));
        }
        assert_eq!(two.to_json().unwrap(), run(&order, 1).to_json().unwrap());
    }

    #[test]
    fn a_replay_refuses_a_scenario_broken_in_code_instead_of_panicking() {
        type Break = fn(&mut Scenario);
        let breaks: [(Break, &str); 4] = [
            (|s| s.sim.tick_ms = 0, "sim.tick_ms"),
            (|s| s.lanes.clear(), "vacuums.lane"),
            (
                |s| std::mem::swap(&mut s.sim.start, &mut s.sim.end),
                "sim.end",
            ),
            (
                |s| {
                    if let Some(v) = s.vacuums.as_mut() {
                        v.client.devices_per_stack = 0;
                    }
                },
                "vacuums.client.devices_per_stack",
            ),
        ];
        for (broken, field) in breaks {
            let mut s = Scenario::dec7_2021();
            broken(&mut s);
            let opts = RunOptions {
                strategies: vec![Strategy::Naive, Strategy::Failsoft],
                scale: 0.01,
                ..RunOptions::default()
            };
            let err = replay(&s, &opts, &|_, _| {}).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{field}");
            let inner = err
                .get_ref()
                .and_then(|e| e.downcast_ref::<ScenarioError>());
            assert_eq!(inner.map(|e| e.field()), Some(field));
        }
    }

    #[test]
    fn a_replay_refuses_bad_options_before_it_starts() {
        let s = Scenario::dec7_2021();
        let err = replay(
            &s,
            &RunOptions {
                scale: f64::NAN,
                ..RunOptions::default()
            },
            &|_, _| {},
        )
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        let inner = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<failsoft::ConfigError>());
        assert_eq!(inner.map(failsoft::ConfigError::field), Some("sim.scale"));
    }
}
