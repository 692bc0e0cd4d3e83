//! What a lane is sent, and what it answers: a service or a rejection.

use std::fmt;
use std::time::Duration;

use crate::record::Fleet;
use failsoft::classify::Hint;

/// A request to a lane: which fleet sends it (for the report).
///
/// # Examples
///
/// ```
/// use failsoft_sim::{Call, Fleet};
/// let call = Call::new(Fleet::Vacuums);
/// assert_eq!(call.fleet(), Fleet::Vacuums);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    fleet: Fleet,
}

/// A lane's answer: how long the request waited in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// Time from arrival to response.
    pub waited: Duration,
}

/// The lane rejected the request at once: its queue was full, or its rate
/// limit was reached (the simulator's 503 with `Retry-After`).
///
/// Carries the server's hint when the lane sends one.
///
/// # Examples
///
/// ```
/// use failsoft_sim::Shed;
/// let shed = Shed::new(None);
/// assert_eq!(shed.hint(), None);
/// assert_eq!(shed.to_string(), "overloaded: queue full");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shed {
    hint: Option<Hint>,
    rate_limited: bool,
}

// === impl Call ===

impl Call {
    /// A request sent by `fleet`.
    pub const fn new(fleet: Fleet) -> Self {
        Self { fleet }
    }

    /// The fleet that sent it.
    pub const fn fleet(&self) -> Fleet {
        self.fleet
    }
}

// === impl Shed ===

impl Shed {
    /// A rejection carrying `hint`.
    pub const fn new(hint: Option<Hint>) -> Self {
        Self {
            hint,
            rate_limited: false,
        }
    }

    /// A rate limiter's refusal carrying `hint`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use failsoft::classify::Hint;
    /// use failsoft_sim::Shed;
    ///
    /// let shed = Shed::rate_limited(Some(Hint::RetryAfter(Duration::from_secs(1))));
    /// assert!(shed.is_rate_limited());
    /// assert_eq!(shed.to_string(), "overloaded: rate limit exceeded");
    /// ```
    pub const fn rate_limited(hint: Option<Hint>) -> Self {
        Self {
            hint,
            rate_limited: true,
        }
    }

    /// Whether a rate limiter refused (rather than a full queue).
    pub const fn is_rate_limited(&self) -> bool {
        self.rate_limited
    }

    /// What the server said about retrying.
    pub const fn hint(&self) -> Option<Hint> {
        self.hint
    }
}

impl fmt::Display for Shed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.rate_limited {
            "overloaded: rate limit exceeded"
        } else {
            "overloaded: queue full"
        })
    }
}

impl std::error::Error for Shed {}
