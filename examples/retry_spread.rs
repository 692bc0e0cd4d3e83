//! Retries spread and bounded: 1,000 devices lose their backend at the same
//! instant. The backend is down for 2 s, then healthy.
//!
//! Look for: without jitter every device retries in the same 100 ms slot
//! (the retry peak equals the fleet); with jitter the retry peak falls
//! several-fold. Jitter spreads load; it does not remove it: no device makes
//! more than 3 attempts, so amplification never passes 3, but only a budget
//! (see the budget module) brings it near 1. "served" counts devices whose
//! last attempt landed after the 2 s outage.
//!
//! Run: `cargo run --release --example retry_spread`
//! (paused time: the simulated seconds take milliseconds).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::backoff::{ExponentialBackoff, Jitter};
use failsoft::retry::RetryLayer;
use tokio::time::Instant;
use tower::{Layer, ServiceExt, service_fn};

const DEVICES: usize = 1_000;
const OUTAGE: Duration = Duration::from_secs(2);
const SLOT: Duration = Duration::from_millis(100);

struct Run {
    peak_per_slot: usize,
    attempts: u64,
    requests: u64,
    ok: usize,
}

async fn run(jitter: Jitter) -> Result<Run, BoxError> {
    let start = Instant::now();
    // Times of retries (attempts after a device's first).
    let retries: Arc<Mutex<(HashSet<usize>, Vec<Duration>)>> = Arc::default();
    let backend = {
        let retries = Arc::clone(&retries);
        service_fn(move |device: usize| {
            let at = Instant::now() - start;
            let mut seen = retries.lock().unwrap();
            if !seen.0.insert(device) {
                seen.1.push(at);
            }
            async move {
                if at < OUTAGE {
                    Err::<(), BoxError>("unavailable".into())
                } else {
                    Ok(())
                }
            }
        })
    };
    let backoff = ExponentialBackoff::builder()
        .base(Duration::from_secs(1))
        .max(Duration::from_secs(20))
        .jitter(jitter)
        .build()?;
    let layer = RetryLayer::builder()
        .max_attempts(3)
        .backoff(backoff)
        .seed(2021)
        .build()?;
    let counters = layer.counters();
    let tasks: Vec<_> = (0..DEVICES)
        .map(|device| {
            let svc = layer.layer(backend.clone());
            tokio::spawn(svc.oneshot(device))
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        ok += usize::from(task.await?.is_ok());
    }
    let mut per_slot = std::collections::BTreeMap::<u128, usize>::new();
    for at in retries.lock().unwrap().1.iter() {
        *per_slot.entry(at.as_nanos() / SLOT.as_nanos()).or_default() += 1;
    }
    let snap = counters.snapshot();
    Ok(Run {
        peak_per_slot: per_slot.values().copied().max().unwrap_or(0),
        attempts: snap.attempts,
        requests: snap.requests,
        ok,
    })
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> Result<(), BoxError> {
    println!("{DEVICES} devices, backend down for {OUTAGE:?}, at most 3 attempts each\n");
    println!(
        "{:<12} {:>16} {:>10} {:>14} {:>9}",
        "jitter", "retry peak/100ms", "attempts", "amplification", "served"
    );
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        let r = run(jitter).await?;
        println!(
            "{:<12} {:>16} {:>10} {:>14.2} {:>9}",
            jitter.as_str(),
            r.peak_per_slot,
            r.attempts,
            r.attempts as f64 / r.requests as f64,
            r.ok,
        );
    }
    Ok(())
}
