//! The retry layer through Tower, on paused time with fixed seeds.

mod support;

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::backoff::{ExponentialBackoff, Jitter};
use failsoft::budget::{BudgetRefused, RetryBudget};
use failsoft::classify::{FailureKind, Hint, Verdict};
use failsoft::error::{CircuitOpen, TimedOut};
use failsoft::retry::{RetryLayer, SendOnce, StopReason};
use support::{Reply, Script, ms};
use tokio::time::Instant;
use tokio_test::{assert_pending, assert_ready_ok};
use tower::{Layer, Service, ServiceExt};
use tower_test::mock;

fn fixed_backoff(base: Duration) -> ExponentialBackoff {
    ExponentialBackoff::builder()
        .base(base)
        .max(Duration::from_secs(60))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

/// 5xx and errors retryable; 2xx success; other codes fatal.
fn http_like(_req: &&str, res: &Result<u16, BoxError>) -> Verdict {
    match res {
        Ok(200..=299) => Verdict::success(),
        Ok(500..=599) => Verdict::retryable(FailureKind::Error),
        Ok(_) => Verdict::fatal(),
        Err(e) => failsoft::classify::classify_error(e),
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn retries_happen_at_the_backoff_times() {
    let script = Script::new([Reply::Err("reset"), Reply::Err("reset"), Reply::Ok(200)]);
    let layer = RetryLayer::builder()
        .backoff(fixed_backoff(ms(100)))
        .build()
        .unwrap();
    let counters = layer.counters();
    let mut svc = layer.layer(script.clone());
    let start = Instant::now();
    let res = ServiceExt::<&str>::ready(&mut svc)
        .await
        .unwrap()
        .call("GET /")
        .await
        .unwrap();
    assert_eq!(res, 200);
    assert_eq!(script.offsets(start), vec![ms(0), ms(100), ms(300)]);
    let snap = counters.snapshot();
    assert_eq!((snap.requests, snap.attempts, snap.retries), (1, 3, 2));
    assert_eq!(snap.give_ups.total(), 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn attempts_are_capped_and_last_result_returned_unchanged() {
    let script = Script::new([Reply::Ok(503)]);
    let layer = RetryLayer::builder()
        .max_attempts(4)
        .classify(http_like)
        .seed(1)
        .build()
        .unwrap();
    let mut svc = layer.layer(script.clone());
    let mut fut = pin!(svc.call("GET /"));
    assert_eq!(fut.as_mut().await.unwrap(), 503, "the 503 stays a 503");
    assert_eq!(fut.attempts(), 4);
    assert_eq!(fut.stop_reason(), Some(StopReason::AttemptsExhausted));
    assert_eq!(script.count(), 4);
    assert_eq!(layer.counters().snapshot().give_ups.attempts_exhausted, 1);
}

#[derive(Debug)]
struct BackendDown(u32);

impl std::fmt::Display for BackendDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "backend down (code {})", self.0)
    }
}

impl std::error::Error for BackendDown {}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn backend_errors_stay_downcastable() {
    let svc = tower::service_fn(|_: ()| async { Err::<(), _>(BackendDown(7)) });
    let mut svc = RetryLayer::builder().seed(2).build().unwrap().layer(svc);
    let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
    assert_eq!(err.downcast_ref::<BackendDown>().map(|e| e.0), Some(7));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn non_retryable_results_are_not_retried() {
    let script = Script::new([Reply::Ok(404)]);
    let layer = RetryLayer::builder().classify(http_like).build().unwrap();
    let mut svc = layer.layer(script.clone());
    let mut fut = pin!(svc.call("GET /missing"));
    assert_eq!(fut.as_mut().await.unwrap(), 404);
    assert_eq!(fut.stop_reason(), Some(StopReason::NonRetryable));
    assert_eq!(script.count(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn local_rejections_are_never_retried() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let open = tower::service_fn(move |_: ()| {
        c.fetch_add(1, Ordering::Relaxed);
        async { Err::<(), BoxError>(Box::new(CircuitOpen::new())) }
    });
    // A classifier that would retry anything.
    let layer = RetryLayer::builder()
        .classify(|_: &(), _: &Result<(), BoxError>| Verdict::retryable(FailureKind::Error))
        .build()
        .unwrap();
    let mut svc = layer.layer(open.clone());
    let mut fut = pin!(svc.call(()));
    let err = fut.as_mut().await.unwrap_err();
    assert!(err.is::<CircuitOpen>());
    assert_eq!(fut.stop_reason(), Some(StopReason::LocalRejection));
    assert_eq!(calls.load(Ordering::Relaxed), 1);

    // A request that could not be replayed ends as a local rejection too,
    // not as "not replayable": it was never sent.
    let layer = RetryLayer::builder().replay(SendOnce).build().unwrap();
    let mut svc = layer.layer(open);
    let mut fut = pin!(svc.call(()));
    assert!(fut.as_mut().await.unwrap_err().is::<CircuitOpen>());
    assert_eq!(fut.stop_reason(), Some(StopReason::LocalRejection));
    let s = layer.counters().snapshot();
    assert_eq!((s.local_rejections(), s.give_ups.not_replayable), (1, 0));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn deadline_bounds_each_attempt_and_the_whole_request() {
    let (inner, mut handle) = mock::pair::<&str, u16>();
    let layer = RetryLayer::builder()
        .backoff(fixed_backoff(ms(100)))
        .deadline(ms(1_000))
        .attempt_timeout(ms(600))
        .max_attempts(10)
        .build()
        .unwrap();
    let mut svc = layer.layer(inner);
    let start = Instant::now();
    handle.allow(100);
    ServiceExt::<&str>::ready(&mut svc).await.unwrap();
    let mut fut = pin!(svc.call("slow"));
    // The backend accepts every request and never answers.
    let responder = async {
        let mut seen = Vec::new();
        while let Some((_req, _send)) = handle.next_request().await {
            seen.push(Instant::now() - start);
            std::mem::forget(_send);
        }
        seen
    };
    let (res, seen) = tokio::join!(fut.as_mut(), async {
        // Stop serving once the retry future is done.
        tokio::time::timeout(ms(5_000), responder).await.ok()
    });
    let err = res.unwrap_err();
    let timed_out = err.downcast_ref::<TimedOut>().expect("a timeout");
    // Attempt 1: 0..600 ms (attempt timeout); backoff 100 ms; attempt 2:
    // 700..1000 ms, cut by the deadline.
    assert!(timed_out.by_deadline());
    assert_eq!(timed_out.after(), ms(300));
    assert_eq!(fut.attempts(), 2);
    assert_eq!(fut.stop_reason(), Some(StopReason::Deadline));
    assert!(seen.is_none(), "the mock never closed");
    assert!(Instant::now() - start >= ms(1_000));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn no_retry_starts_whose_delay_passes_the_deadline() {
    let script = Script::new([Reply::Err("reset")]);
    let layer = RetryLayer::builder()
        .backoff(fixed_backoff(ms(400)))
        .deadline(ms(1_000))
        .max_attempts(10)
        .build()
        .unwrap();
    let mut svc = layer.layer(script.clone());
    let start = Instant::now();
    let mut fut = pin!(svc.call("x"));
    assert!(fut.as_mut().await.is_err());
    // 0 ms, then 400 ms; the next delay (800 ms) would end at 1.2 s.
    assert_eq!(script.offsets(start), vec![ms(0), ms(400)]);
    assert_eq!(fut.stop_reason(), Some(StopReason::Deadline));
    assert_eq!(Instant::now() - start, ms(400), "gave up at once");
}

fn hinting(hint: Hint) -> impl Fn(&&str, &Result<u16, BoxError>) -> Verdict + Clone {
    move |_req, res| match res {
        Ok(429) => Verdict::retryable(FailureKind::Throttled).with_hint(hint),
        Ok(_) => Verdict::success(),
        Err(_) => Verdict::retryable(FailureKind::Error),
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn retry_after_hints_set_the_delay() {
    let script = Script::new([Reply::Ok(429), Reply::Ok(200)]);
    let layer = RetryLayer::builder()
        .backoff(fixed_backoff(ms(100)))
        .classify(hinting(Hint::RetryAfter(ms(1_500))))
        .build()
        .unwrap();
    let mut svc = layer.layer(script.clone());
    let start = Instant::now();
    assert_eq!(svc.call("x").await.unwrap(), 200);
    assert_eq!(script.offsets(start), vec![ms(0), ms(1_500)]);
    let snap = layer.counters().snapshot();
    assert_eq!((snap.hints_honoured, snap.hints_clamped), (1, 0));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn long_hints_are_clamped_to_the_maximum() {
    let script = Script::new([Reply::Ok(429), Reply::Ok(200)]);
    let layer = RetryLayer::builder()
        .backoff(fixed_backoff(ms(100)))
        .max_hint(Duration::from_secs(2))
        .classify(hinting(Hint::RetryAfter(Duration::from_secs(3_600))))
        .build()
        .unwrap();
    let mut svc = layer.layer(script.clone());
    let start = Instant::now();
    assert_eq!(svc.call("x").await.unwrap(), 200);
    assert_eq!(script.offsets(start), vec![ms(0), ms(2_000)]);
    assert_eq!(layer.counters().snapshot().hints_clamped, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn hints_are_ignored_when_disabled() {
    let script = Script::new([Reply::Ok(429), Reply::Ok(200)]);
    let layer = RetryLayer::builder()
        .backoff(fixed_backoff(ms(100)))
        .honor_hints(false)
        .classify(hinting(Hint::RetryAfter(ms(1_500))))
        .build()
        .unwrap();
    let mut svc = layer.layer(script.clone());
    let start = Instant::now();
    assert_eq!(svc.call("x").await.unwrap(), 200);
    assert_eq!(script.offsets(start), vec![ms(0), ms(100)]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_hint_past_the_deadline_ends_retrying_at_once() {
    let script = Script::new([Reply::Ok(429)]);
    let layer = RetryLayer::builder()
        .deadline(Duration::from_secs(3))
        .classify(hinting(Hint::RetryAfter(Duration::from_secs(10))))
        .build()
        .unwrap();
    let mut svc = layer.layer(script.clone());
    let start = Instant::now();
    let mut fut = pin!(svc.call("x"));
    assert_eq!(fut.as_mut().await.unwrap(), 429);
    assert_eq!(fut.stop_reason(), Some(StopReason::Hint));
    assert_eq!(Instant::now(), start);
    assert_eq!(script.count(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn do_not_retry_hint_is_obeyed() {
    let script = Script::new([Reply::Ok(429)]);
    let layer = RetryLayer::builder()
        .classify(hinting(Hint::DoNotRetry))
        .build()
        .unwrap();
    let mut svc = layer.layer(script.clone());
    let mut fut = pin!(svc.call("x"));
    assert_eq!(fut.as_mut().await.unwrap(), 429);
    assert_eq!(fut.stop_reason(), Some(StopReason::DoNotRetry));
    assert_eq!(script.count(), 1);
}

/// A budget with a fixed number of retries that records its calls.
#[derive(Debug, Default)]
struct Counting {
    left: AtomicI64,
    requests: AtomicU32,
    cancelled: AtomicU32,
    successes: AtomicU32,
}

impl RetryBudget for Counting {
    type Receipt = ();
    fn on_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    fn try_retry(&self, _kind: FailureKind) -> Result<(), BudgetRefused> {
        if self.left.fetch_sub(1, Ordering::Relaxed) > 0 {
            Ok(())
        } else {
            self.left.fetch_add(1, Ordering::Relaxed);
            Err(BudgetRefused::new("spent"))
        }
    }
    fn cancel_retry(&self, _receipt: ()) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
        self.left.fetch_add(1, Ordering::Relaxed);
    }
    fn on_success(&self, _retried: bool) {
        self.successes.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn budget_refusal_returns_the_backend_result() {
    let budget = Arc::new(Counting {
        left: AtomicI64::new(1),
        ..Default::default()
    });
    let script = Script::new([Reply::Err("overloaded")]);
    let layer = RetryLayer::builder()
        .budget(budget.clone())
        .max_attempts(5)
        .seed(3)
        .build()
        .unwrap();
    let mut svc = layer.layer(script.clone());
    let mut fut = pin!(svc.call("x"));
    let err = fut.as_mut().await.unwrap_err();
    assert_eq!(err.to_string(), "overloaded");
    assert_eq!(
        fut.stop_reason(),
        Some(StopReason::Budget(BudgetRefused::new("spent")))
    );
    assert_eq!(fut.attempts(), 2, "one retry from the budget, then refused");
    assert_eq!(layer.counters().snapshot().give_ups.budget, 1);
    assert_eq!(budget.requests.load(Ordering::Relaxed), 1);
}

type MockRetry = failsoft::retry::Retry<
    mock::Mock<&'static str, u16>,
    failsoft::classify::DefaultClassify,
    Arc<Counting>,
>;

/// A retry layer over a mock backend, with a budget of 10 retries, and its
/// service driven to readiness.
async fn with_counting_budget(
    backoff: Duration,
) -> (
    RetryLayer<failsoft::classify::DefaultClassify, Arc<Counting>>,
    Arc<Counting>,
    mock::Handle<&'static str, u16>,
    MockRetry,
) {
    let budget = Arc::new(Counting {
        left: AtomicI64::new(10),
        ..Default::default()
    });
    let (inner, mut handle) = mock::pair::<&str, u16>();
    let layer = RetryLayer::builder()
        .backoff(fixed_backoff(backoff))
        .budget(budget.clone())
        .build()
        .unwrap();
    let mut svc = layer.layer(inner);
    handle.allow(10);
    ServiceExt::<&str>::ready(&mut svc).await.unwrap();
    (layer, budget, handle, svc)
}

/// Lets the first attempt fail; the request then sleeps in its backoff,
/// with the budget withdrawal for the retry made.
async fn fail_first_attempt<F>(
    fut: &mut tokio_test::task::Spawn<F>,
    handle: &mut mock::Handle<&'static str, u16>,
) where
    F: std::future::Future<Output: std::fmt::Debug>,
{
    assert_pending!(fut.poll());
    let (_req, send) = handle.next_request().await.unwrap();
    send.send_error("reset");
    assert_pending!(fut.poll());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn dropping_mid_backoff_keeps_counters_and_budget_consistent() {
    let (layer, budget, mut handle, mut svc) = with_counting_budget(ms(500)).await;
    let mut fut = tokio_test::task::spawn(svc.call("x"));
    fail_first_attempt(&mut fut, &mut handle).await; // now in backoff
    assert_eq!(budget.left.load(Ordering::Relaxed), 9);
    drop(fut);
    assert_eq!(budget.cancelled.load(Ordering::Relaxed), 1);
    assert_eq!(
        budget.left.load(Ordering::Relaxed),
        10,
        "withdrawal refunded"
    );
    let snap = layer.counters().snapshot();
    assert_eq!((snap.requests, snap.attempts, snap.cancelled), (1, 1, 1));
    assert_eq!(snap.give_ups.total(), 0);
    // Nothing else reaches the backend.
    tokio::time::sleep(ms(2_000)).await;
    assert_pending!(tokio_test::task::spawn(handle.next_request()).poll());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn dropping_mid_attempt_counts_a_cancel_and_refunds_nothing() {
    let (layer, budget, mut handle, mut svc) = with_counting_budget(ms(10)).await;
    let mut fut = tokio_test::task::spawn(svc.call("x"));
    fail_first_attempt(&mut fut, &mut handle).await;
    tokio::time::sleep(ms(10)).await;
    assert_pending!(fut.poll()); // retry sent, in flight
    let (_req2, _send2) = handle.next_request().await.unwrap();
    drop(fut);
    assert_eq!(
        budget.cancelled.load(Ordering::Relaxed),
        0,
        "the retry was sent"
    );
    let snap = layer.counters().snapshot();
    assert_eq!((snap.requests, snap.attempts, snap.cancelled), (1, 2, 1));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn clones_share_counters() {
    let layer = RetryLayer::builder().seed(4).build().unwrap();
    let mut a = layer.layer(Script::new([Reply::Ok(200)]));
    let mut b = a.clone();
    let c = a.counters();
    a.call("1").await.unwrap();
    b.call("2").await.unwrap();
    b.call("3").await.unwrap();
    assert_eq!(c.snapshot().requests, 3);
    assert_eq!(layer.counters().snapshot().attempts, 3);
}

/// Call times of `n` requests that all fail twice at t = 0, then succeed.
/// (Paused time has millisecond resolution, hence delays of minutes.)
async fn retry_times(seed: u64, n: usize) -> Vec<Vec<Duration>> {
    let layer = RetryLayer::builder()
        .backoff(
            ExponentialBackoff::builder()
                .base(Duration::from_secs(60))
                .max(Duration::from_secs(600))
                .build()
                .unwrap(),
        )
        .seed(seed)
        .build()
        .unwrap();
    let start = Instant::now();
    let scripts: Vec<Script> = (0..n)
        .map(|_| Script::new([Reply::Err("x"), Reply::Err("x"), Reply::Ok(200)]))
        .collect();
    let futs = scripts.iter().map(|s| {
        let mut svc = layer.layer(s.clone());
        async move { svc.call("x").await }
    });
    for res in futures::future::join_all(futs).await {
        res.unwrap();
    }
    scripts.iter().map(|s| s.offsets(start)).collect()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn requests_get_independent_jitter() {
    // Requests that fail together must not retry together (tower 0.5's
    // ExponentialBackoffMaker gives every request the same sequence).
    let times = retry_times(9, 20).await;
    let mut first_retries: Vec<Duration> = times.iter().map(|t| t[1]).collect();
    first_retries.sort();
    first_retries.dedup();
    assert_eq!(first_retries.len(), 20, "every request drew its own delay");
    let mut second: Vec<Duration> = times.iter().map(|t| t[2] - t[1]).collect();
    second.sort();
    second.dedup();
    assert_eq!(second.len(), 20);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn same_seed_gives_the_same_delays() {
    let a = retry_times(21, 5).await;
    let b = retry_times(21, 5).await;
    let c = retry_times(22, 5).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[derive(Debug)]
struct Upload; // not Clone

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn requests_that_cannot_be_cloned_are_sent_once() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let svc = tower::service_fn(move |_: Upload| {
        c.fetch_add(1, Ordering::Relaxed);
        async { Err::<(), BoxError>("reset".into()) }
    });
    let layer = RetryLayer::builder().replay(SendOnce).build().unwrap();
    let mut svc = layer.layer(svc);
    let mut fut = pin!(svc.call(Upload));
    assert_eq!(fut.as_mut().await.unwrap_err().to_string(), "reset");
    assert_eq!(fut.stop_reason(), Some(StopReason::NotReplayable));
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn replay_closures_decide_per_request() {
    let script = Script::new([Reply::Err("reset"), Reply::Ok(200)]);
    let layer = RetryLayer::builder()
        .replay(|req: &Vec<u8>| (req.len() <= 4).then(|| req.clone()))
        .build()
        .unwrap();
    let mut svc = layer.layer(script.clone());
    assert_eq!(svc.call(vec![1, 2]).await.unwrap(), 200);
    assert_eq!(script.count(), 2);
    let script = Script::new([Reply::Err("reset"), Reply::Ok(200)]);
    let mut svc = layer.layer(script.clone());
    assert!(svc.call(vec![0; 100]).await.is_err());
    assert_eq!(script.count(), 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn readiness_is_driven_through_the_inner_service() {
    let (mut svc, mut handle) = mock::spawn_layer::<&str, u16, _>(RetryLayer::new());
    handle.allow(0);
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert_ready_ok!(svc.poll_ready());
}

#[test]
fn config_errors_name_the_field() {
    let cases = [
        (
            RetryLayer::builder().max_attempts(0).build(),
            "retry.max_attempts",
        ),
        (
            RetryLayer::builder().deadline(Duration::ZERO).build(),
            "retry.deadline",
        ),
        (
            RetryLayer::builder()
                .attempt_timeout(Duration::ZERO)
                .build(),
            "retry.attempt_timeout",
        ),
        (
            RetryLayer::builder().inner_timeout(Duration::ZERO).build(),
            "retry.inner_timeout",
        ),
        (
            RetryLayer::builder().max_hint(Duration::ZERO).build(),
            "retry.max_hint",
        ),
    ];
    for (res, field) in cases {
        assert_eq!(res.unwrap_err().field(), field);
    }
}

#[test]
fn default_config_is_valid() {
    assert!(RetryLayer::builder().build().is_ok());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn malformed_hints_are_ignored_and_counted() {
    let script = Script::new([Reply::Ok(429), Reply::Ok(200)]);
    // The server's Retry-After header says "soon", which means nothing.
    let layer = RetryLayer::builder()
        .backoff(fixed_backoff(ms(100)))
        .classify(hinting(Hint::from_retry_after("soon")))
        .build()
        .unwrap();
    let mut svc = layer.layer(script.clone());
    let start = Instant::now();
    assert_eq!(svc.call("x").await.unwrap(), 200);
    assert_eq!(script.offsets(start), vec![ms(0), ms(100)], "plain backoff");
    let snap = layer.counters().snapshot();
    assert_eq!((snap.hints_malformed, snap.hints_honoured), (1, 0));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn grpc_pushback_header_drives_the_delay() {
    let script = Script::new([Reply::Ok(429), Reply::Ok(200)]);
    let layer = RetryLayer::builder()
        .backoff(fixed_backoff(ms(100)))
        .classify(hinting(Hint::from_grpc_pushback("750")))
        .build()
        .unwrap();
    let mut svc = layer.layer(script.clone());
    let start = Instant::now();
    assert_eq!(svc.call("x").await.unwrap(), 200);
    assert_eq!(script.offsets(start), vec![ms(0), ms(750)]);
}

/// Counts its clones; answers from a script.
#[derive(Debug)]
struct CountingClones {
    clones: Arc<AtomicU32>,
    script: Script,
}

impl Clone for CountingClones {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Ordering::Relaxed);
        Self {
            clones: Arc::clone(&self.clones),
            script: self.script.clone(),
        }
    }
}

impl tower::Service<&'static str> for CountingClones {
    type Response = u16;
    type Error = BoxError;
    type Future = std::future::Ready<Result<u16, BoxError>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        tower::Service::<&'static str>::poll_ready(&mut self.script, cx)
    }

    fn call(&mut self, req: &'static str) -> Self::Future {
        self.script.call(req)
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_inner_service_is_cloned_only_for_retries() {
    let clones = Arc::new(AtomicU32::new(0));
    let inner = CountingClones {
        clones: Arc::clone(&clones),
        script: Script::new([Reply::Ok(200)]),
    };
    let mut svc = RetryLayer::builder().seed(8).build().unwrap().layer(inner);
    let made = clones.load(Ordering::Relaxed);
    for _ in 0..10 {
        assert_eq!(svc.call("x").await.unwrap(), 200);
    }
    assert_eq!(
        clones.load(Ordering::Relaxed),
        made,
        "success path clones nothing"
    );

    svc.get_ref().script.replies_push(Reply::Err("reset"));
    assert_eq!(svc.call("x").await.unwrap(), 200);
    assert_eq!(
        clones.load(Ordering::Relaxed),
        made + 1,
        "one clone for the retry"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_backoff_too_long_to_represent_waits_without_panicking() {
    let endless = ExponentialBackoff::builder()
        .base(Duration::MAX)
        .max(Duration::MAX)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let layer = RetryLayer::builder().backoff(endless).build().unwrap();
    let counters = layer.counters();
    let mut svc = layer.layer(tower::service_fn(|_: ()| async {
        Err::<(), BoxError>("down".into())
    }));
    let mut fut = tokio_test::task::spawn(svc.ready().await.unwrap().call(()));
    // The first attempt fails; the retry waits "forever" (about 30 years).
    assert_pending!(fut.poll());
    tokio::time::advance(Duration::from_secs(10 * 365 * 86_400)).await;
    assert_pending!(fut.poll());
    assert_eq!(counters.snapshot().attempts, 1);
}
