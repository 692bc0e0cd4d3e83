//! The coarse clock installed for the whole process (this test binary is
//! its own process): the layers read it instead of Tokio's clock, on the
//! real clock of a multi-threaded runtime.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::backoff::{ExponentialBackoff, Jitter};
use failsoft::breaker::{BreakerConfig, State};
use failsoft::fallback::FallbackReason;
use failsoft::stack::StackLayer;
use failsoft::time::{CoarseClock, Timer};
use tower::{Layer, ServiceExt};

/// The process's clock, started and installed once for every test here.
fn clock() -> &'static CoarseClock {
    static CLOCK: OnceLock<&'static CoarseClock> = OnceLock::new();
    CLOCK.get_or_init(|| {
        let clock = CoarseClock::start(Duration::from_millis(1)).unwrap();
        assert!(failsoft::time::install(clock));
        clock
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layers_read_the_installed_coarse_clock_and_it_keeps_up() {
    let clock = clock();
    let read = failsoft::time::now();
    assert!(
        read <= tokio::time::Instant::now(),
        "ahead of the real clock"
    );
    assert!(read >= clock.now().unwrap() - Duration::from_secs(1));
    // The clock's thread keeps it moving: within 10 s (a generous bound
    // for a busy machine), a later read is later.
    let start = failsoft::time::now();
    let moved = tokio::time::timeout(Duration::from_secs(10), async {
        while failsoft::time::now() == start {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(moved.is_ok(), "the coarse clock stood still for 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_lets_a_probe_through_once_its_open_time_has_run_out() {
    clock();
    let second = Duration::from_secs(1);
    let open_for = ExponentialBackoff::builder()
        .base(second)
        .max(second)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let layer = StackLayer::builder()
        .breaker(
            BreakerConfig::builder()
                .consecutive_failures(1)
                .open_backoff(open_for),
        )
        .fallback(|reason: FallbackReason, err: BoxError| match reason {
            FallbackReason::CircuitOpen(_) => Ok("fallback"),
            _ => Err(err),
        })
        .max_attempts(1)
        .seed(3)
        .build()
        .unwrap();
    static HEALTHY: AtomicBool = AtomicBool::new(false);
    let svc = layer.layer(tower::service_fn(|_: ()| async {
        if HEALTHY.load(Ordering::Relaxed) {
            Ok("fresh")
        } else {
            Err::<&str, BoxError>("refused".into())
        }
    }));
    assert!(
        svc.clone().oneshot(()).await.is_err(),
        "the failure is passed on"
    );
    assert_eq!(layer.breaker().state(), State::Open);
    assert_eq!(svc.clone().oneshot(()).await.unwrap(), "fallback");
    HEALTHY.store(true, Ordering::Relaxed);
    // A second of open time, read on the coarse clock: 300 ms later than
    // that, the probe goes out (the breaker closes after more of them).
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(svc.clone().oneshot(()).await.unwrap(), "fresh");
    assert_ne!(layer.breaker().state(), State::Open);
}
