use std::pin::pin;

use super::*;
use crate::sim::client::finish;
use crate::sim::record::{Fleet, LaneCount};

/// Replays a layered strategy as the engine did before it had its own
/// clock: one Tokio task per request on a paused current-thread runtime,
/// the layers on Tokio's timers.
async fn drive_on_tokio(s: &Scenario, opts: &RunOptions, strategy: Strategy) -> Recorder {
    let Setup {
        backend,
        mut fleets,
        period,
        t0,
    } = Setup::new(s, opts, Instant::now());
    let grants = fleets.entitlements();
    let parts = strategy.parts().expect("a layered strategy");
    let seed = (opts.seed, opts.scale);
    let mut clients = client::layered(s, parts, backend.clone(), seed, grants.clone()).unwrap();
    let dt = Duration::from_millis(period.tick_ms);
    let mut due = Vec::new();
    let mut timer = pin!(tokio::time::sleep_until(t0));
    for tick in 0..period.ticks() {
        let ms = tick * period.tick_ms;
        let now = t0 + Duration::from_millis(ms);
        timer.as_mut().reset(now);
        timer.as_mut().await;
        backend.serve(now, period.second(ms), dt);
        tokio::task::yield_now().await;
        fleets.due(tick, period.second(ms), &mut due);
        for action in due.drain(..) {
            if !clients.begin(action, now) {
                continue;
            }
            let request = clients.request(action);
            let (backend, grants) = (backend.clone(), grants.clone());
            tokio::spawn(async move {
                let (action, ending) = request.await;
                let grant = action.grants.then_some(grants.as_deref()).flatten();
                finish(&backend, Instant::now(), action, ending, grant);
            });
        }
    }
    backend.take_recorder()
}

#[test]
fn the_replay_clock_replays_the_layers_as_tokios_paused_clock_does() {
    let s = Scenario::dec7_2021();
    for strategy in [Strategy::Failsoft, Strategy::RetryOnly] {
        let opts = RunOptions {
            scale: 0.05,
            strategies: vec![strategy],
            ..RunOptions::default()
        };
        let ours = run_strategy(&s, &opts, strategy, &|_| {}).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let tokios = rt.block_on(drive_on_tokio(&s, &opts, strategy));
        let attempts: u64 = (0..ours.rec.minutes)
            .flat_map(|m| (0..ours.rec.lanes).map(move |l| (l, m)))
            .flat_map(|(l, m)| Fleet::ALL.map(|f| (l, f, m)))
            .map(|(l, f, m)| ours.rec.lane_count(l, f, m, LaneCount::Attempts))
            .sum();
        assert!(attempts > 10_000, "{strategy:?}: {attempts} attempts");
        assert!(ours.rec == tokios, "{strategy:?}: the two clocks differ");
    }
}
