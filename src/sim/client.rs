//! Starting a device's user action under a strategy, and recording how it
//! ended (ok, soft or hard).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower::ServiceExt;
use tower::util::Oneshot;

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
    /// Sends `action`, due `now`, through its client's stack, and returns
    /// the request awaiting its answer (`None` if no client serves it).
    pub(crate) fn start(&mut self, action: Action, now: Instant) -> Option<Request<B, S>> {
        self.backend.record_at(now, |rec, minute| {
            rec.started(action.lane, action.fleet, minute)
        });
        let stacks = self.stacks[action.fleet.index()].get_mut(action.lane)?;
        if stacks.is_empty() {
            return None;
        }
        let count = stacks.len();
        let pair = &mut stacks[action.device as usize % count];
        let answer = if action.fallback {
            match send(&mut pair.soft, Call::new(action.fleet)) {
                Sent::Now(f) => Answering::Soft { f },
                Sent::Later(f) => Answering::SoftWait { f },
                Sent::Refused(err) => Answering::Refused { err: Some(err) },
            }
        } else {
            match send(&mut pair.bare, Call::new(action.fleet)) {
                Sent::Now(f) => Answering::Bare { f },
                Sent::Later(f) => Answering::BareWait { f },
                Sent::Refused(err) => Answering::Refused { err: Some(err) },
            }
        };
        Some(Request { answer, action })
    }

    /// Records that `action` ended at `now` as `ending`.
    pub(crate) fn end(&self, now: Instant, (action, ending): (Action, Ending)) {
        let grant = action
            .grants
            .then_some(self.entitlements.as_deref())
            .flatten();
        finish(&self.backend, now, action, ending, grant);
    }
}

/// How a stack took a call.
enum Sent<T: Stack> {
    /// Called at once.
    Now(T::Future),
    /// Not ready at once: a clone waits for readiness, then calls.
    Later(Oneshot<T, Call>),
    /// The stack failed instead of becoming ready.
    Refused(BoxError),
}

/// Drives `stack` to readiness and calls it, on the client's own instance:
/// its layers are ready at once (they fail fast rather than wait), so no
/// clone of the stack is made per request.
fn send<T: Stack>(stack: &mut T, call: Call) -> Sent<T> {
    match stack.poll_ready(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(())) => Sent::Now(stack.call(call)),
        Poll::Ready(Err(err)) => Sent::Refused(err),
        Poll::Pending => Sent::Later(stack.clone().oneshot(call)),
    }
}

pin_project! {
    /// A request in flight: the answer of a stack, ending in how its
    /// action ended.
    pub(crate) struct Request<B: Stack, S: Stack> {
        #[pin]
        answer: Answering<B, S>,
        action: Action,
    }
}

pin_project! {
    #[project = AnsweringProj]
    enum Answering<B: Stack, S: Stack> {
        Bare { #[pin] f: B::Future },
        BareWait { #[pin] f: Oneshot<B, Call> },
        Soft { #[pin] f: S::Future },
        SoftWait { #[pin] f: Oneshot<S, Call> },
        Refused { err: Option<BoxError> },
    }
}

impl<B: Stack, S: Stack> Future for Request<B, S> {
    type Output = (Action, Ending);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = match this.answer.project() {
            AnsweringProj::Bare { f } => ready!(f.poll(cx)),
            AnsweringProj::BareWait { f } => ready!(f.poll(cx)),
            AnsweringProj::Soft { f } => ready!(f.poll(cx)),
            AnsweringProj::SoftWait { f } => ready!(f.poll(cx)),
            AnsweringProj::Refused { err } => Err(err.take().unwrap_or_else(|| "refused".into())),
        };
        let ending = match answer {
            Ok(Answer::Real) => Ending::Ok,
            Ok(Answer::Degraded) => Ending::Soft,
            Err(_) => Ending::Hard,
        };
        Poll::Ready((*this.action, ending))
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
