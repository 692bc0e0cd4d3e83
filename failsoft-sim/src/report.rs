//! The replay's report: rows per fleet, strategy and window; a terminal
//! table; JSON.

use std::fmt;

use serde::Serialize;

use super::engine::Run;
use super::metrics::FleetSeries;
use super::record::Fleet;
use super::recovery::SecondSeries;
use super::scenario::{ClockTime, Scenario};
use super::table::Table;

/// The report of a replay.
///
/// # Examples
///
/// ```
/// use failsoft_sim::{replay, RunOptions, Scenario, Strategy};
///
/// let scenario = Scenario::dec7_2021();
/// let opts = RunOptions { scale: 0.01, strategies: vec![Strategy::Jitter], ..RunOptions::default() };
/// let report = replay(&scenario, &opts, &|_, _| {})?;
/// assert!(report.rows.iter().all(|r| r.strategy == "jitter"));
/// println!("{report}");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The seed replayed.
    pub seed: u64,
    /// The scale replayed.
    pub scale: f64,
    /// Simulated devices (per strategy).
    pub devices: u64,
    /// One row per fleet, strategy and window.
    pub rows: Vec<Row>,
    /// Per-minute series for the chart.
    #[serde(skip)]
    pub(crate) chart: Vec<Panel>,
    /// The windows of the rows, in order, for the table's key.
    #[serde(skip)]
    pub(crate) windows: Vec<WindowNote>,
}

/// A report window as the table explains it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WindowNote {
    pub(crate) name: String,
    pub(crate) from: ClockTime,
    pub(crate) to: ClockTime,
    pub(crate) description: Option<String>,
}

/// Metrics of one fleet under one strategy in one window.
///
/// Ratios are `None` (JSON `null`) when their denominator is zero.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Fleet name.
    pub fleet: &'static str,
    /// Strategy name.
    pub strategy: &'static str,
    /// Window name.
    pub window: String,
    /// Logical requests (user actions) started in the window.
    pub requests: u64,
    /// Attempts that reached the backend.
    pub attempts: u64,
    /// `attempts / requests`.
    pub amplification: Option<f64>,
    /// Largest 1-minute mean of attempts per second over the fleet's share
    /// of capacity in that minute.
    pub peak_offered_over_capacity: Option<f64>,
    /// Good responses (served while the client still waited) over
    /// `min(organic demand, capacity share)`, summed over minutes.
    pub goodput_ratio: Option<f64>,
    /// Share of served work spent on requests whose client had given up.
    pub wasted_share: Option<f64>,
    /// User actions that got a real answer.
    pub ok: u64,
    /// User actions that ended in a degraded answer (fallback).
    pub soft: u64,
    /// User actions that failed visibly.
    pub hard: u64,
    /// Hard endings in minutes where every lane of the fleet had capacity
    /// for all organic demand.
    pub hard_when_capacity_sufficed: u64,
    /// Of those, the user actions that had nothing to fall back on (a
    /// streaming session start without a cached entitlement).
    pub hard_without_fallback_when_capacity_sufficed: u64,
    /// Minutes from `capacity_sufficed_at` to the first 10 minutes with
    /// goodput >= 95% of organic demand; `None` when that never happened
    /// or capacity never sufficed in the window.
    pub recovery_minutes: Option<u64>,
    /// `t_ok`: the first minute in the window from which capacity kept up
    /// with organic demand for 30 minutes.
    pub capacity_sufficed_at: Option<String>,
    /// Attempts rejected at once by a full queue or a rate limit.
    pub rejected: u64,
    /// When capacity returned: the second after the window's last second
    /// in which capacity fell short of demand on a lane of the fleet
    /// (`HH:MM:SS`); `None` when it never fell short or the window ends
    /// short. The shortage test compares 10-second means.
    pub capacity_returned_at: Option<String>,
    /// Good responses in the seconds capacity fell short, over what
    /// capacity allowed then (`min(organic demand, capacity share)`).
    pub shortage_goodput_ratio: Option<f64>,
    /// The stampede factor: the largest 10-second mean of attempts per
    /// second over capacity share in the 2 minutes after capacity returned.
    pub stampede_factor: Option<f64>,
    /// Seconds from `capacity_returned_at` to the start of the first 10
    /// seconds with goodput >= 95% of organic demand; `None` when that did
    /// not happen in the window (or capacity never returned in it).
    pub recovery_s: Option<u64>,
}

/// The shortage and recovery columns of a [`Report`], as a table; see
/// [`Report::recovery_table`].
#[derive(Debug, Clone, Copy)]
pub struct RecoveryTable<'a>(&'a Report);

/// Chart data of one fleet.
#[derive(Debug, Clone)]
pub(crate) struct Panel {
    pub(crate) fleet: Fleet,
    /// Capacity share, requests per second, per minute.
    pub(crate) capacity: Vec<f64>,
    /// Organic demand, requests per second, per minute.
    pub(crate) demand: Vec<f64>,
    /// Offered attempts per second per minute, by strategy name.
    pub(crate) offered: Vec<(&'static str, Vec<f64>)>,
}

/// The lanes a fleet uses.
pub(crate) fn fleet_lanes(s: &Scenario, fleet: Fleet) -> Vec<usize> {
    let names: Vec<&str> = match fleet {
        Fleet::Vacuums => s.vacuums.iter().map(|v| v.lane.as_str()).collect(),
        Fleet::Streaming => s
            .streaming
            .iter()
            .flat_map(|v| [v.heartbeat_lane.as_str(), v.auth_lane.as_str()])
            .collect(),
        Fleet::Tickets => s.tickets.iter().map(|v| v.lane.as_str()).collect(),
        Fleet::Clients => s.clients.iter().map(|v| v.lane.as_str()).collect(),
    };
    let mut lanes: Vec<usize> = names.iter().filter_map(|n| s.lane_index(n)).collect();
    lanes.dedup();
    lanes
}

fn round4(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite()).map(|v| (v * 1e4).round() / 1e4)
}

// === impl Report ===

impl Report {
    pub(crate) fn build(
        s: &Scenario,
        seed: u64,
        scale: f64,
        fleets: &[Fleet],
        runs: &[Run],
    ) -> Self {
        let start = s.sim.start.minutes() as usize;
        let notes: Vec<WindowNote> = if s.windows.is_empty() {
            vec![WindowNote {
                name: "all".to_owned(),
                from: s.sim.start,
                to: s.sim.end,
                description: Some("the whole simulated period".to_owned()),
            }]
        } else {
            s.windows
                .iter()
                .map(|w| WindowNote {
                    name: w.name.clone(),
                    from: w.from,
                    to: w.to,
                    description: w.description.clone(),
                })
                .collect()
        };
        let windows: Vec<(String, usize, usize)> = notes
            .iter()
            .map(|w| {
                (
                    w.name.clone(),
                    w.from.minutes() as usize - start,
                    w.to.minutes() as usize - start,
                )
            })
            .collect();
        let mut rows = Vec::new();
        let mut chart = Vec::new();
        for fleet in Fleet::ALL {
            let lanes = fleet_lanes(s, fleet);
            let simulated = fleets.is_empty() || fleets.contains(&fleet);
            if lanes.is_empty() || !simulated {
                continue;
            }
            let mut panel: Option<Panel> = None;
            for run in runs {
                let series = FleetSeries::new(&run.rec, fleet, &lanes);
                let seconds = SecondSeries::new(&run.rec, fleet, &lanes);
                let per_s = |v: &[f64]| v.iter().map(|x| x / 60.0).collect::<Vec<_>>();
                let p = panel.get_or_insert_with(|| Panel {
                    fleet,
                    capacity: per_s(&series.capacity),
                    demand: per_s(&series.organic),
                    offered: Vec::new(),
                });
                p.offered
                    .push((run.strategy.name(), per_s(&series.attempts)));
                for (name, from, to) in &windows {
                    let m = series.window(*from, *to);
                    let r = seconds.window(from * 60, to * 60);
                    let at = |i: usize| ClockTime::from_seconds(((start + i) * 60) as u32);
                    let at_s = |i: usize| ClockTime::from_seconds((start * 60 + i) as u32);
                    rows.push(Row {
                        fleet: fleet.name(),
                        strategy: run.strategy.name(),
                        window: name.clone(),
                        requests: m.requests,
                        attempts: m.attempts,
                        amplification: round4(m.amplification),
                        peak_offered_over_capacity: round4(m.peak_offered_over_capacity),
                        goodput_ratio: round4(m.goodput_ratio),
                        wasted_share: round4(m.wasted_share),
                        ok: m.ok,
                        soft: m.soft,
                        hard: m.hard,
                        hard_when_capacity_sufficed: m.hard_when_capacity_sufficed,
                        hard_without_fallback_when_capacity_sufficed: m
                            .hard_bare_when_capacity_sufficed,
                        recovery_minutes: m.recovery_minutes,
                        capacity_sufficed_at: m.t_ok.and_then(at).map(|t| t.to_string()),
                        rejected: m.rejected,
                        capacity_returned_at: r.returned_at.and_then(at_s).map(|t| t.to_string()),
                        shortage_goodput_ratio: round4(r.shortage_goodput_ratio),
                        stampede_factor: round4(r.stampede_factor),
                        recovery_s: r.recovery_s,
                    });
                }
            }
            chart.extend(panel);
        }
        Self {
            seed,
            scale,
            devices: runs.first().map_or(0, |r| r.devices),
            rows,
            chart,
            windows: notes,
        }
    }

    /// The report as pretty-printed JSON: `seed`, `scale`, `devices` and
    /// `rows`.
    ///
    /// # Errors
    ///
    /// Only if serialization fails, which plain numbers and strings do not.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }

    /// The shortage and recovery metrics of every row as a table (not part
    /// of the main table, which stays as it was).
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft_sim::{replay, RunOptions, Scenario, Strategy};
    ///
    /// let scenario = Scenario::dec7_2021();
    /// let opts = RunOptions { scale: 0.01, strategies: vec![Strategy::Naive], ..RunOptions::default() };
    /// let report = replay(&scenario, &opts, &|_, _| {})?;
    /// assert!(report.recovery_table().to_string().contains("stampede"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recovery_table(&self) -> RecoveryTable<'_> {
        RecoveryTable(self)
    }

    /// The report as a terminal table: a verdict per fleet (naive clients
    /// against the failsoft stack: attempts per action, worst goodput,
    /// slowest recovery), the windows and what happened in them, the rows
    /// with requests, and a key to the columns. [`Table::full`] keeps the
    /// rows without requests too. `Display` for the report prints this
    /// default table.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft_sim::{replay, RunOptions, Scenario, Strategy};
    ///
    /// let scenario = Scenario::dec7_2021();
    /// let opts = RunOptions {
    ///     scale: 0.01,
    ///     strategies: vec![Strategy::Naive, Strategy::Failsoft],
    ///     ..RunOptions::default()
    /// };
    /// let report = replay(&scenario, &opts, &|_, _| {})?;
    /// // Is there a row of this fleet and window?
    /// let has = |table: &str, fleet: &str, window: &str| {
    ///     table.lines().any(|l| {
    ///         let w: Vec<&str> = l.split_whitespace().collect();
    ///         w.len() > 3 && w[0] == fleet && w[2] == window
    ///     })
    /// };
    /// let short = report.table().to_string();
    /// assert!(short.contains("naive -> failsoft"));
    /// // Tickets sell only in W2: their other windows have no requests.
    /// assert!(has(&short, "tickets", "W2") && !has(&short, "tickets", "W1"));
    /// let full = report.table().full(true).to_string();
    /// assert!(has(&full, "tickets", "W1"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn table(&self) -> Table<'_> {
        Table::new(self)
    }

    /// The row of `fleet`, `strategy` and `window`, if any.
    pub fn row(&self, fleet: &str, strategy: &str, window: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.fleet == fleet && r.strategy == strategy && r.window == window)
    }
}

pub(crate) fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.table().fmt(f)
    }
}

impl fmt::Display for RecoveryTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = format!(
            "{:<10} {:<28} {:<3} {:>9} {:>13} {:>8} {:>6} {:>7}",
            "fleet", "strategy", "win", "returned", "goodput@short", "stampede", "waste", "recover"
        );
        writeln!(f, "{head}")?;
        writeln!(f, "{}", "-".repeat(head.len()))?;
        for r in &self.0.rows {
            let line = format!(
                "{:<10} {:<28} {:<3} {:>9} {:>13} {:>8} {:>6} {:>7}",
                r.fleet,
                r.strategy,
                r.window,
                r.capacity_returned_at.as_deref().unwrap_or("-"),
                opt(r.shortage_goodput_ratio, 2),
                opt(r.stampede_factor, 2),
                opt(r.wasted_share, 2),
                match (&r.capacity_returned_at, r.recovery_s) {
                    (None, _) => "-".to_owned(),
                    (Some(_), None) => "never".to_owned(),
                    (Some(_), Some(s)) => format!("{s} s"),
                },
            );
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}
