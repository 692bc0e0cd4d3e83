//! The decisions of one logical request: what an attempt's result means,
//! when the next attempt may start, and the accounts settled on drop.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::clock::Clock;
use super::stop::StopReason;
use super::{Config, Local};
use crate::BoxError;
use crate::budget::RetryBudget;
use crate::classify::{Classify, FailureKind, Hint, Outcome};
use crate::error::{TimedOut, held_until, is_local_rejection};
use crate::rng::Rng;

/// Owns the shared state and settles the request's accounts on drop.
pub(super) struct Guard<S, C, B: RetryBudget, R> {
    pub(super) shared: Arc<Local<S, C, B, R>>,
    pub(super) stop: Option<StopReason>,
    /// The receipt of the budget withdrawal for a retry not yet sent.
    pub(super) withdrawn: Option<B::Receipt>,
    /// What the last granted retry paid for (`None` before any retry).
    pub(super) last_retry: Option<FailureKind>,
    /// Attempts made when the backoff last restarted: a server pushback
    /// resets the backoff to its first step (gRFC A6).
    backoff_origin: u32,
}

/// How long the next attempt may run, and whether the deadline (rather
/// than the per-attempt timeout) is what limits it.
pub(super) fn attempt_limit(
    config: &Config,
    deadline: Option<Instant>,
    now: Instant,
) -> (Option<Duration>, bool) {
    let remaining = deadline.map(|d| d.saturating_duration_since(now));
    match (config.attempt_timeout, remaining) {
        (Some(t), Some(r)) if r <= t => (Some(r), true),
        (Some(t), _) => (Some(t), false),
        (None, Some(r)) => (Some(r), true),
        (None, None) => (None, false),
    }
}

/// The parts of a [`ResponseFuture`](super::future::ResponseFuture) that decide about the next retry.
pub(super) struct Session<'a, S, Req, C, B: RetryBudget, R> {
    pub(super) req: Option<&'a Req>,
    pub(super) guard: &'a mut Guard<S, C, B, R>,
    pub(super) attempts: u32,
    pub(super) clock: &'a mut Clock,
    pub(super) previous_delay: &'a mut Duration,
    pub(super) rng: &'a mut Option<Rng>,
}

impl<S, Req, C, B: RetryBudget, R> Session<'_, S, Req, C, B, R> {
    /// What the result means: a retryable failure (with its hint), or why
    /// to stop now.
    #[inline]
    pub(super) fn judge<Res>(
        &self,
        result: &Result<Res, BoxError>,
    ) -> Result<(FailureKind, Option<Hint>), StopReason>
    where
        C: Classify<Req, Res>,
    {
        let shared = &self.guard.shared;
        // Never retried, whether or not the request could be replayed.
        if let Err(err) = result
            && is_local_rejection(err.as_ref())
        {
            return Err(StopReason::LocalRejection);
        }
        let req = self.req.ok_or(StopReason::NotReplayable)?;
        let verdict = shared.classify.classify(req, result);
        let kind = match verdict.outcome {
            Outcome::Success => return Err(StopReason::Succeeded),
            Outcome::Fatal => return Err(StopReason::NonRetryable),
            Outcome::Retryable(kind) => kind,
        };
        if let Err(err) = result
            && err
                .downcast_ref::<TimedOut>()
                .is_some_and(TimedOut::by_deadline)
        {
            return Err(StopReason::Deadline);
        }
        let hint = verdict.hint.filter(|_| shared.config.honor_hints);
        if hint == Some(Hint::Malformed) {
            shared.counters.malformed_hint();
        }
        let stop = if hint == Some(Hint::DoNotRetry) {
            StopReason::DoNotRetry
        } else if self.attempts >= shared.config.max_attempts {
            StopReason::AttemptsExhausted
        } else {
            return Ok((kind, hint));
        };
        // A failure that counts, though it is not retried (gRFC A6).
        shared.budget.on_final_failure(kind);
        Err(stop)
    }

    /// The wait before sending an attempt again that a pacing throttle
    /// below held ([`Paced::holds`](crate::error::Paced::holds)),
    /// or `None` to judge the result as usual. Holds only a replayable
    /// request with an attempt left, and only when it can go out before its
    /// deadline; takes nothing from the budget (the attempt was never
    /// sent). The wait runs to the pace's end and on by up to a fifth of
    /// itself (`× U(1, 1.2)`), so the requests a client held during a pace
    /// do not all go out in its last instant.
    #[inline]
    pub(super) fn hold<Res>(&mut self, result: &Result<Res, BoxError>) -> Option<Duration> {
        let until = held_until(result.as_ref().err()?.as_ref())?;
        let shared = Arc::clone(&self.guard.shared);
        if self.req.is_none() || self.attempts >= shared.config.max_attempts {
            return None;
        }
        let now = crate::time::now();
        let rng = self.rng.get_or_insert_with(|| shared.streams.next_stream());
        let left = until.saturating_duration_since(now).as_secs_f64();
        let wait =
            Duration::try_from_secs_f64(left * rng.uniform(1.0, 1.2)).unwrap_or(Duration::MAX);
        if let Some(deadline) = self.clock.deadline(&shared.config)
            && now.checked_add(wait).is_none_or(|at| at >= deadline)
        {
            return None;
        }
        shared.counters.held();
        tracing::debug!(
            attempt = self.attempts + 1,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "held for the server's pacing"
        );
        Some(wait)
    }

    /// The delay before the next retry, or why no retry may start: the
    /// backoff, raised to a `Retry-After` or replaced by a pushback (both
    /// clamped), checked against the deadline, then paid for from the
    /// budget.
    pub(super) fn plan(
        &mut self,
        kind: FailureKind,
        hint: Option<Hint>,
    ) -> Result<Duration, StopReason> {
        let delay = match self.delay(kind, hint) {
            Ok(delay) => delay,
            Err(stop) => {
                // The attempt failed and is not retried: it still counts.
                self.guard.shared.budget.on_final_failure(kind);
                return Err(stop);
            }
        };
        let budget = &self.guard.shared.budget;
        let receipt = budget.try_retry(kind).map_err(StopReason::Budget)?;
        self.guard.withdrawn = Some(receipt);
        self.guard.last_retry = Some(kind);
        tracing::debug!(
            attempt = self.attempts + 1,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            kind = kind.as_str(),
            "retry scheduled"
        );
        Ok(delay)
    }

    /// The wait before the next attempt, or the deadline reason to stop.
    fn delay(&mut self, kind: FailureKind, hint: Option<Hint>) -> Result<Duration, StopReason> {
        let shared = Arc::clone(&self.guard.shared);
        let config = &shared.config;
        let deadline = self.clock.deadline(config);
        let now = deadline.map(|_| crate::time::now());
        let past_deadline = |wait: Duration| match (deadline, now) {
            (Some(deadline), Some(now)) => now.checked_add(wait).is_none_or(|at| at >= deadline),
            _ => false,
        };
        if let Some(Hint::Pushback(wanted)) = hint {
            // gRFC A6: retry in exactly this long, then start the backoff
            // over from its first step.
            if past_deadline(wanted) {
                return Err(StopReason::Hint);
            }
            shared.counters.hint(wanted > config.max_hint);
            self.guard.backoff_origin = self.attempts;
            *self.previous_delay = Duration::ZERO;
            return Ok(wanted.min(config.max_hint));
        }
        let rng = self.rng.get_or_insert_with(|| shared.streams.next_stream());
        let step = self.attempts.saturating_sub(1 + self.guard.backoff_origin);
        let backoff = match config.throttle_backoff {
            Some(throttled) if kind == FailureKind::Throttled => throttled,
            _ => config.backoff,
        };
        let mut delay = backoff.delay(step, *self.previous_delay, rng);
        if let Some(Hint::RetryAfter(wanted)) = hint {
            if past_deadline(wanted) {
                return Err(StopReason::Hint);
            }
            let cap = if config.hint_over_backoff {
                delay.saturating_add(config.max_hint)
            } else {
                config.max_hint
            };
            shared.counters.hint(wanted > cap);
            delay = delay.max(wanted.min(cap));
        }
        if past_deadline(delay) {
            return Err(StopReason::Deadline);
        }
        *self.previous_delay = delay;
        Ok(delay)
    }
}

// === impl Guard ===

impl<S, C, B: RetryBudget, R> Guard<S, C, B, R> {
    /// A request's accounts, empty.
    pub(super) fn new(shared: Arc<Local<S, C, B, R>>) -> Self {
        Self {
            shared,
            stop: None,
            withdrawn: None,
            last_retry: None,
            backoff_origin: 0,
        }
    }

    /// Records why the request stopped.
    #[inline]
    pub(super) fn record(&mut self, stop: StopReason) {
        self.stop = Some(stop);
        if stop.is_success() {
            self.shared.counters.succeeded();
        } else {
            self.gave_up(stop);
        }
    }

    #[cold]
    fn gave_up(&self, stop: StopReason) {
        gave_up(&self.shared, stop);
    }
}

/// Counts a request that stopped without success, and says why.
pub(super) fn gave_up<C, B, R>(shared: &super::Shared<C, B, R>, stop: StopReason) {
    shared.counters.stopped(stop);
    tracing::debug!(reason = %stop, "retry gave up");
}

impl<S, C, B: RetryBudget, R> Drop for Guard<S, C, B, R> {
    fn drop(&mut self) {
        if let Some(receipt) = self.withdrawn.take() {
            self.shared.budget.cancel_retry(receipt);
        }
        if self.stop.is_none() {
            self.shared.counters.cancelled();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(attempt_timeout: Option<Duration>) -> Config {
        Config {
            max_attempts: 3,
            backoff: crate::backoff::DEFAULT_BACKOFF,
            deadline: None,
            attempt_timeout,
            inner_timeout: None,
            max_hint: Duration::from_secs(60),
            honor_hints: true,
            throttle_backoff: None,
            hint_over_backoff: false,
        }
    }

    #[test]
    fn attempt_gets_the_smaller_of_timeout_and_time_left() {
        let now = Instant::now();
        let secs = Duration::from_secs;
        let c = config(Some(secs(2)));
        assert_eq!(
            attempt_limit(&c, Some(now + secs(5)), now),
            (Some(secs(2)), false)
        );
        assert_eq!(
            attempt_limit(&c, Some(now + secs(1)), now),
            (Some(secs(1)), true)
        );
        assert_eq!(attempt_limit(&c, None, now), (Some(secs(2)), false));
        let c = config(None);
        assert_eq!(
            attempt_limit(&c, Some(now + secs(1)), now),
            (Some(secs(1)), true)
        );
        assert_eq!(attempt_limit(&c, None, now), (None, false));
        // A deadline already past leaves a zero-length attempt, never a panic.
        assert_eq!(
            attempt_limit(&c, Some(now), now + secs(3)),
            (Some(Duration::ZERO), true)
        );
    }
}
