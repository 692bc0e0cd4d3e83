//! What one attempt's result means: [`Verdict`], [`Outcome`] and [`Classify`].
//!
//! A classifier sees the request and the attempt's result and says whether
//! it succeeded, failed in a way worth retrying (and of what kind), or failed
//! for good, plus an optional server [`Hint`] such as `Retry-After`. The
//! retry layer, budgets, throttle and breaker all act on verdicts, never on
//! raw responses, so one classifier describes a backend for the whole stack.
//!
//! Closures `Fn(&Req, &Result<Res, BoxError>) -> Verdict` are classifiers.

use crate::BoxError;
use crate::error::{TimedOut, is_local_rejection};

mod grpc;
mod hint;

pub use self::grpc::GrpcCodes;
pub use self::hint::Hint;

/// How one attempt went.
///
/// # Examples
///
/// ```
/// use failsoft::classify::{FailureKind, Outcome};
/// assert!(Outcome::Retryable(FailureKind::Timeout).is_failure());
/// assert!(!Outcome::Success.is_failure());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The attempt succeeded.
    Success,
    /// The attempt failed and another attempt may succeed.
    Retryable(FailureKind),
    /// The attempt failed and retrying would not help (a 4xx, a parse
    /// error, a local rejection).
    Fatal,
}

/// The kind of a retryable failure. Budgets may charge kinds differently
/// (a timeout costs more than a throttle, after the AWS SDK).
///
/// # Examples
///
/// ```
/// use failsoft::classify::FailureKind;
/// assert_eq!(FailureKind::Throttled.as_str(), "throttled");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// A transient error: connection reset, 5xx, unavailable.
    Error,
    /// The attempt timed out.
    Timeout,
    /// The server said it is overloaded (429, 503 with `Retry-After`,
    /// `RESOURCE_EXHAUSTED`).
    Throttled,
}

/// A classifier's answer: the outcome and an optional server hint.
///
/// # Examples
///
/// ```
/// use failsoft::classify::{FailureKind, Hint, Verdict};
/// use std::time::Duration;
///
/// let v = Verdict::retryable(FailureKind::Throttled)
///     .with_hint(Hint::RetryAfter(Duration::from_secs(1)));
/// assert!(v.outcome.is_failure());
/// assert_eq!(v.hint, Some(Hint::RetryAfter(Duration::from_secs(1))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict {
    /// How the attempt went.
    pub outcome: Outcome,
    /// What the server said about retrying, if anything.
    pub hint: Option<Hint>,
}

/// Decides what an attempt's result means.
///
/// Implemented for closures `Fn(&Req, &Result<Res, BoxError>) -> Verdict`.
/// Errors arrive boxed (the stack's error type is [`BoxError`]), so a
/// classifier downcasts to the errors it knows.
///
/// Whatever a classifier says, the retry layer never retries a local
/// rejection ([`is_local_rejection`]).
///
/// # Examples
///
/// ```
/// use failsoft::classify::{Classify, FailureKind, Verdict};
/// use failsoft::BoxError;
///
/// // A status-code classifier for a toy response type.
/// let classify = |_req: &&str, res: &Result<u16, BoxError>| match res {
///     Ok(200..=299) => Verdict::success(),
///     Ok(429 | 503) => Verdict::retryable(FailureKind::Throttled),
///     Ok(500..=599) => Verdict::retryable(FailureKind::Error),
///     Ok(_) => Verdict::fatal(),
///     Err(_) => Verdict::retryable(FailureKind::Error),
/// };
/// assert_eq!(classify.classify(&"GET /", &Ok(503)), Verdict::retryable(FailureKind::Throttled));
/// ```
pub trait Classify<Req, Res> {
    /// Classifies one attempt of `req` that ended with `result`.
    fn classify(&self, req: &Req, result: &Result<Res, BoxError>) -> Verdict;
}

/// The default classifier: `Ok` is a success; an error is retryable.
///
/// - [`TimedOut`] errors are [`FailureKind::Timeout`];
/// - local rejections ([`CircuitOpen`](crate::error::CircuitOpen),
///   [`Throttled`](crate::error::Throttled)) are [`Outcome::Fatal`];
/// - every other error is [`FailureKind::Error`].
///
/// # Examples
///
/// ```
/// use failsoft::classify::{Classify, DefaultClassify, FailureKind, Verdict};
/// use failsoft::BoxError;
///
/// let ok: Result<u8, BoxError> = Ok(1);
/// assert_eq!(DefaultClassify.classify(&(), &ok), Verdict::success());
/// let err: Result<u8, BoxError> = Err("reset".into());
/// assert_eq!(DefaultClassify.classify(&(), &err), Verdict::retryable(FailureKind::Error));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassify;

/// A classifier that looks at the result only, whatever the request type.
///
/// Layers that no longer hold the request (the throttle and the breaker
/// classify with `Classify<(), Res>`) and the retry layer (which holds it)
/// can then share one classifier, as [`StackBuilder::classify_results`]
/// does.
///
/// [`StackBuilder::classify_results`]: crate::stack::StackBuilder::classify_results
///
/// # Examples
///
/// ```
/// use failsoft::classify::{ByResult, Classify, FailureKind, Verdict};
/// use failsoft::BoxError;
///
/// let by_status = ByResult(|res: &Result<u16, BoxError>| match res {
///     Ok(503) => Verdict::retryable(FailureKind::Throttled),
///     Ok(_) => Verdict::success(),
///     Err(_) => Verdict::retryable(FailureKind::Error),
/// });
/// assert_eq!(by_status.classify(&(), &Ok(503)), Verdict::retryable(FailureKind::Throttled));
/// assert_eq!(by_status.classify(&"GET /", &Ok(200)), Verdict::success());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ByResult<F>(pub F);

// === impl Outcome ===

impl Outcome {
    /// `true` for [`Outcome::Retryable`] and [`Outcome::Fatal`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::Outcome;
    /// assert!(Outcome::Fatal.is_failure());
    /// ```
    pub const fn is_failure(self) -> bool {
        !matches!(self, Outcome::Success)
    }
}

// === impl FailureKind ===

impl FailureKind {
    /// A short lowercase name, used in tracing fields and reports.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::FailureKind;
    /// assert_eq!(FailureKind::Timeout.as_str(), "timeout");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureKind::Error => "error",
            FailureKind::Timeout => "timeout",
            FailureKind::Throttled => "throttled",
        }
    }
}

// === impl Verdict ===

impl Verdict {
    /// A success without hint.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::{Outcome, Verdict};
    /// assert_eq!(Verdict::success().outcome, Outcome::Success);
    /// ```
    pub const fn success() -> Self {
        Self {
            outcome: Outcome::Success,
            hint: None,
        }
    }

    /// A retryable failure of `kind` without hint.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::{FailureKind, Outcome, Verdict};
    /// let v = Verdict::retryable(FailureKind::Error);
    /// assert_eq!(v.outcome, Outcome::Retryable(FailureKind::Error));
    /// ```
    pub const fn retryable(kind: FailureKind) -> Self {
        Self {
            outcome: Outcome::Retryable(kind),
            hint: None,
        }
    }

    /// A failure that must not be retried.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::{Outcome, Verdict};
    /// assert_eq!(Verdict::fatal().outcome, Outcome::Fatal);
    /// ```
    pub const fn fatal() -> Self {
        Self {
            outcome: Outcome::Fatal,
            hint: None,
        }
    }

    /// The same verdict carrying a server hint.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::{FailureKind, Hint, Verdict};
    /// let v = Verdict::retryable(FailureKind::Throttled).with_hint(Hint::DoNotRetry);
    /// assert_eq!(v.hint, Some(Hint::DoNotRetry));
    /// ```
    pub const fn with_hint(self, hint: Hint) -> Self {
        Self {
            outcome: self.outcome,
            hint: Some(hint),
        }
    }
}

// === impl Classify ===

impl<Req, Res, F> Classify<Req, Res> for F
where
    F: Fn(&Req, &Result<Res, BoxError>) -> Verdict,
{
    fn classify(&self, req: &Req, result: &Result<Res, BoxError>) -> Verdict {
        self(req, result)
    }
}

impl<Req, Res, F> Classify<Req, Res> for ByResult<F>
where
    F: Fn(&Result<Res, BoxError>) -> Verdict,
{
    fn classify(&self, _req: &Req, result: &Result<Res, BoxError>) -> Verdict {
        (self.0)(result)
    }
}

impl<Req, Res> Classify<Req, Res> for DefaultClassify {
    fn classify(&self, _req: &Req, result: &Result<Res, BoxError>) -> Verdict {
        match result {
            Ok(_) => Verdict::success(),
            Err(err) => classify_error(err),
        }
    }
}

/// The default verdict for an error: local rejections are fatal, timeouts
/// are [`FailureKind::Timeout`], anything else [`FailureKind::Error`].
///
/// Useful inside custom classifiers for the `Err` arm.
///
/// # Examples
///
/// ```
/// use failsoft::classify::{classify_error, FailureKind, Verdict};
/// use failsoft::error::TimedOut;
/// use std::time::Duration;
///
/// let err: failsoft::BoxError = Box::new(TimedOut::new(Duration::from_secs(1), false));
/// assert_eq!(classify_error(&err), Verdict::retryable(FailureKind::Timeout));
/// ```
pub fn classify_error(err: &BoxError) -> Verdict {
    if is_local_rejection(err.as_ref()) {
        Verdict::fatal()
    } else if err.is::<TimedOut>() {
        Verdict::retryable(FailureKind::Timeout)
    } else {
        Verdict::retryable(FailureKind::Error)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::{CircuitOpen, Throttled};

    #[test]
    fn default_classifier_never_retries_local_rejections() {
        let open: Result<(), BoxError> = Err(Box::new(CircuitOpen::new()));
        let throttled: Result<(), BoxError> = Err(Box::new(Throttled::new()));
        assert_eq!(DefaultClassify.classify(&(), &open), Verdict::fatal());
        assert_eq!(DefaultClassify.classify(&(), &throttled), Verdict::fatal());
    }

    #[test]
    fn default_classifier_marks_timeouts() {
        let t: Result<(), BoxError> = Err(Box::new(TimedOut::new(Duration::from_secs(1), true)));
        assert_eq!(
            DefaultClassify.classify(&(), &t),
            Verdict::retryable(FailureKind::Timeout)
        );
    }

    #[test]
    fn closures_classify_with_the_request() {
        let c = |req: &u8, _res: &Result<(), BoxError>| {
            if *req == 0 {
                Verdict::fatal()
            } else {
                Verdict::success()
            }
        };
        assert_eq!(c.classify(&0, &Ok(())), Verdict::fatal());
        assert_eq!(c.classify(&1, &Ok(())), Verdict::success());
    }
}
