use std::time::Duration;

use proptest::prelude::*;
use tokio::time::Instant;

use super::window::Sliding;
use super::*;
use crate::backoff::{ExponentialBackoff, Jitter};
use crate::classify::{FailureKind, Outcome};

const FAIL: Outcome = Outcome::Retryable(FailureKind::Error);
const OK: Outcome = Outcome::Success;

fn fixed_backoff() -> ExponentialBackoff {
    ExponentialBackoff::builder()
        .base(Duration::from_secs(5))
        .max(Duration::from_secs(20))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

fn builder() -> BreakerConfigBuilder {
    BreakerConfig::builder()
        .open_backoff(fixed_backoff())
        .without_ramp_up()
        .seed(1)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn call(b: &Breaker, outcome: Outcome, now: Instant) {
    let permit = b.try_acquire_at(now).expect("admitted");
    b.record_at(permit, outcome, now);
}

/// Trips `b` by consecutive failures (config must allow it in `n`).
fn trip(b: &Breaker, n: u32, now: Instant) {
    for _ in 0..n {
        call(b, FAIL, now);
    }
    assert_eq!(b.state(), State::Open);
}

// --- configuration ---

#[test]
fn default_config_is_valid() {
    let cfg = BreakerConfig::builder().build().unwrap();
    assert_eq!(cfg.consecutive_failures(), Some(5));
    assert_eq!(cfg.half_open_probes(), 3);
    assert!(cfg.half_open_probes() > 1);
    assert_eq!(cfg.ramp_up(), Some(secs(10)));
}

fn field_of(b: BreakerConfigBuilder) -> &'static str {
    b.build().unwrap_err().field()
}

#[test]
fn rates_outside_unit_interval_are_rejected() {
    for bad in [0.0, -0.1, 1.01, f64::NAN, f64::INFINITY] {
        assert_eq!(
            field_of(BreakerConfig::builder().failure_rate(bad)),
            "breaker.failure_rate"
        );
        assert_eq!(
            field_of(BreakerConfig::builder().slow_calls(bad, secs(1))),
            "breaker.slow_call_rate"
        );
    }
    assert!(BreakerConfig::builder().failure_rate(1.0).build().is_ok());
}

#[test]
fn zero_counts_and_durations_are_rejected() {
    let b = BreakerConfig::builder;
    assert_eq!(
        field_of(b().consecutive_failures(0)),
        "breaker.consecutive_failures"
    );
    assert_eq!(
        field_of(b().slow_calls(0.5, Duration::ZERO)),
        "breaker.slow_call_duration"
    );
    assert_eq!(
        field_of(b().window(Window::Count(0))),
        "breaker.window_size"
    );
    assert_eq!(
        field_of(b().window(Window::Count(u32::MAX))),
        "breaker.window_size"
    );
    let time = |length, buckets| Window::Time { length, buckets };
    assert_eq!(
        field_of(b().window(time(Duration::ZERO, 10))),
        "breaker.window_length"
    );
    assert_eq!(
        field_of(b().window(time(secs(10), 0))),
        "breaker.window_buckets"
    );
    assert_eq!(
        field_of(b().window(time(secs(10), 1_001))),
        "breaker.window_buckets"
    );
    assert_eq!(
        field_of(b().window(time(Duration::from_millis(5), 10))),
        "breaker.window_buckets"
    );
    assert_eq!(field_of(b().minimum_calls(0)), "breaker.minimum_calls");
    assert_eq!(
        field_of(b().half_open_probes(0)),
        "breaker.half_open_probes"
    );
    assert_eq!(
        field_of(b().half_open_successes(0)),
        "breaker.half_open_successes"
    );
    assert_eq!(field_of(b().ramp_up(Duration::ZERO)), "breaker.ramp_up");
}

#[test]
fn minimum_calls_larger_than_window_is_rejected() {
    let b = BreakerConfig::builder()
        .window(Window::Count(10))
        .minimum_calls(11);
    assert_eq!(field_of(b), "breaker.minimum_calls");
    assert!(
        BreakerConfig::builder()
            .window(Window::Count(10))
            .minimum_calls(10)
            .build()
            .is_ok()
    );
}

#[test]
fn more_successes_than_probes_is_rejected() {
    let b = BreakerConfig::builder()
        .half_open_probes(2)
        .half_open_successes(3);
    assert_eq!(field_of(b), "breaker.half_open_successes");
}

#[test]
fn turning_off_every_policy_is_rejected() {
    let b = BreakerConfig::builder()
        .without_consecutive_failures()
        .without_failure_rate();
    assert_eq!(field_of(b), "breaker.policy");
}

// --- policies ---

#[test]
fn opens_after_five_consecutive_failures() {
    let b = Breaker::new(&builder().without_failure_rate().build().unwrap());
    let now = Instant::now();
    for _ in 0..4 {
        call(&b, FAIL, now);
    }
    assert_eq!(b.state(), State::Closed);
    call(&b, FAIL, now);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_success_resets_the_failure_streak() {
    let b = Breaker::new(&builder().without_failure_rate().build().unwrap());
    let now = Instant::now();
    for _ in 0..20 {
        for _ in 0..4 {
            call(&b, FAIL, now);
        }
        call(&b, OK, now);
    }
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn client_errors_count_as_successes() {
    let cfg = builder()
        .consecutive_failures(2)
        .without_failure_rate()
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let now = Instant::now();
    for _ in 0..10 {
        call(&b, FAIL, now);
        call(&b, Outcome::Fatal, now);
    }
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn failure_rate_counts_only_after_minimum_calls() {
    let cfg = builder()
        .without_consecutive_failures()
        .failure_rate(0.5)
        .window(Window::Count(10))
        .minimum_calls(6)
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let now = Instant::now();
    for _ in 0..5 {
        call(&b, FAIL, now);
    }
    assert_eq!(b.state(), State::Closed, "5 calls < minimum 6");
    call(&b, OK, now);
    assert_eq!(b.state(), State::Open, "5 of 6 failed");
}

#[test]
fn count_window_forgets_calls_beyond_its_size() {
    let cfg = builder()
        .without_consecutive_failures()
        .failure_rate(0.5)
        .window(Window::Count(10))
        .minimum_calls(10)
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let now = Instant::now();
    for _ in 0..4 {
        call(&b, FAIL, now);
    }
    for _ in 0..100 {
        call(&b, OK, now);
    }
    // The four old failures are gone: four new ones make 40%, not 80%.
    for _ in 0..4 {
        call(&b, FAIL, now);
    }
    assert_eq!(b.state(), State::Closed);
    call(&b, FAIL, now);
    assert_eq!(b.state(), State::Open, "5 of the last 10 failed");
}

#[test]
fn time_window_trips_on_rate_and_forgets_old_failures() {
    let cfg = builder()
        .without_consecutive_failures()
        .failure_rate(0.5)
        .window(Window::Time {
            length: secs(10),
            buckets: 10,
        })
        .minimum_calls(4)
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let t0 = Instant::now();
    call(&b, FAIL, t0);
    call(&b, FAIL, t0);
    call(&b, OK, t0);
    // 11 s later the failures have left the window.
    let t1 = t0 + secs(11);
    call(&b, FAIL, t1);
    call(&b, OK, t1);
    call(&b, OK, t1);
    call(&b, OK, t1);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.snapshot_at(t1).calls, 4);
    call(&b, FAIL, t1 + secs(1));
    call(&b, FAIL, t1 + secs(1));
    assert_eq!(b.state(), State::Open, "3 of 6 in the last 10 s");
}

#[test]
fn slow_calls_trip_the_breaker() {
    let cfg = builder()
        .without_consecutive_failures()
        .without_failure_rate()
        .slow_calls(0.5, Duration::from_millis(500))
        .window(Window::Count(4))
        .minimum_calls(4)
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let t0 = Instant::now();
    for i in 0..3 {
        let p = b.try_acquire_at(t0).unwrap();
        let took = if i == 0 {
            secs(1)
        } else {
            Duration::from_millis(10)
        };
        b.record_at(p, OK, t0 + took);
    }
    assert_eq!(b.state(), State::Closed);
    let p = b.try_acquire_at(t0).unwrap();
    b.record_at(p, OK, t0 + Duration::from_millis(600));
    assert_eq!(b.state(), State::Open, "2 of 4 calls slow");
}

// --- open, half-open, close ---

#[test]
fn open_rejects_until_next_probe_then_half_opens() {
    let b = Breaker::new(&builder().consecutive_failures(1).build().unwrap());
    let t0 = Instant::now();
    trip(&b, 1, t0);
    assert!(b.try_acquire_at(t0 + secs(4)).is_err());
    let snap = b.snapshot_at(t0 + secs(4));
    assert_eq!(snap.next_probe, Some(t0 + secs(5)));
    assert!(!snap.ramping_up);
    assert_eq!(b.state(), State::Open, "the rejection took no transition");
    let probe = b.try_acquire_at(t0 + secs(5)).unwrap();
    assert!(probe.is_probe());
    assert_eq!(b.state(), State::HalfOpen);
}

#[test]
fn half_open_admits_only_the_configured_probes() {
    let cfg = builder()
        .consecutive_failures(1)
        .half_open_probes(3)
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let t0 = Instant::now();
    trip(&b, 1, t0);
    let t = t0 + secs(5);
    let probes: Vec<_> = (0..3).map(|_| b.try_acquire_at(t).unwrap()).collect();
    assert!(b.try_acquire_at(t).is_err());
    drop(probes);
    assert!(
        b.try_acquire_at(t).is_ok(),
        "dropped probes give their slots back"
    );
}

#[test]
fn half_open_closes_after_enough_successes() {
    let cfg = builder()
        .consecutive_failures(1)
        .half_open_probes(3)
        .half_open_successes(2)
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let t0 = Instant::now();
    trip(&b, 1, t0);
    let t = t0 + secs(5);
    call(&b, OK, t);
    assert_eq!(b.state(), State::HalfOpen);
    call(&b, OK, t);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn failed_probe_reopens_for_longer_up_to_the_cap() {
    let b = Breaker::new(&builder().consecutive_failures(1).build().unwrap());
    let mut t = Instant::now();
    trip(&b, 1, t);
    let mut opens = Vec::new();
    for _ in 0..4 {
        let next = b.snapshot_at(t).next_probe.unwrap();
        opens.push(next - t);
        t = next;
        call(&b, FAIL, t);
        assert_eq!(b.state(), State::Open);
    }
    assert_eq!(opens, [secs(5), secs(10), secs(20), secs(20)]);
    assert_eq!(b.snapshot_at(t).trips, 5);
}

#[test]
fn trips_are_remembered_until_the_breaker_has_stayed_closed() {
    let cfg = builder()
        .consecutive_failures(1)
        .half_open_successes(1)
        .without_ramp_up()
        .trip_memory(secs(120))
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let mut t = Instant::now();
    trip(&b, 1, t);
    t += secs(5);
    call(&b, FAIL, t); // reopens for 10 s
    t += secs(10);
    call(&b, OK, t);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        b.snapshot_at(t).trips,
        2,
        "a successful probe forgets nothing"
    );
    // Failing again soon after closing: the open time keeps growing, so a
    // flapping backend is kept away longer each time.
    t += secs(30);
    trip(&b, 1, t);
    assert_eq!(b.snapshot_at(t).next_probe, Some(t + secs(20)));
    t += secs(20);
    call(&b, OK, t);
    // Healthy for the whole trip memory: the next trip starts afresh.
    assert_eq!(b.snapshot_at(t + secs(119)).trips, 3);
    assert_eq!(b.snapshot_at(t + secs(120)).trips, 0);
    t += secs(120);
    trip(&b, 1, t);
    assert_eq!(b.snapshot_at(t).next_probe, Some(t + secs(5)));
    assert_eq!(b.snapshot_at(t).trips, 1);
}

#[test]
fn without_trip_memory_closing_resets_the_open_time() {
    let cfg = builder()
        .consecutive_failures(1)
        .half_open_successes(1)
        .trip_memory(Duration::ZERO)
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let mut t = Instant::now();
    trip(&b, 1, t);
    t += secs(5);
    call(&b, FAIL, t); // reopens for 10 s
    t += secs(10);
    call(&b, OK, t);
    assert_eq!(b.state(), State::Closed);
    trip(&b, 1, t);
    assert_eq!(b.snapshot_at(t).next_probe, Some(t + secs(5)));
}

#[test]
fn ramp_ups_are_jittered_and_grow_with_remembered_trips() {
    let cfg = builder()
        .consecutive_failures(1)
        .half_open_successes(1)
        .ramp_up(secs(10))
        .build()
        .unwrap();
    // How long each of 40 breakers ramps after closing from `trips` trips.
    let ramps = |trips: u32| {
        (0..40)
            .map(|_| {
                let b = Breaker::new(&cfg);
                let mut t = Instant::now();
                trip(&b, 1, t);
                for _ in 1..trips {
                    t = b.snapshot_at(t).next_probe.unwrap();
                    call(&b, FAIL, t);
                }
                t = b.snapshot_at(t).next_probe.unwrap();
                call(&b, OK, t);
                let mut ms = 0;
                while b.snapshot_at(t + Duration::from_millis(ms)).ramping_up {
                    // Acquiring moves the ramp's end into view.
                    drop(b.try_acquire_at(t + Duration::from_millis(ms)));
                    ms += 100;
                }
                ms
            })
            .collect::<Vec<_>>()
    };
    let one = ramps(1);
    assert!(
        one.iter().all(|&ms| (10_000..=15_100).contains(&ms)),
        "{one:?}"
    );
    let distinct: std::collections::BTreeSet<_> = one.iter().collect();
    assert!(distinct.len() > 20, "returns are spread: {one:?}");
    let three = ramps(3);
    assert!(
        three.iter().all(|&ms| (40_000..=60_100).contains(&ms)),
        "{three:?}"
    );
    // The growth stops at four times the period.
    let five = ramps(5);
    assert!(
        five.iter().all(|&ms| (40_000..=60_100).contains(&ms)),
        "{five:?}"
    );
}

#[test]
fn open_times_are_jittered_between_half_and_full_ceiling() {
    let cfg = BreakerConfig::builder()
        .consecutive_failures(1)
        .seed(9)
        .build()
        .unwrap();
    let t = Instant::now();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let b = Breaker::new(&cfg);
        trip(&b, 1, t);
        let open = b.snapshot_at(t).next_probe.unwrap() - t;
        assert!(
            open >= Duration::from_millis(2_500) && open <= secs(5),
            "{open:?}"
        );
        seen.insert(open);
    }
    assert!(
        seen.len() > 40,
        "breakers of one config jitter independently"
    );
}

#[test]
fn stale_probe_outcome_is_ignored() {
    let cfg = builder()
        .consecutive_failures(1)
        .half_open_successes(1)
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let t0 = Instant::now();
    trip(&b, 1, t0);
    let t = t0 + secs(5);
    let late = b.try_acquire_at(t).unwrap();
    call(&b, FAIL, t); // reopens
    b.record_at(late, OK, t); // from the previous half-open period
    assert_eq!(b.state(), State::Open);
}

#[test]
fn ramp_up_admits_a_growing_share() {
    let cfg = builder()
        .consecutive_failures(1)
        .half_open_successes(1)
        .ramp_up(secs(10))
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let t0 = Instant::now();
    trip(&b, 1, t0);
    let closed_at = t0 + secs(5);
    call(&b, OK, closed_at);
    assert_eq!(b.state(), State::Closed);
    let admitted_at = |offset: Duration| {
        (0..1_000)
            .filter(|_| match b.try_acquire_at(closed_at + offset) {
                Ok(p) => {
                    drop(p);
                    true
                }
                Err(_) => {
                    assert_eq!(b.state(), State::Closed);
                    assert!(b.snapshot_at(closed_at + offset).ramping_up);
                    false
                }
            })
            .count()
    };
    // The ramp lasts 10 to 15 s (jittered): 16-19 % at 1 s, 58-82 % at 8 s.
    let early = admitted_at(secs(1));
    let late = admitted_at(secs(8));
    assert!((120..240).contains(&early), "about 16-19% early: {early}");
    assert!((540..860).contains(&late), "about 58-82% late: {late}");
    assert_eq!(admitted_at(secs(15)), 1_000);
    assert!(!b.snapshot_at(closed_at + secs(15)).ramping_up);
}

// --- the fast fail ---

#[test]
fn an_open_breaker_rejects_without_its_lock() {
    use super::handle::test_locks;
    let b = Breaker::new(&builder().consecutive_failures(1).build().unwrap());
    let t0 = Instant::now();
    trip(&b, 1, t0);
    let locks = test_locks::count(|| {
        for i in 0..100 {
            assert!(
                b.try_acquire_at(t0 + Duration::from_millis(i * 40))
                    .is_err()
            );
        }
    });
    assert_eq!(locks, 0, "open, before the next probe");
    // Once the open time has run out, the state machine decides (locked).
    let locks = test_locks::count(|| {
        assert!(b.try_acquire_at(t0 + secs(5)).unwrap().is_probe());
    });
    assert!(locks > 0);
    assert_eq!(b.state(), State::HalfOpen);
    b.force_open();
    let locks = test_locks::count(|| {
        for i in 0..100 {
            assert!(b.try_acquire_at(t0 + secs(i * 100)).is_err());
        }
    });
    assert_eq!(locks, 0, "forced open");
}

#[test]
fn a_fast_fail_reads_the_clock_once_and_forced_open_never() {
    use crate::time::test_reads;
    use std::task::{Context, Poll, Waker};
    use tower::Service;

    let b = Breaker::new(&builder().consecutive_failures(1).build().unwrap());
    let inner = tower::service_fn(|_: ()| std::future::ready(Ok::<_, crate::BoxError>(())));
    let mut svc = CircuitBreaker::new(inner, b.clone());
    let mut cx = Context::from_waker(Waker::noop());
    trip(&b, 1, crate::time::now());
    let mut reject = || {
        assert!(svc.poll_ready(&mut cx).is_ready());
        let mut fut = std::pin::pin!(svc.call(()));
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(Err(e)) => assert!(e.is::<crate::error::CircuitOpen>()),
            other => panic!("expected a rejection, got {:?}", other.map(|r| r.is_ok())),
        }
    };
    assert_eq!(test_reads::count(&mut reject), 1, "open: one read");
    b.force_open();
    assert_eq!(test_reads::count(&mut reject), 0, "forced open: none");
}

// --- manual states and observation ---

#[test]
fn forced_open_rejects_everything_and_reset_restores() {
    let b = Breaker::new(&builder().build().unwrap());
    let t = Instant::now();
    b.force_open();
    for i in 0..100 {
        assert!(b.try_acquire_at(t + secs(i * 100)).is_err());
        assert_eq!(b.snapshot_at(t).next_probe, None);
    }
    b.reset();
    assert!(b.try_acquire_at(t).is_ok());
}

#[test]
fn disabled_admits_everything_and_records_nothing() {
    let b = Breaker::new(&builder().consecutive_failures(1).build().unwrap());
    let t = Instant::now();
    b.disable();
    for _ in 0..100 {
        call(&b, FAIL, t);
    }
    assert_eq!(b.state(), State::Disabled);
    b.reset();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn subscribers_see_each_transition() {
    let cfg = builder()
        .consecutive_failures(1)
        .half_open_successes(1)
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let mut rx = b.subscribe();
    let t0 = Instant::now();
    trip(&b, 1, t0);
    assert_eq!(*rx.borrow_and_update(), State::Open);
    let probe = b.try_acquire_at(t0 + secs(5)).unwrap();
    assert_eq!(*rx.borrow_and_update(), State::HalfOpen);
    b.record_at(probe, OK, t0 + secs(5));
    assert_eq!(*rx.borrow_and_update(), State::Closed);
    assert!(!rx.has_changed().unwrap());
}

#[test]
fn snapshot_reports_rate_and_next_probe() {
    let cfg = builder()
        .without_consecutive_failures()
        .window(Window::Count(10))
        .minimum_calls(10)
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let t = Instant::now();
    for i in 0..8 {
        call(&b, if i % 4 == 0 { FAIL } else { OK }, t);
    }
    let snap = b.snapshot_at(t);
    assert_eq!(snap.calls, 8);
    assert!((snap.failure_rate - 0.25).abs() < 1e-9);
    assert_eq!(snap.next_probe, None);
}

#[test]
fn healthy_breaker_stops_writing_once_window_is_full_of_successes() {
    let cfg = builder()
        .window(Window::Count(10))
        .minimum_calls(5)
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let t = Instant::now();
    for _ in 0..10 {
        call(&b, OK, t);
    }
    let word = b.word();
    assert_ne!(word & 0b1000, 0, "no-op flag set");
    // A failure after the skipped successes sees a full window: 1 in 10.
    call(&b, FAIL, t);
    let snap = b.snapshot_at(t);
    assert_eq!(snap.calls, 10);
    assert!((snap.failure_rate - 0.1).abs() < 1e-9);
}

// --- property tests ---

#[derive(Debug, Clone)]
enum Op {
    Acquire,
    Record(usize, bool),
    Drop(usize),
    Advance(u64),
    ForceOpen,
    Disable,
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Acquire),
        4 => (0..8usize, any::<bool>()).prop_map(|(i, ok)| Op::Record(i, ok)),
        1 => (0..8usize).prop_map(Op::Drop),
        2 => (0..30_000u64).prop_map(Op::Advance),
        1 => prop_oneof![Just(Op::ForceOpen), Just(Op::Disable), Just(Op::Reset)],
    ]
}

proptest! {
    #[test]
    fn breaker_keeps_its_invariants(ops in proptest::collection::vec(op(), 1..200), probes in 1u32..5) {
        let cfg = BreakerConfig::builder()
            .consecutive_failures(2)
            .window(Window::Count(8))
            .minimum_calls(4)
            .half_open_probes(probes)
            .half_open_successes(1)
            .ramp_up(secs(3))
            .seed(3)
            .build()
            .unwrap();
        let b = Breaker::new(&cfg);
        let mut now = Instant::now();
        let mut held: Vec<Permit> = Vec::new();
        let mut manual: Option<State> = None;
        for op in ops {
            match op {
                Op::Acquire => {
                    let before = b.snapshot_at(now);
                    let state = before.state;
                    let res = b.try_acquire_at(now);
                    match state {
                        State::ForcedOpen => prop_assert!(res.is_err()),
                        State::Disabled => prop_assert!(res.is_ok()),
                        State::Open => {
                            let until = before.next_probe.unwrap();
                            if now < until { prop_assert!(res.is_err()); }
                        }
                        _ => {}
                    }
                    if let Ok(p) = res { held.push(p); }
                }
                Op::Record(i, ok) if i < held.len() => {
                    let p = held.swap_remove(i);
                    b.record_at(p, if ok { OK } else { FAIL }, now);
                }
                Op::Drop(i) if i < held.len() => drop(held.swap_remove(i)),
                Op::Advance(ms) => now += Duration::from_millis(ms),
                Op::ForceOpen => { b.force_open(); manual = Some(State::ForcedOpen); }
                Op::Disable => { b.disable(); manual = Some(State::Disabled); }
                Op::Reset => { b.reset(); manual = None; }
                _ => {}
            }
            // Manual states override every policy until reset.
            if let Some(m) = manual { prop_assert_eq!(b.state(), m); }
            let epoch = b.word() >> 4;
            let live_probes = held.iter().filter(|p| p.is_probe() && p.epoch() == epoch).count();
            prop_assert!(live_probes as u32 <= probes, "{} live probes > {}", live_probes, probes);
            prop_assert!(b.snapshot_at(now).calls <= 8);
        }
        // Drop everything outstanding: the breaker must not stick.
        held.clear();
        b.reset();
        now += secs(3);
        prop_assert!(b.try_acquire_at(now).is_ok());
    }

    #[test]
    fn count_window_never_counts_more_than_its_size(
        calls in proptest::collection::vec((any::<bool>(), any::<bool>()), 0..300),
        size in 1u32..50,
    ) {
        let now = Instant::now();
        let mut w = Sliding::new(Window::Count(size), now);
        for (i, &(failure, slow)) in calls.iter().enumerate() {
            w.record(failure, slow, now);
            let t = w.totals(now);
            let tail = &calls[(i + 1).saturating_sub(size as usize)..=i];
            prop_assert_eq!(t.calls as usize, tail.len());
            prop_assert_eq!(t.failures as usize, tail.iter().filter(|c| c.0).count());
            prop_assert_eq!(t.slow as usize, tail.iter().filter(|c| c.1).count());
        }
    }

    #[test]
    fn time_window_counts_only_calls_within_its_length(
        gaps in proptest::collection::vec((0u64..3_000, any::<bool>()), 0..200),
        buckets in 1u32..20,
    ) {
        let origin = Instant::now();
        let length = secs(10);
        let mut w = Sliding::new(Window::Time { length, buckets }, origin);
        let mut now = origin;
        let mut log = Vec::new();
        for (gap, failure) in gaps {
            now += Duration::from_millis(gap);
            w.record(failure, false, now);
            log.push((now, failure));
            let t = w.totals(now);
            let within = log.iter().filter(|(at, _)| now - *at <= length).count();
            prop_assert!(t.calls as usize <= within, "{} counted, {} within", t.calls, within);
            // Everything in the newest bucket-width is always counted.
            let width = length / buckets;
            let recent = log.iter().filter(|(at, _)| now - *at < width).count();
            prop_assert!(t.calls as usize >= recent.min(1));
        }
    }
}

#[test]
fn extreme_times_and_outcomes_never_panic() {
    let cfg = builder()
        .window(Window::Time {
            length: secs(10),
            buckets: 10,
        })
        .minimum_calls(1)
        .slow_calls(1.0, Duration::from_millis(1))
        .consecutive_failures(1)
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let t0 = Instant::now();
    let far = t0 + Duration::from_secs(100 * 365 * 86_400);
    for &(at, end) in &[(far, t0), (t0, far), (far, far), (t0, t0)] {
        if let Ok(p) = b.try_acquire_at(at) {
            b.record_at(p, FAIL, end);
        }
        if let Ok(p) = b.try_acquire_at(end) {
            b.record_at(p, Outcome::Fatal, at);
        }
        let _ = b.snapshot_at(at);
    }
    // A cap far beyond tokio's range saturates instead of panicking.
    let huge = ExponentialBackoff::builder()
        .base(secs(1))
        .max(Duration::from_secs(u64::MAX / 4))
        .multiplier(1e300)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let b = Breaker::new(
        &builder()
            .open_backoff(huge)
            .consecutive_failures(1)
            .build()
            .unwrap(),
    );
    for _ in 0..3 {
        let now = Instant::now();
        if let Ok(p) = b.try_acquire_at(now) {
            b.record_at(p, FAIL, now);
        }
        let _ = b.try_acquire_at(far);
    }
}

#[test]
fn slow_calls_are_timed_even_before_the_breaker_existed() {
    let cfg = builder()
        .without_consecutive_failures()
        .without_failure_rate()
        .slow_calls(1.0, Duration::from_millis(500))
        .window(Window::Count(2))
        .minimum_calls(2)
        .build()
        .unwrap();
    // A simulation's clock may start well before the breaker is made.
    let base = Instant::now()
        .checked_sub(secs(3_600))
        .unwrap_or_else(Instant::now);
    let b = Breaker::new(&cfg);
    for _ in 0..2 {
        let p = b.try_acquire_at(base).unwrap();
        b.record_at(p, OK, base + Duration::from_millis(100));
    }
    assert_eq!(b.state(), State::Closed, "100 ms calls are fast");
    for _ in 0..2 {
        let p = b.try_acquire_at(base).unwrap();
        b.record_at(p, OK, base + Duration::from_millis(600));
    }
    assert_eq!(b.state(), State::Open, "600 ms calls are slow");
}

#[test]
fn a_clean_time_window_counts_successes_apart_and_spreads_them_over_their_span() {
    let cfg = builder()
        .without_consecutive_failures()
        .failure_rate(0.5)
        .window(Window::Time {
            length: secs(60),
            buckets: 12,
        })
        .minimum_calls(5)
        .build()
        .unwrap();
    let b = Breaker::new(&cfg);
    let t0 = Instant::now();
    // 120 successes over a minute: the window is clean, so they are
    // counted without the lock...
    for i in 0..120u64 {
        call(&b, OK, t0 + Duration::from_millis(500 * i));
    }
    assert_ne!(b.word() & 0b1000, 0, "a success is counted apart");
    // ...and still weigh against the first failures.
    let t1 = t0 + secs(60);
    for _ in 0..10 {
        call(&b, FAIL, t1);
    }
    let snap = b.snapshot_at(t1);
    assert_eq!(snap.state, State::Closed, "10 of about 130 failed");
    assert!((125..=131).contains(&snap.calls), "{snap:?}");
    // Spread over the minute they happened in, the successes leave the
    // window gradually: half a minute on, about half of them remain, and
    // the same failure rate that did not trip then trips now.
    let t2 = t1 + secs(30);
    let calls = b.snapshot_at(t2).calls;
    assert!((60..=80).contains(&calls), "{calls} calls left");
    for _ in 0..70 {
        call(&b, FAIL, t2);
        if b.state() == State::Open {
            break;
        }
    }
    assert_eq!(b.state(), State::Open);
}
