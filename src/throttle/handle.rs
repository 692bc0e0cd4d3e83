//! [`ThrottleHandle`]: the throttle's shared state, and what can be read of it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use tokio::time::Instant;

use super::Rejection;
use super::pace::Pacer;
use super::window::Window;
use crate::buckets::BucketClock;
use crate::error::Throttled;
use crate::rng::Rng;
use crate::stripes::Striped;

mod layer_path;

/// The state shared by every [`Throttle`](super::Throttle) made by one
/// [`ThrottleLayer`](super::ThrottleLayer): the window, the random streams
/// and the counters.
///
/// The `*_at(now)` methods are the pure core, for tests and simulations
/// that drive time themselves.
///
/// The layer decides without the lock whenever it can:
///
/// - While the rejection probability is 0 (a healthy backend), it counts
///   requests and accepts on per-thread counters, reads the clock once
///   every 32 calls of a thread, and folds everyone's counts into the
///   window once a new bucket of the window has begun, or at once when an
///   attempt fails. Folded successes are dated when they are folded, so
///   the window may see one up to a bucket (plus 32 calls of a quiet
///   thread) late, which keeps it counted that much longer.
/// - While it is above 0 (shedding), each decision reads the clock and
///   draws against the probability published at the last update, and a
///   rejection is counted on a per-thread counter. The first decision in
///   a new bucket folds the pending rejections into the bucket they were
///   made in and publishes the new probability; any sent attempt's end
///   folds them too. Within a bucket, rejections therefore raise the
///   probability only at the next fold: the throttle errs lenient.
/// - Besides that fold, once per bucket (and skipped if another thread
///   holds the lock), only an attempt's end while shedding, a failure,
///   and decisions while the server's pacing is in force take the lock.
///
/// The draws come from a stream keyed by the seed and addressed by a
/// per-thread count of this throttle's draws: one thread's decisions are
/// reproducible for a seed; threads that share a throttle draw from the
/// same sequence, each at its own position.
///
/// # Sharing
///
/// Clones share one state (an `Arc` inside). The `*_at` methods take one
/// short lock (a few instructions, never across an `.await`).
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
    shared: Arc<Shared>,
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
    /// Requests since the throttle was built: those sent to the backend,
    /// and those the throttle itself rejected by its probability (not
    /// those held by pacing, nor an inner layer's local rejections).
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
    /// The end of the server's pacing, while it is in force
    /// ([`ThrottleHandle::pace_at`]).
    pub paced_until: Option<Instant>,
}

struct Shared {
    // Written at every fold: on its own cache line, away from what the
    // clock-free path reads.
    state: CachePadded<Mutex<State>>,
    /// What the clock-free path reads, on lines written rarely.
    hot: CachePadded<Hot>,
}

/// The clock-free path's sent requests that the backend accepted, not yet
/// folded: each is one request and one accept (that path counts nothing
/// else), so one count serves both.
const ACCEPTED: usize = 0;
/// Rejections while shedding, not yet folded.
const REJECTIONS: usize = 1;
/// Draws made, never taken.
const DRAWS: usize = 2;

/// Everything the clock-free path reads, together: a call on a stack
/// whose state is out of the caches waits for one line here, not two.
/// Written only at a fold or when the probability changes.
struct Hot {
    /// The probability at the last update, as `f64` bits; `0.0` allows the
    /// clock-free path, 1 (above any allowed maximum) means pacing is in
    /// force. Read on every call, written only when it changes.
    probability: AtomicU64,
    /// When the bucket after the last fold's begins, in nanoseconds after
    /// the window's epoch: the next fold is due from then. Written under
    /// the lock, once per bucket.
    next_fold: AtomicU64,
    /// The window's bucket numbering, to tell a new bucket without the lock.
    clock: BucketClock,
    /// Keys the stream the rejection draws come from.
    key: u64,
    /// Per thread: counts not yet folded into the window ([`ACCEPTED`],
    /// [`REJECTIONS`]), and how many draws it made, its position in the
    /// stream ([`DRAWS`]). Only the cells' address is here: the cells are
    /// written on lines of their own.
    counts: Striped<3>,
}

// One `CachePadded` block, so reading any field brings in the rest.
const _: () = assert!(size_of::<Hot>() <= 128);

struct State {
    window: Window,
    /// For the pacing's jitter.
    rng: Rng,
    requests: u64,
    rejected: u64,
    accepts: u64,
    pacer: Pacer,
}

// === impl ThrottleHandle ===

impl ThrottleHandle {
    pub(super) fn new(window: Window, mut rng: Rng, pacer: Pacer) -> Self {
        let clock = window.clock();
        let key = rng.next_u64();
        let first_fold = u64::try_from(clock.start_nanos(1)).unwrap_or(u64::MAX);
        let state = State {
            window,
            rng,
            requests: 0,
            rejected: 0,
            accepts: 0,
            pacer,
        };
        Self {
            shared: Arc::new(Shared {
                state: CachePadded::new(Mutex::new(state)),
                hot: CachePadded::new(Hot {
                    probability: AtomicU64::new(0.0f64.to_bits()),
                    next_fold: AtomicU64::new(first_fold),
                    clock,
                    key,
                    counts: Striped::new(),
                }),
            }),
        }
    }

    /// Locks the state, folding the pending clock-free counts in at `now`.
    fn lock_at(&self, now: Instant) -> MutexGuard<'_, State> {
        let mut st = self.lock();
        self.fold_pending(&mut st, now);
        st
    }

    /// Folds every thread's pending counts into the window, which the
    /// caller has locked: the rejections into the bucket the window last
    /// moved to (where they were made), then the successes at `now`. The
    /// next fold is due when the bucket after `now`'s begins.
    fn fold_pending(&self, st: &mut State, now: Instant) {
        let shared = &*self.shared;
        let rejected = shared.hot.counts.take_nth(REJECTIONS);
        if rejected > 0 {
            st.window.record_rejections(rejected);
            st.requests = st.requests.saturating_add(rejected);
            st.rejected = st.rejected.saturating_add(rejected);
        }
        let accepted = shared.hot.counts.take_nth(ACCEPTED);
        st.fold(now, accepted, accepted);
        // Only ever written under the lock; unchanged, left shared.
        let next = u64::try_from(shared.hot.clock.end_nanos(now)).unwrap_or(u64::MAX);
        if shared.hot.next_fold.load(Ordering::Relaxed) != next {
            shared.hot.next_fold.store(next, Ordering::Relaxed);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; recover the data regardless.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers `p` for the clock-free path.
    fn publish(&self, p: f64) {
        let bits = p.to_bits();
        // Unchanged (a healthy throttle folding): leave the line shared.
        if self.shared.hot.probability.load(Ordering::Relaxed) != bits {
            self.shared.hot.probability.store(bits, Ordering::Relaxed);
        }
    }

    /// The probability the clock-free path reads, as last published.
    #[cfg(test)]
    pub(crate) fn published(&self) -> f64 {
        f64::from_bits(self.shared.hot.probability.load(Ordering::Relaxed))
    }

    /// The window's requests and accepts as folded so far, leaving the
    /// pending counts pending (a snapshot folds them first).
    #[cfg(test)]
    pub(crate) fn folded_totals(&self) -> (u64, u64) {
        self.lock().window.totals()
    }

    /// Runs `f` while this thread holds the lock.
    #[cfg(test)]
    pub(crate) fn with_lock_held<R>(&self, f: impl FnOnce() -> R) -> R {
        let _held = self.lock();
        f()
    }

    /// Decides one request at `now`: while the server's pacing is in force
    /// (see [`pace_at`](Self::pace_at)), by the pace; otherwise by a draw
    /// against the current probability. A request rejected by the draw
    /// counts as a request without an accept (the SRE rule); one held by
    /// the pacing counts for nothing; one admitted counts once it is sent
    /// and ends
    /// ([`record_request_at`](Self::record_request_at),
    /// [`record_accept_at`](Self::record_accept_at)).
    ///
    /// # Errors
    ///
    /// A [`Rejection`] when rejected: [`Rejection::Shed`] by the probability,
    /// or [`Rejection::Paced`] (carrying the pace's end) by the pacing.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// use tokio::time::Instant;
    /// let handle = ThrottleLayer::builder().seed(3).build()?.handle();
    /// assert!(handle.admit_at(Instant::now()).is_ok()); // nothing failed yet
    /// assert_eq!(handle.snapshot().requests, 0); // decided, not yet sent
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn admit_at(&self, now: Instant) -> Result<(), Rejection> {
        let mut st = self.lock_at(now);
        let st = &mut *st;
        let verdict = match st.pacer.admit(now) {
            Some(paced) => paced.map_err(Rejection::Paced),
            None => {
                let p = st.window.probability(now);
                if p > 0.0 && self.draw() < p {
                    // The SRE rule counts the client's own rejections as
                    // requests: that is what holds it near K × accepts.
                    st.window.record_rejection(now);
                    st.requests = st.requests.saturating_add(1);
                    tracing::debug!(probability = p, "throttled a request locally");
                    Err(Rejection::Shed(Throttled::new()))
                } else {
                    Ok(())
                }
            }
        };
        self.publish(st.published(now));
        if let Err(rejection) = &verdict {
            st.rejected = st.rejected.saturating_add(1);
            if let Rejection::Paced(paced) = rejection {
                tracing::debug!(holds = paced.holds(), "paced a request locally");
            }
        }
        verdict
    }

    /// Paces the whole client after an overload answer whose server asked
    /// it to come back after `wait` (a `Retry-After` on a 429 or 503, or
    /// gRPC pushback): until `now + wait × U(1, 1.2)`, the wait clamped to
    /// [`max_pace`](super::ThrottleBuilder::max_pace). A client busy enough
    /// to measure what the backend accepts (at least `min_requests` accepts
    /// in the window's newest two buckets) keeps sending at 1.1 times that
    /// accept rate; a quieter client holds every request until then. A
    /// pace already in force is extended, never shortened; a zero wait
    /// does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// use failsoft::throttle::Rejection;
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// let handle = ThrottleLayer::builder().seed(3).build()?.handle();
    /// let now = Instant::now();
    /// handle.pace_at(now, Duration::from_secs(2));
    /// let Err(Rejection::Paced(paced)) = handle.admit_at(now) else {
    ///     panic!("a quiet client's call is held by the pace");
    /// };
    /// assert!(paced.holds());
    /// let until = paced.until();
    /// assert!(until >= now + Duration::from_secs(2));
    /// assert!(until <= now + Duration::from_millis(2_400));
    /// assert!(handle.admit_at(until).is_ok());
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn pace_at(&self, now: Instant, wait: Duration) {
        let mut st = self.lock_at(now);
        let st = &mut *st;
        let rate = st.window.busy_accept_rate(now);
        let jitter = 1.0 + 0.2 * st.rng.next_f64();
        if let Some(until) = st.pacer.pace(now, wait, jitter, rate) {
            tracing::debug!(
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                until_ms = u64::try_from(until.saturating_duration_since(now).as_millis())
                    .unwrap_or(u64::MAX),
                rate,
                "pacing the client to the server's hint"
            );
        }
        self.publish(st.published(now));
    }

    /// The end of the server's pacing, if it is in force at `now`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::throttle::ThrottleLayer;
    /// use tokio::time::Instant;
    /// let handle = ThrottleLayer::builder().build()?.handle();
    /// assert_eq!(handle.paced_until_at(Instant::now()), None);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn paced_until_at(&self, now: Instant) -> Option<Instant> {
        let mut st = self.lock_at(now);
        let until = st.pacer.until(now);
        self.publish(st.published(now));
        until
    }

    /// Counts a request sent to the backend at `now` (decided by
    /// [`admit_at`](Self::admit_at), or by the caller), without an accept
    /// (yet).
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
        let mut st = self.lock_at(now);
        st.window.record_request(now);
        st.requests = st.requests.saturating_add(1);
        self.publish(st.published(now));
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
        let mut st = self.lock_at(now);
        st.window.record_accept(now);
        st.accepts = st.accepts.saturating_add(1);
        self.publish(st.published(now));
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
        let mut st = self.lock_at(now);
        let p = st.window.probability(now);
        self.publish(st.published(now));
        p
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
        self.probability_at(crate::time::now())
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
        let mut st = self.lock_at(now);
        let probability = st.window.probability(now);
        let (window_requests, window_accepts) = st.window.totals();
        ThrottleSnapshot {
            requests: st.requests,
            rejected: st.rejected,
            accepts: st.accepts,
            window_requests,
            window_accepts,
            probability,
            paced_until: st.pacer.until(now),
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
        self.snapshot_at(crate::time::now())
    }
}

// === impl State ===

impl State {
    /// What the clock-free path reads: the probability, or 1 while a pace
    /// is in force (so every call takes the locked path that enforces it).
    fn published(&mut self, now: Instant) -> f64 {
        if self.pacer.until(now).is_some() {
            1.0
        } else {
            self.window.probability(now)
        }
    }

    /// Records counts taken from the clock-free path at `now`.
    fn fold(&mut self, now: Instant, requests: u64, accepts: u64) {
        if requests > 0 || accepts > 0 {
            self.window.record(now, requests, accepts);
            self.requests = self.requests.saturating_add(requests);
            self.accepts = self.accepts.saturating_add(accepts);
        }
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
