//! Per-minute counters filled in while a replay runs.

/// The simulated fleets, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fleet {
    /// Robot vacuums.
    Vacuums,
    /// Streaming apps.
    Streaming,
    /// The ticket site's waiting room.
    Tickets,
    /// Open-loop clients sending at a scheduled rate.
    Clients,
}

/// Number of fleets.
pub(crate) const FLEETS: usize = 4;

/// What a lane counts per fleet and minute.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LaneCount {
    /// Attempts that reached the lane.
    Attempts = 0,
    /// Attempts rejected at once because the queue was full.
    Rejected = 1,
    /// Attempts served (capacity spent).
    Served = 2,
    /// Served attempts whose client had already given up.
    Wasted = 3,
    /// Served attempts delivered to a client still waiting.
    Good = 4,
}

/// How a logical request (a user action) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// A real answer.
    Ok = 0,
    /// A degraded answer the device chose (fallback).
    Soft = 1,
    /// A failure the user sees.
    Hard = 2,
    /// Counted in addition to `Hard` when the device had nothing to fall
    /// back on (a session start without a cached entitlement).
    HardBare = 3,
}

/// Counters of one replay, one slot per minute of the simulated period.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Recorder {
    pub(crate) minutes: usize,
    pub(crate) lanes: usize,
    /// Sum over the minute of capacity (requests per second) × seconds:
    /// requests the lane could serve in that minute.
    pub(crate) capacity: Vec<f64>,
    lane_counts: Vec<[u64; 5]>,
    /// Logical requests started, per lane, fleet and minute.
    organic: Vec<u64>,
    endings: Vec<[u64; 4]>,
    /// Capacity per lane and second, as `capacity` per minute.
    sec_capacity: Vec<f64>,
    /// Per lane, fleet and second: logical requests started, attempts
    /// that reached the lane, good answers (see [`SecCount`]).
    sec_counts: Vec<[u32; 3]>,
}

/// What is also counted per second, for the metrics of recovery.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SecCount {
    /// Logical requests started.
    Organic = 0,
    /// Attempts that reached the lane.
    Attempts = 1,
    /// Answers delivered to a client still waiting.
    Good = 2,
}

// === impl Fleet ===

impl Fleet {
    /// All fleets, in report order.
    pub const ALL: [Fleet; FLEETS] = [
        Fleet::Vacuums,
        Fleet::Streaming,
        Fleet::Tickets,
        Fleet::Clients,
    ];

    /// Name used in the report, the JSON and on the command line.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(failsoft_sim::Fleet::Tickets.name(), "tickets");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Fleet::Vacuums => "vacuums",
            Fleet::Streaming => "streaming",
            Fleet::Tickets => "tickets",
            Fleet::Clients => "clients",
        }
    }

    /// The fleet called `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft_sim::Fleet;
    /// assert_eq!(Fleet::from_name("vacuums"), Some(Fleet::Vacuums));
    /// assert_eq!(Fleet::from_name("toasters"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

// === impl Recorder ===

impl Recorder {
    pub(crate) fn new(minutes: usize, lanes: usize) -> Self {
        Self {
            minutes,
            lanes,
            capacity: vec![0.0; lanes * minutes],
            lane_counts: vec![[0; 5]; lanes * FLEETS * minutes],
            organic: vec![0; lanes * FLEETS * minutes],
            endings: vec![[0; 4]; FLEETS * minutes],
            sec_capacity: vec![0.0; lanes * minutes * 60],
            sec_counts: vec![[0; 3]; lanes * FLEETS * minutes * 60],
        }
    }

    /// Seconds of the period.
    pub(crate) fn seconds(&self) -> usize {
        self.minutes * 60
    }

    fn lfm(&self, lane: usize, fleet: Fleet, minute: usize) -> usize {
        (lane * FLEETS + fleet.index()) * self.minutes + minute.min(self.minutes - 1)
    }

    fn lfs(&self, lane: usize, fleet: Fleet, sec: usize) -> usize {
        let secs = self.seconds();
        (lane * FLEETS + fleet.index()) * secs + sec.min(secs - 1)
    }

    /// Adds capacity (`requests` the lane could serve) at second `sec` of
    /// the period.
    pub(crate) fn add_capacity(&mut self, lane: usize, sec: usize, requests: f64) {
        let i = lane * self.minutes + (sec / 60).min(self.minutes - 1);
        self.capacity[i] += requests;
        let secs = self.seconds();
        self.sec_capacity[lane * secs + sec.min(secs - 1)] += requests;
    }

    /// Counts `what` for `fleet` at `lane` at second `sec` of the period.
    pub(crate) fn count(&mut self, lane: usize, fleet: Fleet, sec: usize, what: LaneCount) {
        let i = self.lfm(lane, fleet, sec / 60);
        self.lane_counts[i][what as usize] += 1;
        let per_sec = match what {
            LaneCount::Attempts => SecCount::Attempts,
            LaneCount::Good => SecCount::Good,
            _ => return,
        };
        let j = self.lfs(lane, fleet, sec);
        let n = &mut self.sec_counts[j][per_sec as usize];
        *n = n.saturating_add(1);
    }

    /// Counts a logical request of `fleet` started on `lane` at second
    /// `sec` of the period.
    pub(crate) fn started(&mut self, lane: usize, fleet: Fleet, sec: usize) {
        let i = self.lfm(lane, fleet, sec / 60);
        self.organic[i] += 1;
        let j = self.lfs(lane, fleet, sec);
        let n = &mut self.sec_counts[j][SecCount::Organic as usize];
        *n = n.saturating_add(1);
    }

    pub(crate) fn ended(&mut self, fleet: Fleet, minute: usize, how: Ending) {
        let i = fleet.index() * self.minutes + minute.min(self.minutes - 1);
        self.endings[i][how as usize] += 1;
    }

    /// Counts a request of `fleet` ending `how` in `minute`; a hard failure
    /// of a device with nothing to fall back on (no `fallback`) counts as
    /// [`Ending::HardBare`] too.
    pub(crate) fn finished(&mut self, fleet: Fleet, fallback: bool, minute: usize, how: Ending) {
        self.ended(fleet, minute, how);
        if how == Ending::Hard && !fallback {
            self.ended(fleet, minute, Ending::HardBare);
        }
    }

    /// Adds `tally` as counted at second `sec` of the period, and empties
    /// it.
    pub(crate) fn add(&mut self, tally: &mut Tally, sec: usize) {
        let minute = sec / 60;
        let secs = self.seconds();
        for (i, n) in tally.started.iter_mut().enumerate() {
            if *n > 0 {
                let j = i * self.minutes + minute.min(self.minutes - 1);
                let k = i * secs + sec.min(secs - 1);
                let c = &mut self.sec_counts[k][SecCount::Organic as usize];
                *c = c.saturating_add(u32::try_from(*n).unwrap_or(u32::MAX));
                self.organic[j] += std::mem::take(n);
            }
        }
        for (f, counts) in tally.endings.iter_mut().enumerate() {
            let i = f * self.minutes + minute.min(self.minutes - 1);
            for (how, n) in counts.iter_mut().enumerate() {
                self.endings[i][how] += std::mem::take(n);
            }
        }
        tally.any = false;
    }

    pub(crate) fn lane_count(
        &self,
        lane: usize,
        fleet: Fleet,
        minute: usize,
        what: LaneCount,
    ) -> u64 {
        self.lane_counts[self.lfm(lane, fleet, minute)][what as usize]
    }

    pub(crate) fn organic(&self, lane: usize, fleet: Fleet, minute: usize) -> u64 {
        self.organic[self.lfm(lane, fleet, minute)]
    }

    pub(crate) fn ending(&self, fleet: Fleet, minute: usize, how: Ending) -> u64 {
        self.endings[fleet.index() * self.minutes + minute][how as usize]
    }

    pub(crate) fn capacity(&self, lane: usize, minute: usize) -> f64 {
        self.capacity[lane * self.minutes + minute]
    }

    /// `what` of `fleet` at `lane` in second `sec` of the period.
    pub(crate) fn sec_count(&self, lane: usize, fleet: Fleet, sec: usize, what: SecCount) -> u32 {
        self.sec_counts[self.lfs(lane, fleet, sec)][what as usize]
    }

    /// Capacity of `lane` in second `sec` of the period (requests).
    pub(crate) fn sec_capacity(&self, lane: usize, sec: usize) -> f64 {
        self.sec_capacity[lane * self.seconds() + sec]
    }
}

/// Requests started and ended at one instant, counted apart from the
/// [`Recorder`] and added to it at once ([`Recorder::add`]): one lock of
/// the backend per instant rather than two per request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// By lane, then fleet.
    started: Vec<u64>,
    endings: [[u64; 4]; FLEETS],
    any: bool,
}

// === impl Tally ===

impl Tally {
    /// Counts a request of `fleet` started on `lane`.
    pub(crate) fn started(&mut self, lane: usize, fleet: Fleet) {
        let i = lane * FLEETS + fleet.index();
        if i >= self.started.len() {
            self.started.resize(i + 1, 0);
        }
        self.started[i] += 1;
        self.any = true;
    }

    /// Counts an ending as [`Recorder::finished`] does.
    pub(crate) fn finished(&mut self, fleet: Fleet, fallback: bool, how: Ending) {
        let counts = &mut self.endings[fleet.index()];
        counts[how as usize] += 1;
        if how == Ending::Hard && !fallback {
            counts[Ending::HardBare as usize] += 1;
        }
        self.any = true;
    }

    /// Whether nothing was counted since the last [`Recorder::add`].
    pub(crate) fn is_empty(&self) -> bool {
        !self.any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_adds_up_to_what_recording_each_request_gives() {
        let (mut one_by_one, mut at_once) = (Recorder::new(3, 2), Recorder::new(3, 2));
        let mut tally = Tally::default();
        let endings = [
            (Fleet::Vacuums, true, Ending::Hard),
            (Fleet::Streaming, false, Ending::Hard),
            (Fleet::Streaming, false, Ending::Ok),
            (Fleet::Tickets, true, Ending::Soft),
        ];
        for minute in [1, 2] {
            for (lane, fleet) in [
                (0, Fleet::Vacuums),
                (1, Fleet::Streaming),
                (1, Fleet::Tickets),
            ] {
                one_by_one.started(lane, fleet, minute * 60 + 7);
                tally.started(lane, fleet);
            }
            for (fleet, fallback, how) in endings {
                one_by_one.finished(fleet, fallback, minute, how);
                tally.finished(fleet, fallback, how);
            }
            assert!(!tally.is_empty());
            at_once.add(&mut tally, minute * 60 + 7);
            assert!(tally.is_empty());
        }
        assert_eq!(at_once, one_by_one);
        // A hard failure with nothing to fall back on counts twice.
        assert_eq!(at_once.ending(Fleet::Streaming, 1, Ending::HardBare), 1);
        assert_eq!(at_once.organic(1, Fleet::Tickets, 2), 1);
        assert_eq!(
            at_once.sec_count(1, Fleet::Tickets, 127, SecCount::Organic),
            1
        );
        assert_eq!(
            at_once.sec_count(1, Fleet::Tickets, 126, SecCount::Organic),
            0
        );
    }
}
