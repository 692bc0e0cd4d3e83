//! [`StackService`]: the service a [`StackLayer`](super::StackLayer) makes.

use std::fmt;
use std::task::{Context, Poll};

use tower::Service;

use super::{AttemptTimeout, Gate};
use crate::BoxError;
use crate::budget::RatioBudget;
use crate::classify::DefaultClassify;
use crate::fallback::future::ResponseFuture;
use crate::fallback::{Answer, Fallback, ReadStopInfo, ReasonSource};
use crate::retry::{CloneRequest, Retry};

/// The stack's retry layer over its gate, attempt timeout and transport:
/// what [`StackService::get_ref`] gives.
///
/// # Examples
///
/// ```
/// use failsoft::stack::{Retried, StackLayer};
/// use tower::Layer;
///
/// let client = StackLayer::builder().build()?.layer(5u8);
/// let retry: &Retried<u8> = client.get_ref();
/// assert_eq!(retry.counters().snapshot().requests, 0);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
pub type Retried<S, C = DefaultClassify, R = CloneRequest> =
    Retry<Gate<AttemptTimeout<S>, C>, C, RatioBudget, R>;

/// The service a [`StackLayer`](super::StackLayer) makes around `S`,
/// answering with `F`, classifying results with `C` and replaying requests
/// with `R`: a [`Fallback`] (reading the retry layer's stop reason) around
/// [`Retried`], the retry layer over the [`Gate`], the
/// [`AttemptTimeout`] and `S`.
///
/// It behaves exactly as that `Fallback` would, with one saving: when the
/// gate has already rejected the call in `poll_ready` (the breaker is
/// open, the throttle sheds it, or the server's pacing rejects it and the
/// request may not wait for the pace to end), `call` settles the request
/// with the retry layer's accounts as its future would (one request, its
/// budget deposit, a give-up by
/// [`StopReason::LocalRejection`](crate::retry::StopReason::LocalRejection))
/// and hands the rejection straight to the fallback. No retry future is
/// made, so the fast fail takes no reference count on the retry layer's
/// state and copies no request.
///
/// # Sharing
///
/// Clones share the stack's budget, counters, throttle and breaker, and
/// allocate nothing.
///
/// # Examples
///
/// ```
/// use failsoft::stack::StackLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), failsoft::BoxError> {
/// let stack = StackLayer::builder().seed(1).fallback(|_, _| Ok(0)).build()?;
/// let client = stack.layer(service_fn(|x: u8| async move { Ok::<_, failsoft::BoxError>(x) }));
/// assert_eq!(client.clone().oneshot(7).await?, 7);
/// stack.breaker().force_open();
/// // Rejected by the gate: the fallback answers, and the retry layer
/// // counts the request as a local rejection.
/// assert_eq!(client.oneshot(7).await?, 0);
/// let counts = stack.counters().snapshot();
/// assert_eq!((counts.requests, counts.local_rejections()), (2, 1));
/// # Ok(())
/// # }
/// ```
pub struct StackService<S, F, C = DefaultClassify, R = CloneRequest> {
    inner: Fallback<Retried<S, C, R>, F, ReadStopInfo>,
}

// === impl StackService ===

impl<S, F, C, R> StackService<S, F, C, R> {
    pub(super) fn new(inner: Fallback<Retried<S, C, R>, F, ReadStopInfo>) -> Self {
        Self { inner }
    }

    /// The retry layer inside the fallback.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::stack::StackLayer;
    /// use tower::Layer;
    ///
    /// let client = StackLayer::builder().build()?.layer(5u8);
    /// // Retry, gate, attempt timeout, the service.
    /// assert_eq!(*client.get_ref().get_ref().get_ref().get_ref(), 5);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn get_ref(&self) -> &Retried<S, C, R> {
        self.inner.get_ref()
    }

    /// The retry layer inside the fallback, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::stack::StackLayer;
    /// use tower::Layer;
    ///
    /// let mut client = StackLayer::builder().build()?.layer(5u8);
    /// let _retry = client.get_mut();
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn get_mut(&mut self) -> &mut Retried<S, C, R> {
        self.inner.get_mut()
    }

    /// The fallback this service is, around the retry layer.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::stack::StackLayer;
    /// use tower::Layer;
    ///
    /// let client = StackLayer::builder().build()?.layer(5u8);
    /// let fallback = client.into_inner();
    /// assert_eq!(*fallback.get_ref().get_ref().get_ref().get_ref(), 5);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn into_inner(self) -> Fallback<Retried<S, C, R>, F, ReadStopInfo> {
        self.inner
    }
}

impl<S: Clone, F: Clone, C: Clone, R: Clone> Clone for StackService<S, F, C, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<S: fmt::Debug, F, C, R> fmt::Debug for StackService<S, F, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StackService").field(&self.inner).finish()
    }
}

impl<S, F, C, R, Req> Service<Req> for StackService<S, F, C, R>
where
    Retried<S, C, R>: Service<Req, Error = BoxError>,
    F: Answer<<Retried<S, C, R> as Service<Req>>::Response> + Clone,
    ReadStopInfo: ReasonSource<<Retried<S, C, R> as Service<Req>>::Future>,
{
    type Response = <Retried<S, C, R> as Service<Req>>::Response;
    type Error = BoxError;
    type Future = ResponseFuture<<Retried<S, C, R> as Service<Req>>::Future, F, ReadStopInfo>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        match self.inner.get_mut().take_local_rejection() {
            Some(rejection) => self.inner.rejected(rejection),
            None => self.inner.call(req),
        }
    }
}
