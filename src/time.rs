//! The clock and timers the layers use: Tokio's.
//!
//! With the `sim` feature, a thread replaying a scenario installs the
//! replay's own clock (`sim::timers`), and on that thread alone `now`,
//! `sleep` and `sleep_until` read and set it. Every other thread, and every
//! build without the feature, uses Tokio's clock and timers directly.

use std::time::Duration;

pub(crate) use tokio::time::Instant;

#[cfg(not(feature = "sim"))]
pub(crate) use tokio::time::{Sleep, sleep_until};

/// The current instant.
#[cfg(not(feature = "sim"))]
#[inline]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// The current instant: the replay's on a thread replaying a scenario.
#[cfg(feature = "sim")]
#[inline]
pub(crate) fn now() -> Instant {
    crate::sim::timers::now().unwrap_or_else(Instant::now)
}

/// `delay` from now, saturating at about 30 years (as Tokio's `sleep`
/// does) for a delay too long to represent.
pub(crate) fn after(delay: Duration) -> Instant {
    let now = now();
    now.checked_add(delay)
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400))
}

/// A sleep of `delay` (saturating as [`after`]).
#[cfg(not(feature = "sim"))]
pub(crate) fn sleep(delay: Duration) -> Sleep {
    sleep_until(after(delay))
}

#[cfg(feature = "sim")]
pub(crate) use self::either::{Sleep, sleep, sleep_until};

#[cfg(feature = "sim")]
mod either {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use pin_project_lite::pin_project;

    use super::Instant;
    use crate::sim::timers::SimSleep;

    pin_project! {
        /// Tokio's sleep, or a sleep on the replay's clock.
        #[project = Proj]
        #[derive(Debug)]
        pub(crate) enum Sleep {
            Tokio { sleep: Pin<Box<tokio::time::Sleep>> },
            Sim { sleep: SimSleep },
        }
    }

    /// A sleep until `deadline`, on the replay's clock if this thread has one.
    pub(crate) fn sleep_until(deadline: Instant) -> Sleep {
        match SimSleep::until(deadline) {
            Some(sleep) => Sleep::Sim { sleep },
            None => Sleep::Tokio {
                sleep: Box::pin(tokio::time::sleep_until(deadline)),
            },
        }
    }

    /// A sleep of `delay` (saturating as [`after`](super::after)), on the
    /// replay's clock if this thread has one.
    pub(crate) fn sleep(delay: std::time::Duration) -> Sleep {
        match SimSleep::after(delay) {
            Some(sleep) => Sleep::Sim { sleep },
            None => sleep_until(super::after(delay)),
        }
    }

    impl Sleep {
        /// Moves the deadline to `deadline`, keeping the registration.
        pub(crate) fn reset(self: Pin<&mut Self>, deadline: Instant) {
            match self.project() {
                Proj::Tokio { sleep } => sleep.as_mut().reset(deadline),
                Proj::Sim { sleep } => sleep.reset(deadline),
            }
        }
    }

    impl Future for Sleep {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            match self.project() {
                Proj::Tokio { sleep } => sleep.as_mut().poll(cx),
                Proj::Sim { sleep } => sleep.poll(cx),
            }
        }
    }
}
