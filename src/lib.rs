//! Tower layers that make clients fail soft instead of amplifying a retry storm.
//!
//! # Overview
//!
//! A client that retries too eagerly turns a backend's bad minute into a bad
//! day: on 7 December 2021 clients retrying and reconnecting kept AWS
//! us-east-1's internal network congested for hours. failsoft's layers keep
//! the client side honest:
//!
//! - [`backoff`]: capped exponential delays with none, full, equal or
//!   decorrelated jitter, independent per request and seedable;
//! - [`retry`]: a Tower retry layer with an attempt limit, an overall
//!   deadline, per-attempt timeouts, server hints, a budget and live
//!   counters;
//! - [`budget`]: retry budgets that bound how much extra load retries can
//!   add (a ratio with a floor, or a token bucket with costs);
//! - [`throttle`]: adaptive client-side throttling (the SRE book's
//!   requests-versus-accepts rule), rejecting locally before the network;
//! - [`breaker`]: circuit breakers that fail fast, probe carefully, and
//!   bring traffic back with jitter and a ramp instead of a stampede;
//! - [`fallback`]: turn a local rejection or final failure into a degraded
//!   answer, so a device keeps working;
//! - [`classify`]: one description of what a backend's answers mean;
//! - [`error`]: [`ConfigError`] for every builder, and the typed local
//!   rejections that are never retried.
//!
//! # How much can a client add to a storm?
//!
//! With at most `n` attempts per request and a
//! [`RatioBudget`](budget::RatioBudget) of ratio `r` and floor `f` (retries
//! per second) over a window `w`, a client's attempts in any window are at
//! most `requests × (1 + r) + f × w`, and never more than `requests × n`,
//! whatever the failure pattern, and whichever requests are cancelled when
//! (a cancelled request gives back only its own withdrawal). With the
//! defaults (`r` = 0.1) a client facing a dead backend adds about 10 % to
//! its load instead of tripling it; `tests/budget.rs` checks the bound
//! through the retry layer, `tests/budget_cancel.rs` under cancellations. The
//! [`budget`] module states the bound for a
//! [`TokenBucket`](budget::TokenBucket) too.
//!
//! # Quick start
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//!
//! use failsoft::BoxError;
//! use failsoft::fallback::FallbackReason;
//! use failsoft::stack::StackLayer;
//! use tower::{Layer, Service, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! // A cloud backend whose first call fails.
//! let calls = Arc::new(AtomicU32::new(0));
//! let backend = {
//!     let calls = Arc::clone(&calls);
//!     service_fn(move |device: &'static str| {
//!         let n = calls.fetch_add(1, Ordering::Relaxed);
//!         async move {
//!             if n == 0 {
//!                 Err::<String, BoxError>("connection reset".into())
//!             } else {
//!                 Ok(format!("fresh schedule for {device}"))
//!             }
//!         }
//!     })
//! };
//!
//! // fallback → retry (3 attempts, full jitter, 10% budget, 5 s deadline)
//! // → throttle → breaker → 1 s per attempt → backend.
//! let stack = StackLayer::builder()
//!     .deadline(Duration::from_secs(5))
//!     .attempt_timeout(Duration::from_secs(1))
//!     .fallback(|reason: FallbackReason, _err| Ok(format!("cached schedule ({reason})")))
//!     .seed(7)
//!     .build()?;
//! let counters = stack.counters();
//! let breaker = stack.breaker().clone();
//! let mut client = stack.layer(backend);
//!
//! let reply = client.ready().await?.call("vacuum-42").await?;
//! assert_eq!(reply, "fresh schedule for vacuum-42");
//! assert_eq!(counters.snapshot().attempts, 2);
//!
//! // The backend is drowning: the open breaker rejects locally and the
//! // fallback answers; nothing reaches the network.
//! breaker.force_open();
//! let reply = client.ready().await?.call("vacuum-42").await?;
//! assert_eq!(reply, "cached schedule (circuit open)");
//! assert_eq!(calls.load(Ordering::Relaxed), 2);
//!
//! let stats = counters.snapshot();
//! println!(
//!     "{reply}: {} attempts for {} requests (amplification {:.1})",
//!     stats.attempts,
//!     stats.requests,
//!     stats.amplification().unwrap_or(1.0),
//! );
//! # Ok(())
//! # }
//! ```
//!
//! The order of the layers matters: fallback outermost, retry owning the
//! logical request, throttle and breaker judging single attempts, the
//! attempt timeout innermost. [`stack`] explains why; every layer also
//! works alone in any `ServiceBuilder`.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | *(none)* | yes | the core layers: tower, tokio (`time`, `sync`), rand, pin-project-lite, tracing, httpdate (`Retry-After` dates), crossbeam-utils (cache-line padding of shared counters) and lru (keyed breakers) |
//! | `http` | no | [`http`](mod@crate::http): status classifier, `Retry-After` and pushback from headers, idempotency, body replay and buffering; [`StackBuilder::http`](stack::StackBuilder::http) |
//! | `grpc` | no | `http` plus [`grpc`](mod@crate::grpc): `grpc-status` classifier with pushback (gRFC A6), `grpc-timeout` per attempt from the deadline left |
//! | `reqwest` | no | `http` plus [`reqwest`](mod@crate::reqwest): the classifier and replay for `reqwest::Request` and `reqwest::Response` (no TLS pulled in) |
//!
//! # Determinism and testing
//!
//! Every component reads time only through [`tokio::time`], so tests and
//! simulations run on paused time: `#[tokio::test(start_paused = true)]`
//! makes hours of backoff take microseconds, with exact virtual timestamps.
//! Every random choice draws from [`rng`]: a `seed` on a builder makes a
//! run reproducible, and each logical request gets its own stream.
//! Pure cores (backoff schedules) take their inputs explicitly and are
//! tested without a runtime.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

pub mod backoff;
pub mod breaker;
mod buckets;
pub mod budget;
pub mod classify;
pub mod error;
pub mod fallback;
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub mod grpc;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;
pub mod retry;
pub mod rng;
pub mod stack;
mod stripes;
pub mod throttle;
pub mod time;

pub use crate::error::ConfigError;

/// The boxed error type of every failsoft service, as in tower.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The README's Rust blocks run as doctests, so its quick start stays true.
/// Some need the integrations, so they run with every feature on (`cargo
/// test --all-features`); the quick start is also `examples/quickstart.rs`,
/// built in every configuration.
#[cfg(all(doctest, feature = "http", feature = "grpc", feature = "reqwest"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
