//! What operators and dashboards use: the state, the hand controls,
//! subscriptions and snapshots. None of it is on a call's path.

use std::sync::atomic::Ordering;

use tokio::sync::watch;
use tokio::time::Instant;

use super::word::decode_state;
use super::{Breaker, Snapshot, emit};
use crate::breaker::BreakerConfig;
use crate::breaker::state::{Core, State, Transition};

impl Breaker {
    /// The current state (one atomic load).
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{Breaker, BreakerConfig, State};
    /// let b = Breaker::new(&BreakerConfig::builder().build()?);
    /// b.disable();
    /// assert_eq!(b.state(), State::Disabled);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn state(&self) -> State {
        decode_state(self.shared.hot.word.load(Ordering::Acquire))
    }

    /// Opens the breaker by hand: every call is rejected until
    /// [`reset`](Self::reset). Overrides every policy.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{Breaker, BreakerConfig, State};
    /// let b = Breaker::new(&BreakerConfig::builder().build()?);
    /// b.force_open();
    /// assert_eq!(b.state(), State::ForcedOpen);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn force_open(&self) {
        self.manual(Core::force_open)
    }

    /// Turns the breaker off by hand: every call is admitted and nothing is
    /// recorded until [`reset`](Self::reset).
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{Breaker, BreakerConfig};
    /// # use tokio::time::Instant;
    /// let b = Breaker::new(&BreakerConfig::builder().build()?);
    /// b.disable();
    /// assert!(b.try_acquire_at(Instant::now()).is_ok());
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn disable(&self) {
        self.manual(Core::disable)
    }

    /// Back to a fresh closed breaker: empty window, no trip history, no
    /// ramp-up. Ends [`force_open`](Self::force_open) and
    /// [`disable`](Self::disable).
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{Breaker, BreakerConfig, State};
    /// let b = Breaker::new(&BreakerConfig::builder().build()?);
    /// b.force_open();
    /// b.reset();
    /// assert_eq!(b.state(), State::Closed);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn reset(&self) {
        self.manual(Core::reset)
    }

    fn manual(&self, f: fn(&mut Core) -> Transition) {
        let change = {
            let mut core = self.lock();
            let change = Some(f(&mut core));
            self.publish(&core, change);
            change
        };
        emit(change);
    }

    /// A receiver that sees every state change (for example to show
    /// "service degraded" in an app).
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{Breaker, BreakerConfig, State};
    /// let b = Breaker::new(&BreakerConfig::builder().build()?);
    /// let mut rx = b.subscribe();
    /// b.force_open();
    /// assert!(rx.has_changed().unwrap());
    /// assert_eq!(*rx.borrow_and_update(), State::ForcedOpen);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn subscribe(&self) -> watch::Receiver<State> {
        self.shared.tx.subscribe()
    }

    /// The state, window rates and next probe time at `now`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{Breaker, BreakerConfig};
    /// # use tokio::time::Instant;
    /// let b = Breaker::new(&BreakerConfig::builder().build()?);
    /// assert_eq!(b.snapshot_at(Instant::now()).calls, 0);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn snapshot_at(&self, now: Instant) -> Snapshot {
        let core = self.lock_at(now);
        let totals = core.totals(now);
        Snapshot {
            state: core.state(),
            failure_rate: totals.failure_rate(),
            slow_call_rate: totals.slow_rate(),
            calls: totals.calls,
            next_probe: core.next_probe(),
            trips: core.trips(now),
            ramping_up: core.is_ramping(),
        }
    }

    /// The config this breaker was built from.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{Breaker, BreakerConfig};
    /// let b = Breaker::new(&BreakerConfig::builder().half_open_probes(4).build()?);
    /// assert_eq!(b.config().half_open_probes(), 4);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn config(&self) -> BreakerConfig {
        self.lock().config().clone()
    }
}
