use std::future::Future;
use std::task::{Context, Poll};

use futures::task::noop_waker_ref;

use super::*;
use crate::scenario::{CapacityPoint, ClockTime, Source};
use crate::scenario::{LaneKind, LaneSpec};
use failsoft::classify::Hint;

const T: Duration = Duration::from_millis(100);

fn lane_config(rps: f64, queue_s: f64, hints: bool) -> LaneConfig {
    LaneConfig {
        spec: LaneSpec {
            kind: LaneKind::Fifo,
            capacity_rps: rps,
            queue_s: Some(queue_s),
            service_ms: 50,
            reject_cost: Some(0.5),
            retry_after: true,
            burst_s: None,
            retry_after_s: None,
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

// === the rate-limited lane ===

fn rate_limited(
    rps: f64,
    burst_s: Option<f64>,
    retry_after_s: Option<f64>,
    hints: bool,
) -> Backend {
    let mut cfg = lane_config(rps, 0.0, hints);
    cfg.spec.kind = LaneKind::RateLimit;
    cfg.spec.queue_s = None;
    cfg.spec.reject_cost = None;
    cfg.spec.retry_after = false;
    cfg.spec.do_not_retry_below = None;
    cfg.spec.burst_s = burst_s;
    cfg.spec.retry_after_s = retry_after_s;
    Backend::new(vec![cfg], Recorder::new(10, 1), Instant::now())
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_rate_limiter_refuses_the_excess_at_once_with_its_retry_after() {
    // 10 requests per second, a bucket of 1 s: 10 at once, then none.
    let b = rate_limited(10.0, None, Some(2.0), true);
    let mut lane = b.lane(0);
    let mut calls: Vec<_> = (0..30)
        .map(|_| lane.call(Call::new(Fleet::Vacuums)))
        .collect();
    let mut admitted = Vec::new();
    for (i, call) in calls.iter_mut().enumerate() {
        match poll(call) {
            Poll::Pending => admitted.push(i),
            Poll::Ready(Err(err)) => {
                let shed = err.downcast_ref::<Shed>().expect("a Shed error");
                assert!(shed.is_rate_limited());
                assert_eq!(shed.hint(), Some(Hint::RetryAfter(Duration::from_secs(2))));
            }
            Poll::Ready(Ok(_)) => panic!("nothing is served before its service time"),
        }
    }
    assert_eq!(admitted, (0..10).collect::<Vec<_>>());
    // Whatever it admitted is served after the service time, all in one
    // tick: the bucket is the limit, not the tick's share of capacity.
    tokio::time::advance(T).await;
    b.serve(Instant::now(), 0.0, T);
    for i in admitted {
        assert!(
            matches!(poll(&mut calls[i]), Poll::Ready(Ok(_))),
            "call {i}"
        );
    }
    assert_eq!(count(&b, LaneCount::Rejected), 20);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_rate_limiter_says_retry_after_one_second_by_default_and_nothing_without_hints() {
    for (hints, expected) in [
        (true, Some(Hint::RetryAfter(Duration::from_secs(1)))),
        (false, None),
    ] {
        let b = rate_limited(1.0, None, None, hints);
        let mut lane = b.lane(0);
        let _first = lane.call(Call::new(Fleet::Vacuums));
        let mut refused = lane.call(Call::new(Fleet::Vacuums));
        let Poll::Ready(Err(err)) = poll(&mut refused) else {
            panic!("the second call must be refused at once");
        };
        assert_eq!(err.downcast_ref::<Shed>().unwrap().hint(), expected);
    }
}

#[test]
fn a_rate_limiter_never_admits_more_than_its_bucket_allows() {
    // 20 requests per second, a bucket of half a second (10 requests),
    // offered one attempt every millisecond for 5 s.
    let (rate, burst) = (20.0, 10.0);
    let b = rate_limited(rate, Some(0.5), None, true);
    let mut shared = b.lock();
    let mut admitted: Vec<u64> = Vec::new();
    for ms in 0..5_000u64 {
        let now = ms * 1_000_000;
        if ms % 100 == 0 {
            shared.serve_at(now, 0.0, T);
        }
        if shared
            .send_at(0, Fleet::Vacuums, now, Waiter::Request(ms as u32))
            .is_some()
        {
            admitted.push(now);
        }
    }
    // In every stretch of time, at most a full bucket plus what the rate
    // refills in it.
    for (i, &from) in admitted.iter().enumerate() {
        for (j, &to) in admitted.iter().enumerate().skip(i) {
            let n = (j - i + 1) as f64;
            let allowed = burst + rate * (to - from) as f64 / 1e9;
            assert!(
                n <= allowed + 1e-9,
                "{n} admitted in [{from}, {to}] ns, at most {allowed}"
            );
        }
    }
    // And it does admit that much: the bucket, then the rate.
    let expected = burst + rate * 4.999;
    assert!(
        (admitted.len() as f64 - expected).abs() <= 1.0,
        "{} admitted",
        admitted.len()
    );
    drop(shared);
    let rec = b.take_recorder();
    let sum = |what| -> u64 {
        (0..rec.minutes)
            .map(|m| rec.lane_count(0, Fleet::Vacuums, m, what))
            .sum()
    };
    assert_eq!(sum(LaneCount::Attempts), 5_000);
    assert_eq!(sum(LaneCount::Rejected), 5_000 - admitted.len() as u64);
}
