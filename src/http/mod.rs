//! HTTP on the wire (feature `http`): what a response means, what the server
//! said about retrying, which requests may be sent twice, and how to send
//! them again.
//!
//! - [`HttpClassify`]: 408, 429, 500, 502, 503 and 504 are retryable (429
//!   and 503 as [`FailureKind::Throttled`](crate::classify::FailureKind::Throttled),
//!   overload rather than outage), other 4xx and 5xx are fatal, 1xx–3xx are
//!   successes; transport errors are retryable, failsoft's own local
//!   rejections never are. Only idempotent requests are retried (see
//!   [`Idempotency`]).
//! - [`server_hint`]: `Retry-After` (seconds or HTTP-date) and gRPC's
//!   `grpc-retry-pushback-ms` read from an [`http::HeaderMap`].
//! - [`HttpReplay`]: replays an [`http::Request`] whose body can be copied
//!   ([`CloneBody`]); [`buffer_body`] turns any other body into a
//!   [`Buffered`] one, kept in memory up to a cap (64 KiB by default) or
//!   else sent once, never dropped.
//! - [`StackBuilder::http`](crate::stack::StackBuilder::http) sets the
//!   classifier and the replay on the recommended stack in one call.
//!
//! The module depends on the `http`, `http-body` and `bytes` crates only;
//! it works with any client whose requests are `http::Request<B>`
//! (hyper-util's `Client`, tonic's channels, axum's `Router` in tests).
//!
//! # Examples
//!
//! ```
//! use failsoft::http::HttpClassify;
//! use failsoft::classify::{Classify, FailureKind, Hint, Outcome};
//! use std::time::Duration;
//!
//! let get = http::Request::get("http://127.0.0.1/schedule").body(()).unwrap();
//! let busy = http::Response::builder()
//!     .status(503)
//!     .header("retry-after", "2")
//!     .body(())
//!     .unwrap();
//! let verdict = HttpClassify::new().classify(&get, &Ok(busy));
//! assert_eq!(verdict.outcome, Outcome::Retryable(FailureKind::Throttled));
//! assert_eq!(verdict.hint, Some(Hint::RetryAfter(Duration::from_secs(2))));
//! ```

mod buffer;
mod classify;
mod headers;
mod idempotency;
mod replay;

pub use self::buffer::{Buffered, DEFAULT_BODY_CAP, buffer_body};
pub use self::classify::{HttpClassify, HttpClassifyBuilder};
#[cfg(feature = "grpc")]
pub(crate) use self::headers::pushback_text;
pub use self::headers::{MAX_HINT_LEN, grpc_pushback, retry_after, server_hint};
pub use self::idempotency::{IDEMPOTENCY_KEY, Idempotency, RetrySafe, never_sent};
pub use self::replay::{CloneBody, HttpReplay};
