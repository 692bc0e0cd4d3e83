//! The replay's terminal table, written for a first reading: a verdict per
//! fleet, what the windows are, the rows that carry traffic, and a key to
//! the columns. The full table (every row) is one call away.

use std::fmt::{self, Write as _};

use super::metrics::{RECOVERED, SUSTAINED};
use super::report::{Report, Row, WindowNote, opt};

/// The strategy the verdict holds up as the baseline.
const BASELINE: &str = "naive";
/// The strategy the verdict compares with it.
const CANDIDATE: &str = "failsoft";

/// The source tags a window description may carry, and what they mean
/// (the scenario's [`Source`](crate::Source)s).
const TAGS: [(&str, &str); 4] = [
    ("[P]", "primary source"),
    ("[S]", "secondary source"),
    ("[R]", "remembered, not verified"),
    ("[A]", "modelling assumption"),
];

/// A [`Report`] as a terminal table; see [`Report::table`].
///
/// By default it leaves out rows without requests (a fleet that sent
/// nothing in a window); [`full`](Table::full) keeps every row.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    report: &'a Report,
    full: bool,
    hint: Option<&'a str>,
}

/// One strategy's figures over a whole fleet, for the verdict.
#[derive(Debug, Clone, PartialEq)]
struct Summary {
    /// Attempts per user action over the day.
    amplification: Option<f64>,
    /// The lowest goodput of any window with requests.
    worst_goodput: Option<f64>,
    /// The slowest recovery in seconds: `Some(None)` when a window never
    /// recovered, `None` when no window had a recovery to measure.
    slowest_recovery: Option<Option<u64>>,
    /// Whether every recovery is the minutes measure (the table's
    /// `recover`) rather than the seconds one (the recovery table's).
    in_minutes: bool,
}

// === impl Table ===

impl<'a> Table<'a> {
    pub(crate) const fn new(report: &'a Report) -> Self {
        Self {
            report,
            full: false,
            hint: None,
        }
    }

    /// Every row, with or without requests (`true`), or only the rows with
    /// requests (`false`, the default).
    #[must_use]
    pub const fn full(mut self, full: bool) -> Self {
        self.full = full;
        self
    }

    /// Text appended to the note that counts the rows left out, such as
    /// how to see them.
    #[must_use]
    pub const fn full_hint(mut self, hint: &'a str) -> Self {
        self.hint = Some(hint);
        self
    }

    fn shows(&self, row: &Row) -> bool {
        self.full || row.requests > 0
    }
}

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.report;
        writeln!(
            f,
            "seed {}  scale {}  devices {}",
            r.seed, r.scale, r.devices
        )?;
        writeln!(f)?;
        verdict(f, r)?;
        writeln!(f)?;
        windows(f, &r.windows)?;
        writeln!(f)?;
        rows(f, r.rows.iter().filter(|row| self.shows(row)))?;
        let hidden = r.rows.iter().filter(|row| !self.shows(row)).count();
        if hidden > 0 {
            write!(f, "\n{hidden} rows with no requests left out")?;
            match self.hint {
                Some(hint) => writeln!(f, " ({hint})")?,
                None => writeln!(f)?,
            }
        }
        writeln!(f)?;
        key(f)
    }
}

// === impl Summary ===

impl Summary {
    fn of(report: &Report, fleet: &str, strategy: &str) -> Option<Self> {
        let rows: Vec<&Row> = report
            .rows
            .iter()
            .filter(|r| r.fleet == fleet && r.strategy == strategy)
            .collect();
        if rows.is_empty() {
            return None;
        }
        let requests: u64 = rows.iter().map(|r| r.requests).sum();
        let attempts: u64 = rows.iter().map(|r| r.attempts).sum();
        let amplification = (requests > 0).then(|| attempts as f64 / requests as f64);
        let worst_goodput = rows
            .iter()
            .filter(|r| r.requests > 0)
            .filter_map(|r| r.goodput_ratio)
            .reduce(f64::min);
        let recoveries: Vec<(Option<u64>, bool)> = rows
            .iter()
            .filter(|r| r.requests > 0)
            .filter_map(|r| recovery(report, r))
            .collect();
        let slowest_recovery = recoveries
            .iter()
            .map(|&(s, _)| s)
            .reduce(|a, b| a.zip(b).map(|(a, b)| a.max(b)));
        Some(Self {
            amplification,
            worst_goodput,
            slowest_recovery,
            in_minutes: recoveries.iter().all(|&(_, minutes)| minutes),
        })
    }

    fn recovery(&self) -> String {
        match self.slowest_recovery {
            None => "-".to_owned(),
            Some(None) => "never".to_owned(),
            Some(Some(s)) if self.in_minutes => format!("{} min", s / 60),
            Some(Some(s)) => format!("{s} s"),
        }
    }
}

/// The recovery of `row` in seconds (`None` inside: never), and whether
/// it is the minutes measure; `None` when there is none to measure. A
/// window too short for the minutes measure (capacity keeping up for
/// [`SUSTAINED`] minutes, then [`RECOVERED`] minutes of goodput) is judged
/// by the seconds measure: from when capacity returned.
fn recovery(report: &Report, row: &Row) -> Option<(Option<u64>, bool)> {
    let minutes = report
        .windows
        .iter()
        .find(|w| w.name == row.window)
        .is_none_or(|w| w.to.minutes() - w.from.minutes() >= (SUSTAINED + RECOVERED) as u32);
    if minutes {
        row.capacity_sufficed_at.as_ref()?;
        Some((row.recovery_minutes.map(|m| m * 60), true))
    } else {
        row.capacity_returned_at.as_ref()?;
        Some((row.recovery_s, false))
    }
}

/// Joins one figure of the baseline and the candidate, either of which
/// may be missing.
fn pair(a: Option<&Summary>, b: Option<&Summary>, show: impl Fn(&Summary) -> String) -> String {
    match (a.map(&show), b.map(&show)) {
        (Some(a), Some(b)) => format!("{a} -> {b}"),
        (Some(x), None) | (None, Some(x)) => x,
        (None, None) => "-".to_owned(),
    }
}

fn verdict(f: &mut fmt::Formatter<'_>, report: &Report) -> fmt::Result {
    let mut fleets: Vec<&str> = report.rows.iter().map(|r| r.fleet).collect();
    fleets.dedup();
    let mut lines = Vec::new();
    for fleet in fleets {
        let naive = Summary::of(report, fleet, BASELINE);
        let failsoft = Summary::of(report, fleet, CANDIDATE);
        let who = match (&naive, &failsoft) {
            (Some(_), Some(_)) => format!("{BASELINE} -> {CANDIDATE}"),
            (Some(_), None) => BASELINE.to_owned(),
            (None, Some(_)) => CANDIDATE.to_owned(),
            (None, None) => continue,
        };
        let (a, b) = (naive.as_ref(), failsoft.as_ref());
        lines.push(format!(
            "  {fleet:<10} {who}: {} attempts per action, goodput {} (worst window), recovery {}",
            pair(a, b, |s| opt(s.amplification, 2)),
            pair(a, b, |s| opt(s.worst_goodput, 2)),
            pair(a, b, Summary::recovery),
        ));
    }
    if lines.is_empty() {
        return writeln!(
            f,
            "verdict: none (it compares the {BASELINE} and {CANDIDATE} strategies; neither was replayed)"
        );
    }
    writeln!(
        f,
        "verdict per fleet, {BASELINE} clients -> the {CANDIDATE} stack (attempts over the day, goodput and recovery at their worst):"
    )?;
    lines.iter().try_for_each(|l| writeln!(f, "{l}"))
}

fn windows(f: &mut fmt::Formatter<'_>, notes: &[WindowNote]) -> fmt::Result {
    writeln!(f, "windows (times of day):")?;
    let width = notes.iter().map(|w| w.name.len()).max().unwrap_or(0);
    for w in notes {
        let span = format!("{}-{}", w.from, w.to);
        let line = format!(
            "  {:<width$}  {span:<11}  {}",
            w.name,
            w.description.as_deref().unwrap_or("")
        );
        writeln!(f, "{}", line.trim_end())?;
    }
    let tags: Vec<String> = TAGS
        .iter()
        .filter(|(tag, _)| {
            notes
                .iter()
                .any(|w| w.description.as_deref().is_some_and(|d| d.contains(tag)))
        })
        .map(|(tag, what)| format!("{tag} {what}"))
        .collect();
    if !tags.is_empty() {
        writeln!(f, "  sources: {}", tags.join(", "))?;
    }
    Ok(())
}

fn rows<'r>(f: &mut fmt::Formatter<'_>, rows: impl Iterator<Item = &'r Row>) -> fmt::Result {
    let head = format!(
        "{:<10} {:<28} {:<3} {:>9} {:>9} {:>6} {:>6} {:>7} {:>6} {:>8} {:>8} {:>8} {:>7} {:>6} {:>7}",
        "fleet",
        "strategy",
        "win",
        "requests",
        "attempts",
        "amp",
        "peak",
        "goodput",
        "waste",
        "ok",
        "soft",
        "hard",
        "hard@ok",
        "t_ok",
        "recover"
    );
    writeln!(f, "{head}")?;
    writeln!(f, "{}", "-".repeat(head.len()))?;
    let mut last = "";
    for r in rows {
        if !last.is_empty() && last != r.fleet {
            writeln!(f)?;
        }
        last = r.fleet;
        let mut line = String::new();
        let _ = write!(
            line,
            "{:<10} {:<28} {:<3} {:>9} {:>9} {:>6} {:>6} {:>7} {:>6} {:>8} {:>8} {:>8} {:>7} {:>6} {:>7}",
            r.fleet,
            r.strategy,
            r.window,
            r.requests,
            r.attempts,
            opt(r.amplification, 2),
            opt(r.peak_offered_over_capacity, 2),
            opt(r.goodput_ratio, 2),
            opt(r.wasted_share, 2),
            r.ok,
            r.soft,
            r.hard,
            r.hard_when_capacity_sufficed,
            r.capacity_sufficed_at.as_deref().unwrap_or("-"),
            match (&r.capacity_sufficed_at, r.recovery_minutes) {
                (None, _) => "-".to_owned(),
                (Some(_), None) => "never".to_owned(),
                (Some(_), Some(m)) => format!("{m} min"),
            },
        );
        writeln!(f, "{}", line.trim_end())?;
    }
    Ok(())
}

fn key(f: &mut fmt::Formatter<'_>) -> fmt::Result {
    const KEY: [&str; 5] = [
        "columns: amp = attempts reaching the backend per user action; peak = largest 1-minute load / the fleet's capacity;",
        "  goodput = answers in time / min(demand, capacity); waste = share of served work whose client had given up;",
        "  ok / soft / hard = user actions answered / answered by a fallback / failed; hard@ok = hard failures while capacity sufficed;",
        "  t_ok = first minute from which capacity kept up with demand for 30 minutes;",
        "  recover = minutes from t_ok to 10 minutes of goodput >= 95% of demand (never: not in the window).",
    ];
    KEY.iter().try_for_each(|l| writeln!(f, "{l}"))
}

#[cfg(test)]
mod tests;
