use super::*;

fn with(from: &str, to: &str) -> Result<Scenario, ScenarioError> {
    assert!(DEC7_2021.contains(from), "seed has no `{from}`");
    Scenario::from_toml(&DEC7_2021.replacen(from, to, 1), "test.toml")
}

#[test]
fn shipped_seed_is_valid() {
    let s = Scenario::from_toml(DEC7_2021, "seeds/dec7-2021.toml").unwrap();
    assert_eq!(s.lanes.len(), 3);
    assert_eq!(s.windows.len(), 4);
    assert!(s.vacuums.is_some() && s.streaming.is_some() && s.tickets.is_some());
}

#[test]
fn unknown_field_is_rejected_with_its_name() {
    let err = with("queue_s = 30.0", "queue_s = 30.0\nqueue_length = 5").unwrap_err();
    assert_eq!(err.file(), "test.toml");
    assert_eq!(err.field(), "lanes.core.queue_length");
    assert!(err.problem().contains("unknown field"), "{err}");
}

#[test]
fn unknown_field_in_inline_table_is_rejected() {
    let err = with(
        "devices_per_stack = 100",
        "devices_per_stack = 100, colour = 1",
    )
    .unwrap_err();
    assert!(err.field().ends_with("colour"), "{err}");
}

#[test]
fn capacity_times_out_of_order_are_rejected() {
    let err = with(
        "{ at = \"09:28\", fraction = 0.45",
        "{ at = \"07:00\", fraction = 0.45",
    )
    .unwrap_err();
    assert_eq!(err.field(), "lanes.core.capacity[1].at");
    assert!(err.problem().contains("out of order"));
}

#[test]
fn timeline_out_of_order_is_rejected() {
    let err = with("at = \"07:33\"", "at = \"06:33\"").unwrap_err();
    assert_eq!(err.field(), "timeline[2].at");
}

#[test]
fn end_before_start_is_rejected() {
    let err = with("end = \"24:00\"", "end = \"06:00\"").unwrap_err();
    assert_eq!(err.field(), "sim.end");
}

#[test]
fn negative_capacity_is_rejected() {
    let err = with("capacity_rps = 18.0", "capacity_rps = -18.0").unwrap_err();
    assert_eq!(err.field(), "lanes.edge.capacity_rps");
    assert!(err.problem().contains("positive"));
}

#[test]
fn rates_beyond_a_billion_per_second_are_rejected_and_the_limit_is_not() {
    for big in ["1e300", "inf", "nan"] {
        let err = with("capacity_rps = 18.0", &format!("capacity_rps = {big}")).unwrap_err();
        assert_eq!(err.field(), "lanes.edge.capacity_rps", "{big}");
        assert!(err.problem().contains("requests per second"), "{err}");
    }
    assert!(with("capacity_rps = 18.0", "capacity_rps = 1e9").is_ok());
    let err = with("provisioned_rps = 122.0", "provisioned_rps = 2e9").unwrap_err();
    assert_eq!(err.field(), "tickets.provisioned_rps");
    assert!(with("provisioned_rps = 122.0", "provisioned_rps = 0.0").is_ok());
    let err = with("provisioned_rps = 122.0", "provisioned_rps = -1.0").unwrap_err();
    assert_eq!(err.field(), "tickets.provisioned_rps");
}

#[test]
fn negative_period_is_rejected() {
    let err = with("period_s = 300.0", "period_s = -300.0").unwrap_err();
    assert_eq!(err.field(), "vacuums.period_s");
}

#[test]
fn negative_device_count_is_a_type_error_naming_the_key() {
    let err = with("devices = 3000", "devices = -3000").unwrap_err();
    assert_eq!(err.field(), "vacuums.devices");
}

#[test]
fn capacity_fraction_outside_unit_interval_is_rejected() {
    let err = with(
        "fraction = 0.20, source = \"P\" },\n  { at = \"09:28\", fraction = 0.35",
        "fraction = 1.20, source = \"P\" },\n  { at = \"09:28\", fraction = 0.35",
    )
    .unwrap_err();
    assert_eq!(err.field(), "lanes.edge.capacity[0].fraction");
    assert!(err.problem().contains("[0, 1]"));
}

#[test]
fn unknown_lane_is_rejected() {
    let err = with("heartbeat_lane = \"core\"", "heartbeat_lane = \"backbone\"").unwrap_err();
    assert_eq!(err.field(), "streaming.heartbeat_lane");
    assert!(err.problem().contains("unknown lane `backbone`"));
}

#[test]
fn malformed_time_is_rejected() {
    let err = with("on_sale = \"10:00\"", "on_sale = \"10h\"").unwrap_err();
    assert_eq!(err.field(), "tickets.on_sale");
}

#[test]
fn unknown_source_tag_is_rejected() {
    let err = with("source = \"P\"", "source = \"X\"").unwrap_err();
    assert!(err.problem().contains("unknown variant"), "{err}");
}

#[test]
fn scenario_without_fleets_is_rejected() {
    let text = DEC7_2021.split("[vacuums]").next().unwrap();
    let err = Scenario::from_toml(text, "lanes-only.toml").unwrap_err();
    assert!(err.problem().contains("no fleet"));
}

#[test]
fn display_names_file_field_and_problem() {
    let err = with("tick_ms = 100", "tick_ms = 0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "test.toml: sim.tick_ms: must be within 1..=1000"
    );
}

#[test]
fn capacity_steps_and_ramps() {
    let s = Scenario::dec7_2021();
    let edge = &s.lanes["edge"];
    let at = |t: &str| f64::from(ClockTime::parse(t).unwrap().seconds());
    assert_eq!(edge.fraction_at(at("07:00")), 1.0);
    assert_eq!(edge.fraction_at(at("07:30")), 0.20);
    assert_eq!(edge.fraction_at(at("12:00")), 0.35);
    let mid = edge.fraction_at((at("13:35") + at("16:37")) / 2.0);
    assert!((mid - 0.625).abs() < 1e-9, "{mid}");
    assert_eq!(edge.fraction_at(at("20:00")), 1.0);
    assert_eq!(edge.fraction_at(at("23:59")), 1.0);
}

// Issue 13, defect 4: `key_at` sliced a byte after the last non-key
// character, inside a multi-byte one, and panicked.
#[test]
fn non_ascii_before_an_equals_sign_is_an_error_not_a_panic() {
    for text in [
        "¡=\n$",
        "é=1\nx",
        "[sim]\nstart = \"07:00\"\nnaïve¡ = 1\n",
        "ключ = ?",
    ] {
        let err = Scenario::from_toml(text, "bad.toml").unwrap_err();
        assert_eq!(err.file(), "bad.toml");
        assert!(err.problem().contains("(line "), "{text:?}: {err}");
    }
    let err = Scenario::from_toml("¡=\n$", "bad.toml").unwrap_err();
    assert!(err.problem().contains("(line 2)"), "{err}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 2_000,
        rng_seed: proptest::test_runner::RngSeed::Fixed(13),
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    #[test]
    fn parsing_arbitrary_text_never_panics(text in "\\PC*") {
        let _ = Scenario::from_toml(&text, "fuzz.toml");
    }

    #[test]
    fn parsing_toml_shaped_text_never_panics(
        lines in proptest::collection::vec(
            "(\\[[a-zé¡ ]{0,6}\\]|[a-zA-Z_é¡ы\u{1F600} -]{0,8} ?= ?(\"[^\"\n]{0,6}\"|[0-9.]{0,4}|\\{[^\n]{0,8}\\}|[¡$é]{0,3}))",
            0..8,
        )
    ) {
        let _ = Scenario::from_toml(&lines.join("\n"), "fuzz.toml");
    }
}

#[test]
fn window_descriptions_are_read_and_checked() {
    let s = Scenario::from_toml(DEC7_2021, "seeds/dec7-2021.toml").unwrap();
    assert!(s.windows.iter().all(|w| w.description.is_some()));
    // A TOML `\n` escape makes a second line.
    let first = "description = \"the outage:";
    let err = with(first, "description = \"the outage:\\nmore").unwrap_err();
    assert_eq!(err.field(), "windows[0].description", "{err}");
    assert!(err.problem().contains("one line"), "{err}");
    let long = format!("description = \"{}", "a".repeat(MAX_DESCRIPTION + 1));
    let err = with(first, &long).unwrap_err();
    assert_eq!(err.field(), "windows[0].description", "{err}");
    assert!(err.problem().contains("at most 160"), "{err}");
    // Exactly the limit is fine (the rest of the line is longer: cut it).
    let at_limit = DEC7_2021
        .lines()
        .map(|l| {
            if l.starts_with("description = \"partial relief") {
                format!("description = \"{}\"", "é".repeat(MAX_DESCRIPTION))
            } else if l.starts_with("description = \"network recovered") {
                "description = \"   \"".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let err = Scenario::from_toml(&at_limit, "t.toml").unwrap_err();
    assert_eq!(err.field(), "windows[2].description", "{err}");
    assert!(err.problem().contains("must not be empty"), "{err}");
}
