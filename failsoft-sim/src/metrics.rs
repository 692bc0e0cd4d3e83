//! From per-minute counters to the report's metrics (DESIGN's definitions).

use super::record::{Ending, Fleet, LaneCount, Recorder};

/// Minutes that capacity must keep up with demand for `t_ok`.
pub(crate) const SUSTAINED: usize = 30;
/// Minutes of good goodput that count as recovered.
pub(crate) const RECOVERED: usize = 10;
/// Share of organic demand that counts as good goodput.
const RECOVERED_SHARE: f64 = 0.95;

/// One fleet's per-minute series in one run.
#[derive(Debug, Clone)]
pub(crate) struct FleetSeries {
    /// Logical requests started.
    pub(crate) organic: Vec<f64>,
    /// Attempts that reached the backend.
    pub(crate) attempts: Vec<f64>,
    pub(crate) rejected: Vec<f64>,
    pub(crate) served: Vec<f64>,
    pub(crate) wasted: Vec<f64>,
    pub(crate) good: Vec<f64>,
    /// The fleet's share of its lanes' capacity (requests in the minute),
    /// in proportion to its share of each lane's organic demand.
    pub(crate) capacity: Vec<f64>,
    /// Every lane the fleet uses had capacity for all its organic demand.
    pub(crate) sufficed: Vec<bool>,
    pub(crate) endings: Vec<[f64; 4]>,
}

/// Metrics of one fleet over minutes `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct WindowMetrics {
    pub(crate) requests: u64,
    pub(crate) attempts: u64,
    pub(crate) rejected: u64,
    pub(crate) amplification: Option<f64>,
    pub(crate) peak_offered_over_capacity: Option<f64>,
    pub(crate) goodput_ratio: Option<f64>,
    pub(crate) wasted_share: Option<f64>,
    pub(crate) ok: u64,
    pub(crate) soft: u64,
    pub(crate) hard: u64,
    pub(crate) hard_when_capacity_sufficed: u64,
    pub(crate) hard_bare_when_capacity_sufficed: u64,
    /// Minute index of `t_ok` within the window, if any.
    pub(crate) t_ok: Option<usize>,
    pub(crate) recovery_minutes: Option<u64>,
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

// === impl FleetSeries ===

impl FleetSeries {
    /// Builds the series of `fleet`, which uses `lanes`.
    pub(crate) fn new(rec: &Recorder, fleet: Fleet, lanes: &[usize]) -> Self {
        let n = rec.minutes;
        let mut s = Self {
            organic: vec![0.0; n],
            attempts: vec![0.0; n],
            rejected: vec![0.0; n],
            served: vec![0.0; n],
            wasted: vec![0.0; n],
            good: vec![0.0; n],
            capacity: vec![0.0; n],
            sufficed: vec![true; n],
            endings: vec![[0.0; 4]; n],
        };
        for m in 0..n {
            for &l in lanes {
                let count = |what| rec.lane_count(l, fleet, m, what) as f64;
                let mine = rec.organic(l, fleet, m) as f64;
                let all: f64 = Fleet::ALL
                    .iter()
                    .map(|&f| rec.organic(l, f, m) as f64)
                    .sum();
                let cap = rec.capacity(l, m);
                s.organic[m] += mine;
                s.attempts[m] += count(LaneCount::Attempts);
                s.rejected[m] += count(LaneCount::Rejected);
                s.served[m] += count(LaneCount::Served);
                s.wasted[m] += count(LaneCount::Wasted);
                s.good[m] += count(LaneCount::Good);
                if all > 0.0 {
                    s.capacity[m] += cap * mine / all;
                }
                s.sufficed[m] &= cap >= all;
            }
            for how in [Ending::Ok, Ending::Soft, Ending::Hard, Ending::HardBare] {
                s.endings[m][how as usize] = rec.ending(fleet, m, how) as f64;
            }
        }
        s
    }

    /// Metrics over minutes `[from, to)` (indices into the series).
    pub(crate) fn window(&self, from: usize, to: usize) -> WindowMetrics {
        let to = to.min(self.organic.len());
        let from = from.min(to);
        let sum = |v: &[f64]| v[from..to].iter().sum::<f64>();
        let (requests, attempts) = (sum(&self.organic), sum(&self.attempts));
        let peak = (from..to)
            .filter(|&m| self.capacity[m] > 0.0)
            .map(|m| self.attempts[m] / self.capacity[m])
            .fold(None, |acc: Option<f64>, x| {
                Some(acc.map_or(x, |a| a.max(x)))
            });
        let possible: f64 = (from..to)
            .map(|m| self.organic[m].min(self.capacity[m]))
            .sum();
        let ending = |how: Ending| {
            (from..to)
                .map(|m| self.endings[m][how as usize])
                .sum::<f64>()
        };
        let when_sufficed = |how: Ending| -> f64 {
            (from..to)
                .filter(|&m| self.sufficed[m])
                .map(|m| self.endings[m][how as usize])
                .sum()
        };
        let t_ok = (from..to).find(|&m| self.sustained(m));
        WindowMetrics {
            requests: requests as u64,
            attempts: attempts as u64,
            rejected: sum(&self.rejected) as u64,
            amplification: ratio(attempts, requests),
            peak_offered_over_capacity: peak,
            goodput_ratio: ratio(sum(&self.good), possible),
            wasted_share: ratio(sum(&self.wasted), sum(&self.served)),
            ok: ending(Ending::Ok) as u64,
            soft: ending(Ending::Soft) as u64,
            hard: ending(Ending::Hard) as u64,
            hard_when_capacity_sufficed: when_sufficed(Ending::Hard) as u64,
            hard_bare_when_capacity_sufficed: when_sufficed(Ending::HardBare) as u64,
            t_ok,
            recovery_minutes: t_ok.and_then(|t| self.recovered_from(t)).map(|m| m as u64),
        }
    }

    /// Capacity suffices for `SUSTAINED` minutes from `m` (or to the end of
    /// the period), and the fleet has demand in that stretch.
    fn sustained(&self, m: usize) -> bool {
        let end = (m + SUSTAINED).min(self.organic.len());
        self.sufficed[m..end].iter().all(|&ok| ok) && self.organic[m..end].iter().sum::<f64>() > 0.0
    }

    /// Minutes from `t_ok` to the start of the first `RECOVERED` minutes
    /// with goodput >= 95% of organic demand.
    fn recovered_from(&self, t_ok: usize) -> Option<usize> {
        let n = self.organic.len();
        (t_ok..n.saturating_sub(RECOVERED - 1)).find_map(|m| {
            let demand: f64 = self.organic[m..m + RECOVERED].iter().sum();
            let good: f64 = self.good[m..m + RECOVERED].iter().sum();
            (demand > 0.0 && good >= RECOVERED_SHARE * demand).then(|| m - t_ok)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(organic: f64, good: Vec<f64>, sufficed: Vec<bool>) -> FleetSeries {
        let n = good.len();
        FleetSeries {
            organic: vec![organic; n],
            attempts: vec![organic; n],
            rejected: vec![0.0; n],
            served: good.clone(),
            wasted: vec![0.0; n],
            capacity: vec![organic * 2.0; n],
            good,
            sufficed,
            endings: vec![[0.0; 4]; n],
        }
    }

    #[test]
    fn recovery_counts_from_sustained_capacity_to_good_goodput() {
        let mut good = vec![0.0; 100];
        good[47..].iter_mut().for_each(|g| *g = 10.0);
        let mut sufficed = vec![false; 100];
        sufficed[40..].iter_mut().for_each(|s| *s = true);
        let m = series(10.0, good, sufficed).window(0, 100);
        assert_eq!(m.t_ok, Some(40));
        assert_eq!(m.recovery_minutes, Some(7));
    }

    #[test]
    fn no_recovery_when_goodput_stays_low() {
        let m = series(10.0, vec![5.0; 100], vec![true; 100]).window(0, 100);
        assert_eq!(m.t_ok, Some(0));
        assert_eq!(m.recovery_minutes, None);
    }

    #[test]
    fn capacity_must_hold_thirty_minutes() {
        let mut sufficed = vec![true; 100];
        sufficed[20] = false;
        let m = series(10.0, vec![10.0; 100], sufficed).window(0, 100);
        assert_eq!(m.t_ok, Some(21));
    }
}
