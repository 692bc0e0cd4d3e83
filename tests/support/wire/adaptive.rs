//! The AWS SDKs' *adaptive* retry mode's client-side rate limiter, as a
//! comparison client for the rate-limit harness (issue 16, item 2). Not
//! library API: it exists to measure adaptive mode against failsoft.
//!
//! Sources for the algorithm and every constant below:
//! - AWS SDKs and Tools Reference Guide, "Retry behavior"
//!   (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html>):
//!   adaptive mode is standard mode plus client-side rate limiting that
//!   may delay even a first attempt.
//! - botocore (boto/botocore, commit 40454eaac38ce390fc7755ac1a05dd3425aeb5f9),
//!   `botocore/retries/throttling.py` (CUBIC: scale constant 0.4, β 0.7),
//!   `botocore/retries/bucket.py` (the send bucket: minimum fill rate
//!   0.5/s, capacity = the rate but at least 1, starts empty at 1/s) and
//!   `botocore/retries/adaptive.py` (the measured rate over 0.5 s buckets,
//!   smoothing 0.8; a new rate is capped at 2 × the measured rate; the
//!   limiter turns on at the first throttling error).
//!
//! How it works. Every response is clocked into the measured rate. A
//! throttling response (here: 429 or 503, as S3's `503 SlowDown`) sets
//! CUBIC's `W_max` to the rate the client was sending at (the measured
//! rate, or the bucket's rate if lower once the limiter is on), cuts the
//! rate to β × that, and turns the limiter on. Any other response moves
//! the rate along the cubic `C·(t − K)³ + W_max`, where `t` is the time
//! since the last throttle and `K = ∛(W_max·(1 − β)/C)` is when the curve
//! climbs back to `W_max`. Once on, every attempt waits for a token of a
//! bucket filling at that rate. Two differences from botocore, both in
//! the plumbing: time is seconds since the limiter was made plus a chosen
//! phase (botocore reads the Unix clock, so where in a second a client is
//! made decides when its first measuring bucket closes), and a waiting
//! caller that gives up leaves without a token (botocore blocks a thread,
//! which cannot give up).

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use failsoft::rng::Rng;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;
use tower::{Service, ServiceExt};

/// CUBIC's multiplicative decrease: the rate after a throttle is β × the
/// rate it was sending at (`throttling.py`, `_BETA`).
pub const BETA: f64 = 0.7;
/// CUBIC's scale constant `C` (`throttling.py`, `_SCALE_CONSTANT`).
pub const SCALE_CONSTANT: f64 = 0.4;
/// The slowest the bucket ever fills, tokens per second (`bucket.py`,
/// `_MIN_RATE`).
pub const MIN_FILL_RATE: f64 = 0.5;
/// The bucket's rate before the first response (`adaptive.py`,
/// `TokenBucket(max_rate=1)`).
pub const STARTING_RATE: f64 = 1.0;
/// Weight of the newest bucket in the measured rate (`adaptive.py`,
/// `_DEFAULT_SMOOTHING`).
pub const SMOOTHING: f64 = 0.8;
/// Width of a measuring bucket, seconds (`adaptive.py`,
/// `_TIME_BUCKET_RANGE`).
pub const TIME_BUCKET: f64 = 0.5;
/// A new rate is at most this × the measured rate (`adaptive.py`,
/// `_MAX_RATE_ADJUST_SCALE`).
pub const MAX_RATE_ADJUST_SCALE: f64 = 2.0;

/// CUBIC over request rates: `W_max`, `K` and the time of the last
/// throttle, in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cubic {
    pub w_max: f64,
    pub k: f64,
    pub last_throttle: f64,
}

impl Cubic {
    /// Starts with `W_max` 0 (botocore's `starting_max_rate=0`) at `start`.
    pub fn new(start: f64) -> Self {
        Self {
            w_max: 0.0,
            k: 0.0,
            last_throttle: start,
        }
    }

    /// The rate after a non-throttling response at `t`.
    pub fn on_success(&self, t: f64) -> f64 {
        SCALE_CONSTANT * (t - self.last_throttle - self.k).powi(3) + self.w_max
    }

    /// A throttle at `t` while sending at `rate`: remembers `rate` as
    /// `W_max` and returns the reduced rate.
    pub fn on_throttle(&mut self, rate: f64, t: f64) -> f64 {
        self.w_max = rate;
        self.k = (rate * (1.0 - BETA) / SCALE_CONSTANT).cbrt();
        self.last_throttle = t;
        rate * BETA
    }
}

/// Responses per second, smoothed over [`TIME_BUCKET`]-wide buckets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateMeter {
    pub rate: f64,
    count: f64,
    last_bucket: f64,
}

impl RateMeter {
    pub fn new(start: f64) -> Self {
        Self {
            rate: 0.0,
            count: 0.0,
            last_bucket: start.floor(),
        }
    }

    /// Counts one response at `t`; when `t` is in a newer bucket, folds
    /// the count into the rate. Returns the measured rate.
    pub fn record(&mut self, t: f64) -> f64 {
        let bucket = (t / TIME_BUCKET).floor() * TIME_BUCKET;
        self.count += 1.0;
        if bucket > self.last_bucket {
            let current = self.count / (bucket - self.last_bucket);
            self.rate = SMOOTHING * current + (1.0 - SMOOTHING) * self.rate;
            self.count = 0.0;
            self.last_bucket = bucket;
        }
        self.rate
    }
}

/// The send bucket: fills at `fill_rate` up to `capacity`, one token per
/// attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SendBucket {
    pub fill_rate: f64,
    pub capacity: f64,
    pub tokens: f64,
    /// The target rate as set (the fill rate before the floor).
    pub max_rate: f64,
    last: Option<f64>,
}

impl SendBucket {
    pub fn new() -> Self {
        let mut bucket = Self {
            fill_rate: 0.0,
            capacity: 0.0,
            tokens: 0.0,
            max_rate: 0.0,
            last: None,
        };
        bucket.apply_rate(STARTING_RATE);
        bucket
    }

    /// Sets the rate at `t`, after filling at the old one until then.
    pub fn set_rate(&mut self, rate: f64, t: f64) {
        self.refill(t);
        self.apply_rate(rate);
    }

    fn apply_rate(&mut self, rate: f64) {
        self.max_rate = rate;
        self.fill_rate = rate.max(MIN_FILL_RATE);
        self.capacity = if rate >= 1.0 { rate } else { 1.0 };
        self.tokens = self.tokens.min(self.capacity);
    }

    /// Takes a token at `t`, or says how many seconds until one is there.
    pub fn try_take(&mut self, t: f64) -> Result<(), f64> {
        self.refill(t);
        // A hair of tolerance, so that a token due at `t` by the division
        // that scheduled the wait is there at `t` despite rounding.
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens = (self.tokens - 1.0).max(0.0);
            Ok(())
        } else {
            Err((1.0 - self.tokens) / self.fill_rate)
        }
    }

    /// The first call only starts the clock (the bucket starts empty).
    fn refill(&mut self, t: f64) {
        if let Some(last) = self.last {
            let filled = self.tokens + (t - last).max(0.0) * self.fill_rate;
            self.tokens = filled.min(self.capacity);
        }
        self.last = Some(t);
    }
}

impl Default for SendBucket {
    fn default() -> Self {
        Self::new()
    }
}

/// The whole limiter, on explicit times (seconds since it was made).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimiter {
    pub cubic: Cubic,
    pub meter: RateMeter,
    pub bucket: SendBucket,
    /// Off until the first throttling response; attempts pass freely.
    pub enabled: bool,
}

impl RateLimiter {
    pub fn new() -> Self {
        Self::starting_at(0.0)
    }

    /// A limiter made at time `start` of its clock. Only the measuring
    /// buckets care: they start at the whole second before `start`, as
    /// botocore's do on the Unix clock.
    pub fn starting_at(start: f64) -> Self {
        Self {
            cubic: Cubic::new(start),
            meter: RateMeter::new(start),
            bucket: SendBucket::new(),
            enabled: false,
        }
    }

    /// Before an attempt at `t`: go, or wait this many seconds and ask again.
    pub fn try_send(&mut self, t: f64) -> Result<(), f64> {
        if self.enabled {
            self.bucket.try_take(t)
        } else {
            Ok(())
        }
    }

    /// After a response at `t`.
    pub fn on_response(&mut self, throttled: bool, t: f64) {
        let measured = self.meter.record(t);
        let rate = if throttled {
            let sending = if self.enabled {
                measured.min(self.bucket.max_rate)
            } else {
                measured
            };
            self.enabled = true;
            self.cubic.on_throttle(sending, t)
        } else {
            self.cubic.on_success(t)
        };
        self.bucket
            .set_rate(rate.min(MAX_RATE_ADJUST_SCALE * measured), t);
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

/// A service behind the limiter: every call waits for a token, then
/// every response (not calls the caller dropped) feeds the limiter.
///
/// Waiting callers get tokens in random order, as botocore's threads do
/// when they race for its bucket (each blocked thread wakes on its own
/// timer and the first to find a token takes it); a queue in arrival order
/// would hand every token to the caller closest to giving up. One
/// dispatcher task per limiter sleeps until the next token and hands it
/// over, so a long queue costs one wake-up per token.
pub struct Adaptive<S, R, E> {
    inner: S,
    shared: Arc<Shared>,
    is_throttle: fn(&Result<R, E>) -> bool,
}

struct Shared {
    epoch: Instant,
    /// The limiter's clock at `epoch`.
    phase: f64,
    state: Mutex<State>,
    /// Wakes the dispatcher: a new waiter, a faster rate, or the end.
    wake: Arc<Notify>,
}

struct State {
    limiter: RateLimiter,
    waiters: Vec<oneshot::Sender<()>>,
    rng: Rng,
}

impl<S, R, E> Adaptive<S, R, E> {
    /// Must be called within a tokio runtime (it spawns the dispatcher,
    /// which ends when the last clone is dropped). The limiter's clock
    /// starts at `clock_phase` seconds (botocore's starts at the Unix time,
    /// so where in a second a client is made decides when its first
    /// measuring bucket closes); `seed` orders the waiters.
    pub fn new(
        inner: S,
        is_throttle: fn(&Result<R, E>) -> bool,
        clock_phase: f64,
        seed: u64,
    ) -> Self {
        let shared = Arc::new(Shared {
            epoch: Instant::now(),
            phase: clock_phase,
            state: Mutex::new(State {
                limiter: RateLimiter::starting_at(clock_phase),
                waiters: Vec::new(),
                rng: Rng::from_seed(seed),
            }),
            wake: Arc::new(Notify::new()),
        });
        tokio::spawn(dispatch(Arc::downgrade(&shared), Arc::clone(&shared.wake)));
        Self {
            inner,
            shared,
            is_throttle,
        }
    }

    /// The limiter's state now.
    pub fn snapshot(&self) -> RateLimiter {
        self.shared.state.lock().unwrap().limiter
    }
}

impl Shared {
    fn now(&self) -> f64 {
        self.phase + self.epoch.elapsed().as_secs_f64()
    }

    async fn acquire(&self) {
        let rx = {
            let now = self.now();
            let mut state = self.state.lock().unwrap();
            if state.waiters.is_empty() && state.limiter.try_send(now).is_ok() {
                return;
            }
            let (tx, rx) = oneshot::channel();
            state.waiters.push(tx);
            rx
        };
        self.wake.notify_one();
        // The dispatcher never drops a live waiter's sender unsent.
        let _ = rx.await;
    }

    fn on_response(&self, throttled: bool) {
        let now = self.now();
        let mut state = self.state.lock().unwrap();
        let before = state.limiter.bucket.fill_rate;
        state.limiter.on_response(throttled, now);
        let faster = state.limiter.bucket.fill_rate > before;
        drop(state);
        if faster {
            self.wake.notify_one();
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.wake.notify_one();
    }
}

/// Hands each token to a random waiting caller; sleeps until the next
/// token, a new waiter, a faster rate, or the last clone's drop. Holds no
/// strong reference while it sleeps.
async fn dispatch(shared: Weak<Shared>, wake: Arc<Notify>) {
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let wait = {
            let now = strong.now();
            let mut state = strong.state.lock().unwrap();
            grant(&mut state, now)
        };
        drop(strong);
        let woken = wake.notified();
        match wait {
            // At least the timer's 1 ms, so a rounding error cannot spin.
            Some(secs) => {
                let secs = Duration::from_secs_f64(secs).max(Duration::from_millis(1));
                tokio::select! {
                    () = tokio::time::sleep(secs) => {}
                    () = woken => {}
                }
            }
            None => woken.await,
        }
    }
}

/// Grants tokens while there are both tokens and live waiters. Returns
/// how long until the next token if someone still waits.
fn grant(state: &mut State, now: f64) -> Option<f64> {
    state.waiters.retain(|w| !w.is_closed());
    loop {
        if state.waiters.is_empty() {
            return None;
        }
        if let Err(secs) = state.limiter.try_send(now) {
            return Some(secs);
        }
        let pick = (state.rng.next_u64() % state.waiters.len() as u64) as usize;
        let waiter = state.waiters.swap_remove(pick);
        // A caller that gave up just now wastes its token.
        let _ = waiter.send(());
    }
}

impl<S: Clone, R, E> Clone for Adaptive<S, R, E> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            is_throttle: self.is_throttle,
        }
    }
}

impl<S, Req, R, E> Service<Req> for Adaptive<S, R, E>
where
    S: Service<Req, Response = R, Error = E> + Clone + Send + 'static,
    S::Future: Send,
    Req: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
{
    type Response = R;
    type Error = E;
    type Future = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        // The wait is in the call: readiness is the limiter's business.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let inner = self.inner.clone();
        let shared = Arc::clone(&self.shared);
        let is_throttle = self.is_throttle;
        Box::pin(async move {
            shared.acquire().await;
            let result = inner.oneshot(req).await;
            shared.on_response(is_throttle(&result));
            result
        })
    }
}
