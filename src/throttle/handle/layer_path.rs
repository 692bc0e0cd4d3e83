//! The layer's own path through a [`ThrottleHandle`]: decide a request,
//! count its end, and the periodic fold, without the lock wherever the
//! type's docs say it can.

use std::sync::TryLockError;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::{ACCEPTED, DRAWS, REJECTIONS, ThrottleHandle};
use crate::error::Throttled;
use crate::rng::nth_unit;
use crate::throttle::Rejection;

/// On the clock-free path, each thread looks at the clock after this many
/// requests, and folds the pending counts (requests and accepts) into the
/// window if a new bucket has begun since the last fold.
const FOLD_EVERY: u64 = 32;

impl ThrottleHandle {
    /// Whether a fold is due at `now` (a new bucket has begun since the
    /// last one).
    #[inline]
    fn fold_due(&self, now: Instant) -> bool {
        let shared = &*self.shared;
        shared.hot.clock.nanos(now) >= u128::from(shared.hot.next_fold.load(Ordering::Relaxed))
    }

    /// Folds the pending counts at `now` and publishes the probability,
    /// unless another thread holds the lock (it is folding, or its own
    /// update folds them): the probability published, or `None`.
    #[cold]
    fn try_fold(&self, now: Instant) -> Option<f64> {
        let mut st = match self.shared.state.try_lock() {
            Ok(st) => st,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        self.fold_pending(&mut st, now);
        let p = st.published(now);
        self.publish(p);
        Some(p)
    }

    /// The next value of the calling thread's position in the draw stream.
    #[inline]
    pub(super) fn draw(&self) -> f64 {
        nth_unit(
            self.shared.hot.key,
            self.shared.hot.counts.increment_nth(DRAWS),
        )
    }

    #[inline]
    fn healthy(&self) -> bool {
        f64::from_bits(self.shared.hot.probability.load(Ordering::Relaxed)) == 0.0
    }

    /// The healthy path's periodic refresh: once a new bucket of the
    /// window has begun, the first thread to notice folds every thread's
    /// pending counts into it and publishes the probability; until then it
    /// returns after one clock read and one shared load, taking no lock
    /// (a lock every few calls of each thread made threads calling one
    /// throttle wait on each other's cache line). A healthy throttle has
    /// only successes pending, equal requests and accepts, which move the
    /// probability only once a failure comes, and every failure folds
    /// everything first ([`failed`](Self::failed)). Folding late puts those
    /// successes at most one bucket later in the window than they happened,
    /// which keeps them a bucket longer: the throttle is that much more
    /// lenient, never stricter.
    #[cold]
    fn refresh(&self) {
        let now = crate::time::now();
        if self.fold_due(now) {
            self.try_fold(now);
        }
    }

    /// The layer's admission: without the lock unless pacing is in force,
    /// and without the clock while the probability is 0. Decides only; the
    /// request counts when its attempt ends ([`accept`](Self::accept),
    /// [`failed`](Self::failed)).
    #[inline]
    pub(crate) fn admit(&self) -> Result<(), Rejection> {
        self.admit_noting(&mut None)
    }

    /// [`admit`](Self::admit), leaving in `read` the instant it read the
    /// clock at, if it did, for the layers below to judge by instead of
    /// reading it again.
    #[inline]
    pub(crate) fn admit_noting(&self, read: &mut Option<Instant>) -> Result<(), Rejection> {
        if self.healthy() {
            return Ok(());
        }
        let now = crate::time::now();
        *read = Some(now);
        self.shed(now)
    }

    /// The admission while shedding at `now`, without the lock unless
    /// pacing is in force (see the type's docs): the probability published, brought up
    /// to date at the first decision of a new bucket, and a draw from the
    /// calling thread's place in the stream.
    #[inline(never)]
    fn shed(&self, now: Instant) -> Result<(), Rejection> {
        let shared = &*self.shared;
        let mut p = f64::from_bits(shared.hot.probability.load(Ordering::Relaxed));
        if self.fold_due(now)
            && let Some(fresh) = self.try_fold(now)
        {
            p = fresh;
        }
        if p >= 1.0 {
            // Paced: the pace decides, under the lock.
            return self.admit_at(now);
        }
        if p <= 0.0 || self.draw() >= p {
            return Ok(());
        }
        shared.hot.counts.increment_nth(REJECTIONS);
        tracing::debug!(
            probability = p,
            paced = false,
            "throttled a request locally"
        );
        Err(Rejection::Shed(Throttled::new()))
    }

    /// The layer's count of a sent request that the backend accepted:
    /// clock-free while the probability is 0. Inlined into every caller
    /// (see [`settle`](super::super::settle::settle)); the shedding
    /// throttle's count is a call.
    #[inline(always)]
    pub(crate) fn accept(&self) {
        if self.healthy() {
            let shared = &*self.shared;
            if shared.hot.counts.increment_nth(ACCEPTED) % FOLD_EVERY == FOLD_EVERY - 1 {
                self.refresh();
            }
            return;
        }
        self.accept_locked();
    }

    /// [`accept`](Self::accept) while the throttle sheds: under the lock.
    #[inline(never)]
    fn accept_locked(&self) {
        let now = crate::time::now();
        let mut st = self.lock_at(now);
        st.fold(now, 1, 1);
        self.publish(st.published(now));
    }

    /// The layer's count of a sent request that the backend did not accept
    /// (or that was dropped before it ended): brings the probability up to
    /// date at once.
    pub(crate) fn failed(&self) {
        let now = crate::time::now();
        let mut st = self.lock_at(now);
        st.fold(now, 1, 0);
        self.publish(st.published(now));
    }
}
