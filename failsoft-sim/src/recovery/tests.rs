use super::*;

/// 100 seconds of 10 requests per second; capacity 4/s over [20, 50)
/// and 12/s otherwise.
fn hand_made() -> SecondSeries {
    let n = 100;
    let short: Vec<bool> = (0..n).map(|t| (20..50).contains(&t)).collect();
    let capacity = (0..n).map(|t| if short[t] { 4.0 } else { 12.0 }).collect();
    // 3 good answers a second while short; none for the first 5 seconds
    // after capacity returns (a backlog), then all of them.
    let good = (0..n)
        .map(|t| match t {
            20..50 => 3.0,
            50..55 => 0.0,
            _ => 10.0,
        })
        .collect();
    // A stampede of 15 attempts a second for 10 seconds after the return.
    let attempts = (0..n)
        .map(|t| if (50..60).contains(&t) { 15.0 } else { 10.0 })
        .collect();
    SecondSeries {
        organic: vec![10.0; n],
        attempts,
        good,
        capacity,
        short,
    }
}

#[test]
fn the_metrics_of_a_hand_made_shortage() {
    let m = hand_made().window(0, 100);
    assert_eq!(m.returned_at, Some(50));
    // 3 good of the 4 capacity allowed, each short second.
    assert_eq!(m.shortage_goodput_ratio, Some(0.75));
    // 150 attempts over 10 seconds of 12 capacity.
    assert_eq!(m.stampede_factor, Some(150.0 / 120.0));
    // [55, 65) is the first span of 10 s with all 100 answers good.
    assert_eq!(m.recovery_s, Some(5));
}

#[test]
fn a_window_without_a_shortage_or_ending_short_has_no_return() {
    let s = hand_made();
    let calm = s.window(60, 100);
    assert_eq!(calm.returned_at, None);
    assert_eq!(calm.shortage_goodput_ratio, None);
    assert_eq!(calm.stampede_factor, None);
    assert_eq!(calm.recovery_s, None);
    let ends_short = s.window(0, 50);
    assert_eq!(ends_short.returned_at, None);
    assert_eq!(ends_short.shortage_goodput_ratio, Some(0.75));
}

#[test]
fn goodput_that_never_catches_up_never_recovers() {
    let mut s = hand_made();
    s.good.iter_mut().skip(50).for_each(|g| *g = 9.0);
    let m = s.window(0, 100);
    assert_eq!(m.returned_at, Some(50));
    assert_eq!(m.recovery_s, None);
}

#[test]
fn from_counters_shortage_follows_all_fleets_and_capacity_is_shared_by_demand() {
    // One lane, two minutes. 6 requests a second of capacity; vacuums send
    // 3 a second throughout, tickets 6 a second over [30, 60).
    let mut rec = Recorder::new(2, 1);
    for t in 0..120 {
        rec.add_capacity(0, t, 6.0);
        for _ in 0..3 {
            rec.started(0, Fleet::Vacuums, t);
        }
        if (30..60).contains(&t) {
            for _ in 0..6 {
                rec.started(0, Fleet::Tickets, t);
            }
        }
    }
    let s = SecondSeries::new(&rec, Fleet::Vacuums, &[0]);
    // Short well inside the burst, not well outside it.
    assert!(s.short[40] && !s.short[10] && !s.short[100]);
    // A third of the demand in the burst: a third of the capacity.
    assert!((s.capacity[45] - 2.0).abs() < 1e-9, "{}", s.capacity[45]);
    assert!((s.capacity[100] - 6.0).abs() < 1e-9);
    let m = s.window(0, 120);
    // The centred 4 s means of demand stay short up to 2 s past the
    // burst's end.
    let returned = m.returned_at.unwrap();
    assert!((60..=62).contains(&returned), "{returned}");
}
