//! [`Buffered`]: a request body kept in memory up to a cap so it can be
//! sent again, or else sent once.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{HeaderMap, Request};
use http_body::{Body, Frame, SizeHint};

use crate::BoxError;

/// The default cap on a buffered request body: 64 KiB.
pub const DEFAULT_BODY_CAP: usize = 64 * 1024;

/// A request body read into memory by [`buffer_body`].
///
/// When the whole body fit in the cap it is held as chunks of [`Bytes`]
/// and can be copied for every attempt at the cost of a reference count
/// per chunk ([`CloneBody`](super::CloneBody)). When it did not, it holds
/// what was read so far followed by the rest of the original stream: it
/// sends the whole body exactly once, and the retry layer does not retry it
/// ([`StopReason::NotReplayable`](crate::retry::StopReason::NotReplayable)).
///
/// # Examples
///
/// ```
/// use failsoft::http::{buffer_body, CloneBody};
/// use http_body::Body;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), failsoft::BoxError> {
/// let req = http::Request::post("http://127.0.0.1/").body(String::from("hello"))?;
/// let req = buffer_body(req, 1024).await?;
/// assert!(req.body().is_replayable());
/// assert_eq!(req.body().size_hint().exact(), Some(5));
/// assert!(req.body().try_clone_body().is_some());
/// # Ok(())
/// # }
/// ```
pub struct Buffered<B> {
    chunks: VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
    /// The unread rest of a body larger than the cap.
    rest: Option<Pin<Box<B>>>,
}

/// Reads `req`'s body into memory, up to `cap` bytes, so the request can be
/// replayed ([`HttpReplay`](super::HttpReplay)).
///
/// A body whose size hint already says it is larger than `cap` is not read
/// at all; one found larger while reading keeps what was read in front of
/// the rest. Either way it is sent once, in full. Memory held is at most
/// `cap` plus one chunk of the original body.
///
/// # Errors
///
/// The body's own error, boxed, if reading it fails; nothing has been sent.
///
/// # Cancel safety
///
/// Dropping the future drops the request; nothing has been sent.
///
/// # Examples
///
/// ```
/// use failsoft::http::buffer_body;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), failsoft::BoxError> {
/// let big = http::Request::post("http://127.0.0.1/").body(String::from("x".repeat(100)))?;
/// let big = buffer_body(big, 10).await?;
/// assert!(!big.body().is_replayable());
/// # Ok(())
/// # }
/// ```
pub async fn buffer_body<B>(req: Request<B>, cap: usize) -> Result<Request<Buffered<B>>, BoxError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    let body = Buffered::read(body, cap).await?;
    Ok(Request::from_parts(parts, body))
}

// === impl Buffered ===

impl<B: Body> Buffered<B>
where
    B::Error: Into<BoxError>,
{
    async fn read(body: B, cap: usize) -> Result<Self, BoxError> {
        let mut body = Box::pin(body);
        let mut this = Buffered {
            chunks: VecDeque::new(),
            trailers: None,
            rest: None,
        };
        let too_big = usize::try_from(body.size_hint().lower()).map_or(true, |n| n > cap);
        let mut len = 0_usize;
        while !too_big && len <= cap {
            let Some(frame) = poll_fn(|cx| body.as_mut().poll_frame(cx)).await else {
                return Ok(this);
            };
            match frame.map_err(Into::into)?.into_data() {
                Ok(mut data) => {
                    let chunk = data.copy_to_bytes(data.remaining());
                    len = len.saturating_add(chunk.len());
                    if !chunk.is_empty() {
                        this.chunks.push_back(chunk);
                    }
                }
                Err(frame) => this.trailers = frame.into_trailers().ok(),
            }
        }
        this.rest = Some(body);
        Ok(this)
    }
}

impl<B> Buffered<B> {
    /// `true` when the whole body is in memory and can be sent again.
    pub fn is_replayable(&self) -> bool {
        self.rest.is_none()
    }

    /// A copy of a body held whole in memory; `None` for one larger than
    /// its cap.
    pub fn try_clone(&self) -> Option<Self> {
        if self.rest.is_some() {
            return None;
        }
        Some(Buffered {
            chunks: self.chunks.clone(),
            trailers: self.trailers.clone(),
            rest: None,
        })
    }

    fn held(&self) -> u64 {
        self.chunks
            .iter()
            .fold(0_u64, |n, c| n.saturating_add(c.len() as u64))
    }
}

impl<B> Body for Buffered<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(chunk) = this.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        match &mut this.rest {
            Some(rest) => rest.as_mut().poll_frame(cx).map(|frame| {
                frame.map(|f| {
                    f.map(|f| f.map_data(|mut d| d.copy_to_bytes(d.remaining())))
                        .map_err(Into::into)
                })
            }),
            None => Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
            && self.trailers.is_none()
            && self.rest.as_ref().is_none_or(|r| r.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let held = self.held();
        let Some(rest) = &self.rest else {
            return SizeHint::with_exact(held);
        };
        let hint = rest.size_hint();
        let mut out = SizeHint::new();
        out.set_lower(hint.lower().saturating_add(held));
        if let Some(upper) = hint.upper().and_then(|u| u.checked_add(held)) {
            out.set_upper(upper);
        }
        out
    }
}

impl<B> fmt::Debug for Buffered<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffered")
            .field("held", &self.held())
            .field("replayable", &self.is_replayable())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    /// A body that yields its chunks one by one, with no size hint.
    struct Chunks(VecDeque<&'static [u8]>, Option<HeaderMap>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            let frame = match self.0.pop_front() {
                Some(c) => Some(Frame::data(Bytes::from_static(c))),
                None => self.1.take().map(Frame::trailers),
            };
            Poll::Ready(frame.map(Ok))
        }
    }

    async fn drain<B: Body<Data = Bytes>>(body: B) -> (Vec<u8>, Option<HeaderMap>)
    where
        B::Error: std::fmt::Debug,
    {
        let mut body = Box::pin(body);
        let (mut out, mut trailers) = (Vec::new(), None);
        while let Some(frame) = poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            match frame.unwrap().into_data() {
                Ok(d) => out.extend_from_slice(&d),
                Err(f) => trailers = f.into_trailers().ok(),
            }
        }
        (out, trailers)
    }

    fn req(chunks: &[&'static [u8]], trailers: Option<HeaderMap>) -> Request<Chunks> {
        Request::new(Chunks(chunks.iter().copied().collect(), trailers))
    }

    #[tokio::test]
    async fn small_streams_replay_whole_with_trailers() {
        let mut t = HeaderMap::new();
        t.insert("x-sum", "9".parse().unwrap());
        let req = buffer_body(req(&[b"ab", b"", b"cd"], Some(t.clone())), 4)
            .await
            .unwrap();
        let body = req.into_body();
        assert!(body.is_replayable());
        assert_eq!(body.size_hint().exact(), Some(4));
        let copy = body.try_clone().unwrap();
        assert_eq!(drain(body).await, (b"abcd".to_vec(), Some(t.clone())));
        assert_eq!(drain(copy).await, (b"abcd".to_vec(), Some(t)));
    }

    #[tokio::test]
    async fn bodies_over_the_cap_are_sent_once_in_full() {
        let req = buffer_body(req(&[b"abc", b"def", b"ghi"], None), 4)
            .await
            .unwrap();
        let body = req.into_body();
        assert!(!body.is_replayable());
        assert!(body.try_clone().is_none());
        assert!(body.try_clone_body_is_none());
        assert_eq!(drain(body).await.0, b"abcdefghi".to_vec());
    }

    #[tokio::test]
    async fn a_size_hint_over_the_cap_skips_reading() {
        let big = Request::new(String::from("0123456789"));
        let body = buffer_body(big, 3).await.unwrap().into_body();
        assert_eq!(body.held(), 0);
        assert!(!body.is_replayable());
        assert_eq!(body.size_hint().exact(), Some(10));
        assert_eq!(drain(body).await.0, b"0123456789".to_vec());
    }

    impl<B> Buffered<B> {
        fn try_clone_body_is_none(&self) -> bool {
            crate::http::CloneBody::try_clone_body(self).is_none()
        }
    }
}
