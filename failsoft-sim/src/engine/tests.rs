use super::*;
use crate::record::LaneCount;

#[test]
fn the_replay_clock_replays_the_layers_as_tokios_paused_clock_does() {
    let s = Scenario::dec7_2021();
    for strategy in [Strategy::Failsoft, Strategy::RetryOnly] {
        let opts = RunOptions {
            scale: 0.05,
            strategies: vec![strategy],
            ..RunOptions::default()
        };
        let ours = run_strategy(&s, &opts, strategy, &|_| {}).unwrap().rec;
        let on_tokio = RunOptions {
            engine: Engine::Tokio,
            ..opts
        };
        let tokios = run_strategy(&s, &on_tokio, strategy, &|_| {}).unwrap().rec;
        let attempts: u64 = (0..ours.minutes)
            .flat_map(|m| (0..ours.lanes).map(move |l| (l, m)))
            .flat_map(|(l, m)| Fleet::ALL.map(|f| (l, f, m)))
            .map(|(l, f, m)| ours.lane_count(l, f, m, LaneCount::Attempts))
            .sum();
        assert!(attempts > 10_000, "{strategy:?}: {attempts} attempts");
        assert!(ours == tokios, "{strategy:?}: the two engines differ");
    }
}
