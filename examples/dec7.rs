//! Replays 7 December 2021 (us-east-1) against every client strategy.
//!
//! ```text
//! cargo run --release --example dec7
//! cargo run --release --example dec7 -- --scale 8 --strategy naive
//! cargo run --release --example dec7 -- --scenario seeds/brownout.toml
//! cargo run --release --example dec7 -- --full
//! ```
//!
//! Prints a verdict per fleet (naive clients against the failsoft stack),
//! what the report windows are, and a table per fleet, strategy and window
//! (rows with no requests only with `--full`); writes the JSON report
//! (every row) and the SVG chart. With `--scenario`, also prints the shortage and
//! recovery table (goodput while capacity was short, the stampede when it
//! returned, seconds to recover). What to look for: naive clients keep amplification
//! near their attempt cap long after capacity is back ("never" in the
//! recovery column); backoff and jitter alone defer the load but do not
//! remove it.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use failsoft_sim::{Engine, Fleet, RunOptions, Scenario, Strategy, chart_svg, replay};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

// The replay allocates and frees a task (and its aligned cell) per request;
// mimalloc's size-class caches do that several times faster than the
// system allocator's bins.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Replay 7 December 2021 against client strategies.
#[derive(Debug, Parser)]
struct Args {
    /// Seed of every random choice.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Multiplies devices and capacities (ratios stay the same); above
    /// zero, at most 10 million devices (1: 5,300 devices; 20: 106,000)
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    scale: f64,
    /// Scenario file (default: the built-in seeds/dec7-2021.toml).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Strategies to replay (repeat or comma-separate); default: all.
    #[arg(long, value_delimiter = ',')]
    strategy: Vec<String>,
    /// Fleets to simulate (others send nothing); default: all.
    #[arg(long, value_delimiter = ',')]
    fleet: Vec<String>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "target/dec7.json")]
    json: PathBuf,
    /// Where to write the SVG chart.
    #[arg(long, default_value = "target/dec7.svg")]
    svg: PathBuf,
    /// Print the full table: every row, also those of fleets that sent
    /// nothing in a window (the JSON report always has every row).
    #[arg(long)]
    full: bool,
    /// Turn server hints (Retry-After, do-not-retry) off.
    #[arg(long)]
    no_hints: bool,
    /// Strategies replayed in parallel (default: available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// What runs the layered strategies: the replay's own clock, or a
    /// paused Tokio runtime (a reference: about half as fast).
    #[arg(long, value_enum, default_value_t = EngineArg::Replay)]
    engine: EngineArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum EngineArg {
    Replay,
    Tokio,
}

fn parse<T>(
    names: &[String],
    what: &str,
    from: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, String> {
    names
        .iter()
        .map(|n| from(n).ok_or_else(|| format!("unknown {what} `{n}`")))
        .collect()
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let scenario = match &args.scenario {
        Some(path) => Scenario::load(path)?,
        None => Scenario::dec7_2021(),
    };
    let mut strategies = parse(&args.strategy, "strategy", Strategy::from_name)?;
    // `--strategy naive,naive` means naive once.
    strategies = strategies
        .iter()
        .enumerate()
        .filter(|&(i, s)| !strategies[..i].contains(s))
        .map(|(_, s)| *s)
        .collect();
    if strategies.is_empty() {
        strategies = Strategy::ALL.to_vec();
    }
    let opts = RunOptions {
        seed: args.seed,
        scale: args.scale,
        strategies,
        fleets: parse(&args.fleet, "fleet", Fleet::from_name)?,
        hints: !args.no_hints,
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        engine: match args.engine {
            EngineArg::Replay => Engine::Replay,
            EngineArg::Tokio => Engine::Tokio,
        },
    };
    // Checked before the progress bars appear: a bad scale is one line.
    opts.validate(&scenario)?;
    let minutes = u64::from(scenario.sim.end.minutes() - scenario.sim.start.minutes());
    let multi = MultiProgress::new();
    let style =
        ProgressStyle::with_template("{prefix:>30} [{bar:40}] {pos}/{len} simulated minutes")?
            .progress_chars("=> ");
    let bars: Vec<ProgressBar> = opts
        .strategies
        .iter()
        .map(|s| {
            let bar = multi.add(ProgressBar::new(minutes));
            bar.set_style(style.clone());
            bar.set_prefix(s.name());
            bar
        })
        .collect();
    let index = |s: Strategy| opts.strategies.iter().position(|x| *x == s).unwrap_or(0);
    // Outside a runtime, Tokio's clock is the real one: this measures wall time.
    let started = tokio::time::Instant::now();
    let report = replay(&scenario, &opts, &|s, m| {
        bars[index(s)].set_position(u64::from(m))
    })?;
    bars.iter().for_each(ProgressBar::finish);
    let elapsed = started.elapsed();
    println!(
        "{}",
        report
            .table()
            .full(args.full)
            .full_hint("`--full` prints every row")
    );
    // Shortage and recovery in seconds, for scenarios other than the
    // built-in day (whose default output stays as it was).
    if args.scenario.is_some() {
        println!("{}", report.recovery_table());
    }
    let attempts: u64 = report.rows.iter().map(|r| r.attempts).sum();
    println!(
        "{} strategies x {} devices, {attempts} simulated attempts in {:.1} s wall: {:.0} attempts per wall-second",
        opts.strategies.len(),
        report.devices,
        elapsed.as_secs_f64(),
        attempts as f64
            / elapsed
                .as_secs_f64()
                .max(Duration::from_millis(1).as_secs_f64()),
    );
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, report.to_json()?)?;
    if let Some(dir) = args.svg.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.svg, chart_svg(&report, &scenario)?)?;
    println!("wrote {} and {}", args.json.display(), args.svg.display());
    Ok(())
}
