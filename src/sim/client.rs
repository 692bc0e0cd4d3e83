//! Starting a device's user action under a strategy, and recording how it
//! ended (ok, soft or hard).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::task::{Context, Poll, Waker};
use tokio::time::Instant;

use tower::{Service, ServiceExt};

use super::backend::{Backend, Call, Lane};
use super::fleet::{Action, fleet_devices};
use super::record::{Ending, FLEETS, Fleet};
use super::report::fleet_lanes;
use super::scenario::{ClientSpec, Scenario};
use super::stack::{self, Answer, Stacks};
use super::strategy::Strategy;
use crate::ConfigError;
use crate::rng::mix;

/// Everything needed to start logical requests in one replay under a
/// layered strategy.
pub(crate) struct Clients {
    backend: Arc<Backend>,
    /// Stacks by fleet, then lane, then stack index.
    stacks: [Vec<Vec<Stacks>>; FLEETS],
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

fn build_stacks(
    s: &Scenario,
    strategy: Strategy,
    lanes: &[Lane],
    scale: f64,
    seed: u64,
) -> Result<[Vec<Vec<Stacks>>; FLEETS], ConfigError> {
    let mut out: [Vec<Vec<Stacks>>; FLEETS] = Default::default();
    let Some(parts) = strategy.parts() else {
        return Ok(out);
    };
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

// === impl Clients ===

impl Clients {
    pub(crate) fn new(
        s: &Scenario,
        strategy: Strategy,
        backend: Arc<Backend>,
        (seed, scale): (u64, f64),
        entitlements: Option<Arc<[AtomicBool]>>,
    ) -> Result<Self, ConfigError> {
        let lanes: Vec<Lane> = (0..s.lanes.len()).map(|i| backend.lane(i)).collect();
        let stacks = build_stacks(s, strategy, &lanes, scale, seed)?;
        Ok(Self {
            backend,
            stacks,
            entitlements,
        })
    }

    /// Sends `action` through its client's stack and leaves the answer to
    /// a task, which records the ending when done.
    ///
    /// The stack is driven to readiness and called here, on the client's
    /// own instance: its layers are ready at once (they fail fast rather
    /// than wait), so no clone of the stack is made per request.
    pub(crate) fn start(&mut self, action: Action) {
        self.backend
            .record(|rec, minute| rec.started(action.lane, action.fleet, minute));
        let backend = self.backend.clone();
        let grant = action.grants.then(|| self.entitlements.clone()).flatten();
        let call = Call::new(action.fleet);
        let Some(stacks) = self.stacks[action.fleet.index()].get_mut(action.lane) else {
            return;
        };
        if stacks.is_empty() {
            return;
        }
        let count = stacks.len();
        let pair = &mut stacks[action.device as usize % count];
        let stack = if action.fallback {
            &mut pair.soft
        } else {
            &mut pair.bare
        };
        let mut cx = Context::from_waker(Waker::noop());
        let answer = match stack.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => stack.call(call),
            Poll::Ready(Err(err)) => Box::pin(std::future::ready(Err(err))),
            // Not ready at once: wait for readiness on a clone, in the task.
            Poll::Pending => Box::pin(stack.clone().oneshot(call)),
        };
        tokio::spawn(async move {
            let ending = match answer.await {
                Ok(Answer::Real) => Ending::Ok,
                Ok(Answer::Degraded) => Ending::Soft,
                Err(_) => Ending::Hard,
            };
            finish(&backend, Instant::now(), action, ending, grant.as_deref());
        });
    }
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
