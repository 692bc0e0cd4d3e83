//! [`ScenarioError`] and the rules a scenario must satisfy.

use std::fmt;

use super::{ClientSpec, ClientsSpec, ClockTime, LaneKind, LaneSpec, MAX_DESCRIPTION, Scenario};

/// A scenario file could not be used: which file, which field, what is wrong.
///
/// Rules checked after parsing:
/// - `sim.start < sim.end`, and `sim.tick_ms` within 1..=1000;
/// - timeline times in order (non-decreasing);
/// - each lane: `capacity_rps` positive and at most [`MAX_RPS`]; a `fifo`
///   lane (the default `kind`) has `queue_s` finite and at least 0 and
///   `reject_cost` within [0, 1], and no `burst_s` or `retry_after_s`; a
///   `rate_limit` lane has no `queue_s`, `reject_cost` or `retry_after`,
///   `burst_s` (if set) positive and at most 3600, `retry_after_s` (if set)
///   within 0..=3600; `do_not_retry_below` within [0, 1],
///   capacity points strictly in time order, each `fraction` within
///   [0, 1], and the first point not a ramp;
/// - each fleet: its lanes exist, counts and periods positive, shares and
///   probabilities within [0, 1], timeouts and deadlines positive and
///   finite, `devices_per_stack >= 1`, stay bounds ordered, the tickets'
///   `provisioned_rps` within 0..=[`MAX_RPS`];
/// - open-loop clients: their lane exists, `senders >= 1`, at least one
///   rate point, rates within 0..=[`MAX_RPS`], times strictly in order,
///   the client settings as for every fleet;
/// - windows: `sim.start <= from < to <= sim.end`; a `description`, if
///   set, not blank, one line, at most [`MAX_DESCRIPTION`] characters;
/// - at least one fleet.
///
/// Parsing itself rejects unknown fields, wrong types and malformed times.
///
/// # Examples
///
/// ```
/// use failsoft_sim::Scenario;
///
/// let text = failsoft_sim::DEC7_2021.replace("capacity_rps = 46.0", "capacity_rps = -1.0");
/// let err = Scenario::from_toml(&text, "bad.toml").unwrap_err();
/// assert_eq!(err.field(), "lanes.core.capacity_rps");
/// assert!(err.to_string().starts_with("bad.toml: lanes.core.capacity_rps: "));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    file: String,
    field: String,
    problem: String,
}

/// The largest request rate a scenario may give a lane (`capacity_rps`) or
/// provision for a fleet (`provisioned_rps`), before scaling: a billion
/// requests per second, far beyond any one backend, and small enough that
/// every figure derived from it stays finite at any scale a replay allows.
///
/// # Examples
///
/// ```
/// use failsoft_sim::{MAX_RPS, Scenario};
///
/// let text = failsoft_sim::DEC7_2021.replace("capacity_rps = 46.0", "capacity_rps = 1e300");
/// let err = Scenario::from_toml(&text, "big.toml").unwrap_err();
/// assert_eq!(err.field(), "lanes.core.capacity_rps");
/// assert!(MAX_RPS >= 1e9);
/// ```
pub const MAX_RPS: f64 = 1e9;

// === impl ScenarioError ===

impl ScenarioError {
    pub(crate) fn new(file: &str, field: &str, problem: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            field: field.to_owned(),
            problem: problem.into(),
        }
    }

    /// Turns a TOML parse error into one naming the offending key.
    pub(crate) fn from_toml(file: &str, text: &str, err: &toml::de::Error) -> Self {
        let span = err
            .span()
            .filter(|s| s.start <= s.end && text.get(s.clone()).is_some());
        let field = span.clone().map(|s| key_at(text, s)).unwrap_or_default();
        let mut problem = err.message().trim().to_owned();
        if let Some(s) = span {
            let line = text[..s.start].matches('\n').count() + 1;
            problem = format!("{problem} (line {line})");
        }
        Self {
            file: file.to_owned(),
            field,
            problem,
        }
    }

    /// The file (or name) the scenario came from.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft_sim::Scenario;
    /// assert_eq!(Scenario::from_toml("x = 1", "a.toml").unwrap_err().file(), "a.toml");
    /// ```
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The offending field: a dotted path after validation (`lanes.edge.queue_s`),
    /// the key or value text for parse errors; empty when unknown.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft_sim::Scenario;
    /// let err = Scenario::from_toml("colour = 1", "a.toml").unwrap_err();
    /// assert_eq!(err.field(), "colour");
    /// ```
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft_sim::Scenario;
    /// let err = Scenario::from_toml("colour = 1", "a.toml").unwrap_err();
    /// assert!(err.problem().contains("unknown field"));
    /// ```
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file, self.problem)
        } else {
            write!(f, "{}: {}: {}", self.file, self.field, self.problem)
        }
    }
}

impl std::error::Error for ScenarioError {}

/// The dotted key a parse error points at: `table.key`. The span covers
/// either a key (unknown field) or a value (wrong type): for a value, the
/// key is the identifier before the nearest `=` to its left.
fn key_at(text: &str, span: std::ops::Range<usize>) -> String {
    let spanned = text[span.clone()].trim().trim_matches('"');
    let after = text[span.end..].trim_start();
    let key = if after.starts_with('=') || spanned.starts_with('[') {
        spanned.trim_matches(|c| c == '[' || c == ']').to_owned()
    } else {
        let before = &text[..span.start];
        match before.rfind('=') {
            Some(eq) => {
                let head = before[..eq].trim_end();
                // Just past the last character that cannot be in a bare
                // key: a char boundary, whatever that character's width.
                let start = head
                    .char_indices()
                    .rfind(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                    .map_or(0, |(i, c)| i + c.len_utf8());
                head[start..].to_owned()
            }
            None => spanned.to_owned(),
        }
    };
    let table = text[..span.start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    match table {
        Some(t) if !key.is_empty() && key != t => format!("{t}.{key}"),
        _ => key,
    }
}

// === validation ===

struct Check<'a> {
    file: &'a str,
}

impl Check<'_> {
    fn fail(&self, field: &str, problem: &str) -> ScenarioError {
        ScenarioError::new(self.file, field, problem)
    }

    fn description(&self, field: &str, d: &str) -> Result<(), ScenarioError> {
        if d.trim().is_empty() {
            return Err(self.fail(field, "must not be empty (leave it out instead)"));
        }
        if d.chars().any(char::is_control) {
            return Err(self.fail(
                field,
                "must be one line (no line breaks or control characters)",
            ));
        }
        let n = d.chars().count();
        if n > MAX_DESCRIPTION {
            return Err(self.fail(
                field,
                &format!("must be at most {MAX_DESCRIPTION} characters (got {n})"),
            ));
        }
        Ok(())
    }

    fn positive(&self, field: &str, v: f64) -> Result<(), ScenarioError> {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(self.fail(
                field,
                &format!("must be a positive, finite number (got {v})"),
            ))
        }
    }

    /// A request rate: above zero (or at least zero if `zero_ok`) and at
    /// most [`MAX_RPS`].
    fn rate(&self, field: &str, v: f64, zero_ok: bool) -> Result<(), ScenarioError> {
        let low = if zero_ok { v >= 0.0 } else { v > 0.0 };
        if low && v <= MAX_RPS {
            Ok(())
        } else {
            let what = if zero_ok {
                "a rate of at least 0"
            } else {
                "a positive rate"
            };
            Err(self.fail(
                field,
                &format!(
                    "must be {what} and at most {MAX_RPS:e} requests per second (got {})",
                    shown(v)
                ),
            ))
        }
    }

    fn unit(&self, field: &str, v: f64) -> Result<(), ScenarioError> {
        if (0.0..=1.0).contains(&v) {
            Ok(())
        } else {
            Err(self.fail(field, &format!("must be within [0, 1] (got {v})")))
        }
    }

    fn lane(&self, s: &Scenario, field: &str, name: &str) -> Result<(), ScenarioError> {
        if s.lanes.contains_key(name) {
            Ok(())
        } else {
            let known: Vec<&str> = s.lanes.keys().map(String::as_str).collect();
            Err(self.fail(
                field,
                &format!("unknown lane `{name}` (lanes: {})", known.join(", ")),
            ))
        }
    }

    fn client(&self, fleet: &str, c: &ClientSpec) -> Result<(), ScenarioError> {
        self.positive(&format!("{fleet}.client.timeout_s"), c.timeout_s)?;
        self.positive(&format!("{fleet}.client.deadline_s"), c.deadline_s)?;
        if c.devices_per_stack == 0 {
            return Err(self.fail(
                &format!("{fleet}.client.devices_per_stack"),
                "must be at least 1",
            ));
        }
        Ok(())
    }

    fn lane_spec(&self, name: &str, l: &LaneSpec) -> Result<(), ScenarioError> {
        let f = |k: &str| format!("lanes.{name}.{k}");
        self.rate(&f("capacity_rps"), l.capacity_rps, false)?;
        self.lane_kind(name, l)?;
        if let Some(v) = l.do_not_retry_below {
            self.unit(&f("do_not_retry_below"), v)?;
        }
        let mut prev: Option<ClockTime> = None;
        for (i, p) in l.capacity.iter().enumerate() {
            let field = f(&format!("capacity[{i}]"));
            self.unit(&format!("{field}.fraction"), p.fraction)?;
            if prev.is_some_and(|t| p.at <= t) {
                return Err(self.fail(
                    &format!("{field}.at"),
                    &format!("times out of order: {} is not after the point before", p.at),
                ));
            }
            if prev.is_none() && p.ramp {
                return Err(self.fail(&format!("{field}.ramp"), "the first point cannot ramp"));
            }
            prev = Some(p.at);
        }
        Ok(())
    }
}

impl Check<'_> {
    /// Open-loop clients: a known lane, senders, rates in time order.
    fn clients(&self, s: &Scenario, o: &ClientsSpec) -> Result<(), ScenarioError> {
        self.lane(s, "clients.lane", &o.lane)?;
        if o.senders == 0 {
            return Err(self.fail("clients.senders", "must be at least 1"));
        }
        if o.rates.is_empty() {
            return Err(self.fail("clients.rates", "needs at least one point"));
        }
        for (i, r) in o.rates.iter().enumerate() {
            self.rate(&format!("clients.rates[{i}].rps"), r.rps, true)?;
            if i > 0 && r.at <= o.rates[i - 1].at {
                return Err(self.fail(
                    &format!("clients.rates[{i}].at"),
                    &format!("times out of order: {} is not after the point before", r.at),
                ));
            }
        }
        self.client("clients", &o.client)
    }

    /// The fields that belong to the lane's kind, and only those.
    fn lane_kind(&self, name: &str, l: &LaneSpec) -> Result<(), ScenarioError> {
        let f = |k: &str| format!("lanes.{name}.{k}");
        let not_for = |k: &str, kind: &str| {
            Err(self.fail(&f(k), &format!("not used by a {kind} lane; remove it")))
        };
        match l.kind {
            LaneKind::Fifo => {
                let Some(queue_s) = l.queue_s else {
                    return Err(self.fail(&f("queue_s"), "required for a fifo lane"));
                };
                if !(queue_s.is_finite() && queue_s >= 0.0) {
                    return Err(self.fail(&f("queue_s"), "must be a finite number >= 0"));
                }
                let Some(cost) = l.reject_cost else {
                    return Err(self.fail(&f("reject_cost"), "required for a fifo lane"));
                };
                self.unit(&f("reject_cost"), cost)?;
                if l.burst_s.is_some() {
                    return not_for("burst_s", "fifo");
                }
                if l.retry_after_s.is_some() {
                    return not_for("retry_after_s", "fifo");
                }
            }
            LaneKind::RateLimit => {
                if l.queue_s.is_some() {
                    return not_for("queue_s", "rate_limit");
                }
                if l.reject_cost.is_some() {
                    return not_for("reject_cost", "rate_limit");
                }
                if l.retry_after {
                    return Err(self.fail(
                        &f("retry_after"),
                        "a rate_limit lane always sends Retry-After; set retry_after_s instead",
                    ));
                }
                if let Some(b) = l.burst_s {
                    self.positive(&f("burst_s"), b)?;
                    if b > 3600.0 {
                        return Err(self.fail(&f("burst_s"), "must be at most 3600 seconds"));
                    }
                }
                if let Some(r) = l.retry_after_s
                    && !(0.0..=3600.0).contains(&r)
                {
                    return Err(self.fail(
                        &f("retry_after_s"),
                        &format!("must be within 0..=3600 seconds (got {r})"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `v` as written in a message: plain, or in exponent form when large.
fn shown(v: f64) -> String {
    if v.abs() >= 1e9 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

impl Scenario {
    pub(super) fn validate_as(&self, file: &str) -> Result<(), ScenarioError> {
        let c = Check { file };
        if self.sim.start >= self.sim.end {
            return Err(c.fail("sim.end", "times out of order: must be after sim.start"));
        }
        if !(1..=1000).contains(&self.sim.tick_ms) {
            return Err(c.fail("sim.tick_ms", "must be within 1..=1000"));
        }
        for (i, pair) in self.timeline.windows(2).enumerate() {
            if pair[1].at < pair[0].at {
                return Err(c.fail(
                    &format!("timeline[{}].at", i + 1),
                    &format!(
                        "times out of order: {} comes before {}",
                        pair[1].at, pair[0].at
                    ),
                ));
            }
        }
        for (i, w) in self.windows.iter().enumerate() {
            if w.from >= w.to || w.from < self.sim.start || w.to > self.sim.end {
                return Err(c.fail(
                    &format!("windows[{i}]"),
                    "times out of order: need sim.start <= from < to <= sim.end",
                ));
            }
            if let Some(d) = &w.description {
                c.description(&format!("windows[{i}].description"), d)?;
            }
        }
        for (name, lane) in &self.lanes {
            c.lane_spec(name, lane)?;
        }
        if let Some(v) = &self.vacuums {
            c.lane(self, "vacuums.lane", &v.lane)?;
            c.positive("vacuums.period_s", v.period_s)?;
            c.unit("vacuums.herd_fraction", v.herd_fraction)?;
            c.unit("vacuums.command_probability", v.command_probability)?;
            c.client("vacuums", &v.client)?;
        }
        if let Some(s) = &self.streaming {
            c.lane(self, "streaming.heartbeat_lane", &s.heartbeat_lane)?;
            c.lane(self, "streaming.auth_lane", &s.auth_lane)?;
            c.positive("streaming.heartbeat_s", s.heartbeat_s)?;
            c.positive("streaming.refresh_s", s.refresh_s)?;
            c.unit("streaming.cached_fraction", s.cached_fraction)?;
            if s.streams_end < s.streams_start {
                return Err(c.fail("streaming.streams_end", "must be >= streams_start"));
            }
            c.client("streaming", &s.client)?;
        }
        if let Some(t) = &self.tickets {
            c.lane(self, "tickets.lane", &t.lane)?;
            c.positive("tickets.poll_s", t.poll_s)?;
            c.positive("tickets.arrival_minutes", t.arrival_minutes)?;
            c.positive("tickets.stay_min_minutes", t.stay_min_minutes)?;
            c.positive("tickets.stay_max_minutes", t.stay_max_minutes)?;
            c.rate("tickets.provisioned_rps", t.provisioned_rps, true)?;
            if t.stay_max_minutes < t.stay_min_minutes {
                return Err(c.fail("tickets.stay_max_minutes", "must be >= stay_min_minutes"));
            }
            c.client("tickets", &t.client)?;
        }
        if let Some(o) = &self.clients {
            c.clients(self, o)?;
        }
        if self.vacuums.is_none()
            && self.streaming.is_none()
            && self.tickets.is_none()
            && self.clients.is_none()
        {
            return Err(c.fail(
                "",
                "no fleet: add [vacuums], [streaming], [tickets] or [clients]",
            ));
        }
        Ok(())
    }
}
