//! [`CircuitBreakerLayer`].

use tower::Layer;

use super::CircuitBreaker;
use super::config::BreakerConfig;
use super::handle::Breaker;
use crate::classify::DefaultClassify;

/// Wraps services in a [`CircuitBreaker`].
///
/// # Sharing
///
/// - [`CircuitBreakerLayer::new`] makes a **fresh breaker on each
///   [`layer`](Layer::layer) call**: use it when each wrapped service is
///   one endpoint (like tower's `ConcurrencyLimitLayer`).
/// - [`CircuitBreakerLayer::with_handle`] makes every wrapped service share
///   **one** breaker (like tower's `GlobalConcurrencyLimitLayer`): keep a
///   clone of the [`Breaker`] to watch or override it.
///
/// Clones of a wrapped service always share that service's breaker.
///
/// # Examples
///
/// ```
/// use failsoft::breaker::{Breaker, BreakerConfig, CircuitBreakerLayer, State};
/// use tower::{service_fn, Layer};
///
/// let cfg = BreakerConfig::builder().build()?;
/// let handle = Breaker::new(&cfg);
/// let layer = CircuitBreakerLayer::with_handle(handle.clone());
/// let a = layer.layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
/// let b = layer.layer(service_fn(|x: u8| async move { Ok::<_, std::io::Error>(x) }));
/// handle.force_open();
/// assert_eq!(a.handle().state(), State::ForcedOpen);
/// assert_eq!(b.handle().state(), State::ForcedOpen);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer<C = DefaultClassify> {
    source: Source,
    classify: C,
}

#[derive(Debug, Clone)]
enum Source {
    Fresh(Box<BreakerConfig>),
    Shared(Breaker),
}

// === impl CircuitBreakerLayer ===

impl CircuitBreakerLayer {
    /// A layer making a fresh breaker from `cfg` for each wrapped service.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{BreakerConfig, CircuitBreakerLayer};
    /// let layer = CircuitBreakerLayer::new(BreakerConfig::builder().build()?);
    /// # let _ = layer;
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn new(cfg: BreakerConfig) -> Self {
        Self {
            source: Source::Fresh(Box::new(cfg)),
            classify: DefaultClassify,
        }
    }

    /// A layer whose services all share `handle`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{Breaker, BreakerConfig, CircuitBreakerLayer};
    /// let handle = Breaker::new(&BreakerConfig::builder().build()?);
    /// let layer = CircuitBreakerLayer::with_handle(handle);
    /// # let _ = layer;
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn with_handle(handle: Breaker) -> Self {
        Self {
            source: Source::Shared(handle),
            classify: DefaultClassify,
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// Classifies results with `classify` (it sees `&()` for the request).
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{BreakerConfig, CircuitBreakerLayer};
    /// # use failsoft::classify::{classify_error, Verdict};
    /// # use failsoft::BoxError;
    /// let layer = CircuitBreakerLayer::new(BreakerConfig::builder().build()?)
    ///     .classify(|_: &(), res: &Result<u16, BoxError>| match res {
    ///         Ok(code) if *code >= 500 => Verdict::retryable(failsoft::classify::FailureKind::Error),
    ///         Ok(_) => Verdict::success(),
    ///         Err(e) => classify_error(e),
    ///     });
    /// # let _ = layer;
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn classify<C2>(self, classify: C2) -> CircuitBreakerLayer<C2> {
        CircuitBreakerLayer {
            source: self.source,
            classify,
        }
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreaker<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        let breaker = match &self.source {
            Source::Fresh(cfg) => Breaker::new(cfg),
            Source::Shared(handle) => handle.clone(),
        };
        CircuitBreaker::with_classify(inner, breaker, self.classify.clone())
    }
}
