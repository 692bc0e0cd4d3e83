//! The time of one logical request: when its deadline started, and how
//! long the attempt in flight may run.
//!
//! The clock is read lazily. A request whose first attempt completes at its
//! first poll (a cache, an in-process service, an immediate error) never
//! reads it on the success path; otherwise the deadline starts the first
//! time the request has to wait, or when its first attempt failed at once.
//! Both happen within the first poll of a request that is polled when it
//! is made, as `svc.call(req).await` is.

use std::time::Duration;

use tokio::time::Instant;

use super::Config;
use super::decide::attempt_limit;

/// The deadline of one request and the limit of its current attempt.
#[derive(Debug)]
pub(super) struct Clock {
    /// The configuration has a deadline or a per-attempt timeout.
    timed: bool,
    /// The deadline has been fixed (or there is none to fix).
    started: bool,
    /// The attempt in flight has had its limit worked out.
    armed: bool,
    deadline: Option<Instant>,
    /// How long the attempt in flight may run, once armed.
    pub(super) limit: Option<Duration>,
    /// Whether the deadline, rather than the per-attempt timeout, sets
    /// [`limit`](Self::limit).
    pub(super) by_deadline: bool,
}

impl Clock {
    pub(super) fn new(config: &Config) -> Self {
        Self {
            timed: config.deadline.is_some() || config.attempt_timeout.is_some(),
            started: config.deadline.is_none(),
            armed: false,
            deadline: None,
            limit: None,
            by_deadline: false,
        }
    }

    fn start(&mut self, config: &Config, now: Instant) {
        if !self.started {
            self.started = true;
            // A deadline too far to represent is no deadline.
            self.deadline = config.deadline.and_then(|d| now.checked_add(d));
        }
    }

    /// The request's deadline, starting it now if it has not started.
    pub(super) fn deadline(&mut self, config: &Config) -> Option<Instant> {
        if !self.started {
            self.start(config, crate::time::now());
        }
        self.deadline
    }

    /// When the attempt in flight must be cut short, worked out the first
    /// time it is found pending; `None` once worked out, or when nothing
    /// limits it.
    pub(super) fn arm_at(&mut self, config: &Config) -> Option<Instant> {
        if !self.timed || self.armed {
            return None;
        }
        self.armed = true;
        let now = crate::time::now();
        self.start(config, now);
        let (limit, by_deadline) = attempt_limit(config, self.deadline, now);
        if limit
            .zip(config.inner_timeout)
            .is_some_and(|(l, inner)| l >= inner)
        {
            // The service below ends the attempt first.
            return None;
        }
        // A limit too far to represent is no limit.
        let at = limit.and_then(|limit| now.checked_add(limit));
        self.limit = limit.filter(|_| at.is_some());
        self.by_deadline = by_deadline;
        at
    }

    /// A new attempt is sent: its limit is worked out when it first waits.
    pub(super) fn next_attempt(&mut self) {
        self.armed = false;
        self.limit = None;
        self.by_deadline = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(deadline: Option<u64>, attempt: Option<u64>) -> Config {
        Config {
            max_attempts: 3,
            backoff: crate::backoff::DEFAULT_BACKOFF,
            deadline: deadline.map(Duration::from_secs),
            attempt_timeout: attempt.map(Duration::from_secs),
            inner_timeout: None,
            max_hint: Duration::from_secs(60),
            honor_hints: true,
            throttle_backoff: None,
            hint_over_backoff: false,
        }
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_deadline_starts_when_first_needed_and_then_holds() {
        let c = config(Some(10), None);
        let mut clock = Clock::new(&c);
        tokio::time::advance(Duration::from_secs(3)).await;
        let start = Instant::now();
        let at = clock.arm_at(&c).expect("a deadline limits the attempt");
        assert_eq!(at, start + Duration::from_secs(10));
        assert_eq!(clock.limit, Some(Duration::from_secs(10)));
        assert!(clock.by_deadline);
        assert_eq!(clock.arm_at(&c), None, "armed once per attempt");
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(clock.deadline(&c), Some(start + Duration::from_secs(10)));
        clock.next_attempt();
        assert_eq!(clock.arm_at(&c), Some(start + Duration::from_secs(10)));
        assert_eq!(clock.limit, Some(Duration::from_secs(6)));
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn each_attempt_gets_its_own_timeout_within_the_deadline() {
        let c = config(Some(5), Some(2));
        let mut clock = Clock::new(&c);
        let start = Instant::now();
        assert_eq!(clock.arm_at(&c), Some(start + Duration::from_secs(2)));
        assert!(!clock.by_deadline);
        tokio::time::advance(Duration::from_secs(4)).await;
        clock.next_attempt();
        assert_eq!(clock.arm_at(&c), Some(start + Duration::from_secs(5)));
        assert!(clock.by_deadline);
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn no_timer_while_the_inner_timeout_ends_the_attempt_first() {
        let mut c = config(Some(5), None);
        c.inner_timeout = Some(Duration::from_secs(2));
        let mut clock = Clock::new(&c);
        let start = Instant::now();
        assert_eq!(clock.arm_at(&c), None, "5 s left: the inner 2 s end it");
        assert_eq!(clock.limit, None);
        assert_eq!(clock.deadline(&c), Some(start + Duration::from_secs(5)));
        tokio::time::advance(Duration::from_secs(3)).await;
        clock.next_attempt();
        assert_eq!(clock.arm_at(&c), None, "exactly 2 s left: still first");
        tokio::time::advance(Duration::from_millis(500)).await;
        clock.next_attempt();
        assert_eq!(
            clock.arm_at(&c),
            Some(start + Duration::from_secs(5)),
            "1.5 s left: the deadline ends it"
        );
        assert_eq!(clock.limit, Some(Duration::from_millis(1500)));
        assert!(clock.by_deadline);
    }

    #[test]
    fn untimed_requests_never_arm_and_huge_deadlines_are_none() {
        let c = config(None, None);
        let mut clock = Clock::new(&c);
        assert_eq!(clock.arm_at(&c), None);
        assert_eq!(clock.deadline(&c), None);
        let mut c = config(None, None);
        c.deadline = Some(Duration::MAX);
        let mut clock = Clock::new(&c);
        assert_eq!(clock.deadline(&c), None);
        c.attempt_timeout = Some(Duration::MAX);
        let mut clock = Clock::new(&c);
        assert_eq!(clock.arm_at(&c), None);
        assert_eq!(clock.limit, None, "no timer, so no timeout to report");
    }
}
