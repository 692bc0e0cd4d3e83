//! A fleet of robot vacuums checking in with `storm_server` over real HTTP
//! on loopback, through the failsoft stack or, with `--naive`, with fixed
//! 1 s retries (4 attempts, server hints ignored).
//!
//! Each device checks in (`GET /schedule`) every 300 simulated seconds
//! (07:00–21:00 compressed into `--seconds`, as the server does), at its
//! own phase. A failsoft device whose check-in fails keeps cleaning on its
//! cached schedule (soft); a naive one reports an error (hard). Every 5 s
//! the fleet prints requests, attempts sent, and ok / soft / hard.
//!
//! ```sh
//! cargo run --example storm_server -- --port 8080 &
//! cargo run --features http --example vacuum -- --url http://127.0.0.1:8080/            # failsoft
//! cargo run --example storm_server -- --port 8081 &
//! cargo run --features http --example vacuum -- --url http://127.0.0.1:8081/ --naive    # naive
//! ```
//!
//! Timings on the client side (timeouts, backoff, `Retry-After`) stay in
//! real seconds while the day is compressed, so this shows the shape of a
//! storm, not the replay's figures (`cargo run --release --example dec7`).
//! The fleet's shared parts are in `examples/fleet/mod.rs`.

#[path = "fleet/mod.rs"]
mod fleet;

use clap::Parser;
use failsoft::BoxError;
use fleet::{Common, Fleet, every};

/// Run a vacuum fleet against storm_server.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: Common,
    /// Devices in the fleet (200 check in at about 56 % of a 1,000/s
    /// server, the edge lane's normal load).
    #[arg(long, default_value_t = 200)]
    devices: u64,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let fleet = Fleet::new(&args.common)?;
    let period = fleet.day.real(300.0);
    let start = tokio::time::Instant::now();
    for device in 0..args.devices {
        let phase = period.mul_f64(device as f64 / args.devices as f64);
        let fleet2 = fleet.clone();
        every(start + phase, period, fleet.day.end(), move || {
            let fleet = fleet2.clone();
            async move {
                if let Some(req) = fleet.request("schedule", |c, url| c.get(url)) {
                    // Fallback: the cached schedule.
                    fleet.send(req, true).await;
                }
            }
        });
    }
    fleet.report("vacuum fleet").await;
    Ok(())
}
