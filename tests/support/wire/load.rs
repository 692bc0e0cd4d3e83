//! An open-loop load generator: logical requests at a fixed rate, each in
//! its own task so slow answers never slow the schedule; first above the
//! server's limit, then below it.

use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tower::ServiceExt;

use super::clients::{WireClient, WireRequest};
use super::server::Server;

/// One phase of load: `rate` logical requests per second for `secs`.
#[derive(Clone, Copy, Debug)]
pub struct Phase {
    pub rate: f64,
    pub secs: f64,
}

impl Phase {
    /// Logical requests in the phase.
    pub fn count(&self) -> u64 {
        (self.rate * self.secs).round() as u64
    }
}

/// The run: overload, then recovery. A logical request not answered
/// within `patience` counts as not succeeded (the caller gave up).
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub overload: Phase,
    pub recovery: Phase,
    pub patience: Duration,
}

/// How one logical request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A `200`.
    Success,
    /// An error or any other status.
    Failure,
    /// No answer within the plan's patience.
    Unfinished,
}

/// One logical request: when it started (since its phase began), in which
/// phase (0 overload, 1 recovery), and how it ended.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    pub phase: u8,
    pub since_phase: Duration,
    pub outcome: Outcome,
}

/// What a run measured: the client's records and the server's counts.
#[derive(Clone, Debug)]
pub struct Run {
    pub records: Vec<Record>,
    /// Seconds from the start of the run to the drop in load.
    pub overload_secs: f64,
    /// The server's `200`s up to the drop.
    pub ok_at_drop: u64,
    /// Every attempt the server saw in the run.
    pub attempts: u64,
    /// Every `200` the server sent in the run.
    pub ok: u64,
}

/// Drives `client` against `server` following `plan`, and waits for every
/// logical request to end (at most `patience` after the last one starts).
pub async fn drive(client: &WireClient, server: &Server, plan: &Plan) -> Run {
    let attempts_before = server.attempts();
    let ok_before = server.ok();
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    issue(&mut tasks, client, plan, 0, plan.overload, start).await;
    let drop_at = start + Duration::from_secs_f64(plan.overload.secs);
    tokio::time::sleep_until(drop_at).await;
    let overload_secs = start.elapsed().as_secs_f64();
    let ok_at_drop = server.ok() - ok_before;
    issue(&mut tasks, client, plan, 1, plan.recovery, drop_at).await;
    let mut records = Vec::with_capacity(tasks.len());
    while let Some(record) = tasks.join_next().await {
        records.push(record.expect("a load task panicked"));
    }
    Run {
        records,
        overload_secs,
        ok_at_drop,
        attempts: server.attempts() - attempts_before,
        ok: server.ok() - ok_before,
    }
}

/// Issues the phase's requests on a fixed schedule from `from`. A tick
/// missed on a busy machine is caught up at once (`Burst`), so the phase
/// always issues exactly `phase.count()` requests.
async fn issue(
    tasks: &mut JoinSet<Record>,
    client: &WireClient,
    plan: &Plan,
    phase_no: u8,
    phase: Phase,
    from: Instant,
) {
    let mut ticks = tokio::time::interval_at(from, Duration::from_secs_f64(1.0 / phase.rate));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    for _ in 0..phase.count() {
        ticks.tick().await;
        let since_phase = from.elapsed();
        let call = client.clone().oneshot(WireRequest { path: "/" });
        let patience = plan.patience;
        tasks.spawn(async move {
            let outcome = match tokio::time::timeout(patience, call).await {
                Ok(Ok(res)) if res.status() == hyper::StatusCode::OK => Outcome::Success,
                Ok(_) => Outcome::Failure,
                Err(_) => Outcome::Unfinished,
            };
            Record {
                phase: phase_no,
                since_phase,
                outcome,
            }
        });
    }
}
