//! reqwest (feature `reqwest`): [`HttpClassify`] for `reqwest::Response`
//! and `reqwest::Error`, and [`HttpReplay`] for `reqwest::Request`.
//!
//! `reqwest::Client` is a `tower::Service<reqwest::Request>`, so the
//! recommended stack wraps it directly:
//!
//! ```no_run
//! use failsoft::stack::StackLayer;
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), failsoft::BoxError> {
//! let client = reqwest::Client::new();
//! let svc = StackLayer::builder().http().build()?.layer(client.clone());
//! let req = client.get("http://127.0.0.1:8080/schedule").build()?;
//! let res = svc.oneshot(req).await?;
//! # let _ = res;
//! # Ok(())
//! # }
//! ```
//!
//! Errors: connect errors (the request never left, so even a POST is
//! retried) and timeouts are retryable; an error carrying a status (from
//! `error_for_status`) is classified by it; builder and redirect errors are
//! fatal; other transport errors (a reset, a cut body) are retryable for
//! idempotent requests only. Replay goes through
//! [`reqwest::Request::try_clone`]: a streaming body is sent once.

use http::Extensions;

use crate::BoxError;
use crate::classify::{Classify, FailureKind, Verdict, classify_error};
use crate::http::{HttpClassify, HttpReplay};
use crate::retry::Replay;

impl Classify<reqwest::Request, reqwest::Response> for HttpClassify {
    fn classify(
        &self,
        req: &reqwest::Request,
        result: &Result<reqwest::Response, BoxError>,
    ) -> Verdict {
        let ext = Extensions::new();
        let parts = (req.method(), req.headers(), &ext);
        match result {
            Ok(res) => self.allow(parts, self.head(res.status(), res.headers()), false),
            Err(err) => {
                let connect = err
                    .downcast_ref::<reqwest::Error>()
                    .is_some_and(reqwest::Error::is_connect);
                let never_left = connect || crate::http::never_sent(err.as_ref());
                self.allow(parts, self.error(err), never_left)
            }
        }
    }
}

impl Classify<(), reqwest::Response> for HttpClassify {
    fn classify(&self, _req: &(), result: &Result<reqwest::Response, BoxError>) -> Verdict {
        match result {
            Ok(res) => self.head(res.status(), res.headers()),
            Err(err) => self.error(err),
        }
    }
}

impl HttpClassify {
    /// The verdict on an error, knowing reqwest's.
    fn error(&self, err: &BoxError) -> Verdict {
        let Some(e) = err.downcast_ref::<reqwest::Error>() else {
            return classify_error(err);
        };
        if e.is_timeout() {
            Verdict::retryable(FailureKind::Timeout)
        } else if e.is_connect() {
            Verdict::retryable(FailureKind::Error)
        } else if let Some(status) = e.status() {
            self.head(status, &http::HeaderMap::new())
        } else if e.is_builder() || e.is_redirect() {
            Verdict::fatal()
        } else {
            Verdict::retryable(FailureKind::Error)
        }
    }
}

impl Replay<reqwest::Request> for HttpReplay {
    fn replay(&self, req: &reqwest::Request) -> Option<reqwest::Request> {
        req.try_clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Outcome;

    fn req(method: reqwest::Method) -> reqwest::Request {
        reqwest::Request::new(method, "http://127.0.0.1/".parse().unwrap())
    }

    fn res(status: u16, retry_after: Option<&str>) -> Result<reqwest::Response, BoxError> {
        let mut b = http::Response::builder().status(status);
        if let Some(v) = retry_after {
            b = b.header("retry-after", v);
        }
        Ok(reqwest::Response::from(b.body("").unwrap()))
    }

    #[test]
    fn statuses_hints_and_idempotency_as_for_http() {
        let c = HttpClassify::new();
        let get = req(reqwest::Method::GET);
        let v = c.classify(&get, &res(429, Some("2")));
        assert_eq!(v.outcome, Outcome::Retryable(FailureKind::Throttled));
        assert!(v.hint.is_some());
        assert_eq!(c.classify(&get, &res(404, None)), Verdict::fatal());
        assert_eq!(c.classify(&get, &res(204, None)), Verdict::success());
        let post = req(reqwest::Method::POST);
        assert_eq!(c.classify(&post, &res(502, None)), Verdict::fatal());
        assert_eq!(
            c.classify(&(), &res(502, None)),
            Verdict::retryable(FailureKind::Error)
        );
    }

    #[test]
    fn builder_errors_are_fatal() {
        let err = reqwest::Client::new().get("not a url").build().unwrap_err();
        let err: Result<reqwest::Response, BoxError> = Err(Box::new(err));
        assert_eq!(HttpClassify::new().classify(&(), &err), Verdict::fatal());
    }

    #[test]
    fn replay_clones_buffered_bodies() {
        let mut r = req(reqwest::Method::PUT);
        *r.body_mut() = Some(reqwest::Body::from("abc"));
        let copy = HttpReplay.replay(&r).unwrap();
        assert_eq!(copy.method(), reqwest::Method::PUT);
        assert_eq!(
            copy.body().and_then(reqwest::Body::as_bytes),
            Some(&b"abc"[..])
        );
    }
}
