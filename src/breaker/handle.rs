//! [`Breaker`]: the shared, thread-safe breaker behind the layer.
//!
//! The state machine lives behind a mutex; its state is mirrored into one
//! atomic word (mode, "a success changes nothing" flag, epoch). A closed
//! breaker on a healthy backend admits and records with one atomic load
//! each and never takes the lock.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::config::BreakerConfig;
use super::state::{Call, Core, State, Ticket, Transition};
use super::window::Window;
use crate::classify::Outcome;
use crate::error::CircuitOpen;
use crate::stripes::Striped;

mod controls;
mod permit;
mod word;

pub use self::permit::Permit;
pub(crate) use self::permit::PlainPermit;
use self::permit::ProbeSlot;
use self::word::{CLOSED, DISABLED, FORCED_OPEN, MODE_MASK, NOOP_BIT, OPEN, encode};

/// One circuit breaker, shared by every clone of the handle.
///
/// Use it directly around any call (the methods take `now`, so it works
/// without Tower and on paused time), or through
/// [`CircuitBreakerLayer::with_handle`](super::CircuitBreakerLayer::with_handle).
///
/// # Sharing
///
/// `Breaker` is a handle: clones share one breaker (an `Arc` inside).
///
/// # Examples
///
/// ```
/// use failsoft::breaker::{Breaker, BreakerConfig, State};
/// use failsoft::classify::{FailureKind, Outcome};
/// use tokio::time::Instant;
///
/// let cfg = BreakerConfig::builder().consecutive_failures(2).seed(1).build()?;
/// let breaker = Breaker::new(&cfg);
/// let now = Instant::now();
/// for _ in 0..2 {
///     let permit = breaker.try_acquire_at(now).expect("closed");
///     breaker.record_at(permit, Outcome::Retryable(FailureKind::Error), now);
/// }
/// assert_eq!(breaker.state(), State::Open);
/// assert!(breaker.try_acquire_at(now).is_err());
/// assert!(breaker.snapshot_at(now).next_probe.unwrap() > now);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Breaker {
    shared: Arc<Shared>,
}

/// A breaker's state and window at one instant.
///
/// # Examples
///
/// ```
/// use failsoft::breaker::{Breaker, BreakerConfig, State};
/// use tokio::time::Instant;
///
/// let breaker = Breaker::new(&BreakerConfig::builder().build()?);
/// let snap = breaker.snapshot_at(Instant::now());
/// assert_eq!(snap.state, State::Closed);
/// assert_eq!(snap.next_probe, None);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The current state.
    pub state: State,
    /// Failures ÷ calls in the window (0 when empty). While a count window
    /// is full of successes the breaker stops writing to it, so `calls`
    /// stays at the window size.
    pub failure_rate: f64,
    /// Slow calls ÷ calls in the window (0 when empty).
    pub slow_call_rate: f64,
    /// Calls in the window.
    pub calls: u32,
    /// When the next probe may go out, while open.
    pub next_probe: Option<Instant>,
    /// Trips the breaker remembers (they grow the open time and the
    /// ramp-up; forgotten once it has stayed closed for its
    /// [`trip_memory`](super::BreakerConfigBuilder::trip_memory)).
    pub trips: u32,
    /// `true` while the ramp-up after closing still limits calls.
    pub ramping_up: bool,
}

struct Shared {
    hot: Hot,
    core: Mutex<Core>,
    tx: watch::Sender<State>,
}

/// What the hot path reads, on cache lines of its own: the `Arc`'s
/// reference counts (written by every clone) and the mutex (written by
/// every locked call) never invalidate it.
#[repr(align(128))]
struct Hot {
    word: AtomicU64,
    /// While open: the offset (see `Breaker::offset`) of the next probe,
    /// published before `word`, so an open breaker rejects without the
    /// lock (and a forced-open one without the clock).
    open_until: AtomicI64,
    /// Plain successes of a clean time window, counted apart from the
    /// lock and folded in at the next locked step (`None` for a count
    /// window, whose full-of-successes state needs no count).
    pending: Option<Striped>,
    slow: Option<Duration>,
    origin: Instant,
}

const NO_START: i64 = i64::MIN;

/// `d` in whole nanoseconds, in 64-bit arithmetic; `None` beyond about
/// 292 years.
#[inline]
fn nanos(d: Duration) -> Option<i64> {
    i64::try_from(d.as_secs())
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(i64::from(d.subsec_nanos()))
}

// === impl Breaker ===

impl Breaker {
    /// A new, closed breaker. Each breaker draws its own random stream
    /// from the config's seed.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{Breaker, BreakerConfig, State};
    /// let b = Breaker::new(&BreakerConfig::builder().build()?);
    /// assert_eq!(b.state(), State::Closed);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn new(cfg: &BreakerConfig) -> Self {
        let origin = crate::time::now();
        let core = Core::new(cfg.clone(), origin);
        let slow = cfg.slow_call_rate.map(|_| cfg.slow_call_duration);
        let (tx, _) = watch::channel(State::Closed);
        Self {
            shared: Arc::new(Shared {
                hot: Hot {
                    word: AtomicU64::new(encode(&core)),
                    open_until: AtomicI64::new(i64::MAX),
                    pending: matches!(cfg.window, Window::Time { .. }).then(Striped::new),
                    slow,
                    origin,
                },
                core: Mutex::new(core),
                tx,
            }),
        }
    }

    /// Asks to make a call at `now`.
    ///
    /// # Errors
    ///
    /// [`CircuitOpen`] when the breaker is open or forced open, when
    /// half-open has no probe slot left, or when the ramp-up after closing
    /// turned this call away (the [snapshot](Self::snapshot_at) tells the
    /// two apart: `ramping_up`). An open breaker rejects without taking
    /// its lock.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{Breaker, BreakerConfig};
    /// # use tokio::time::Instant;
    /// let b = Breaker::new(&BreakerConfig::builder().build()?);
    /// b.force_open();
    /// assert!(b.try_acquire_at(Instant::now()).is_err());
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    #[inline]
    pub fn try_acquire_at(&self, now: Instant) -> Result<Permit, CircuitOpen> {
        self.acquire_with(|| now)
    }

    /// [`try_acquire_at`](Self::try_acquire_at), reading the clock only
    /// when needed.
    #[inline]
    pub(crate) fn acquire_with(&self, now: impl Fn() -> Instant) -> Result<Permit, CircuitOpen> {
        match self.plain_ticket() {
            Some(ticket) => Ok(Permit {
                ticket,
                start: self.start_of(&now),
                probe: None,
            }),
            None => self.acquire_slow(now, true),
        }
    }

    /// The admission of a breaker that is not plainly closed: an open
    /// breaker whose open time has not run out, or a forced-open one,
    /// rejects with atomic loads only (no lock; the clock is read once, and
    /// not at all when forced open); otherwise the state machine decides
    /// under the lock, at the same instant.
    #[inline]
    pub(crate) fn acquire_slow(
        &self,
        now: impl Fn() -> Instant,
        timed: bool,
    ) -> Result<Permit, CircuitOpen> {
        let hot = &self.shared.hot;
        let word = hot.word.load(Ordering::Acquire);
        match word & MODE_MASK {
            FORCED_OPEN => Err(CircuitOpen::new()),
            OPEN => {
                let now = now();
                let until = hot.open_until.load(Ordering::Acquire);
                // Re-read: `until` belongs to this open period only if the
                // word has not moved on meanwhile.
                if self.is_before(now, until) && hot.word.load(Ordering::Acquire) == word {
                    return Err(CircuitOpen::new());
                }
                self.acquire_locked(now, timed)
            }
            _ => self.acquire_locked(now(), timed),
        }
    }

    /// The lock-free admission of a closed (or disabled) breaker, as two
    /// plain words, its slow-call clock not started (see
    /// [`start_waiting`](Self::start_waiting)); `None` when the state
    /// machine has to decide.
    #[inline]
    pub(crate) fn acquire_plain(&self) -> Option<PlainPermit> {
        self.plain_ticket().map(PlainPermit)
    }

    /// The ticket of a call admitted without the lock: the breaker is
    /// closed or disabled.
    #[inline]
    fn plain_ticket(&self) -> Option<Ticket> {
        let word = self.shared.hot.word.load(Ordering::Acquire);
        let mode = word & MODE_MASK;
        (mode == CLOSED || mode == DISABLED).then(|| Ticket::new(word >> 4, false))
    }

    /// The admission of a breaker that is not plainly closed: the state
    /// machine decides, under the lock.
    #[cold]
    #[inline(never)]
    pub(crate) fn acquire_locked(&self, now: Instant, timed: bool) -> Result<Permit, CircuitOpen> {
        let (result, change) = {
            let mut core = self.lock_at(now);
            let out = core.acquire(now);
            self.publish(&core, out.1);
            out
        };
        emit(change);
        match result {
            Ok(ticket) => Ok(Permit {
                ticket,
                // A layer admits in `poll_ready`, before the call: its
                // permit is timed from the call's first wait, so a slow
                // wait for readiness never makes a call slow.
                start: if timed {
                    self.start_of(&|| now)
                } else {
                    NO_START
                },
                probe: ticket.probe().then(|| {
                    Box::new(ProbeSlot {
                        breaker: Some(self.clone()),
                        ticket,
                    })
                }),
            }),
            Err(_) => Err(CircuitOpen::new()),
        }
    }

    /// Records how the call of `permit` went, at `now`.
    ///
    /// [`Outcome::Retryable`] is a failure. [`Outcome::Success`] and
    /// [`Outcome::Fatal`] (the backend answered, the request was wrong, as
    /// with a 4xx) are successes. A call that took at least the slow-call
    /// duration counts as slow either way. To count a call as neither (it
    /// never reached the backend), drop the permit instead.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{Breaker, BreakerConfig};
    /// # use failsoft::classify::Outcome;
    /// # use tokio::time::Instant;
    /// let b = Breaker::new(&BreakerConfig::builder().build()?);
    /// let now = Instant::now();
    /// let permit = b.try_acquire_at(now).unwrap();
    /// b.record_at(permit, Outcome::Success, now);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    #[inline]
    pub fn record_at(&self, permit: Permit, outcome: Outcome, now: Instant) {
        self.record_with(permit, outcome, || now)
    }

    /// [`record_at`](Self::record_at), reading the clock only when needed.
    /// Always inlined, like the throttle's `settle`: its common case is a
    /// few loads and a count.
    #[inline(always)]
    pub(crate) fn record_with(&self, permit: Permit, outcome: Outcome, now: impl Fn() -> Instant) {
        // The common case, inline and reading the permit field by field: a
        // success of an untimed, plain call on a breaker where success
        // changes nothing (or whose state moved on since admission).
        if !matches!(outcome, Outcome::Retryable(_))
            && permit.start == NO_START
            && !permit.ticket.probe()
        {
            let word = self.shared.hot.word.load(Ordering::Acquire);
            let stale = word >> 4 != permit.ticket.epoch() || word & MODE_MASK == DISABLED;
            if stale {
                return;
            }
            if word & NOOP_BIT != 0 {
                if let Some(pending) = &self.shared.hot.pending {
                    pending.increment();
                }
                return;
            }
        }
        self.record_full(permit, outcome, now);
    }

    #[inline(never)]
    fn record_full(&self, mut permit: Permit, outcome: Outcome, now: impl Fn() -> Instant) {
        let failure = matches!(outcome, Outcome::Retryable(_));
        let slow = match self.shared.hot.slow {
            Some(limit) if permit.start != NO_START => {
                let took = self.offset(now()).saturating_sub(permit.start).max(0);
                took.unsigned_abs() >= u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX)
            }
            _ => false,
        };
        let word = self.shared.hot.word.load(Ordering::Acquire);
        if word >> 4 != permit.ticket.epoch() || word & MODE_MASK == DISABLED {
            // Stale (the state changed since admission) or disabled: the
            // outcome counts for nothing.
            return;
        }
        if !failure && !slow && !permit.ticket.probe() && word & NOOP_BIT != 0 {
            if let Some(pending) = &self.shared.hot.pending {
                pending.increment();
            }
            return;
        }
        // Recording consumes a probe slot: disarm it so it is not released.
        let slot = permit.probe.take().and_then(|mut slot| slot.breaker.take());
        self.record_locked(permit.ticket, Call { failure, slow }, now());
        drop(slot);
    }

    #[cold]
    #[inline(never)]
    fn record_locked(&self, ticket: Ticket, call: Call, now: Instant) {
        let change = {
            let mut core = self.lock_at(now);
            let change = core.record(ticket, call, now);
            self.publish(&core, change);
            change
        };
        emit(change);
    }

    /// Starts a permit's slow-call clock now, if the breaker tracks slow
    /// calls and the permit's clock has not started. The layer calls this
    /// when a call first has to wait: a call that completes at its first
    /// poll took no time and never reads the clock.
    #[inline]
    pub(crate) fn start_waiting(&self, permit: &mut Permit) {
        if permit.start == NO_START && self.shared.hot.slow.is_some() {
            permit.start = self.offset(crate::time::now());
        }
    }

    #[inline]
    fn start_of(&self, now: &impl Fn() -> Instant) -> i64 {
        if self.shared.hot.slow.is_some() {
            self.offset(now())
        } else {
            NO_START
        }
    }

    /// `now` comes before the instant at offset `until`; the same as
    /// `self.offset(now) < until`, compared as instants (an addition and a
    /// comparison instead of a subtraction and a multiplication).
    #[inline]
    fn is_before(&self, now: Instant, until: i64) -> bool {
        let Ok(ahead) = u64::try_from(until) else {
            return self.offset(now) < until;
        };
        match self
            .shared
            .hot
            .origin
            .checked_add(Duration::from_nanos(ahead))
        {
            Some(at) => now < at,
            // Beyond what an instant can hold: not reached yet.
            None => true,
        }
    }

    /// `now - origin` in nanoseconds, negative for instants before the
    /// origin, saturating at about ±292 years.
    fn offset(&self, now: Instant) -> i64 {
        let origin = self.shared.hot.origin;
        match now.checked_duration_since(origin) {
            Some(ahead) => nanos(ahead).unwrap_or(i64::MAX),
            None => nanos(origin - now).map_or(NO_START + 1, |n| -n),
        }
    }

    fn release(&self, ticket: Ticket) {
        let mut core = self.lock();
        core.release(ticket);
        self.publish(&core, None);
    }

    #[cfg(test)]
    pub(crate) fn word(&self) -> u64 {
        self.shared.hot.word.load(Ordering::Acquire)
    }

    /// Locks the machine and folds in the plain successes counted apart.
    fn lock_at(&self, now: Instant) -> MutexGuard<'_, Core> {
        let mut core = self.lock();
        let pending = self.shared.hot.pending.as_ref().map_or(0, Striped::take);
        core.fold_successes(pending, now);
        core
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        #[cfg(test)]
        test_locks::LOCKS.set(test_locks::LOCKS.get() + 1);
        // Nothing panics while the lock is held; recover from poison anyway.
        self.shared
            .core
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, core: &Core, change: Option<Transition>) {
        let until = core.next_probe().map_or(i64::MAX, |at| self.offset(at));
        self.shared.hot.open_until.store(until, Ordering::Release);
        self.shared.hot.word.store(encode(core), Ordering::Release);
        if change.is_some() {
            // Inside the lock, so subscribers see changes in order.
            let state = core.state();
            self.shared.tx.send_if_modified(|s| {
                let changed = *s != state;
                *s = state;
                changed
            });
        }
    }
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("state", &self.state())
            .finish()
    }
}

fn emit(change: Option<Transition>) {
    match change {
        Some(Transition::Opened {
            reason,
            open_for,
            trips,
        }) => tracing::warn!(
            target: "failsoft::breaker",
            reason = reason.as_str(),
            open_for_ms = u64::try_from(open_for.as_millis()).unwrap_or(u64::MAX),
            trips,
            "breaker opened"
        ),
        Some(Transition::HalfOpened) => {
            tracing::info!(target: "failsoft::breaker", "breaker half-open: probing")
        }
        Some(Transition::Closed) => tracing::info!(target: "failsoft::breaker", "breaker closed"),
        Some(Transition::Manual(state)) => tracing::info!(
            target: "failsoft::breaker",
            state = state.as_str(),
            "breaker state set by hand"
        ),
        None => {}
    }
}

/// Counts this thread's breaker locks in the crate's unit tests.
#[cfg(test)]
pub(crate) mod test_locks {
    use std::cell::Cell;

    thread_local!(pub(super) static LOCKS: Cell<u64> = const { Cell::new(0) });

    /// Breaker locks taken on this thread by `f`.
    pub(crate) fn count(f: impl FnOnce()) -> u64 {
        let before = LOCKS.get();
        f();
        LOCKS.get() - before
    }
}

#[cfg(test)]
mod offset_tests;
