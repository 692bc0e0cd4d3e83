//! The AWS adaptive-mode rate limiter of the rate-limit harness
//! (`tests/support/wire/adaptive.rs`) against numbers worked out by hand
//! from its published description (botocore `retries/throttling.py`,
//! `bucket.py`, `adaptive.py`; see the module docs): a wrong constant or
//! a wrong step fails these. Pure functions of explicit times, plus one
//! test of the service on paused time.

#[path = "support/wire/adaptive.rs"]
mod adaptive;

use std::future::{Ready, ready};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adaptive::{Adaptive, Cubic, RateLimiter, RateMeter, SendBucket};
use tokio::time::Instant;
use tower::{ServiceExt, service_fn};

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-9 * expected.abs().max(1.0)
}

macro_rules! assert_close {
    ($actual:expr, $expected:expr) => {{
        let (a, e): (f64, f64) = ($actual, $expected);
        assert!(close(a, e), "{} = {a}, expected {e}", stringify!($actual));
    }};
}

/// A throttle while sending at 10/s: the rate drops to β·10 = 7; K =
/// ∛(10·(1 − 0.7)/0.4) = ∛7.5 = 1.9574338205844317; the rate then follows
/// 0.4·(t − K)³ + 10: 7 at once, 9.64893600966 after 1 s, 10 at K,
/// 10.453284520772092 after 3 s.
#[test]
fn cubic_cuts_by_beta_and_climbs_back_to_w_max_after_k() {
    let mut cubic = Cubic::new(0.0);
    assert_close!(cubic.on_throttle(10.0, 4.0), 7.0);
    assert_close!(cubic.w_max, 10.0);
    assert_close!(cubic.k, 1.957_433_820_584_431_7);
    assert_close!(cubic.on_success(4.0), 7.0);
    assert_close!(cubic.on_success(5.0), 9.648_936_009_66);
    assert_close!(cubic.on_success(4.0 + 1.957_433_820_584_431_7), 10.0);
    assert_close!(cubic.on_success(7.0), 10.453_284_520_772_092);
}

/// Before any throttle `W_max` and `K` are 0: the curve is 0.4·t³ from
/// the start (3.2 at 2 s).
#[test]
fn cubic_starts_from_zero() {
    let cubic = Cubic::new(0.0);
    assert_close!(cubic.on_success(2.0), 3.2);
    assert_close!(cubic.on_success(0.5), 0.05);
}

/// Responses at 0.1, 0.2, 0.3 and 0.6 s: the 0.5 s bucket is entered at
/// 0.6 with 4 counted over 0.5 s, 8/s, smoothed 0.8·8 = 6.4. Then 0.7
/// (same bucket) and 1.2 (bucket 1.0): 2 over 0.5 s = 4/s, 0.8·4 +
/// 0.2·6.4 = 4.48. Then 3.0 (bucket 3.0, 2 s later): 1 over 2 s,
/// 0.8·0.5 + 0.2·4.48 = 1.296.
#[test]
fn measured_rate_is_smoothed_over_half_second_buckets() {
    let mut meter = RateMeter::new(0.0);
    for t in [0.1, 0.2, 0.3] {
        assert_close!(meter.record(t), 0.0);
    }
    assert_close!(meter.record(0.6), 6.4);
    assert_close!(meter.record(0.7), 6.4);
    assert_close!(meter.record(1.2), 4.48);
    assert_close!(meter.record(3.0), 1.296);
}

/// The bucket starts empty at 1/s; fills no slower than 0.5/s; holds at
/// least 1 and at most the rate; a lower rate cuts what it holds.
#[test]
fn send_bucket_fills_at_the_rate_with_a_floor() {
    let mut bucket = SendBucket::new();
    assert_eq!(bucket.try_take(0.0), Err(1.0)); // starts the clock
    assert_eq!(bucket.try_take(0.5), Err(0.5));
    assert_eq!(bucket.try_take(1.0), Ok(()));
    bucket.set_rate(0.2, 1.0);
    assert_close!(bucket.fill_rate, 0.5);
    assert_close!(bucket.capacity, 1.0);
    assert_eq!(bucket.try_take(1.0), Err(2.0));
    bucket.set_rate(10.0, 3.0); // filled to 1 (2 s at 0.5/s, capped at 1)
    assert_close!(bucket.capacity, 10.0);
    assert_eq!(bucket.try_take(3.5), Ok(())); // 1 + 0.5 s at 10/s = 6, minus 1
    assert_close!(bucket.tokens, 5.0);
    bucket.set_rate(2.0, 3.5);
    assert_close!(bucket.tokens, 2.0);
}

/// The whole limiter, step by step:
/// - ten successes at 0.05 … 0.5 s: at 0.5 the first bucket closes, 10
///   over 0.5 s = 20/s, measured 16; the cubic from zero gives 0.4·0.5³ =
///   0.05, so the bucket fills at its floor, 0.5/s. Off: nothing waits.
/// - a throttle at 0.6 (measured still 16): on, rate β·16 = 11.2 (below
///   2 × 16). The bucket holds 0.55 s × 0.5/s = 0.275: the next token is
///   0.725/11.2 s away.
/// - a throttle at 0.7: on, so the rate it was sending at is min(16,
///   11.2) = 11.2: `W_max` 11.2, rate 7.84.
/// - a success at 1.7: bucket 1.5 closes with 3 over 1 s, measured
///   0.8·3 + 0.2·16 = 5.6; K = ∛(11.2·0.3/0.4) = ∛8.4; the rate is
///   0.4·(1 − ∛8.4)³ + 11.2 = 10.759344203547585, below 2 × 5.6.
/// - a success at 5.0: bucket 5.0 closes with 1 over 3.5 s, measured
///   0.8/3.5 + 0.2·5.6 = 1.3485714285714288; the cubic (15.86) is capped at
///   2 × that, 2.6971428571428575.
#[test]
fn limiter_turns_on_at_a_throttle_and_caps_the_rate_at_twice_the_measured() {
    let mut limiter = RateLimiter::new();
    for i in 1..=10 {
        let t = f64::from(i) / 20.0;
        limiter.on_response(false, t);
        assert_eq!(limiter.try_send(t), Ok(()));
    }
    assert_close!(limiter.meter.rate, 16.0);
    assert_close!(limiter.bucket.fill_rate, 0.5);
    assert!(!limiter.enabled);

    limiter.on_response(true, 0.6);
    assert!(limiter.enabled);
    assert_close!(limiter.cubic.w_max, 16.0);
    assert_close!(limiter.bucket.fill_rate, 11.2);
    assert_close!(limiter.bucket.tokens, 0.275);
    let wait = limiter.try_send(0.6).unwrap_err();
    assert_close!(wait, 0.725 / 11.2);

    limiter.on_response(true, 0.7);
    assert_close!(limiter.cubic.w_max, 11.2);
    assert_close!(limiter.bucket.fill_rate, 7.84);

    limiter.on_response(false, 1.7);
    assert_close!(limiter.meter.rate, 5.6);
    assert_close!(limiter.bucket.fill_rate, 10.759_344_203_547_585);

    limiter.on_response(false, 5.0);
    assert_close!(limiter.meter.rate, 1.348_571_428_571_428_8);
    assert_close!(limiter.bucket.fill_rate, 2.697_142_857_142_857_5);
}

/// Through the service, on paused time: the first call passes (the
/// limiter is off) and is throttled with nothing measured yet, so the rate
/// drops to 0 and the bucket fills at its 0.5/s floor: the second call
/// goes out 2 s later. Its success closes the first 2 s of measuring (2
/// responses, measured 0.8/s): the cubic's 0.4·2³ = 3.2 is capped at
/// 1.6/s, so the third call goes out 1/1.6 = 0.625 s after that.
#[tokio::test(start_paused = true)]
async fn calls_wait_for_the_rates_the_limiter_sets() {
    let start = Instant::now();
    let calls: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let seen = Arc::clone(&calls);
    let inner = service_fn(move |_req: ()| -> Ready<Result<u16, ()>> {
        let mut seen = seen.lock().unwrap();
        seen.push(start.elapsed());
        ready(Ok(if seen.len() == 1 { 503 } else { 200 }))
    });
    let svc = Adaptive::new(inner, |r: &Result<u16, ()>| r == &Ok(503), 0.0, 1);
    for _ in 0..3 {
        svc.clone().oneshot(()).await.unwrap();
    }
    let calls = calls.lock().unwrap().clone();
    let expected = [0.0, 2.0, 2.625];
    assert_eq!(calls.len(), 3);
    for (at, want) in calls.iter().zip(expected) {
        // The timer's resolution is 1 ms.
        assert!(
            (at.as_secs_f64() - want).abs() <= 0.002,
            "calls at {calls:?}, expected {expected:?} s"
        );
    }
    assert!(svc.snapshot().enabled);
}

/// botocore's clock is the Unix time: a limiter made 0.9 s into a second
/// starts measuring from the whole second, so its first response (at 0.95)
/// already closes the 0.5 bucket: 1 over 0.5 s, measured 0.8·2 = 1.6; the
/// next (at 1.0) closes bucket 1.0: 0.8·2 + 0.2·1.6 = 1.92. Made at 0.0,
/// the same two responses close nothing.
#[test]
fn clock_phase_decides_when_the_first_bucket_closes() {
    let mut late = RateLimiter::starting_at(0.9);
    late.on_response(false, 0.95);
    assert_close!(late.meter.rate, 1.6);
    late.on_response(false, 1.0);
    assert_close!(late.meter.rate, 1.92);

    let mut early = RateLimiter::starting_at(0.0);
    early.on_response(false, 0.05);
    early.on_response(false, 0.1);
    assert_close!(early.meter.rate, 0.0);
}
