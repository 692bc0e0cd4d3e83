//! One hyper client (HTTP/1, keep-alive) wrapped five ways: no retry,
//! naive immediate retries, tower's `Retry` with `TpsBudget` and backoff,
//! failsoft's default stack, and the AWS SDKs' adaptive retry mode.

use std::fmt;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use failsoft::BoxError;
use failsoft::backoff::{ExponentialBackoff as FailsoftBackoff, Jitter};
use failsoft::budget::TokenBucket;
use failsoft::classify::{FailureKind, Hint, Verdict, classify_error};
use failsoft::retry::{RetryCounters, RetryLayer};
use failsoft::stack::StackLayer;
use http_body_util::{BodyExt, Full};
use hyper::header::RETRY_AFTER;
use hyper::{Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::retry::backoff::{Backoff, ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use tower::retry::budget::{Budget, TpsBudget};
use tower::retry::{Policy, Retry};
use tower::util::{BoxCloneService, rng::HasherRng};
use tower::{Layer, Service, service_fn};

use super::adaptive::Adaptive;

/// A logical request. The retry layers need `Clone` (they replay the
/// request), which a hyper request with a streaming body is not, so the
/// transport builds the hyper request from this on every attempt.
#[derive(Clone, Debug)]
pub struct WireRequest {
    pub path: &'static str,
}

/// A response with its body read to the end (so the connection goes
/// back to the pool).
pub type Reply = Response<Bytes>;

/// Any of the five clients.
pub type WireClient = BoxCloneService<WireRequest, Reply, BoxError>;

/// The five ways to wrap the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One attempt per logical request.
    NoRetry,
    /// Up to 3 attempts, retried at once on any failure.
    Naive,
    /// tower's `Retry`: up to 3 attempts, a `TpsBudget` with tower's
    /// defaults (10 s, 10 retries/s floor, 20 %), exponential backoff.
    Tower,
    /// `StackLayer::builder().build()` defaults, with a classifier for
    /// HTTP statuses and `Retry-After`.
    Failsoft,
    /// The AWS SDKs' adaptive mode: standard mode (3 attempts, the
    /// `TokenBucket::aws_standard()` quota, full-jitter backoff from 1 s
    /// capped at 20 s, `Retry-After` not read) over the CUBIC client-side
    /// rate limiter of `adaptive.rs`, which every attempt passes; its
    /// clock starts this many ms into a second (see `Adaptive::new`).
    AwsAdaptive { clock_phase_ms: u16 },
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::NoRetry,
        Kind::Naive,
        Kind::Tower,
        Kind::Failsoft,
        Kind::AwsAdaptive { clock_phase_ms: 0 },
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::NoRetry => "no retry",
            Kind::Naive => "naive, 3 immediate tries",
            Kind::Tower => "tower `Retry` + `TpsBudget` + backoff",
            Kind::Failsoft => "failsoft stack, defaults",
            Kind::AwsAdaptive { .. } => "AWS adaptive mode (standard + CUBIC rate limiter)",
        }
    }

    /// The client for a server at `addr`, with failsoft's own counters
    /// when it is failsoft.
    pub fn client(self, addr: SocketAddr) -> (WireClient, Option<RetryCounters>) {
        let transport = transport(addr);
        match self {
            Kind::NoRetry => (BoxCloneService::new(transport), None),
            Kind::Naive => (
                BoxCloneService::new(Retry::new(Naive { tries_left: 2 }, transport)),
                None,
            ),
            Kind::Tower => (
                BoxCloneService::new(Retry::new(TowerPolicy::new(), transport)),
                None,
            ),
            Kind::Failsoft => {
                let stack = StackLayer::builder()
                    .classify_results(classify)
                    .build()
                    .expect("the default stack builds");
                let counters = stack.counters();
                (BoxCloneService::new(stack.layer(transport)), Some(counters))
            }
            Kind::AwsAdaptive { clock_phase_ms } => {
                let retry = aws_standard_retry();
                let counters = retry.counters();
                let phase = f64::from(clock_phase_ms) / 1000.0;
                let limited = Adaptive::new(transport, throttled, phase, 16);
                (BoxCloneService::new(retry.layer(limited)), Some(counters))
            }
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match *self {
            Kind::AwsAdaptive { clock_phase_ms } if clock_phase_ms > 0 => {
                write!(
                    f,
                    ", clock phase {:.1} s",
                    f64::from(clock_phase_ms) / 1000.0
                )
            }
            _ => Ok(()),
        }
    }
}

/// A hyper-util legacy client (HTTP/1, keep-alive pool) as a cloneable
/// service of [`WireRequest`]s.
pub fn transport(
    addr: SocketAddr,
) -> impl Service<WireRequest, Response = Reply, Error = BoxError, Future = impl Send> + Clone + Send
{
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    service_fn(move |req: WireRequest| {
        let client = client.clone();
        async move {
            let request = hyper::Request::get(format!("http://{addr}{}", req.path))
                .body(Full::new(Bytes::new()))?;
            let (parts, body) = client.request(request).await?.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, BoxError>(Response::from_parts(parts, body))
        }
    })
}

/// Whether an attempt's result is worth another try: an error, or a
/// 429/5xx answer.
pub fn failed(result: &Result<Reply, BoxError>) -> bool {
    match result {
        Ok(res) => res.status() == StatusCode::TOO_MANY_REQUESTS || res.status().is_server_error(),
        Err(_) => true,
    }
}

/// failsoft's classifier for this server: 429/503 are throttling, with the
/// `Retry-After` header read into a hint; other 5xx are errors; other
/// answers are successes (4xx would be fatal); errors as by default.
pub fn classify(result: &Result<Reply, BoxError>) -> Verdict {
    let res = match result {
        Ok(res) => res,
        Err(err) => return classify_error(err),
    };
    let status = res.status();
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        let verdict = Verdict::retryable(FailureKind::Throttled);
        match res.headers().get(RETRY_AFTER) {
            Some(value) => verdict.with_hint(
                value
                    .to_str()
                    .map_or(Hint::Malformed, Hint::from_retry_after),
            ),
            None => verdict,
        }
    } else if status.is_server_error() {
        Verdict::retryable(FailureKind::Error)
    } else if status.is_client_error() {
        Verdict::fatal()
    } else {
        Verdict::success()
    }
}

/// 429 and 503 are throttling errors to adaptive mode. botocore judges by
/// the error code (`retries/standard.py`, `ThrottledRetryableChecker`,
/// which lists S3's `SlowDown`); this server sends no code, so its 503
/// stands for S3's `503 SlowDown`.
pub fn throttled(result: &Result<Reply, BoxError>) -> bool {
    result.as_ref().is_ok_and(|res| {
        res.status() == StatusCode::TOO_MANY_REQUESTS
            || res.status() == StatusCode::SERVICE_UNAVAILABLE
    })
}

/// AWS standard mode as the pre-2026 SDKs run it (AWS SDKs and Tools
/// Reference Guide, "Retry behavior"; botocore `retries/standard.py`,
/// `ExponentialBackoff` outside version 2.1): 3 attempts, the 500-token
/// quota, a delay of `U(0, 1) × min(2^(attempt − 1), 20)` s after attempt
/// `attempt`, and no `Retry-After` (it reads only `x-amz-retry-after`, and
/// only in version 2.1).
fn aws_standard_retry()
-> RetryLayer<impl Fn(&WireRequest, &Result<Reply, BoxError>) -> Verdict + Clone, TokenBucket> {
    let backoff = FailsoftBackoff::builder()
        .base(Duration::from_secs(1))
        .multiplier(2.0)
        .max(Duration::from_secs(20))
        .jitter(Jitter::Full)
        .build()
        .expect("valid backoff");
    RetryLayer::builder()
        .max_attempts(3)
        .backoff(backoff)
        .honor_hints(false)
        .budget(TokenBucket::aws_standard())
        .classify(|_req: &WireRequest, result: &Result<Reply, BoxError>| {
            // The 503's `Retry-After` is left out: standard mode ignores it.
            if throttled(result) {
                Verdict::retryable(FailureKind::Throttled)
            } else {
                classify(result)
            }
        })
        .build()
        .expect("the AWS standard retry layer builds")
}

/// Retries every failure at once, up to `tries_left` more times. tower
/// clones the policy into each request's future, so the count is per
/// logical request.
#[derive(Clone, Debug)]
struct Naive {
    tries_left: u32,
}

impl Policy<WireRequest, Reply, BoxError> for Naive {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        _req: &mut WireRequest,
        result: &mut Result<Reply, BoxError>,
    ) -> Option<Self::Future> {
        if !failed(result) || self.tries_left == 0 {
            return None;
        }
        self.tries_left -= 1;
        Some(ready(()))
    }

    fn clone_request(&mut self, req: &WireRequest) -> Option<WireRequest> {
        Some(req.clone())
    }
}

/// What a tower user writes, after the `tower::retry::budget` docs: a
/// shared `TpsBudget` (deposit on success, withdraw per retry), up to 3
/// attempts, exponential backoff (50 ms doubling to at most 1 s, tower's
/// default jitter). It does not read `Retry-After`.
#[derive(Clone)]
struct TowerPolicy {
    budget: Arc<TpsBudget>,
    maker: ExponentialBackoffMaker<HasherRng>,
    backoff: Option<ExponentialBackoff<HasherRng>>,
    tries_left: u32,
}

impl TowerPolicy {
    fn new() -> Self {
        let maker = ExponentialBackoffMaker::new(
            Duration::from_millis(50),
            Duration::from_secs(1),
            0.99,
            HasherRng::default(),
        )
        .expect("valid backoff");
        Self {
            budget: Arc::new(TpsBudget::default()),
            maker,
            backoff: None,
            tries_left: 2,
        }
    }
}

impl Policy<WireRequest, Reply, BoxError> for TowerPolicy {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _req: &mut WireRequest,
        result: &mut Result<Reply, BoxError>,
    ) -> Option<Self::Future> {
        if !failed(result) {
            self.budget.deposit();
            return None;
        }
        if self.tries_left == 0 || !self.budget.withdraw() {
            return None;
        }
        self.tries_left -= 1;
        let maker = &mut self.maker;
        Some(
            self.backoff
                .get_or_insert_with(|| maker.make_backoff())
                .next_backoff(),
        )
    }

    fn clone_request(&mut self, req: &WireRequest) -> Option<WireRequest> {
        Some(req.clone())
    }
}
