//! [`GrpcClassify`]: `grpc-status` and pushback, after gRFC A6.

use http::Response;
use http::StatusCode;

use crate::BoxError;
use crate::classify::{Classify, FailureKind, Outcome, Verdict, classify_error};
use crate::error::ConfigError;
use crate::http::{HttpClassify, server_hint};

const UNKNOWN: u8 = 2;
const RESOURCE_EXHAUSTED: u8 = 8;
const UNAVAILABLE: u8 = 14;
const MAX_CODE: u8 = 16;

/// Classifies gRPC responses by `grpc-status`; see the [module docs](super).
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::HeaderValue;

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
}
