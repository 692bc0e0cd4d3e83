//! Device fleets: who sends what, when, and what a device can fall back on.
//!
//! Devices are not tasks. Each fleet keeps its devices in calendars keyed by
//! tick (a device's phase within its period), so a tick costs only the
//! devices due in it. Every device draws its phase and traits from its own
//! seeded stream.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::record::Fleet;
use super::scenario::{ClientsSpec, Scenario, StreamingSpec, TicketSpec, VacuumSpec};
use failsoft::rng::{Rng, Streams};

/// One user action due now: a logical request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Action {
    pub(crate) fleet: Fleet,
    pub(crate) lane: usize,
    pub(crate) device: u32,
    /// The device has a degraded answer to fall back on if this fails.
    pub(crate) fallback: bool,
    /// On success, the device gains a cached entitlement (streaming auth).
    pub(crate) grants: bool,
}

/// Devices due per tick, for all fleets of a scenario.
pub(crate) struct Fleets {
    vacuums: Option<Vacuums>,
    streaming: Option<Streaming>,
    tickets: Option<Tickets>,
    clients: Option<Clients>,
}

/// A calendar of devices by phase within a period of `len` ticks.
///
/// Devices are kept sorted by phase (those of one phase in the order
/// given), so its size follows the devices, not the period: a period of a
/// day in 1 ms ticks costs nothing extra. Asked tick after tick, as the
/// replay does, it walks on from where it stopped.
struct Calendar {
    len: u64,
    phases: Vec<u64>,
    devices: Vec<u32>,
    /// The tick it expects next, and where that tick's phase starts.
    cursor: Cell<(u64, usize)>,
}

struct Vacuums {
    lane: usize,
    checkins: Calendar,
    herd: Vec<u32>,
    commands_per_tick: f64,
    owed: f64,
    devices: u32,
    rng: Rng,
}

struct Streaming {
    hb_lane: usize,
    auth_lane: usize,
    /// Second of the day each stream starts playing, by device.
    starts: Vec<f64>,
    next_start: usize,
    initial: usize,
    heartbeats: Calendar,
    refreshes: Calendar,
    /// Device has a cached entitlement (shared with in-flight requests).
    cached: Arc<[AtomicBool]>,
    new_cached: Vec<bool>,
}

struct Tickets {
    lane: usize,
    polls: Calendar,
    arrive: Vec<f64>,
    leave: Vec<f64>,
    open: f64,
    close: f64,
}

/// Open-loop clients: logical requests at a scheduled rate, spread over
/// their senders in turn.
struct Clients {
    lane: usize,
    /// `(second of the day, requests per second)`, scaled, in time order.
    rates: Vec<(f64, f64)>,
    senders: u32,
    next: u32,
    owed: f64,
    tick_s: f64,
}

/// Scaled count, at least 1 when the unscaled one is positive.
pub(crate) fn scaled(n: u32, scale: f64) -> u32 {
    if n == 0 {
        0
    } else {
        (f64::from(n) * scale)
            .round()
            .clamp(1.0, f64::from(u32::MAX)) as u32
    }
}

fn ticks(seconds: f64, tick_s: f64) -> usize {
    (seconds / tick_s).round().max(1.0) as usize
}

// === impl Calendar ===

impl Calendar {
    /// A calendar of `len` ticks (at least 1) holding each `(phase,
    /// device)`; a phase beyond the period wraps.
    fn new(len: usize, entries: Vec<(usize, u32)>) -> Self {
        let len = (len as u64).max(1);
        let mut entries: Vec<(u64, u32)> = entries
            .into_iter()
            .map(|(phase, device)| (phase as u64 % len, device))
            .collect();
        // Stable: devices of one phase keep their order.
        entries.sort_by_key(|e| e.0);
        let (phases, devices) = entries.into_iter().unzip();
        Self {
            len,
            phases,
            devices,
            cursor: Cell::new((0, 0)),
        }
    }

    /// The devices due at `tick`.
    fn due(&self, tick: u64) -> &[u32] {
        let phase = tick % self.len;
        let (expected, at) = self.cursor.get();
        let from = if tick == expected {
            at
        } else {
            self.phases.partition_point(|&p| p < phase)
        };
        // The devices due now follow at once: walk over them (they are
        // read next anyway) rather than search.
        let to = from
            + self.phases[from..]
                .iter()
                .take_while(|&&p| p == phase)
                .count();
        let next = tick.wrapping_add(1);
        self.cursor
            .set((next, if next.is_multiple_of(self.len) { 0 } else { to }));
        &self.devices[from..to]
    }
}

// === impl Fleets ===

impl Fleets {
    /// Builds the devices of the selected fleets; `streams` is the run's
    /// traffic source (independent of the strategy's jitter streams).
    pub(crate) fn new(s: &Scenario, scale: f64, only: &[Fleet], streams: &Streams) -> Self {
        let tick_s = f64::from(s.sim.tick_ms) / 1000.0;
        let start = f64::from(s.sim.start.seconds());
        let pick = |f: Fleet| only.is_empty() || only.contains(&f);
        Self {
            vacuums: s
                .vacuums
                .as_ref()
                .filter(|_| pick(Fleet::Vacuums))
                .map(|v| Vacuums::new(s, v, scale, tick_s, streams)),
            streaming: s
                .streaming
                .as_ref()
                .filter(|_| pick(Fleet::Streaming))
                .map(|v| Streaming::new(s, v, scale, tick_s, start, streams)),
            tickets: s
                .tickets
                .as_ref()
                .filter(|_| pick(Fleet::Tickets))
                .map(|v| Tickets::new(s, v, scale, tick_s, streams)),
            clients: s
                .clients
                .as_ref()
                .filter(|_| pick(Fleet::Clients))
                .map(|v| Clients::new(s, v, scale, tick_s)),
        }
    }

    /// Total simulated devices.
    pub(crate) fn devices(&self) -> u64 {
        let v = self.vacuums.as_ref().map_or(0, |v| u64::from(v.devices));
        let s = self.streaming.as_ref().map_or(0, |s| s.starts.len() as u64);
        let t = self.tickets.as_ref().map_or(0, |t| t.arrive.len() as u64);
        let c = self.clients.as_ref().map_or(0, |c| u64::from(c.senders));
        v + s + t + c
    }

    /// Shared entitlement flags of the streaming fleet, if simulated.
    pub(crate) fn entitlements(&self) -> Option<Arc<[AtomicBool]>> {
        self.streaming.as_ref().map(|s| s.cached.clone())
    }

    /// Appends the actions due at `tick` (time of day `sec`) to `out`.
    pub(crate) fn due(&mut self, tick: u64, sec: f64, out: &mut Vec<Action>) {
        if let Some(v) = &mut self.vacuums {
            v.due(tick, sec, out);
        }
        if let Some(s) = &mut self.streaming {
            s.due(tick, sec, out);
        }
        if let Some(t) = &self.tickets {
            t.due(tick, sec, out);
        }
        if let Some(c) = &mut self.clients {
            c.due(sec, out);
        }
    }
}

// === impl Vacuums ===

impl Vacuums {
    fn new(s: &Scenario, v: &VacuumSpec, scale: f64, tick_s: f64, streams: &Streams) -> Self {
        let devices = scaled(v.devices, scale);
        let period = ticks(v.period_s, tick_s);
        let mut checkins = Vec::with_capacity(devices as usize);
        let mut herd = Vec::new();
        for d in 0..devices {
            let mut rng = streams.stream(device_id(Fleet::Vacuums, d));
            checkins.push(((rng.next_u64() % period as u64) as usize, d));
            if rng.chance(v.herd_fraction) {
                herd.push(d);
            }
        }
        let checkins = Calendar::new(period, checkins);
        Self {
            lane: s.lane_index(&v.lane).unwrap_or(0),
            checkins,
            herd,
            commands_per_tick: f64::from(devices) * v.command_probability / period as f64,
            owed: 0.0,
            devices,
            rng: streams.stream(device_id(Fleet::Vacuums, u32::MAX)),
        }
    }

    fn due(&mut self, tick: u64, sec: f64, out: &mut Vec<Action>) {
        let act = |device| Action {
            fleet: Fleet::Vacuums,
            lane: self.lane,
            device,
            // Keep cleaning on the local schedule; report later.
            fallback: true,
            grants: false,
        };
        out.extend(self.checkins.due(tick).iter().map(|&d| act(d)));
        let top_of_hour = sec % 3600.0;
        if top_of_hour < 1e-6 || 3600.0 - top_of_hour < 1e-6 {
            out.extend(self.herd.iter().map(|&d| act(d)));
        }
        // App commands: a Poisson-like stream at the fleet's mean rate.
        self.owed += self.commands_per_tick * self.rng.uniform(0.0, 2.0);
        while self.owed >= 1.0 && self.devices > 0 {
            self.owed -= 1.0;
            let d = (self.rng.next_u64() % u64::from(self.devices)) as u32;
            out.push(act(d));
        }
    }
}

// === impl Streaming ===

impl Streaming {
    fn new(
        s: &Scenario,
        v: &StreamingSpec,
        scale: f64,
        tick_s: f64,
        start: f64,
        streams: &Streams,
    ) -> Self {
        let initial = scaled(v.streams_start, scale) as usize;
        let total = (scaled(v.streams_end, scale) as usize).max(initial);
        let until = f64::from(v.grow_until.seconds()).max(start);
        let (hb, rf) = (ticks(v.heartbeat_s, tick_s), ticks(v.refresh_s, tick_s));
        let (mut heartbeats, mut refreshes) =
            (Vec::with_capacity(total), Vec::with_capacity(total));
        let mut starts = Vec::with_capacity(total);
        let mut new_cached = Vec::with_capacity(total);
        let growing = (total - initial).max(1) as f64;
        for d in 0..total {
            let mut rng = streams.stream(device_id(Fleet::Streaming, d as u32));
            heartbeats.push(((rng.next_u64() % hb as u64) as usize, d as u32));
            refreshes.push(((rng.next_u64() % rf as u64) as usize, d as u32));
            let at = if d < initial {
                f64::NEG_INFINITY
            } else {
                let k = (d - initial) as f64 + rng.next_f64();
                start + (until - start) * k / growing
            };
            starts.push(at);
            new_cached.push(d < initial || rng.chance(v.cached_fraction));
        }
        let cached: Arc<[AtomicBool]> = (0..total).map(|d| AtomicBool::new(d < initial)).collect();
        Self {
            hb_lane: s.lane_index(&v.heartbeat_lane).unwrap_or(0),
            auth_lane: s.lane_index(&v.auth_lane).unwrap_or(0),
            starts,
            next_start: initial,
            initial,
            heartbeats: Calendar::new(hb, heartbeats),
            refreshes: Calendar::new(rf, refreshes),
            cached,
            new_cached,
        }
    }

    fn action(&self, device: u32, auth: bool) -> Action {
        let cached = self.cached[device as usize].load(Ordering::Relaxed);
        Action {
            fleet: Fleet::Streaming,
            lane: if auth { self.auth_lane } else { self.hb_lane },
            device,
            // Heartbeats coalesce and playback goes on; a session start or
            // token refresh falls back only on a cached entitlement.
            fallback: !auth || cached,
            grants: auth,
        }
    }

    fn due(&mut self, tick: u64, sec: f64, out: &mut Vec<Action>) {
        while self.next_start < self.starts.len() && self.starts[self.next_start] <= sec {
            let d = self.next_start;
            if self.new_cached[d] {
                self.cached[d].store(true, Ordering::Relaxed);
            }
            out.push(self.action(d as u32, true));
            self.next_start += 1;
        }
        let live = |d: u32| (d as usize) < self.initial || self.starts[d as usize] < sec;
        for &d in self.heartbeats.due(tick) {
            if live(d) {
                out.push(self.action(d, false));
            }
        }
        for &d in self.refreshes.due(tick) {
            if live(d) {
                out.push(self.action(d, true));
            }
        }
    }
}

// === impl Tickets ===

impl Tickets {
    fn new(s: &Scenario, v: &TicketSpec, scale: f64, tick_s: f64, streams: &Streams) -> Self {
        let fans = scaled(v.fans, scale);
        let period = ticks(v.poll_s, tick_s);
        let mut polls = Vec::with_capacity(fans as usize);
        let open = f64::from(v.on_sale.seconds());
        let (mut arrive, mut leave) = (Vec::new(), Vec::new());
        for d in 0..fans {
            let mut rng = streams.stream(device_id(Fleet::Tickets, d));
            // Front-loaded arrivals: most fans are there at the start.
            let u = rng.next_f64();
            let at = open + v.arrival_minutes * 60.0 * u * u;
            let stay = rng.uniform(v.stay_min_minutes, v.stay_max_minutes) * 60.0;
            polls.push(((at / tick_s).round() as usize, d));
            arrive.push(at);
            leave.push(at + stay);
        }
        let close = leave.iter().copied().fold(open, f64::max);
        Self {
            lane: s.lane_index(&v.lane).unwrap_or(0),
            polls: Calendar::new(period, polls),
            arrive,
            leave,
            open,
            close,
        }
    }

    fn due(&self, tick: u64, sec: f64, out: &mut Vec<Action>) {
        if sec < self.open || sec > self.close {
            return;
        }
        for &d in self.polls.due(tick) {
            let i = d as usize;
            if self.arrive[i] <= sec && sec < self.leave[i] {
                out.push(Action {
                    fleet: Fleet::Tickets,
                    lane: self.lane,
                    device: d,
                    // Keep the place in line with an ETA, or an explicit
                    // "moved" notice, instead of an error page.
                    fallback: true,
                    grants: false,
                });
            }
        }
    }
}

// === impl Clients ===

impl Clients {
    fn new(s: &Scenario, v: &ClientsSpec, scale: f64, tick_s: f64) -> Self {
        Self {
            lane: s.lane_index(&v.lane).unwrap_or(0),
            rates: v
                .rates
                .iter()
                .map(|r| (f64::from(r.at.seconds()), r.rps * scale))
                .collect(),
            senders: scaled(v.senders, scale).max(1),
            next: 0,
            owed: 0.0,
            tick_s,
        }
    }

    /// Requests per second at `sec`: the last rate set at or before it.
    fn rate(&self, sec: f64) -> f64 {
        self.rates
            .iter()
            .take_while(|(at, _)| *at <= sec)
            .last()
            .map_or(0.0, |r| r.1)
    }

    fn due(&mut self, sec: f64, out: &mut Vec<Action>) {
        self.owed += self.rate(sec) * self.tick_s;
        while self.owed >= 1.0 {
            self.owed -= 1.0;
            out.push(Action {
                fleet: Fleet::Clients,
                lane: self.lane,
                device: self.next,
                // The caller shows a degraded answer rather than an error.
                fallback: true,
                grants: false,
            });
            self.next = (self.next + 1) % self.senders;
        }
    }
}

/// Stream id of a device: fleet in the top byte, device below.
pub(crate) fn device_id(fleet: Fleet, device: u32) -> u64 {
    ((fleet.index() as u64 + 1) << 56) | u64::from(device)
}

/// The provisioned extra capacity of the ticket on-sale, as
/// `(lane, from, to, rps)` with seconds of the day.
pub(crate) fn provisioned(s: &Scenario, scale: f64) -> Option<(usize, f64, f64, f64)> {
    let t = s.tickets.as_ref()?;
    let open = f64::from(t.on_sale.seconds());
    let to = open + (t.arrival_minutes + t.stay_max_minutes) * 60.0;
    Some((s.lane_index(&t.lane)?, open, to, t.provisioned_rps * scale))
}

/// Devices of `fleet` at `scale` (0 when the scenario has no such fleet).
pub(crate) fn fleet_devices(s: &Scenario, fleet: Fleet, scale: f64) -> u32 {
    match fleet {
        Fleet::Vacuums => s.vacuums.as_ref().map_or(0, |v| scaled(v.devices, scale)),
        Fleet::Streaming => s.streaming.as_ref().map_or(0, |v| {
            scaled(v.streams_end, scale).max(scaled(v.streams_start, scale))
        }),
        Fleet::Tickets => s.tickets.as_ref().map_or(0, |v| scaled(v.fans, scale)),
        Fleet::Clients => s
            .clients
            .as_ref()
            .map_or(0, |v| scaled(v.senders, scale).max(1)),
    }
}

#[cfg(test)]
mod tests;
