//! Metrics of a capacity shortage and the way back, in seconds: goodput
//! while capacity was short, the stampede when it returned, and how long
//! goodput took to catch up with demand.
//!
//! The minute metrics (`metrics`) judge a day; these judge the seconds
//! around the end of a shortage, where a fleet that comes back all at once
//! or a client that locks itself out shows. Definitions, per fleet over a
//! report window:
//!
//! - a second is *short* when, on some lane the fleet uses, its capacity
//!   is below the organic demand of all fleets on that lane, as a mean over
//!   the `SHORT_S` seconds centred on it (a device fleet's demand is noisy
//!   second by second);
//! - capacity *returns* at the second after the window's last short
//!   second (none if no second was short, or the window ends short);
//! - *shortage goodput*: good answers in short seconds over what capacity
//!   allowed then: the sum of `min(organic demand, capacity share)`;
//! - *stampede factor*: the largest `SMOOTH_S`-second mean of attempts
//!   over capacity share in the `STAMPEDE_S` seconds after the return;
//! - *recovery*: seconds from the return to the start of the first
//!   `SMOOTH_S` seconds in which good answers reach `RECOVERED_SHARE` of
//!   organic demand.

use super::record::{Fleet, Recorder, SecCount};

/// Seconds of demand averaged for the shortage test: enough to quiet a
/// device fleet's second-to-second noise, short enough to place the end of
/// a shortage within a couple of seconds.
const SHORT_S: usize = 4;
/// Seconds averaged for the stampede and for recovery.
pub(crate) const SMOOTH_S: usize = 10;
/// Seconds after capacity returns in which the stampede is measured.
pub(crate) const STAMPEDE_S: usize = 120;
/// Share of organic demand that counts as recovered.
const RECOVERED_SHARE: f64 = 0.95;

/// One fleet's per-second series in one run.
#[derive(Debug, Clone, Default)]
pub(crate) struct SecondSeries {
    /// Logical requests started.
    pub(crate) organic: Vec<f64>,
    /// Attempts that reached the backend.
    pub(crate) attempts: Vec<f64>,
    /// Good answers (served while the client still waited).
    pub(crate) good: Vec<f64>,
    /// The fleet's share of its lanes' capacity (smoothed demand shares).
    pub(crate) capacity: Vec<f64>,
    /// Capacity fell short of demand on some lane of the fleet.
    pub(crate) short: Vec<bool>,
}

/// The recovery metrics of one fleet over one window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct RecoveryMetrics {
    /// Second (index into the series) at which capacity returned.
    pub(crate) returned_at: Option<usize>,
    pub(crate) shortage_goodput_ratio: Option<f64>,
    pub(crate) stampede_factor: Option<f64>,
    pub(crate) recovery_s: Option<u64>,
}

/// Mean of `v` over the `span` seconds centred on each second.
fn smooth(v: &[f64], span: usize) -> Vec<f64> {
    (0..v.len()).map(|t| smooth_at(v, t, span)).collect()
}

// === impl SecondSeries ===

impl SecondSeries {
    /// Builds the series of `fleet`, which uses `lanes`.
    pub(crate) fn new(rec: &Recorder, fleet: Fleet, lanes: &[usize]) -> Self {
        let n = rec.seconds();
        let mut s = Self {
            organic: vec![0.0; n],
            attempts: vec![0.0; n],
            good: vec![0.0; n],
            capacity: vec![0.0; n],
            short: vec![false; n],
        };
        for &l in lanes {
            let series = |f: Fleet, what| -> Vec<f64> {
                (0..n)
                    .map(|t| f64::from(rec.sec_count(l, f, t, what)))
                    .collect()
            };
            let mine = series(fleet, SecCount::Organic);
            let mut all = vec![0.0; n];
            for f in Fleet::ALL {
                for (a, x) in all.iter_mut().zip(series(f, SecCount::Organic)) {
                    *a += x;
                }
            }
            let cap: Vec<f64> = (0..n).map(|t| rec.sec_capacity(l, t)).collect();
            let (mine_s, all_s) = (smooth(&mine, SHORT_S), smooth(&all, SHORT_S));
            let attempts = series(fleet, SecCount::Attempts);
            let good = series(fleet, SecCount::Good);
            for t in 0..n {
                s.organic[t] += mine[t];
                s.attempts[t] += attempts[t];
                s.good[t] += good[t];
                if all_s[t] > 0.0 {
                    s.capacity[t] += cap[t] * mine_s[t] / all_s[t];
                }
                s.short[t] |= cap[t] < all_s[t];
            }
        }
        s
    }

    /// Recovery metrics over seconds `[from, to)` (indices into the series).
    pub(crate) fn window(&self, from: usize, to: usize) -> RecoveryMetrics {
        let to = to.min(self.organic.len());
        let from = from.min(to);
        let short: Vec<usize> = (from..to).filter(|&t| self.short[t]).collect();
        let allowed: f64 = short
            .iter()
            .map(|&t| smooth_at(&self.organic, t, SHORT_S).min(self.capacity[t]))
            .sum();
        let good: f64 = short.iter().map(|&t| self.good[t]).sum();
        let returned_at = short.last().map(|&t| t + 1).filter(|&t| t < to);
        let stampede_factor = returned_at.and_then(|r| {
            let end = (r + STAMPEDE_S).min(to);
            (r..end.saturating_sub(SMOOTH_S - 1))
                .filter_map(|t| {
                    let cap: f64 = self.capacity[t..t + SMOOTH_S].iter().sum();
                    let att: f64 = self.attempts[t..t + SMOOTH_S].iter().sum();
                    (cap > 0.0).then(|| att / cap)
                })
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
        });
        let recovery_s = returned_at.and_then(|r| {
            (r..to.saturating_sub(SMOOTH_S - 1)).find_map(|t| {
                let demand: f64 = self.organic[t..t + SMOOTH_S].iter().sum();
                let good: f64 = self.good[t..t + SMOOTH_S].iter().sum();
                (demand > 0.0 && good >= RECOVERED_SHARE * demand).then(|| (t - r) as u64)
            })
        });
        RecoveryMetrics {
            returned_at,
            shortage_goodput_ratio: (allowed > 0.0).then(|| good / allowed),
            stampede_factor,
            recovery_s,
        }
    }
}

/// Mean of `v` over the `span` seconds centred on `t` (shifted to fit at
/// the ends).
fn smooth_at(v: &[f64], t: usize, span: usize) -> f64 {
    let n = v.len();
    let from = t.saturating_sub(span / 2);
    let to = (from + span).min(n);
    let from = to.saturating_sub(span);
    v[from..to].iter().sum::<f64>() / (to - from).max(1) as f64
}

#[cfg(test)]
mod tests;
