//! [`ResponseFuture`] of [`Fallback`](super::Fallback).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::answer::Answer;
use super::reason::{FallbackReason, ReasonSource};
use crate::BoxError;

pin_project! {
    /// The future of [`Fallback`](super::Fallback): the inner result, or
    /// the fallback closure's answer for a chosen failure.
    ///
    /// # Cancel safety
    ///
    /// Holds no shared state of its own: dropping it drops the inner future
    /// (whose own guarantees apply) and never calls the closure.
    ///
    /// # Examples
    ///
    /// See [`Fallback`](super::Fallback).
    pub struct ResponseFuture<Fut, F, R> {
        #[pin]
        inner: Inner<Fut>,
        fallback: Option<F>,
        on_failures: bool,
        _source: PhantomData<fn() -> R>,
    }
}

pin_project! {
    #[project = InnerProj]
    enum Inner<Fut> {
        Called { #[pin] fut: Fut },
        // Rejected locally before a call was made (the recommended stack's
        // gate, known in `poll_ready`): no inner future at all.
        Rejected { error: Option<BoxError> },
    }
}

// === impl ResponseFuture ===

impl<Fut, F, R> ResponseFuture<Fut, F, R> {
    pub(crate) fn new(fut: Fut, fallback: F, on_failures: bool) -> Self {
        Self {
            inner: Inner::Called { fut },
            fallback: Some(fallback),
            on_failures,
            _source: PhantomData,
        }
    }

    /// A request that was rejected locally instead of being called: the
    /// fallback answers it (or the error passes through) at the first
    /// poll.
    pub(crate) fn rejected(error: BoxError, fallback: F, on_failures: bool) -> Self {
        Self {
            inner: Inner::Rejected { error: Some(error) },
            fallback: Some(fallback),
            on_failures,
            _source: PhantomData,
        }
    }
}

impl<Fut, F, R, T, E> Future for ResponseFuture<Fut, F, R>
where
    Fut: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    F: Answer<T>,
    R: ReasonSource<Fut>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (err, read) = match this.inner.project() {
            InnerProj::Called { mut fut } => match ready!(fut.as_mut().poll(cx)) {
                Ok(res) => return Poll::Ready(Ok(res)),
                Err(e) => (e.into(), R::read(&fut)),
            },
            InnerProj::Rejected { error } => (
                error
                    .take()
                    .expect("ResponseFuture polled after completion"),
                None,
            ),
        };
        let reason = read.unwrap_or_else(|| FallbackReason::from_error(&err));
        let wanted = reason.is_local_rejection() || *this.on_failures;
        match this.fallback.take() {
            Some(fallback) if wanted => {
                tracing::debug!(target: "failsoft::fallback", reason = reason.as_str(), "falling back");
                Poll::Ready(fallback.answer(reason, err))
            }
            _ => Poll::Ready(Err(err)),
        }
    }
}

impl<Fut, F, R> fmt::Debug for ResponseFuture<Fut, F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("on_failures", &self.on_failures)
            .finish_non_exhaustive()
    }
}
