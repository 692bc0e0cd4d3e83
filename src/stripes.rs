//! Counting without read-modify-writes, and sharing without one contended
//! reference count.
//!
//! - **Owned slots.** A thread that counts claims a slot number, its own
//!   until it exits, when the slot goes back to a free list for the next
//!   thread. The first [`stripe_count`] threads get one; later threads get
//!   none while those are all held. A counter keeps one cache-padded cell
//!   per slot and one shared cell: a slot's owner is that cell's only
//!   writer, so it adds with a plain load and store (an uncontended atomic
//!   add costs about 9 ns on this project's VM, a load and a store under
//!   1 ns); a thread without a slot adds to the shared cell atomically.
//! - **[`Striped`]**, counters over those cells (one or a few per cell)
//!   whose totals only grow: readers take what was added since the last
//!   take by remembering, per cell, how much has been taken (`fetch_max`,
//!   so concurrent takers never count one increment twice, and skipped
//!   for a cell with nothing new).
//! - **[`PerThread`]**, equal `Arc`s one per stripe, so the futures of
//!   calls on different threads do not bump one shared reference count.
//! - **[`ReadStripes`]**, the same with one more equal value next to the
//!   stripes' addresses, for services that read before they take a
//!   reference: a call on a cold service waits for one line fewer.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_utils::CachePadded;

/// No owned slot: count on the shared cell.
pub(crate) const NO_SLOT: usize = usize::MAX;

/// Hands each thread a stripe number once (round-robin over threads).
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

/// Slots not held by a live thread, and the next never-used one.
static SLOTS: Mutex<Pool> = Mutex::new(Pool {
    next: 0,
    free: Vec::new(),
});

struct Pool {
    next: usize,
    free: Vec<usize>,
}

/// A thread's claim on a slot, given back when the thread exits.
struct Owner {
    slot: usize,
}

/// [`SLOT`] before the thread first asked for one.
const UNCLAIMED: usize = usize::MAX - 1;

thread_local! {
    static THREAD_STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    // The thread's slot, read on every count. A constant-initialised cell
    // without a destructor costs one load to reach; the claim that must
    // be given back at exit lives in `OWNER`, reached only to claim.
    static SLOT: Cell<usize> = const { Cell::new(UNCLAIMED) };
    static OWNER: Owner = Owner::claim();
}

impl Owner {
    fn claim() -> Self {
        let mut pool = SLOTS.lock().unwrap_or_else(PoisonError::into_inner);
        Self {
            slot: pool.claim(stripe_count()),
        }
    }
}

impl Pool {
    /// The lowest free slot (so slots stay dense), a new one below
    /// `limit`, or [`NO_SLOT`].
    fn claim(&mut self, limit: usize) -> usize {
        match self.free.iter().enumerate().min_by_key(|(_, s)| **s) {
            Some((i, _)) => self.free.swap_remove(i),
            None if self.next < limit => {
                self.next += 1;
                self.next - 1
            }
            None => NO_SLOT,
        }
    }

    fn release(&mut self, slot: usize) {
        if slot != NO_SLOT {
            self.free.push(slot);
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Counts made from here on (by other thread-local destructors) go
        // to the shared cell: the slot is about to be someone else's.
        SLOT.set(NO_SLOT);
        // The mutex orders this thread's last counts before the next
        // owner's first.
        let mut pool = SLOTS.lock().unwrap_or_else(PoisonError::into_inner);
        pool.release(self.slot);
    }
}

/// The calling thread's owned slot, below [`stripe_count`], or
/// [`NO_SLOT`] (every slot held by other threads, or this thread is
/// exiting).
#[inline]
fn owned_slot() -> usize {
    match SLOT.get() {
        UNCLAIMED => claim_slot(),
        slot => slot,
    }
}

/// The thread's first count: claims a slot (or finds none), and keeps it
/// in [`SLOT`] until the thread exits.
#[cold]
fn claim_slot() -> usize {
    let slot = OWNER.try_with(|o| o.slot).unwrap_or(NO_SLOT);
    SLOT.set(slot);
    slot
}

/// The calling thread's entry of `cells` (one per slot, then the shared
/// one, last), and whether the thread owns it.
#[inline]
pub(crate) fn mine<T>(cells: &[T]) -> (&T, bool) {
    let slot = owned_slot();
    let shared = cells.len() - 1;
    if slot < shared {
        (&cells[slot], true)
    } else {
        (&cells[shared], false)
    }
}

/// Adds one to `cell`: a plain load and store when the caller owns it,
/// an atomic add otherwise. Returns the previous value.
#[inline]
pub(crate) fn add(cell: &AtomicU64, owned: bool) -> u64 {
    if owned {
        let v = cell.load(Ordering::Relaxed);
        cell.store(v.wrapping_add(1), Ordering::Relaxed);
        v
    } else {
        cell.fetch_add(1, Ordering::Relaxed)
    }
}

/// `N` counters over per-slot cells plus a shared one; see the
/// [module docs](self). A cell holds a slot's tally of all `N` (up to 8
/// fit its 128 bytes), so counters updated together cost one allocation
/// and touch one line.
#[derive(Debug)]
pub(crate) struct Striped<const N: usize = 1> {
    cells: Box<[CachePadded<[Tally; N]>]>,
}

/// One cell: everything added, and how much of it has been taken.
#[derive(Debug, Default)]
struct Tally {
    added: AtomicU64,
    taken: AtomicU64,
}

/// This thread's stripe seed: assigned on first use, stable afterwards.
/// Spreads [`PerThread`]'s `Arc`s; unlike a slot, two threads may share one.
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
pub(crate) fn stripe_count() -> usize {
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

    /// The first stripe's value. Every stripe holds an equal value, so
    /// reads use this one and skip finding the thread's stripe; only a
    /// reference taken for a future needs [`get`](Self::get). (`T` is
    /// aligned to its own cache lines, so reading it never contends with
    /// the stripe's reference count.)
    #[inline]
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

/// Equal values behind one `Arc` per stripe, like [`PerThread`], with one
/// more equal value in the table of stripes itself, for reads. A gate
/// reads its handles in `poll_ready` and takes a reference only in
/// `call`; on a service whose state is out of the caches, the read finds
/// the handles on the line it loads to find the stripes, instead of
/// following one more pointer to a stripe first. Each stripe is
/// [`Padded`], so the stripes' reference counts do not share a cache
/// line.
pub(crate) struct ReadStripes<T> {
    table: Arc<Table<T, [Stripe<T>]>>,
}

/// One stripe of a [`ReadStripes`].
pub(crate) type Stripe<T> = Arc<Padded<T>>;

/// The read copy, then the stripes (4 or 8; the unsized field is last).
struct Table<T, A: ?Sized> {
    read: T,
    stripes: A,
}

/// A value followed by 112 bytes of padding. Behind an `Arc` the
/// reference count comes first and the value right after it, so a future
/// that takes a reference and then reads the value usually waits for one
/// line, not two (with [`CachePadded`], the alignment would put the value
/// 128 bytes after the count); the padding keeps the next allocation's
/// reference count at least 128 bytes away.
pub(crate) struct Padded<T> {
    value: T,
    _pad: [u64; 14],
}

// The `Arc`'s two counts and the smallest padded value span 128 bytes.
const _: () = assert!(2 * size_of::<usize>() + size_of::<Padded<u8>>() >= 128);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> ReadStripes<T> {
    /// The read copy, then one value per stripe, each made by `make`
    /// (called a few times, at construction only). At most 8 stripes,
    /// whatever the machine, as for [`PerThread`].
    pub(crate) fn new(mut make: impl FnMut() -> T) -> Self {
        let read = make();
        let mut stripe = || {
            Arc::new(Padded {
                value: make(),
                _pad: [0; 14],
            })
        };
        let table: Arc<Table<T, [Stripe<T>]>> = if stripe_count() >= 8 {
            Arc::new(Table {
                read,
                stripes: std::array::from_fn::<_, 8, _>(|_| stripe()),
            })
        } else {
            Arc::new(Table {
                read,
                stripes: std::array::from_fn::<_, 4, _>(|_| stripe()),
            })
        };
        Self { table }
    }

    /// The calling thread's stripe.
    #[inline]
    pub(crate) fn get(&self) -> &Stripe<T> {
        let stripes = &self.table.stripes;
        &stripes[thread_stripe() & (stripes.len() - 1)]
    }

    /// The read copy: equal to every stripe's value.
    #[inline]
    pub(crate) fn read(&self) -> &T {
        &self.table.read
    }
}

impl<T> Clone for ReadStripes<T> {
    #[inline]
    fn clone(&self) -> Self {
        Self {
            table: Arc::clone(&self.table),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for ReadStripes<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.read().fmt(f)
    }
}

// === impl Striped ===

impl<const N: usize> Striped<N> {
    /// `N` counters with a cell per slot and a shared one.
    pub(crate) fn new() -> Self {
        const { assert!(N >= 1 && N * size_of::<Tally>() <= 128) };
        let cells = (0..=stripe_count())
            .map(|_| CachePadded::new(std::array::from_fn(|_| Tally::default())))
            .collect();
        Self { cells }
    }

    /// Adds one to counter `i` on this thread's cell; returns what the
    /// cell had added to it before (it only grows, so `% n` paces work
    /// every `n` of a thread's increments).
    #[inline]
    pub(crate) fn increment_nth(&self, i: usize) -> u64 {
        let (cell, owned) = mine(&self.cells);
        add(&cell[i].added, owned)
    }

    /// Takes everything added to counter `i` since its last take. Each
    /// increment is taken by exactly one call.
    pub(crate) fn take_nth(&self, i: usize) -> u64 {
        self.cells
            .iter()
            .fold(0u64, |acc, c| acc.saturating_add(c[i].take()))
    }

    /// Added to counter `i` and not yet taken, over every cell (a racy
    /// snapshot).
    pub(crate) fn peek_nth(&self, i: usize) -> u64 {
        self.cells.iter().fold(0u64, |acc, c| {
            let t = &c[i];
            let added = t.added.load(Ordering::Relaxed);
            acc.saturating_add(added.saturating_sub(t.taken.load(Ordering::Relaxed)))
        })
    }
}

impl Striped {
    /// [`increment_nth`](Self::increment_nth) of the one counter.
    #[inline]
    pub(crate) fn increment(&self) -> u64 {
        self.increment_nth(0)
    }

    /// [`take_nth`](Self::take_nth) of the one counter.
    pub(crate) fn take(&self) -> u64 {
        self.take_nth(0)
    }

    /// [`peek_nth`](Self::peek_nth) of the one counter.
    pub(crate) fn peek(&self) -> u64 {
        self.peek_nth(0)
    }
}

impl Tally {
    fn take(&self) -> u64 {
        let added = self.added.load(Ordering::Acquire);
        // Nothing new (most cells, most of the time): no read-modify-write,
        // which would cost an atomic add's 9 ns per cell and take the
        // line from its owner. `taken` only grows, so this never hides
        // an increment.
        if self.taken.load(Ordering::Relaxed) >= added {
            return 0;
        }
        // Of two takers, the one that saw less gets nothing more than the
        // gap to what the other already took.
        let before = self.taken.fetch_max(added, Ordering::AcqRel);
        added.saturating_sub(before)
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
    fn read_stripes_make_the_read_copy_first_and_clones_share_the_table() {
        let made = std::cell::Cell::new(0);
        let p = ReadStripes::new(|| {
            made.set(made.get() + 1);
            made.get()
        });
        let stripes = &p.table.stripes;
        assert_eq!(
            made.get(),
            stripes.len() + 1,
            "the stripes and the read copy"
        );
        assert!(stripes.len().is_power_of_two() && stripes.len() <= 8);
        assert_eq!(*p.read(), 1, "the read copy is made first");
        assert_eq!(**stripes[0], 2);
        let q = p.clone();
        assert!(Arc::ptr_eq(&p.table, &q.table), "a clone makes nothing");
        let mine = &stripes[thread_stripe() & (stripes.len() - 1)];
        assert!(Arc::ptr_eq(p.get(), mine));
        assert!(Arc::ptr_eq(p.get(), q.get()));
        assert_eq!(Arc::strong_count(p.get()), 1, "a clone takes no stripe");
    }

    #[test]
    fn more_threads_than_slots_still_count_exactly() {
        let c = Arc::new(Striped::new());
        let threads = 3 * stripe_count();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..1_000 {
                        c.increment();
                    }
                });
            }
        });
        assert_eq!(c.peek(), 1_000 * threads as u64);
        assert_eq!(c.take(), 1_000 * threads as u64);
        assert_eq!(c.take(), 0);
    }

    #[test]
    fn an_owned_cell_counts_with_a_plain_store_and_keeps_growing() {
        let c = Striped::new();
        let slot = std::thread::scope(|s| {
            s.spawn(|| {
                let prev: Vec<u64> = (0..3).map(|_| c.increment()).collect();
                assert_eq!(prev, [0, 1, 2], "increment returns the cell's count before");
                assert_eq!(c.take(), 3);
                // Taking does not reset the count the thread paces by.
                assert_eq!(c.increment(), 3);
                owned_slot()
            })
            .join()
            .unwrap()
        });
        if slot < stripe_count() {
            assert_eq!(c.cells[slot][0].added.load(Ordering::Relaxed), 4);
        }
        assert_eq!(c.take(), 1);
    }

    #[test]
    fn counters_sharing_cells_count_apart() {
        let c: Striped<3> = Striped::new();
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for i in 0..300 {
                        c.increment_nth(i % 3);
                        c.increment_nth(2);
                    }
                });
            }
        });
        assert_eq!(
            [c.peek_nth(0), c.peek_nth(1), c.peek_nth(2)],
            [300, 300, 1_200]
        );
        assert_eq!([c.take_nth(1), c.take_nth(1)], [300, 0]);
        assert_eq!([c.peek_nth(0), c.peek_nth(1)], [300, 0]);
    }

    #[test]
    fn slots_are_dense_reused_and_limited() {
        let mut pool = Pool {
            next: 0,
            free: Vec::new(),
        };
        assert_eq!([pool.claim(3), pool.claim(3), pool.claim(3)], [0, 1, 2]);
        assert_eq!(pool.claim(3), NO_SLOT, "no slot beyond the limit");
        pool.release(2);
        pool.release(0);
        pool.release(NO_SLOT);
        assert_eq!(pool.claim(3), 0, "the lowest free slot first");
        assert_eq!(pool.claim(3), 2);
        assert_eq!(pool.claim(3), NO_SLOT);
    }
}
