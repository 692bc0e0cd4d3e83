//! Delay schedules between attempts: exponential growth, a cap, and jitter.
//!
//! An [`ExponentialBackoff`] is a plain, `Copy` description of a schedule.
//! [`ExponentialBackoff::schedule`] turns it into a [`Schedule`], an
//! [`Iterator`] of [`Duration`](std::time::Duration)s that needs neither
//! Tower nor a runtime. The retry layer uses the same arithmetic through
//! [`ExponentialBackoff::delay`], one independent random stream per
//! logical request.
//!
//! Guarantees, whatever the configuration and the attempt number:
//! - no delay exceeds the cap, jitter included (backon's jitter can reach
//!   about 1.9 s with a 1 s cap; see ANCHORS.md);
//! - no arithmetic overflows or panics: retry 1,000,000 gets the cap;
//! - bad configuration is a [`ConfigError`](crate::ConfigError), not a panic.
//!
//! See [`Jitter`] for the jitter formulas and their source.
//!
//! # Examples
//!
//! ```
//! use failsoft::backoff::{ExponentialBackoff, Jitter};
//! use std::time::Duration;
//!
//! let backoff = ExponentialBackoff::builder()
//!     .base(Duration::from_millis(100))
//!     .max(Duration::from_secs(2))
//!     .jitter(Jitter::None)
//!     .max_attempts(5)
//!     .build()?;
//! let delays: Vec<Duration> = backoff.schedule_seeded(1).collect();
//! assert_eq!(
//!     delays,
//!     [100, 200, 400, 800].map(Duration::from_millis).to_vec(),
//! );
//! # Ok::<(), failsoft::ConfigError>(())
//! ```

mod exponential;
mod jitter;
mod schedule;

pub(crate) use self::exponential::DEFAULT as DEFAULT_BACKOFF;
pub use self::exponential::{ExponentialBackoff, ExponentialBackoffBuilder};
pub use self::jitter::Jitter;
pub use self::schedule::Schedule;
