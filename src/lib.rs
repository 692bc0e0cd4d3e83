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
//! whatever the failure pattern. With the defaults (`r` = 0.1) a client
//! facing a dead backend adds about 10 % to its load instead of tripling it;
//! `tests/budget.rs` checks the bound through the retry layer. The
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
//! use failsoft::retry::RetryLayer;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! // A backend whose first two calls fail.
//! let calls = Arc::new(AtomicU32::new(0));
//! let backend = {
//!     let calls = Arc::clone(&calls);
//!     service_fn(move |device: &'static str| {
//!         let n = calls.fetch_add(1, Ordering::Relaxed);
//!         async move {
//!             if n < 2 {
//!                 Err::<String, BoxError>("connection reset".into())
//!             } else {
//!                 Ok(format!("schedule for {device}"))
//!             }
//!         }
//!     })
//! };
//!
//! // At most 3 attempts, full jitter, 5 s overall, 1 s per attempt.
//! let retry = RetryLayer::builder()
//!     .max_attempts(3)
//!     .deadline(Duration::from_secs(5))
//!     .attempt_timeout(Duration::from_secs(1))
//!     .seed(7)
//!     .build()?;
//! let counters = retry.counters();
//! let mut client = ServiceBuilder::new().layer(retry).service(backend);
//!
//! let reply = client.ready().await?.call("vacuum-42").await?;
//! assert_eq!(reply, "schedule for vacuum-42");
//! assert_eq!(counters.snapshot().attempts, 3);
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | *(none yet)* | | the core layers need only tower, tokio (`time`), rand, pin-project-lite and tracing |
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
pub mod budget;
pub mod classify;
pub mod error;
pub mod fallback;
pub mod retry;
pub mod rng;
#[cfg(feature = "sim")]
#[cfg_attr(docsrs, doc(cfg(feature = "sim")))]
pub mod sim;
pub mod stack;
mod stripes;
pub mod throttle;

pub use crate::error::ConfigError;

/// The boxed error type of every failsoft service, as in tower.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The README's Rust blocks run as doctests, so its quick start stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
