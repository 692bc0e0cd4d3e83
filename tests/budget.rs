//! Budgets through the real retry layer: the amplification bound in a storm,
//! refusals handing back the backend's own result, and sharing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::budget::{NoBudget, RatioBudget, RetryBudget, TokenBucket};
use failsoft::classify::FailureKind;
use failsoft::retry::{RetryLayer, StopReason};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

const STORM: Duration = Duration::from_secs(600);

/// Result of one storm run.
#[derive(Debug)]
struct Storm {
    requests: u64,
    attempts: u64,
    budget_give_ups: u64,
}

impl Storm {
    fn amplification(&self) -> f64 {
        self.attempts as f64 / self.requests as f64
    }
}

/// Sends `rate` requests per second for ten simulated minutes to a backend
/// that fails every one, through a 3-attempt retry layer with `budget`.
async fn storm<B>(budget: B, rate: u64) -> Storm
where
    B: RetryBudget + Clone + Send + Sync + 'static,
{
    let calls = Arc::new(AtomicU64::new(0));
    let backend = {
        let calls = Arc::clone(&calls);
        service_fn(move |_: ()| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err::<(), _>(std::io::Error::other("503 service unavailable")) }
        })
    };
    let layer = RetryLayer::builder()
        .max_attempts(3)
        .seed(11)
        .budget(budget)
        .build()
        .unwrap();
    let counters = layer.counters();
    let client = ServiceBuilder::new().layer(layer).service(backend);

    let start = Instant::now();
    let every = Duration::from_secs(1) / rate as u32;
    let mut tasks = JoinSet::new();
    for i in 0..rate * STORM.as_secs() {
        tokio::time::sleep_until(start + every * i as u32).await;
        let client = client.clone();
        tasks.spawn(async move {
            let err = client.oneshot(()).await.unwrap_err();
            assert_eq!(err.to_string(), "503 service unavailable");
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let snap = counters.snapshot();
    assert_eq!(snap.attempts, calls.load(Ordering::Relaxed));
    Storm {
        requests: snap.requests,
        attempts: snap.attempts,
        budget_give_ups: snap.give_ups.budget,
    }
}

/// The documented bound for a ratio budget, over the whole run: retries ≤
/// r × requests + f × (T + w + w / buckets), T the time retries span.
fn ratio_bound(requests: u64, r: f64, f: f64, w: f64, bucket: f64) -> f64 {
    // Retries end within a second of the last request (backoff ≤ 300 ms).
    let t = STORM.as_secs_f64() + 1.0;
    requests as f64 * (1.0 + r) + f * (t + w + bucket)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn ratio_budget_bounds_amplification_in_a_ten_minute_outage() {
    for rate in [1, 10, 100] {
        let budget = RatioBudget::default();
        let s = storm(budget.clone(), rate).await;
        let bound = ratio_bound(s.requests, 0.1, 0.1, 10.0, 1.0);
        eprintln!(
            "rate {rate}/s: {s:?}, amplification {:.4}",
            s.amplification()
        );
        assert!(s.attempts as f64 <= bound, "rate {rate}: {s:?} > {bound}");
        let floor_share = 0.1 / rate as f64;
        assert!(
            s.amplification() <= 1.0 + 0.1 + floor_share + 0.01,
            "rate {rate}: amplification {}",
            s.amplification()
        );
        // The budget is not simply refusing everything: it grants close to
        // its ratio (filing lag makes it slightly conservative).
        assert!(s.amplification() >= 1.09, "rate {rate}: {s:?}");
        assert!(s.budget_give_ups > 0);
        assert_eq!(budget.snapshot().refused, s.budget_give_ups);
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn without_a_budget_the_same_outage_reaches_the_attempt_limit() {
    for rate in [1, 10, 100] {
        let s = storm(NoBudget, rate).await;
        assert_eq!(s.amplification(), 3.0, "rate {rate}");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn token_buckets_stop_retrying_once_spent() {
    let aws = storm(TokenBucket::aws_standard(), 10).await;
    assert_eq!(aws.attempts, aws.requests + 100, "500 tokens at 5 each");
    let grpc = storm(TokenBucket::grpc(), 10).await;
    // 10 tokens, retries only above 5, and every failed attempt costs 1
    // (gRFC A6), the last attempt's too: 10 → 9 → 8, final failure → 7,
    // then one more retry (→ 6) before the count reaches the threshold.
    assert_eq!(
        grpc.attempts,
        grpc.requests + 3,
        "10 tokens, retries above 5"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn refusal_returns_the_backend_result_and_says_budget() {
    let budget = RatioBudget::builder()
        .ratio(0.0)
        .floor(0.0)
        .build()
        .unwrap();
    let layer = RetryLayer::builder()
        .budget(budget)
        .seed(1)
        .build()
        .unwrap();
    let counters = layer.counters();
    let mut client = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|_: ()| async {
            Err::<(), BoxError>("backend says no".into())
        }));
    let fut = client.ready().await.unwrap().call(());
    tokio::pin!(fut);
    let err = fut.as_mut().await.unwrap_err();
    assert_eq!(err.to_string(), "backend says no");
    match fut.stop_reason() {
        Some(StopReason::Budget(refused)) => assert_eq!(refused.reason(), "ratio budget spent"),
        other => panic!("stopped for {other:?}"),
    }
    assert_eq!(counters.snapshot().give_ups.budget, 1);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn one_budget_is_shared_by_two_retry_layers() {
    // One retry in the pot: whichever client fails first takes it.
    let budget = RatioBudget::builder()
        .ratio(0.0)
        .floor(0.1)
        .build()
        .unwrap();
    let failing = || service_fn(|_: ()| async { Err::<(), BoxError>("down".into()) });
    let mut a = ServiceBuilder::new()
        .layer(
            RetryLayer::builder()
                .budget(budget.clone())
                .seed(1)
                .build()
                .unwrap(),
        )
        .service(failing());
    let mut b = ServiceBuilder::new()
        .layer(
            RetryLayer::builder()
                .budget(budget.clone())
                .seed(2)
                .build()
                .unwrap(),
        )
        .service(failing());
    let _ = a.ready().await.unwrap().call(()).await;
    let _ = b.ready().await.unwrap().call(()).await;
    let s = budget.snapshot();
    assert_eq!((s.granted, s.refused), (1, 2));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn token_bucket_refunds_on_success_through_the_layer() {
    // AWS returns the successful retry's cost; the fixed refund returns 1.
    for (bucket, after) in [
        (TokenBucket::aws_standard(), 500.0),
        (TokenBucket::fixed_refund(), 496.0),
    ] {
        refund_after_one_retry(bucket, after).await;
    }
}

async fn refund_after_one_retry(bucket: TokenBucket, after: f64) {
    let flaky = {
        let n = Arc::new(AtomicU64::new(0));
        service_fn(move |_: ()| {
            let first = n.fetch_add(1, Ordering::Relaxed).is_multiple_of(2);
            async move {
                if first {
                    Err::<u8, BoxError>("reset".into())
                } else {
                    Ok(1)
                }
            }
        })
    };
    let mut client = ServiceBuilder::new()
        .layer(
            RetryLayer::builder()
                .budget(bucket.clone())
                .seed(3)
                .build()
                .unwrap(),
        )
        .service(flaky);
    client.ready().await.unwrap().call(()).await.unwrap();
    // Paid 5 for the retry, got `after - 495` back for the success.
    assert_eq!(bucket.snapshot().tokens, after);
}

#[test]
fn many_threads_sharing_one_budget_agree_with_the_bound() {
    let budget = RatioBudget::builder()
        .ratio(0.1)
        .floor(0.0)
        .window(Duration::from_secs(3600))
        .build()
        .unwrap();
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let budget = budget.clone();
            std::thread::spawn(move || {
                let mut granted = 0u64;
                for i in 0..20_000u64 {
                    budget.on_request();
                    if (i + t) % 3 == 0 && budget.try_retry(FailureKind::Timeout).is_ok() {
                        granted += 1;
                    }
                }
                granted
            })
        })
        .collect();
    let granted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let s = budget.snapshot();
    assert_eq!(s.requests, 160_000);
    assert_eq!(s.granted, granted);
    assert!(granted <= 16_000, "{granted}");
    // Nothing lost: what was not granted during the run is still there.
    assert_eq!(s.available, (16_000 - granted) as f64);
}

#[test]
fn fractional_ratios_are_exact_where_tower_over_admits() {
    use tower::retry::budget::{Budget, TpsBudget};
    // tower turns 30 % into "one retry per 3 requests".
    let tower = TpsBudget::new(Duration::from_secs(10), 0, 0.3);
    for _ in 0..100 {
        tower.deposit();
    }
    let tower_granted = (0..100).filter(|_| tower.withdraw()).count();
    assert_eq!(tower_granted, 33);

    let ours = RatioBudget::builder()
        .ratio(0.3)
        .floor(0.0)
        .build()
        .unwrap();
    for _ in 0..100 {
        ours.on_request();
    }
    let granted = (0..100)
        .filter(|_| ours.try_retry(FailureKind::Error).is_ok())
        .count();
    assert_eq!(granted, 30);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn dropping_a_request_in_backoff_gives_the_withdrawal_back() {
    use tokio_test::assert_pending;
    let ratio = RatioBudget::builder()
        .ratio(0.0)
        .floor(0.1)
        .build()
        .unwrap(); // one retry
    let bucket = TokenBucket::aws_standard();
    let (inner, mut handle) = tower_test::mock::pair::<(), ()>();
    handle.allow(10);
    let layer = RetryLayer::builder()
        .budget((ratio.clone(), bucket.clone()))
        .seed(4);
    let mut svc = tower::Layer::layer(&layer.build().unwrap(), inner);
    ServiceExt::<()>::ready(&mut svc).await.unwrap();
    let mut fut = tokio_test::task::spawn(svc.call(()));
    assert_pending!(fut.poll());
    let (_, send) = handle.next_request().await.unwrap();
    send.send_error("reset");
    assert_pending!(fut.poll()); // withdrawn, sleeping in backoff
    assert_eq!(ratio.snapshot().available, 0.0);
    assert_eq!(bucket.snapshot().tokens, 495.0);
    drop(fut);
    let r = ratio.snapshot();
    assert_eq!((r.available, r.granted, r.cancelled), (1.0, 0, 1));
    let b = bucket.snapshot();
    assert_eq!((b.tokens, b.granted, b.cancelled), (500.0, 0, 1));
}
