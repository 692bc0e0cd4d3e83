//! The breaker layer on paused time, against `tower_test` mocks.

use std::time::Duration;

use failsoft::BoxError;
use failsoft::backoff::{ExponentialBackoff, Jitter};
use failsoft::breaker::{
    Breaker, BreakerConfig, BreakerConfigBuilder, CircuitBreaker, CircuitBreakerLayer,
    KeyedBreakers, KeyedCircuitBreakerLayer, State, Window,
};
use failsoft::classify::{FailureKind, Verdict, classify_error};
use failsoft::error::{CircuitOpen, Throttled};
use tokio::time::{self, Instant};
use tokio_test::{assert_pending, assert_ready, assert_ready_ok};
use tower::{Layer, ServiceExt, service_fn};
use tower_test::mock;

fn builder() -> BreakerConfigBuilder {
    let open = ExponentialBackoff::builder()
        .base(Duration::from_secs(5))
        .max(Duration::from_secs(40))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    BreakerConfig::builder()
        .open_backoff(open)
        .without_ramp_up()
        .seed(4)
}

fn layer(b: BreakerConfigBuilder) -> CircuitBreakerLayer {
    CircuitBreakerLayer::new(b.build().unwrap())
}

/// Sends one request through the mock and answers it.
async fn roundtrip(
    svc: &mut mock::Spawn<CircuitBreaker<mock::Mock<&'static str, &'static str>>>,
    handle: &mut mock::Handle<&'static str, &'static str>,
    ok: bool,
) -> Result<&'static str, BoxError> {
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call("req");
    let (_, send) = handle
        .next_request()
        .await
        .expect("request reached the backend");
    if ok {
        send.send_response("ok");
    } else {
        send.send_error(std::io::Error::other("backend down"));
    }
    fut.await
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn open_circuit_rejects_without_calling_inner() {
    let (mut svc, mut handle) = mock::spawn_layer(layer(builder().consecutive_failures(2)));
    for _ in 0..2 {
        assert!(roundtrip(&mut svc, &mut handle, false).await.is_err());
    }
    assert_ready_ok!(svc.poll_ready());
    let err = svc.call("req").await.unwrap_err();
    assert!(err.is::<CircuitOpen>(), "{err}");
    assert_eq!(
        svc.get_ref()
            .handle()
            .snapshot_at(Instant::now())
            .next_probe,
        Some(Instant::now() + Duration::from_secs(5))
    );
    assert_pending!(handle.poll_request());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn open_circuit_is_ready_even_when_inner_is_not() {
    let (mut svc, mut handle) = mock::spawn_layer(layer(builder().consecutive_failures(1)));
    assert!(roundtrip(&mut svc, &mut handle, false).await.is_err());
    handle.allow(0);
    assert_ready_ok!(svc.poll_ready());
    assert!(svc.call("req").await.unwrap_err().is::<CircuitOpen>());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn probes_after_the_open_time_and_closes_on_success() {
    let cfg = builder().consecutive_failures(1).half_open_successes(2);
    let (mut svc, mut handle) = mock::spawn_layer(layer(cfg));
    assert!(roundtrip(&mut svc, &mut handle, false).await.is_err());
    let breaker = svc.get_ref().handle().clone();
    time::sleep(Duration::from_secs(5)).await;
    assert_eq!(roundtrip(&mut svc, &mut handle, true).await.unwrap(), "ok");
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(roundtrip(&mut svc, &mut handle, true).await.unwrap(), "ok");
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn failed_probe_reopens_for_twice_as_long() {
    let (mut svc, mut handle) = mock::spawn_layer(layer(builder().consecutive_failures(1)));
    assert!(roundtrip(&mut svc, &mut handle, false).await.is_err());
    time::sleep(Duration::from_secs(5)).await;
    assert!(roundtrip(&mut svc, &mut handle, false).await.is_err());
    let snap = svc.get_ref().handle().snapshot_at(Instant::now());
    assert_eq!(snap.state, State::Open);
    assert_eq!(
        snap.next_probe,
        Some(Instant::now() + Duration::from_secs(10))
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn failure_rate_over_a_time_window_trips() {
    let cfg = builder()
        .without_consecutive_failures()
        .failure_rate(0.5)
        .window(Window::Time {
            length: Duration::from_secs(10),
            buckets: 5,
        })
        .minimum_calls(4);
    let (mut svc, mut handle) = mock::spawn_layer(layer(cfg));
    for ok in [false, true, false] {
        let _ = roundtrip(&mut svc, &mut handle, ok).await;
        time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(svc.get_ref().handle().state(), State::Closed);
    let _ = roundtrip(&mut svc, &mut handle, true).await;
    assert_eq!(
        svc.get_ref().handle().state(),
        State::Open,
        "2 of 4 in 10 s"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn slow_calls_trip_through_the_layer() {
    let cfg = builder()
        .without_consecutive_failures()
        .without_failure_rate()
        .slow_calls(1.0, Duration::from_millis(200))
        .window(Window::Count(3))
        .minimum_calls(3);
    let svc = layer(cfg).layer(service_fn(|delay: u64| async move {
        time::sleep(Duration::from_millis(delay)).await;
        Ok::<_, BoxError>(delay)
    }));
    let breaker = svc.handle().clone();
    svc.clone().oneshot(300).await.unwrap();
    svc.clone().oneshot(10).await.unwrap();
    svc.clone().oneshot(300).await.unwrap();
    assert_eq!(breaker.state(), State::Closed, "one fast call in three");
    svc.clone().oneshot(250).await.unwrap();
    assert_eq!(
        breaker.state(),
        State::Closed,
        "the fast call is still in the window"
    );
    svc.clone().oneshot(250).await.unwrap();
    assert_eq!(breaker.state(), State::Open, "three slow calls of three");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn client_errors_and_inner_rejections_do_not_trip() {
    let classify = |_: &(), res: &Result<u16, BoxError>| match res {
        Ok(500..) => Verdict::retryable(FailureKind::Error),
        Ok(400..) => Verdict::fatal(),
        Ok(_) => Verdict::success(),
        Err(e) => classify_error(e),
    };
    let cfg = builder().consecutive_failures(2).without_failure_rate();
    let svc = layer(cfg)
        .classify(classify)
        .layer(service_fn(|code: u16| async move {
            if code == 0 {
                Err::<u16, BoxError>(Box::new(Throttled::new()))
            } else {
                Ok(code)
            }
        }));
    let breaker = svc.handle().clone();
    for _ in 0..10 {
        svc.clone().oneshot(503).await.unwrap();
        svc.clone().oneshot(404).await.unwrap();
        assert!(svc.clone().oneshot(0).await.is_err());
    }
    assert_eq!(breaker.state(), State::Closed);
    svc.clone().oneshot(503).await.unwrap();
    svc.clone().oneshot(500).await.unwrap();
    assert_eq!(breaker.state(), State::Open, "two 5xx in a row");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn ramp_up_rejects_some_calls_after_closing() {
    let cfg = builder()
        .consecutive_failures(1)
        .half_open_successes(1)
        .ramp_up(Duration::from_secs(10));
    let svc = layer(cfg).layer(service_fn(|ok: bool| async move {
        if ok {
            Ok(())
        } else {
            Err(BoxError::from("down"))
        }
    }));
    assert!(svc.clone().oneshot(false).await.is_err());
    time::sleep(Duration::from_secs(5)).await;
    svc.clone().oneshot(true).await.unwrap();
    assert_eq!(svc.handle().state(), State::Closed);
    let mut ramped = 0;
    for _ in 0..200 {
        if let Err(e) = svc.clone().oneshot(true).await {
            assert!(e.is::<CircuitOpen>(), "{e}");
            assert_eq!(svc.handle().state(), State::Closed, "a ramp-up rejection");
            ramped += 1;
        }
    }
    assert!(
        ramped > 100,
        "about 90% rejected at the ramp's start: {ramped}"
    );
    // A first ramp lasts 10 to 15 s.
    time::sleep(Duration::from_secs(15)).await;
    for _ in 0..200 {
        svc.clone().oneshot(true).await.unwrap();
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn clones_share_and_layers_make_fresh_breakers() {
    let cfg = builder().consecutive_failures(1).build().unwrap();
    let failing = || service_fn(|_: ()| async { Err::<(), _>(BoxError::from("down")) });
    let fresh = CircuitBreakerLayer::new(cfg.clone());
    let a = fresh.layer(failing());
    let b = fresh.layer(failing());
    assert!(a.clone().oneshot(()).await.is_err());
    assert_eq!(
        a.handle().state(),
        State::Open,
        "the clone's failure opened a"
    );
    assert_eq!(b.handle().state(), State::Closed, "b has its own breaker");

    let handle = Breaker::new(&cfg);
    let shared = CircuitBreakerLayer::with_handle(handle.clone());
    let c = shared.layer(failing());
    let d = shared.layer(failing());
    assert!(c.oneshot(()).await.is_err());
    assert_eq!(d.handle().state(), State::Open);
    assert_eq!(handle.state(), State::Open);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn keyed_breakers_isolate_keys_within_a_memory_bound() {
    let cfg = builder().consecutive_failures(1).build().unwrap();
    let layer = KeyedCircuitBreakerLayer::new(cfg, 2, |req: &(u8, bool)| req.0).unwrap();
    let svc = layer.layer(service_fn(|(_, ok): (u8, bool)| async move {
        if ok {
            Ok(())
        } else {
            Err(BoxError::from("down"))
        }
    }));
    assert!(svc.clone().oneshot((1, false)).await.is_err());
    let err = svc.clone().oneshot((1, true)).await.unwrap_err();
    assert!(err.is::<CircuitOpen>(), "key 1 is open");
    svc.clone().oneshot((2, true)).await.unwrap();
    svc.clone().oneshot((3, true)).await.unwrap();
    assert_eq!(layer.breakers().len(), 2);
    // Key 1 was least recently used but open: key 2, closed, was evicted
    // instead (issue 13), and key 1 still rejects.
    let err = svc.clone().oneshot((1, true)).await.unwrap_err();
    assert!(err.is::<CircuitOpen>(), "key 1 is still open");
    assert!(layer.breakers().get(&2).is_none());
}

#[test]
fn a_keyed_map_reserves_nothing_for_keys_it_has_not_seen() {
    // `LruCache::new` reserves room for every key up front: `usize::MAX`
    // keys used to panic with a capacity overflow, a million to allocate
    // tens of MB before the first request.
    let cfg = builder().build().unwrap();
    let breakers = KeyedBreakers::<u64>::new(cfg, usize::MAX).unwrap();
    for key in 0..3 {
        breakers.get_or_insert(key).force_open();
    }
    assert_eq!(breakers.len(), 3);
    assert_eq!(breakers.get(&1).map(|b| b.state()), Some(State::ForcedOpen));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn subscription_sees_open_and_close() {
    let cfg = builder().consecutive_failures(1).half_open_successes(1);
    let (mut svc, mut handle) = mock::spawn_layer(layer(cfg));
    let mut rx = svc.get_ref().handle().subscribe();
    assert!(roundtrip(&mut svc, &mut handle, false).await.is_err());
    rx.changed().await.unwrap();
    assert_eq!(*rx.borrow_and_update(), State::Open);
    time::sleep(Duration::from_secs(5)).await;
    roundtrip(&mut svc, &mut handle, true).await.unwrap();
    assert_eq!(*rx.borrow_and_update(), State::Closed);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
#[should_panic(expected = "poll_ready must be called first")]
async fn call_without_poll_ready_panics() {
    let (mut svc, _handle) = mock::spawn_layer::<&str, &str, _>(layer(builder()));
    drop(svc.call("req"));
}

/// Puts a fresh breaker in half-open with all probe slots free.
async fn half_open_breaker() -> Breaker {
    let cfg = builder()
        .consecutive_failures(1)
        .half_open_probes(2)
        .half_open_successes(2);
    let breaker = Breaker::new(&cfg.build().unwrap());
    let permit = breaker.try_acquire_at(Instant::now()).unwrap();
    breaker.record_at(
        permit,
        failsoft::classify::Outcome::Retryable(FailureKind::Error),
        Instant::now(),
    );
    time::sleep(Duration::from_secs(5)).await;
    breaker
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn dropped_probes_never_leave_the_breaker_stuck_half_open() {
    // The backend's call has three await points.
    let backend = service_fn(|_: ()| async {
        time::sleep(Duration::from_millis(10)).await;
        time::sleep(Duration::from_millis(10)).await;
        time::sleep(Duration::from_millis(10)).await;
        Ok::<_, BoxError>(())
    });
    // Drop point 0: after poll_ready stored a probe admission, before call.
    // Drop point k >= 1: after the call's future was polled k times.
    for drop_after in 0..=4 {
        let breaker = half_open_breaker().await;
        for _ in 0..2 {
            let mut svc = mock::Spawn::new(CircuitBreaker::new(backend, breaker.clone()));
            assert_ready_ok!(svc.poll_ready());
            if drop_after > 0 {
                let mut fut = tokio_test::task::spawn(svc.call(()));
                for _ in 1..drop_after {
                    assert_pending!(fut.poll());
                    time::advance(Duration::from_millis(10)).await;
                }
                if drop_after == 4 {
                    assert_ready!(fut.poll()).unwrap();
                    continue;
                }
            }
            // svc (with any stored admission) and fut are dropped here.
        }
        if drop_after == 4 {
            assert_eq!(
                breaker.state(),
                State::Closed,
                "two completed probes close it"
            );
            continue;
        }
        assert_eq!(breaker.state(), State::HalfOpen);
        let svc = CircuitBreaker::new(backend, breaker.clone());
        svc.clone()
            .oneshot(())
            .await
            .expect("a slot was free again");
        svc.oneshot(()).await.expect("both slots were free again");
        assert_eq!(breaker.state(), State::Closed, "drop point {drop_after}");
    }
}

/// Collects the messages of `failsoft::breaker` events.
#[derive(Default)]
struct Messages(std::sync::Mutex<Vec<String>>);

struct MessageVisitor<'a>(&'a mut String);

impl tracing::field::Visit for MessageVisitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            *self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for Messages {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() == "failsoft::breaker" {
            let mut message = String::new();
            event.record(&mut MessageVisitor(&mut message));
            self.0.lock().unwrap().push(message);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn state_changes_emit_tracing_events() {
    let messages = std::sync::Arc::new(Messages::default());
    let cfg = builder()
        .consecutive_failures(1)
        .half_open_successes(1)
        .build()
        .unwrap();
    let breaker = Breaker::new(&cfg);
    let t0 = Instant::now();
    tracing::subscriber::with_default(std::sync::Arc::clone(&messages), || {
        let fail = failsoft::classify::Outcome::Retryable(FailureKind::Error);
        let p = breaker.try_acquire_at(t0).unwrap();
        breaker.record_at(p, fail, t0);
        let p = breaker.try_acquire_at(t0 + Duration::from_secs(5)).unwrap();
        breaker.record_at(
            p,
            failsoft::classify::Outcome::Success,
            t0 + Duration::from_secs(5),
        );
        breaker.force_open();
    });
    assert_eq!(
        *messages.0.lock().unwrap(),
        [
            "breaker opened",
            "breaker half-open: probing",
            "breaker closed",
            "breaker state set by hand"
        ]
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn failure_rate_over_a_count_window_trips_after_minimum_calls() {
    let cfg = builder()
        .without_consecutive_failures()
        .failure_rate(0.5)
        .window(Window::Count(8))
        .minimum_calls(6);
    let (mut svc, mut handle) = mock::spawn_layer(layer(cfg));
    for ok in [false, true, false, true, false] {
        let _ = roundtrip(&mut svc, &mut handle, ok).await;
    }
    assert_eq!(svc.get_ref().handle().state(), State::Closed, "5 calls < 6");
    let _ = roundtrip(&mut svc, &mut handle, true).await;
    assert_eq!(
        svc.get_ref().handle().state(),
        State::Open,
        "3 of 6 failed: 50% trips"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn manual_states_override_the_layer() {
    let (mut svc, mut handle) = mock::spawn_layer(layer(builder().consecutive_failures(1)));
    let breaker = svc.get_ref().handle().clone();
    breaker.force_open();
    assert_ready_ok!(svc.poll_ready());
    assert!(svc.call("req").await.unwrap_err().is::<CircuitOpen>());
    assert_pending!(handle.poll_request());
    breaker.disable();
    for _ in 0..5 {
        assert!(roundtrip(&mut svc, &mut handle, false).await.is_err());
    }
    assert_eq!(breaker.state(), State::Disabled, "failures are not counted");
    breaker.reset();
    assert!(roundtrip(&mut svc, &mut handle, false).await.is_err());
    assert_eq!(breaker.state(), State::Open);
}

// Issue 13, defect 9: `record_at` with an instant one full window old
// used to clear the newest bucket of a time window.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn record_at_a_stale_instant_keeps_the_newest_calls() {
    let cfg = builder()
        .failure_rate(0.9)
        .without_consecutive_failures()
        .window(Window::Time {
            length: Duration::from_secs(10),
            buckets: 10,
        })
        .minimum_calls(100)
        .build()
        .unwrap();
    let breaker = Breaker::new(&cfg);
    let t0 = Instant::now();
    let newest = t0 + Duration::from_millis(10_500);
    for _ in 0..5 {
        let permit = breaker.try_acquire_at(newest).unwrap();
        breaker.record_at(
            permit,
            failsoft::classify::Outcome::Retryable(FailureKind::Error),
            newest,
        );
    }
    let permit = breaker.try_acquire_at(newest).unwrap();
    breaker.record_at(
        permit,
        failsoft::classify::Outcome::Success,
        t0 + Duration::from_millis(500),
    );
    let snap = breaker.snapshot_at(newest);
    assert_eq!(snap.calls, 5);
    assert_eq!(snap.failure_rate, 1.0);
}
