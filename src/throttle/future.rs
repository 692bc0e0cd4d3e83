//! [`ResponseFuture`]: the throttle's response future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::handle::ThrottleHandle;
use crate::BoxError;
use crate::classify::{Classify, Outcome};
use crate::error::{Throttled, is_local_rejection};

pin_project! {
    /// The response future of a [`Throttle`](super::Throttle): either a local
    /// rejection, ready at once, or the inner call, whose result is classified
    /// and counted as an accept or not when it completes.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes records nothing more: the
    /// request was already counted when it was admitted, and an unfinished
    /// request is not an accept. A slow call dropped before it completes is
    /// likewise counted only as a request.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::error::Throttled;
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
    /// # let _ = Throttled::new(0.0);
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
        Rejected { error: Option<Throttled> },
        Called {
            #[pin]
            fut: F,
            classify: C,
            handle: Arc<ThrottleHandle>,
            slow: Slow,
        },
    }
}

/// The slow-call clock of one call: started lazily, at the first poll that
/// returns `Pending`, so a call that completes on its first poll never
/// reads the clock.
#[derive(Debug, Clone, Copy)]
enum Slow {
    /// No slow-call threshold, or one that cannot be reached.
    Off,
    /// The threshold, before the call first returned `Pending`.
    Armed(Duration),
    /// From this instant on, a completion is slow.
    Until(Instant),
}

// === impl ResponseFuture ===

impl<F, C> ResponseFuture<F, C> {
    pub(super) fn rejected(error: Throttled) -> Self {
        Self {
            kind: Kind::Rejected { error: Some(error) },
        }
    }

    #[inline]
    pub(super) fn called(
        fut: F,
        classify: C,
        handle: Arc<ThrottleHandle>,
        slow_call: Option<Duration>,
    ) -> Self {
        Self {
            kind: Kind::Called {
                fut,
                classify,
                handle,
                slow: slow_call.map_or(Slow::Off, Slow::Armed),
            },
        }
    }
}

/// The accept rule: a success is an accept; a fatal failure is an accept
/// (the backend answered, say with a well-formed 4xx) unless it is a local
/// rejection by an inner layer; a retryable failure (a fast 503, a timeout)
/// is not. (A slow call is judged apart, in the future.)
pub(crate) fn is_accept<T>(outcome: Outcome, result: &Result<T, BoxError>) -> bool {
    match outcome {
        Outcome::Success => true,
        Outcome::Retryable(_) => false,
        Outcome::Fatal => !matches!(result, Err(e) if is_local_rejection(e.as_ref())),
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
            KindProj::Rejected { error } => {
                let error = error.take().unwrap_or_else(|| Throttled::new(0.0));
                Poll::Ready(Err(Box::new(error)))
            }
            KindProj::Called {
                fut,
                classify,
                handle,
                slow,
            } => {
                let result = match fut.poll(cx) {
                    Poll::Ready(result) => result.map_err(Into::into),
                    Poll::Pending => {
                        if let Slow::Armed(limit) = *slow {
                            *slow = Instant::now()
                                .checked_add(limit)
                                .map_or(Slow::Off, Slow::Until);
                        }
                        return Poll::Pending;
                    }
                };
                let verdict = classify.classify(&(), &result);
                // The clock is read again only for a would-be accept of a
                // call that waited.
                let late = || matches!(*slow, Slow::Until(at) if Instant::now() >= at);
                if is_accept(verdict.outcome, &result) && !late() {
                    handle.accept();
                } else {
                    handle.failed();
                }
                Poll::Ready(result)
            }
        }
    }
}
