//! Time cut into equal buckets from an epoch: the numbering shared by the
//! sliding windows of the breaker, the throttle and the retry budget.

use std::time::Duration;

use tokio::time::Instant;

/// Bucket `n` starts `n` bucket widths after the epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BucketClock {
    epoch: Instant,
    width_nanos: u128,
}

impl BucketClock {
    /// `buckets` buckets spanning `span`, numbered from `epoch` (at least
    /// one bucket, at least a nanosecond wide).
    pub(crate) fn new(epoch: Instant, span: Duration, buckets: u32) -> Self {
        Self {
            epoch,
            width_nanos: (span.as_nanos() / u128::from(buckets.max(1))).max(1),
        }
    }

    /// The number of the bucket `now` falls in (0 before the epoch,
    /// saturating far ahead).
    #[inline]
    pub(crate) fn bucket(self, now: Instant) -> u64 {
        let nanos = now.saturating_duration_since(self.epoch).as_nanos();
        // A 64-bit division (584 years of nanoseconds) is several times
        // cheaper than a 128-bit one, which is a library call.
        match (u64::try_from(nanos), u64::try_from(self.width_nanos)) {
            (Ok(n), Ok(w)) => n / w,
            _ => u64::try_from(nanos / self.width_nanos).unwrap_or(u64::MAX),
        }
    }

    /// When the bucket after `now`'s starts, in nanoseconds after the
    /// epoch (saturating).
    pub(crate) fn end_nanos(self, now: Instant) -> u128 {
        self.start_nanos(self.bucket(now).saturating_add(1))
    }

    /// When bucket `n` starts, in nanoseconds after the epoch.
    pub(crate) fn start_nanos(self, n: u64) -> u128 {
        u128::from(n) * self.width_nanos
    }

    /// Nanoseconds from the epoch to `now` (0 before it).
    pub(crate) fn nanos(self, now: Instant) -> u128 {
        now.saturating_duration_since(self.epoch).as_nanos()
    }
}

#[cfg(test)]
mod tests {
    use super::BucketClock;
    use std::time::Duration;
    use tokio::time::Instant;

    #[test]
    fn buckets_are_numbered_from_the_epoch() {
        let epoch = Instant::now();
        let clock = BucketClock::new(epoch, Duration::from_secs(120), 12);
        let s = Duration::from_secs;
        assert_eq!(clock.bucket(epoch), 0);
        assert_eq!(clock.bucket(epoch + s(9)), 0);
        assert_eq!(clock.bucket(epoch + s(10)), 1);
        assert_eq!(clock.bucket(epoch + s(125)), 12);
        assert_eq!(clock.start_nanos(2), 20_000_000_000);
        assert_eq!(clock.end_nanos(epoch + s(9)), 10_000_000_000);
        assert_eq!(clock.end_nanos(epoch + s(10)), 20_000_000_000);
        // Zero buckets or a zero span still make a usable clock.
        assert_eq!(
            BucketClock::new(epoch, Duration::ZERO, 0).bucket(epoch + s(1)),
            1_000_000_000
        );
    }
}
