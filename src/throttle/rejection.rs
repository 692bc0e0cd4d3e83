//! [`Rejection`]: why the throttle turned a call away.

use crate::BoxError;
use crate::error::{Paced, Throttled};

/// Why the throttle turned a call away
/// ([`ThrottleHandle::admit_at`](super::ThrottleHandle::admit_at)): shed by
/// the rejection probability, or turned away by the server's pacing.
///
/// The throttle layer resolves a rejected call to the error inside,
/// boxed with [`into_error`](Self::into_error).
///
/// # Examples
///
/// ```
/// use failsoft::error::Throttled;
/// use failsoft::throttle::Rejection;
///
/// let err = Rejection::Shed(Throttled::new()).into_error();
/// assert!(err.is::<Throttled>());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// Shed by the rejection probability in force.
    Shed(Throttled),
    /// Held or shed while the server paces the client.
    Paced(Paced),
}

// === impl Rejection ===

impl Rejection {
    /// The rejection as the layer's error: a boxed [`Throttled`] (which
    /// allocates nothing, the type carrying no data) or a boxed [`Paced`].
    ///
    /// # Examples
    ///
    /// ```
    /// use failsoft::error::Paced;
    /// use failsoft::throttle::Rejection;
    ///
    /// let until = tokio::time::Instant::now();
    /// let err = Rejection::Paced(Paced::hold(until)).into_error();
    /// assert_eq!(err.downcast_ref::<Paced>().map(Paced::until), Some(until));
    /// ```
    #[inline]
    pub fn into_error(self) -> BoxError {
        match self {
            Rejection::Shed(shed) => Box::new(shed),
            Rejection::Paced(paced) => Box::new(paced),
        }
    }
}
