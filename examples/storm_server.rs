//! A backend on 127.0.0.1 whose capacity follows the 7 December 2021 edge
//! lane (DESIGN.md's scenario; the fractions are modelling assumptions),
//! with 07:00–21:00 compressed into `--seconds` (60 by default).
//!
//! Over capacity it answers 503 with `Retry-After: 1`; within capacity,
//! 200 "fresh schedule". Every 5 s it prints the simulated hour, the
//! capacity, and the attempts it served and refused.
//!
//! ```sh
//! cargo run --release --example storm_server -- --port 8080
//! cargo run --release --features http --example vacuum -- --url http://127.0.0.1:8080/ # another terminal
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// Serve a backend whose capacity replays the Dec 7 edge lane.
#[derive(Parser, Debug)]
struct Args {
    /// Port on 127.0.0.1 (0: any free port, printed at start).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Wall-clock seconds for 07:00–21:00 of the day.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Attempts per second served at full capacity.
    #[arg(long, default_value_t = 1000)]
    rps: u64,
}

/// Edge-lane capacity as a fraction of normal at a simulated hour (PST):
/// 0.20 from 07:30, 0.35 from 09:28, a ramp from 13:35 to 0.90 at 16:37,
/// 1.00 by 20:00 (DESIGN.md; step times from the AWS summary, fractions
/// assumed).
fn capacity(hour: f64) -> f64 {
    const RAMP: (f64, f64) = (13.0 + 35.0 / 60.0, 16.0 + 37.0 / 60.0);
    match hour {
        h if h < 7.5 => 1.0,
        h if h < 9.0 + 28.0 / 60.0 => 0.20,
        h if h < RAMP.0 => 0.35,
        h if h < RAMP.1 => 0.35 + 0.55 * (h - RAMP.0) / (RAMP.1 - RAMP.0),
        h if h < 20.0 => 0.90 + 0.10 * (h - RAMP.1) / (20.0 - RAMP.1),
        _ => 1.0,
    }
}

struct Lane {
    start: Instant,
    seconds: f64,
    rps: f64,
    /// Attempts admitted in the current 100 ms slot, tagged by slot number.
    slot: AtomicU64,
    served: AtomicU64,
    refused: AtomicU64,
}

impl Lane {
    fn hour(&self) -> f64 {
        7.0 + 14.0 * self.start.elapsed().as_secs_f64() / self.seconds
    }

    /// Admits one attempt if the current 100 ms slot has room.
    fn admit(&self) -> bool {
        let slot = (self.start.elapsed().as_millis() / 100) as u64;
        let room = (self.rps * capacity(self.hour()) / 10.0).round() as u64;
        let mut cur = self.slot.load(Ordering::Relaxed);
        loop {
            let (tag, used) = (cur >> 32, cur & 0xffff_ffff);
            let used = if tag == slot & 0xffff_ffff { used } else { 0 };
            if used >= room {
                return false;
            }
            let next = ((slot & 0xffff_ffff) << 32) | (used + 1);
            match self
                .slot
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }
}

async fn answer(
    lane: Arc<Lane>,
    _req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if lane.admit() {
        lane.served.fetch_add(1, Ordering::Relaxed);
        Ok(Response::new(Full::new(Bytes::from_static(
            b"fresh schedule",
        ))))
    } else {
        lane.refused.fetch_add(1, Ordering::Relaxed);
        let res = Response::builder()
            .status(503)
            .header("retry-after", "1")
            .body(Full::new(Bytes::from_static(b"busy")))
            .unwrap();
        Ok(res)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
    println!("storm_server on http://{}/", listener.local_addr()?);
    let lane = Arc::new(Lane {
        start: Instant::now(),
        seconds: args.seconds.max(1) as f64,
        rps: args.rps as f64,
        slot: AtomicU64::new(0),
        served: AtomicU64::new(0),
        refused: AtomicU64::new(0),
    });
    let report = Arc::clone(&lane);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.tick().await;
        loop {
            tick.tick().await;
            let (s, r) = (
                report.served.swap(0, Ordering::Relaxed),
                report.refused.swap(0, Ordering::Relaxed),
            );
            let hour = report.hour();
            println!(
                "{:02}:{:02}  capacity {:>4.0}%  served {:>6}  refused {:>6}",
                hour as u32,
                ((hour.fract()) * 60.0) as u32,
                capacity(hour) * 100.0,
                s,
                r
            );
        }
    });
    let end = Duration::from_secs(args.seconds.max(1) + 5);
    let serve = async {
        loop {
            let (stream, _) = listener.accept().await?;
            let lane = Arc::clone(&lane);
            tokio::spawn(async move {
                let svc = service_fn(move |req| answer(Arc::clone(&lane), req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    };
    tokio::select! {
        res = serve => res?,
        () = tokio::time::sleep(end) => println!("day over"),
    }
    Ok(())
}
