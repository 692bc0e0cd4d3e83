use std::future::Future;
use std::task::{Context, Poll};

use futures::task::noop_waker_ref;

use super::*;
use crate::classify::Hint;
use crate::sim::scenario::LaneSpec;
use crate::sim::scenario::{CapacityPoint, ClockTime, Source};

const T: Duration = Duration::from_millis(100);

fn lane_config(rps: f64, queue_s: f64, hints: bool) -> LaneConfig {
    LaneConfig {
        spec: LaneSpec {
            capacity_rps: rps,
            queue_s,
            service_ms: 50,
            reject_cost: 0.5,
            retry_after: true,
            do_not_retry_below: Some(0.5),
            capacity: vec![CapacityPoint {
                at: ClockTime::parse("01:00").unwrap(),
                fraction: 0.25,
                ramp: false,
                source: Source::A,
            }],
        },
        full_rps: rps,
        extras: Vec::new(),
        hints,
    }
}

fn backend(rps: f64, queue_s: f64, hints: bool) -> Backend {
    Backend::new(
        vec![lane_config(rps, queue_s, hints)],
        Recorder::new(10, 1),
        Instant::now(),
    )
}

fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    std::pin::Pin::new(f).poll(&mut Context::from_waker(noop_waker_ref()))
}

fn count(b: &Backend, what: LaneCount) -> u64 {
    let rec = b.take_recorder();
    (0..rec.minutes)
        .map(|m| rec.lane_count(0, Fleet::Vacuums, m, what))
        .sum()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn serves_in_order_and_counts_abandoned_work_as_wasted() {
    let b = backend(10.0, 10.0, false);
    let mut lane = b.lane(0);
    let mut first = lane.call(Call::new(Fleet::Vacuums));
    let abandoned = lane.call(Call::new(Fleet::Vacuums));
    let mut third = lane.call(Call::new(Fleet::Vacuums));
    drop(abandoned);
    // Three ticks at 10 requests per second serve three requests.
    for _ in 0..3 {
        tokio::time::advance(T).await;
        b.serve(Instant::now(), 0.0, T);
    }
    assert!(matches!(poll(&mut first), Poll::Ready(Ok(_))));
    assert!(matches!(poll(&mut third), Poll::Ready(Ok(_))));
    let rec = b.take_recorder();
    let sum = |what| rec.lane_count(0, Fleet::Vacuums, 0, what);
    assert_eq!(sum(LaneCount::Attempts), 3);
    assert_eq!(sum(LaneCount::Served), 3);
    assert_eq!(sum(LaneCount::Wasted), 1);
    assert_eq!(sum(LaneCount::Good), 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn nothing_is_served_before_its_service_time() {
    let b = backend(100.0, 10.0, false);
    let mut lane = b.lane(0);
    let mut call = lane.call(Call::new(Fleet::Vacuums));
    b.serve(Instant::now(), 0.0, T);
    assert!(poll(&mut call).is_pending());
    tokio::time::advance(T).await;
    b.serve(Instant::now(), 0.0, T);
    assert!(matches!(poll(&mut call), Poll::Ready(Ok(_))));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn full_queue_rejects_at_once_with_retry_after() {
    // 2 requests per second, 1 second of queue: room for two.
    let b = backend(2.0, 1.0, true);
    let mut lane = b.lane(0);
    let _a = lane.call(Call::new(Fleet::Vacuums));
    let _b = lane.call(Call::new(Fleet::Vacuums));
    let mut shed = lane.call(Call::new(Fleet::Vacuums));
    let Poll::Ready(Err(err)) = poll(&mut shed) else {
        panic!("a full queue must reject at once");
    };
    let shed = err.downcast_ref::<Shed>().expect("a Shed error");
    assert_eq!(shed.hint(), Some(Hint::RetryAfter(Duration::from_secs(1))));
    assert_eq!(count(&b, LaneCount::Rejected), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn hints_switched_off_are_never_sent() {
    let b = backend(1.0, 1.0, false);
    let mut lane = b.lane(0);
    let _a = lane.call(Call::new(Fleet::Vacuums));
    let mut shed = lane.call(Call::new(Fleet::Vacuums));
    let Poll::Ready(Err(err)) = poll(&mut shed) else {
        panic!("must reject")
    };
    assert_eq!(err.downcast_ref::<Shed>().unwrap().hint(), None);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn below_the_threshold_rejections_say_do_not_retry() {
    let b = backend(4.0, 0.5, true);
    // 01:00 onwards the lane runs at 25%, below its 50% threshold.
    b.serve(Instant::now(), 3600.0, T);
    let mut lane = b.lane(0);
    let _a = lane.call(Call::new(Fleet::Vacuums));
    let _b = lane.call(Call::new(Fleet::Vacuums));
    let mut shed = lane.call(Call::new(Fleet::Vacuums));
    let Poll::Ready(Err(err)) = poll(&mut shed) else {
        panic!("must reject")
    };
    assert_eq!(
        err.downcast_ref::<Shed>().unwrap().hint(),
        Some(Hint::DoNotRetry)
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn idle_capacity_is_not_banked() {
    let b = backend(10.0, 10.0, false);
    // A long idle stretch at full capacity ...
    for _ in 0..50 {
        b.serve(Instant::now(), 0.0, T);
    }
    // ... then 5 requests: one tick serves only one (10 rps x 100 ms).
    let mut lane = b.lane(0);
    let mut calls: Vec<_> = (0..5)
        .map(|_| lane.call(Call::new(Fleet::Vacuums)))
        .collect();
    tokio::time::advance(T).await;
    b.serve(Instant::now(), 0.0, T);
    let done = calls.iter_mut().map(poll).filter(Poll::is_ready).count();
    assert!(done <= 2, "{done} served in one tick");
}

#[test]
fn the_event_loop_path_queues_rejects_and_lists_answers_in_nanoseconds() {
    // 2 requests per second, 1 second of queue: room for two.
    let b = backend(2.0, 1.0, true);
    let mut shared = b.lock();
    let ms = |n: u64| n * 1_000_000;
    assert_eq!(
        shared.send_at(0, Fleet::Vacuums, 0, Waiter::Request(7)),
        Some(0)
    );
    assert!(
        shared
            .send_at(0, Fleet::Vacuums, ms(10), Waiter::Request(8))
            .is_some()
    );
    assert_eq!(
        shared.send_at(0, Fleet::Vacuums, ms(20), Waiter::Request(9)),
        None
    );
    shared.abandon(1);
    let mut answered = Vec::new();
    // 49 ms in, the first request's 50 ms of service have not passed.
    shared.serve_at(ms(49), 0.0, Duration::from_secs(1));
    shared.take_answered(&mut answered);
    assert!(answered.is_empty());
    shared.serve_at(ms(1_060), 0.0, Duration::from_secs(1));
    shared.take_answered(&mut answered);
    assert_eq!(answered, vec![7], "the abandoned one is served as waste");
    drop(shared);
    let rec = b.take_recorder();
    let sum = |what| rec.lane_count(0, Fleet::Vacuums, 0, what);
    assert_eq!(sum(LaneCount::Attempts), 3);
    assert_eq!(sum(LaneCount::Rejected), 1);
    assert_eq!(sum(LaneCount::Good), 1);
    assert_eq!(sum(LaneCount::Wasted), 1);
}
