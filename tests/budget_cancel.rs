//! Issue 13, defect 2: cancelling a request gives back its own budget
//! withdrawal, never another request's, and nothing once it has left the
//! window. Through the retry layer on paused time, where a backoff longer
//! than the budget's window (a `Retry-After` of 30 s against a 10 s window)
//! makes a withdrawal expire while its retry still waits.

mod support;

use std::time::Duration;

use failsoft::backoff::{ExponentialBackoff, Jitter};
use failsoft::budget::RatioBudget;
use failsoft::retry::RetryLayer;
use support::{Reply, Script};
use tokio::time::{self, Instant};
use tower::{Layer, Service, ServiceExt};

const WINDOW: Duration = Duration::from_secs(10);
const BUCKETS: u32 = 10;
const BACKOFF: Duration = Duration::from_secs(15);

/// One retry per window from the floor, none from requests.
fn one_per_window() -> RatioBudget {
    RatioBudget::builder()
        .ratio(0.0)
        .floor(0.1)
        .window(WINDOW)
        .buckets(BUCKETS)
        .build()
        .unwrap()
}

fn layer(budget: &RatioBudget) -> RetryLayer<failsoft::classify::DefaultClassify, RatioBudget> {
    let backoff = ExponentialBackoff::builder()
        .base(BACKOFF)
        .max(BACKOFF)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    RetryLayer::builder()
        .max_attempts(2)
        .backoff(backoff)
        .budget(budget.clone())
        .seed(13)
        .build()
        .unwrap()
}

/// The budget bucket a grant at `at` falls in.
fn bucket(start: Instant, at: Instant) -> u64 {
    ((at - start).as_nanos() / (WINDOW / BUCKETS).as_nanos()) as u64
}

/// Every run of `BUCKETS` buckets holds at most the floor's one retry.
fn assert_window_bound(start: Instant, grants: &[Instant]) {
    let buckets: Vec<u64> = grants.iter().map(|g| bucket(start, *g)).collect();
    for &b in &buckets {
        let in_window = buckets
            .iter()
            .filter(|&&x| x >= b && x < b + u64::from(BUCKETS))
            .count();
        assert!(
            in_window <= 1,
            "{in_window} retries sent were granted in buckets {b}..{}: {buckets:?}",
            b + u64::from(BUCKETS)
        );
    }
}

/// Starts a request on its own task and lets it run until it waits.
async fn begin<S>(
    svc: &mut S,
    name: &'static str,
) -> tokio::task::JoinHandle<Result<u16, failsoft::BoxError>>
where
    S: Service<&'static str, Response = u16, Error = failsoft::BoxError>,
    S::Future: Send + 'static,
{
    ServiceExt::<&str>::ready(&mut *svc).await.unwrap();
    let task = tokio::spawn(svc.call(name));
    tokio::task::yield_now().await;
    task
}

/// Drops a request's future (as a caller giving up does).
async fn cancel(task: tokio::task::JoinHandle<Result<u16, failsoft::BoxError>>) {
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn cancelling_after_the_withdrawal_expired_gives_back_nothing() {
    let budget = one_per_window();
    let layer = layer(&budget);
    let counters = layer.counters();
    let script = Script::new([Reply::Err("reset")]);
    let mut svc = layer.layer(script.clone());
    let start = Instant::now();

    // A fails at 0 s, withdraws and sleeps until 15 s.
    let a = begin(&mut svc, "a").await;
    // B fails at 10 s, once A's withdrawal has left the window: the floor
    // has refilled, so B withdraws and sleeps until 25 s.
    time::advance(WINDOW).await;
    let b = begin(&mut svc, "b").await;
    // A is dropped at 12 s. Its withdrawal has expired: nothing to give back
    // (it used to give back B's, whose retry still goes out).
    time::advance(Duration::from_secs(2)).await;
    cancel(a).await;
    // C fails at 12 s: the window's one retry belongs to B, so C is refused
    // and answered at once.
    let c = begin(&mut svc, "c").await;
    assert!(
        c.is_finished(),
        "C got a retry the window had no credit for"
    );
    time::sleep(Duration::from_secs(30)).await;
    assert!(b.await.unwrap().is_err());
    assert!(c.await.unwrap().is_err());

    // Calls: A, B, C, then B's retry at 25 s; nothing else.
    let offsets = script.offsets(start);
    assert_eq!(
        offsets,
        [0, 10, 12, 25].map(Duration::from_secs).to_vec(),
        "calls reaching the backend"
    );
    let grants: Vec<Instant> = script.calls.lock().unwrap()[3..]
        .iter()
        .map(|sent| *sent - BACKOFF)
        .collect();
    assert_window_bound(start, &grants);
    let snap = counters.snapshot();
    assert_eq!(snap.retries, 1);
    assert_eq!(snap.give_ups.budget, 1);
    assert_eq!(snap.cancelled, 1);
    // Granted counts retries sent; A's expired withdrawal is a cancel.
    let s = budget.snapshot();
    assert_eq!((s.granted, s.cancelled, s.refused), (1, 1, 1));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn cancelling_within_the_window_gives_back_only_its_own_withdrawal() {
    let budget = RatioBudget::builder()
        .ratio(0.0)
        .floor(0.2) // two retries per window
        .window(WINDOW)
        .buckets(BUCKETS)
        .build()
        .unwrap();
    let layer = layer(&budget);
    let script = Script::new([Reply::Err("reset")]);
    let mut svc = layer.layer(script.clone());
    let start = Instant::now();
    // A at 0 s and B at 5 s each take one of the window's two retries.
    let a = begin(&mut svc, "a").await;
    time::advance(Duration::from_secs(5)).await;
    let b = begin(&mut svc, "b").await;
    // B is dropped at 7 s: its own withdrawal (bucket 5) is given back, not
    // A's (bucket 0). So one retry is free at 9 s, and two at 10 s, when
    // bucket 0 leaves the window.
    time::advance(Duration::from_secs(2)).await;
    cancel(b).await;
    time::advance(Duration::from_secs(2)).await;
    assert_eq!(budget.snapshot().available, 1.0);
    time::advance(Duration::from_secs(1)).await;
    assert_eq!(budget.snapshot().available, 2.0);
    time::sleep(Duration::from_secs(10)).await;
    assert!(a.await.unwrap().is_err());
    // A's retry went out at 15 s; B's never did.
    let offsets = script.offsets(start);
    assert_eq!(offsets, [0, 5, 15].map(Duration::from_secs).to_vec());
    let s = budget.snapshot();
    assert_eq!((s.granted, s.cancelled), (1, 1));
}

/// The documented period bound on retries *sent*, checked on their grant
/// times: over any `[a, b]` between two grants, retries ≤ `r × requests in
/// (a − w, b] + f × (b − a + w + w / buckets)`.
fn assert_period_bound(ratio: f64, floor: f64, requests: &[Instant], grants: &[Instant]) {
    let w = WINDOW.as_secs_f64();
    let bucket = w / f64::from(BUCKETS);
    let mut grants = grants.to_vec();
    grants.sort();
    for i in 0..grants.len() {
        for j in i..grants.len() {
            let (a, b) = (grants[i], grants[j]);
            let n = (j - i + 1) as f64;
            let reqs = requests
                .iter()
                .filter(|t| **t + WINDOW > a && **t <= b)
                .count() as f64;
            let bound = ratio * reqs + floor * ((b - a).as_secs_f64() + w + bucket);
            assert!(
                n <= bound + 1e-9,
                "{n} retries granted in [{a:?}, {b:?}] > {bound}"
            );
        }
    }
}

/// When each of five requests is dropped, after it started.
const DROPS: [Option<u64>; 4] = [None, Some(1), Some(11), Some(14)];
const STARTS: [u64; 5] = [0, 4, 8, 12, 16];

/// One pattern of drops against a budget of `ratio` and `floor`.
fn run_pattern(pattern: usize, ratio: f64, floor: f64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async move {
        let budget = RatioBudget::builder()
            .ratio(ratio)
            .floor(floor)
            .window(WINDOW)
            .buckets(BUCKETS)
            .build()
            .unwrap();
        let layer = layer(&budget);
        let counters = layer.counters();
        let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let backend = {
            let calls = std::sync::Arc::clone(&calls);
            tower::service_fn(move |name: &'static str| {
                calls.lock().unwrap().push((name, Instant::now()));
                std::future::ready(Err::<u16, failsoft::BoxError>("reset".into()))
            })
        };
        let mut svc = layer.layer(backend);
        let start = Instant::now();
        const NAMES: [&str; 5] = ["r0", "r1", "r2", "r3", "r4"];
        let mut code = pattern;
        let mut tasks = Vec::new();
        for (i, at) in STARTS.iter().enumerate() {
            time::sleep_until(start + Duration::from_secs(*at)).await;
            let task = begin(&mut svc, NAMES[i]).await;
            if let Some(after) = DROPS[code % DROPS.len()] {
                let abort = task.abort_handle();
                tokio::spawn(async move {
                    time::sleep(Duration::from_secs(after)).await;
                    abort.abort();
                });
            }
            code /= DROPS.len();
            tasks.push(task);
        }
        time::sleep(Duration::from_secs(60)).await;
        for task in tasks {
            let _ = task.await;
        }
        let calls = calls.lock().unwrap().clone();
        let requests: Vec<Instant> = STARTS.map(|s| start + Duration::from_secs(s)).to_vec();
        let mut grants = Vec::new();
        for name in NAMES {
            let mine: Vec<Instant> = calls.iter().filter(|c| c.0 == name).map(|c| c.1).collect();
            assert!(
                !mine.is_empty() && mine.len() <= 2,
                "pattern {pattern}: {name}: {mine:?}"
            );
            if let [first, retry] = mine[..] {
                assert_eq!(retry - first, BACKOFF);
                grants.push(first);
            }
        }
        assert_period_bound(ratio, floor, &requests, &grants);
        let snap = counters.snapshot();
        let b = budget.snapshot();
        assert_eq!(
            b.granted, snap.retries,
            "pattern {pattern}: grants = retries sent"
        );
        assert_eq!(snap.retries as usize, grants.len());
        assert_eq!(snap.requests, 5);
    });
}

/// Every pattern of five requests, each dropped never, during its first
/// second, or 11 s or 14 s in (after its withdrawal left the window, while
/// its 15 s backoff still runs): 1,024 runs per budget, one with the
/// floor alone (one retry per window) and one where requests add credit.
#[test]
fn the_period_bound_holds_under_every_pattern_of_cancellations() {
    for (ratio, floor) in [(0.0, 0.1), (0.25, 0.1)] {
        for pattern in 0..DROPS.len().pow(STARTS.len() as u32) {
            run_pattern(pattern, ratio, floor);
        }
    }
}
