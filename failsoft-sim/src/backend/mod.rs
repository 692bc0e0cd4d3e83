//! The simulated backend: one Tower [`Service`] per lane.
//!
//! A lane serves requests from a bounded FIFO queue at a capacity that
//! changes over the day. Beyond the queue it rejects at once, at a small
//! cost. A rate-limited lane (`kind = "rate_limit"`) has a token bucket
//! refilled at that capacity instead: what finds a token is served after
//! the service time, the excess is refused at once with `Retry-After`. It has the flaw that makes retry storms self-sustaining: it keeps
//! serving requests whose client already gave up (their response futures
//! were dropped), spending capacity on *wasted work*.
//!
//! Lanes do not use a timer per request. The replay's driver calls
//! the backend once per tick; it hands out the capacity of that tick
//! to the queue heads whose minimum service time has passed, and wakes their
//! clients through answer slots (see `slots`).
//!
//! Inside, time is whole nanoseconds since the replay's start, so the hot
//! paths do integer arithmetic only; the `Instant`s of the Tower side are
//! converted once per call.

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower::Service;

pub use self::call::{Call, Served, Shed};
pub use self::future::LaneFuture;
pub(crate) use self::lane_state::LaneConfig;
use self::lane_state::{LaneState, Queued};
use self::slots::Slots;
pub(crate) use self::slots::Waiter;
use super::record::{Fleet, LaneCount, Recorder};
use failsoft::BoxError;

/// One lane of the simulated backend, as a Tower [`Service`].
///
/// Always ready. Its future resolves when the replay's driver serves the
/// request, once per tick.
///
/// # Sharing
///
/// Clones share the lane (its queue and counters) on one thread: a lane
/// is neither `Send` nor `Sync` (a replay runs each strategy on its own
/// thread, so the lane needs no lock: a lock and unlock per call and per
/// poll cost the layered strategies about 4 % of their speed).
#[derive(Clone)]
pub struct Lane {
    shared: Rc<RefCell<Shared>>,
    index: usize,
}

/// All lanes of a replay and its counters, shared on the replay's one
/// thread.
pub(crate) struct Backend {
    shared: Rc<RefCell<Shared>>,
}

pub(crate) struct Shared {
    pub(crate) rec: Recorder,
    lanes: Vec<LaneState>,
    slots: Slots,
    t0: Instant,
}

/// Nanoseconds in a second of the replay.
const SECOND_NS: u64 = 1_000_000_000;

// === impl Lane ===

impl fmt::Debug for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lane").field("index", &self.index).finish()
    }
}

impl Service<Call> for Lane {
    type Response = Served;
    type Error = BoxError;
    type Future = LaneFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let sent = lock(&self.shared).send(
            self.index,
            call.fleet(),
            failsoft::time::now(),
            Waiter::Task(None),
        );
        match sent {
            Ok(slot) => LaneFuture::waiting(self.shared.clone(), slot),
            Err(shed) => LaneFuture::shed(shed),
        }
    }
}

// === impl Backend ===

impl Backend {
    pub(crate) fn new(lanes: Vec<LaneConfig>, rec: Recorder, t0: Instant) -> Self {
        let lanes = lanes.into_iter().map(LaneState::new).collect();
        Self {
            shared: Rc::new(RefCell::new(Shared {
                rec,
                lanes,
                slots: Slots::default(),
                t0,
            })),
        }
    }

    /// The Service for lane `index`.
    pub(crate) fn lane(&self, index: usize) -> Lane {
        Lane {
            shared: self.shared.clone(),
            index,
        }
    }

    /// Runs `f` on the counters with the second of the replay at `now`.
    pub(crate) fn record_at(&self, now: Instant, f: impl FnOnce(&mut Recorder, usize)) {
        let mut shared = lock(&self.shared);
        let sec = second(shared.nanos(now));
        f(&mut shared.rec, sec);
    }

    /// The shared state, for a caller that drives the backend itself (the
    /// plain event loop, once per tick).
    pub(crate) fn lock(&self) -> RefMut<'_, Shared> {
        lock(&self.shared)
    }

    /// Serves one tick of length `dt` ending at `now`; `sec` is the time of
    /// day in seconds.
    pub(crate) fn serve(&self, now: Instant, sec: f64, dt: Duration) {
        let mut shared = lock(&self.shared);
        let now = shared.nanos(now);
        shared.serve_at(now, sec, dt);
    }

    /// Takes the counters out, leaving empty ones.
    pub(crate) fn take_recorder(&self) -> Recorder {
        let mut shared = lock(&self.shared);
        let lanes = shared.rec.lanes;
        std::mem::replace(&mut shared.rec, Recorder::new(1, lanes))
    }
}

// === impl Shared ===

impl Shared {
    /// Nanoseconds from the replay's start to `at` (0 before it).
    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.t0).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Queues an attempt at lane `index`, or rejects it with the lane's
    /// hint when the queue is full.
    fn send(
        &mut self,
        index: usize,
        fleet: Fleet,
        now: Instant,
        waiter: Waiter,
    ) -> Result<usize, Shed> {
        let now = self.nanos(now);
        self.send_at(index, fleet, now, waiter)
            .ok_or_else(|| self.lanes[index].shed())
    }

    /// Queues an attempt of `fleet` at lane `index` at `now` (nanoseconds
    /// since the start), answered to `waiter`: its answer slot, or `None`
    /// when the lane refuses it (a full queue, spending the lane's
    /// rejection cost, or an empty token bucket).
    pub(crate) fn send_at(
        &mut self,
        index: usize,
        fleet: Fleet,
        now: u64,
        waiter: Waiter,
    ) -> Option<usize> {
        let at = second(now);
        let lane = &mut self.lanes[index];
        self.rec.count(index, fleet, at, LaneCount::Attempts);
        if !lane.admit(now) {
            self.rec.count(index, fleet, at, LaneCount::Rejected);
            return None;
        }
        let slot = self.slots.open(waiter);
        lane.queue.push_back(Queued {
            arrived: now,
            fleet,
            slot,
        });
        Some(slot)
    }

    /// The client of `slot` gives up waiting (the lane still serves it).
    pub(crate) fn abandon(&mut self, slot: usize) {
        self.slots.abandon(slot);
    }

    /// Moves the ids of the event-loop requests answered so far to `out`.
    pub(crate) fn take_answered(&mut self, out: &mut Vec<u32>) {
        self.slots.take_answered(out);
    }

    /// Serves one tick of length `dt` ending at `now` (nanoseconds since
    /// the start); `sec` is the time of day in seconds.
    pub(crate) fn serve_at(&mut self, now: u64, sec: f64, dt: Duration) {
        let at = second(now);
        let Shared {
            rec, lanes, slots, ..
        } = self;
        for (index, lane) in lanes.iter_mut().enumerate() {
            lane.set_capacity(sec);
            let budget = lane.rps * dt.as_secs_f64();
            rec.add_capacity(index, at, budget);
            // A rate limiter serves all it admitted once their service time
            // has passed: its bucket is the limit, not its capacity.
            let limited = lane.bucket.is_some();
            if !limited {
                lane.credit += budget;
            }
            while limited || lane.credit >= 1.0 {
                let Some(head) = lane.queue.front() else {
                    break;
                };
                if head.arrived.saturating_add(lane.service) > now {
                    break;
                }
                let Some(q) = lane.queue.pop_front() else {
                    break;
                };
                if !limited {
                    lane.credit -= 1.0;
                }
                rec.count(index, q.fleet, at, LaneCount::Served);
                let waited = Duration::from_nanos(now.saturating_sub(q.arrived));
                if slots.answer(q.slot, Served { waited }) {
                    rec.count(index, q.fleet, at, LaneCount::Good);
                } else {
                    rec.count(index, q.fleet, at, LaneCount::Wasted);
                }
            }
            // Idle capacity is not banked beyond one tick.
            if !limited {
                lane.credit = lane.credit.min(budget.max(1.0));
            }
        }
    }
}

/// The second of the replay at `now` (nanoseconds since the start).
fn second(now: u64) -> usize {
    (now / SECOND_NS) as usize
}

/// The shared state, for the one call that uses it at a time (no call
/// holds it while another could begin: waking a client only queues it).
fn lock(m: &RefCell<Shared>) -> RefMut<'_, Shared> {
    m.borrow_mut()
}

mod call;
mod future;
mod lane_state;
mod slots;
#[cfg(test)]
mod tests;
