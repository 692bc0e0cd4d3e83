//! Striping by thread: a counter each thread adds to on its own
//! cache-padded stripe, so concurrent deposits do not fight over one cache
//! line (the rare reader takes every stripe with `swap(0)`, so no increment
//! is lost or counted twice); and [`PerThread`], equal `Arc`s one per
//! stripe, so the futures of calls on different threads do not bump one
//! shared reference count.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

/// Hands each thread a stripe number once (round-robin over threads).
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Counters striped by thread.
#[derive(Debug)]
pub(crate) struct Striped {
    stripes: Box<[CachePadded<AtomicU64>]>,
    mask: usize,
}

/// This thread's stripe seed: assigned on first use, stable afterwards.
/// Shared by every striped structure in the crate (budgets, retry counters).
#[inline]
pub(crate) fn thread_stripe() -> usize {
    THREAD_STRIPE.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT_THREAD.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
        s.set(v);
        v
    })
}

/// Enough stripes for this machine's parallelism: a power of two between
/// 4 and 64. Asked of the system once per process (on Linux that reads
/// cgroup files, which allocates).
fn stripe_count() -> usize {
    static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *COUNT.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
        (cpus * 2).next_power_of_two().clamp(4, 64)
    })
}

/// Equal values behind one `Arc` per stripe. The services that share it
/// (a clone costs one reference count, no allocation) hand each call the
/// `Arc` of the calling thread's stripe, so the futures of calls on
/// different threads bump different reference counts. `T` should be
/// aligned to its own cache lines (`#[repr(align(128))]` or
/// [`CachePadded`]) so that those counts do not share one either.
pub(crate) struct PerThread<T> {
    arcs: Arc<[Arc<T>]>,
}

impl<T> PerThread<T> {
    /// One value per stripe, each made by `make` (called a few times, at
    /// construction only). At most 8 stripes, whatever the machine: a
    /// service made per backend host stays small, and more threads than
    /// that share stripes round-robin.
    pub(crate) fn new(make: impl FnMut() -> T) -> Self {
        let arcs = std::iter::repeat_with(make)
            .take(stripe_count().min(8))
            .map(Arc::new)
            .collect();
        Self { arcs }
    }

    /// The calling thread's `Arc`.
    #[inline]
    pub(crate) fn get(&self) -> &Arc<T> {
        &self.arcs[thread_stripe() & (self.arcs.len() - 1)]
    }

    /// The first stripe's value, for reads off the hot path.
    pub(crate) fn first(&self) -> &T {
        &self.arcs[0]
    }
}

impl<T> Clone for PerThread<T> {
    #[inline]
    fn clone(&self) -> Self {
        Self {
            arcs: Arc::clone(&self.arcs),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for PerThread<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.first().fmt(f)
    }
}

// === impl Striped ===

impl Striped {
    /// A counter with enough stripes for this machine's parallelism
    /// (a power of two between 4 and 64).
    pub(crate) fn new() -> Self {
        let len = stripe_count();
        let stripes = (0..len)
            .map(|_| CachePadded::new(AtomicU64::new(0)))
            .collect();
        Self {
            stripes,
            mask: len - 1,
        }
    }

    /// Adds one on this thread's stripe; returns the stripe's previous value.
    #[inline]
    pub(crate) fn increment(&self) -> u64 {
        let i = thread_stripe() & self.mask;
        self.stripes[i].fetch_add(1, Ordering::Relaxed)
    }

    /// Takes the sum of every stripe, leaving them at zero. Each increment is
    /// taken by exactly one call.
    pub(crate) fn take(&self) -> u64 {
        self.stripes.iter().fold(0u64, |acc, s| {
            acc.saturating_add(s.swap(0, Ordering::AcqRel))
        })
    }

    /// Takes the calling thread's stripe only, leaving the cache lines of
    /// other threads' stripes where they are.
    pub(crate) fn take_own(&self) -> u64 {
        self.stripes[thread_stripe() & self.mask].swap(0, Ordering::AcqRel)
    }

    /// The sum of every stripe without taking it (a racy snapshot).
    pub(crate) fn peek(&self) -> u64 {
        self.stripes
            .iter()
            .fold(0u64, |acc, s| acc.saturating_add(s.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_increments_are_taken_exactly_once() {
        let c = Arc::new(Striped::new());
        let taken = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (c, taken) = (c.clone(), taken.clone());
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        c.increment();
                        if t == 0 && i % 97 == 0 {
                            taken.fetch_add(c.take(), Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let total = taken.load(Ordering::Relaxed) + c.take();
        assert_eq!(total, 40_000);
        assert_eq!(c.peek(), 0);
    }

    #[test]
    fn per_thread_clones_share_their_arcs_and_threads_pick_their_stripe() {
        let made = std::cell::Cell::new(0);
        let p = PerThread::new(|| {
            made.set(made.get() + 1);
            made.get()
        });
        assert_eq!(made.get(), p.arcs.len());
        assert!(p.arcs.len().is_power_of_two());
        let q = p.clone();
        assert!(Arc::ptr_eq(&p.arcs, &q.arcs), "a clone makes nothing");
        assert!(Arc::ptr_eq(p.get(), q.get()));
        let mine = &p.arcs[thread_stripe() & (p.arcs.len() - 1)];
        assert!(Arc::ptr_eq(p.get(), mine));
        assert_eq!(*p.first(), 1);
    }

    #[test]
    fn a_thread_takes_its_own_stripe_and_leaves_the_others() {
        let c = Arc::new(Striped::new());
        for _ in 0..5 {
            c.increment();
        }
        let other = {
            let c = c.clone();
            std::thread::spawn(move || {
                for _ in 0..7 {
                    c.increment();
                }
                // Threads that share a stripe (possible when many threads
                // count) see each other's counts: report which happened.
                (thread_stripe() & c.mask, c.take_own())
            })
        };
        let (their_stripe, theirs) = other.join().unwrap();
        if their_stripe == thread_stripe() & c.mask {
            assert_eq!(theirs, 12);
            assert_eq!(c.take(), 0);
        } else {
            assert_eq!(theirs, 7);
            assert_eq!(c.take_own(), 5);
            assert_eq!(c.take(), 0);
        }
    }
}
