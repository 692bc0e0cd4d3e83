//! A ticket on-sale against `storm_server` over real HTTP on loopback,
//! through the failsoft stack or, with `--naive`, with fixed 1 s retries
//! (4 attempts, server hints ignored).
//!
//! The replay's ticket fleet (`failsoft-sim/src/fleet`), on one server: the sale
//! opens at 10:00, in the middle of the outage; `--fans` arrive over the
//! next 10 simulated minutes, most of them at once, and stay 30 to 90
//! minutes. A fan first joins the queue (`POST /queue/join`, carrying an
//! `Idempotency-Key` so the stack may retry it), then polls the waiting
//! room (`GET /queue/<fan>`) every 10 simulated seconds. A failed join has
//! no fallback: the fan has no place in line and sees an error (hard), and
//! tries to join again at the next poll after it (one join at a time). Once in line, a failed poll keeps
//! the place with the last ETA (soft). A naive client has no fallback:
//! every failure is hard.
//!
//! ```sh
//! cargo run --example storm_server -- --port 8080 &
//! cargo run --features http --example tickets -- --url http://127.0.0.1:8080/           # or add --naive
//! ```
//!
//! As in `vacuum`, client timings stay in real seconds while the day is
//! compressed. Shared parts: `examples/fleet/mod.rs`.

#[path = "fleet/mod.rs"]
mod fleet;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use clap::Parser;
use failsoft::BoxError;
use fleet::{Common, Fleet, Outcome, every};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Run a ticket on-sale against storm_server.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: Common,
    /// Fans in the waiting room. A 10 s poll is 12 ms of the compressed
    /// day, so 12 fans poll about 1,000 times a second: a 1,000/s server's
    /// full capacity, five times what is left of it at 10:00.
    #[arg(long, default_value_t = 12)]
    fans: u32,
}

/// One fan: whether they hold a place in line.
struct Fan {
    fleet: Fleet,
    id: u32,
    key: String,
    in_line: AtomicBool,
    /// A join is in flight: the fan's page is loading, no second join.
    joining: AtomicBool,
    /// When the fan arrived, and when they got a place in line.
    arrived: tokio::time::Instant,
    joined: Mutex<Option<tokio::time::Instant>>,
}

impl Fan {
    /// Joins the queue if not in line yet, else polls the waiting room.
    async fn poll(&self) {
        if !self.in_line.load(Ordering::Relaxed) {
            if self.joining.swap(true, Ordering::Relaxed) {
                return;
            }
            let join = self.fleet.request("queue/join", |c, url| {
                c.post(url)
                    .header("idempotency-key", self.key.as_str())
                    .body(format!("{{\"fan\":{}}}", self.id))
            });
            if let Some(req) = join
                && self.fleet.send(req, false).await == Outcome::Ok
            {
                self.in_line.store(true, Ordering::Relaxed);
                *self.joined.lock().unwrap() = Some(tokio::time::Instant::now());
            }
            self.joining.store(false, Ordering::Relaxed);
            return;
        }
        let path = format!("queue/{}", self.id);
        if let Some(req) = self.fleet.request(&path, |c, url| c.get(url)) {
            // Fallback: the place in line, with the last ETA.
            self.fleet.send(req, true).await;
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let fleet = Fleet::new(&args.common)?;
    let day = fleet.day;
    let poll = day.real(10.0);
    let mut rng = SmallRng::seed_from_u64(args.common.seed);
    let mut fans = Vec::new();
    for id in 0..args.fans {
        // Front-loaded arrivals, as in the replay.
        let u: f64 = rng.random();
        let arrive = day.at_hour(10.0 + 10.0 / 60.0 * u * u);
        let stay = day.real(rng.random_range(30.0..=90.0) * 60.0);
        let fan = Arc::new(Fan {
            fleet: fleet.clone(),
            id,
            key: format!("fan-{}-{id}", args.common.seed),
            in_line: AtomicBool::new(false),
            joining: AtomicBool::new(false),
            arrived: arrive,
            joined: Mutex::new(None),
        });
        fans.push(Arc::clone(&fan));
        let leave = (arrive + stay).min(day.end());
        every(arrive, poll, leave, move || {
            let fan = Arc::clone(&fan);
            async move { fan.poll().await }
        });
    }
    fleet.report("ticket fans").await;
    // Per fan: did they get a place in line, and how long after arriving
    // (in simulated minutes).
    let minute = day.real(60.0).as_secs_f64();
    let mut waits: Vec<f64> = fans
        .iter()
        .filter_map(|f| {
            let joined = (*f.joined.lock().unwrap())?;
            Some(joined.saturating_duration_since(f.arrived).as_secs_f64() / minute)
        })
        .collect();
    waits.sort_by(f64::total_cmp);
    let median = waits.get(waits.len() / 2).copied().unwrap_or(f64::NAN);
    let worst = waits.last().copied().unwrap_or(f64::NAN);
    println!(
        "fans in line {} of {}; simulated minutes from arrival to a place: median {median:.1}, worst {worst:.1}",
        waits.len(),
        fans.len()
    );
    Ok(())
}
