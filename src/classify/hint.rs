//! [`Hint`]: what a server said about retrying, and parsers for the
//! common headers.
//!
//! HTTP-date parsing is the one place where wall-clock time belongs, so
//! `SystemTime` is allowed in this module only.
#![allow(clippy::disallowed_types)]

use std::time::{Duration, SystemTime};

/// A server's hint about retrying, read from the response.
///
/// The retry layer takes [`Hint::RetryAfter`] as a floor on the next delay
/// and [`Hint::Pushback`] as the exact delay (restarting the backoff after
/// it), both clamped to its configured maximum; it gives up at once when
/// either reaches past the deadline; it never retries after
/// [`Hint::DoNotRetry`]; it ignores [`Hint::Malformed`] and counts it.
///
/// Parsers for the usual carriers: [`Hint::from_retry_after`] and
/// [`Hint::from_retry_after_dated`] (HTTP `Retry-After`, RFC 9110) and
/// [`Hint::from_grpc_pushback`] (gRPC `grpc-retry-pushback-ms`, gRFC A6).
/// Nothing a server sends can make them panic.
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
    /// Wait at least this long before the next attempt (HTTP
    /// `Retry-After`): the backoff still applies when it is longer.
    RetryAfter(Duration),
    /// Send the next attempt after exactly this long, then restart the
    /// backoff from its first step (gRPC server pushback, gRFC A6: "Retry
    /// in *n* ms. If this attempt also fails, retry delay will reset to
    /// initial backoff for the following retry").
    Pushback(Duration),
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
        Self::from_retry_after_dated_at(value, None, now)
    }

    /// Reads an HTTP `Retry-After` value together with the response's
    /// `Date` field, if it had one (RFC 9110 §10.2.3, §6.6.1).
    ///
    /// - delay-seconds (`1*DIGIT`): that many seconds; values beyond a
    ///   `u64` saturate (the retry layer clamps them anyway);
    /// - an HTTP-date, in any of the three formats a recipient must accept
    ///   (IMF-fixdate, the obsolete RFC 850 and asctime formats), with a
    ///   leap second (`:60`) accepted: the time from the response's `Date`
    ///   to it, so that a client whose clock is off still waits what the
    ///   server meant; without a readable `Date`, the time from the system
    ///   clock. A date at or before the reference means "retry now" (zero);
    /// - anything else (negative or fractional numbers, garbage, non-ASCII)
    ///   is [`Hint::Malformed`].
    ///
    /// Two-digit RFC 850 years follow the `httpdate` crate (00–69 are
    /// 20xx, 70–99 are 19xx) rather than RFC 9110's "more than 50 years in
    /// the future" rule; the two differ only for years 2070–2076 read today.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::Hint;
    /// # use std::time::Duration;
    /// let date = Some("Sun, 06 Nov 1994 08:49:37 GMT");
    /// let hint = Hint::from_retry_after_dated("Sun, 06 Nov 1994 08:50:07 GMT", date);
    /// assert_eq!(hint, Hint::RetryAfter(Duration::from_secs(30)));
    /// assert_eq!(Hint::from_retry_after_dated("7", date), Hint::RetryAfter(Duration::from_secs(7)));
    /// ```
    pub fn from_retry_after_dated(value: &str, date: Option<&str>) -> Hint {
        Self::from_retry_after_dated_at(value, date, SystemTime::now())
    }

    /// [`Hint::from_retry_after_dated`] with `now` given, used only when
    /// the `Date` field is missing or unreadable.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::Hint;
    /// # use std::time::{Duration, SystemTime};
    /// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
    /// let at = "Sunday, 06-Nov-94 08:49:47 GMT"; // RFC 850
    /// assert_eq!(Hint::from_retry_after_dated_at(at, Some("bogus"), now), Hint::RetryAfter(Duration::from_secs(10)));
    /// ```
    pub fn from_retry_after_dated_at(value: &str, date: Option<&str>, now: SystemTime) -> Hint {
        let value = value.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            let secs = value.parse::<u64>().unwrap_or(u64::MAX);
            return Hint::RetryAfter(Duration::from_secs(secs));
        }
        let Some(at) = parse_http_date(value) else {
            return Hint::Malformed;
        };
        let reference = date.and_then(parse_http_date).unwrap_or(now);
        Hint::RetryAfter(at.duration_since(reference).unwrap_or(Duration::ZERO))
    }

    /// Reads gRPC's `grpc-retry-pushback-ms` (gRFC A6, "Client Retries"):
    /// "an ASCII encoded signed 32-bit integer ... that represents how many
    /// milliseconds to wait before sending a retry", as a
    /// [`Hint::Pushback`]. As the gRFC requires, "If the value for pushback
    /// is negative or unparseble, then it will be seen as the server asking
    /// the client not to retry at all": [`Hint::DoNotRetry`]. Surrounding
    /// whitespace and a leading `+` are accepted; a value beyond 32 bits is
    /// unparseable.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::classify::Hint;
    /// # use std::time::Duration;
    /// assert_eq!(Hint::from_grpc_pushback("250"), Hint::Pushback(Duration::from_millis(250)));
    /// assert_eq!(Hint::from_grpc_pushback("later"), Hint::DoNotRetry);
    /// ```
    pub fn from_grpc_pushback(value: &str) -> Hint {
        match value.trim().parse::<i32>() {
            Ok(ms) if ms >= 0 => Hint::Pushback(Duration::from_millis(ms.unsigned_abs().into())),
            _ => Hint::DoNotRetry,
        }
    }
}

/// An HTTP-date in any of the three formats, a leap second included.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let value = value.trim();
    if let Ok(at) = httpdate::parse_http_date(value) {
        return Some(at);
    }
    // RFC 9110 §5.6.7: time-of-day runs to 23:59:60 (leap second), which
    // `httpdate` refuses; read it as the second after :59.
    let leap = leap_second_at(value)?;
    let mut fixed = value.to_owned();
    fixed.replace_range(leap..leap + 2, "59");
    httpdate::parse_http_date(&fixed)
        .ok()?
        .checked_add(Duration::from_secs(1))
}

/// Where the seconds field `60` of an `hh:mm:60` time-of-day starts.
fn leap_second_at(value: &str) -> Option<usize> {
    let b = value.as_bytes();
    (6..b.len().saturating_sub(1)).find(|&i| {
        b[i - 1] == b':'
            && b[i - 4] == b':'
            && &b[i..i + 2] == b"60"
            && b.get(i + 2).is_none_or(|&c| c == b' ')
            && b[i - 3..i - 1].iter().all(u8::is_ascii_digit)
            && b[i - 6..i - 4].iter().all(u8::is_ascii_digit)
    })
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
            Hint::Pushback(Duration::ZERO)
        );
        assert_eq!(
            Hint::from_grpc_pushback("2147483647"),
            Hint::Pushback(Duration::from_millis(2_147_483_647))
        );
        assert_eq!(Hint::from_grpc_pushback("2147483648"), Hint::DoNotRetry);
        assert_eq!(Hint::from_grpc_pushback("-1"), Hint::DoNotRetry);
        assert_eq!(Hint::from_grpc_pushback(""), Hint::DoNotRetry);
    }
}
