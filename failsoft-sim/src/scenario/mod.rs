//! Scenarios as data: the TOML format, loading, and validation.
//!
//! A scenario has a simulated period (`[sim]`), a timeline of facts with
//! their sources (`[[timeline]]`), shared dependencies called lanes
//! (`[lanes.NAME]`) whose capacity changes over the day, and up to three
//! device fleets (`[vacuums]`, `[streaming]`, `[tickets]`) and open-loop
//! clients (`[clients]`). See
//! `seeds/dec7-2021.toml` for a complete, commented example.
//!
//! Every table rejects unknown fields, and [`Scenario::from_toml`] validates
//! the whole file, so a typo or an impossible number is reported with the
//! file, the field and what is wrong, never as a panic mid-run.

mod clock;
mod validate;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub use self::clock::ClockTime;
pub use self::validate::{MAX_RPS, ScenarioError};

/// A whole scenario: period, timeline, lanes and fleets.
///
/// # Examples
///
/// ```
/// use failsoft_sim::Scenario;
///
/// let scenario = Scenario::from_toml(failsoft_sim::DEC7_2021, "dec7-2021.toml")?;
/// assert!(scenario.lanes.contains_key("edge"));
/// # Ok::<(), failsoft_sim::ScenarioError>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The simulated period and tick.
    pub sim: Period,
    /// What happened, with sources; informs the lanes' capacity steps.
    #[serde(default)]
    pub timeline: Vec<Fact>,
    /// Shared dependencies, by name.
    pub lanes: BTreeMap<String, LaneSpec>,
    /// Robot vacuums checking in.
    pub vacuums: Option<VacuumSpec>,
    /// Streaming apps: sessions, token refreshes and heartbeats.
    pub streaming: Option<StreamingSpec>,
    /// A ticket site's on-sale waiting room.
    pub tickets: Option<TicketSpec>,
    /// Open-loop clients sending at a scheduled rate.
    pub clients: Option<ClientsSpec>,
    /// Report windows; one window over the whole period when empty.
    #[serde(default)]
    pub windows: Vec<Window>,
}

/// A report window.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Its name in the report (`W1`).
    pub name: String,
    /// First time of day in it.
    pub from: ClockTime,
    /// First time of day after it.
    pub to: ClockTime,
    /// What happened in it, in one line, shown under the replay's verdict
    /// (at most [`MAX_DESCRIPTION`] characters, no line breaks).
    #[serde(default)]
    pub description: Option<String>,
}

/// The longest window `description` a scenario may give, in characters:
/// one line of a terminal next to the window's name and times.
pub const MAX_DESCRIPTION: usize = 160;

/// The simulated period.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// When the simulation starts (devices begin in their normal state).
    pub start: ClockTime,
    /// When it ends.
    pub end: ClockTime,
    /// Length of one simulation step in milliseconds (1..=1000): the
    /// backend serves its queue and devices start actions once per tick.
    pub tick_ms: u32,
}

/// Where a number or a time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Source {
    /// Read in the AWS post-event summary (primary).
    P,
    /// From a secondary source (status page, press).
    S,
    /// Remembered, not verified: an assumption until checked.
    R,
    /// A modelling assumption of this scenario.
    A,
}

/// One entry of the timeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fact {
    /// Time of day (PST in the Dec 7 scenario).
    pub at: ClockTime,
    /// What happened.
    pub event: String,
    /// Where it is from.
    pub source: Source,
}

/// A shared dependency: capacity, queue or rate limit, service time and
/// hints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneSpec {
    /// How the lane admits work: a FIFO queue (the default) or a token
    /// bucket that answers excess at once.
    #[serde(default)]
    pub kind: LaneKind,
    /// Requests per second it serves at full capacity (scaled with
    /// `--scale`); for a rate limiter, the rate it admits.
    pub capacity_rps: f64,
    /// Queue bound, in seconds of work at full capacity. Required for a
    /// `fifo` lane; a `rate_limit` lane has no queue and refuses it.
    #[serde(default)]
    pub queue_s: Option<f64>,
    /// Minimum time from arrival to response, in milliseconds.
    pub service_ms: u32,
    /// Cost of a fast rejection (queue full), as a fraction of one request.
    /// Required for a `fifo` lane; a `rate_limit` lane's refusals cost
    /// nothing of its rate, and it refuses the field.
    #[serde(default)]
    pub reject_cost: Option<f64>,
    /// Rejections carry `Retry-After` (the current queue wait); `fifo` only.
    #[serde(default)]
    pub retry_after: bool,
    /// Bucket size of a `rate_limit` lane, in seconds of its current rate
    /// (default 1).
    #[serde(default)]
    pub burst_s: Option<f64>,
    /// `Retry-After` of a `rate_limit` lane's refusals, in seconds within
    /// 0..=3600 (default 1).
    #[serde(default)]
    pub retry_after_s: Option<f64>,
    /// Below this capacity fraction, rejections say "overloaded, do not
    /// retry" instead.
    #[serde(default)]
    pub do_not_retry_below: Option<f64>,
    /// Capacity as a fraction of `capacity_rps`, from `at` on; 1.0 before
    /// the first point.
    #[serde(default)]
    pub capacity: Vec<CapacityPoint>,
}

/// How a lane admits work.
///
/// Written `kind = "fifo"` or `kind = "rate_limit"` in a lane's table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaneKind {
    /// A bounded FIFO queue served at the lane's capacity; it sheds beyond
    /// the queue and keeps serving requests whose client gave up.
    #[default]
    Fifo,
    /// A token bucket refilled at the lane's capacity: a request that finds
    /// a token is served after the service time; one that does not is
    /// refused at once with `Retry-After` (a 503 in the wire's terms).
    RateLimit,
}

/// One point of a lane's capacity over the day.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityPoint {
    /// When this fraction is reached.
    pub at: ClockTime,
    /// Fraction of full capacity, within [0, 1].
    pub fraction: f64,
    /// Ramp linearly from the previous point instead of stepping at `at`.
    #[serde(default)]
    pub ramp: bool,
    /// Where the time comes from (fractions are assumptions).
    pub source: Source,
}

/// Client settings every fleet has.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Per-attempt timeout in seconds: the device gives up on an attempt.
    pub timeout_s: f64,
    /// Overall deadline of one user action in seconds (failsoft stack).
    pub deadline_s: f64,
    /// Devices sharing one client stack (its budget, throttle and breaker):
    /// 1 makes every device fully independent. Devices are spread over
    /// `ceil(devices / devices_per_stack)` stacks round-robin.
    pub devices_per_stack: u32,
}

/// Robot vacuums.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VacuumSpec {
    /// The lane they talk to.
    pub lane: String,
    /// Number of devices (scaled with `--scale`).
    pub devices: u32,
    /// Seconds between check-ins; each device has its own phase.
    pub period_s: f64,
    /// Share of devices that also report at the top of every hour.
    pub herd_fraction: f64,
    /// Probability that an app command arrives in a check-in period.
    pub command_probability: f64,
    /// Client settings.
    pub client: ClientSpec,
}

/// Streaming apps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamingSpec {
    /// Lane for heartbeats (the network path).
    pub heartbeat_lane: String,
    /// Lane for session starts and token refreshes.
    pub auth_lane: String,
    /// Streams playing at the start of the period (scaled).
    pub streams_start: u32,
    /// Streams playing at `grow_until` (scaled); streams only grow.
    pub streams_end: u32,
    /// When the growth ends.
    pub grow_until: ClockTime,
    /// Seconds between heartbeats of one stream.
    pub heartbeat_s: f64,
    /// Seconds between token refreshes of one stream.
    pub refresh_s: f64,
    /// Share of new sessions that have a cached entitlement to start from.
    pub cached_fraction: f64,
    /// Client settings.
    pub client: ClientSpec,
}

/// A ticket site's waiting room.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketSpec {
    /// The lane the site runs on.
    pub lane: String,
    /// Fans who come for the on-sale (scaled).
    pub fans: u32,
    /// When the on-sale opens.
    pub on_sale: ClockTime,
    /// Minutes over which fans arrive after `on_sale`.
    pub arrival_minutes: f64,
    /// Shortest stay in the waiting room, in minutes.
    pub stay_min_minutes: f64,
    /// Longest stay in the waiting room, in minutes.
    pub stay_max_minutes: f64,
    /// Seconds between polls of one fan.
    pub poll_s: f64,
    /// Extra lane capacity (requests per second at full capacity, scaled)
    /// provisioned from the on-sale until the last fan can have left
    /// (`on_sale + arrival_minutes + stay_max_minutes`).
    pub provisioned_rps: f64,
    /// Client settings.
    pub client: ClientSpec,
}

/// Open-loop clients: logical requests at a rate that follows a schedule,
/// whatever the answers (the load of a test harness or of many
/// independent users), spread over `senders` in turn.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsSpec {
    /// The lane they send to.
    pub lane: String,
    /// Devices the requests are spread over in turn (scaled); they share
    /// client stacks as `client.devices_per_stack` says.
    pub senders: u32,
    /// Logical requests per second from each point's time on (scaled);
    /// none before the first point.
    pub rates: Vec<RatePoint>,
    /// Client settings.
    pub client: ClientSpec,
}

/// A step of an open-loop rate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatePoint {
    /// From when.
    pub at: ClockTime,
    /// Logical requests per second, at least 0 and at most [`MAX_RPS`].
    pub rps: f64,
    /// Where the time and rate come from.
    pub source: Source,
}

/// The 7 December 2021 scenario shipped in `seeds/dec7-2021.toml`.
pub const DEC7_2021: &str = include_str!("../../../seeds/dec7-2021.toml");

// === impl Scenario ===

impl Scenario {
    /// Parses and validates a scenario; `file` names it in errors.
    ///
    /// # Errors
    ///
    /// A [`ScenarioError`] naming `file`, the field and the problem when the
    /// TOML is malformed or has an unknown field, or when validation fails
    /// (see [`ScenarioError`] for the rules).
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft_sim::Scenario;
    /// let err = Scenario::from_toml("[sim]\nstart = \"07:00\"\n", "tiny.toml").unwrap_err();
    /// assert_eq!(err.file(), "tiny.toml");
    /// ```
    pub fn from_toml(text: &str, file: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario =
            toml::from_str(text).map_err(|e| ScenarioError::from_toml(file, text, &e))?;
        scenario.validate_as(file)?;
        Ok(scenario)
    }

    /// Checks the rules of [`ScenarioError`] on a scenario built or changed
    /// in code; errors name the file `scenario`. [`replay`](super::replay)
    /// makes this check before it starts.
    ///
    /// # Errors
    ///
    /// A [`ScenarioError`] naming the field and the problem.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft_sim::Scenario;
    ///
    /// let mut s = Scenario::dec7_2021();
    /// s.sim.tick_ms = 0;
    /// let err = s.validate().unwrap_err();
    /// assert_eq!(err.to_string(), "scenario: sim.tick_ms: must be within 1..=1000");
    /// ```
    pub fn validate(&self) -> Result<(), ScenarioError> {
        self.validate_as("scenario")
    }

    /// Reads, parses and validates the scenario at `path`.
    ///
    /// # Errors
    ///
    /// As [`Scenario::from_toml`], plus an error when the file cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft_sim::Scenario;
    /// let err = Scenario::load("no/such/file.toml").unwrap_err();
    /// assert_eq!(err.file(), "no/such/file.toml");
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ScenarioError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::new(&file, "", format!("cannot read file: {e}")))?;
        Self::from_toml(&text, &file)
    }

    /// The built-in 7 December 2021 scenario.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = failsoft_sim::Scenario::dec7_2021();
    /// assert_eq!(s.sim.start.to_string(), "07:00");
    /// ```
    pub fn dec7_2021() -> Self {
        // The seed file is validated by a unit test; a broken seed is a
        // build defect, not user input.
        Self::from_toml(DEC7_2021, "seeds/dec7-2021.toml").expect("the shipped seed is valid")
    }

    /// Index of the lane named `name` (lanes are ordered by name).
    pub(crate) fn lane_index(&self, name: &str) -> Option<usize> {
        self.lanes.keys().position(|k| k == name)
    }
}

// === impl LaneSpec ===

impl LaneSpec {
    /// Default bucket size of a `rate_limit` lane, in seconds of its rate.
    pub const DEFAULT_BURST_S: f64 = 1.0;
    /// Default `Retry-After` of a `rate_limit` lane's refusals, in seconds.
    pub const DEFAULT_RETRY_AFTER_S: f64 = 1.0;

    /// Capacity fraction at `sec` seconds after midnight.
    pub(crate) fn fraction_at(&self, sec: f64) -> f64 {
        let mut prev: Option<&CapacityPoint> = None;
        for p in &self.capacity {
            let at = f64::from(p.at.seconds());
            if sec < at {
                return match prev {
                    Some(q) if p.ramp => {
                        let q_at = f64::from(q.at.seconds());
                        let w = (sec - q_at) / (at - q_at);
                        q.fraction + (p.fraction - q.fraction) * w
                    }
                    Some(q) => q.fraction,
                    None => 1.0,
                };
            }
            prev = Some(p);
        }
        prev.map_or(1.0, |p| p.fraction)
    }
}

#[cfg(test)]
mod tests;
