//! The rate-limit case of issue 12 on a real wire: a hyper server on
//! 127.0.0.1 admits about 200 requests/s (a token bucket, burst one second)
//! and answers the excess at once with `503` + `Retry-After: 1`. Each
//! client in turn, against a fresh server, gets 1,000 logical requests/s
//! for 20 s (open loop), then 100/s for 20 s.
//!
//! ```text
//! cargo run --release --example rate_limit
//! cargo run --release --example rate_limit -- --overload-secs 5 --recovery-secs 8 --client failsoft
//! ```
//!
//! Prints one Markdown row per client: attempts at the server ÷ logical
//! requests; the server's `200`s per second until the load drops (with the
//! initial burst) and their share of what it would have admitted; the
//! share of requests after the drop that succeeded, overall and from the
//! 5th second on; and requests left unanswered within the patience.

#[path = "../tests/support/wire/mod.rs"]
mod wire;

use std::time::Duration;

use clap::Parser;
use wire::{Figures, Kind, Limit, Phase, Plan};

/// Five clients against a rate-limited server on loopback.
#[derive(Debug, Parser)]
struct Args {
    /// Requests per second the server admits (burst: one second's worth).
    #[arg(long, default_value_t = 200.0)]
    allowed: f64,
    /// Logical requests per second during overload.
    #[arg(long, default_value_t = 1000.0)]
    overload_rate: f64,
    /// Seconds of overload.
    #[arg(long, default_value_t = 20.0)]
    overload_secs: f64,
    /// Logical requests per second after the drop.
    #[arg(long, default_value_t = 100.0)]
    recovery_rate: f64,
    /// Seconds after the drop.
    #[arg(long, default_value_t = 20.0)]
    recovery_secs: f64,
    /// Seconds a caller waits for an answer before it counts as failed
    /// (the stack's default deadline is 10 s).
    #[arg(long, default_value_t = 10.0)]
    patience: f64,
    /// For the AWS adaptive client: seconds into a clock second at which
    /// its limiter's clock starts (botocore's runs on the Unix clock; the
    /// phase decides when its first 0.5 s measuring bucket closes).
    #[arg(long, default_value_t = 0.0)]
    adaptive_clock_phase: f64,
    /// Clients to run (repeat or comma-separate); default: all five.
    #[arg(long, value_delimiter = ',')]
    client: Vec<Which>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Which {
    NoRetry,
    Naive,
    Tower,
    Failsoft,
    AwsAdaptive,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    for (name, value) in [
        ("--allowed", args.allowed),
        ("--overload-rate", args.overload_rate),
        ("--overload-secs", args.overload_secs),
        ("--recovery-rate", args.recovery_rate),
        ("--recovery-secs", args.recovery_secs),
        ("--patience", args.patience),
    ] {
        if !(value.is_finite() && value > 0.0 && value <= 1e6) {
            return Err(format!("{name} must be above 0 and at most 1e6, got {value}").into());
        }
    }
    if !(0.0..1.0).contains(&args.adaptive_clock_phase) {
        return Err(format!(
            "--adaptive-clock-phase must be in [0, 1), got {}",
            args.adaptive_clock_phase
        )
        .into());
    }
    let phase_ms = (args.adaptive_clock_phase * 1000.0).round() as u16;
    let which: Vec<Which> = if args.client.is_empty() {
        Which::ALL.to_vec()
    } else {
        args.client.clone()
    };
    let kinds: Vec<Kind> = which.iter().map(|w| w.kind(phase_ms)).collect();
    let plan = Plan {
        overload: Phase {
            rate: args.overload_rate,
            secs: args.overload_secs,
        },
        recovery: Phase {
            rate: args.recovery_rate,
            secs: args.recovery_secs,
        },
        patience: Duration::from_secs_f64(args.patience),
    };
    let limit = Limit::per_second(args.allowed);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    eprintln!(
        "server admits {:.0}/s; load {:.0}/s for {:.0} s, then {:.0}/s for {:.0} s",
        args.allowed,
        args.overload_rate,
        args.overload_secs,
        args.recovery_rate,
        args.recovery_secs
    );
    let mut rows = Vec::new();
    for kind in kinds {
        eprintln!("running: {kind}");
        let figures = runtime.block_on(wire::measure(kind, limit, &plan));
        eprintln!("{figures}");
        rows.push(figures);
    }
    println!("{}", Figures::header());
    for row in &rows {
        println!("{row}");
    }
    for row in &rows {
        if let Some(c) = &row.counters {
            println!(
                "\n{}: its own counters say {} attempts for {} requests ({:.2}); the server saw {}. \
                 Given up: {} local rejections, {} budget; {} Retry-After hints honoured.",
                row.kind,
                c.attempts,
                c.requests,
                c.amplification().unwrap_or(0.0),
                row.attempts,
                c.give_ups.local_rejection,
                c.give_ups.budget,
                c.hints_honoured,
            );
        }
    }
    Ok(())
}

impl Which {
    const ALL: [Which; 5] = [
        Which::NoRetry,
        Which::Naive,
        Which::Tower,
        Which::Failsoft,
        Which::AwsAdaptive,
    ];

    fn kind(self, clock_phase_ms: u16) -> Kind {
        match self {
            Which::NoRetry => Kind::NoRetry,
            Which::Naive => Kind::Naive,
            Which::Tower => Kind::Tower,
            Which::Failsoft => Kind::Failsoft,
            Which::AwsAdaptive => Kind::AwsAdaptive { clock_phase_ms },
        }
    }
}
