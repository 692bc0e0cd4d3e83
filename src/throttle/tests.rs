use std::time::Duration;
use tokio::time::Instant;

use tokio_test::{assert_pending, assert_ready_ok};
use tower::{Layer, ServiceExt};
use tower_test::mock;

use super::*;
use crate::classify::{FailureKind, Outcome, Verdict};
use crate::error::{CircuitOpen, Throttled};

type Classifier = fn(&(), &Result<u16, BoxError>) -> Verdict;

fn by_status(_: &(), res: &Result<u16, BoxError>) -> Verdict {
    match res {
        Ok(200..=299) => Verdict::success(),
        Ok(503) => Verdict::retryable(FailureKind::Throttled),
        Ok(_) => Verdict::fatal(),
        Err(e) => crate::classify::classify_error(e),
    }
}

fn layer(seed: u64) -> ThrottleLayer<Classifier> {
    ThrottleLayer::builder()
        .seed(seed)
        .classify(by_status as Classifier)
        .build()
        .unwrap()
}

fn backend(
    status: u16,
) -> impl Service<(), Response = u16, Error = BoxError, Future: Send> + Clone {
    tower::service_fn(move |_: ()| async move { Ok::<u16, BoxError>(status) })
}

async fn run<S>(svc: &mut S, n: usize) -> usize
where
    S: Service<(), Response = u16, Error = BoxError>,
{
    let mut rejected = 0;
    for _ in 0..n {
        match svc.ready().await.unwrap().call(()).await {
            Err(e) if e.is::<Throttled>() => rejected += 1,
            _ => {}
        }
    }
    rejected
}

#[test]
fn default_config_is_valid() {
    assert!(ThrottleLayer::builder().build().is_ok());
}

#[test]
fn rejects_bad_configuration_naming_the_field() {
    let b = ThrottleLayer::builder;
    let cases = [
        (b().window(Duration::ZERO).build(), "throttle.window"),
        (b().buckets(0).build(), "throttle.buckets"),
        (
            b().window(Duration::from_secs(86_400))
                .buckets(u32::MAX)
                .build(),
            "throttle.buckets",
        ),
        (
            b().window(Duration::from_millis(10)).buckets(20).build(),
            "throttle.window",
        ),
        (b().k(0.99).build(), "throttle.k"),
        (b().k(f64::NAN).build(), "throttle.k"),
        (b().k(f64::INFINITY).build(), "throttle.k"),
        (b().max_probability(1.0).build(), "throttle.max_probability"),
        (
            b().max_probability(-0.1).build(),
            "throttle.max_probability",
        ),
        (
            b().max_probability(f64::NAN).build(),
            "throttle.max_probability",
        ),
        (b().slow_call(Duration::ZERO).build(), "throttle.slow_call"),
    ];
    for (res, field) in cases {
        assert_eq!(res.unwrap_err().field(), field);
    }
}

#[test]
fn accept_rule_follows_the_classification() {
    let ok: Result<u16, BoxError> = Ok(200);
    let local: Result<u16, BoxError> = Err(Box::new(CircuitOpen::new()));
    let bad_request: Result<u16, BoxError> = Ok(400);
    assert!(settle::is_accept(Outcome::Success, &ok));
    assert!(settle::is_accept(Outcome::Fatal, &bad_request));
    assert!(!settle::is_accept(Outcome::Fatal, &local));
    assert!(!settle::is_accept(
        Outcome::Retryable(FailureKind::Timeout),
        &ok
    ));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn healthy_backend_is_never_throttled() {
    let l = layer(1);
    let handle = l.handle();
    let mut svc = l.layer(backend(200));
    assert_eq!(run(&mut svc, 1_000).await, 0);
    assert_eq!(handle.snapshot().accepts, 1_000);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn well_formed_client_errors_count_as_accepts() {
    let l = layer(1);
    let handle = l.handle();
    let mut svc = l.layer(backend(404));
    assert_eq!(run(&mut svc, 500).await, 0);
    assert_eq!(handle.probability(), 0.0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn fast_503s_are_throttled_up_to_the_cap() {
    let l = layer(2);
    let handle = l.handle();
    let mut svc = l.layer(backend(503));
    let rejected = run(&mut svc, 2_000).await;
    assert_eq!(handle.probability(), 0.9);
    // Nearly all but the first few are rejected with p = 0.9.
    assert!((1_650..=1_850).contains(&rejected), "{rejected}");
    let s = handle.snapshot();
    assert_eq!(
        (s.requests, s.rejected as usize, s.accepts),
        (2_000, rejected, 0)
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn throttling_ends_once_the_backend_recovers() {
    let l = layer(3);
    let handle = l.handle();
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = down.clone();
    let backend = tower::service_fn(move |_: ()| {
        let down = flag.load(std::sync::atomic::Ordering::Relaxed);
        async move { Ok::<u16, BoxError>(if down { 503 } else { 200 }) }
    });
    let mut svc = l.layer(backend);
    for _ in 0..120 {
        run(&mut svc, 10).await;
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    assert_eq!(handle.probability(), 0.9);
    down.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut seconds = 0;
    let mut last = handle.probability();
    while handle.probability() > 0.0 {
        // 50 calls a second: at p = 0.9, a 2 s bucket with none sent has
        // a chance of 0.9^100 (1 in 38,000), whatever the seed.
        run(&mut svc, 50).await;
        tokio::time::advance(Duration::from_secs(1)).await;
        seconds += 1;
        let p = handle.probability();
        // Each 2 s bucket of accepts shrinks p.
        if seconds % 2 == 0 {
            assert!(p < last, "p stuck at {p} after {seconds} s");
            last = p;
        }
        // Seconds, not the minutes the 2-minute window alone would take.
        assert!(seconds <= 8, "still throttling after {seconds} s");
    }
    assert_eq!(run(&mut svc, 100).await, 0);
}

use std::sync::Arc;

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn same_seed_gives_the_same_rejections() {
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let mut svc = layer(99).layer(backend(503));
        let mut seq = Vec::new();
        for _ in 0..300 {
            let r = svc.ready().await.unwrap().call(()).await;
            seq.push(matches!(r, Err(ref e) if e.is::<Throttled>()));
        }
        outcomes.push(seq);
    }
    assert_eq!(outcomes[0], outcomes[1]);
    let other: Vec<bool> = {
        let mut svc = layer(100).layer(backend(503));
        let mut seq = Vec::new();
        for _ in 0..300 {
            let r = svc.ready().await.unwrap().call(()).await;
            seq.push(matches!(r, Err(ref e) if e.is::<Throttled>()));
        }
        seq
    };
    assert_ne!(outcomes[0], other);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn rejection_fails_fast_without_calling_inner() {
    let l = layer(5);
    let handle = l.handle();
    let now = Instant::now();
    for _ in 0..10_000 {
        handle.record_request_at(now);
    }
    let (mut svc, mut inner) = mock::spawn_layer::<(), u16, _>(l);
    let mut rejections = 0;
    for _ in 0..50 {
        inner.allow(1);
        assert_ready_ok!(svc.poll_ready());
        let fut = svc.call(());
        match inner.poll_request() {
            std::task::Poll::Ready(Some((_, send))) => {
                send.send_response(503);
                assert_eq!(fut.await.unwrap(), 503);
            }
            _ => {
                let err = fut.await.unwrap_err();
                assert!(err.is::<Throttled>(), "{err}");
                assert_eq!(handle.probability_at(now), 0.9, "the cap was in force");
                rejections += 1;
            }
        }
    }
    assert!(rejections >= 35, "{rejections}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn inner_local_rejections_are_not_accepts() {
    let l = layer(6);
    let handle = l.handle();
    let failing =
        tower::service_fn(|_: ()| async { Err::<u16, BoxError>(Box::new(CircuitOpen::new())) });
    let mut svc = l.layer(failing);
    run(&mut svc, 20).await;
    assert_eq!(handle.snapshot().accepts, 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn clones_share_state_but_not_readiness() {
    let l = layer(7);
    let handle = l.handle();
    let (mut svc, mut inner) = mock::spawn_layer::<(), u16, _>(l);
    inner.allow(0);
    assert_pending!(svc.poll_ready());
    let mut clone = mock::Spawn::new(svc.get_ref().clone());
    run_one_ok(&mut clone, &mut inner).await;
    assert_eq!(handle.snapshot().accepts, 1);
}

async fn run_one_ok(
    svc: &mut mock::Spawn<Throttle<mock::Mock<(), u16>, Classifier>>,
    inner: &mut mock::Handle<(), u16>,
) {
    inner.allow(1);
    assert_ready_ok!(svc.poll_ready());
    let fut = svc.call(());
    let (_, send) = inner.next_request().await.unwrap();
    send.send_response(200);
    assert_eq!(fut.await.unwrap(), 200);
}

#[test]
#[should_panic(expected = "poll_ready must be called first")]
fn call_without_poll_ready_panics() {
    let mut svc = layer(8).layer(backend(200));
    drop(svc.call(()));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn dropped_response_future_records_no_accept() {
    let l = layer(9);
    let handle = l.handle();
    let (mut svc, mut inner) = mock::spawn_layer::<(), u16, _>(l);
    inner.allow(1);
    assert_ready_ok!(svc.poll_ready());
    drop(svc.call(()));
    let s = handle.snapshot();
    assert_eq!((s.requests, s.accepts), (1, 0));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn failures_after_a_healthy_spell_throttle_at_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU16, Ordering};

    let l = layer(4);
    let handle = l.handle();
    let status = Arc::new(AtomicU16::new(200));
    let s = Arc::clone(&status);
    let switchable = tower::service_fn(move |_: ()| {
        let code = s.load(Ordering::Relaxed);
        async move { Ok::<u16, BoxError>(code) }
    });
    let mut svc = l.layer(switchable);
    // A healthy spell takes the clock-free path...
    assert_eq!(run(&mut svc, 1_000).await, 0);
    assert_eq!(handle.snapshot().requests, 1_000);
    // ...then, once its accepts have left the window, the backend fails.
    tokio::time::sleep(Duration::from_secs(180)).await;
    status.store(503, Ordering::Relaxed);
    // Each failure brings the probability up to date, so throttling starts
    // within a few calls rather than after a 32-call fold.
    let rejected = run(&mut svc, 20).await;
    assert!(rejected >= 5, "{rejected}");
    assert!(handle.probability() > 0.5);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn healthy_counts_are_folded_once_a_new_bucket_begins() {
    let l = ThrottleLayer::builder()
        .window(Duration::from_secs(120))
        .buckets(12)
        .seed(1)
        .classify(by_status as Classifier)
        .build()
        .unwrap();
    let handle = l.handle();
    let mut svc = l.layer(backend(200));
    // Three refreshes (at the 32nd, 64th and 96th call) in the first
    // 10-second bucket: none folds, none takes the lock.
    assert_eq!(run(&mut svc, 100).await, 0);
    assert_eq!(handle.folded_totals(), (0, 0));
    tokio::time::sleep(Duration::from_secs(10)).await;
    // In the next bucket, the 128th call's refresh folds all 128 so far.
    assert_eq!(run(&mut svc, 27).await, 0);
    assert_eq!(handle.folded_totals(), (0, 0));
    assert_eq!(run(&mut svc, 1).await, 0);
    assert_eq!(handle.folded_totals(), (128, 128));
    // Nothing is lost: a snapshot folds the rest.
    assert_eq!(run(&mut svc, 4).await, 0);
    let s = handle.snapshot();
    assert_eq!((s.window_requests, s.window_accepts), (132, 132));
    assert_eq!(s.probability, 0.0);
}

#[test]
fn requests_admitted_on_one_thread_and_accepted_on_another_are_never_throttled() {
    // Every request is decided on this thread and counted, with its
    // accept, on another: however the counts are folded, requests must
    // never be seen without their accepts.
    let handle = ThrottleLayer::builder()
        .min_requests(1)
        .seed(1)
        .build()
        .unwrap()
        .handle();
    let (send, accepts) = std::sync::mpsc::channel::<()>();
    // Each request is decided here and, once sent and answered, counted
    // with its accept on the other thread.
    let (ack, acked) = std::sync::mpsc::channel::<()>();
    let acceptor = {
        let handle = handle.clone();
        std::thread::spawn(move || {
            for () in accepts {
                handle.accept();
                ack.send(()).unwrap();
            }
        })
    };
    for i in 0..1_000 {
        assert!(handle.admit().is_ok(), "request {i} was throttled");
        send.send(()).unwrap();
        acked.recv().unwrap();
    }
    drop(send);
    acceptor.join().unwrap();
    let s = handle.snapshot();
    assert_eq!((s.requests, s.accepts, s.probability), (1_000, 1_000, 0.0));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn shedding_draws_without_the_lock_and_folds_rejections_into_their_bucket() {
    let handle = ThrottleLayer::builder()
        .window(Duration::from_secs(120))
        .buckets(12)
        .seed(5)
        .build()
        .unwrap()
        .handle();
    let t0 = Instant::now();
    for _ in 0..100 {
        handle.record_request_at(t0); // sent, never accepted
    }
    assert_eq!(handle.probability(), 0.9);
    // A thousand decisions on another thread while this one holds the
    // lock: shedding must not wait for it.
    let runtime = tokio::runtime::Handle::current();
    let decider = handle.clone();
    let (done, finished) = std::sync::mpsc::channel();
    let rejected = handle.with_lock_held(|| {
        std::thread::spawn(move || {
            let _clock = runtime.enter();
            let n = (0..1_000).filter(|_| decider.admit().is_err()).count();
            done.send(n).unwrap();
        });
        finished
            .recv_timeout(Duration::from_secs(60))
            .expect("a shedding decision waited for the lock")
    });
    // About 0.9 of them, within five standard deviations.
    assert!((855..=945).contains(&rejected), "{rejected}");
    // Pending until the next fold, and then counted exactly once.
    assert_eq!(handle.folded_totals(), (100, 0));
    tokio::time::advance(Duration::from_secs(115)).await;
    let late = usize::from(handle.admit().is_err());
    let folded = handle.folded_totals().0;
    assert_eq!(folded, 100 + rejected as u64);
    // They were made in the first bucket, and leave the window with it
    // (folded into the bucket of the fold, they would stay 115 s more).
    tokio::time::advance(Duration::from_secs(5)).await;
    let s = handle.snapshot();
    assert_eq!(s.window_requests, late as u64);
    assert_eq!(s.rejected, (rejected + late) as u64);
    assert_eq!(s.requests, 100 + s.rejected);
}

#[test]
fn threads_shedding_at_once_count_every_decision_once() {
    // Four threads decide, and count the ends of what they sent, at once:
    // whichever thread folds, and whenever, each rejection and each end is
    // counted exactly once.
    let handle = ThrottleLayer::builder().seed(2).build().unwrap().handle();
    let start = Instant::now();
    for _ in 0..100 {
        handle.record_request_at(start); // p = 0.9
    }
    let (rejected, sent) = std::thread::scope(|s| {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let (mut rejected, mut sent) = (0u64, 0u64);
                    for i in 0..5_000 {
                        if handle.admit().is_err() {
                            rejected += 1;
                            continue;
                        }
                        sent += 1;
                        if i % 3 == 0 {
                            handle.accept();
                        } else {
                            handle.failed();
                        }
                    }
                    (rejected, sent)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    assert!(rejected > 0 && sent > 0, "{rejected} {sent}");
    let s = handle.snapshot();
    assert_eq!(s.rejected, rejected);
    assert_eq!(s.requests, 100 + rejected + sent);
}
