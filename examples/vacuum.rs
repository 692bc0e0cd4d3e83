//! A fleet of robot vacuums checking in with `storm_server` over real HTTP
//! on loopback, through the failsoft stack or, with `--naive`, with fixed
//! 1 s retries (4 attempts, server hints ignored).
//!
//! Each device checks in every 300 simulated seconds (07:00–21:00
//! compressed into `--seconds`, as the server does), at its own phase. A
//! failsoft device whose check-in fails keeps cleaning on its cached
//! schedule (a soft outcome); a naive one reports an error (hard). Every
//! 5 s the fleet prints check-ins, attempts sent, and ok / soft / hard.
//!
//! ```sh
//! cargo run --release --example storm_server -- --port 8080 &
//! cargo run --release --example vacuum -- --url http://127.0.0.1:8080/          # failsoft
//! cargo run --release --example storm_server -- --port 8081 &
//! cargo run --release --example vacuum -- --url http://127.0.0.1:8081/ --naive  # naive
//! ```
//!
//! Timings on the client side (timeouts, backoff, `Retry-After`) stay in
//! real seconds while the day is compressed, so this shows the shape of a
//! storm, not the replay's figures (`cargo run --release --example dec7`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser;
use failsoft::BoxError;
use failsoft::fallback::FallbackReason;
use failsoft::stack::StackLayer;
use tower::util::BoxCloneService;
use tower::{Layer, ServiceExt};

/// Run a vacuum fleet against storm_server.
#[derive(Parser, Debug)]
struct Args {
    /// The storm_server URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080/")]
    url: String,
    /// Devices in the fleet.
    #[arg(long, default_value_t = 200)]
    devices: u64,
    /// Wall-clock seconds for 07:00–21:00, as given to storm_server.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Fixed 1 s retries, 4 attempts, hints ignored, no fallback.
    #[arg(long)]
    naive: bool,
}

#[derive(Default)]
struct Tally {
    checkins: AtomicU64,
    attempts: AtomicU64,
    ok: AtomicU64,
    soft: AtomicU64,
    hard: AtomicU64,
}

impl Tally {
    fn line(&self) -> [u64; 5] {
        [
            self.checkins.swap(0, Ordering::Relaxed),
            self.attempts.swap(0, Ordering::Relaxed),
            self.ok.swap(0, Ordering::Relaxed),
            self.soft.swap(0, Ordering::Relaxed),
            self.hard.swap(0, Ordering::Relaxed),
        ]
    }
}

fn cached() -> reqwest::Response {
    let res = http::Response::builder()
        .header("x-fallback", "cached schedule")
        .body("cached schedule")
        .expect("a valid response");
    reqwest::Response::from(res)
}

async fn naive(client: &reqwest::Client, url: &str, tally: &Tally) {
    for attempt in 0..4 {
        tally.attempts.fetch_add(1, Ordering::Relaxed);
        let res = client.get(url).timeout(Duration::from_secs(2)).send().await;
        if res.is_ok_and(|r| r.status().is_success()) {
            tally.ok.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if attempt < 3 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    tally.hard.fetch_add(1, Ordering::Relaxed);
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let url: reqwest::Url = args.url.parse()?;
    if !url
        .host_str()
        .is_some_and(|h| h == "127.0.0.1" || h == "localhost")
    {
        return Err("this example talks to loopback only".into());
    }
    let client = reqwest::Client::new();
    let stack = StackLayer::builder()
        .http()
        .on_failures(true)
        .fallback(|_: FallbackReason, _: BoxError| Ok(cached()))
        .seed(7)
        .build()?;
    let counters = stack.counters();
    // Boxed once so check-ins can be spawned (see "Spawning" in the
    // `stack` module docs: the fallback closure's `BoxError` argument
    // otherwise trips rustc issue #102211).
    let svc = BoxCloneService::new(stack.layer(client.clone()));
    let tally = Arc::new(Tally::default());
    // 300 simulated seconds of a 14-hour day compressed into `seconds`.
    let period = Duration::from_secs_f64(300.0 * args.seconds as f64 / (14.0 * 3600.0));
    let end = tokio::time::Instant::now() + Duration::from_secs(args.seconds);
    for device in 0..args.devices {
        let (client, svc, tally, url) =
            (client.clone(), svc.clone(), Arc::clone(&tally), url.clone());
        let phase = period.mul_f64(device as f64 / args.devices as f64);
        let naive_mode = args.naive;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            while tick.tick().await < end {
                tally.checkins.fetch_add(1, Ordering::Relaxed);
                let (client, svc, tally, url) =
                    (client.clone(), svc.clone(), Arc::clone(&tally), url.clone());
                // Devices do not wait for each other's check-ins.
                tokio::spawn(async move {
                    if naive_mode {
                        return naive(&client, url.as_str(), &tally).await;
                    }
                    let Ok(req) = client.get(url).build() else {
                        return;
                    };
                    match svc.oneshot(req).await {
                        Ok(res) if res.headers().contains_key("x-fallback") => &tally.soft,
                        Ok(res) if res.status().is_success() => &tally.ok,
                        _ => &tally.hard,
                    }
                    .fetch_add(1, Ordering::Relaxed);
                });
            }
        });
    }
    let mut report = tokio::time::interval(Duration::from_secs(5));
    report.tick().await;
    let mut last_attempts = 0;
    println!(
        "{}",
        if args.naive {
            "naive fleet"
        } else {
            "failsoft fleet"
        }
    );
    println!("   t  check-ins  attempts      ok    soft    hard");
    for step in 1.. {
        report.tick().await;
        let [checkins, mut attempts, ok, soft, hard] = tally.line();
        if !args.naive {
            let total = counters.snapshot().attempts;
            attempts = total - last_attempts;
            last_attempts = total;
        }
        println!(
            "{:>4}s {checkins:>9} {attempts:>9} {ok:>7} {soft:>7} {hard:>7}",
            step * 5
        );
        if tokio::time::Instant::now() >= end + Duration::from_secs(10) {
            break;
        }
    }
    Ok(())
}
