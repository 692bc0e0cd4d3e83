//! How many timers a waiting request holds. This binary installs, for its
//! whole process, a `Timer` that counts the timers the layers make on
//! each thread and leaves time and timers to Tokio (paused here).

use std::cell::Cell;
use std::pin::Pin;
use std::time::Duration;

use failsoft::BoxError;
use failsoft::backoff::{ExponentialBackoff, Jitter};
use failsoft::error::TimedOut;
use failsoft::retry::RetryLayer;
use failsoft::stack::{AttemptTimeoutLayer, StackLayer};
use failsoft::time::{Instant, Timer, TimerSleep};
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};

thread_local!(static MADE: Cell<u32> = const { Cell::new(0) });

/// Counts the timers made on this thread; Tokio's clock and timers do
/// the rest.
struct Counting;

impl Timer for Counting {
    fn now(&self) -> Option<Instant> {
        None
    }

    fn sleep_until(&self, _deadline: Instant) -> Option<Pin<Box<dyn TimerSleep>>> {
        MADE.set(MADE.get() + 1);
        None
    }

    fn sleep(&self, _delay: Duration) -> Option<Pin<Box<dyn TimerSleep>>> {
        MADE.set(MADE.get() + 1);
        None
    }
}

static COUNTING: Counting = Counting;

/// Timers the layers made on this thread while `f` ran.
async fn timers_made<T>(f: impl Future<Output = T>) -> (T, u32) {
    assert!(failsoft::time::install(&COUNTING));
    let before = MADE.get();
    let out = f.await;
    (out, MADE.get() - before)
}

/// Answers after 100 ms.
async fn slow(x: u8) -> Result<u8, BoxError> {
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(x)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_request_waiting_on_its_backend_holds_one_timer_in_the_stack() {
    let stack = StackLayer::builder().seed(1).build().unwrap();
    let client = stack.layer(service_fn(slow));
    let (answer, made) = timers_made(client.oneshot(7)).await;
    assert_eq!(answer.unwrap(), 7);
    assert_eq!(made, 1, "the attempt timeout's, and no deadline timer");

    // The same layers, the retry layer not told of the timeout below:
    // the deadline gets a timer of its own as well.
    let retry = RetryLayer::builder()
        .deadline(Duration::from_secs(10))
        .seed(1)
        .build()
        .unwrap();
    let parts = ServiceBuilder::new()
        .layer(retry)
        .layer(AttemptTimeoutLayer::new(Duration::from_secs(2)))
        .service(service_fn(slow));
    let (answer, made) = timers_made(parts.oneshot(7)).await;
    assert_eq!(answer.unwrap(), 7);
    assert_eq!(made, 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_deadline_still_ends_an_attempt_with_less_time_left_than_its_timeout() {
    let backoff = ExponentialBackoff::builder()
        .base(Duration::from_millis(200))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let stack = StackLayer::builder()
        .seed(1)
        .deadline(Duration::from_secs(3))
        .attempt_timeout(Duration::from_secs(2))
        .backoff(backoff)
        .build()
        .unwrap();
    let client = stack.layer(service_fn(|_: u8| {
        std::future::pending::<Result<u8, BoxError>>()
    }));
    let start = tokio::time::Instant::now();
    let (answer, _) = timers_made(client.oneshot(7)).await;
    // The first attempt ends at its 2 s timeout; the retry goes out at
    // 2.2 s with 0.8 s left, and the deadline, not its own 2 s, ends it.
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    let err = answer.unwrap_err();
    let timed_out = err.downcast_ref::<TimedOut>().expect("a timeout");
    assert!(timed_out.by_deadline());
    assert_eq!(timed_out.after(), Duration::from_millis(800));
    assert_eq!(stack.counters().snapshot().retries, 1);
}
