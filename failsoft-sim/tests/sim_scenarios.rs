//! The scenarios shipped in `seeds/` load and validate, the rate-limited
//! lane kind is checked on load, and both new scenarios replay.

use failsoft_sim::{LaneKind, RunOptions, Scenario, Strategy, replay};

const BROWNOUT: &str = include_str!("../../seeds/brownout.toml");
const RATE_LIMIT: &str = include_str!("../../seeds/rate-limit.toml");

#[test]
fn the_shipped_scenarios_load_and_validate() {
    for path in [
        "../seeds/dec7-2021.toml",
        "../seeds/brownout.toml",
        "../seeds/rate-limit.toml",
    ] {
        let s = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        s.validate().unwrap();
    }
    let b = Scenario::from_toml(BROWNOUT, "brownout.toml").unwrap();
    assert_eq!(b.lanes["backend"].kind, LaneKind::Fifo);
    let r = Scenario::from_toml(RATE_LIMIT, "rate-limit.toml").unwrap();
    assert_eq!(r.lanes["api"].kind, LaneKind::RateLimit);
    // Lanes without a kind stay FIFO queues.
    let d = Scenario::dec7_2021();
    assert!(d.lanes.values().all(|l| l.kind == LaneKind::Fifo));
}

#[test]
fn lane_kinds_refuse_the_fields_of_the_other_kind_naming_them() {
    let cases: [(&str, &str, &str, &str); 6] = [
        (
            RATE_LIMIT,
            "service_ms = 20",
            "service_ms = 20\nqueue_s = 30.0",
            "lanes.api.queue_s",
        ),
        (
            RATE_LIMIT,
            "service_ms = 20",
            "service_ms = 20\nreject_cost = 0.05",
            "lanes.api.reject_cost",
        ),
        (
            RATE_LIMIT,
            "retry_after_s = 1.0",
            "retry_after_s = -1.0",
            "lanes.api.retry_after_s",
        ),
        (
            RATE_LIMIT,
            "burst_s = 1.0",
            "burst_s = 0.0",
            "lanes.api.burst_s",
        ),
        (
            BROWNOUT,
            "queue_s = 30.0 ",
            "burst_s = 1.0 ",
            "lanes.backend.queue_s",
        ),
        (
            BROWNOUT,
            "service_ms = 50",
            "service_ms = 50\nretry_after_s = 1.0",
            "lanes.backend.retry_after_s",
        ),
    ];
    for (text, from, to, field) in cases {
        assert!(text.contains(from), "{from}");
        let err = Scenario::from_toml(&text.replacen(from, to, 1), "x.toml").unwrap_err();
        assert_eq!(err.field(), field, "{err}");
        assert!(
            err.to_string().starts_with(&format!("x.toml: {field}: ")),
            "{err}"
        );
    }
    let err = Scenario::from_toml(&RATE_LIMIT.replace("\"rate_limit\"", "\"leaky\""), "x.toml")
        .unwrap_err();
    assert!(err.problem().contains("unknown variant"), "{err}");
}

#[test]
fn open_loop_rates_must_be_in_time_order() {
    let text = RATE_LIMIT.replace(
        "at = \"00:00:20\", rps = 100.0",
        "at = \"00:00\", rps = 100.0",
    );
    let err = Scenario::from_toml(&text, "x.toml").unwrap_err();
    assert_eq!(err.field(), "clients.rates[1].at", "{err}");
}

#[test]
fn the_rate_limit_scenario_refuses_the_excess_and_serves_the_rest() {
    let s = Scenario::from_toml(RATE_LIMIT, "rate-limit.toml").unwrap();
    let opts = RunOptions {
        scale: 0.1,
        strategies: vec![Strategy::Naive],
        threads: 1,
        ..RunOptions::default()
    };
    let report = replay(&s, &opts, &|_, _| {}).unwrap();
    let row = report.row("clients", "naive", "all").unwrap();
    // 100/s for 20 s, then 10/s for 160 s, at scale 0.1.
    assert_eq!(row.requests, 3_600);
    assert!(row.rejected > 0);
    // Whatever the limiter admits is served at once, nothing is wasted.
    assert_eq!(row.wasted_share, Some(0.0));
    assert_eq!(row.capacity_returned_at.as_deref(), Some("00:00:22"));
}
