//! [`GrpcTimeout`]: `grpc-timeout` on each attempt from the [`Deadline`] left.

use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Request};
use tower::{Layer, Service};

use crate::time::Instant;

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

// === impl Deadline ===

impl Deadline {
    /// `timeout` from now (saturating far in the future).
    pub fn after(timeout: Duration) -> Self {
        Deadline(crate::time::after(timeout))
    }

    /// Time left, zero once passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::grpc::Deadline;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let deadline = Deadline::after(Duration::from_secs(3));
    /// tokio::time::advance(Duration::from_secs(1)).await;
    /// assert_eq!(deadline.remaining(), Duration::from_secs(2));
    /// tokio::time::advance(Duration::from_secs(5)).await;
    /// assert_eq!(deadline.remaining(), Duration::ZERO);
    /// # }
    /// ```
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
    use crate::BoxError;

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
