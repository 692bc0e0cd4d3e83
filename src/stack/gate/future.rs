//! [`GateFuture`]: one attempt through the gate.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::Guards;
use crate::BoxError;
use crate::breaker::{self, Permit};
use crate::classify::Classify;
use crate::error::CircuitOpen;
use crate::stripes::Stripe;
use crate::throttle::{Sent, Slow};

pin_project! {
    /// The response future of a [`Gate`](super::Gate): a local rejection
    /// (throttled, or circuit open), ready at once; or the attempt, whose
    /// outcome the breaker, then the throttle, record when it completes.
    ///
    /// # Cancel safety
    ///
    /// Dropping it before completion gives a half-open breaker's probe slot
    /// back and records nothing for the breaker; the throttle counts the
    /// sent request without an accept.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::stack::StackLayer;
    /// use tower::{Layer, Service, ServiceExt, service_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), failsoft::BoxError> {
    /// let stack = StackLayer::builder().seed(1).build()?;
    /// let mut client = stack.layer(service_fn(|x: u8| async move { Ok::<_, failsoft::BoxError>(x) }));
    /// let ready = client.ready().await?;
    /// let attempt = ready.call(3); // Its inner future is a `GateFuture`.
    /// assert_eq!(attempt.await?, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub struct GateFuture<F, C> {
        #[pin]
        kind: Kind<F, C>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, C> {
        Called {
            #[pin]
            fut: F,
            sent: Sent<Stripe<Guards>>,
            permit: Option<Permit>,
            classify: C,
            slow: Slow,
        },
        Rejected {
            error: Option<BoxError>,
        },
        // Never sent: counts for neither gate.
        Open {
            error: Option<CircuitOpen>,
        },
    }
}

// === impl GateFuture ===

impl<F, C> GateFuture<F, C> {
    #[inline]
    pub(super) fn called(
        fut: F,
        guards: Stripe<Guards>,
        permit: Permit,
        classify: C,
        slow_call: Option<Duration>,
    ) -> Self {
        Self {
            kind: Kind::Called {
                fut,
                sent: Sent::new(guards),
                permit: Some(permit),
                classify,
                slow: Slow::new(slow_call),
            },
        }
    }

    pub(super) fn rejected(error: BoxError) -> Self {
        Self {
            kind: Kind::Rejected { error: Some(error) },
        }
    }

    pub(super) fn open(error: CircuitOpen) -> Self {
        Self {
            kind: Kind::Open { error: Some(error) },
        }
    }
}

impl<F, C, T, E> Future for GateFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    C: Classify<(), T>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called {
                fut,
                sent,
                permit,
                classify,
                slow,
            } => {
                let result = match fut.poll(cx) {
                    Poll::Ready(result) => result.map_err(Into::into),
                    Poll::Pending => {
                        // The attempt waits: slow calls are timed from here.
                        if let Some(permit) = permit {
                            sent.owner().breaker.start_waiting(permit);
                        }
                        slow.waiting();
                        return Poll::Pending;
                    }
                };
                let verdict = classify.classify(&(), &result);
                if let Some(permit) = permit.take() {
                    breaker::settle(&sent.owner().breaker, permit, &result, || verdict);
                }
                sent.settle(verdict, &result, *slow);
                Poll::Ready(result)
            }
            KindProj::Rejected { error } => Poll::Ready(Err(error
                .take()
                .expect("GateFuture polled after completion"))),
            KindProj::Open { error } => {
                let error = error.take().expect("GateFuture polled after completion");
                Poll::Ready(Err(Box::new(error)))
            }
        }
    }
}

impl<F, C> fmt::Debug for GateFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Called { .. } => "called",
            Kind::Rejected { .. } | Kind::Open { .. } => "rejected",
        };
        f.debug_struct("GateFuture").field("kind", &kind).finish()
    }
}
