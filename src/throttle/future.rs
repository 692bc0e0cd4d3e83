//! [`ResponseFuture`]: the throttle's response future.

use std::future::Future;
use std::pin::Pin;

use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::Rejection;
use super::handle::ThrottleHandle;
use super::settle::{Sent, Slow};
use crate::BoxError;
use crate::classify::Classify;
use crate::stripes::Stripe;

pin_project! {
    /// The response future of a [`Throttle`](super::Throttle): either a local
    /// rejection, ready at once, or the inner call, whose result is classified
    /// and counted as an accept or not when it completes.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes counts the request without
    /// an accept: it was sent, and an unfinished request is not an accept.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::throttle::ThrottleLayer;
    /// use tower::{Service, ServiceExt};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), failsoft::BoxError> {
    /// let layer = ThrottleLayer::builder().seed(1).build()?;
    /// let mut svc = tower::ServiceBuilder::new()
    ///     .layer(layer)
    ///     .service_fn(|x: u8| async move { Ok::<_, failsoft::BoxError>(x) });
    /// let fut = svc.ready().await?.call(5); // a ResponseFuture
    /// assert_eq!(fut.await?, 5);
    /// # Ok(())
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct ResponseFuture<F, C> {
        #[pin]
        kind: Kind<F, C>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<F, C> {
        Rejected { rejection: Option<Rejection> },
        Called {
            #[pin]
            fut: F,
            classify: C,
            sent: Sent<Stripe<ThrottleHandle>>,
            slow: Slow,
        },
    }
}

// === impl ResponseFuture ===

impl<F, C> ResponseFuture<F, C> {
    pub(super) fn rejected(rejection: Rejection) -> Self {
        Self {
            kind: Kind::Rejected {
                rejection: Some(rejection),
            },
        }
    }

    #[inline]
    pub(super) fn called(
        fut: F,
        classify: C,
        handle: Stripe<ThrottleHandle>,
        slow_call: Option<Duration>,
    ) -> Self {
        Self {
            kind: Kind::Called {
                fut,
                classify,
                sent: Sent::new(handle),
                slow: Slow::new(slow_call),
            },
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<(), T>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Rejected { rejection } => {
                // Polled again after it resolved: the same shed again.
                let rejection = rejection
                    .take()
                    .unwrap_or(Rejection::Shed(Default::default()));
                Poll::Ready(Err(rejection.into_error()))
            }
            KindProj::Called {
                fut,
                classify,
                sent,
                slow,
            } => {
                let result = match fut.poll(cx) {
                    Poll::Ready(result) => result.map_err(Into::into),
                    Poll::Pending => {
                        slow.waiting();
                        return Poll::Pending;
                    }
                };
                let verdict = classify.classify(&(), &result);
                sent.settle(verdict, &result, *slow);
                Poll::Ready(result)
            }
        }
    }
}
