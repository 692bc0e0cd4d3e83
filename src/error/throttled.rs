//! The adaptive throttle's two local rejections: [`Throttled`] (shed by
//! the rejection probability) and [`Paced`] (turned away while the server
//! paces the client).

use std::error::Error;
use std::fmt;

use tokio::time::Instant;

/// The adaptive throttle shed the call by its rejection probability: it
/// was not sent.
///
/// Returned at once by the throttle layer; never retried by the retry
/// layer. It carries no data, so boxing it as a
/// [`BoxError`](crate::BoxError) allocates nothing: while a throttle sheds
/// most calls after an outage, each shed call costs no allocation. The
/// probability in force is on the throttle's
/// [`snapshot`](crate::throttle::ThrottleHandle::snapshot_at) and in the
/// layer's `debug` event for each shed call. A call turned away by the
/// server's pacing is a [`Paced`] instead.
///
/// # Examples
///
/// ```
/// use failsoft::error::{is_local_rejection, Throttled};
///
/// let err: failsoft::BoxError = Box::new(Throttled::new());
/// assert!(is_local_rejection(err.as_ref()));
/// assert!(err.is::<Throttled>());
/// assert_eq!(size_of::<Throttled>(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Throttled {
    _private: (),
}

/// The adaptive throttle turned the call away because the server is
/// pacing the client (a `Retry-After` on an overload answer, see
/// [`ThrottleHandle::pace_at`](crate::throttle::ThrottleHandle::pace_at)):
/// it was not sent.
///
/// A quiet client's calls [hold](Self::holds): the retry layer sends them
/// again once the pace [ends](Self::until), if the deadline allows and an
/// attempt is left, without a budget withdrawal. A busy client keeps
/// sending at about the rate the backend accepts; its calls over that rate
/// are shed and do not hold. Neither is ever retried as a failure.
///
/// # Examples
///
/// ```
/// use failsoft::error::{is_local_rejection, Paced};
///
/// let until = tokio::time::Instant::now();
/// let err: failsoft::BoxError = Box::new(Paced::hold(until));
/// assert!(is_local_rejection(err.as_ref()));
/// let paced = err.downcast_ref::<Paced>().unwrap();
/// assert_eq!((paced.until(), paced.holds()), (until, true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paced {
    until: Instant,
    holds: bool,
}

// === impl Throttled ===

impl Throttled {
    /// Creates the rejection.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::error::Throttled;
    /// assert_eq!(Throttled::new(), Throttled::default());
    /// ```
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("throttled: call shed locally by the adaptive throttle")
    }
}

impl Error for Throttled {}

// === impl Paced ===

impl Paced {
    /// Creates the rejection of a call held back until `until`, when the
    /// server's pacing ends: the whole client waits for it, so the call
    /// [holds](Self::holds).
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::error::Paced;
    /// let until = tokio::time::Instant::now();
    /// assert!(Paced::hold(until).holds());
    /// ```
    pub const fn hold(until: Instant) -> Self {
        Self { until, holds: true }
    }

    /// Creates the rejection of a call over the rate that the server's
    /// pacing of a busy client allows until `until`: it does not
    /// [hold](Self::holds) (held, the client's excess would all go out when
    /// the pace ends).
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::error::Paced;
    /// let until = tokio::time::Instant::now();
    /// let shed = Paced::over_rate(until);
    /// assert_eq!(shed.until(), until);
    /// assert!(!shed.holds());
    /// ```
    pub const fn over_rate(until: Instant) -> Self {
        Self {
            until,
            holds: false,
        }
    }

    /// When the server's pacing ends.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::error::Paced;
    /// let until = tokio::time::Instant::now();
    /// assert_eq!(Paced::hold(until).until(), until);
    /// ```
    pub const fn until(&self) -> Instant {
        self.until
    }

    /// The call waits for the end of the pace ([`until`](Self::until))
    /// rather than being shed: the retry layer sends it again then, without
    /// a budget withdrawal, when that is before the request's deadline and
    /// an attempt is left.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::error::Paced;
    /// assert!(!Paced::over_rate(tokio::time::Instant::now()).holds());
    /// ```
    pub const fn holds(&self) -> bool {
        self.holds
    }
}

impl fmt::Display for Paced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.holds {
            f.write_str("paced: call held locally while the server paces the client")
        } else {
            f.write_str("paced: call over the rate the server's pacing allows, rejected locally")
        }
    }
}

impl Error for Paced {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BoxError;
    use crate::error::{held_until, is_local_rejection};

    #[test]
    fn only_a_holding_pace_is_held_and_both_are_local() {
        let until = Instant::now();
        let held: BoxError = Box::new(Paced::hold(until));
        let over: BoxError = Box::new(Paced::over_rate(until));
        let shed: BoxError = Box::new(Throttled::new());
        assert_eq!(held_until(held.as_ref()), Some(until));
        assert_eq!(held_until(over.as_ref()), None);
        assert_eq!(held_until(shed.as_ref()), None);
        for err in [&held, &over, &shed] {
            assert!(is_local_rejection(err.as_ref()), "{err}");
        }
    }
}
