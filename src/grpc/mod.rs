//! gRPC (feature `grpc`): [`GrpcClassify`] reads `grpc-status` and
//! `grpc-retry-pushback-ms`, and [`GrpcTimeout`] tells the server how long
//! each attempt may take (`grpc-timeout`).
//!
//! Rules, after gRFC A6 ("Client Retries"), as
//! [`GrpcCodes`](crate::classify::GrpcCodes) gives them (the default set
//! is [`GrpcClassify::DEFAULT_CODES`]; [`GrpcClassify::codes`] replaces it):
//!
//! - `UNAVAILABLE` (14) is retryable ([`FailureKind::Error`](crate::classify::FailureKind::Error)): the server
//!   did not process the call;
//! - `RESOURCE_EXHAUSTED` (8) is overload ([`FailureKind::Throttled`](crate::classify::FailureKind::Throttled)),
//!   retried after exactly the server's pushback
//!   ([`Hint::Pushback`](crate::classify::Hint::Pushback));
//! - `DEADLINE_EXCEEDED` (4) is fatal by default: every attempt is sent the time left
//!   in the overall deadline ([`GrpcTimeout`]), so a server that ran out of
//!   it leaves nothing to retry with (A6: the deadline spans all attempts);
//! - every other non-OK code, or a `grpc-status` that cannot be read
//!   (taken as `UNKNOWN`), is fatal;
//! - a `grpc-retry-pushback-ms` that is negative or cannot be read means
//!   "do not retry" ([`Hint::DoNotRetry`](crate::classify::Hint::DoNotRetry));
//! - a response whose HTTP status is not 200 is classified by
//!   [`HttpClassify`](crate::http::HttpClassify)'s status rules (429, 502, 503, 504 map to
//!   `UNAVAILABLE` in gRPC's own table, and are retryable there too).
//!
//! A classifier sees only the response head: the codes it reads are those
//! of *trailers-only* responses (the server failed before any message,
//! which is how `UNAVAILABLE` and `RESOURCE_EXHAUSTED` usually arrive). A
//! status sent in trailers after messages is the caller's to read.
//!
//! gRPC methods all use POST; A6 retries by status code, not by method, so
//! `GrpcClassify` has no idempotency rule.
//!
//! # Examples
//!
//! ```
//! use failsoft::classify::{Classify, FailureKind, Hint, Outcome};
//! use failsoft::grpc::GrpcClassify;
//! use std::time::Duration;
//!
//! let busy = http::Response::builder()
//!     .header("grpc-status", "8")
//!     .header("grpc-retry-pushback-ms", "250")
//!     .body(())
//!     .unwrap();
//! let v = GrpcClassify::new().classify(&(), &Ok(busy));
//! assert_eq!(v.outcome, Outcome::Retryable(FailureKind::Throttled));
//! assert_eq!(v.hint, Some(Hint::Pushback(Duration::from_millis(250))));
//! ```

mod classify;
mod timeout;

pub use self::classify::GrpcClassify;
pub use self::timeout::{Deadline, GrpcTimeout, GrpcTimeoutLayer};
