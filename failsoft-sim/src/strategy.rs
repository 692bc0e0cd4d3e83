//! Client strategies compared by the replay, and the plain-code ones.
//!
//! The naive control and the two "backoff alone" strategies are a plain
//! retry loop (run by the plain event loop): no budget, no throttle, no breaker, no
//! fallback, server hints ignored. Their delays come from the crate's
//! [`ExponentialBackoff`] (or a fixed, clock-aligned second for naive).

use std::time::Duration;

use super::stack::Parts;
use super::wheel::ms_ceil;
use failsoft::backoff::{ExponentialBackoff, Jitter};
use failsoft::rng::Rng;

/// A client strategy, from worst to best.
///
/// # Examples
///
/// ```
/// use failsoft_sim::Strategy;
/// assert_eq!(Strategy::from_name("naive"), Some(Strategy::Naive));
/// assert_eq!(Strategy::Naive.name(), "naive");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strategy {
    /// Fixed 1 s retries aligned to whole seconds of the clock, 4 attempts,
    /// hints ignored.
    Naive,
    /// Exponential backoff (1 s base, doubling, 20 s cap) without jitter,
    /// 4 attempts, hints ignored.
    Backoff,
    /// The same backoff with full jitter, 4 attempts, hints ignored.
    Jitter,
    /// The failsoft stack: fallback, retry layer (full jitter, at most 3
    /// attempts, a deadline, hints honoured) with a 10% retry budget,
    /// adaptive throttling and a circuit breaker with jittered reopening.
    Failsoft,
    /// The failsoft stack without its retry budget.
    NoBudget,
    /// The failsoft stack without throttle and breaker.
    NoThrottleBreaker,
    /// The failsoft stack without its fallback.
    NoFallback,
    /// The crate's retry layer alone: full jitter, at most 3 attempts, a
    /// deadline, hints honoured; no budget, throttle, breaker or fallback.
    RetryOnly,
}

/// How a plain strategy retries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlainPolicy {
    pub(crate) attempts: u32,
    pub(crate) timeout: Duration,
    pub(crate) delay: Delay,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Delay {
    /// Wait `period`, then on to the next whole multiple of it since the
    /// replay's start.
    Aligned { period: Duration },
    /// Delays from a backoff schedule.
    Backoff(ExponentialBackoff),
    /// Delays from a backoff schedule without jitter, with those of its
    /// first retries in whole milliseconds: they draw nothing, so they are
    /// the same for every request and computed once.
    Steps(ExponentialBackoff, [u64; STEPS]),
}

/// Retries whose delays [`Delay::Steps`] looks up.
const STEPS: usize = 4;

/// What a jittered delay draws on: the request's own random stream and the
/// delay it drew last.
#[derive(Debug, Clone)]
pub(crate) struct Draws {
    pub(crate) rng: Rng,
    pub(crate) previous: Duration,
}

// === impl Strategy ===

impl Strategy {
    /// Every strategy, in report order.
    pub const ALL: [Strategy; 8] = [
        Strategy::Naive,
        Strategy::Backoff,
        Strategy::Jitter,
        Strategy::Failsoft,
        Strategy::NoBudget,
        Strategy::NoThrottleBreaker,
        Strategy::NoFallback,
        Strategy::RetryOnly,
    ];

    /// Name used in the report, the JSON and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Strategy::Naive => "naive",
            Strategy::Backoff => "backoff",
            Strategy::Jitter => "jitter",
            Strategy::Failsoft => "failsoft",
            Strategy::NoBudget => "failsoft-no-budget",
            Strategy::NoThrottleBreaker => "failsoft-no-throttle-breaker",
            Strategy::NoFallback => "failsoft-no-fallback",
            Strategy::RetryOnly => "failsoft-retry-only",
        }
    }

    /// The strategy called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The failsoft parts of a layered strategy; `None` for plain ones.
    pub(crate) const fn parts(self) -> Option<Parts> {
        match self {
            Strategy::Naive | Strategy::Backoff | Strategy::Jitter => None,
            Strategy::Failsoft => Some(Parts::ALL),
            Strategy::NoBudget => Some(Parts {
                budget: false,
                ..Parts::ALL
            }),
            Strategy::NoThrottleBreaker => Some(Parts {
                throttle: false,
                ..Parts::ALL
            }),
            Strategy::NoFallback => Some(Parts {
                fallback: false,
                ..Parts::ALL
            }),
            Strategy::RetryOnly => Some(Parts {
                hints: true,
                budget: false,
                throttle: false,
                fallback: false,
            }),
        }
    }

    /// The retry loop of a plain strategy with per-attempt `timeout`;
    /// `None` for layered ones.
    pub(crate) fn plain(self, timeout: Duration) -> Option<PlainPolicy> {
        let backoff = |jitter| {
            ExponentialBackoff::builder()
                .base(Duration::from_secs(1))
                .multiplier(2.0)
                .max(Duration::from_secs(20))
                .jitter(jitter)
                .build()
                .unwrap_or_default()
        };
        let delay = match self {
            Strategy::Naive => Delay::Aligned {
                period: Duration::from_secs(1),
            },
            Strategy::Backoff => Delay::backoff(backoff(Jitter::None)),
            Strategy::Jitter => Delay::backoff(backoff(Jitter::Full)),
            _ => return None,
        };
        Some(PlainPolicy {
            attempts: 4,
            timeout,
            delay,
        })
    }
}

// === impl PlainPolicy ===

impl PlainPolicy {
    /// The longest sleep between two attempts.
    pub(crate) fn longest_delay(&self) -> Duration {
        match self.delay {
            // Up to a period to wait, and up to one more to align.
            Delay::Aligned { period, .. } => period.saturating_mul(2),
            Delay::Backoff(b) | Delay::Steps(b, _) => b.max(),
        }
    }

    /// Whether its delays draw on a request's [`Draws`] (a jittered
    /// backoff); other delays never read them.
    pub(crate) fn draws(&self) -> bool {
        matches!(self.delay, Delay::Backoff(b) if b.jitter() != Jitter::None)
    }
}

// === impl Delay ===

impl Delay {
    /// The delays of `b`: looked up when it has no jitter.
    fn backoff(b: ExponentialBackoff) -> Self {
        if b.jitter() != Jitter::None {
            return Delay::Backoff(b);
        }
        // Without jitter, neither the stream nor the previous delay matter.
        let mut rng = Rng::from_seed(0);
        let steps = std::array::from_fn(|retry| {
            let retry = u32::try_from(retry).unwrap_or(u32::MAX);
            ms_ceil(b.delay(retry, Duration::ZERO, &mut rng))
        });
        Delay::Steps(b, steps)
    }

    /// The millisecond of the replay the attempt after a failure at `ms`
    /// starts at, rounded up to whole milliseconds as the runtime's timers
    /// round (the failed attempt being retry `retry`, 0 for the first).
    /// A jittered delay draws on `draws` and remembers itself there.
    pub(crate) fn until(&self, ms: u64, retry: u32, draws: &mut Draws) -> u64 {
        match *self {
            Delay::Aligned { period } => {
                let p = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX).max(1);
                let since = ms.saturating_mul(1_000_000).saturating_add(p);
                let aligned = since.div_ceil(p).saturating_mul(p);
                aligned.div_ceil(1_000_000)
            }
            Delay::Steps(_, steps) if (retry as usize) < STEPS => {
                ms.saturating_add(steps[retry as usize])
            }
            Delay::Backoff(b) | Delay::Steps(b, _) => {
                let d = b.delay(retry, draws.previous, &mut draws.rng);
                draws.previous = d;
                ms.saturating_add(ms_ceil(d))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn draws(seed: u64) -> Draws {
        Draws {
            rng: Rng::from_seed(seed),
            previous: Duration::ZERO,
        }
    }

    #[test]
    fn naive_retries_wait_a_second_then_align_to_the_next_whole_one() {
        let Some(p) = Strategy::Naive.plain(TIMEOUT) else {
            panic!("naive is plain");
        };
        assert!(!p.draws());
        assert_eq!(p.delay.until(1_234, 0, &mut draws(1)), 3_000);
        assert_eq!(p.delay.until(2_000, 2, &mut draws(1)), 3_000);
        assert_eq!(p.delay.until(0, 1, &mut draws(1)), 1_000);
    }

    #[test]
    fn backoff_without_jitter_looks_up_the_delays_it_would_compute() {
        let Some(p) = Strategy::Backoff.plain(TIMEOUT) else {
            panic!("backoff is plain");
        };
        let Delay::Steps(b, _) = p.delay else {
            panic!("no jitter: {:?}", p.delay);
        };
        assert!(!p.draws());
        for retry in 0..8 {
            let computed = 50 + ms_ceil(b.delay(retry, Duration::ZERO, &mut Rng::from_seed(9)));
            assert_eq!(p.delay.until(50, retry, &mut draws(3)), computed, "{retry}");
        }
        assert_eq!(p.delay.until(50, 2, &mut draws(3)), 4_050);
        assert_eq!(p.longest_delay(), Duration::from_secs(20));
    }

    #[test]
    fn jittered_backoff_draws_on_each_request_s_own_stream() {
        let Some(p) = Strategy::Jitter.plain(TIMEOUT) else {
            panic!("jitter is plain");
        };
        assert!(p.draws());
        let (mut a, mut b) = (draws(1), draws(2));
        let first: Vec<u64> = (0..3).map(|r| p.delay.until(0, r, &mut a)).collect();
        let second: Vec<u64> = (0..3).map(|r| p.delay.until(0, r, &mut b)).collect();
        assert_ne!(first, second);
        assert!(
            first
                .iter()
                .zip([1_000, 2_000, 4_000])
                .all(|(d, cap)| *d <= cap)
        );
        assert!(a.previous > Duration::ZERO, "remembers the last delay");
    }
}
