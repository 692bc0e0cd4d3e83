//! Starting a device's user action under a strategy, and recording how it
//! ended (ok, soft or hard).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::task::{Context, Poll, Waker};
use tokio::time::Instant;

use tower::ServiceExt;

use super::backend::{Backend, Call, Lane};
use super::fleet::{Action, fleet_devices};
use super::record::{Ending, FLEETS, Fleet};
use super::report::fleet_lanes;
use super::scenario::{ClientSpec, Scenario};
use super::stack::{self, Answer, Parts, Stack, Stacks};
use crate::rng::mix;
use crate::{BoxError, ConfigError};

/// Everything needed to start logical requests in one replay under a
/// layered strategy.
pub(crate) struct Clients<B, S> {
    backend: Arc<Backend>,
    /// Stacks by fleet, then lane, then stack index.
    stacks: [Vec<Vec<Stacks<B, S>>>; FLEETS],
    entitlements: Option<Arc<[AtomicBool]>>,
}

/// The client settings of `fleet`, if the scenario has the fleet.
pub(crate) fn client_spec(s: &Scenario, fleet: Fleet) -> Option<&ClientSpec> {
    match fleet {
        Fleet::Vacuums => s.vacuums.as_ref().map(|v| &v.client),
        Fleet::Streaming => s.streaming.as_ref().map(|v| &v.client),
        Fleet::Tickets => s.tickets.as_ref().map(|v| &v.client),
    }
}

/// The stacks of a layered strategy by fleet, lane and stack index
/// (`parts` is the strategy's).
fn build_stacks(
    s: &Scenario,
    parts: Parts,
    lanes: &[Lane],
    scale: f64,
    seed: u64,
) -> Result<[Vec<Vec<Stacks<impl Stack + use<>, impl Stack + use<>>>>; FLEETS], ConfigError> {
    let mut out = [Vec::new(), Vec::new(), Vec::new()];
    for fleet in Fleet::ALL {
        let Some(client) = client_spec(s, fleet) else {
            continue;
        };
        let devices = fleet_devices(s, fleet, scale);
        let count = devices.div_ceil(client.devices_per_stack).max(1);
        let mut by_lane = vec![Vec::new(); lanes.len()];
        for lane in fleet_lanes(s, fleet) {
            for i in 0..count {
                let id = mix(seed
                    ^ ((fleet.index() as u64) << 48)
                    ^ ((lane as u64) << 32)
                    ^ u64::from(i));
                by_lane[lane].push(stack::build(parts, lanes[lane].clone(), client, id)?);
            }
        }
        out[fleet.index()] = by_lane;
    }
    Ok(out)
}

/// The clients of a layered strategy using `parts`, with a stack per
/// `devices_per_stack` devices of each fleet and lane.
///
/// # Errors
///
/// A [`ConfigError`] if a layer rejects the scenario's client settings.
pub(crate) fn layered(
    s: &Scenario,
    parts: Parts,
    backend: Arc<Backend>,
    (seed, scale): (u64, f64),
    entitlements: Option<Arc<[AtomicBool]>>,
) -> Result<Clients<impl Stack + use<>, impl Stack + use<>>, ConfigError> {
    let lanes: Vec<Lane> = (0..s.lanes.len()).map(|i| backend.lane(i)).collect();
    let stacks = build_stacks(s, parts, &lanes, scale, seed)?;
    Ok(Clients {
        backend,
        stacks,
        entitlements,
    })
}

// === impl Clients ===

impl<B: Stack, S: Stack> Clients<B, S> {
    /// Sends `action`, due `now`, through its client's stack and leaves
    /// the answer to a task, which records the ending when done.
    pub(crate) fn start(&mut self, action: Action, now: Instant) {
        self.backend.record_at(now, |rec, minute| {
            rec.started(action.lane, action.fleet, minute)
        });
        let Some(stacks) = self.stacks[action.fleet.index()].get_mut(action.lane) else {
            return;
        };
        if stacks.is_empty() {
            return;
        }
        let count = stacks.len();
        let pair = &mut stacks[action.device as usize % count];
        let grant = action.grants.then(|| self.entitlements.clone()).flatten();
        let backend = self.backend.clone();
        if action.fallback {
            send(&mut pair.soft, action, backend, grant);
        } else {
            send(&mut pair.bare, action, backend, grant);
        }
    }
}

/// Calls `stack` for `action` and spawns a task awaiting the answer.
///
/// The stack is driven to readiness and called here, on the client's own
/// instance: its layers are ready at once (they fail fast rather than
/// wait), so no clone of the stack is made per request.
fn send<T: Stack>(
    stack: &mut T,
    action: Action,
    backend: Arc<Backend>,
    grant: Option<Arc<[AtomicBool]>>,
) {
    let call = Call::new(action.fleet);
    match stack.poll_ready(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(())) => await_answer(stack.call(call), action, backend, grant),
        Poll::Ready(Err(_)) => finish(&backend, Instant::now(), action, Ending::Hard, None),
        // Not ready at once: wait for readiness on a clone, in the task.
        Poll::Pending => await_answer(stack.clone().oneshot(call), action, backend, grant),
    }
}

/// Spawns a task awaiting `answer` and recording how `action` ended.
fn await_answer(
    answer: impl Future<Output = Result<Answer, BoxError>> + Send + 'static,
    action: Action,
    backend: Arc<Backend>,
    grant: Option<Arc<[AtomicBool]>>,
) {
    // Boxed: the task stays small whatever the stack's future.
    let answer = Box::pin(answer);
    tokio::spawn(async move {
        let ending = match answer.await {
            Ok(Answer::Real) => Ending::Ok,
            Ok(Answer::Degraded) => Ending::Soft,
            Err(_) => Ending::Hard,
        };
        finish(&backend, Instant::now(), action, ending, grant.as_deref());
    });
}

/// Records how `action` ended at `now`; a success grants the device its
/// entitlement when `grant` holds the fleet's flags.
pub(crate) fn finish(
    backend: &Backend,
    now: Instant,
    action: Action,
    ending: Ending,
    grant: Option<&[AtomicBool]>,
) {
    if let (Ending::Ok, Some(flag)) = (ending, grant.and_then(|g| g.get(action.device as usize))) {
        flag.store(true, Ordering::Relaxed);
    }
    backend.record_at(now, |rec, minute| {
        rec.ended(action.fleet, minute, ending);
        if ending == Ending::Hard && !action.fallback {
            rec.ended(action.fleet, minute, Ending::HardBare);
        }
    });
}
