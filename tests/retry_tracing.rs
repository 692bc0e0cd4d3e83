//! The retry layer reports its decisions as `tracing` events.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use failsoft::retry::RetryLayer;
use support::{Reply, Script};
use tower::{Layer, Service};

/// Collects formatted events in memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn retries_and_give_ups_are_traced_with_fields() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let script = Script::new([Reply::Err("reset")]);
    let mut svc = RetryLayer::builder()
        .max_attempts(2)
        .seed(5)
        .build()
        .unwrap()
        .layer(script);
    assert!(svc.call("x").await.is_err());

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let scheduled: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("retry scheduled"))
        .collect();
    assert_eq!(scheduled.len(), 1, "{log}");
    assert!(scheduled[0].contains("attempt=2"), "{log}");
    assert!(scheduled[0].contains("kind=\"error\""), "{log}");
    assert!(scheduled[0].contains("delay_ms="), "{log}");
    let gave_up: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("retry gave up"))
        .collect();
    assert_eq!(gave_up.len(), 1, "{log}");
    assert!(gave_up[0].contains("reason=attempts_exhausted"), "{log}");
}
