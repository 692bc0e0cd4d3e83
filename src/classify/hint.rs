//! [`Hint`]: what a server said about retrying, and parsers for the
//! common headers.
//!
//! HTTP-date parsing is the one place where wall-clock time belongs, so
//! `SystemTime` is allowed in this module only.
#![allow(clippy::disallowed_types)]

use std::time::{Duration, SystemTime};

/// A server's hint about retrying, read from the response.
///
/// The retry layer takes [`Hint::RetryAfter`] as a floor on the next delay,
/// clamped to its configured maximum, and gives up at once when the hint
/// reaches past the deadline; it never retries after
/// [`Hint::DoNotRetry`]; it ignores [`Hint::Malformed`] and counts it.
///
/// Parsers for the usual carriers: [`Hint::from_retry_after`] (HTTP
/// `Retry-After`) and [`Hint::from_grpc_pushback`] (gRPC
/// `grpc-retry-pushback-ms`). Nothing a server sends can make them panic.
///
/// # Examples
///
/// ```
/// use failsoft::classify::Hint;
/// use std::time::Duration;
///
/// assert_eq!(Hint::from_retry_after("120"), Hint::RetryAfter(Duration::from_secs(120)));
/// assert_eq!(Hint::from_retry_after("soon"), Hint::Malformed);
/// assert_eq!(Hint::from_grpc_pushback("-1"), Hint::DoNotRetry);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hint {
    /// Wait at least this long before the next attempt.
    RetryAfter(Duration),
    /// Do not retry this request at all.
    DoNotRetry,
    /// The server sent a hint that could not be read; it is ignored, and
    /// counted in [`RetrySnapshot::hints_malformed`](crate::retry::RetrySnapshot::hints_malformed).
    Malformed,
}

// === impl Hint ===

impl Hint {
    /// Reads an HTTP `Retry-After` value (RFC 9110 §10.2.3): either
    /// delay-seconds (`"120"`) or an HTTP-date, compared with the system
    /// clock. A date in the past means "retry now"; delay-seconds too large
    /// for a `u64` saturate (the retry layer clamps them anyway); anything
    /// else is [`Hint::Malformed`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::Hint;
    /// # use std::time::Duration;
    /// assert_eq!(Hint::from_retry_after(" 5 "), Hint::RetryAfter(Duration::from_secs(5)));
    /// assert_eq!(Hint::from_retry_after("-5"), Hint::Malformed);
    /// ```
    pub fn from_retry_after(value: &str) -> Hint {
        let now = SystemTime::now();
        Self::from_retry_after_at(value, now)
    }

    /// [`Hint::from_retry_after`] against a given `now`, for HTTP-dates.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::Hint;
    /// # use std::time::{Duration, SystemTime};
    /// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
    /// // Sun, 06 Nov 1994 08:49:37 GMT is 784111777 seconds after the epoch.
    /// let later = "Sun, 06 Nov 1994 08:50:37 GMT";
    /// assert_eq!(Hint::from_retry_after_at(later, now), Hint::RetryAfter(Duration::from_secs(60)));
    /// ```
    pub fn from_retry_after_at(value: &str, now: SystemTime) -> Hint {
        let value = value.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            let secs = value.parse::<u64>().unwrap_or(u64::MAX);
            return Hint::RetryAfter(Duration::from_secs(secs));
        }
        match httpdate::parse_http_date(value) {
            Ok(at) => Hint::RetryAfter(at.duration_since(now).unwrap_or(Duration::ZERO)),
            Err(_) => Hint::Malformed,
        }
    }

    /// Reads gRPC's `grpc-retry-pushback-ms` (gRFC A6, "Client Retries"):
    /// a non-negative 32-bit integer of milliseconds to wait. As the gRFC
    /// requires, a negative or unreadable value means the server asks the
    /// client not to retry at all.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::Hint;
    /// # use std::time::Duration;
    /// assert_eq!(Hint::from_grpc_pushback("250"), Hint::RetryAfter(Duration::from_millis(250)));
    /// assert_eq!(Hint::from_grpc_pushback("later"), Hint::DoNotRetry);
    /// ```
    pub fn from_grpc_pushback(value: &str) -> Hint {
        match value.trim().parse::<i32>() {
            Ok(ms) if ms >= 0 => Hint::RetryAfter(Duration::from_millis(ms.unsigned_abs().into())),
            _ => Hint::DoNotRetry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_never_panics_on_garbage() {
        let now = SystemTime::UNIX_EPOCH;
        for garbage in [
            "",
            " ",
            "1.5",
            "1e9",
            "+5",
            "९",
            "Sun, 99 Nov 1994 08:49:37 GMT",
            "\u{0}",
            "99999999999999999999999999999",
        ] {
            let hint = Hint::from_retry_after_at(garbage, now);
            assert!(
                matches!(hint, Hint::Malformed | Hint::RetryAfter(_)),
                "{garbage:?} gave {hint:?}"
            );
        }
        assert_eq!(
            Hint::from_retry_after_at("99999999999999999999999999999", now),
            Hint::RetryAfter(Duration::from_secs(u64::MAX))
        );
        assert_eq!(Hint::from_retry_after_at("1.5", now), Hint::Malformed);
    }

    #[test]
    fn past_http_dates_mean_now() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        assert_eq!(
            Hint::from_retry_after_at("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Hint::RetryAfter(Duration::ZERO)
        );
    }

    #[test]
    fn grpc_pushback_follows_grfc_a6() {
        assert_eq!(
            Hint::from_grpc_pushback("0"),
            Hint::RetryAfter(Duration::ZERO)
        );
        assert_eq!(
            Hint::from_grpc_pushback("2147483647"),
            Hint::RetryAfter(Duration::from_millis(2_147_483_647))
        );
        assert_eq!(Hint::from_grpc_pushback("2147483648"), Hint::DoNotRetry);
        assert_eq!(Hint::from_grpc_pushback("-1"), Hint::DoNotRetry);
        assert_eq!(Hint::from_grpc_pushback(""), Hint::DoNotRetry);
    }
}
