//! Times of day as they appear in scenario files: `"07:30"` or `"07:30:15"`.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A time of day, in whole seconds since midnight, from `00:00` to `24:00`.
///
/// Written in scenario files as `"HH:MM"` or `"HH:MM:SS"`.
///
/// # Examples
///
/// ```
/// use failsoft_sim::ClockTime;
///
/// let t = ClockTime::parse("07:30").unwrap();
/// assert_eq!(t.seconds(), 7 * 3600 + 30 * 60);
/// assert_eq!(t.to_string(), "07:30");
/// assert!(ClockTime::parse("25:00").is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime(u32);

/// The last representable time of day, `24:00`.
const END_OF_DAY: u32 = 24 * 3600;

// === impl ClockTime ===

impl ClockTime {
    /// The time `seconds` after midnight; `None` past `24:00`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft_sim::ClockTime;
    /// assert_eq!(ClockTime::from_seconds(60).unwrap().to_string(), "00:01");
    /// ```
    pub const fn from_seconds(seconds: u32) -> Option<Self> {
        if seconds <= END_OF_DAY {
            Some(Self(seconds))
        } else {
            None
        }
    }

    /// Parses `"HH:MM"` or `"HH:MM:SS"`; `None` if malformed or past `24:00`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft_sim::ClockTime;
    /// assert_eq!(ClockTime::parse("00:00:30").unwrap().seconds(), 30);
    /// assert!(ClockTime::parse("7h30").is_none());
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let h = two_digits(parts.next()?)?;
        let m = two_digits(parts.next()?)?;
        let s = match parts.next() {
            Some(s) => two_digits(s)?,
            None => 0,
        };
        if parts.next().is_some() || m >= 60 || s >= 60 {
            return None;
        }
        Self::from_seconds(h * 3600 + m * 60 + s)
    }

    /// Seconds since midnight.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft_sim::ClockTime;
    /// assert_eq!(ClockTime::parse("01:00").unwrap().seconds(), 3600);
    /// ```
    pub const fn seconds(self) -> u32 {
        self.0
    }

    /// Minutes since midnight (rounded down).
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft_sim::ClockTime;
    /// assert_eq!(ClockTime::parse("01:00:59").unwrap().minutes(), 60);
    /// ```
    pub const fn minutes(self) -> u32 {
        self.0 / 60
    }
}

fn two_digits(s: &str) -> Option<u32> {
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.0 / 3600, self.0 / 60 % 60, self.0 % 60);
        if s == 0 {
            write!(f, "{h:02}:{m:02}")
        } else {
            write!(f, "{h:02}:{m:02}:{s:02}")
        }
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ClockVisitor;
        impl Visitor<'_> for ClockVisitor {
            type Value = ClockTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a time of day \"HH:MM\" or \"HH:MM:SS\" between 00:00 and 24:00")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ClockTime, E> {
                ClockTime::parse(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_str(ClockVisitor)
    }
}
