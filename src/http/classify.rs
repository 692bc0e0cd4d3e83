//! [`HttpClassify`]: status codes, hints and idempotency in one classifier.

use http::{Extensions, HeaderMap, Method, Request, Response, StatusCode};

use super::headers::server_hint;
use super::idempotency::{Idempotency, never_sent};
use crate::BoxError;
use crate::classify::{Classify, FailureKind, Outcome, Verdict, classify_error};
use crate::error::ConfigError;

/// Classifies HTTP responses by status code and transport errors by kind,
/// and retries only requests that are safe to send twice.
///
/// Defaults:
///
/// | status | outcome |
/// | --- | --- |
/// | 1xx, 2xx, 3xx | success |
/// | 429, 503 | retryable, [`FailureKind::Throttled`] (overload: the server is up but busy) |
/// | 408, 500, 502, 504 | retryable, [`FailureKind::Error`] |
/// | other 4xx and 5xx | fatal |
///
/// A failed response's `Retry-After` or `grpc-retry-pushback-ms` becomes
/// the verdict's hint ([`server_hint`](super::server_hint)). Errors are
/// classified by [`classify_error`]: failsoft's own local rejections are
/// fatal, its timeouts [`FailureKind::Timeout`], transport errors
/// [`FailureKind::Error`].
///
/// With the request in hand (`Classify<Request<B>, _>`, as in the retry
/// layer) a retryable failure of a request that [`Idempotency`] does not
/// allow is made fatal, unless the error shows the request never left
/// ([`never_sent`]). Without the request (`Classify<(), _>`, as in the
/// throttle and the breaker) the verdict is the response's alone, so a
/// POST's 503 still counts as the backend refusing.
///
/// `Copy`, 72 bytes: the gate copies its classifier into every call.
///
/// # Examples
///
/// ```
/// use failsoft::classify::{Classify, Outcome};
/// use failsoft::http::HttpClassify;
///
/// let post = http::Request::post("http://127.0.0.1/order").body(()).unwrap();
/// let busy = http::Response::builder().status(503).body(()).unwrap();
/// // The POST is not retried...
/// assert_eq!(HttpClassify::new().classify(&post, &Ok(busy)).outcome, Outcome::Fatal);
/// // ...but the 503 is still the backend failing.
/// let busy = http::Response::builder().status(503).body(()).unwrap();
/// assert!(HttpClassify::new().classify(&(), &Ok(busy)).outcome.is_failure());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpClassify {
    /// Bit `code - 400` set: the status is retryable.
    retryable: [u64; 4],
    /// Bit `code - 400` set: the retryable status means overload.
    throttled: [u64; 4],
    idempotency: Idempotency,
}

/// Builds an [`HttpClassify`]; [`build`](HttpClassifyBuilder::build) checks
/// the status codes.
///
/// # Examples
///
/// ```
/// use failsoft::classify::{Classify, FailureKind, Outcome};
/// use failsoft::http::{HttpClassify, Idempotency};
///
/// let classify = HttpClassify::builder()
///     .retry(520, FailureKind::Error) // a CDN's "unknown error"
///     .fatal(502)
///     .idempotency(Idempotency::AnyMethod)
///     .build()?;
/// let res = http::Response::builder().status(520).body(()).unwrap();
/// assert_eq!(classify.classify(&(), &Ok(res)).outcome, Outcome::Retryable(FailureKind::Error));
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HttpClassifyBuilder {
    classify: HttpClassify,
    invalid: bool,
}

const DEFAULT: HttpClassify = HttpClassify {
    retryable: [0; 4],
    throttled: [0; 4],
    idempotency: Idempotency::Methods,
}
.with(408, Some(FailureKind::Error))
.with(429, Some(FailureKind::Throttled))
.with(500, Some(FailureKind::Error))
.with(502, Some(FailureKind::Error))
.with(503, Some(FailureKind::Throttled))
.with(504, Some(FailureKind::Error));

// === impl HttpClassify ===

impl HttpClassify {
    /// The default classifier (see the table above).
    pub const fn new() -> Self {
        DEFAULT
    }

    /// A builder starting from the defaults.
    pub const fn builder() -> HttpClassifyBuilder {
        HttpClassifyBuilder {
            classify: DEFAULT,
            invalid: false,
        }
    }

    /// The outcome of a response with this status, request aside.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::classify::{FailureKind, Outcome};
    /// use failsoft::http::HttpClassify;
    /// use http::StatusCode;
    ///
    /// let c = HttpClassify::new();
    /// assert_eq!(c.status(StatusCode::NOT_MODIFIED), Outcome::Success);
    /// assert_eq!(c.status(StatusCode::TOO_MANY_REQUESTS), Outcome::Retryable(FailureKind::Throttled));
    /// assert_eq!(c.status(StatusCode::NOT_FOUND), Outcome::Fatal);
    /// ```
    pub const fn status(&self, status: StatusCode) -> Outcome {
        let code = status.as_u16();
        if code < 400 {
            return Outcome::Success;
        }
        let Some((word, bit)) = slot(code) else {
            return Outcome::Fatal;
        };
        if self.retryable[word] & bit == 0 {
            Outcome::Fatal
        } else if self.throttled[word] & bit == 0 {
            Outcome::Retryable(FailureKind::Error)
        } else {
            Outcome::Retryable(FailureKind::Throttled)
        }
    }

    /// The verdict on a response: its status, and its hint if it failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::classify::Hint;
    /// use failsoft::http::HttpClassify;
    ///
    /// let res = http::Response::builder().status(502).header("retry-after", "x").body(()).unwrap();
    /// assert_eq!(HttpClassify::new().response(&res).hint, Some(Hint::Malformed));
    /// ```
    pub fn response<B>(&self, res: &Response<B>) -> Verdict {
        self.head(res.status(), res.headers())
    }

    /// The verdict on a response head: `status`, and the hint in
    /// `headers` if the status is a retryable failure.
    pub(crate) fn head(&self, status: StatusCode, headers: &HeaderMap) -> Verdict {
        let outcome = self.status(status);
        let verdict = Verdict {
            outcome,
            hint: None,
        };
        match (outcome, server_hint(headers)) {
            (Outcome::Retryable(_), Some(hint)) => verdict.with_hint(hint),
            _ => verdict,
        }
    }

    /// The request-aware verdict: `verdict` made fatal when it is a
    /// retryable failure of a request (`method`, `headers`, `ext`) that the
    /// idempotency rule does not allow, unless it `never_left`.
    pub(crate) fn allow(
        &self,
        (method, headers, ext): (&Method, &HeaderMap, &Extensions),
        verdict: Verdict,
        never_left: bool,
    ) -> Verdict {
        match verdict.outcome {
            Outcome::Retryable(_)
                if !never_left && !self.idempotency.allows(method, headers, ext) =>
            {
                Verdict::fatal()
            }
            _ => verdict,
        }
    }

    const fn with(mut self, code: u16, kind: Option<FailureKind>) -> Self {
        let Some((word, bit)) = slot(code) else {
            return self;
        };
        self.retryable[word] &= !bit;
        self.throttled[word] &= !bit;
        match kind {
            None => {}
            Some(FailureKind::Throttled) => {
                self.retryable[word] |= bit;
                self.throttled[word] |= bit;
            }
            Some(_) => self.retryable[word] |= bit,
        }
        self
    }
}

impl Default for HttpClassify {
    fn default() -> Self {
        Self::new()
    }
}

/// The word and bit of a 4xx/5xx code in the tables.
const fn slot(code: u16) -> Option<(usize, u64)> {
    if code < 400 || code > 599 {
        return None;
    }
    let i = (code - 400) as usize;
    Some((i / 64, 1 << (i % 64)))
}

impl<B, Res> Classify<Request<B>, Response<Res>> for HttpClassify {
    fn classify(&self, req: &Request<B>, result: &Result<Response<Res>, BoxError>) -> Verdict {
        let parts = (req.method(), req.headers(), req.extensions());
        match result {
            Ok(res) => self.allow(parts, self.response(res), false),
            Err(err) => self.allow(parts, classify_error(err), never_sent(err.as_ref())),
        }
    }
}

impl<Res> Classify<(), Response<Res>> for HttpClassify {
    fn classify(&self, _req: &(), result: &Result<Response<Res>, BoxError>) -> Verdict {
        match result {
            Ok(res) => self.response(res),
            Err(err) => classify_error(err),
        }
    }
}

// === impl HttpClassifyBuilder ===

impl HttpClassifyBuilder {
    /// Makes `status` (a 4xx or 5xx code) retryable as `kind`.
    /// [`FailureKind::Throttled`] marks overload: the breaker and throttle
    /// see it as a failure, and its hint paces the retry.
    pub const fn retry(mut self, status: u16, kind: FailureKind) -> Self {
        self.invalid |= slot(status).is_none();
        self.classify = self.classify.with(status, Some(kind));
        self
    }

    /// Makes `status` (a 4xx or 5xx code) a fatal failure, never retried.
    pub const fn fatal(mut self, status: u16) -> Self {
        self.invalid |= slot(status).is_none();
        self.classify = self.classify.with(status, None);
        self
    }

    /// Which requests may be retried. Default [`Idempotency::Methods`].
    pub const fn idempotency(mut self, idempotency: Idempotency) -> Self {
        self.classify.idempotency = idempotency;
        self
    }

    /// Checks the status codes and builds the classifier.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] on field `http.status` when a code given to
    /// [`retry`](Self::retry) or [`fatal`](Self::fatal) is outside 400–599.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::classify::FailureKind;
    /// use failsoft::http::HttpClassify;
    /// let err = HttpClassify::builder().retry(200, FailureKind::Error).build().unwrap_err();
    /// assert_eq!(err.field(), "http.status");
    /// ```
    pub const fn build(self) -> Result<HttpClassify, ConfigError> {
        if self.invalid {
            return Err(ConfigError::new(
                "http.status",
                "must be a 4xx or 5xx status code (400 to 599)",
            ));
        }
        Ok(self.classify)
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::time::Duration;

    use super::*;
    use crate::classify::Hint;
    use crate::error::{CircuitOpen, TimedOut};

    fn res(status: u16, headers: &[(&str, &str)]) -> Result<Response<()>, BoxError> {
        let mut b = Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        Ok(b.body(()).unwrap())
    }

    fn req(method: &str) -> Request<()> {
        Request::builder()
            .method(method)
            .uri("http://127.0.0.1/")
            .body(())
            .unwrap()
    }

    #[test]
    fn small_enough_to_copy_per_call() {
        assert_eq!(std::mem::size_of::<HttpClassify>(), 72);
    }

    #[test]
    fn default_status_table() {
        let c = HttpClassify::new();
        let get = req("GET");
        let outcome = |code| c.classify(&get, &res(code, &[])).outcome;
        for code in [100, 200, 204, 301, 304, 399] {
            assert_eq!(outcome(code), Outcome::Success, "{code}");
        }
        for code in [408, 500, 502, 504] {
            assert_eq!(
                outcome(code),
                Outcome::Retryable(FailureKind::Error),
                "{code}"
            );
        }
        for code in [429, 503] {
            assert_eq!(
                outcome(code),
                Outcome::Retryable(FailureKind::Throttled),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 409, 422, 501, 505, 599, 600, 999] {
            assert_eq!(outcome(code), Outcome::Fatal, "{code}");
        }
    }

    #[test]
    fn hints_ride_on_retryable_failures_only() {
        let c = HttpClassify::new();
        let v = c.classify(&(), &res(429, &[("retry-after", "4")]));
        assert_eq!(v.hint, Some(Hint::RetryAfter(Duration::from_secs(4))));
        let v = c.classify(&(), &res(200, &[("retry-after", "4")]));
        assert_eq!(v, Verdict::success());
        let v = c.classify(&(), &res(404, &[("retry-after", "4")]));
        assert_eq!(v, Verdict::fatal());
    }

    #[test]
    fn non_idempotent_requests_are_not_retried_unless_never_sent() {
        let c = HttpClassify::new();
        let post = req("POST");
        assert_eq!(c.classify(&post, &res(503, &[])), Verdict::fatal());
        let reset: Result<Response<()>, BoxError> =
            Err(Box::new(io::Error::from(io::ErrorKind::ConnectionReset)));
        assert_eq!(c.classify(&post, &reset), Verdict::fatal());
        let refused: Result<Response<()>, BoxError> =
            Err(Box::new(io::Error::from(io::ErrorKind::ConnectionRefused)));
        assert_eq!(
            c.classify(&post, &refused),
            Verdict::retryable(FailureKind::Error)
        );
        let mut keyed = req("POST");
        keyed
            .headers_mut()
            .insert("idempotency-key", "k1".parse().unwrap());
        assert_eq!(
            c.classify(&keyed, &res(503, &[])),
            Verdict::retryable(FailureKind::Throttled)
        );
        let any = HttpClassify::builder()
            .idempotency(Idempotency::AnyMethod)
            .build()
            .unwrap();
        assert!(matches!(
            any.classify(&post, &reset).outcome,
            Outcome::Retryable(_)
        ));
    }

    #[test]
    fn errors_follow_the_default_rules() {
        let c = HttpClassify::new();
        let get = req("GET");
        let open: Result<Response<()>, BoxError> = Err(Box::new(CircuitOpen::new()));
        assert_eq!(c.classify(&get, &open), Verdict::fatal());
        let late: Result<Response<()>, BoxError> =
            Err(Box::new(TimedOut::new(Duration::from_secs(1), false)));
        assert_eq!(
            c.classify(&get, &late),
            Verdict::retryable(FailureKind::Timeout)
        );
    }

    #[test]
    fn builder_overrides_and_rejects_bad_codes() {
        let c = HttpClassify::builder()
            .fatal(503)
            .retry(404, FailureKind::Throttled)
            .build()
            .unwrap();
        assert_eq!(c.status(StatusCode::SERVICE_UNAVAILABLE), Outcome::Fatal);
        assert_eq!(
            c.status(StatusCode::NOT_FOUND),
            Outcome::Retryable(FailureKind::Throttled)
        );
        let c = HttpClassify::builder()
            .retry(429, FailureKind::Error)
            .build()
            .unwrap();
        assert_eq!(
            c.status(StatusCode::TOO_MANY_REQUESTS),
            Outcome::Retryable(FailureKind::Error)
        );
        for bad in [0, 200, 399, 600, u16::MAX] {
            let err = HttpClassify::builder().fatal(bad).build().unwrap_err();
            assert_eq!(err.field(), "http.status");
        }
    }
}
