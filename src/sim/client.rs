//! Starting a device's user action under a strategy, and recording how it
//! ended (ok, soft or hard).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::backend::{Backend, Call, Lane};
use super::fleet::Action;
use super::record::{Ending, FLEETS, Fleet};
use super::scenario::{ClientSpec, Scenario};
use super::strategy::{PlainPolicy, Strategy, plain_call};
use crate::rng::Streams;

/// Everything needed to start logical requests in one replay.
pub(crate) struct Clients {
    strategy: Strategy,
    backend: Arc<Backend>,
    lanes: Vec<Lane>,
    plain: [Option<PlainPolicy>; FLEETS],
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

// === impl Clients ===

impl Clients {
    pub(crate) fn new(
        s: &Scenario,
        strategy: Strategy,
        backend: Arc<Backend>,
        seed: u64,
        t0: Instant,
        entitlements: Option<Arc<[AtomicBool]>>,
    ) -> Self {
        let lanes = (0..s.lanes.len()).map(|i| backend.lane(i)).collect();
        let plain = Fleet::ALL.map(|f| {
            client_spec(s, f).map(|c| {
                let timeout = Duration::try_from_secs_f64(c.timeout_s).unwrap_or(Duration::MAX);
                strategy.plain(timeout, t0)
            })
        });
        Self {
            strategy,
            backend,
            lanes,
            plain,
            // Jitter streams are apart from traffic streams: changing the
            // strategy never changes who sends what when.
            jitter: Streams::seeded(crate::rng::mix(seed ^ 0x6a17_7e2a)),
            entitlements,
        }
    }

    /// Starts `action` as a task; it records its ending when done.
    pub(crate) fn start(&self, action: Action) {
        self.backend
            .record(|rec, minute| rec.started(action.lane, action.fleet, minute));
        let Some(policy) = self.plain[action.fleet.index()] else {
            return;
        };
        let lane = self.lanes[action.lane].clone();
        let rng = self.jitter.next_stream();
        let backend = self.backend.clone();
        let soft_ok = self.strategy.has_fallback() && action.fallback;
        let grant = action.grants.then(|| self.entitlements.clone()).flatten();
        tokio::spawn(async move {
            let ok = plain_call(lane, Call::new(action.fleet), policy, rng).await;
            finish(&backend, action, ok, soft_ok, grant.as_deref());
        });
    }
}

fn finish(
    backend: &Backend,
    action: Action,
    ok: bool,
    soft_ok: bool,
    grant: Option<&[AtomicBool]>,
) {
    let ending = if ok {
        if let Some(flag) = grant.and_then(|g| g.get(action.device as usize)) {
            flag.store(true, Ordering::Relaxed);
        }
        Ending::Ok
    } else if soft_ok {
        Ending::Soft
    } else {
        Ending::Hard
    };
    backend.record(|rec, minute| rec.ended(action.fleet, minute, ending));
}
