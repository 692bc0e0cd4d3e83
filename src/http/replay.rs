//! [`HttpReplay`]: copies of `http::Request`s for another attempt.

use http::Request;

use super::buffer::Buffered;
use crate::retry::Replay;

/// A request body that may be copyable for another attempt.
///
/// Every `Clone` body is (`http_body_util::Full<Bytes>`, `Empty<Bytes>`,
/// `Bytes`, `String`, `()`): cloning such a body is cheap, a reference
/// count or a small copy. A [`Buffered`] body is when it fit in its cap.
/// A streaming body is not; wrap it with [`buffer_body`](super::buffer_body).
///
/// # Examples
///
/// ```
/// use failsoft::http::CloneBody;
/// assert_eq!(String::from("hi").try_clone_body(), Some(String::from("hi")));
/// ```
pub trait CloneBody: Sized {
    /// A copy of the body, or `None` when it cannot be sent again.
    fn try_clone_body(&self) -> Option<Self>;
}

/// Replays `http::Request<B>` whose body is [`CloneBody`] (and, with the
/// `reqwest` feature, `reqwest::Request` through
/// [`try_clone`](https://docs.rs/reqwest/latest/reqwest/struct.Request.html#method.try_clone)).
///
/// Method, URI, version, headers and extensions are cloned (extensions in
/// `http` 1 are `Clone`). When the body cannot be copied the request is sent
/// once, never dropped: the retry layer reports
/// [`StopReason::NotReplayable`](crate::retry::StopReason::NotReplayable).
///
/// # Examples
///
/// ```
/// use failsoft::http::HttpReplay;
/// use failsoft::retry::Replay;
///
/// let req = http::Request::put("http://127.0.0.1/schedule").body(String::from("{}")).unwrap();
/// let copy = HttpReplay.replay(&req).unwrap();
/// assert_eq!(copy.method(), "PUT");
/// assert_eq!(copy.body(), "{}");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpReplay;

impl<T: Clone> CloneBody for T {
    fn try_clone_body(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<B> CloneBody for Buffered<B> {
    fn try_clone_body(&self) -> Option<Self> {
        self.try_clone()
    }
}

impl<B: CloneBody> Replay<Request<B>> for HttpReplay {
    fn replay(&self, req: &Request<B>) -> Option<Request<B>> {
        let body = req.body().try_clone_body()?;
        let mut copy = Request::new(body);
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.version_mut() = req.version();
        *copy.headers_mut() = req.headers().clone();
        *copy.extensions_mut() = req.extensions().clone();
        Some(copy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_copies_every_part() {
        let mut req = Request::delete("http://127.0.0.1/x?y=1")
            .version(http::Version::HTTP_11)
            .header("x-trace", "abc")
            .body(bytes::Bytes::from_static(b"payload"))
            .unwrap();
        req.extensions_mut().insert(7_u32);
        let copy = HttpReplay.replay(&req).unwrap();
        assert_eq!(copy.method(), req.method());
        assert_eq!(copy.uri(), req.uri());
        assert_eq!(copy.version(), req.version());
        assert_eq!(copy.headers(), req.headers());
        assert_eq!(copy.extensions().get::<u32>(), Some(&7));
        assert_eq!(copy.body(), req.body());
    }
}
