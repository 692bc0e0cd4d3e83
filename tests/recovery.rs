//! The recommended stack comes back as fast as its backend does: no
//! self-inflicted lockout, server pacing honoured, quiet devices served as
//! soon as the backend heals. Deterministic: paused time, fixed seeds.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::breaker::State;
use failsoft::classify::{FailureKind, Hint, Verdict};
use failsoft::stack::StackLayer;
use tokio::task::LocalSet;
use tokio::time::{self, Instant};
use tower::{Layer, Service, ServiceExt, service_fn};

/// A backend's answer: a status and the `Retry-After` it sent, if any.
type Answer = (u16, Option<Duration>);

/// 200 is a success; 503 with `Retry-After` is overload with a hint, 503
/// without one a plain failure; errors are failures.
fn by_status(res: &Result<Answer, BoxError>) -> Verdict {
    match res {
        Ok((200, _)) => Verdict::success(),
        Ok((503, Some(wait))) => {
            Verdict::retryable(FailureKind::Throttled).with_hint(Hint::RetryAfter(*wait))
        }
        Ok(_) | Err(_) => Verdict::retryable(FailureKind::Error),
    }
}

/// A rate-limited server: a token bucket of `rate` per second holding at
/// most `burst`; excess is answered at once with 503 and `Retry-After`.
#[derive(Clone)]
struct Limited {
    state: Arc<Mutex<(f64, Instant)>>,
    rate: f64,
    burst: f64,
    retry_after: Duration,
    attempts: Arc<AtomicU64>,
    oks: Arc<AtomicU64>,
}

impl Limited {
    fn new(rate: f64, burst: f64, retry_after: Duration) -> Self {
        Self {
            state: Arc::new(Mutex::new((burst, Instant::now()))),
            rate,
            burst,
            retry_after,
            attempts: Arc::default(),
            oks: Arc::default(),
        }
    }

    fn answer(&self) -> Answer {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let mut st = self.state.lock().unwrap();
        let now = Instant::now();
        st.0 = (st.0 + (now - st.1).as_secs_f64() * self.rate).min(self.burst);
        st.1 = now;
        if st.0 >= 1.0 {
            st.0 -= 1.0;
            self.oks.fetch_add(1, Ordering::Relaxed);
            (200, None)
        } else {
            (503, Some(self.retry_after))
        }
    }
}

/// One logical request's record: when it started (from the run's start)
/// and whether it succeeded.
type Log = Rc<RefCell<Vec<(Duration, bool)>>>;

/// Sends `rate` logical requests per second for `length`, open loop, each
/// on its own local task; returns once every request has ended.
async fn open_loop<S>(client: &S, phases: &[(f64, Duration)], log: &Log)
where
    S: Service<u32, Response = Answer, Error = BoxError> + Clone + 'static,
{
    let start = Instant::now();
    let mut at = start;
    let mut tasks = Vec::new();
    for &(rate, length) in phases {
        let gap = Duration::from_secs_f64(1.0 / rate);
        let end = at + length;
        while at < end {
            time::sleep_until(at).await;
            let (client, log) = (client.clone(), Rc::clone(log));
            tasks.push(tokio::task::spawn_local(async move {
                let begun = Instant::now() - start;
                let ok = matches!(client.oneshot(0).await, Ok((200, _)));
                log.borrow_mut().push((begun, ok));
            }));
            at += gap;
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Share of successes among requests started within `[from, to)`.
fn success_share(log: &Log, from: Duration, to: Duration) -> f64 {
    let log = log.borrow();
    let picked: Vec<_> = log.iter().filter(|(t, _)| *t >= from && *t < to).collect();
    assert!(!picked.is_empty());
    picked.iter().filter(|(_, ok)| *ok).count() as f64 / picked.len() as f64
}

const SEC: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_rate_limited_server_is_used_to_its_limit_and_left_at_once() {
    // The case: 200 requests/s allowed (a burst of one second's
    // worth), excess answered 503 with `Retry-After: 1`; 1,000 logical
    // requests/s for 20 s, then 100/s for 20 s. Defaults, no tuning.
    let server = Limited::new(200.0, 200.0, SEC);
    let stack = StackLayer::builder()
        .classify_results(by_status)
        .seed(12)
        .build()
        .unwrap();
    let counters = stack.counters();
    let breaker = stack.breaker().clone();
    let backend = {
        let server = server.clone();
        service_fn(move |_: u32| {
            let answer = server.answer();
            async move { Ok::<_, BoxError>(answer) }
        })
    };
    let client = stack.layer(backend);
    let log: Log = Rc::default();
    let phases = [(1_000.0, 20 * SEC), (100.0, 20 * SEC)];
    LocalSet::new()
        .run_until(open_loop(&client, &phases, &log))
        .await;

    let logical = log.borrow().len() as f64;
    let attempts = server.attempts.load(Ordering::Relaxed) as f64;
    assert!(
        attempts / logical <= 1.1,
        "{attempts} attempts for {logical}"
    );
    let snap = counters.snapshot();
    assert_eq!(snap.sent(), server.attempts.load(Ordering::Relaxed));
    assert!(
        (snap.amplification().unwrap() - attempts / logical).abs() < 1e-9,
        "the counters tell what the server saw: {snap:?}"
    );
    // During the overload the server allowed 200/s plus its burst; the
    // client used at least 90 % of it.
    let ok_overload = log
        .borrow()
        .iter()
        .filter(|(t, ok)| *ok && *t < 20 * SEC)
        .count() as f64;
    let allowed = 200.0 * 20.0 + 200.0;
    assert!(
        ok_overload >= 0.9 * allowed,
        "{ok_overload} of {allowed} allowed"
    );
    // After the drop, from the 5th second on, at least 95 % succeed.
    let after = success_share(&log, 25 * SEC, 40 * SEC);
    assert!(after >= 0.95, "after the drop: {after}");
    // Overload with a hint is not an outage: the breaker never opened.
    assert_eq!(breaker.snapshot_at(Instant::now()).trips, 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn circuit_open_rejections_never_push_the_throttle() {
    let stack = StackLayer::builder().seed(3).build().unwrap();
    let (breaker, throttle) = (stack.breaker().clone(), stack.throttle());
    let mut client = stack.layer(service_fn(|_: u32| async { Ok::<_, BoxError>(7u8) }));
    breaker.force_open();
    for _ in 0..1_000 {
        assert!(client.ready().await.unwrap().call(1).await.is_err());
    }
    let s = throttle.snapshot();
    assert_eq!((s.requests, s.rejected, s.probability), (0, 0, 0.0));
    breaker.reset();
    for _ in 0..100 {
        assert_eq!(client.ready().await.unwrap().call(1).await.unwrap(), 7);
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn throttling_falls_away_within_seconds_once_attempts_succeed() {
    // A backend that fails fast for a minute drives the throttle to its
    // cap; once every attempt that goes out succeeds, the stack's own
    // rejections stop within two of the throttle's 2 s buckets.
    let failing = Arc::new(AtomicBool::new(true));
    let stack = StackLayer::builder()
        .breaker(
            failsoft::breaker::BreakerConfig::builder()
                .consecutive_failures(u32::MAX)
                .without_failure_rate()
                .slow_calls(1.0, 10 * SEC),
        )
        .seed(5)
        .build()
        .unwrap();
    let throttle = stack.throttle();
    let backend = {
        let failing = Arc::clone(&failing);
        service_fn(move |_: u32| {
            let fail = failing.load(Ordering::Relaxed);
            async move {
                if fail {
                    Err::<Answer, BoxError>("reset".into())
                } else {
                    Ok((200, None))
                }
            }
        })
    };
    let client = stack.layer(backend);
    let log: Log = Rc::default();
    let flip = {
        let failing = Arc::clone(&failing);
        async move {
            time::sleep(60 * SEC).await;
            failing.store(false, Ordering::Relaxed);
        }
    };
    let run = async {
        let phases = [(100.0, 90 * SEC)];
        tokio::join!(open_loop(&client, &phases, &log), flip);
    };
    LocalSet::new().run_until(run).await;
    assert!(
        success_share(&log, 55 * SEC, 60 * SEC) < 0.01,
        "down until 60 s"
    );
    let later = success_share(&log, 64 * SEC, 90 * SEC);
    assert!(later >= 0.99, "from 4 s after healing: {later}");
    assert_eq!(throttle.snapshot().probability, 0.0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_quiet_device_is_served_within_one_open_time_cap_of_healing() {
    // One request a minute against a backend that fails for 10 minutes
    // (and 10 s), then heals.
    let healed_at = Instant::now() + 610 * SEC;
    let stack = StackLayer::builder().seed(9).build().unwrap();
    let breaker = stack.breaker().clone();
    let mut client = stack.layer(service_fn(move |_: u32| async move {
        if Instant::now() < healed_at {
            Err::<u8, BoxError>("unavailable".into())
        } else {
            Ok(1)
        }
    }));
    let mut first_success = None;
    for minute in 0..20u32 {
        time::sleep_until(healed_at - 610 * SEC + 60 * SEC * minute).await;
        if client.ready().await.unwrap().call(0).await.is_ok() {
            first_success = Some(Instant::now());
            break;
        }
    }
    let first = first_success.expect("served once healed");
    assert!(breaker.snapshot_at(first).trips > 0, "the breaker did trip");
    let cap = breaker.config().open_backoff().max();
    assert!(
        first - healed_at <= cap,
        "{:?} after healing",
        first - healed_at
    );
    // Its next requests are probes, served too, and close the breaker.
    for _ in 0..2 {
        time::sleep(60 * SEC).await;
        assert_eq!(client.ready().await.unwrap().call(0).await.unwrap(), 1);
    }
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn hostile_hints_neither_break_the_budget_nor_the_deadline() {
    for (hint, label) in [
        (Duration::ZERO, "Retry-After: 0"),
        (Duration::from_secs(365 * 86_400), "a year"),
    ] {
        let stack = StackLayer::builder()
            .classify_results(by_status)
            .seed(4)
            .build()
            .unwrap();
        let counters = stack.counters();
        let attempts = Arc::new(AtomicU64::new(0));
        let backend = {
            let attempts = Arc::clone(&attempts);
            service_fn(move |_: u32| {
                attempts.fetch_add(1, Ordering::Relaxed);
                async move { Ok::<Answer, BoxError>((503, Some(hint))) }
            })
        };
        let client = stack.layer(backend);
        let log: Log = Rc::default();
        let longest = Rc::new(RefCell::new(Duration::ZERO));
        let run = async {
            let phases = [(50.0, 60 * SEC)];
            let timed = {
                let client = client.clone();
                let longest = Rc::clone(&longest);
                tower::service_fn(move |r: u32| {
                    let (client, longest) = (client.clone(), Rc::clone(&longest));
                    async move {
                        let t0 = Instant::now();
                        let out = client.oneshot(r).await;
                        let took = Instant::now() - t0;
                        let mut l = longest.borrow_mut();
                        *l = (*l).max(took);
                        out
                    }
                })
            };
            open_loop(&timed, &phases, &log).await;
        };
        LocalSet::new().run_until(run).await;
        let s = counters.snapshot();
        // 10 % of requests, plus the first retries before the budget
        // has seen any request.
        assert!(
            s.retries as f64 <= 0.1 * s.requests as f64 + 10.0,
            "{label}: {s:?}"
        );
        assert!(
            attempts.load(Ordering::Relaxed) as f64 <= 1.1 * s.requests as f64,
            "{label}"
        );
        assert!(*longest.borrow() <= 10 * SEC, "{label}: past the deadline");
    }
}

/// A quiet client told `Retry-After: 2` holds its requests for the pace
/// (`2 s × U(1, 1.2)` from the answer) instead of failing them: the
/// request's own retry and a new request made during the pace both go out
/// once it ends, and both get the real answer. Held attempts were never
/// sent, so they count neither as sent nor against the budget.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn requests_made_during_a_pace_are_held_and_answered() {
    let stack = StackLayer::builder()
        .classify_results(by_status)
        .seed(3)
        .build()
        .unwrap();
    let counters = stack.counters();
    let throttle = stack.throttle();
    let calls = Arc::new(AtomicU64::new(0));
    let backend = {
        let calls = Arc::clone(&calls);
        service_fn(move |_: u32| {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            async move {
                Ok::<Answer, BoxError>(if n == 0 {
                    (503, Some(2 * SEC))
                } else {
                    (200, None)
                })
            }
        })
    };
    let client = stack.layer(backend);
    let t0 = Instant::now();
    let first = tokio::spawn(client.clone().oneshot(1));
    time::sleep(SEC / 2).await;
    let until = throttle
        .snapshot()
        .paced_until
        .expect("the 503 paced the client");
    assert!(until >= t0 + 2 * SEC, "{:?}", until - t0);
    let second = client.clone().oneshot(2).await.unwrap();
    assert_eq!(second, (200, None));
    assert!(Instant::now() >= until, "sent before the pace ended");
    assert_eq!(first.await.unwrap().unwrap(), (200, None));
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    let s = counters.snapshot();
    assert_eq!((s.requests, s.sent(), s.successes), (2, 3, 2), "{s:?}");
    assert!(s.held >= 1, "{s:?}");
    assert_eq!(s.give_ups.total(), 0, "{s:?}");
}
