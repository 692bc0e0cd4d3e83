//! [`ResponseFuture`]: one logical request through the retry layer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use crate::time::{Instant, Sleep, after, sleep_until};
use pin_project_lite::pin_project;
use tower::Service;

use super::Local;
use super::clock::Clock;
use super::decide::{Guard, Session};
use super::replay::Replay;
use super::stop::StopReason;
use crate::BoxError;
use crate::budget::RetryBudget;
use crate::classify::Classify;
use crate::error::TimedOut;
use crate::rng::Rng;

pin_project! {
    /// The future of one logical request through [`Retry`](super::Retry).
    ///
    /// Resolves to the last attempt's result, unchanged. Every wait is
    /// bounded by the deadline: the attempt in flight, the backoff sleep,
    /// and the wait for the inner service to become ready for a retry (a
    /// `Buffer`, `ConcurrencyLimit` or balancer may stay unready through an
    /// outage). When the deadline passes during that last wait, the request
    /// stops with [`StopReason::Deadline`], gives its budget withdrawal
    /// back, and resolves to the last attempt's result; no retry is sent
    /// once the deadline has passed. After it resolves,
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
        // The attempt timeout while an attempt runs (armed only once the
        // attempt is pending), the backoff sleep between attempts, then the
        // deadline while the service for the retry is not ready.
        #[pin]
        timer: Option<Sleep>,
        // The result of the last attempt while the next one waits, returned
        // if the deadline passes before the retry can be sent.
        last: Option<Result<S::Response, BoxError>>,
        // The service for retries, taken from the layer's spare clone the
        // first time a retry is due.
        svc: Option<S>,
        req: Option<Req>,
        guard: Guard<S, C, B, R>,
        attempts: u32,
        clock: Clock,
        previous_delay: Duration,
        rng: Option<Rng>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Attempt { #[pin] fut: F },
        Backoff,
        // `armed`: the timer is set to the deadline.
        Ready { armed: bool },
        Done,
    }
}

// === impl ResponseFuture ===

impl<S, Req, C, B, R> ResponseFuture<S, Req, C, B, R>
where
    S: Service<Req>,
    B: RetryBudget,
{
    pub(super) fn new(fut: S::Future, req: Option<Req>, shared: Arc<Local<S, C, B, R>>) -> Self {
        let clock = Clock::new(&shared.config);
        Self {
            state: State::Attempt { fut },
            timer: None,
            last: None,
            svc: None,
            req,
            guard: Guard::new(shared),
            attempts: 1,
            clock,
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

/// Whether the request's timer (set to its deadline or attempt limit) has
/// fired; registers `cx` to be woken when it does.
#[inline]
fn fired(timer: Pin<&mut Option<Sleep>>, cx: &mut Context<'_>) -> bool {
    timer
        .as_pin_mut()
        .is_some_and(|timer| timer.poll(cx).is_ready())
}

/// Sets the timer to fire at `at`, reusing its registration when it has one.
fn arm(mut timer: Pin<&mut Option<Sleep>>, at: Instant) {
    if let Some(sleep) = timer.as_mut().as_pin_mut() {
        sleep.reset(at);
    } else {
        timer.set(Some(sleep_until(at)));
    }
}

impl<S, Req, C, B, R> Future for ResponseFuture<S, Req, C, B, R>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    C: Classify<Req, S::Response>,
    B: RetryBudget,
    R: Replay<Req>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Every layer below that reads the clock in this poll gets one
        // reading (see `crate::time::now`).
        let _one_read = crate::time::OnePoll::enter();
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProj::Attempt { fut } => {
                    let result = match fut.poll(cx) {
                        Poll::Ready(res) => res.map_err(Into::into),
                        Poll::Pending => {
                            // The clock is read, and the timer made, only
                            // for attempts that do not finish at their
                            // first poll.
                            if let Some(at) = this.clock.arm_at(&this.guard.shared.config) {
                                arm(this.timer.as_mut(), at);
                            }
                            let Some(limit) = this.clock.limit else {
                                return Poll::Pending;
                            };
                            let fired = fired(this.timer.as_mut(), cx);
                            if !fired {
                                return Poll::Pending;
                            }
                            Err(Box::new(TimedOut::new(limit, this.clock.by_deadline)) as BoxError)
                        }
                    };
                    this.state.set(State::Done);
                    match self.as_mut().decide(&result) {
                        None => return Poll::Ready(result),
                        Some(delay) => {
                            let mut this = self.as_mut().project();
                            arm(this.timer.as_mut(), after(delay));
                            *this.last = Some(result);
                            this.state.set(State::Backoff);
                        }
                    }
                }
                StateProj::Backoff => {
                    if let Some(timer) = this.timer.as_mut().as_pin_mut() {
                        ready!(timer.poll(cx));
                    }
                    this.state.set(State::Ready { armed: false });
                }
                StateProj::Ready { armed } => {
                    let svc = this
                        .svc
                        .get_or_insert_with(|| this.guard.shared.retry_service());
                    // Started by the plan that scheduled this retry.
                    let deadline = this.clock.deadline(&this.guard.shared.config);
                    match svc.poll_ready(cx) {
                        Poll::Ready(Ok(())) => {
                            // A retry path only: the clock is read to send
                            // nothing past the deadline, however late the
                            // backoff timer or the readiness came.
                            if deadline.is_some_and(|d| crate::time::now() >= d) {
                                return Poll::Ready(self.as_mut().expire());
                            }
                        }
                        Poll::Ready(Err(err)) => {
                            // The inner service failed before the retry could
                            // be sent; the withdrawal is spent, not refunded.
                            this.guard.withdrawn = None;
                            *this.last = None;
                            this.state.set(State::Done);
                            let err = Err(err.into());
                            this.guard.record(StopReason::NonRetryable);
                            return Poll::Ready(err);
                        }
                        Poll::Pending => {
                            let Some(deadline) = deadline else {
                                return Poll::Pending;
                            };
                            if !*armed {
                                *armed = true;
                                arm(this.timer.as_mut(), deadline);
                            }
                            let fired = fired(this.timer.as_mut(), cx);
                            if !fired {
                                return Poll::Pending;
                            }
                            return Poll::Ready(self.as_mut().expire());
                        }
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
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    C: Classify<Req, S::Response>,
    B: RetryBudget,
    R: Replay<Req>,
{
    /// The deadline passed before the retry could be sent: gives the
    /// budget withdrawal back and answers with the last attempt's result.
    #[cold]
    fn expire(self: Pin<&mut Self>) -> Result<S::Response, BoxError> {
        let mut this = self.project();
        this.state.set(State::Done);
        if let Some(receipt) = this.guard.withdrawn.take() {
            this.guard.shared.budget.cancel_retry(receipt);
        }
        this.guard.record(StopReason::Deadline);
        let limit = this.guard.shared.config.deadline.unwrap_or_default();
        this.last
            .take()
            .unwrap_or_else(|| Err(Box::new(TimedOut::new(limit, true)) as BoxError))
    }

    /// Sends the next attempt on the (ready) service clone.
    fn send_retry(self: Pin<&mut Self>) {
        let mut this = self.project();
        *this.last = None;
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
        this.clock.next_attempt();
        let svc = this
            .svc
            .as_mut()
            .expect("a retry is sent only after its service is ready");
        let fut = svc.call(to_send);
        this.state.set(State::Attempt { fut });
    }

    /// Decides, after an attempt, whether to return its result (`None`) or
    /// to retry after a delay. Takes the result by reference, so the common
    /// case returns it without moving it around.
    #[inline]
    fn decide(self: Pin<&mut Self>, result: &Result<S::Response, BoxError>) -> Option<Duration> {
        let this = self.project();
        let mut session = Session {
            req: this.req.as_ref(),
            guard: this.guard,
            attempts: *this.attempts,
            clock: this.clock,
            previous_delay: this.previous_delay,
            rng: this.rng,
        };
        if let Some(wait) = session.hold(result) {
            return Some(wait);
        }
        let stop = match session.judge(result) {
            Ok((kind, hint)) => match session.plan(kind, hint) {
                Ok(delay) => return Some(delay),
                Err(stop) => stop,
            },
            Err(StopReason::Succeeded) => {
                // The common case, settled without carrying a stop reason
                // through memory.
                let last_retry = session.guard.last_retry;
                session.guard.shared.budget.on_success_after(last_retry);
                session.guard.record(StopReason::Succeeded);
                return None;
            }
            Err(stop) => stop,
        };
        session.guard.record(stop);
        None
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
