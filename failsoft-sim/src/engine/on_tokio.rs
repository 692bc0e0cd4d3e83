//! The layered strategies on a current-thread Tokio runtime with paused
//! time, one task per request: [`Engine::Tokio`](super::Engine::Tokio).

use std::pin::pin;
use std::time::Duration;

use tokio::time::Instant;

use super::{RunOptions, Setup};
use crate::client;
use crate::record::Recorder;
use crate::scenario::Scenario;
use crate::stack::Parts;

/// Replays a layered strategy with `parts` on a new paused runtime.
///
/// # Errors
///
/// An I/O error if the runtime cannot be built or a layer rejects the
/// scenario's client settings.
pub(super) fn replay(
    s: &Scenario,
    opts: &RunOptions,
    parts: Parts,
    progress: &dyn Fn(u32),
) -> std::io::Result<(Recorder, u64)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    // The lanes are single-threaded (`Rc`): requests are local tasks.
    tokio::task::LocalSet::new().block_on(&rt, drive(s, opts, parts, progress))
}

async fn drive(
    s: &Scenario,
    opts: &RunOptions,
    parts: Parts,
    progress: &dyn Fn(u32),
) -> std::io::Result<(Recorder, u64)> {
    let Setup {
        backend,
        mut fleets,
        period,
        t0,
    } = Setup::new(s, opts, Instant::now());
    let devices = fleets.devices();
    let grants = fleets.entitlements();
    let seed = (opts.seed, opts.scale);
    let mut clients = client::layered(s, parts, backend.clone(), seed, grants.clone())
        .map_err(std::io::Error::other)?;
    let dt = Duration::from_millis(period.tick_ms);
    let mut due = Vec::new();
    // One timer for the whole day, moved to each tick.
    let mut timer = pin!(tokio::time::sleep_until(t0));
    for tick in 0..period.ticks() {
        let ms = tick * period.tick_ms;
        let now = t0 + Duration::from_millis(ms);
        timer.as_mut().reset(now);
        timer.as_mut().await;
        backend.serve(now, period.second(ms), dt);
        // Requests answered now finish before new ones are sent.
        tokio::task::yield_now().await;
        fleets.due(tick, period.second(ms), &mut due);
        for action in due.drain(..) {
            if !clients.begin(action) {
                continue;
            }
            let request = clients.request(action);
            let (backend, grants) = (backend.clone(), grants.clone());
            tokio::task::spawn_local(async move {
                let (action, ending) = request.await;
                client::grant(grants.as_deref(), action, ending);
                backend.record_at(Instant::now(), |rec, sec| {
                    rec.finished(action.fleet, action.fallback, sec / 60, ending)
                });
            });
        }
        clients.flush(now);
        if ms.is_multiple_of(60_000) {
            progress((ms / 60_000) as u32);
        }
    }
    progress(period.minutes() as u32);
    Ok((backend.take_recorder(), devices))
}
