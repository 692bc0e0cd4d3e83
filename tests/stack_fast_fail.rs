//! The stack's fast fail: a call its gate rejected in `poll_ready` is
//! answered without a retry future, and settles every account exactly as
//! the plain `Fallback` around the retry layer would. On paused time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::breaker::{BreakerConfig, State};
use failsoft::fallback::FallbackReason;
use failsoft::stack::StackLayer;
use tokio::time::{self, Instant};
use tower::{Layer, Service, ServiceExt, service_fn};

/// A request that counts its copies (the retry layer copies each request
/// it calls, to replay it).
#[derive(Debug)]
struct Req {
    copies: Arc<AtomicU32>,
}

impl Clone for Req {
    fn clone(&self) -> Self {
        self.copies.fetch_add(1, Ordering::Relaxed);
        Self {
            copies: Arc::clone(&self.copies),
        }
    }
}

type Answer = Result<&'static str, String>;

/// Everything one run leaves behind, to compare two runs.
#[derive(Debug, PartialEq)]
struct Run {
    answers: Vec<Answer>,
    backend_calls: u32,
    retry: failsoft::retry::RetrySnapshot,
    budget: failsoft::budget::RatioSnapshot,
    throttle: (u64, u64, u64, f64),
    breaker: (State, u32),
}

/// The stack's defaults, or (`trips: false`) a breaker that never trips,
/// so that the throttle sheds the load instead.
fn stack(
    trips: bool,
) -> StackLayer<impl Fn(FallbackReason, BoxError) -> Result<&'static str, BoxError> + Clone> {
    let builder = StackLayer::builder()
        .seed(11)
        .fallback(|reason: FallbackReason, _| Ok(reason.as_str()));
    let builder = if trips {
        builder
    } else {
        builder.breaker(
            BreakerConfig::builder()
                .consecutive_failures(1_000_000)
                .without_failure_rate(),
        )
    };
    builder.build().unwrap()
}

/// A backend down for its first 30 s, then healthy: the breaker trips, the
/// throttle sheds, then both let traffic back.
fn backend(
    calls: &Arc<AtomicU32>,
) -> impl Service<Req, Response = &'static str, Error = BoxError, Future = impl Send> + Clone {
    let calls = Arc::clone(calls);
    let healthy_at = Instant::now() + Duration::from_secs(30);
    service_fn(move |_: Req| {
        calls.fetch_add(1, Ordering::Relaxed);
        let up = Instant::now() >= healthy_at;
        async move {
            if up {
                Ok("fresh")
            } else {
                Err(BoxError::from("503"))
            }
        }
    })
}

/// 600 requests, one every 250 ms, through `svc`.
async fn drive<S>(mut svc: S, copies: &Arc<AtomicU32>) -> Vec<Answer>
where
    S: Service<Req, Response = &'static str, Error = BoxError>,
{
    let mut answers = Vec::new();
    for _ in 0..600 {
        let req = Req {
            copies: Arc::clone(copies),
        };
        let answer = svc.ready().await.unwrap().call(req).await;
        answers.push(answer.map_err(|e| e.to_string()));
        time::sleep(Duration::from_millis(250)).await;
    }
    answers
}

/// One run, through the stack's service or (`plain`) through the same
/// layers as a plain `Fallback`, which always calls the retry layer.
async fn run(plain: bool, trips: bool, copies: &Arc<AtomicU32>) -> Run {
    let layer = stack(trips);
    let calls = Arc::new(AtomicU32::new(0));
    let client = layer.layer(backend(&calls));
    let answers = if plain {
        drive(client.into_inner(), copies).await
    } else {
        drive(client, copies).await
    };
    let t = layer.throttle().snapshot();
    let b = layer.breaker().snapshot_at(Instant::now());
    Run {
        answers,
        backend_calls: calls.load(Ordering::Relaxed),
        retry: layer.counters().snapshot(),
        budget: layer.budget().snapshot(),
        throttle: (t.requests, t.rejected, t.accepts, t.probability),
        breaker: (b.state, b.trips),
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_gate_rejection_settles_every_account_as_the_retry_future_would() {
    // With the stack's breaker, then with the throttle alone shedding.
    for (trips, rejection) in [(true, "circuit_open"), (false, "throttled")] {
        let plain_copies = Arc::new(AtomicU32::new(0));
        let plain = run(true, trips, &plain_copies).await;
        let fast_copies = Arc::new(AtomicU32::new(0));
        let fast = run(false, trips, &fast_copies).await;

        assert_eq!(fast, plain, "{rejection}");
        // Not vacuous: the gate rejected many first attempts, then let
        // the healed backend's answers through.
        let count = |name: &str| plain.answers.iter().filter(|a| **a == Ok(name)).count();
        assert!(count(rejection) >= 30, "{rejection}: {:?}", plain.retry);
        assert!(count("fresh") >= 100, "{rejection}: {:?}", plain.retry);
        // The fast fail copies no request. The plain path copied each
        // request once to call it: the copies saved are the rejections at
        // a first attempt, which is all of them but those of retries.
        let saved = plain_copies.load(Ordering::Relaxed) - fast_copies.load(Ordering::Relaxed);
        let (rejected, retries) = (plain.retry.local_rejections(), plain.retry.retries);
        assert!(
            u64::from(saved) <= rejected && u64::from(saved) + retries >= rejected,
            "{rejection}: {saved} copies saved; {:?}",
            plain.retry
        );
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_forced_open_breaker_is_answered_without_copying_the_request() {
    let layer = stack(true);
    let calls = Arc::new(AtomicU32::new(0));
    let mut client = layer.layer(backend(&calls));
    layer.breaker().force_open();
    let copies = Arc::new(AtomicU32::new(0));
    for _ in 0..10 {
        let req = Req {
            copies: Arc::clone(&copies),
        };
        let answer = client.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(answer, "circuit_open");
    }
    assert_eq!(copies.load(Ordering::Relaxed), 0);
    assert_eq!(calls.load(Ordering::Relaxed), 0);
    let s = layer.counters().snapshot();
    assert_eq!(
        (s.requests, s.sent(), s.local_rejections()),
        (10, 0, 10),
        "{s:?}"
    );
    assert_eq!(layer.budget().snapshot().requests, 10);
    // Without a fallback the rejection itself reaches the caller.
    let declining = StackLayer::builder().seed(1).build().unwrap();
    declining.breaker().force_open();
    let err = declining
        .layer(backend(&calls))
        .oneshot(Req { copies })
        .await
        .unwrap_err();
    assert!(err.is::<failsoft::error::CircuitOpen>(), "{err}");
}
