//! Server hints read from HTTP headers: `Retry-After` and gRPC pushback.

use http::HeaderMap;
use http::header::{DATE, RETRY_AFTER};

use crate::classify::Hint;

/// The longest header value read as a hint, in bytes. An HTTP-date is 29
/// bytes and any sane delay-seconds fewer than 20; a longer value is
/// [`Hint::Malformed`] without being parsed.
pub const MAX_HINT_LEN: usize = 64;

pub(crate) const GRPC_PUSHBACK: &str = "grpc-retry-pushback-ms";

/// The `Retry-After` header as a [`Hint`], or `None` when there is none.
///
/// The value goes through [`Hint::from_retry_after_dated`] with the
/// response's `Date` header (delay-seconds, or an HTTP-date measured from
/// `Date`, else from the system clock; a date in the past means "now", a
/// date far ahead is a long hint that the retry layer clamps to its
/// `max_hint`). A value that is not
/// visible ASCII or longer than [`MAX_HINT_LEN`] is [`Hint::Malformed`].
/// When the header appears more than once (it is a singleton field), only
/// the first is read.
///
/// # Examples
///
/// ```
/// use failsoft::classify::Hint;
/// use failsoft::http::retry_after;
/// use http::HeaderMap;
/// use std::time::Duration;
///
/// let mut headers = HeaderMap::new();
/// assert_eq!(retry_after(&headers), None);
/// headers.insert("retry-after", "3".parse().unwrap());
/// assert_eq!(retry_after(&headers), Some(Hint::RetryAfter(Duration::from_secs(3))));
/// ```
pub fn retry_after(headers: &HeaderMap) -> Option<Hint> {
    let value = headers.get(RETRY_AFTER)?;
    let date = headers.get(DATE).and_then(readable);
    Some(match readable(value) {
        Some(text) => Hint::from_retry_after_dated(text, date),
        None => Hint::Malformed,
    })
}

/// gRPC's `grpc-retry-pushback-ms` header as a [`Hint`], or `None` when
/// there is none.
///
/// The value goes through [`Hint::from_grpc_pushback`]: a
/// [`Hint::Pushback`], or, as gRFC A6 requires, [`Hint::DoNotRetry`] when it
/// is negative or unreadable (including one not ASCII or too long).
///
/// # Examples
///
/// ```
/// use failsoft::classify::Hint;
/// use failsoft::http::grpc_pushback;
/// use http::HeaderMap;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("grpc-retry-pushback-ms", "-1".parse().unwrap());
/// assert_eq!(grpc_pushback(&headers), Some(Hint::DoNotRetry));
/// ```
pub fn grpc_pushback(headers: &HeaderMap) -> Option<Hint> {
    pushback_text(headers).map(Hint::from_grpc_pushback)
}

/// The `grpc-retry-pushback-ms` value as text for
/// [`Hint::from_grpc_pushback`] (and [`GrpcCodes::verdict`](crate::classify::GrpcCodes::verdict)):
/// a value that is not visible ASCII or too long reads as `"-"`, which they
/// take as unparseable, "do not retry".
pub(crate) fn pushback_text(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(GRPC_PUSHBACK)?;
    Some(readable(value).unwrap_or("-"))
}

/// Every hint the headers carry, combined into one.
///
/// With both `Retry-After` and `grpc-retry-pushback-ms`: "do not retry"
/// from either wins, then the longer wait (a pushback on a tie: its exact
/// delay also meets `Retry-After`'s floor), then a readable hint over a
/// malformed one. With neither: `None`.
///
/// # Examples
///
/// ```
/// use failsoft::classify::Hint;
/// use failsoft::http::server_hint;
/// use http::HeaderMap;
/// use std::time::Duration;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", "1".parse().unwrap());
/// headers.insert("grpc-retry-pushback-ms", "2500".parse().unwrap());
/// assert_eq!(server_hint(&headers), Some(Hint::Pushback(Duration::from_millis(2500))));
/// ```
pub fn server_hint(headers: &HeaderMap) -> Option<Hint> {
    match (retry_after(headers), grpc_pushback(headers)) {
        (None, hint) | (hint, None) => hint,
        (Some(a), Some(b)) => Some(stricter(a, b)),
    }
}

/// The more conservative of two hints.
fn stricter(a: Hint, b: Hint) -> Hint {
    match (a, b) {
        (Hint::DoNotRetry, _) | (_, Hint::DoNotRetry) => Hint::DoNotRetry,
        (Hint::Malformed, other) | (other, Hint::Malformed) => other,
        (x, y) if wait(y) > wait(x) => y,
        (x, y) if wait(x) > wait(y) => x,
        (Hint::RetryAfter(_), pushback) | (pushback, _) => pushback,
    }
}

/// How long a waiting hint asks to wait.
const fn wait(hint: Hint) -> std::time::Duration {
    match hint {
        Hint::RetryAfter(d) | Hint::Pushback(d) => d,
        Hint::DoNotRetry | Hint::Malformed => std::time::Duration::ZERO,
    }
}

/// The value as text, if it is visible ASCII and short enough to be a hint.
fn readable(value: &http::HeaderValue) -> Option<&str> {
    if value.len() > MAX_HINT_LEN {
        return None;
    }
    value.to_str().ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::HeaderValue;

    use super::*;

    fn with(name: &'static str, value: HeaderValue) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        headers
    }

    #[test]
    fn bad_retry_after_values_are_malformed_not_panics() {
        let cases = [
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
            HeaderValue::from_bytes("3\u{00a0}".as_bytes()).unwrap(),
            HeaderValue::from_str(&"9".repeat(MAX_HINT_LEN + 1)).unwrap(),
            HeaderValue::from_static("-5"),
            HeaderValue::from_static("soon"),
        ];
        for value in cases {
            let hint = retry_after(&with("retry-after", value.clone()));
            assert_eq!(hint, Some(Hint::Malformed), "{value:?}");
        }
    }

    #[test]
    fn overflowing_seconds_saturate_and_dates_are_read() {
        let huge = retry_after(&with(
            "retry-after",
            HeaderValue::from_static("99999999999999999999999"),
        ));
        assert_eq!(huge, Some(Hint::RetryAfter(Duration::from_secs(u64::MAX))));
        let epoch = retry_after(&with(
            "retry-after",
            HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
        ));
        assert_eq!(epoch, Some(Hint::RetryAfter(Duration::ZERO)));
        let far = retry_after(&with(
            "retry-after",
            HeaderValue::from_static("Fri, 31 Dec 9999 23:59:59 GMT"),
        ));
        let year = Duration::from_secs(365 * 24 * 3600);
        assert!(
            matches!(far, Some(Hint::RetryAfter(d)) if d > 1000 * year),
            "{far:?}"
        );
    }

    #[test]
    fn dates_are_measured_from_the_date_header() {
        let mut headers = with(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:50:07 GMT"),
        );
        headers.insert(
            DATE,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(
            retry_after(&headers),
            Some(Hint::RetryAfter(Duration::from_secs(30)))
        );
        // An unreadable Date falls back to the system clock: 1994 is past.
        headers.insert(DATE, HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(
            retry_after(&headers),
            Some(Hint::RetryAfter(Duration::ZERO))
        );
    }

    #[test]
    fn pushback_garbage_means_do_not_retry() {
        for value in [
            HeaderValue::from_static("-1"),
            HeaderValue::from_static("1.5"),
            HeaderValue::from_static("4294967296"),
            HeaderValue::from_bytes(b"\xff").unwrap(),
            HeaderValue::from_str(&"1".repeat(MAX_HINT_LEN + 1)).unwrap(),
        ] {
            let hint = grpc_pushback(&with(GRPC_PUSHBACK, value.clone()));
            assert_eq!(hint, Some(Hint::DoNotRetry), "{value:?}");
        }
        let ok = grpc_pushback(&with(GRPC_PUSHBACK, HeaderValue::from_static("40")));
        assert_eq!(ok, Some(Hint::Pushback(Duration::from_millis(40))));
    }

    #[test]
    fn both_hints_combine_to_the_stricter() {
        let mut headers = with("retry-after", HeaderValue::from_static("7"));
        headers.insert(GRPC_PUSHBACK, HeaderValue::from_static("100"));
        assert_eq!(
            server_hint(&headers),
            Some(Hint::RetryAfter(Duration::from_secs(7)))
        );
        headers.insert(GRPC_PUSHBACK, HeaderValue::from_static("-3"));
        assert_eq!(server_hint(&headers), Some(Hint::DoNotRetry));
        headers.insert("retry-after", HeaderValue::from_static("later"));
        headers.insert(GRPC_PUSHBACK, HeaderValue::from_static("5"));
        assert_eq!(
            server_hint(&headers),
            Some(Hint::Pushback(Duration::from_millis(5)))
        );
        headers.insert("retry-after", HeaderValue::from_static("0"));
        headers.insert(GRPC_PUSHBACK, HeaderValue::from_static("0"));
        assert_eq!(server_hint(&headers), Some(Hint::Pushback(Duration::ZERO)));
        headers.insert(GRPC_PUSHBACK, HeaderValue::from_static("900"));
        headers.insert("retry-after", HeaderValue::from_static("1"));
        assert_eq!(
            server_hint(&headers),
            Some(Hint::RetryAfter(Duration::from_secs(1)))
        );
        assert_eq!(server_hint(&HeaderMap::new()), None);
    }
}
