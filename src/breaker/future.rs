//! [`ResponseFuture`] of the breaker services.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::handle::{Breaker, Permit};
use super::settle;
use crate::BoxError;
use crate::classify::Classify;
use crate::error::CircuitOpen;
use crate::stripes::Stripe;

pin_project! {
    /// The future of [`CircuitBreaker`](super::CircuitBreaker) and
    /// [`KeyedCircuitBreaker`](super::KeyedCircuitBreaker).
    ///
    /// It either resolves at once to a [`CircuitOpen`] error (the call was
    /// rejected and never sent), or drives the inner call and records its
    /// outcome when it ends.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes records nothing (a cancelled
    /// call is neither a success nor a failure) and hands a half-open probe
    /// slot back, so the breaker never sticks in half-open.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::breaker::{Breaker, BreakerConfig, CircuitBreaker};
    /// use failsoft::error::CircuitOpen;
    /// use tower::{service_fn, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), failsoft::BoxError> {
    /// let breaker = Breaker::new(&BreakerConfig::builder().build()?);
    /// breaker.force_open();
    /// let svc = CircuitBreaker::new(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }), breaker);
    /// let err = svc.oneshot(1).await.unwrap_err();
    /// assert!(err.downcast_ref::<CircuitOpen>().is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub struct ResponseFuture<F, C> {
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
            record: Option<(Handle, Permit)>,
            classify: C,
        },
        Rejected {
            error: Option<CircuitOpen>,
        },
    }
}

/// The breaker a call reports to: a service clone's own `Arc` (so clones on
/// different threads do not bump one shared count), or a keyed breaker.
pub(crate) enum Handle {
    Clone(Stripe<Breaker>),
    Keyed(Breaker),
}

impl std::ops::Deref for Handle {
    type Target = Breaker;

    fn deref(&self) -> &Breaker {
        match self {
            Handle::Clone(b) => b,
            Handle::Keyed(b) => b,
        }
    }
}

// === impl ResponseFuture ===

impl<F, C> ResponseFuture<F, C> {
    #[inline]
    pub(crate) fn called(fut: F, breaker: Handle, permit: Permit, classify: C) -> Self {
        Self {
            kind: Kind::Called {
                fut,
                record: Some((breaker, permit)),
                classify,
            },
        }
    }

    pub(crate) fn rejected(error: CircuitOpen) -> Self {
        Self {
            kind: Kind::Rejected { error: Some(error) },
        }
    }

    /// The rejection, when the breaker refused this call without sending it.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::breaker::{Breaker, BreakerConfig, CircuitBreaker};
    /// use tower::{service_fn, Service};
    /// # use std::task::{Context, Poll};
    /// # use futures::task::noop_waker_ref;
    ///
    /// # fn main() -> Result<(), failsoft::ConfigError> {
    /// let breaker = Breaker::new(&BreakerConfig::builder().build()?);
    /// breaker.force_open();
    /// let mut svc = CircuitBreaker::new(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }), breaker);
    /// let mut cx = Context::from_waker(noop_waker_ref());
    /// assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    /// assert!(svc.call(1).rejection().is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub fn rejection(&self) -> Option<&CircuitOpen> {
        match &self.kind {
            Kind::Rejected { error } => error.as_ref(),
            Kind::Called { .. } => None,
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
            KindProj::Called {
                fut,
                record,
                classify,
            } => {
                let result = match fut.poll(cx) {
                    Poll::Ready(result) => result.map_err(Into::into),
                    Poll::Pending => {
                        // The call waits: a slow call is timed from here.
                        if let Some((breaker, permit)) = record {
                            breaker.start_waiting(permit);
                        }
                        return Poll::Pending;
                    }
                };
                if let Some((breaker, permit)) = record.take() {
                    settle(&breaker, permit, &result, || {
                        classify.classify(&(), &result)
                    });
                }
                Poll::Ready(result)
            }
            KindProj::Rejected { error } => {
                let error = error.take().unwrap_or_default();
                Poll::Ready(Err(Box::new(error)))
            }
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Called { .. } => "called",
            Kind::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}
