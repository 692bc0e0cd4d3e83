//! [`Gate`]: the stack's throttle and breaker as one service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::Service;

use crate::BoxError;
use crate::breaker::{Admit, Breaker};
use crate::classify::{Classify, DefaultClassify};
use crate::stripes::{ReadStripes, Stripe};
use crate::throttle::Rejection;
use crate::throttle::ThrottleHandle;

mod future;

pub use self::future::GateFuture;

/// The recommended stack's throttle and circuit breaker, as one service.
///
/// It does exactly what a [`Throttle`](crate::throttle::Throttle) around a
/// [`CircuitBreaker`](crate::breaker::CircuitBreaker) does, in the same
/// order: the throttle admits or sheds the attempt first, then the breaker
/// admits it or fails fast; an attempt both admit is sent and counts for
/// the throttle as a request; when it ends, the breaker records its
/// outcome, then the throttle counts it as an accept or not. A rejection
/// by either gate counts for neither (see the [stack docs](super)). The one
/// difference is cost: each call takes one reference to the two shared
/// handles instead of one each, which saves two atomic operations per
/// call on the stack's hot path.
///
/// A `Gate` is made by [`StackLayer`](super::StackLayer); the throttle and
/// breaker it uses are the layer's [`throttle`](super::StackLayer::throttle)
/// and [`breaker`](super::StackLayer::breaker). To use the two layers
/// without the rest of the stack, stack a
/// [`ThrottleLayer`](crate::throttle::ThrottleLayer) over a
/// [`CircuitBreakerLayer`](crate::breaker::CircuitBreakerLayer).
///
/// # Sharing
///
/// Clones share the throttle and the breaker, and allocate nothing; each
/// clone decides its own readiness.
///
/// # Examples
///
/// ```
/// use failsoft::stack::StackLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), failsoft::BoxError> {
/// let stack = StackLayer::builder().seed(1).build()?;
/// let client = stack.layer(service_fn(|x: u8| async move { Ok::<_, failsoft::BoxError>(x) }));
/// // The gate sits inside the retry layer, under the fallback.
/// let _gate: &failsoft::stack::Gate<_> = client.get_ref().get_ref();
/// assert_eq!(client.oneshot(7).await?, 7);
/// assert_eq!(stack.throttle().snapshot().accepts, 1);
/// # Ok(())
/// # }
/// ```
pub struct Gate<S, C = DefaultClassify> {
    inner: S,
    // One `Arc` around the shared handles per thread stripe, shared by
    // every clone: a clone allocates nothing, and futures on different
    // threads do not bump one shared reference count. `poll_ready` reads
    // the copy kept next to the stripes' addresses.
    guards: ReadStripes<Guards>,
    classify: C,
    slow_call: Option<Duration>,
    // The throttle's decision for the next `call`, then the breaker's.
    throttled: Option<Result<(), Rejection>>,
    admit: Admit,
}

/// What a gate's futures report to: the two shared handles, behind one
/// reference count per stripe.
pub(crate) struct Guards {
    pub(crate) throttle: ThrottleHandle,
    pub(crate) breaker: Breaker,
}

impl crate::throttle::Owner for Stripe<Guards> {
    #[inline]
    fn throttle(&self) -> &ThrottleHandle {
        &self.throttle
    }
}

// === impl Gate ===

impl<S, C> Gate<S, C> {
    pub(crate) fn new(
        inner: S,
        (throttle, classify, slow_call): (ThrottleHandle, C, Option<Duration>),
        breaker: Breaker,
    ) -> Self {
        Self {
            inner,
            guards: ReadStripes::new(|| Guards {
                throttle: throttle.clone(),
                breaker: breaker.clone(),
            }),
            classify,
            slow_call,
            throttled: None,
            admit: Admit::default(),
        }
    }

    /// The inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::stack::StackLayer;
    /// use tower::Layer;
    ///
    /// let client = StackLayer::builder().build()?.layer(5u8);
    /// // The stack gives its retry layer, then the gate, the attempt
    /// // timeout, the service.
    /// assert_eq!(*client.get_ref().get_ref().get_ref().get_ref(), 5);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone, C: Clone> Clone for Gate<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            guards: self.guards.clone(),
            classify: self.classify.clone(),
            slow_call: self.slow_call,
            // One instance's admission must not leak into another.
            throttled: None,
            admit: Admit::default(),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for Gate<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("inner", &self.inner)
            .field("breaker", &self.guards.read().breaker)
            .field("slow_call", &self.slow_call)
            .finish_non_exhaustive()
    }
}

impl<S, C, Req> Service<Req> for Gate<S, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<(), S::Response> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = GateFuture<S::Future, C>;

    #[inline(always)]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let guards = self.guards.read();
        // A shedding throttle reads the clock; the breaker judges by the
        // same instant rather than reading it again.
        let mut read = None;
        let throttled = self
            .throttled
            .get_or_insert_with(|| guards.throttle.admit_noting(&mut read));
        let now = || read.unwrap_or_else(crate::time::now);
        // Either rejection fails fast in `call`: never wait for it.
        if throttled.is_err() || !self.admit.decide_with(&guards.breaker, now) {
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.not_ready(e.into()))),
            other => other.map_err(Into::into),
        }
    }

    #[inline(always)]
    fn call(&mut self, req: Req) -> Self::Future {
        let admitted = match self
            .throttled
            .take()
            .expect("poll_ready must be called first")
        {
            Ok(()) => self.admit.take(),
            Err(throttled) => return GateFuture::rejected(throttled.into_error()),
        };
        match admitted {
            Ok(permit) => {
                // Before the inner future is written (see `Retry::call`).
                let guards = Arc::clone(self.guards.get());
                GateFuture::called(
                    self.inner.call(req),
                    guards,
                    permit,
                    self.classify.clone(),
                    self.slow_call,
                )
            }
            Err(open) => GateFuture::open(open),
        }
    }
}

impl<S, C> crate::retry::Rejects for Gate<S, C> {
    /// The rejection `poll_ready` decided for the next `call`, taken as
    /// `call` would take it; `None` for an admitted call, and for a pace
    /// the retry layer may hold the request through
    /// ([`Paced::holds`](crate::error::Paced::holds)).
    #[inline]
    fn take_rejection(&mut self) -> Option<BoxError> {
        match self.throttled {
            Some(Ok(())) => {
                let open = self.admit.take_rejection()?;
                self.throttled = None;
                Some(Box::new(open))
            }
            Some(Err(Rejection::Paced(paced))) if paced.holds() => None,
            Some(Err(_)) => self.throttled.take()?.err().map(Rejection::into_error),
            None => None,
        }
    }
}

impl<S, C> Gate<S, C> {
    /// The inner service failed to get ready: the breaker's permit goes
    /// back; the throttle keeps its admission (it counts nothing until the
    /// request is sent).
    #[cold]
    fn not_ready(&mut self, e: BoxError) -> BoxError {
        self.admit.clear();
        e
    }
}

#[cfg(test)]
mod tests;
