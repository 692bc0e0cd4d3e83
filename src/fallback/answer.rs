//! [`Answer`]: what the fallback calls, and [`Decline`].

use super::reason::FallbackReason;
use crate::BoxError;

/// Produces the degraded answer for a failure the fallback handles.
///
/// Implemented for closures `Fn(FallbackReason, BoxError) -> Result<Res,
/// BoxError>` and for [`Decline`].
///
/// # Examples
///
/// ```
/// use failsoft::fallback::{Answer, FallbackReason};
///
/// let cached = |_reason: FallbackReason, _err: failsoft::BoxError| Ok::<_, failsoft::BoxError>(7);
/// assert_eq!(cached.answer(FallbackReason::Deadline, "late".into()).unwrap(), 7);
/// ```
pub trait Answer<Res> {
    /// The answer for a call that ended with `err` for `reason`; return
    /// `Err(err)` to pass the failure on.
    fn answer(&self, reason: FallbackReason, err: BoxError) -> Result<Res, BoxError>;
}

/// An [`Answer`] that passes every failure on unchanged: a stack without a
/// fallback.
///
/// # Examples
///
/// ```
/// use failsoft::fallback::{Answer, Decline, FallbackReason};
///
/// let res: Result<u8, _> = Decline.answer(FallbackReason::Failed, "down".into());
/// assert_eq!(res.unwrap_err().to_string(), "down");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Decline;

impl<F, Res> Answer<Res> for F
where
    F: Fn(FallbackReason, BoxError) -> Result<Res, BoxError>,
{
    fn answer(&self, reason: FallbackReason, err: BoxError) -> Result<Res, BoxError> {
        self(reason, err)
    }
}

impl<Res> Answer<Res> for Decline {
    fn answer(&self, _reason: FallbackReason, err: BoxError) -> Result<Res, BoxError> {
        Err(err)
    }
}
