//! `Retry-After` per RFC 9110 §10.2.3: delay-seconds or an HTTP-date,
//! measured from the response's `Date` when it has one. Edge cases: zero,
//! past dates, a leap second, the obsolete date formats recipients must
//! accept (§5.6.7), huge and negative numbers, garbage. None may panic.
//!
//! HTTP-dates are wall-clock times, so `SystemTime` is allowed here only
//! to give the parsers a fixed "now".
#![allow(clippy::disallowed_types)]

use std::time::{Duration, SystemTime};

use failsoft::classify::Hint;

/// Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date.
const EXAMPLE: u64 = 784_111_777;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn secs(s: u64) -> Hint {
    Hint::RetryAfter(Duration::from_secs(s))
}

#[test]
fn delay_seconds_edges() {
    let now = at(EXAMPLE);
    let cases: &[(&str, Hint)] = &[
        ("0", secs(0)),
        ("120", secs(120)),
        (" 5 ", secs(5)),
        ("007", secs(7)),
        ("18446744073709551615", secs(u64::MAX)),
        ("99999999999999999999999999999", secs(u64::MAX)),
        ("-5", Hint::Malformed),
        ("-0", Hint::Malformed),
        ("+5", Hint::Malformed),
        ("1.5", Hint::Malformed),
        ("1e9", Hint::Malformed),
        ("5 s", Hint::Malformed),
        ("", Hint::Malformed),
        ("   ", Hint::Malformed),
        ("९", Hint::Malformed),
        ("５", Hint::Malformed),
        ("\u{0}", Hint::Malformed),
        ("Ünïcödé, 06 Nov 1994 08:49:37 GMT", Hint::Malformed),
        ("Sun, 06 Nov 1994 08:49:37 GMT\u{fffd}", Hint::Malformed),
    ];
    for (value, want) in cases {
        assert_eq!(Hint::from_retry_after_at(value, now), *want, "{value:?}");
        let dated = Hint::from_retry_after_dated_at(value, Some("garbage ☃"), now);
        assert_eq!(dated, *want, "{value:?} with an unreadable Date");
    }
}

#[test]
fn all_three_date_formats_are_accepted() {
    // RFC 9110 §5.6.7: "A recipient that parses a timestamp value in an
    // HTTP field MUST accept all three HTTP-date formats."
    let now = at(EXAMPLE - 60);
    for value in [
        "Sun, 06 Nov 1994 08:49:37 GMT",  // IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT", // obsolete RFC 850 format
        "Sun Nov  6 08:49:37 1994",       // ANSI C's asctime() format
    ] {
        assert_eq!(Hint::from_retry_after_at(value, now), secs(60), "{value}");
    }
}

#[test]
fn dates_are_measured_from_the_date_field() {
    // The client's clock is 100 years off; the server's Date is what counts.
    let wrong_clock = at(EXAMPLE + 3_155_760_000);
    let cases: &[(&str, Option<&str>, Hint)] = &[
        // 30 s after the response's Date.
        (
            "Sun, 06 Nov 1994 08:50:07 GMT",
            Some("Sun, 06 Nov 1994 08:49:37 GMT"),
            secs(30),
        ),
        // Date in another format than Retry-After.
        (
            "Sun, 06 Nov 1994 08:50:07 GMT",
            Some("Sun Nov  6 08:49:37 1994"),
            secs(30),
        ),
        (
            "Sunday, 06-Nov-94 08:51:37 GMT",
            Some("Sunday, 06-Nov-94 08:49:37 GMT"),
            secs(120),
        ),
        // Equal to Date, or before it: retry now.
        (
            "Sun, 06 Nov 1994 08:49:37 GMT",
            Some("Sun, 06 Nov 1994 08:49:37 GMT"),
            secs(0),
        ),
        (
            "Sat, 05 Nov 1994 08:49:37 GMT",
            Some("Sun, 06 Nov 1994 08:49:37 GMT"),
            secs(0),
        ),
        // delay-seconds ignore Date altogether.
        ("45", Some("Sun, 06 Nov 1994 08:49:37 GMT"), secs(45)),
    ];
    for (value, date, want) in cases {
        let got = Hint::from_retry_after_dated_at(value, *date, wrong_clock);
        assert_eq!(got, *want, "{value:?} / {date:?}");
    }
}

#[test]
fn without_a_readable_date_the_clock_is_the_reference() {
    let now = at(EXAMPLE);
    let value = "Sun, 06 Nov 1994 08:50:37 GMT";
    for date in [
        None,
        Some(""),
        Some("yesterday"),
        Some("Sun, 06 Nov 1994 25:00:00 GMT"),
    ] {
        assert_eq!(
            Hint::from_retry_after_dated_at(value, date, now),
            secs(60),
            "{date:?}"
        );
    }
}

#[test]
fn past_dates_mean_retry_now() {
    let now = at(2_000_000_000);
    for value in [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
    ] {
        assert_eq!(Hint::from_retry_after_at(value, now), secs(0), "{value}");
    }
}

#[test]
fn a_leap_second_is_the_second_after_59() {
    // RFC 9110 §5.6.7: time-of-day "00:00:00 - 23:59:60 (leap second)".
    // 31 Dec 2016 23:59:60 UTC was a real leap second; POSIX time has no
    // such second, so it reads as 1 Jan 2017 00:00:00.
    let new_year_2017 = 1_483_228_800;
    let now = at(new_year_2017 - 10);
    for value in [
        "Sat, 31 Dec 2016 23:59:60 GMT",
        "Saturday, 31-Dec-16 23:59:60 GMT",
        "Sat Dec 31 23:59:60 2016",
    ] {
        assert_eq!(Hint::from_retry_after_at(value, now), secs(10), "{value}");
    }
    // As the Date field too.
    let hint = Hint::from_retry_after_dated_at(
        "Sun, 01 Jan 2017 00:00:05 GMT",
        Some("Sat, 31 Dec 2016 23:59:60 GMT"),
        at(0),
    );
    assert_eq!(hint, secs(5));
    // 61 and beyond are not seconds.
    let bad = Hint::from_retry_after_at("Sat, 31 Dec 2016 23:59:61 GMT", now);
    assert_eq!(bad, Hint::Malformed);
}

#[test]
fn malformed_dates_are_malformed_not_panics() {
    let now = at(EXAMPLE);
    for value in [
        "Sun, 99 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Mon, 06 Nov 1994 08:49:37 GMT", // wrong weekday
        "Sun, 06 Nov 1994 08:49:37 PST",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 94 08:49:37 GMT",
        ":60 ",
        "12:60",
        "00:00:60",
        "Sun, 06 Nov 1994 08:60:60 GMT",
        "Sun Nov  6 08:49:37 1994 GMT",
        "Sun, 06 Nov 99999 08:49:37 GMT",
    ] {
        assert_eq!(
            Hint::from_retry_after_at(value, now),
            Hint::Malformed,
            "{value}"
        );
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap fuzz over short strings of interesting characters.
    let alphabet = ['0', '6', ':', ' ', '-', ',', 'S', 'G', '☃', '\u{0}'];
    let now = at(EXAMPLE);
    let mut s = String::new();
    for n in 0..20_000u32 {
        s.clear();
        let mut k = n;
        while k > 0 {
            s.push(alphabet[(k % 10) as usize]);
            k /= 10;
        }
        let _ = Hint::from_retry_after_at(&s, now);
        let _ = Hint::from_retry_after_dated_at("Sun, 06 Nov 1994 08:49:37 GMT", Some(&s), now);
        let _ = Hint::from_grpc_pushback(&s);
    }
}
