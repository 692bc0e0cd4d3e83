//! A minimal executor for the requests of a layered replay.
//!
//! Each request is a future polled in a table slot, woken through the
//! slot's own waker onto a ready list. Slots and their wakers are reused,
//! so a request costs one allocation (its future's box), no reference
//! counting of a task and no runtime scheduler; the replay's event loop
//! decides when the ready requests run.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Wake, Waker};

/// Requests in flight, each a future giving a `T` when done.
pub(crate) struct Tasks<F> {
    slots: Vec<Slot<F>>,
    free: Vec<u32>,
    ready: Arc<Mutex<Vec<u32>>>,
    batch: Vec<u32>,
}

struct Slot<F> {
    task: Option<Pin<Box<F>>>,
    wake: Arc<SlotWake>,
    waker: Waker,
}

/// The waker of a slot: puts the slot on the ready list once until polled.
struct SlotWake {
    index: u32,
    queued: AtomicBool,
    ready: Arc<Mutex<Vec<u32>>>,
}

impl Wake for SlotWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // A load and a store, not a swap (an atomic read-modify-write): a
        // replay wakes its requests on its own thread. Two threads racing
        // here would at worst queue the slot twice, and a second poll of a
        // pending future is harmless.
        if !self.queued.load(Ordering::Relaxed) {
            self.queued.store(true, Ordering::Relaxed);
            self.ready
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(self.index);
        }
    }
}

// === impl Tasks ===

impl<F: Future> Tasks<F> {
    pub(crate) fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            ready: Arc::new(Mutex::new(Vec::new())),
            batch: Vec::new(),
        }
    }

    /// Requests not done yet.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Places the task `make` returns in a free slot and polls it once:
    /// its output if it is ready at once, otherwise it waits in the slot
    /// until woken.
    ///
    /// The task comes boxed so that its maker can allocate the box first
    /// and write the future into it once. A box kept in the slot and
    /// assigned to would get a copy of a future built on the stack (Rust
    /// builds the new value before it drops the old), and a request's
    /// future is hundreds of bytes: the copy cost more than the allocation.
    #[inline(always)]
    pub(crate) fn spawn(&mut self, make: impl FnOnce() -> Pin<Box<F>>) -> Option<F::Output> {
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize].task = Some(make());
                i
            }
            None => {
                let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                let wake = Arc::new(SlotWake {
                    index,
                    queued: AtomicBool::new(false),
                    ready: self.ready.clone(),
                });
                self.slots.push(Slot {
                    task: Some(make()),
                    waker: Waker::from(wake.clone()),
                    wake,
                });
                index
            }
        };
        let mut out = None;
        self.poll(index, &mut |o| out = Some(o));
        out
    }

    /// Polls the woken requests, and those they wake, until none is left.
    pub(crate) fn run_ready(&mut self, done: &mut impl FnMut(F::Output)) {
        loop {
            {
                let mut ready = self.ready.lock().unwrap_or_else(PoisonError::into_inner);
                if ready.is_empty() {
                    return;
                }
                std::mem::swap(&mut *ready, &mut self.batch);
            }
            let mut batch = std::mem::take(&mut self.batch);
            for &index in &batch {
                self.slots[index as usize]
                    .wake
                    .queued
                    .store(false, Ordering::Relaxed);
                self.poll(index, done);
            }
            batch.clear();
            self.batch = batch;
        }
    }

    fn poll(&mut self, index: u32, done: &mut impl FnMut(F::Output)) {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        // A stale wake-up of a free slot finds no task.
        let Some(task) = slot.task.as_mut() else {
            return;
        };
        let mut cx = Context::from_waker(&slot.waker);
        if let std::task::Poll::Ready(out) = task.as_mut().poll(&mut cx) {
            slot.task = None;
            self.free.push(index);
            done(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::task::Poll;

    /// A future ready after `n` wake-ups, waking itself each time.
    fn after_wakes(n: u32, out: u32) -> impl Future<Output = u32> {
        let mut left = n;
        poll_fn(move |cx| {
            if left == 0 {
                return Poll::Ready(out);
            }
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
    }

    #[test]
    fn woken_requests_run_in_order_until_done_and_their_slots_are_reused() {
        let mut tasks = Tasks::new();
        let mut outs = Vec::new();
        let mut done = |o| outs.push(o);
        done(tasks.spawn(|| Box::pin(after_wakes(0, 1))).unwrap());
        assert!(tasks.spawn(|| Box::pin(after_wakes(2, 2))).is_none());
        assert!(tasks.spawn(|| Box::pin(after_wakes(1, 3))).is_none());
        assert_eq!(tasks.len(), 2);
        tasks.run_ready(&mut done);
        assert_eq!(tasks.len(), 0);
        // A slot freed is taken again: no new one is made.
        assert!(tasks.spawn(|| Box::pin(after_wakes(1, 4))).is_none());
        assert_eq!(tasks.slots.len(), 2);
        tasks.run_ready(&mut done);
        drop(tasks);
        assert_eq!(outs, vec![1, 3, 2, 4]);
    }

    #[test]
    fn a_request_woken_twice_before_it_runs_is_polled_once() {
        let mut tasks = Tasks::new();
        let polls = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = polls.clone();
        let mut first = true;
        let fut = poll_fn(move |cx| {
            counted.fetch_add(1, Ordering::Relaxed);
            if first {
                first = false;
                cx.waker().wake_by_ref();
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(())
        });
        let mut ended = 0;
        assert!(tasks.spawn(|| Box::pin(fut)).is_none());
        tasks.run_ready(&mut |()| ended += 1);
        assert_eq!((polls.load(Ordering::Relaxed), ended), (2, 1));
    }
}
