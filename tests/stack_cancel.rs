//! Issue 13, "keep proving it": the recommended stack, with a real
//! `RatioBudget`, dropped at every point of a request's life (as
//! `tests/retry.rs` does for the retry layer with a mock budget). On paused
//! time: the request is polled every 10 ms and dropped after 0, 10, 20, …
//! ms, through its attempts, its backoff sleeps, its waits for the backend
//! to be ready again, and while it holds the breaker's only probe slot.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::backoff::{ExponentialBackoff, Jitter};
use failsoft::breaker::{BreakerConfig, State};
use failsoft::budget::RatioBudget;
use failsoft::stack::StackLayer;
use failsoft::throttle::ThrottleLayer;
use tokio::time::{self, Instant, Sleep};
use tower::{Layer, Service, ServiceExt};

const STEP: Duration = Duration::from_millis(10);

/// A backend that answers after 300 ms (a failure while `down`) and, after
/// each call, is not ready for 600 ms (a busy connection pool).
struct Backend {
    down: Arc<AtomicBool>,
    busy_until: Arc<Mutex<Instant>>,
    wait: Option<Pin<Box<Sleep>>>,
}

impl Backend {
    fn new() -> Self {
        Self {
            down: Arc::new(AtomicBool::new(true)),
            busy_until: Arc::new(Mutex::new(Instant::now())),
            wait: None,
        }
    }
}

impl Clone for Backend {
    /// Clones share the backend's state; each has its own readiness timer.
    fn clone(&self) -> Self {
        Self {
            down: Arc::clone(&self.down),
            busy_until: Arc::clone(&self.busy_until),
            wait: None,
        }
    }
}

impl Service<u32> for Backend {
    type Response = u32;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<u32, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let until = *self.busy_until.lock().unwrap();
        if Instant::now() >= until {
            self.wait = None;
            return Poll::Ready(Ok(()));
        }
        let wait = self
            .wait
            .get_or_insert_with(|| Box::pin(time::sleep_until(until)));
        wait.as_mut().reset(until);
        match wait.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.wait = None;
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, req: u32) -> Self::Future {
        *self.busy_until.lock().unwrap() = Instant::now() + Duration::from_millis(600);
        let down = self.down.load(Ordering::Relaxed);
        Box::pin(async move {
            time::sleep(Duration::from_millis(300)).await;
            if down {
                Err(BoxError::from("503"))
            } else {
                Ok(req)
            }
        })
    }
}

fn stack() -> StackLayer {
    let backoff = ExponentialBackoff::builder()
        .base(Duration::from_millis(100))
        .max(Duration::from_secs(1))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let open = ExponentialBackoff::builder()
        .base(Duration::from_secs(1))
        .max(Duration::from_secs(1))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    StackLayer::builder()
        .deadline(Duration::from_secs(5))
        .attempt_timeout(Duration::from_secs(1))
        .backoff(backoff)
        .budget(RatioBudget::builder().ratio(1.0).floor(1.0))
        // Never sheds: the breaker alone decides who goes out.
        .throttle(ThrottleLayer::builder().min_requests(1_000_000))
        .breaker(
            BreakerConfig::builder()
                .consecutive_failures(2)
                .without_failure_rate()
                .half_open_probes(1)
                .half_open_successes(1)
                .open_backoff(open)
                .without_ramp_up(),
        )
        .seed(13)
        .build()
        .unwrap()
}

/// One run: start a request (if `probe`, once the breaker has tripped and
/// a probe is due, so the request holds the only probe slot), poll it
/// every 10 ms and drop it after `steps` steps; then heal the backend and
/// check the accounts. Returns whether the request finished first.
async fn cut_after(steps: u32, probe: bool) -> bool {
    let stack = stack();
    let counters = stack.counters();
    let budget = stack.budget().clone();
    let breaker = stack.breaker().clone();
    let backend = Backend::new();
    let down = Arc::clone(&backend.down);
    let svc = stack.layer(backend);

    if probe {
        // Two failed attempts open the breaker; the third is rejected.
        assert!(svc.clone().oneshot(0).await.is_err());
        assert_eq!(breaker.state(), State::Open);
        time::sleep(Duration::from_secs(1)).await;
    }

    // Closed: attempt (300 ms), backoff (100 ms), a wait for readiness
    // (200 ms), attempt, then the open breaker rejects the third. As the
    // probe: attempt, backoff, rejected.
    let mut fut = tokio_test::task::spawn(svc.clone().oneshot(1));
    let mut finished = false;
    for _ in 0..steps {
        if fut.poll().is_ready() {
            finished = true;
            break;
        }
        time::advance(STEP).await;
    }
    drop(fut);

    // The backend heals: the breaker must close again, so the probe slot
    // the dropped request may have held was given back.
    down.store(false, Ordering::Relaxed);
    let by = Instant::now() + Duration::from_secs(30);
    while breaker.state() != State::Closed && Instant::now() < by {
        let _ = svc.clone().oneshot(2).await;
        time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(breaker.state(), State::Closed, "cut after {steps} steps");
    assert_eq!(svc.clone().oneshot(3).await.unwrap(), 3);

    let snap = counters.snapshot();
    assert_eq!(
        snap.requests,
        snap.successes + snap.give_ups.total() + snap.cancelled,
        "cut after {steps} steps: {snap:?}"
    );
    // A future never polled never made its call: nothing to cancel.
    let cancelled = !finished && steps > 0;
    assert_eq!(
        snap.cancelled,
        u64::from(cancelled),
        "cut after {steps} steps"
    );
    let b = budget.snapshot();
    assert_eq!(b.granted, snap.retries, "cut after {steps} steps: {b:?}");
    finished
}

/// Cuts at every step until the request finishes by itself first.
async fn every_cut(probe: bool) -> u32 {
    let mut steps = 0;
    while !cut_after(steps, probe).await {
        steps += 1;
        assert!(steps < 1_000, "the request ends within its 5 s deadline");
    }
    steps
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn dropping_the_stack_future_anywhere_leaks_nothing() {
    let lived = every_cut(false).await;
    println!("request lived {lived} steps");
    assert!(lived > 80, "the request lived {lived} steps");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn dropping_a_probe_anywhere_gives_its_slot_back() {
    let lived = every_cut(true).await;
    println!("probe lived {lived} steps");
    assert!(lived > 30, "the probe lived {lived} steps");
}
