//! Starting a device's user action under a strategy, and recording how it
//! ended (ok, soft or hard).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tower::ServiceExt;

use super::backend::{Backend, Call, Lane};
use super::fleet::{Action, fleet_devices};
use super::record::{Ending, FLEETS, Fleet};
use super::report::fleet_lanes;
use super::scenario::{ClientSpec, Scenario};
use super::stack::{self, Answer, Stacks};
use super::strategy::{PlainPolicy, Strategy, plain_call};
use crate::ConfigError;
use crate::rng::{Streams, mix};

/// Everything needed to start logical requests in one replay.
pub(crate) struct Clients {
    backend: Arc<Backend>,
    lanes: Vec<Lane>,
    plain: [Option<PlainPolicy>; FLEETS],
    /// Layered strategies: stacks by fleet, then lane, then stack index.
    stacks: [Vec<Vec<Stacks>>; FLEETS],
    jitter: Streams,
    entitlements: Option<Arc<[AtomicBool]>>,
}

fn client_spec(s: &Scenario, fleet: Fleet) -> Option<&ClientSpec> {
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
        t0: Instant,
        entitlements: Option<Arc<[AtomicBool]>>,
    ) -> Result<Self, ConfigError> {
        let lanes: Vec<Lane> = (0..s.lanes.len()).map(|i| backend.lane(i)).collect();
        let plain = Fleet::ALL.map(|f| {
            client_spec(s, f).and_then(|c| {
                let timeout = Duration::try_from_secs_f64(c.timeout_s).unwrap_or(Duration::MAX);
                strategy.plain(timeout, t0)
            })
        });
        let stacks = build_stacks(s, strategy, &lanes, scale, seed)?;
        Ok(Self {
            backend,
            lanes,
            plain,
            stacks,
            // Jitter streams are apart from traffic streams: changing the
            // strategy never changes who sends what when.
            jitter: Streams::seeded(mix(seed ^ 0x6a17_7e2a)),
            entitlements,
        })
    }

    /// Starts `action` as a task; it records its ending when done.
    pub(crate) fn start(&self, action: Action) {
        self.backend
            .record(|rec, minute| rec.started(action.lane, action.fleet, minute));
        let backend = self.backend.clone();
        let grant = action.grants.then(|| self.entitlements.clone()).flatten();
        let call = Call::new(action.fleet);
        if let Some(policy) = self.plain[action.fleet.index()] {
            let lane = self.lanes[action.lane].clone();
            let rng = self.jitter.next_stream();
            tokio::spawn(async move {
                let ok = plain_call(lane, call, policy, rng).await;
                let ending = if ok { Ending::Ok } else { Ending::Hard };
                finish(&backend, action, ending, grant.as_deref());
            });
            return;
        }
        let Some(stacks) = self.stacks[action.fleet.index()].get(action.lane) else {
            return;
        };
        if stacks.is_empty() {
            return;
        }
        let pair = &stacks[action.device as usize % stacks.len()];
        let stack = if action.fallback {
            pair.soft.clone()
        } else {
            pair.bare.clone()
        };
        tokio::spawn(async move {
            let ending = match stack.oneshot(call).await {
                Ok(Answer::Real) => Ending::Ok,
                Ok(Answer::Degraded) => Ending::Soft,
                Err(_) => Ending::Hard,
            };
            finish(&backend, action, ending, grant.as_deref());
        });
    }
}

fn finish(backend: &Backend, action: Action, ending: Ending, grant: Option<&[AtomicBool]>) {
    if let (Ending::Ok, Some(flag)) = (ending, grant.and_then(|g| g.get(action.device as usize))) {
        flag.store(true, Ordering::Relaxed);
    }
    backend.record(|rec, minute| {
        rec.ended(action.fleet, minute, ending);
        if ending == Ending::Hard && !action.fallback {
            rec.ended(action.fleet, minute, Ending::HardBare);
        }
    });
}
