//! What a replay runs: [`RunOptions`], the [`Engine`] behind the layered
//! strategies, and the checks a replay makes of both before it starts.

use super::fleet::fleet_devices;
use super::record::Fleet;
use super::scenario::Scenario;
use super::strategy::Strategy;
use failsoft::ConfigError;

/// Devices one replay simulates at most, all fleets together.
///
/// Each device keeps its own state (phase, random stream, work in flight).
/// A replay of 106,000 devices (`--scale 20` of the built-in scenario)
/// peaks at 45–80 MB per strategy, about 0.5–0.8 kB per device, and takes
/// about two minutes on two cores. Ten million devices (a scale of about
/// 1,880) would need several GB per strategy replaying at once and hours;
/// beyond that a replay is refused rather than left to exhaust memory.
///
/// # Examples
///
/// ```
/// use failsoft_sim::{MAX_DEVICES, RunOptions, Scenario};
///
/// let scenario = Scenario::dec7_2021();
/// let too_big = RunOptions { scale: 1e6, ..RunOptions::default() };
/// let err = too_big.validate(&scenario).unwrap_err();
/// assert_eq!(err.field(), "sim.scale");
/// assert!(MAX_DEVICES >= 1_000_000);
/// ```
pub const MAX_DEVICES: u64 = 10_000_000;

/// What to replay: seed, scale, strategies, fleets and switches.
///
/// # Examples
///
/// ```
/// use failsoft_sim::{RunOptions, Strategy};
/// let opts = RunOptions { scale: 0.1, strategies: vec![Strategy::Naive], ..RunOptions::default() };
/// assert_eq!(opts.seed, 7);
/// ```
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Seed of every random choice.
    pub seed: u64,
    /// Multiplies device counts and capacities (ratios stay the same).
    pub scale: f64,
    /// Strategies to replay, each on its own copy of the day.
    pub strategies: Vec<Strategy>,
    /// Fleets to simulate; empty means all in the scenario. Fleets left out
    /// send nothing, so they no longer load shared lanes.
    pub fleets: Vec<Fleet>,
    /// Let lanes send server hints as their scenario says (`false`: never).
    pub hints: bool,
    /// Strategies replayed in parallel, each on its own thread (0 counts
    /// as 1).
    pub threads: usize,
    /// What runs the layered strategies' requests and timers.
    pub engine: Engine,
}

/// What runs the layered strategies' requests and timers (the plain
/// strategies always run as an event loop).
///
/// Both run the same layers on timers of whole milliseconds. Timers due in
/// the same millisecond fire in the order set on the replay's clock, and
/// in the order of Tokio's timer wheel on Tokio's, which is not always the
/// same: a small replay gives the same report byte for byte, a large one
/// differs in a few counts (at the default scale, one rejection of one
/// strategy moves from one fleet to the other).
///
/// # Examples
///
/// ```
/// use failsoft_sim::{Engine, RunOptions};
/// let opts = RunOptions { engine: Engine::Tokio, ..RunOptions::default() };
/// assert_ne!(opts.engine, Engine::default());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Engine {
    /// The replay's own clock and executor: each request a future in a
    /// reused slot, each timer an entry in a wheel of whole milliseconds
    /// (the resolution of Tokio's timers), timers of one millisecond in
    /// the order set. About twice as fast as [`Engine::Tokio`].
    #[default]
    Replay,
    /// A current-thread Tokio runtime on paused time, a task per request:
    /// the reference the replay's clock is checked against.
    Tokio,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            seed: 7,
            scale: 1.0,
            strategies: Strategy::ALL.to_vec(),
            fleets: Vec::new(),
            hints: true,
            threads: 1,
            engine: Engine::Replay,
        }
    }
}

// === impl RunOptions ===

impl RunOptions {
    /// Devices this replay of `scenario` simulates: those of the selected
    /// fleets at this scale.
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft_sim::{RunOptions, Scenario};
    ///
    /// let scenario = Scenario::dec7_2021();
    /// let at_20 = RunOptions { scale: 20.0, ..RunOptions::default() };
    /// assert!(at_20.devices(&scenario) > 100_000);
    /// ```
    pub fn devices(&self, scenario: &Scenario) -> u64 {
        Fleet::ALL
            .into_iter()
            .filter(|f| self.fleets.is_empty() || self.fleets.contains(f))
            .map(|f| u64::from(fleet_devices(scenario, f, self.scale)))
            .sum()
    }

    /// Checks that these options can replay `scenario`.
    /// [`replay`](super::replay) makes this check before it starts.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `sim.scale` if the scale is not a finite
    /// number above zero, or if it gives more than [`MAX_DEVICES`] devices;
    /// one naming `sim.strategies` if a strategy is listed twice (its rows
    /// would be reported twice).
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft_sim::{RunOptions, Scenario};
    ///
    /// let scenario = Scenario::dec7_2021();
    /// assert!(RunOptions::default().validate(&scenario).is_ok());
    /// let err = RunOptions { scale: f64::NAN, ..RunOptions::default() }
    ///     .validate(&scenario)
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "invalid config: sim.scale must be a finite number above zero");
    /// ```
    pub fn validate(&self, scenario: &Scenario) -> Result<(), ConfigError> {
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(ConfigError::new(
                "sim.scale",
                "must be a finite number above zero",
            ));
        }
        let strategies = &self.strategies;
        if (1..strategies.len()).any(|i| strategies[..i].contains(&strategies[i])) {
            return Err(ConfigError::new("sim.strategies", "lists a strategy twice"));
        }
        if self.devices(scenario) > MAX_DEVICES {
            return Err(ConfigError::new(
                "sim.scale",
                "gives more devices than one replay simulates (sim::MAX_DEVICES, 10 million)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(scale: f64) -> RunOptions {
        RunOptions {
            scale,
            ..RunOptions::default()
        }
    }

    #[test]
    fn a_scale_that_is_not_a_positive_number_is_refused_by_name() {
        let s = Scenario::dec7_2021();
        for scale in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, -1.0] {
            let err = at(scale).validate(&s).unwrap_err();
            assert_eq!(err.field(), "sim.scale", "scale {scale}");
            assert!(err.to_string().contains("above zero"), "{err}");
        }
        assert!(
            at(1e-6).validate(&s).is_ok(),
            "tiny but positive is allowed"
        );
    }

    #[test]
    fn a_scale_beyond_the_device_limit_is_refused_and_the_limit_itself_is_not() {
        let s = Scenario::dec7_2021();
        let per_unit = at(1.0).devices(&s) as f64;
        let at_limit = at(MAX_DEVICES as f64 / per_unit * 0.999);
        assert!(at_limit.devices(&s) <= MAX_DEVICES);
        assert!(at_limit.validate(&s).is_ok());
        let over = at(MAX_DEVICES as f64 / per_unit * 1.01);
        assert!(over.devices(&s) > MAX_DEVICES);
        let err = over.validate(&s).unwrap_err();
        assert_eq!(err.field(), "sim.scale");
        assert!(err.to_string().contains("MAX_DEVICES"), "{err}");
        // Counts saturate instead of wrapping: a huge scale is refused too.
        assert!(at(1e300).validate(&s).is_err());
    }

    #[test]
    fn a_strategy_listed_twice_is_refused() {
        let s = Scenario::dec7_2021();
        let twice = RunOptions {
            strategies: vec![Strategy::Naive, Strategy::Failsoft, Strategy::Naive],
            ..at(1.0)
        };
        assert_eq!(twice.validate(&s).unwrap_err().field(), "sim.strategies");
        let once = RunOptions {
            strategies: vec![Strategy::Naive, Strategy::Failsoft],
            ..at(1.0)
        };
        assert!(once.validate(&s).is_ok());
    }

    #[test]
    fn only_the_selected_fleets_count_towards_the_limit() {
        let s = Scenario::dec7_2021();
        let all = at(1.0).devices(&s);
        let vacuums = RunOptions {
            fleets: vec![Fleet::Vacuums],
            ..at(1.0)
        };
        assert!(vacuums.devices(&s) > 0 && vacuums.devices(&s) < all);
    }
}
