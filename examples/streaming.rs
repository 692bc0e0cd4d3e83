//! A fleet of streaming apps talking to `storm_server` over real HTTP on
//! loopback, through the failsoft stack or, with `--naive`, with fixed 1 s
//! retries (4 attempts, server hints ignored).
//!
//! The replay's streaming fleet (`failsoft-sim/src/fleet`), on one server: streams
//! grow from 9/16 of `--streams` at 07:00 to all of them at 21:00. Each
//! playing stream sends a heartbeat (`GET /heartbeat`) every 60 simulated
//! seconds and refreshes its token (`GET /entitlement`) every 900; a new
//! stream starts with an entitlement check. A failed heartbeat is
//! coalesced into the next and playback goes on (soft). A failed
//! entitlement check or refresh falls back on the device's cached
//! entitlement if it has one (soft): streams playing at 07:00 have one, a
//! new session has one with probability `--cached` (0.7), and any
//! successful check grants one. Without it the user sees an error (hard).
//! A naive app has no fallback: every failure is hard.
//!
//! ```sh
//! cargo run --example storm_server -- --port 8080 &
//! cargo run --features http --example streaming -- --url http://127.0.0.1:8080/          # or add --naive
//! ```
//!
//! As in `vacuum`, client timings stay in real seconds while the day is
//! compressed. Shared parts: `examples/fleet/mod.rs`.

#[path = "fleet/mod.rs"]
mod fleet;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use failsoft::BoxError;
use fleet::{Common, Fleet, Outcome, every};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Run a streaming fleet against storm_server.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: Common,
    /// Streams playing at 21:00 (40 send heartbeats at about 56 % of a
    /// 1,000/s server; the replay's core lane peaks at 58 %).
    #[arg(long, default_value_t = 40)]
    streams: u32,
    /// Share of new sessions that can start from a cached entitlement.
    #[arg(long, default_value_t = 0.7)]
    cached: f64,
}

/// One stream: whether it holds a cached entitlement.
struct Stream {
    fleet: Fleet,
    cached: AtomicBool,
}

impl Stream {
    /// An entitlement check (session start or token refresh).
    async fn entitlement(&self) {
        let Some(req) = self.fleet.request("entitlement", |c, url| c.get(url)) else {
            return;
        };
        let cached = self.cached.load(Ordering::Relaxed);
        if self.fleet.send(req, cached).await == Outcome::Ok {
            self.cached.store(true, Ordering::Relaxed);
        }
    }

    /// A heartbeat: coalesced into the next one if it fails.
    async fn heartbeat(&self) {
        if let Some(req) = self.fleet.request("heartbeat", |c, url| c.get(url)) {
            self.fleet.send(req, true).await;
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let fleet = Fleet::new(&args.common)?;
    let day = fleet.day;
    let (heartbeat, refresh) = (day.real(60.0), day.real(900.0));
    let initial = args.streams * 9 / 16;
    let mut rng = SmallRng::seed_from_u64(args.common.seed);
    for d in 0..args.streams {
        // Streams playing at 07:00 hold an entitlement; the others start
        // evenly through the day.
        let playing = d < initial;
        let starts = if playing {
            day.at_hour(7.0)
        } else {
            let k = f64::from(d - initial) + rng.random::<f64>();
            day.at_hour(7.0 + 14.0 * k / f64::from(args.streams - initial).max(1.0))
        };
        let stream = Arc::new(Stream {
            fleet: fleet.clone(),
            cached: AtomicBool::new(playing || rng.random_bool(args.cached.clamp(0.0, 1.0))),
        });
        let (hb_phase, rf_phase) = (
            heartbeat.mul_f64(rng.random::<f64>()),
            refresh.mul_f64(rng.random::<f64>()),
        );
        tokio::spawn(async move {
            tokio::time::sleep_until(starts).await;
            if !playing {
                stream.entitlement().await;
            }
            let s = Arc::clone(&stream);
            every(starts + hb_phase, heartbeat, day.end(), move || {
                let s = Arc::clone(&s);
                async move { s.heartbeat().await }
            });
            every(starts + rf_phase, refresh, day.end(), move || {
                let s = Arc::clone(&stream);
                async move { s.entitlement().await }
            });
        });
    }
    fleet.report("streaming fleet").await;
    Ok(())
}
