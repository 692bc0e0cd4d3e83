//! [`GateLayer`]: builds [`Gate`]s from a throttle and a breaker.

use std::fmt;
use std::time::Duration;

use tower::Layer;

use super::Gate;
use crate::breaker::Breaker;
use crate::classify::DefaultClassify;
use crate::throttle::{ThrottleHandle, ThrottleLayer};

/// Wraps a service in a [`Gate`]: a throttle and a circuit breaker as one
/// service, in the order the recommended stack runs them.
///
/// [`StackLayer`](super::StackLayer) makes its gate itself; this layer is
/// for stacks of your own that want the gate's accounting (a rejection by
/// either gate counts for neither) and its lower cost than a
/// [`Throttle`](crate::throttle::Throttle) around a
/// [`CircuitBreaker`](crate::breaker::CircuitBreaker).
///
/// One saving stays with the recommended stack: its
/// [`StackService`](super::StackService) answers a call the gate rejected
/// without making the retry layer's future. A stack of your own with a
/// [`RetryLayer`](crate::retry::RetryLayer) over this gate behaves the
/// same, but each rejected call still makes that future (the request is
/// copied for a retry that will never be sent, and the retry layer's
/// shared state is referenced and released).
///
/// # Sharing
///
/// Every gate the layer makes shares the throttle's state (its window and
/// pacing), its classifier and slow-call threshold, and the breaker.
///
/// # Examples
///
/// ```
/// use failsoft::breaker::{Breaker, BreakerConfig};
/// use failsoft::stack::GateLayer;
/// use failsoft::throttle::ThrottleLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), failsoft::BoxError> {
/// let throttle = ThrottleLayer::builder().seed(1).build()?;
/// let breaker = Breaker::new(&BreakerConfig::builder().seed(1).build()?);
/// let gate = GateLayer::new(&throttle, breaker.clone());
/// let svc = gate.layer(service_fn(|x: u8| async move { Ok::<_, failsoft::BoxError>(x) }));
/// assert_eq!(svc.oneshot(3).await?, 3);
/// assert_eq!(throttle.handle().snapshot().accepts, 1);
/// assert_eq!(breaker.state(), failsoft::breaker::State::Closed);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct GateLayer<C = DefaultClassify> {
    throttle: ThrottleHandle,
    classify: C,
    slow_call: Option<Duration>,
    breaker: Breaker,
}

// === impl GateLayer ===

impl<C: Clone> GateLayer<C> {
    /// Gates with `throttle`'s shared state, classifier and slow-call
    /// threshold, and `breaker` (shared: clone a [`Breaker`] to share it
    /// with other services).
    pub fn new(throttle: &ThrottleLayer<C>, breaker: Breaker) -> Self {
        let (throttle, classify, slow_call) = throttle.parts();
        Self {
            throttle,
            classify,
            slow_call,
            breaker,
        }
    }
}

impl<S, C: Clone> Layer<S> for GateLayer<C> {
    type Service = Gate<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Gate::new(
            inner,
            (self.throttle.clone(), self.classify.clone(), self.slow_call),
            self.breaker.clone(),
        )
    }
}

impl<C> fmt::Debug for GateLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateLayer")
            .field("throttle", &self.throttle)
            .field("slow_call", &self.slow_call)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}
