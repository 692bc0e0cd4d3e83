use super::*;

const TICK_MS: u64 = 100;

/// Runs the fleets' calendars over `[from, to)` seconds of the day and
/// counts actions per fleet and lane.
fn actions(f: &mut Fleets, start: f64, from: f64, to: f64) -> Vec<Action> {
    let mut out = Vec::new();
    let first = ((from - start) * 1000.0 / TICK_MS as f64).round() as u64;
    let last = ((to - start) * 1000.0 / TICK_MS as f64).round() as u64;
    for tick in first..last {
        let sec = start + (tick * TICK_MS) as f64 / 1000.0;
        f.due(tick, sec, &mut out);
    }
    out
}

fn scenario() -> (Scenario, f64) {
    let s = Scenario::dec7_2021();
    let start = f64::from(s.sim.start.seconds());
    (s, start)
}

#[test]
fn every_vacuum_checks_in_once_per_period() {
    let (s, start) = scenario();
    let mut f = Fleets::new(&s, 0.1, &[Fleet::Vacuums], &Streams::seeded(3));
    // 07:05-07:10: one period, no top of the hour.
    let got = actions(&mut f, start, start + 300.0, start + 600.0);
    let mut devices: Vec<u32> = got.iter().map(|a| a.device).collect();
    devices.sort_unstable();
    devices.dedup();
    assert_eq!(devices.len(), 300, "every device once");
    // Plus a few app commands (2% per period on average).
    assert!(got.len() >= 300 && got.len() < 320, "{}", got.len());
    assert!(got.iter().all(|a| a.fallback && a.fleet == Fleet::Vacuums));
}

#[test]
fn the_herd_reports_at_the_top_of_the_hour() {
    let (s, start) = scenario();
    let mut f = Fleets::new(&s, 1.0, &[Fleet::Vacuums], &Streams::seeded(3));
    let before = actions(&mut f, start, start, 8.0 * 3600.0);
    let top = actions(&mut f, start, 8.0 * 3600.0, 8.0 * 3600.0 + 0.1).len();
    let next = actions(&mut f, start, 8.0 * 3600.0 + 0.1, 8.0 * 3600.0 + 0.2).len();
    assert!(!before.is_empty());
    // 2% of 3,000 devices on top of about one check-in per tick.
    assert!(top >= 40 && next < 10, "top {top}, next {next}");
}

#[test]
fn streams_grow_through_the_day_and_new_ones_start_a_session() {
    let (s, start) = scenario();
    let mut f = Fleets::new(&s, 0.1, &[Fleet::Streaming], &Streams::seeded(3));
    let heartbeats = |v: &[Action]| v.iter().filter(|a| !a.grants).count();
    let morning = actions(&mut f, start, start, start + 60.0);
    assert_eq!(heartbeats(&morning), 90, "one heartbeat per initial stream");
    let day = actions(&mut f, start, start + 60.0, 21.0 * 3600.0);
    let auth = day.iter().filter(|a| a.grants).count();
    let evening = actions(&mut f, start, 21.0 * 3600.0, 21.0 * 3600.0 + 60.0);
    assert_eq!(heartbeats(&evening), 160, "all streams by 21:00");
    // 70 session starts plus a token refresh per stream every 15 minutes.
    assert!(auth > 70 + 14 * 4 * 90, "{auth}");
}

#[test]
fn fans_poll_only_between_arrival_and_leaving() {
    let (s, start) = scenario();
    let mut f = Fleets::new(&s, 0.1, &[Fleet::Tickets], &Streams::seeded(3));
    assert!(actions(&mut f, start, start, 10.0 * 3600.0).is_empty());
    let during = actions(&mut f, start, 10.0 * 3600.0 + 600.0, 10.0 * 3600.0 + 610.0);
    // All 70 fans have arrived by 10:10 and poll every 10 s.
    assert_eq!(during.len(), 70);
    assert!(actions(&mut f, start, 12.0 * 3600.0, 12.0 * 3600.0 + 60.0).is_empty());
}

#[test]
fn traffic_depends_on_the_seed_only() {
    let (s, start) = scenario();
    let run = |seed| {
        let mut f = Fleets::new(&s, 0.1, &[], &Streams::seeded(seed));
        actions(&mut f, start, start, start + 120.0)
            .iter()
            .map(|a| (a.fleet, a.lane, a.device))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

/// The devices a calendar of `len` ticks lists at `tick`, by brute force.
fn due_by_scan(entries: &[(usize, u32)], len: usize, tick: u64) -> Vec<u32> {
    let phase = (tick % len as u64) as usize;
    entries
        .iter()
        .filter(|e| e.0 % len == phase)
        .map(|e| e.1)
        .collect()
}

#[test]
fn a_calendar_lists_each_tick_its_devices_in_order_given_walked_or_jumped() {
    let entries: Vec<(usize, u32)> = (0..200u32)
        .map(|d| ((d as usize * 7919) % 53 + usize::from(d % 3 == 0) * 53, d))
        .collect();
    let cal = Calendar::new(37, entries.clone());
    // Walked tick after tick over several periods, as the replay does.
    for tick in 0..200 {
        assert_eq!(
            cal.due(tick),
            due_by_scan(&entries, 37, tick),
            "tick {tick}"
        );
    }
    // Asked out of order (the ticket fleet skips ticks outside its hours).
    for tick in [5_000, 3, 3, 4, 90, 1_000_001, 36, 37] {
        assert_eq!(
            cal.due(tick),
            due_by_scan(&entries, 37, tick),
            "tick {tick}"
        );
    }
}

#[test]
fn a_calendar_of_a_huge_period_costs_no_more_than_its_devices() {
    // A period of usize::MAX ticks (a period far beyond the day): no slot
    // per tick is allocated, and each device is due at its phase only.
    let cal = Calendar::new(usize::MAX, vec![(5, 1), (2, 0), (5, 2)]);
    assert_eq!(cal.devices.len(), 3);
    assert_eq!(cal.due(2), [0]);
    assert_eq!(cal.due(3), [] as [u32; 0]);
    assert_eq!(cal.due(5), [1, 2]);
}
