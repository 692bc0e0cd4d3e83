//! A device asks its backend for a cleaning schedule once a second. The
//! backend is down from t = 5 s to t = 40 s.
//!
//! What to look for: the breaker opens after 5 failures, the app shows
//! "degraded" (from the watch subscription) and serves the cached schedule
//! from the fallback without touching the network (failures before that
//! get the default schedule); probes go out at growing,
//! jittered intervals; once the backend is back, the breaker closes and
//! traffic ramps up. Runs on paused time, so it finishes at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::breaker::{Breaker, BreakerConfig, CircuitBreakerLayer, State};
use failsoft::fallback::{FallbackLayer, FallbackReason};
use tokio::time::{self, Instant};
use tower::{ServiceBuilder, ServiceExt, service_fn};

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> Result<(), BoxError> {
    let up = Arc::new(AtomicBool::new(true));
    let sent = Arc::new(AtomicU32::new(0));
    let backend = {
        let (up, sent) = (Arc::clone(&up), Arc::clone(&sent));
        service_fn(move |_: ()| {
            sent.fetch_add(1, Ordering::Relaxed);
            let ok = up.load(Ordering::Relaxed);
            async move {
                if ok {
                    Ok::<_, BoxError>("fresh schedule")
                } else {
                    Err("503 service unavailable".into())
                }
            }
        })
    };

    let breaker = Breaker::new(&BreakerConfig::builder().seed(7).build()?);
    let mut status = breaker.subscribe();
    let client = ServiceBuilder::new()
        .layer(
            FallbackLayer::new(|reason: FallbackReason, _err| {
                Ok(match reason {
                    FallbackReason::CircuitOpen(_) => "cached schedule",
                    _ => "default schedule",
                })
            })
            .on_failures(true),
        )
        .layer(CircuitBreakerLayer::with_handle(breaker.clone()))
        .service(backend);

    let start = Instant::now();
    for second in 0..80u64 {
        up.store(!(5..40).contains(&second), Ordering::Relaxed);
        let answer = client.clone().oneshot(()).await;
        if status.has_changed().unwrap_or(false) {
            let state = *status.borrow_and_update();
            let note = if state == State::Closed {
                "healthy"
            } else {
                "degraded"
            };
            println!(
                "t={second:>2}s  breaker {:<9} app shows: {note}",
                state.as_str()
            );
        }
        if second % 10 == 9 {
            println!(
                "t={second:>2}s  answer: {:<22} sent to backend so far: {}",
                format!("{answer:?}"),
                sent.load(Ordering::Relaxed)
            );
        }
        time::sleep_until(start + Duration::from_secs(second + 1)).await;
    }
    Ok(())
}
