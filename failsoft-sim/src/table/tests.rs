use super::*;
use crate::ClockTime;

/// A row with `requests` user actions and `amp` attempts per action.
fn row(fleet: &'static str, strategy: &'static str, window: &str, requests: u64, amp: f64) -> Row {
    let attempts = (requests as f64 * amp).round() as u64;
    Row {
        fleet,
        strategy,
        window: window.to_owned(),
        requests,
        attempts,
        amplification: (requests > 0).then_some(amp),
        peak_offered_over_capacity: None,
        goodput_ratio: (requests > 0).then_some(if strategy == "naive" { 0.02 } else { 0.9 }),
        wasted_share: None,
        ok: 0,
        soft: 0,
        hard: 0,
        hard_when_capacity_sufficed: 0,
        hard_without_fallback_when_capacity_sufficed: 0,
        recovery_minutes: (strategy != "naive").then_some(3),
        capacity_sufficed_at: (window != "W1" && requests > 0).then(|| "10:00".to_owned()),
        rejected: 0,
        capacity_returned_at: None,
        shortage_goodput_ratio: None,
        stampede_factor: None,
        recovery_s: None,
    }
}

fn note(name: &str, from: &str, to: &str, description: Option<&str>) -> WindowNote {
    WindowNote {
        name: name.to_owned(),
        from: ClockTime::parse(from).unwrap(),
        to: ClockTime::parse(to).unwrap(),
        description: description.map(str::to_owned),
    }
}

/// Two fleets, naive and failsoft, two windows; the tickets sell only in
/// W2, so their W1 rows have no requests.
fn report() -> Report {
    let mut rows = Vec::new();
    for (strategy, amp) in [("naive", 4.0), ("failsoft", 0.5)] {
        rows.push(row("vacuums", strategy, "W1", 100, amp));
        rows.push(row("vacuums", strategy, "W2", 300, 1.0));
    }
    for (strategy, amp) in [("naive", 4.0), ("failsoft", 0.7)] {
        rows.push(row("tickets", strategy, "W1", 0, 0.0));
        rows.push(row("tickets", strategy, "W2", 200, amp));
    }
    Report {
        seed: 7,
        scale: 1.0,
        devices: 10,
        rows,
        chart: Vec::new(),
        windows: vec![
            note(
                "W1",
                "07:30",
                "09:28",
                Some("the outage [P], lanes at 20% [A]"),
            ),
            note("W2", "09:28", "14:22", None),
        ],
    }
}

/// The table's lines that are rows: (fleet, strategy, window).
fn rows_of(table: &str) -> Vec<(String, String, String)> {
    table
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() >= 15 && w[3].parse::<u64>().is_ok())
                .then(|| (w[0].to_owned(), w[1].to_owned(), w[2].to_owned()))
        })
        .collect()
}

#[test]
fn the_default_table_opens_with_one_verdict_line_per_fleet() {
    let text = report().table().to_string();
    let verdicts: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("naive -> failsoft:"))
        .collect();
    assert_eq!(verdicts.len(), 2, "{text}");
    // Vacuums: (100*4 + 300) / 400 = 1.75 and (50 + 300) / 400 = 0.875
    // attempts per action over the day.
    assert!(verdicts[0].trim_start().starts_with("vacuums"), "{text}");
    assert!(
        verdicts[0].contains("1.75 -> 0.88 attempts per action"),
        "{text}"
    );
    assert!(verdicts[0].contains("goodput 0.02 -> 0.90"), "{text}");
    assert!(verdicts[0].contains("recovery never -> 3 min"), "{text}");
    // Tickets: their empty W1 does not dilute the day.
    assert!(verdicts[1].trim_start().starts_with("tickets"), "{text}");
    assert!(
        verdicts[1].contains("4.00 -> 0.70 attempts per action"),
        "{text}"
    );
    // The verdict comes before the rows.
    let first_row = text.find("\nvacuums    naive ").unwrap();
    assert!(text.find("naive -> failsoft:").unwrap() < first_row);
}

#[test]
fn the_default_table_leaves_out_rows_without_requests_and_says_so() {
    let text = report().table().full_hint("--full shows them").to_string();
    let rows = rows_of(&text);
    assert_eq!(rows.len(), 6, "{text}");
    assert!(
        !rows.iter().any(|(f, _, w)| f == "tickets" && w == "W1"),
        "{text}"
    );
    assert!(
        text.contains("2 rows with no requests left out (--full shows them)"),
        "{text}"
    );
    // Display of the report is the default table.
    assert_eq!(report().to_string(), report().table().to_string());
}

#[test]
fn the_full_table_keeps_every_row() {
    let report = report();
    let text = report.table().full(true).to_string();
    let rows = rows_of(&text);
    assert_eq!(rows.len(), report.rows.len(), "{text}");
    assert!(
        rows.iter()
            .any(|(f, s, w)| f == "tickets" && s == "naive" && w == "W1")
    );
    assert!(!text.contains("left out"), "{text}");
}

#[test]
fn windows_are_explained_with_their_times_descriptions_and_tags() {
    let text = report().table().to_string();
    assert!(
        text.contains("\n  W1  07:30-09:28  the outage [P], lanes at 20% [A]\n"),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "  W2  09:28-14:22"), "{text}");
    // Only the tags the descriptions use are explained.
    assert!(
        text.contains("sources: [P] primary source, [A] modelling assumption\n"),
        "{text}"
    );
}

#[test]
fn without_both_strategies_the_verdict_shows_what_there_is() {
    let mut only_naive = report();
    only_naive.rows.retain(|r| r.strategy == "naive");
    let text = only_naive.table().to_string();
    assert!(
        text.contains("vacuums    naive: 1.75 attempts per action"),
        "{text}"
    );
    let mut neither = report();
    neither.rows.iter_mut().for_each(|r| r.strategy = "jitter");
    let text = neither.table().to_string();
    assert!(text.contains("verdict: none"), "{text}");
}

#[test]
fn a_window_too_short_for_the_minutes_measure_is_judged_in_seconds() {
    let mut short = report();
    short.windows = vec![note("all", "00:00", "00:35", None)];
    short
        .rows
        .retain(|r| r.fleet == "vacuums" && r.window == "W2");
    for r in &mut short.rows {
        r.window = "all".to_owned();
        r.capacity_returned_at = Some("00:25".to_owned());
        r.recovery_s = (r.strategy == "failsoft").then_some(19);
    }
    let text = short.table().to_string();
    assert!(text.contains("recovery never -> 19 s"), "{text}");
    // At 40 minutes and more, the table's own `recover` column decides.
    short.windows = vec![note("all", "00:00", "00:40", None)];
    let text = short.table().to_string();
    assert!(text.contains("recovery never -> 3 min"), "{text}");
}
