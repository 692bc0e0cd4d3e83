//! [`ResponseFuture`]: one logical request through the retry layer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep, sleep_until};
use tower::Service;

use super::replay::Replay;
use super::stop::StopReason;
use super::{Config, Shared};
use crate::BoxError;
use crate::budget::RetryBudget;
use crate::classify::{Classify, FailureKind, Hint, Outcome};
use crate::error::{TimedOut, is_local_rejection};
use crate::rng::Rng;

pin_project! {
    /// The future of one logical request through [`Retry`](super::Retry).
    ///
    /// Resolves to the last attempt's result, unchanged. After it resolves,
    /// [`stop_reason`](Self::stop_reason) says why retrying stopped and
    /// [`attempts`](Self::attempts) how many attempts were sent.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future at any await point is safe: the attempt in
    /// flight is dropped, a budget withdrawal made for a retry not yet sent
    /// is given back ([`RetryBudget::cancel_retry`]), and the request is
    /// counted as cancelled in [`RetryCounters`](super::RetryCounters).
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::retry::{RetryLayer, StopReason};
    /// use std::pin::pin;
    /// use tower::{service_fn, Layer, Service};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut svc = RetryLayer::new().layer(service_fn(|_: ()| async {
    ///     Err::<(), _>(failsoft::BoxError::from("down"))
    /// }));
    /// let mut fut = pin!(svc.call(()));
    /// assert!(fut.as_mut().await.is_err());
    /// assert_eq!(fut.attempts(), 3);
    /// assert_eq!(fut.stop_reason(), Some(StopReason::AttemptsExhausted));
    /// # }
    /// ```
    pub struct ResponseFuture<S, Req, C, B, R>
    where
        S: Service<Req>,
        B: RetryBudget,
    {
        #[pin]
        state: State<S::Future>,
        #[pin]
        timer: Option<Sleep>,
        svc: S,
        req: Option<Req>,
        guard: Guard<C, B, R>,
        attempts: u32,
        timer_after: Duration,
        timer_is_deadline: bool,
        deadline: Option<Instant>,
        previous_delay: Duration,
        rng: Option<Rng>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Attempt { #[pin] fut: F },
        Backoff { #[pin] sleep: Sleep },
        Ready,
        Done,
    }
}

/// Owns the shared state and settles the request's accounts on drop.
struct Guard<C, B: RetryBudget, R> {
    shared: Arc<Shared<C, B, R>>,
    stop: Option<StopReason>,
    withdrawn: Option<FailureKind>,
}

enum Next<T> {
    Return(T),
    Retry(Duration),
}

// === impl ResponseFuture ===

impl<S, Req, C, B, R> ResponseFuture<S, Req, C, B, R>
where
    S: Service<Req>,
    B: RetryBudget,
{
    pub(super) fn new(
        fut: S::Future,
        svc: S,
        req: Option<Req>,
        shared: Arc<Shared<C, B, R>>,
    ) -> Self {
        let config = &shared.config;
        let needs_clock = config.deadline.is_some() || config.attempt_timeout.is_some();
        let (deadline, timer, timer_after, timer_is_deadline) = if needs_clock {
            let now = Instant::now();
            let deadline = config.deadline.map(|d| now + d);
            let (after, by_deadline) = attempt_limit(config, deadline, now);
            let timer = after.map(|after| sleep(after));
            (deadline, timer, after.unwrap_or_default(), by_deadline)
        } else {
            (None, None, Duration::ZERO, false)
        };
        Self {
            state: State::Attempt { fut },
            timer,
            svc,
            req,
            guard: Guard {
                shared,
                stop: None,
                withdrawn: None,
            },
            attempts: 1,
            timer_after,
            timer_is_deadline,
            deadline,
            previous_delay: Duration::ZERO,
            rng: None,
        }
    }

    /// Attempts sent so far (1 once the future exists).
    ///
    /// # Examples
    ///
    /// See the [type-level example](Self).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Why retrying stopped; `None` until the future has resolved.
    ///
    /// # Examples
    ///
    /// See the [type-level example](Self).
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.guard.stop
    }
}

/// How long the next attempt may run, and whether the deadline (rather
/// than the per-attempt timeout) is what limits it.
fn attempt_limit(
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

impl<S, Req, C, B, R> Future for ResponseFuture<S, Req, C, B, R>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<Req, S::Response>,
    B: RetryBudget,
    R: Replay<Req>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProj::Attempt { fut } => {
                    let result = match fut.poll(cx) {
                        Poll::Ready(res) => res.map_err(Into::into),
                        Poll::Pending => {
                            let fired = this
                                .timer
                                .as_mut()
                                .as_pin_mut()
                                .is_some_and(|timer| timer.poll(cx).is_ready());
                            if !fired {
                                return Poll::Pending;
                            }
                            let timed_out =
                                TimedOut::new(*this.timer_after, *this.timer_is_deadline);
                            Err(Box::new(timed_out) as BoxError)
                        }
                    };
                    this.state.set(State::Done);
                    this.timer.set(None);
                    match self.as_mut().decide(result) {
                        Next::Return(result) => return Poll::Ready(result),
                        Next::Retry(delay) => {
                            let mut this = self.as_mut().project();
                            this.state.set(State::Backoff {
                                sleep: sleep(delay),
                            });
                        }
                    }
                }
                StateProj::Backoff { sleep } => {
                    ready!(sleep.poll(cx));
                    this.state.set(State::Ready);
                }
                StateProj::Ready => {
                    if let Err(err) = ready!(this.svc.poll_ready(cx)) {
                        // The inner service failed before the retry could
                        // be sent; the withdrawal is spent, not refunded.
                        this.guard.withdrawn = None;
                        this.state.set(State::Done);
                        return Poll::Ready(Err(this
                            .guard
                            .finish(StopReason::NonRetryable, err.into())));
                    }
                    self.as_mut().send_retry();
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}

impl<S, Req, C, B, R> ResponseFuture<S, Req, C, B, R>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<Req, S::Response>,
    B: RetryBudget,
    R: Replay<Req>,
{
    /// Sends the next attempt on the (ready) service clone.
    fn send_retry(self: Pin<&mut Self>) {
        let mut this = self.project();
        let shared = &this.guard.shared;
        let copy = this
            .req
            .take()
            .expect("a retry is only scheduled with a request copy");
        // Send a fresh copy and keep `copy` to classify the result; if the
        // replay declines now, send `copy` itself and pass the result through.
        let to_send = match shared.replay.replay(&copy) {
            Some(fresh) => {
                *this.req = Some(copy);
                fresh
            }
            None => copy,
        };
        this.guard.withdrawn = None;
        shared.counters.retry();
        *this.attempts = this.attempts.saturating_add(1);
        if this.deadline.is_some() || shared.config.attempt_timeout.is_some() {
            let now = Instant::now();
            let (after, by_deadline) = attempt_limit(&shared.config, *this.deadline, now);
            *this.timer_after = after.unwrap_or_default();
            *this.timer_is_deadline = by_deadline;
            this.timer.set(after.map(|a| sleep_until(now + a)));
        }
        let fut = this.svc.call(to_send);
        this.state.set(State::Attempt { fut });
    }

    /// Decides, after an attempt, whether to return or to retry.
    fn decide(
        self: Pin<&mut Self>,
        result: Result<S::Response, BoxError>,
    ) -> Next<Result<S::Response, BoxError>> {
        let this = self.project();
        let mut session = Session {
            req: this.req.as_ref(),
            guard: this.guard,
            attempts: *this.attempts,
            deadline: *this.deadline,
            previous_delay: this.previous_delay,
            rng: this.rng,
        };
        let planned = session
            .judge(&result)
            .and_then(|(kind, hint)| session.plan(kind, hint));
        match planned {
            Ok(delay) => Next::Retry(delay),
            Err(stop) => {
                if stop.is_success() {
                    let retried = session.attempts > 1;
                    session.guard.shared.budget.on_success(retried);
                }
                Next::Return(session.guard.finish_with(stop, result))
            }
        }
    }
}

/// The parts of a [`ResponseFuture`] that decide about the next retry.
struct Session<'a, Req, C, B: RetryBudget, R> {
    req: Option<&'a Req>,
    guard: &'a mut Guard<C, B, R>,
    attempts: u32,
    deadline: Option<Instant>,
    previous_delay: &'a mut Duration,
    rng: &'a mut Option<Rng>,
}

impl<Req, C, B: RetryBudget, R> Session<'_, Req, C, B, R> {
    /// What the result means: a retryable failure (with its hint), or why
    /// to stop now.
    fn judge<Res>(
        &self,
        result: &Result<Res, BoxError>,
    ) -> Result<(FailureKind, Option<Hint>), StopReason>
    where
        C: Classify<Req, Res>,
    {
        let shared = &self.guard.shared;
        let req = self.req.ok_or(StopReason::NotReplayable)?;
        if let Err(err) = result
            && is_local_rejection(err.as_ref())
        {
            return Err(StopReason::LocalRejection);
        }
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
        if hint == Some(Hint::DoNotRetry) {
            return Err(StopReason::DoNotRetry);
        }
        if self.attempts >= shared.config.max_attempts {
            return Err(StopReason::AttemptsExhausted);
        }
        Ok((kind, hint))
    }

    /// The delay before the next retry, or why no retry may start: the
    /// backoff, raised to a (clamped) server hint, checked against the
    /// deadline, then paid for from the budget.
    fn plan(&mut self, kind: FailureKind, hint: Option<Hint>) -> Result<Duration, StopReason> {
        let shared = Arc::clone(&self.guard.shared);
        let config = &shared.config;
        let rng = self.rng.get_or_insert_with(|| shared.streams.next_stream());
        let mut delay = config
            .backoff
            .delay(self.attempts - 1, *self.previous_delay, rng);
        let now = self.deadline.map(|_| Instant::now());
        let past_deadline = |wait: Duration| match (self.deadline, now) {
            (Some(deadline), Some(now)) => now.checked_add(wait).is_none_or(|at| at >= deadline),
            _ => false,
        };
        if let Some(Hint::RetryAfter(wanted)) = hint {
            if past_deadline(wanted) {
                return Err(StopReason::Hint);
            }
            shared.counters.hint(wanted > config.max_hint);
            delay = delay.max(wanted.min(config.max_hint));
        }
        if past_deadline(delay) {
            return Err(StopReason::Deadline);
        }
        shared.budget.try_retry(kind).map_err(StopReason::Budget)?;
        self.guard.withdrawn = Some(kind);
        *self.previous_delay = delay;
        tracing::debug!(
            attempt = self.attempts + 1,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            kind = kind.as_str(),
            "retry scheduled"
        );
        Ok(delay)
    }
}

impl<S, Req, C, B, R> fmt::Debug for ResponseFuture<S, Req, C, B, R>
where
    S: Service<Req>,
    B: RetryBudget,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("attempts", &self.attempts)
            .field("stop_reason", &self.guard.stop)
            .finish_non_exhaustive()
    }
}

// === impl Guard ===

impl<C, B: RetryBudget, R> Guard<C, B, R> {
    /// Records the stop and returns `err` unchanged.
    fn finish(&mut self, stop: StopReason, err: BoxError) -> BoxError {
        self.record(stop);
        err
    }

    /// Records the stop and returns `result` unchanged.
    fn finish_with<T>(&mut self, stop: StopReason, result: T) -> T {
        self.record(stop);
        result
    }

    fn record(&mut self, stop: StopReason) {
        self.stop = Some(stop);
        self.shared.counters.stopped(stop);
        if !stop.is_success() {
            tracing::debug!(reason = %stop, "retry gave up");
        }
    }
}

impl<C, B: RetryBudget, R> Drop for Guard<C, B, R> {
    fn drop(&mut self) {
        if let Some(kind) = self.withdrawn.take() {
            self.shared.budget.cancel_retry(kind);
        }
        if self.stop.is_none() {
            self.shared.counters.cancelled();
        }
    }
}
