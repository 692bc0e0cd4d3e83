//! gRPC (feature `grpc`): [`GrpcClassify`] reads `grpc-status` and
//! `grpc-retry-pushback-ms`, and [`GrpcTimeout`] tells the server how long
//! each attempt may take (`grpc-timeout`).
//!
//! Rules, after gRFC A6 ("Client Retries"):
//!
//! - `UNAVAILABLE` (14) is retryable ([`FailureKind::Error`]): the server
//!   did not process the call;
//! - `RESOURCE_EXHAUSTED` (8) is overload ([`FailureKind::Throttled`]),
//!   paced by the server's pushback;
//! - `DEADLINE_EXCEEDED` (4) is fatal: every attempt is sent the time left
//!   in the overall deadline ([`GrpcTimeout`]), so a server that ran out of
//!   it leaves nothing to retry with (A6: the deadline spans all attempts);
//! - every other non-OK code, or a `grpc-status` that cannot be read
//!   (taken as `UNKNOWN`), is fatal;
//! - a `grpc-retry-pushback-ms` that is negative or cannot be read means
//!   "do not retry" ([`Hint::DoNotRetry`](crate::classify::Hint::DoNotRetry));
//! - a response whose HTTP status is not 200 is classified by
//!   [`HttpClassify`]'s status rules (429, 502, 503, 504 map to
//!   `UNAVAILABLE` in gRPC's own table, and are retryable there too).
//!
//! A classifier sees only the response head: the codes it reads are those
//! of *trailers-only* responses (the server failed before any message,
//! which is how `UNAVAILABLE` and `RESOURCE_EXHAUSTED` usually arrive). A
//! status sent in trailers after messages is the caller's to read.
//!
//! gRPC methods all use POST; A6 retries by status code, not by method, so
//! `GrpcClassify` has no idempotency rule.
//!
//! # Examples
//!
//! ```
//! use failsoft::classify::{Classify, FailureKind, Hint, Outcome};
//! use failsoft::grpc::GrpcClassify;
//! use std::time::Duration;
//!
//! let busy = http::Response::builder()
//!     .header("grpc-status", "8")
//!     .header("grpc-retry-pushback-ms", "250")
//!     .body(())
//!     .unwrap();
//! let v = GrpcClassify::new().classify(&(), &Ok(busy));
//! assert_eq!(v.outcome, Outcome::Retryable(FailureKind::Throttled));
//! assert_eq!(v.hint, Some(Hint::RetryAfter(Duration::from_millis(250))));
//! ```

use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service};

use crate::BoxError;
use crate::classify::{Classify, FailureKind, Outcome, Verdict, classify_error};
use crate::error::ConfigError;
use crate::http::{HttpClassify, server_hint};
use crate::time::Instant;

const UNKNOWN: u8 = 2;
const RESOURCE_EXHAUSTED: u8 = 8;
const UNAVAILABLE: u8 = 14;
const MAX_CODE: u8 = 16;

/// Classifies gRPC responses by `grpc-status`; see the [module docs](self).
///
/// # Examples
///
/// ```
/// use failsoft::classify::{FailureKind, Outcome};
/// use failsoft::grpc::GrpcClassify;
///
/// let c = GrpcClassify::new();
/// assert_eq!(c.code(14), Outcome::Retryable(FailureKind::Error));
/// assert_eq!(c.code(4), Outcome::Fatal);
/// assert_eq!(c.code(0), Outcome::Success);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcClassify {
    retryable: u32,
    throttled: u32,
    timeout: u32,
    http: HttpClassify,
}

/// Builds a [`GrpcClassify`].
///
/// # Examples
///
/// ```
/// use failsoft::classify::{FailureKind, Outcome};
/// use failsoft::grpc::GrpcClassify;
///
/// // Retry a server's DEADLINE_EXCEEDED too, as a timeout.
/// let c = GrpcClassify::builder().retry(4, FailureKind::Timeout).build()?;
/// assert_eq!(c.code(4), Outcome::Retryable(FailureKind::Timeout));
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct GrpcClassifyBuilder {
    classify: GrpcClassify,
    invalid: bool,
}

/// The instant a logical gRPC call must be done by, carried in the
/// request's extensions (replays copy them) for [`GrpcTimeout`] to read.
///
/// # Examples
///
/// ```
/// use failsoft::grpc::Deadline;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let mut req = http::Request::post("http://127.0.0.1/svc/Method").body(()).unwrap();
/// req.extensions_mut().insert(Deadline::after(Duration::from_secs(2)));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

/// Sets `grpc-timeout` on each attempt: the smaller of the attempt limit
/// and the time left before the request's [`Deadline`], if any.
///
/// Place it inside the retry layer (on the transport), so every attempt
/// gets its own value.
///
/// # Examples
///
/// ```
/// use failsoft::grpc::GrpcTimeoutLayer;
/// use std::time::Duration;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), failsoft::BoxError> {
/// let echo = service_fn(|req: http::Request<()>| async move {
///     Ok::<_, failsoft::BoxError>(req.headers()["grpc-timeout"].clone())
/// });
/// let svc = GrpcTimeoutLayer::new(Some(Duration::from_millis(1500))).layer(echo);
/// let sent = svc.oneshot(http::Request::new(())).await?;
/// assert_eq!(sent, "1500000u");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct GrpcTimeout<S> {
    inner: S,
    attempt: Option<Duration>,
}

/// Makes [`GrpcTimeout`] services.
#[derive(Debug, Clone, Copy)]
pub struct GrpcTimeoutLayer {
    attempt: Option<Duration>,
}

// === impl GrpcClassify ===

impl GrpcClassify {
    /// `UNAVAILABLE` retryable, `RESOURCE_EXHAUSTED` overload, the rest fatal.
    pub const fn new() -> Self {
        GrpcClassify {
            retryable: 1 << UNAVAILABLE | 1 << RESOURCE_EXHAUSTED,
            throttled: 1 << RESOURCE_EXHAUSTED,
            timeout: 0,
            http: HttpClassify::new(),
        }
    }

    /// A builder starting from [`GrpcClassify::new`].
    pub const fn builder() -> GrpcClassifyBuilder {
        GrpcClassifyBuilder {
            classify: Self::new(),
            invalid: false,
        }
    }

    /// The outcome of a `grpc-status` code (0 to 16; others are `UNKNOWN`).
    pub const fn code(&self, code: u8) -> Outcome {
        let code = if code > MAX_CODE { UNKNOWN } else { code };
        let bit = 1_u32 << code;
        if code == 0 {
            Outcome::Success
        } else if self.retryable & bit == 0 {
            Outcome::Fatal
        } else if self.throttled & bit != 0 {
            Outcome::Retryable(FailureKind::Throttled)
        } else if self.timeout & bit != 0 {
            Outcome::Retryable(FailureKind::Timeout)
        } else {
            Outcome::Retryable(FailureKind::Error)
        }
    }

    /// The verdict on a response head.
    pub fn response<B>(&self, res: &Response<B>) -> Verdict {
        if res.status() != StatusCode::OK {
            return self.http.response(res);
        }
        let Some(status) = res.headers().get("grpc-status") else {
            return Verdict::success();
        };
        let code = status
            .to_str()
            .ok()
            .filter(|s| (1..=2).contains(&s.len()))
            .and_then(|s| s.parse::<u8>().ok())
            .unwrap_or(UNKNOWN);
        let verdict = Verdict {
            outcome: self.code(code),
            hint: None,
        };
        match (verdict.outcome, server_hint(res.headers())) {
            (Outcome::Retryable(_), Some(hint)) => verdict.with_hint(hint),
            _ => verdict,
        }
    }
}

impl Default for GrpcClassify {
    fn default() -> Self {
        Self::new()
    }
}

impl<Req, Res> Classify<Req, Response<Res>> for GrpcClassify {
    fn classify(&self, _req: &Req, result: &Result<Response<Res>, BoxError>) -> Verdict {
        match result {
            Ok(res) => self.response(res),
            Err(err) => classify_error(err),
        }
    }
}

// === impl GrpcClassifyBuilder ===

impl GrpcClassifyBuilder {
    /// Makes `code` (1 to 16) retryable as `kind`.
    pub const fn retry(mut self, code: u8, kind: FailureKind) -> Self {
        if code == 0 || code > MAX_CODE {
            self.invalid = true;
            return self;
        }
        let bit = 1 << code;
        self = self.fatal(code);
        self.classify.retryable |= bit;
        match kind {
            FailureKind::Throttled => self.classify.throttled |= bit,
            FailureKind::Timeout => self.classify.timeout |= bit,
            FailureKind::Error => {}
        }
        self
    }

    /// Makes `code` (1 to 16) fatal.
    pub const fn fatal(mut self, code: u8) -> Self {
        if code == 0 || code > MAX_CODE {
            self.invalid = true;
            return self;
        }
        self.classify.retryable &= !(1 << code);
        self.classify.throttled &= !(1 << code);
        self.classify.timeout &= !(1 << code);
        self
    }

    /// The rules for responses whose HTTP status is not 200.
    pub const fn http(mut self, http: HttpClassify) -> Self {
        self.classify.http = http;
        self
    }

    /// Builds the classifier.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] on field `grpc.code` when a code given to
    /// [`retry`](Self::retry) or [`fatal`](Self::fatal) is not 1 to 16.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::grpc::GrpcClassify;
    /// assert_eq!(GrpcClassify::builder().fatal(0).build().unwrap_err().field(), "grpc.code");
    /// ```
    pub const fn build(self) -> Result<GrpcClassify, ConfigError> {
        if self.invalid {
            return Err(ConfigError::new(
                "grpc.code",
                "must be a non-OK gRPC code, 1 to 16",
            ));
        }
        Ok(self.classify)
    }
}

// === impl Deadline ===

impl Deadline {
    /// `timeout` from now (saturating far in the future).
    pub fn after(timeout: Duration) -> Self {
        Deadline(crate::time::after(timeout))
    }

    /// Time left, zero once passed.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(crate::time::now())
    }
}

// === impl GrpcTimeout ===

impl<S> GrpcTimeout<S> {
    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl GrpcTimeoutLayer {
    /// Each attempt's limit, if any, besides the request's [`Deadline`].
    pub const fn new(attempt: Option<Duration>) -> Self {
        Self { attempt }
    }
}

impl<S> Layer<S> for GrpcTimeoutLayer {
    type Service = GrpcTimeout<S>;

    fn layer(&self, inner: S) -> GrpcTimeout<S> {
        GrpcTimeout {
            inner,
            attempt: self.attempt,
        }
    }
}

impl<S, B> Service<Request<B>> for GrpcTimeout<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        let left = req.extensions().get::<Deadline>().map(Deadline::remaining);
        let limit = match (self.attempt, left) {
            (Some(a), Some(l)) => Some(a.min(l)),
            (a, l) => a.or(l),
        };
        if let Some(limit) = limit {
            req.headers_mut()
                .insert("grpc-timeout", encode_timeout(limit));
        }
        self.inner.call(req)
    }
}

/// `grpc-timeout`'s TimeoutValue: at most 8 digits and a unit, in the
/// finest unit that fits, rounded down (never promise more time than left).
fn encode_timeout(limit: Duration) -> HeaderValue {
    const UNITS: [(u128, &str); 6] = [
        (1, "n"),
        (1_000, "u"),
        (1_000_000, "m"),
        (1_000_000_000, "S"),
        (60_000_000_000, "M"),
        (3_600_000_000_000, "H"),
    ];
    let nanos = limit.as_nanos();
    for (per, unit) in UNITS {
        let value = nanos / per;
        if value <= 99_999_999 {
            return HeaderValue::from_str(&format!("{value}{unit}"))
                .unwrap_or(HeaderValue::from_static("99999999H"));
        }
    }
    HeaderValue::from_static("99999999H")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Hint;

    fn res(status: u16, headers: &[(&str, &[u8])]) -> Result<Response<()>, BoxError> {
        let mut b = Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, HeaderValue::from_bytes(v).unwrap());
        }
        Ok(b.body(()).unwrap())
    }

    #[test]
    fn status_codes_follow_grfc_a6() {
        let c = GrpcClassify::new();
        let v = |h: &[(&str, &[u8])]| c.classify(&(), &res(200, h));
        assert_eq!(v(&[]), Verdict::success());
        assert_eq!(v(&[("grpc-status", b"0")]), Verdict::success());
        assert_eq!(
            v(&[("grpc-status", b"14")]),
            Verdict::retryable(FailureKind::Error)
        );
        assert_eq!(v(&[("grpc-status", b"4")]), Verdict::fatal());
        for garbage in [&b"x"[..], b"", b"140", b"-1", b"99", b"\xff"] {
            assert_eq!(
                v(&[("grpc-status", garbage)]),
                Verdict::fatal(),
                "{garbage:?}"
            );
        }
        let busy = v(&[("grpc-status", b"8"), ("grpc-retry-pushback-ms", b"30")]);
        assert_eq!(busy.outcome, Outcome::Retryable(FailureKind::Throttled));
        assert_eq!(busy.hint, Some(Hint::RetryAfter(Duration::from_millis(30))));
        let refused = v(&[("grpc-status", b"14"), ("grpc-retry-pushback-ms", b"-5")]);
        assert_eq!(refused.hint, Some(Hint::DoNotRetry));
        let unreadable = v(&[("grpc-status", b"14"), ("grpc-retry-pushback-ms", b"soon")]);
        assert_eq!(unreadable.hint, Some(Hint::DoNotRetry));
        assert_eq!(
            c.classify(&(), &res(503, &[])),
            Verdict::retryable(FailureKind::Throttled)
        );
    }

    #[test]
    fn builder_checks_codes() {
        assert!(
            GrpcClassify::builder()
                .retry(17, FailureKind::Error)
                .build()
                .is_err()
        );
        let c = GrpcClassify::builder()
            .fatal(14)
            .retry(8, FailureKind::Error)
            .build()
            .unwrap();
        assert_eq!(c.code(14), Outcome::Fatal);
        assert_eq!(c.code(8), Outcome::Retryable(FailureKind::Error));
    }

    #[test]
    fn timeouts_fit_in_eight_digits() {
        let enc = |d| encode_timeout(d).to_str().unwrap().to_string();
        assert_eq!(enc(Duration::ZERO), "0n");
        assert_eq!(enc(Duration::from_nanos(99_999_999)), "99999999n");
        assert_eq!(enc(Duration::from_millis(100)), "100000u");
        assert_eq!(enc(Duration::from_secs(1000)), "1000000m");
        assert_eq!(enc(Duration::from_secs(200_000)), "200000S");
        assert_eq!(enc(Duration::MAX), "99999999H");
    }

    #[tokio::test(start_paused = true)]
    async fn each_attempt_gets_the_time_left() {
        use tower::ServiceExt;
        let echo = tower::service_fn(|req: Request<()>| async move {
            Ok::<_, BoxError>(req.headers().get("grpc-timeout").cloned())
        });
        let svc = GrpcTimeoutLayer::new(Some(Duration::from_secs(2))).layer(echo);
        let mut req = Request::new(());
        req.extensions_mut()
            .insert(Deadline::after(Duration::from_secs(5)));
        tokio::time::advance(Duration::from_secs(4)).await;
        let sent = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(sent.unwrap(), "1000000u");
        let none = GrpcTimeoutLayer::new(None).layer(svc.into_inner());
        assert_eq!(none.oneshot(Request::new(())).await.unwrap(), None);
    }
}
