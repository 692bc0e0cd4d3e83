//! [`AttemptTimeout`]: a per-attempt timeout that sits inside the breaker.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::time::{Sleep, sleep};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::BoxError;
use crate::error::TimedOut;

/// Fails an attempt with [`TimedOut`] (not by deadline) when the inner call
/// takes longer than `timeout`, counted from the first poll that finds it
/// pending (a call that completes at once never starts a timer).
///
/// In the recommended stack it sits *inside* the breaker and the throttle,
/// so they see a timeout as the backend's failure. (A timeout applied
/// outside them would drop their futures, and a dropped call counts as
/// nothing.)
///
/// # Panics
///
/// Polling a pending call needs a Tokio runtime with time enabled, like
/// `tokio::time::sleep`.
///
/// # Examples
///
/// ```
/// use failsoft::error::TimedOut;
/// use failsoft::stack::AttemptTimeout;
/// use std::time::Duration;
/// use tower::{service_fn, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let slow = service_fn(|_: ()| async {
///     tokio::time::sleep(Duration::from_secs(5)).await;
///     Ok::<_, std::io::Error>(())
/// });
/// let err = AttemptTimeout::new(slow, Duration::from_secs(1)).oneshot(()).await.unwrap_err();
/// assert!(!err.downcast_ref::<TimedOut>().unwrap().by_deadline());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AttemptTimeout<S> {
    inner: S,
    timeout: Duration,
}

/// Wraps services in an [`AttemptTimeout`].
///
/// # Examples
///
/// ```
/// use failsoft::stack::AttemptTimeoutLayer;
/// use std::time::Duration;
/// let layer = AttemptTimeoutLayer::new(Duration::from_secs(2));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AttemptTimeoutLayer {
    timeout: Duration,
}

pin_project! {
    /// The future of [`AttemptTimeout`].
    ///
    /// # Cancel safety
    ///
    /// Holds no shared state; dropping it drops the inner call.
    #[derive(Debug)]
    pub struct TimeoutFuture<F> {
        #[pin]
        fut: F,
        // Started on the first poll that finds the call pending, so a call
        // that completes at once never touches the clock or the timer.
        #[pin]
        sleep: Option<Sleep>,
        after: Duration,
    }
}

// === impl AttemptTimeout ===

impl<S> AttemptTimeout<S> {
    /// Wraps `inner` with a `timeout` per call.
    pub const fn new(inner: S, timeout: Duration) -> Self {
        Self { inner, timeout }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, Req> Service<Req> for AttemptTimeout<S>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        TimeoutFuture {
            fut: self.inner.call(req),
            sleep: None,
            after: self.timeout,
        }
    }
}

// === impl AttemptTimeoutLayer ===

impl AttemptTimeoutLayer {
    /// A layer timing each call out after `timeout`.
    pub const fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for AttemptTimeoutLayer {
    type Service = AttemptTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AttemptTimeout::new(inner, self.timeout)
    }
}

// === impl TimeoutFuture ===

impl<F, T, E> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(res) = this.fut.poll(cx) {
            return Poll::Ready(res.map_err(Into::into));
        }
        if this.sleep.is_none() {
            this.sleep.set(Some(sleep(*this.after)));
        }
        match this.sleep.as_pin_mut().map(|s| s.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Err(Box::new(TimedOut::new(*this.after, false)))),
            _ => Poll::Pending,
        }
    }
}
