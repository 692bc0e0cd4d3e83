//! The README quick start: a flaky cloud backend behind the recommended
//! failsoft stack. Runs on paused time, so it finishes at once.
//!
//! Look for: the first call succeeds on its second attempt; once the
//! breaker is open, the device gets its cached schedule at once instead of
//! an error, and the backend is not called.
//!
//! Run: `cargo run --example quickstart`

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::fallback::FallbackReason;
use failsoft::stack::StackLayer;
use tower::{Layer, Service, ServiceExt, service_fn};

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> Result<(), BoxError> {
    // A cloud backend whose first call fails.
    let calls = Arc::new(AtomicU32::new(0));
    let backend = {
        let calls = Arc::clone(&calls);
        service_fn(move |device: &'static str| {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            async move {
                if n == 0 {
                    Err::<String, BoxError>("connection reset".into())
                } else {
                    Ok(format!("fresh schedule for {device}"))
                }
            }
        })
    };

    // fallback → retry (3 attempts, full jitter, 10% budget, 5 s deadline)
    // → throttle → breaker → 1 s per attempt → backend.
    let stack = StackLayer::builder()
        .deadline(Duration::from_secs(5))
        .attempt_timeout(Duration::from_secs(1))
        .fallback(|reason: FallbackReason, _err| Ok(format!("cached schedule ({reason})")))
        .seed(7)
        .build()?;
    let counters = stack.counters();
    let breaker = stack.breaker().clone();
    let mut client = stack.layer(backend);

    let reply = client.ready().await?.call("vacuum-42").await?;
    assert_eq!(reply, "fresh schedule for vacuum-42");
    assert_eq!(counters.snapshot().attempts, 2);

    // The backend is drowning: the open breaker rejects locally and the
    // fallback answers; nothing reaches the network.
    breaker.force_open();
    let reply = client.ready().await?.call("vacuum-42").await?;
    assert_eq!(reply, "cached schedule (circuit open)");
    assert_eq!(calls.load(Ordering::Relaxed), 2);

    let stats = counters.snapshot();
    println!(
        "{reply}: {} attempts for {} requests (amplification {:.1})",
        stats.attempts,
        stats.requests,
        stats.amplification().unwrap_or(1.0),
    );
    Ok(())
}
