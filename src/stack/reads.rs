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

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn after_an_outage_a_rejected_call_reads_the_clock_once() {
    // The throttle sheds (its window holds requests and no accepts) and
    // the breaker is open: the throttle reads the clock to decide, and a
    // call it lets through is turned away by the breaker at that instant,
    // not at a second reading.
    let stack = StackLayer::builder()
        .throttle(ThrottleLayer::builder().max_probability(0.5))
        .seed(1)
        .build()
        .unwrap();
    let now = crate::time::now();
    for _ in 0..100 {
        stack.throttle().record_request_at(now);
    }
    // Tripped by failures, so its open time runs out: judging a call needs
    // the time (a forced-open breaker would not).
    let breaker = stack.breaker();
    while breaker.state() != crate::breaker::State::Open {
        let permit = breaker.try_acquire_at(now).expect("closed");
        let failed = crate::classify::Outcome::Retryable(crate::classify::FailureKind::Error);
        breaker.record_at(permit, failed, now);
    }
    let mut svc = stack.layer(Backend { waits: 0 });
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let (mut shed, mut open, mut total) = (0, 0, 0);
    for i in 0..200 {
        let mut fut = None;
        let reads = test_reads::count(|| {
            assert!(svc.poll_ready(&mut cx).is_ready());
            fut = Some(Box::pin(svc.call(9)));
        });
        // One for the decision; the retry budget's housekeeping reads it
        // once every 32 requests.
        assert!((1..=2).contains(&reads), "call {i}: {reads}");
        total += reads;
        let Poll::Ready(Err(e)) = fut.expect("called").as_mut().poll(&mut cx) else {
            panic!("call {i} was sent");
        };
        if e.is::<crate::error::Throttled>() {
            shed += 1;
        } else if e.is::<crate::error::CircuitOpen>() {
            open += 1;
        }
    }
    // Both gates turned calls away, each about half of them.
    assert!(shed > 50 && open > 50, "{shed} shed, {open} open");
    assert!(total <= 200 + 200 / 32 + 1, "{total} reads in 200 calls");
}
