//! Issue 13, "keep proving it": a bounded stress run of the recommended
//! stack on a multi-thread runtime (real clock, about two seconds): random
//! failures, cancellations, timeouts and panics in the inner service from
//! fixed seeds, then the invariants that must hold whatever the threads
//! interleaved.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::backoff::{ExponentialBackoff, Jitter};
use failsoft::breaker::{BreakerConfig, State};
use failsoft::budget::RatioBudget;
use failsoft::stack::StackLayer;
use failsoft::throttle::ThrottleLayer;
use tokio::time::{self, Instant};
use tower::{Layer, ServiceExt, service_fn};

const CLIENTS: u64 = 8;
const STORM: Duration = Duration::from_millis(1_500);
const MAX_PROBABILITY: f64 = 0.8;

/// SplitMix64: a fixed, seedable stream of choices.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// What the backend does with one call while it is sick.
#[derive(Debug, Clone, Copy)]
enum Sick {
    Ok,
    Fail,
    Slow,
    Hang,
    Panic,
}

fn sick(draw: u64) -> Sick {
    match draw % 100 {
        0..=39 => Sick::Ok,
        40..=74 => Sick::Fail,
        75..=84 => Sick::Slow,
        85..=94 => Sick::Hang,
        _ => Sick::Panic,
    }
}

/// The backend: sick (by a fixed stream of choices, in call order) until
/// `healthy` is set.
fn backend(
    healthy: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
) -> impl tower::Service<u64, Response = u16, Error = BoxError, Future = impl Send> + Clone {
    service_fn(move |_req: u64| {
        let n = calls.fetch_add(1, Ordering::Relaxed);
        let what = if healthy.load(Ordering::Relaxed) {
            Sick::Ok
        } else {
            sick(mix(n ^ 0x5EED))
        };
        async move {
            match what {
                Sick::Ok => Ok::<u16, BoxError>(200),
                Sick::Fail => Err(BoxError::from("503")),
                Sick::Slow => {
                    time::sleep(Duration::from_millis(3)).await;
                    Ok(200)
                }
                Sick::Hang => {
                    time::sleep(Duration::from_secs(3600)).await;
                    Ok(200)
                }
                Sick::Panic => panic!("backend bug"),
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stack_keeps_its_invariants_under_a_storm() {
    let healthy = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let backend = backend(Arc::clone(&healthy), Arc::clone(&calls));
    let backoff = ExponentialBackoff::builder()
        .base(Duration::from_millis(1))
        .max(Duration::from_millis(10))
        .jitter(Jitter::Full)
        .build()
        .unwrap();
    let open = ExponentialBackoff::builder()
        .base(Duration::from_millis(20))
        .max(Duration::from_millis(100))
        .jitter(Jitter::Full)
        .build()
        .unwrap();
    let stack = StackLayer::builder()
        .deadline(Duration::from_millis(100))
        .attempt_timeout(Duration::from_millis(40))
        .backoff(backoff)
        .budget(
            RatioBudget::builder()
                .ratio(0.2)
                .floor(20.0)
                .window(Duration::from_secs(1)),
        )
        .throttle(
            ThrottleLayer::builder()
                .window(Duration::from_secs(1))
                .max_probability(MAX_PROBABILITY),
        )
        .breaker(
            BreakerConfig::builder()
                .consecutive_failures(8)
                .without_failure_rate()
                .half_open_probes(2)
                .half_open_successes(2)
                .open_backoff(open)
                .without_ramp_up(),
        )
        .seed(13)
        .build()
        .unwrap();
    let counters = stack.counters();
    let budget = stack.budget().clone();
    let breaker = stack.breaker().clone();
    let throttle = stack.throttle();
    let svc = stack.layer(backend);

    // Panics in the backend unwind through the stack's futures inside
    // their tasks; keep the expected ones quiet.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let expected = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|m| *m == "backend bug");
        if !expected {
            eprintln!("{info}");
        }
    }));

    let start = Instant::now();
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let svc = svc.clone();
        clients.push(tokio::spawn(async move {
            let mut panics = 0u64;
            let mut i = 0u64;
            while start.elapsed() < STORM {
                let draw = mix(client << 32 | i);
                i += 1;
                let fut = svc.clone().oneshot(i);
                // One request in five is given up by its caller after
                // 0–30 ms: its future is dropped wherever it is.
                let give_up = draw
                    .is_multiple_of(5)
                    .then(|| Duration::from_millis(draw % 31));
                let outcome = tokio::spawn(async move {
                    match give_up {
                        Some(wait) => drop(time::timeout(wait, fut).await),
                        None => drop(fut.await),
                    }
                })
                .await;
                if let Err(e) = outcome {
                    assert!(e.is_panic(), "{e}");
                    panics += 1;
                }
                // Paced, so the storm is not all local rejections.
                time::sleep(Duration::from_micros(500)).await;
            }
            panics
        }));
    }
    // Throttle probability sampled through the storm.
    let sampler = {
        let throttle = throttle.clone();
        tokio::spawn(async move {
            let mut max = 0.0f64;
            while start.elapsed() < STORM {
                max = max.max(throttle.probability());
                time::sleep(Duration::from_millis(5)).await;
            }
            max
        })
    };
    let mut panics = 0;
    for c in clients {
        panics += c.await.unwrap();
    }
    let max_p = sampler.await.unwrap();

    // The backend heals: the breaker must close again (so no probe slot
    // was lost to a dropped, timed-out or panicking probe).
    healthy.store(true, Ordering::Relaxed);
    let healed_by = Instant::now() + Duration::from_secs(2);
    while breaker.state() != State::Closed && Instant::now() < healed_by {
        let _ = svc.clone().oneshot(0).await;
        time::sleep(Duration::from_millis(2)).await;
    }
    std::panic::set_hook(hook);
    assert_eq!(
        breaker.state(),
        State::Closed,
        "the breaker closes once healed"
    );
    // And healthy requests go through again once the throttle's window
    // has seen the recovery.
    let mut ok = false;
    while !ok && Instant::now() < healed_by + Duration::from_secs(2) {
        ok = svc.clone().oneshot(1).await.is_ok();
        time::sleep(Duration::from_millis(2)).await;
    }
    assert!(ok, "a healthy request went through");

    let snap = counters.snapshot();
    println!("{snap:?}, {panics} panics, throttle max p {max_p:.3}");
    assert!(snap.requests > 100, "the storm sent requests: {snap:?}");
    assert!(panics > 0 && snap.cancelled > 0 && snap.give_ups.total() > 0);
    assert!(snap.successes > 0 && snap.retries > 0);
    assert_eq!(
        snap.requests,
        snap.successes + snap.give_ups.total() + snap.cancelled,
        "every request ended exactly once: {snap:?}"
    );
    let b = budget.snapshot();
    assert_eq!(b.granted, snap.retries, "budget grants = retries sent");
    assert!(max_p <= MAX_PROBABILITY, "throttle probability {max_p}");
    assert!((0.0..=MAX_PROBABILITY).contains(&throttle.probability()));
    // Readings of the breaker itself: closed, nothing in flight holds it.
    let s = breaker.snapshot_at(Instant::now());
    assert_eq!(s.state, State::Closed);
}
