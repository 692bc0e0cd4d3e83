//! [`ThrottleHandle`]: the throttle's shared state, and what can be read of it.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::time::Instant;

use super::window::Window;
use crate::error::Throttled;
use crate::rng::Rng;

/// The state shared by every [`Throttle`](super::Throttle) made by one
/// [`ThrottleLayer`](super::ThrottleLayer): the window, the random stream and
/// the counters.
///
/// The `*_at(now)` methods are the pure core, for tests and simulations
/// that drive time themselves; the layer calls them with
/// `tokio::time::Instant::now()`.
///
/// # Sharing
///
/// Clones share one state (an `Arc` inside). Every method takes one short
/// lock (a few instructions, never across an `.await`).
///
/// # Examples
///
/// ```
/// use failsoft::throttle::ThrottleLayer;
/// use tokio::time::Instant;
///
/// let layer = ThrottleLayer::builder().seed(1).build()?;
/// let handle = layer.handle();
/// let now = Instant::now();
/// for _ in 0..10 {
///     handle.record_request_at(now); // sent, never accepted
/// }
/// // (10 - 2 × 0) / 11 ≈ 0.91, capped at the default maximum 0.9.
/// assert_eq!(handle.probability_at(now), 0.9);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ThrottleHandle {
    shared: Arc<Mutex<State>>,
}

/// Counters of a throttle, read with [`ThrottleHandle::snapshot`].
///
/// # Examples
///
/// ```
/// use failsoft::throttle::ThrottleLayer;
/// let layer = ThrottleLayer::builder().build()?;
/// let s = layer.handle().snapshot();
/// assert_eq!((s.requests, s.rejected, s.probability), (0, 0, 0.0));
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ThrottleSnapshot {
    /// Requests counted since the throttle was built (sent or rejected).
    pub requests: u64,
    /// Requests rejected locally.
    pub rejected: u64,
    /// Requests the backend accepted.
    pub accepts: u64,
    /// Requests inside the current window.
    pub window_requests: u64,
    /// Accepts inside the current window.
    pub window_accepts: u64,
    /// The local rejection probability now.
    pub probability: f64,
}

struct State {
    window: Window,
    rng: Rng,
    requests: u64,
    rejected: u64,
    accepts: u64,
}

// === impl ThrottleHandle ===

impl ThrottleHandle {
    pub(super) fn new(window: Window, rng: Rng) -> Self {
        let state = State {
            window,
            rng,
            requests: 0,
            rejected: 0,
            accepts: 0,
        };
        Self {
            shared: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; recover the data regardless.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decides one request at `now`: draws against the current probability,
    /// counts the request, and on rejection returns the error to hand back.
    ///
    /// # Errors
    ///
    /// [`Throttled`] carrying the probability in force, when rejected.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// use tokio::time::Instant;
    /// let handle = ThrottleLayer::builder().seed(3).build()?.handle();
    /// assert!(handle.admit_at(Instant::now()).is_ok()); // nothing failed yet
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn admit_at(&self, now: Instant) -> Result<(), Throttled> {
        let mut st = self.lock();
        let p = st.window.probability(now);
        let reject = p > 0.0 && st.rng.chance(p);
        st.window.record_request(now);
        st.requests = st.requests.saturating_add(1);
        if reject {
            st.rejected = st.rejected.saturating_add(1);
            drop(st);
            tracing::debug!(probability = p, "throttled a request locally");
            Err(Throttled::new(p))
        } else {
            Ok(())
        }
    }

    /// Counts a request at `now` without deciding it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// use tokio::time::Instant;
    /// let handle = ThrottleLayer::builder().build()?.handle();
    /// handle.record_request_at(Instant::now());
    /// assert_eq!(handle.snapshot().requests, 1);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn record_request_at(&self, now: Instant) {
        let mut st = self.lock();
        st.window.record_request(now);
        st.requests = st.requests.saturating_add(1);
    }

    /// Counts an accept (the backend handled a request) at `now`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// use tokio::time::Instant;
    /// let handle = ThrottleLayer::builder().build()?.handle();
    /// let now = Instant::now();
    /// handle.record_request_at(now);
    /// handle.record_accept_at(now);
    /// assert_eq!(handle.probability_at(now), 0.0);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn record_accept_at(&self, now: Instant) {
        let mut st = self.lock();
        st.window.record_accept(now);
        st.accepts = st.accepts.saturating_add(1);
    }

    /// The local rejection probability at `now`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// use tokio::time::Instant;
    /// let handle = ThrottleLayer::builder().build()?.handle();
    /// assert_eq!(handle.probability_at(Instant::now()), 0.0);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn probability_at(&self, now: Instant) -> f64 {
        self.lock().window.probability(now)
    }

    /// The local rejection probability now.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// assert_eq!(ThrottleLayer::builder().build()?.handle().probability(), 0.0);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn probability(&self) -> f64 {
        self.probability_at(Instant::now())
    }

    /// Counters and the probability at `now`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// use tokio::time::Instant;
    /// let s = ThrottleLayer::builder().build()?.handle().snapshot_at(Instant::now());
    /// assert_eq!(s.accepts, 0);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn snapshot_at(&self, now: Instant) -> ThrottleSnapshot {
        let mut st = self.lock();
        let probability = st.window.probability(now);
        let (window_requests, window_accepts) = st.window.totals();
        ThrottleSnapshot {
            requests: st.requests,
            rejected: st.rejected,
            accepts: st.accepts,
            window_requests,
            window_accepts,
            probability,
        }
    }

    /// Counters and the probability now.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// assert_eq!(ThrottleLayer::builder().build()?.handle().snapshot().requests, 0);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn snapshot(&self) -> ThrottleSnapshot {
        self.snapshot_at(Instant::now())
    }
}

impl fmt::Debug for ThrottleHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.snapshot();
        f.debug_struct("ThrottleHandle")
            .field("probability", &s.probability)
            .field("requests", &s.requests)
            .field("rejected", &s.rejected)
            .finish()
    }
}
