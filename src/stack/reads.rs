//! How often one logical request through the stack reads the clock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::{Layer, Service};

use super::StackLayer;
use crate::breaker::BreakerConfig;
use crate::throttle::ThrottleLayer;
use crate::time::test_reads;

/// Answers `req`, after returning `Pending` (and waking itself) `waits`
/// times.
#[derive(Clone, Copy, Debug)]
struct Backend {
    waits: u32,
}

struct Answer {
    req: u64,
    waits: u32,
}

impl Future for Answer {
    type Output = Result<u64, crate::BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.waits == 0 {
            return Poll::Ready(Ok(self.req));
        }
        self.waits -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Service<u64> for Backend {
    type Response = u64;
    type Error = crate::BoxError;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> Answer {
        Answer {
            req,
            waits: self.waits,
        }
    }
}

/// The clock reads of `ready` + `call` and of each poll of the response,
/// until it answers.
fn reads_per_poll<S>(svc: &mut S) -> Vec<u64>
where
    S: Service<u64, Response = u64, Error = crate::BoxError>,
{
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut fut = None;
    let mut reads = vec![test_reads::count(|| {
        assert!(svc.poll_ready(&mut cx).is_ready());
        fut = Some(Box::pin(svc.call(9)));
    })];
    let mut fut = fut.expect("called");
    loop {
        let mut done = false;
        reads.push(test_reads::count(|| {
            if let Poll::Ready(res) = fut.as_mut().poll(&mut cx) {
                assert_eq!(res.unwrap(), 9);
                done = true;
            }
        }));
        if done {
            return reads;
        }
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_call_answered_at_once_reads_no_clock() {
    let mut svc = StackLayer::builder()
        .seed(1)
        .build()
        .unwrap()
        .layer(Backend { waits: 0 });
    // The retry budget files its deposits and the throttle folds its
    // counts (each reading the clock) once every 32 requests of a thread,
    // half a period apart: no request reads it more than once.
    let mut total = 0;
    for i in 0..1_000 {
        let reads = reads_per_poll(&mut svc);
        assert_eq!(reads.len(), 2, "ready + call, one poll");
        assert!(reads.iter().sum::<u64>() <= 1, "call {i}: {reads:?}");
        total += reads.iter().sum::<u64>();
    }
    assert!(total <= 2 * 1_000 / 32 + 2, "{total} reads in 1,000 calls");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_call_that_waits_reads_the_clock_once_per_poll() {
    // The default stack times slow calls for the breaker and the throttle,
    // and has a deadline and an attempt timeout: all of them start from
    // the one instant read when the call first waits, and the breaker and
    // the throttle judge the end from one more, read when it answers.
    let mut svc = StackLayer::builder()
        .seed(1)
        .build()
        .unwrap()
        .layer(Backend { waits: 2 });
    for _ in 0..3 {
        let reads = reads_per_poll(&mut svc);
        assert_eq!(reads, [0, 1, 0, 1], "ready + call, then each poll");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn without_slow_call_timing_a_waiting_request_reads_the_clock_once() {
    // No slow-call judgement: only the deadline and the attempt timeouts
    // need the time, once, when the call first waits.
    let mut svc = StackLayer::builder()
        .throttle(ThrottleLayer::builder())
        .breaker(BreakerConfig::builder().seed(1))
        .attempt_timeout(Duration::from_secs(1))
        .seed(1)
        .build()
        .unwrap()
        .layer(Backend { waits: 3 });
    // Until its count window is full of successes, the breaker records
    // each under its lock, at the time of the end.
    for _ in 0..100 {
        reads_per_poll(&mut svc);
    }
    // Besides, the budget (when `call` deposits) and the throttle (when
    // the call ends) each read it for their housekeeping once every 32
    // requests of a thread.
    let mut housekeeping = 0;
    for _ in 0..320 {
        let reads = reads_per_poll(&mut svc);
        assert!(reads.iter().all(|&n| n <= 1), "{reads:?}");
        assert_eq!(reads[1], 1, "the first wait: {reads:?}");
        housekeeping += reads.iter().sum::<u64>() - 1;
    }
    assert_eq!(housekeeping, 2 * 320 / 32);
}
