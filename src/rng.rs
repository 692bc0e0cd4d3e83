//! Seedable randomness: one base seed, many independent streams.
//!
//! Every random choice in failsoft (jitter, throttle rejections, breaker
//! reopen jitter, the simulator) draws from an [`Rng`]. An `Rng` comes from a
//! [`Streams`] source: built with a seed, the whole program is reproducible;
//! built without one, the base seed is drawn once from the operating system.
//!
//! Each logical request, breaker or simulated device gets its *own* stream,
//! derived from the base seed and a stream id. Two requests never share a
//! jitter sequence, so requests that fail together do not retry together
//! (tower 0.5's `ExponentialBackoffMaker` hands every backoff the same
//! sequence; see ANCHORS.md).
//!
//! The generator is [`rand::rngs::SmallRng`] (Xoshiro256++ on 64-bit
//! targets): fast, small, and not cryptographic, which jitter does not need.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

/// One stream of random numbers.
///
/// Implements [`rand::RngCore`], so rand's distributions work with it.
///
/// # Examples
///
/// ```
/// use failsoft::rng::Rng;
///
/// let mut a = Rng::from_seed(7);
/// let mut b = Rng::from_seed(7);
/// assert_eq!(a.next_f64(), b.next_f64());
/// let x = a.uniform(2.0, 3.0);
/// assert!((2.0..3.0).contains(&x));
/// ```
#[derive(Debug, Clone)]
pub struct Rng {
    inner: SmallRng,
}

/// A source of independent [`Rng`] streams derived from one base seed.
///
/// # Sharing
///
/// `Streams` is meant to sit behind an `Arc` (the retry layer, breaker and
/// simulator keep one each). [`Streams::next_stream`] hands out a fresh
/// stream id with one atomic increment; [`Streams::stream`] derives the
/// stream for a given id without touching shared state.
///
/// # Examples
///
/// ```
/// use failsoft::rng::Streams;
///
/// let streams = Streams::seeded(42);
/// let mut first = streams.next_stream();
/// let mut second = streams.next_stream();
/// assert_ne!(first.next_u64(), second.next_u64());
///
/// // The same seed gives the same streams in the same order.
/// let again = Streams::seeded(42);
/// assert_eq!(again.stream(0).next_u64(), Streams::seeded(42).next_stream().next_u64());
/// ```
#[derive(Debug)]
pub struct Streams {
    base: u64,
    next: AtomicU64,
}

/// Mixes a 64-bit value into a well-spread one (the SplitMix64 finalizer,
/// Steele, Lea and Flood, OOPSLA 2014). Used to derive stream seeds.
///
/// # Examples
///
/// ```
/// use failsoft::rng::mix;
/// assert_ne!(mix(1), mix(2));
/// assert_eq!(mix(5), mix(5));
/// ```
pub const fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `index`-th value, in `[0, 1)` with 53 bits of precision, of the
/// SplitMix64 sequence keyed by `key`: a random stream addressed by a
/// counter, so a caller that keeps the counter where it likes (one per
/// thread, without a lock) still draws a sequence fixed by the key.
#[inline]
pub(crate) fn nth_unit(key: u64, index: u64) -> f64 {
    let x = mix(key.wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

// === impl Rng ===

impl Rng {
    /// A stream fully determined by `seed`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::rng::Rng;
    /// assert_eq!(Rng::from_seed(1).next_u64(), Rng::from_seed(1).next_u64());
    /// ```
    pub fn from_seed(seed: u64) -> Self {
        Self {
            inner: SmallRng::seed_from_u64(mix(seed)),
        }
    }

    /// A stream seeded from the operating system's entropy.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::rng::Rng;
    /// let mut rng = Rng::from_os();
    /// let _ = rng.next_u64();
    /// ```
    pub fn from_os() -> Self {
        Self {
            inner: SmallRng::from_os_rng(),
        }
    }

    /// A uniformly distributed `u64`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::rng::Rng;
    /// let _ = Rng::from_seed(3).next_u64();
    /// ```
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniformly distributed `f64` in `[0, 1)`, with 53 bits of precision.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::rng::Rng;
    /// let x = Rng::from_seed(3).next_f64();
    /// assert!((0.0..1.0).contains(&x));
    /// ```
    pub fn next_f64(&mut self) -> f64 {
        // The top 53 bits give every representable multiple of 2^-53.
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniformly distributed `f64` in `[lo, hi)`; `lo` when `hi <= lo`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::rng::Rng;
    /// let mut rng = Rng::from_seed(3);
    /// assert_eq!(rng.uniform(5.0, 5.0), 5.0);
    /// assert!((1.0..2.0).contains(&rng.uniform(1.0, 2.0)));
    /// ```
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        if hi > lo {
            let x = lo + (hi - lo) * self.next_f64();
            // Rounding can land exactly on `hi`; keep the interval half-open.
            if x < hi { x } else { lo }
        } else {
            lo
        }
    }

    /// `true` with probability `p` (clamped to `[0, 1]`; NaN counts as 0).
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::rng::Rng;
    /// let mut rng = Rng::from_seed(3);
    /// assert!(!rng.chance(0.0));
    /// assert!(rng.chance(1.0));
    /// ```
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }
}

impl RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.inner.fill_bytes(dst)
    }
}

// === impl Streams ===

impl Streams {
    /// A source whose streams are fully determined by `seed`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::rng::Streams;
    /// assert_eq!(Streams::seeded(9).base_seed(), 9);
    /// ```
    pub const fn seeded(seed: u64) -> Self {
        Self {
            base: seed,
            next: AtomicU64::new(0),
        }
    }

    /// A source whose base seed is drawn once from the operating system.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::rng::Streams;
    /// let s = Streams::from_os();
    /// let _ = s.next_stream();
    /// ```
    pub fn from_os() -> Self {
        Self::seeded(Rng::from_os().next_u64())
    }

    /// [`Streams::seeded`] when `seed` is `Some`, else [`Streams::from_os`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::rng::Streams;
    /// assert_eq!(Streams::new(Some(4)).base_seed(), 4);
    /// ```
    pub fn new(seed: Option<u64>) -> Self {
        match seed {
            Some(seed) => Self::seeded(seed),
            None => Self::from_os(),
        }
    }

    /// The base seed (drawn from the OS if none was given). Log it to
    /// reproduce a run.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::rng::Streams;
    /// assert_eq!(Streams::seeded(1).base_seed(), 1);
    /// ```
    pub const fn base_seed(&self) -> u64 {
        self.base
    }

    /// Hands out the next unused stream id.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::rng::Streams;
    /// let s = Streams::seeded(1);
    /// assert_eq!(s.next_id(), 0);
    /// assert_eq!(s.next_id(), 1);
    /// ```
    pub fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// The stream for the next unused id.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::rng::Streams;
    /// let s = Streams::seeded(1);
    /// assert_ne!(s.next_stream().next_u64(), s.next_stream().next_u64());
    /// ```
    pub fn next_stream(&self) -> Rng {
        self.stream(self.next_id())
    }

    /// The stream with the given id: a pure function of the base seed and
    /// `id`, touching no shared state.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::rng::Streams;
    /// let s = Streams::seeded(1);
    /// assert_eq!(s.stream(10).next_u64(), s.stream(10).next_u64());
    /// assert_ne!(s.stream(10).next_u64(), s.stream(11).next_u64());
    /// ```
    pub fn stream(&self, id: u64) -> Rng {
        Rng::from_seed(self.base ^ mix(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_f64_is_in_unit_interval_and_spread() {
        let mut rng = Rng::from_seed(11);
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x));
            sum += x;
        }
        let mean = sum / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
    }

    #[test]
    fn a_counter_addressed_stream_is_uniform_and_keyed() {
        let mut buckets = [0u32; 10];
        for i in 0..100_000 {
            let x = nth_unit(7, i);
            assert!((0.0..1.0).contains(&x));
            buckets[(x * 10.0) as usize] += 1;
        }
        // Each tenth holds 10,000 ± 3 % (about 10 standard deviations).
        assert!(
            buckets.iter().all(|&n| n.abs_diff(10_000) < 300),
            "{buckets:?}"
        );
        // Neighbouring draws are not correlated: the mean product is 1/4.
        let lag: f64 = (0..100_000)
            .map(|i| nth_unit(7, i) * nth_unit(7, i + 1))
            .sum();
        assert!((lag / 100_000.0 - 0.25).abs() < 0.005, "{lag}");
        assert_eq!(nth_unit(7, 3), nth_unit(7, 3));
        assert_ne!(nth_unit(7, 3), nth_unit(8, 3));
    }

    #[test]
    fn streams_with_nearby_ids_are_uncorrelated() {
        let s = Streams::seeded(0);
        let firsts: Vec<u64> = (0..64).map(|id| s.stream(id).next_u64()).collect();
        let mut dedup = firsts.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), firsts.len());
    }

    #[test]
    fn different_base_seeds_give_different_streams() {
        assert_ne!(
            Streams::seeded(1).stream(0).next_u64(),
            Streams::seeded(2).stream(0).next_u64()
        );
    }
}
