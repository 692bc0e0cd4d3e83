//! [`GrpcClassify`]: `grpc-status` and pushback, after gRFC A6, on top of
//! [`GrpcCodes`].

use http::Response;
use http::StatusCode;

use crate::BoxError;
use crate::classify::{Classify, GrpcCodes, Outcome, Verdict, classify_error};
use crate::http::{HttpClassify, pushback_text};

const UNKNOWN: u8 = 2;
const MAX_CODE: u8 = 16;

/// Classifies gRPC responses by `grpc-status`; see the [module docs](super).
///
/// The verdict on a code and its pushback is [`GrpcCodes::verdict`]'s; this
/// type reads them from a response head and hands a response whose HTTP
/// status is not 200 to [`HttpClassify`].
///
/// # Examples
///
/// ```
/// use failsoft::classify::{FailureKind, Outcome};
/// use failsoft::grpc::GrpcClassify;
///
/// let c = GrpcClassify::new();
/// assert_eq!(c.code(14), Outcome::Retryable(FailureKind::Error));
/// assert_eq!(c.code(8), Outcome::Retryable(FailureKind::Throttled));
/// assert_eq!(c.code(4), Outcome::Fatal);
/// assert_eq!(c.code(0), Outcome::Success);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcClassify {
    codes: GrpcCodes,
    http: HttpClassify,
}

// === impl GrpcClassify ===

impl GrpcClassify {
    /// The default retryable codes: `UNAVAILABLE` and `RESOURCE_EXHAUSTED`
    /// (overload); every other code fatal.
    pub const DEFAULT_CODES: GrpcCodes = GrpcCodes::new()
        .with(GrpcCodes::UNAVAILABLE)
        .with(GrpcCodes::RESOURCE_EXHAUSTED);

    /// [`DEFAULT_CODES`](Self::DEFAULT_CODES) retryable, the rest fatal,
    /// and [`HttpClassify::new`] for responses that are not HTTP 200.
    pub const fn new() -> Self {
        GrpcClassify {
            codes: Self::DEFAULT_CODES,
            http: HttpClassify::new(),
        }
    }

    /// The same classifier retrying `codes` (a service config's
    /// `retryableStatusCodes`) instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::classify::{FailureKind, GrpcCodes, Outcome};
    /// use failsoft::grpc::GrpcClassify;
    ///
    /// // Retry a server's DEADLINE_EXCEEDED too, as a timeout.
    /// let codes = GrpcClassify::DEFAULT_CODES.with(GrpcCodes::DEADLINE_EXCEEDED);
    /// let c = GrpcClassify::new().codes(codes);
    /// assert_eq!(c.code(4), Outcome::Retryable(FailureKind::Timeout));
    /// ```
    pub const fn codes(mut self, codes: GrpcCodes) -> Self {
        self.codes = codes;
        self
    }

    /// The same classifier with `http` for responses whose HTTP status is
    /// not 200.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::grpc::GrpcClassify;
    /// use failsoft::http::HttpClassify;
    /// let c = GrpcClassify::new().http(HttpClassify::new());
    /// # let _ = c;
    /// ```
    pub const fn http(mut self, http: HttpClassify) -> Self {
        self.http = http;
        self
    }

    /// The outcome of a `grpc-status` code without pushback (codes above 16
    /// are `UNKNOWN`).
    pub fn code(&self, code: u8) -> Outcome {
        let code = if code > MAX_CODE { UNKNOWN } else { code };
        self.codes.verdict(code.into(), None).outcome
    }

    /// The verdict on a response head.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::classify::Verdict;
    /// use failsoft::grpc::GrpcClassify;
    ///
    /// let res = http::Response::builder().header("grpc-status", "5").body(()).unwrap();
    /// assert_eq!(GrpcClassify::new().response(&res), Verdict::fatal()); // NOT_FOUND
    /// ```
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
            .filter(|code| *code <= MAX_CODE)
            .unwrap_or(UNKNOWN);
        self.codes
            .verdict(code.into(), pushback_text(res.headers()))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::HeaderValue;

    use super::*;
    use crate::classify::{FailureKind, Hint};

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
        assert_eq!(busy.hint, Some(Hint::Pushback(Duration::from_millis(30))));
        let refused = v(&[("grpc-status", b"14"), ("grpc-retry-pushback-ms", b"-5")]);
        assert_eq!(refused.hint, Some(Hint::DoNotRetry));
        let unreadable = v(&[("grpc-status", b"14"), ("grpc-retry-pushback-ms", b"soon")]);
        assert_eq!(unreadable.hint, Some(Hint::DoNotRetry));
        let not_ascii = v(&[("grpc-status", b"14"), ("grpc-retry-pushback-ms", b"\xff")]);
        assert_eq!(not_ascii.hint, Some(Hint::DoNotRetry));
        // A6: a fatal code with "do not retry" pushback still counts as a
        // failure (retryable, stopped at once by the hint).
        let counted = v(&[("grpc-status", b"3"), ("grpc-retry-pushback-ms", b"-1")]);
        assert!(matches!(counted.outcome, Outcome::Retryable(_)));
        assert_eq!(counted.hint, Some(Hint::DoNotRetry));
        assert_eq!(
            c.classify(&(), &res(503, &[])),
            Verdict::retryable(FailureKind::Throttled)
        );
    }

    #[test]
    fn codes_replace_the_default_set() {
        let c = GrpcClassify::new().codes(GrpcCodes::new().with(GrpcCodes::ABORTED));
        assert_eq!(c.code(14), Outcome::Fatal);
        assert_eq!(c.code(10), Outcome::Retryable(FailureKind::Error));
        let unknown = GrpcClassify::new().codes(GrpcCodes::new().with(2));
        assert_eq!(unknown.code(99), Outcome::Retryable(FailureKind::Error));
    }
}
