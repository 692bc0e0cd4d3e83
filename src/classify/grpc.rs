//! [`GrpcCodes`]: gRPC status codes as a retry policy reads them (gRFC A6).

use std::fmt;

use super::{FailureKind, Hint, Verdict};

/// A set of gRPC status codes: a retry policy's `retryableStatusCodes`
/// (gRFC A6, "gRPC Retry Design"), and the verdict they give an attempt.
///
/// The verdict follows the gRFC's "Summary of Retry and Hedging Logic":
///
/// - `OK` (0) is a success (the throttle adds `tokenRatio`);
/// - a code in the set is retryable, with the server's pushback (if any)
///   as a [`Hint::Pushback`] or [`Hint::DoNotRetry`]; it counts as a
///   failure for retry throttling, even on the last attempt;
/// - any other code is fatal: "Don't retry, return failure to client
///   application", and not counted, which "avoids conflating server
///   failure with responses to malformed requests (such as the
///   `INVALID_ARGUMENT` status code)";
/// - except that an attempt that receives "a pushback response indicating
///   not to retry" counts as a failure whatever its code: it is reported as
///   retryable with [`Hint::DoNotRetry`], so the retry layer stops at once
///   and charges the throttle.
///
/// `nonFatalStatusCodes` is the same idea for hedging, which failsoft does
/// not do; a hedging caller can use a second `GrpcCodes` the same way.
///
/// Codes outside 0..=16 are never in the set (and so are fatal). Failure
/// kinds: `DEADLINE_EXCEEDED` (4) is [`FailureKind::Timeout`],
/// `RESOURCE_EXHAUSTED` (8) is [`FailureKind::Throttled`], the rest
/// [`FailureKind::Error`] (the gRPC throttle charges them all 1 token).
///
/// # Examples
///
/// ```
/// use failsoft::classify::{FailureKind, GrpcCodes, Hint, Outcome, Verdict};
/// use std::time::Duration;
///
/// let codes = GrpcCodes::new().with(GrpcCodes::UNAVAILABLE);
/// assert_eq!(codes.verdict(0, None), Verdict::success());
/// let v = codes.verdict(14, Some("250"));
/// assert_eq!(v.outcome, Outcome::Retryable(FailureKind::Error));
/// assert_eq!(v.hint, Some(Hint::Pushback(Duration::from_millis(250))));
/// assert_eq!(codes.verdict(3, None), Verdict::fatal()); // INVALID_ARGUMENT
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GrpcCodes {
    bits: u32,
}

// === impl GrpcCodes ===

impl GrpcCodes {
    /// `CANCELLED` (1).
    pub const CANCELLED: i32 = 1;
    /// `DEADLINE_EXCEEDED` (4).
    pub const DEADLINE_EXCEEDED: i32 = 4;
    /// `RESOURCE_EXHAUSTED` (8).
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    /// `ABORTED` (10).
    pub const ABORTED: i32 = 10;
    /// `INTERNAL` (13).
    pub const INTERNAL: i32 = 13;
    /// `UNAVAILABLE` (14), the gRFC's example retryable code.
    pub const UNAVAILABLE: i32 = 14;

    /// The empty set: every failure is fatal.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::GrpcCodes;
    /// assert!(!GrpcCodes::new().contains(14));
    /// ```
    pub const fn new() -> Self {
        Self { bits: 0 }
    }

    /// The set with `code` added; codes outside 0..=16 are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::GrpcCodes;
    /// let codes = GrpcCodes::new().with(14).with(99);
    /// assert!(codes.contains(14) && !codes.contains(99));
    /// ```
    pub const fn with(mut self, code: i32) -> Self {
        if 0 <= code && code <= 16 {
            self.bits |= 1 << code;
        }
        self
    }

    /// Whether `code` is in the set.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::GrpcCodes;
    /// assert!(GrpcCodes::new().with(GrpcCodes::ABORTED).contains(10));
    /// ```
    pub const fn contains(&self, code: i32) -> bool {
        0 <= code && code <= 16 && self.bits & (1 << code) != 0
    }

    /// The verdict for an attempt that ended with status `code` and the
    /// `grpc-retry-pushback-ms` value `pushback`, if the server sent one.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::{GrpcCodes, Hint, Outcome};
    /// let codes = GrpcCodes::new().with(GrpcCodes::UNAVAILABLE);
    /// // Fatal code, but the server said "don't retry": counted, not retried.
    /// let v = codes.verdict(3, Some("-1"));
    /// assert!(matches!(v.outcome, Outcome::Retryable(_)));
    /// assert_eq!(v.hint, Some(Hint::DoNotRetry));
    /// ```
    pub fn verdict(&self, code: i32, pushback: Option<&str>) -> Verdict {
        if code == 0 {
            return Verdict::success();
        }
        let kind = match code {
            Self::DEADLINE_EXCEEDED => FailureKind::Timeout,
            Self::RESOURCE_EXHAUSTED => FailureKind::Throttled,
            _ => FailureKind::Error,
        };
        let hint = pushback.map(Hint::from_grpc_pushback);
        if self.contains(code) {
            let verdict = Verdict::retryable(kind);
            return match hint {
                Some(hint) => verdict.with_hint(hint),
                None => verdict,
            };
        }
        if hint == Some(Hint::DoNotRetry) {
            return Verdict::retryable(kind).with_hint(Hint::DoNotRetry);
        }
        Verdict::fatal()
    }
}

impl fmt::Debug for GrpcCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries((0..=16).filter(|c| self.contains(*c)))
            .finish()
    }
}
