//! [`FallbackLayer`].

use std::fmt;
use std::marker::PhantomData;

use tower::Layer;

use super::Fallback;
use super::reason::{ErrorsOnly, ReadStopInfo};

/// Wraps services in a [`Fallback`].
///
/// # Sharing
///
/// Each wrapped service gets a clone of the closure.
///
/// # Examples
///
/// ```
/// use failsoft::fallback::{FallbackLayer, FallbackReason};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), failsoft::BoxError> {
/// let layer = FallbackLayer::new(|_reason: FallbackReason, _err| Ok("offline mode"))
///     .on_failures(true);
/// let svc = layer.layer(service_fn(|_: ()| async { Err::<&str, _>(failsoft::BoxError::from("down")) }));
/// assert_eq!(svc.oneshot(()).await?, "offline mode");
/// # Ok(())
/// # }
/// ```
pub struct FallbackLayer<F, R = ErrorsOnly> {
    fallback: F,
    on_failures: bool,
    _source: PhantomData<fn() -> R>,
}

// === impl FallbackLayer ===

impl<F> FallbackLayer<F> {
    /// A layer whose `fallback` answers local rejections.
    pub fn new(fallback: F) -> Self {
        Self {
            fallback,
            on_failures: false,
            _source: PhantomData,
        }
    }
}

impl<F, R> FallbackLayer<F, R> {
    /// Also answer every other final failure.
    pub fn on_failures(mut self, yes: bool) -> Self {
        self.on_failures = yes;
        self
    }

    /// Ask the inner future why it stopped before looking at the error
    /// (see [`StopInfo`](super::StopInfo)).
    pub fn reading_stop_reason(self) -> FallbackLayer<F, ReadStopInfo> {
        FallbackLayer {
            fallback: self.fallback,
            on_failures: self.on_failures,
            _source: PhantomData,
        }
    }
}

impl<F: Clone, R> Clone for FallbackLayer<F, R> {
    fn clone(&self) -> Self {
        Self {
            fallback: self.fallback.clone(),
            on_failures: self.on_failures,
            _source: PhantomData,
        }
    }
}

impl<F, R> fmt::Debug for FallbackLayer<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackLayer")
            .field("on_failures", &self.on_failures)
            .finish_non_exhaustive()
    }
}

impl<S, F: Clone, R> Layer<S> for FallbackLayer<F, R> {
    type Service = Fallback<S, F, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Fallback::from_parts(inner, self.fallback.clone(), self.on_failures)
    }
}
