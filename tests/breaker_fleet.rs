//! A fleet of 1,000 devices, each with its own breaker, against one backend
//! that is down until t0 and healthy after.
//!
//! Every device makes one request per second (at its own phase) and keeps
//! up to a minute of requests it could not send ("report later"), sending
//! them as soon as its breaker lets it. The pure breakers are driven over
//! simulated seconds with explicit `now` values; attempts that reach the
//! backend are counted per second.
//!
//! With jittered, growing open times and a ramp-up after closing, the peak
//! attempts in any second after t0 stay within a small multiple of the
//! steady rate. With fixed open times and no ramp-up, the devices probe in
//! lockstep, all close in the same second and stampede the backend.
//!
//! In this model the jittered open times do most of the work: the ramp-up
//! limits the *share* of calls admitted, not their rate, so a device that
//! drains its backlog in a tight loop still sends bursts once admitted
//! (fixed open times with ramp-up alone measured about 43x here).

use std::time::Duration;

use failsoft::backoff::{ExponentialBackoff, Jitter};
use failsoft::breaker::{Breaker, BreakerConfig, State};
use failsoft::classify::{FailureKind, Outcome};
use tokio::time::Instant;

const DEVICES: usize = 1_000;
const BACKLOG_CAP: u32 = 60;
const RECOVERS_AT: u64 = 600;
const END: u64 = 900;

struct Run {
    /// Attempts that reached the backend, per simulated second.
    attempts: Vec<u64>,
    /// Devices whose breaker was closed at the end.
    closed_at_end: usize,
    /// Requests still queued at the end.
    backlog_at_end: u64,
}

impl Run {
    /// Peak attempts in one second after t0, divided by the steady rate
    /// (one request per device per second).
    fn stampede_factor(&self) -> f64 {
        let peak = self.attempts[RECOVERS_AT as usize..]
            .iter()
            .max()
            .copied()
            .unwrap_or(0);
        peak as f64 / DEVICES as f64
    }
}

fn simulate(cfg: &BreakerConfig) -> Run {
    let breakers: Vec<Breaker> = (0..DEVICES).map(|_| Breaker::new(cfg)).collect();
    let mut backlog = vec![0u32; DEVICES];
    let mut attempts = vec![0u64; END as usize];
    let start = Instant::now();
    for second in 0..END {
        let backend_up = second >= RECOVERS_AT;
        for (device, breaker) in breakers.iter().enumerate() {
            // Devices tick at evenly spread phases within each second.
            let phase = Duration::from_micros((device * 1_000_000 / DEVICES) as u64);
            let now = start + Duration::from_secs(second) + phase;
            backlog[device] = (backlog[device] + 1).min(BACKLOG_CAP);
            while backlog[device] > 0 {
                let Ok(permit) = breaker.try_acquire_at(now) else {
                    break; // rejected locally: keep it for later
                };
                attempts[second as usize] += 1;
                if backend_up {
                    breaker.record_at(permit, Outcome::Success, now);
                    backlog[device] -= 1;
                } else {
                    breaker.record_at(permit, Outcome::Retryable(FailureKind::Error), now);
                    break;
                }
            }
        }
    }
    Run {
        attempts,
        closed_at_end: breakers
            .iter()
            .filter(|b| b.state() == State::Closed)
            .count(),
        backlog_at_end: backlog.iter().map(|&b| u64::from(b)).sum(),
    }
}

fn open_backoff(jitter: Jitter) -> ExponentialBackoff {
    ExponentialBackoff::builder()
        .base(Duration::from_secs(5))
        .multiplier(2.0)
        .max(Duration::from_secs(60))
        .jitter(jitter)
        .build()
        .unwrap()
}

#[test]
fn jittered_reopening_and_ramp_up_avoid_a_stampede() {
    let cfg = BreakerConfig::builder()
        .open_backoff(open_backoff(Jitter::Equal))
        .ramp_up(Duration::from_secs(10))
        .seed(2021)
        .build()
        .unwrap();
    let run = simulate(&cfg);
    let factor = run.stampede_factor();
    eprintln!("stampede factor {factor:.2}");
    assert!(
        factor <= 3.0,
        "peak after recovery is {factor:.2}x the steady rate"
    );
    // The fleet does recover: every breaker closes and the backlog drains.
    assert_eq!(run.closed_at_end, DEVICES);
    assert!(
        run.backlog_at_end <= DEVICES as u64,
        "backlog left: {}",
        run.backlog_at_end
    );
    // While the backend is down, the breakers cut load well below steady.
    let outage = &run.attempts[120..RECOVERS_AT as usize];
    let outage_peak = outage.iter().max().copied().unwrap_or(0);
    assert!(
        outage_peak < DEVICES as u64 / 5,
        "outage peak {outage_peak}"
    );
}

#[test]
fn fixed_reopen_times_without_ramp_up_stampede() {
    let cfg = BreakerConfig::builder()
        .open_backoff(open_backoff(Jitter::None))
        .without_ramp_up()
        .seed(2021)
        .build()
        .unwrap();
    let run = simulate(&cfg);
    let factor = run.stampede_factor();
    eprintln!("stampede factor {factor:.2}");
    assert!(
        factor >= 10.0,
        "expected a stampede, peak only {factor:.2}x"
    );
    assert_eq!(run.closed_at_end, DEVICES);
}
