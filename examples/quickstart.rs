//! The README quick start: a flaky backend behind a bounded, jittered,
//! deadline-aware retry layer. Runs on paused time, so it finishes at once.
//!
//! Look for: the reply arrives after 3 attempts, and the counters show the
//! amplification (attempts per logical request).
//!
//! Run: `cargo run --example quickstart`

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::retry::RetryLayer;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> Result<(), BoxError> {
    // A backend whose first two calls fail.
    let calls = Arc::new(AtomicU32::new(0));
    let backend = {
        let calls = Arc::clone(&calls);
        service_fn(move |device: &'static str| {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            async move {
                if n < 2 {
                    Err::<String, BoxError>("connection reset".into())
                } else {
                    Ok(format!("schedule for {device}"))
                }
            }
        })
    };

    // At most 3 attempts, full jitter, 5 s overall, 1 s per attempt.
    let retry = RetryLayer::builder()
        .max_attempts(3)
        .deadline(Duration::from_secs(5))
        .attempt_timeout(Duration::from_secs(1))
        .seed(7)
        .build()?;
    let counters = retry.counters();
    let mut client = ServiceBuilder::new().layer(retry).service(backend);

    let reply = client.ready().await?.call("vacuum-42").await?;
    assert_eq!(reply, "schedule for vacuum-42");

    let stats = counters.snapshot();
    assert_eq!(stats.attempts, 3);
    println!(
        "{reply}: {} attempts for {} request (amplification {:.1})",
        stats.attempts,
        stats.requests,
        stats.amplification().unwrap_or(1.0),
    );
    Ok(())
}
