//! [`ThrottleLayer`] and its builder.

use std::time::Duration;

use tower::Layer;

use super::Throttle;
use super::handle::ThrottleHandle;
use super::pace::Pacer;
use super::window::Window;
use crate::classify::DefaultClassify;
use crate::error::{ConfigError, check_bucketed_window};
use crate::rng::Rng;

/// Applies adaptive client-side throttling ([`Throttle`]) to a service.
///
/// # Sharing
///
/// Every service this layer makes, and their clones, share one
/// [`ThrottleHandle`]: one window, one seeded source of draws, one set of
/// counters.
/// Build one layer per backend you want judged separately.
///
/// # Examples
///
/// ```
/// use failsoft::throttle::ThrottleLayer;
/// use tower::ServiceBuilder;
///
/// let layer = ThrottleLayer::builder().k(2.0).seed(7).build()?;
/// let handle = layer.handle();
/// let svc = ServiceBuilder::new()
///     .layer(layer)
///     .service_fn(|req: u32| async move { Ok::<_, failsoft::BoxError>(req) });
/// # drop(svc);
/// assert_eq!(handle.probability(), 0.0);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ThrottleLayer<C = DefaultClassify> {
    handle: ThrottleHandle,
    classify: C,
    slow_call: Option<Duration>,
}

/// Builds a [`ThrottleLayer`]; setters cannot fail,
/// [`build`](ThrottleBuilder::build) checks everything.
///
/// Defaults (Google SRE book, "Handling Overload"): window 2 minutes in 60
/// buckets of 2 s, `K = 2`, rejection probability capped at 0.9, no
/// rejection below 10 requests in the window, server pacing up to 60 s
/// ([`max_pace`](ThrottleBuilder::max_pace)), no slow-call threshold
/// ([`slow_call`](ThrottleBuilder::slow_call)), the [`DefaultClassify`]
/// classifier, a random seed.
///
/// **Why a minimum of 10 requests**: the formula reads one failed request
/// out of one as a 50 % rejection probability. A device that checks in every
/// few minutes would then lose half its retries to a single transient
/// error. Below `min_requests` the window is not evidence of overload, and
/// the retry budget bounds what such a quiet client can add anyway. Set it
/// to 0 for the formula as the book gives it.
///
/// **Why 0.9**: DESIGN asks that a throttle never lock its client out. At
/// 0.9, one request in ten still reaches a dead backend, so its recovery is
/// seen from the first accepted request; that trickle matches the 10 %
/// retry budget, so a fleet behind both adds at most about 10 % load to a
/// backend that is down. Envoy's adaptive concurrency caps at 0.8 and
/// Finagle at 0.75, for servers with many other clients; lower the cap
/// with [`max_probability`](ThrottleBuilder::max_probability) to probe harder.
///
/// # Examples
///
/// ```
/// use failsoft::throttle::ThrottleLayer;
/// use std::time::Duration;
///
/// let layer = ThrottleLayer::builder()
///     .window(Duration::from_secs(60))
///     .buckets(30)
///     .k(1.5)
///     .max_probability(0.8)
///     .seed(42)
///     .build()?;
/// # drop(layer);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ThrottleBuilder<C = DefaultClassify> {
    window: Duration,
    buckets: u32,
    k: f64,
    max_probability: f64,
    min_requests: u64,
    slow_call: Option<Duration>,
    max_pace: Duration,
    seed: Option<u64>,
    classify: C,
}

// === impl ThrottleLayer ===

impl ThrottleLayer {
    /// A builder starting from the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// let layer = ThrottleLayer::builder().build()?;
    /// # drop(layer);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn builder() -> ThrottleBuilder {
        ThrottleBuilder {
            window: Duration::from_secs(120),
            buckets: 60,
            k: 2.0,
            max_probability: 0.9,
            min_requests: 10,
            slow_call: None,
            max_pace: Duration::from_secs(60),
            seed: None,
            classify: DefaultClassify,
        }
    }
}

impl<C> ThrottleLayer<C> {
    /// The shared state of every service this layer makes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// let layer = ThrottleLayer::builder().build()?;
    /// assert_eq!(layer.handle().snapshot().rejected, 0);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn handle(&self) -> ThrottleHandle {
        self.handle.clone()
    }
}

impl<C: Clone> ThrottleLayer<C> {
    /// The layer's parts, for a service that throttles without a
    /// [`Throttle`] of its own: the handle, the classifier and the
    /// slow-call threshold.
    pub(crate) fn parts(&self) -> (ThrottleHandle, C, Option<Duration>) {
        (self.handle.clone(), self.classify.clone(), self.slow_call)
    }
}

impl<S, C: Clone> Layer<S> for ThrottleLayer<C> {
    type Service = Throttle<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Throttle::new(
            inner,
            self.handle.clone(),
            self.classify.clone(),
            self.slow_call,
        )
    }
}

// === impl ThrottleBuilder ===

impl<C> ThrottleBuilder<C> {
    /// How long requests and accepts are remembered.
    pub const fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// How many buckets the window slides by.
    pub const fn buckets(mut self, buckets: u32) -> Self {
        self.buckets = buckets;
        self
    }

    /// The SRE book's `K`: how many requests per accept are sent before
    /// throttling starts (2 lets through twice what the backend accepts).
    pub const fn k(mut self, k: f64) -> Self {
        self.k = k;
        self
    }

    /// The most the rejection probability may reach, in `[0, 1)`.
    pub const fn max_probability(mut self, p: f64) -> Self {
        self.max_probability = p;
        self
    }

    /// Below this many requests in the window, nothing is rejected.
    /// Default 10; 0 applies the formula from the first request.
    pub const fn min_requests(mut self, n: u64) -> Self {
        self.min_requests = n;
        self
    }

    /// Counts a response that took at least `threshold` as *not* accepted,
    /// whatever its outcome (it still reaches the caller unchanged). Off by
    /// default.
    ///
    /// Timeouts tell the throttle of overload only once a backend's queue
    /// is longer than the client's patience, and by then it is serving
    /// requests whose clients have given up. Queueing delay shows much
    /// earlier: with a threshold below the attempt timeout, the throttle
    /// backs off while the queue is still short enough to be worth
    /// serving. Pick a threshold well above the backend's normal latency
    /// and well below the attempt timeout (the recommended stack uses half
    /// its attempt timeout: 1 s by default).
    ///
    /// Time is measured from the first poll at which the call is not
    /// ready, so a call that completes on its first poll costs no clock
    /// read and counts as fast.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::throttle::ThrottleLayer;
    /// use std::time::Duration;
    /// use tower::{Service, ServiceExt};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), failsoft::BoxError> {
    /// let layer = ThrottleLayer::builder()
    ///     .slow_call(Duration::from_secs(1))
    ///     .build()?;
    /// let handle = layer.handle();
    /// // A backend that answers, but only after 3 s in its queue.
    /// let mut svc = tower::ServiceBuilder::new()
    ///     .layer(layer)
    ///     .service_fn(|x: u8| async move {
    ///         tokio::time::sleep(Duration::from_secs(3)).await;
    ///         Ok::<_, failsoft::BoxError>(x)
    ///     });
    /// assert_eq!(svc.ready().await?.call(5).await?, 5); // the answer arrives
    /// let s = handle.snapshot();
    /// assert_eq!((s.requests, s.accepts), (1, 0)); // but it is no accept
    /// # Ok(())
    /// # }
    /// ```
    pub const fn slow_call(mut self, threshold: Duration) -> Self {
        self.slow_call = Some(threshold);
        self
    }

    /// The longest the server's pacing may hold the client: a longer
    /// `Retry-After` (or pushback) on an overload answer is clamped to it;
    /// zero turns pacing off. Default 60 s, the retry layer's
    /// [`max_hint`](crate::retry::RetryLayerBuilder::max_hint).
    ///
    /// An overload answer (the classifier's
    /// [`FailureKind::Throttled`](crate::classify::FailureKind::Throttled))
    /// that carries a [`Hint::RetryAfter`](crate::classify::Hint::RetryAfter)
    /// paces every request of the client, not only the retry of the one
    /// that got it: see [`ThrottleHandle::pace_at`].
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::throttle::ThrottleLayer;
    /// use std::time::Duration;
    /// let layer = ThrottleLayer::builder().max_pace(Duration::from_secs(5)).build()?;
    /// # drop(layer);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn max_pace(mut self, max: Duration) -> Self {
        self.max_pace = max;
        self
    }

    /// Seeds the random stream, for reproducible rejections.
    pub const fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets what counts as an accept (see [`Throttle`]).
    pub fn classify<C2>(self, classify: C2) -> ThrottleBuilder<C2> {
        ThrottleBuilder {
            window: self.window,
            buckets: self.buckets,
            k: self.k,
            max_probability: self.max_probability,
            min_requests: self.min_requests,
            slow_call: self.slow_call,
            max_pace: self.max_pace,
            seed: self.seed,
            classify,
        }
    }

    /// Checks the configuration and builds the layer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field when:
    /// - `throttle.window` is zero, or shorter than its buckets (less than
    ///   1 ms per bucket);
    /// - `throttle.buckets` is zero or more than 1,000;
    /// - `throttle.k` is NaN, infinite or below 1;
    /// - `throttle.max_probability` is NaN or outside `[0, 1)`;
    /// - `throttle.slow_call` is zero (every call would be slow).
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// let err = ThrottleLayer::builder().k(0.5).build().unwrap_err();
    /// assert_eq!(err.field(), "throttle.k");
    /// ```
    pub fn build(self) -> Result<ThrottleLayer<C>, ConfigError> {
        check_bucketed_window(
            "throttle.window",
            "throttle.buckets",
            self.window,
            self.buckets,
        )?;
        if !(self.k.is_finite() && self.k >= 1.0) {
            return Err(ConfigError::new("throttle.k", "must be finite and >= 1"));
        }
        if !(0.0..1.0).contains(&self.max_probability) {
            return Err(ConfigError::new(
                "throttle.max_probability",
                "must be within [0, 1)",
            ));
        }
        if self.slow_call.is_some_and(|t| t.is_zero()) {
            return Err(ConfigError::new(
                "throttle.slow_call",
                "must be above zero (every call would be slow)",
            ));
        }
        let window = Window::new(
            self.window,
            self.buckets,
            self.k,
            self.max_probability,
            self.min_requests,
            crate::time::now(),
        );
        let rng = self.seed.map_or_else(Rng::from_os, Rng::from_seed);
        Ok(ThrottleLayer {
            handle: ThrottleHandle::new(window, rng, Pacer::new(self.max_pace)),
            classify: self.classify,
            slow_call: self.slow_call,
        })
    }
}
