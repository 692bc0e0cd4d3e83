//! [`Replay`]: how the retry layer gets a fresh copy of a request.

/// Makes the copy of a request that the next attempt sends.
///
/// The retry layer keeps one copy of every request for as long as it may
/// retry. When `replay` returns `None` the request is still sent exactly
/// once, never dropped: the layer passes the result through unclassified
/// and reports [`StopReason::NotReplayable`](crate::retry::StopReason::NotReplayable).
///
/// - [`CloneRequest`] (the default) clones `Req: Clone`.
/// - [`SendOnce`] never replays: any request type, one attempt.
/// - A closure `Fn(&Req) -> Option<Req>` decides per request, for example
///   replaying an HTTP request only when its body is buffered and small.
///
/// # Examples
///
/// ```
/// use failsoft::retry::Replay;
///
/// // Replay only requests whose body fits in 64 KiB.
/// let small_only = |req: &Vec<u8>| (req.len() <= 64 * 1024).then(|| req.clone());
/// assert!(small_only.replay(&vec![0; 10]).is_some());
/// assert!(small_only.replay(&vec![0; 100_000]).is_none());
/// ```
pub trait Replay<Req> {
    /// A copy of `req` for another attempt, or `None` if it cannot be sent again.
    fn replay(&self, req: &Req) -> Option<Req>;
}

/// Replays requests by cloning them.
///
/// # Examples
///
/// ```
/// use failsoft::retry::{CloneRequest, Replay};
/// assert_eq!(CloneRequest.replay(&"GET /"), Some("GET /"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneRequest;

/// Never replays: every request is sent once, whatever its type.
///
/// # Examples
///
/// ```
/// use failsoft::retry::{Replay, SendOnce};
/// struct Stream; // not Clone
/// assert!(SendOnce.replay(&Stream).is_none());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SendOnce;

impl<Req: Clone> Replay<Req> for CloneRequest {
    #[inline]
    fn replay(&self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

impl<Req> Replay<Req> for SendOnce {
    #[inline]
    fn replay(&self, _req: &Req) -> Option<Req> {
        None
    }
}

impl<Req, F> Replay<Req> for F
where
    F: Fn(&Req) -> Option<Req>,
{
    fn replay(&self, req: &Req) -> Option<Req> {
        self(req)
    }
}
