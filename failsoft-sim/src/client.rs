//! Starting a device's user action under a strategy, and recording how it
//! ended (ok, soft or hard).

use std::rc::Rc;
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
use super::record::{Ending, FLEETS, Fleet, Tally};
use super::report::fleet_lanes;
use super::scenario::{ClientSpec, Scenario};
use super::stack::{self, Answer, Parts, Stack, Stacks};
use failsoft::rng::mix;
use failsoft::{BoxError, ConfigError};

/// Everything needed to start logical requests in one replay under a
/// layered strategy.
pub(crate) struct Clients<B, S> {
    backend: Rc<Backend>,
    /// Stacks by fleet, then lane, then stack index.
    stacks: [Vec<Vec<Stacks<B, S>>>; FLEETS],
    entitlements: Option<Arc<[AtomicBool]>>,
    tally: Tally,
}

/// The client settings of `fleet`, if the scenario has the fleet.
pub(crate) fn client_spec(s: &Scenario, fleet: Fleet) -> Option<&ClientSpec> {
    match fleet {
        Fleet::Vacuums => s.vacuums.as_ref().map(|v| &v.client),
        Fleet::Streaming => s.streaming.as_ref().map(|v| &v.client),
        Fleet::Tickets => s.tickets.as_ref().map(|v| &v.client),
        Fleet::Clients => s.clients.as_ref().map(|v| &v.client),
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
    let mut out = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
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
    backend: Rc<Backend>,
    (seed, scale): (u64, f64),
    entitlements: Option<Arc<[AtomicBool]>>,
) -> Result<Clients<impl Stack + use<>, impl Stack + use<>>, ConfigError> {
    let lanes: Vec<Lane> = (0..s.lanes.len()).map(|i| backend.lane(i)).collect();
    let stacks = build_stacks(s, parts, &lanes, scale, seed)?;
    Ok(Clients {
        backend,
        stacks,
        entitlements,
        tally: Tally::default(),
    })
}

// === impl Clients ===

impl<B: Stack, S: Stack> Clients<B, S> {
    /// Counts `action` as started (recorded at the next
    /// [`flush`](Self::flush)); whether a client serves it, to send it with
    /// [`request`](Self::request).
    pub(crate) fn begin(&mut self, action: Action) -> bool {
        self.tally.started(action.lane, action.fleet);
        self.stacks[action.fleet.index()]
            .get(action.lane)
            .is_some_and(|s| !s.is_empty())
    }

    /// Sends `action` through its client's stack (on the client's own
    /// instance: its layers are ready at once, as they fail fast rather
    /// than wait, so no clone is made per request) and returns the request
    /// awaiting the answer.
    ///
    /// The request's box is allocated before its future is built, so the
    /// future is copied once, into the box (see [`Tasks::spawn`]).
    ///
    /// [`Tasks::spawn`]: super::exec::Tasks::spawn
    pub(crate) fn request(&mut self, action: Action) -> Pin<Box<Request<B, S>>> {
        let slot = Box::new_uninit();
        let call = Call::new(action.fleet);
        let Some(stacks) = self.stacks[action.fleet.index()]
            .get_mut(action.lane)
            .filter(|s| !s.is_empty())
        else {
            let err = "no client sends to this lane".into();
            return Box::into_pin(Box::write(
                slot,
                Request {
                    answer: Answering::Refused { err: Some(err) },
                    action,
                },
            ));
        };
        let count = stacks.len();
        let pair = &mut stacks[action.device as usize % count];
        let answer = if action.fallback {
            send(
                &mut pair.soft,
                call,
                |f| Answering::Soft { f },
                |f| Answering::SoftWait { f },
            )
        } else {
            send(
                &mut pair.bare,
                call,
                |f| Answering::Bare { f },
                |f| Answering::BareWait { f },
            )
        };
        Box::into_pin(Box::write(slot, Request { answer, action }))
    }

    /// Counts how `action` ended (recorded at the next
    /// [`flush`](Self::flush)); a success grants the device its
    /// entitlement at once, if the action grants one.
    pub(crate) fn end(&mut self, (action, ending): (Action, Ending)) {
        grant(self.entitlements.as_deref(), action, ending);
        self.tally.finished(action.fleet, action.fallback, ending);
    }

    /// Records the starts and endings counted since the last flush, as at
    /// `now`.
    pub(crate) fn flush(&mut self, now: Instant) {
        if !self.tally.is_empty() {
            self.backend
                .record_at(now, |rec, sec| rec.add(&mut self.tally, sec));
        }
    }
}

/// Grants the device of `action` its entitlement (in `flags`) if the
/// action grants one and ended well.
pub(crate) fn grant(flags: Option<&[AtomicBool]>, action: Action, ending: Ending) {
    if ending == Ending::Ok
        && action.grants
        && let Some(flag) = flags.and_then(|g| g.get(action.device as usize))
    {
        flag.store(true, Ordering::Relaxed);
    }
}

/// Calls `stack` if it is ready at once (`now`), or a clone of it once
/// ready (`later`). Inlined, so the future is built where the caller puts it.
#[inline(always)]
fn send<B: Stack, S: Stack, T: Stack>(
    stack: &mut T,
    call: Call,
    now: impl FnOnce(T::Future) -> Answering<B, S>,
    later: impl FnOnce(Oneshot<T, Call>) -> Answering<B, S>,
) -> Answering<B, S> {
    match stack.poll_ready(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(())) => now(stack.call(call)),
        Poll::Ready(Err(err)) => Answering::Refused { err: Some(err) },
        Poll::Pending => later(stack.clone().oneshot(call)),
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
