//! Where a queued request's answer waits for its client.
//!
//! One reusable slot per request in a queue, in the lane's shared state,
//! instead of a channel allocated per request: the replay makes tens of
//! millions of attempts. A slot wakes its client when answered, exactly
//! where a channel's send would. A client that is no task (a request of the
//! plain event loop) is listed as answered instead of woken.

use std::task::{Context, Poll, Waker};

use super::Served;

/// The answer slots of all lanes of a replay.
#[derive(Debug, Default)]
pub(super) struct Slots {
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// Event-loop requests answered since the loop last looked.
    answered: Vec<u32>,
}

/// Who waits for a queued request's answer.
#[derive(Debug)]
pub(crate) enum Waiter {
    /// A task, woken through its waker once it has polled.
    Task(Option<Waker>),
    /// A request of the plain event loop, by its id there.
    Request(u32),
}

#[derive(Debug)]
enum Slot {
    /// On the free list.
    Free,
    /// The client waits for the answer.
    Waiting(Waiter),
    /// Answered; the client has not taken the answer yet.
    Answered(Served),
    /// The client gave up (dropped its future) before the answer.
    Abandoned,
}

// === impl Slots ===

impl Slots {
    /// A slot for a new request whose client `waiter` waits.
    pub(super) fn open(&mut self, waiter: Waiter) -> usize {
        if let Some(i) = self.free.pop() {
            self.slots[i] = Slot::Waiting(waiter);
            return i;
        }
        self.slots.push(Slot::Waiting(waiter));
        self.slots.len() - 1
    }

    /// Hands `served` to the client of `slot` and wakes it (an event-loop
    /// request is listed as answered and its slot freed); `false` (and the
    /// slot freed) when the client already gave up.
    pub(super) fn answer(&mut self, slot: usize, served: Served) -> bool {
        let Some(s) = self.slots.get_mut(slot) else {
            return false;
        };
        match std::mem::replace(s, Slot::Answered(served)) {
            Slot::Waiting(Waiter::Task(waker)) => {
                if let Some(w) = waker {
                    w.wake();
                }
                true
            }
            Slot::Waiting(Waiter::Request(id)) => {
                self.answered.push(id);
                self.release(slot);
                true
            }
            _ => {
                self.release(slot);
                false
            }
        }
    }

    /// The answer of `slot` if there is one (freeing the slot), or the
    /// client's waker kept for [`Slots::answer`].
    pub(super) fn poll(&mut self, slot: usize, cx: &Context<'_>) -> Poll<Served> {
        match self.slots.get_mut(slot) {
            Some(Slot::Answered(served)) => {
                let served = *served;
                self.release(slot);
                Poll::Ready(served)
            }
            Some(Slot::Waiting(Waiter::Task(waker))) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            _ => Poll::Pending,
        }
    }

    /// The client of `slot` gives up: the lane still serves the request,
    /// as wasted work, unless it was answered already.
    pub(super) fn abandon(&mut self, slot: usize) {
        match self.slots.get(slot) {
            Some(Slot::Waiting(_)) => self.slots[slot] = Slot::Abandoned,
            Some(Slot::Answered(_)) => self.release(slot),
            _ => {}
        }
    }

    /// Moves the ids of the event-loop requests answered so far to `out`.
    pub(super) fn take_answered(&mut self, out: &mut Vec<u32>) {
        out.append(&mut self.answered);
    }

    fn release(&mut self, slot: usize) {
        self.slots[slot] = Slot::Free;
        self.free.push(slot);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::time::Duration;

    use super::*;

    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    const SERVED: Served = Served {
        waited: Duration::from_millis(300),
    };

    #[test]
    fn an_answer_wakes_the_waiting_client_once_and_is_taken_once() {
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        let cx = Context::from_waker(&waker);
        let mut slots = Slots::default();
        let slot = slots.open(Waiter::Task(None));
        assert_eq!(slots.poll(slot, &cx), Poll::Pending);
        assert_eq!(slots.poll(slot, &cx), Poll::Pending);
        assert!(slots.answer(slot, SERVED));
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
        assert_eq!(slots.poll(slot, &cx), Poll::Ready(SERVED));
        // Taken: the slot is free and the next request reuses it.
        assert_eq!(slots.open(Waiter::Task(None)), slot);
        assert_eq!(slots.slots.len(), 1);
    }

    #[test]
    fn an_abandoned_request_is_answered_as_wasted_and_its_slot_reused() {
        let mut slots = Slots::default();
        let first = slots.open(Waiter::Task(None));
        let second = slots.open(Waiter::Task(None));
        slots.abandon(first);
        assert!(!slots.answer(first, SERVED));
        assert!(slots.answer(second, SERVED));
        assert_eq!(slots.open(Waiter::Task(None)), first);
        assert_eq!(slots.slots.len(), 2);
    }

    #[test]
    fn an_event_loop_request_is_listed_as_answered_and_its_slot_freed() {
        let mut slots = Slots::default();
        let slot = slots.open(Waiter::Request(42));
        let other = slots.open(Waiter::Request(7));
        slots.abandon(other);
        assert!(slots.answer(slot, SERVED));
        assert!(!slots.answer(other, SERVED));
        let mut answered = Vec::new();
        slots.take_answered(&mut answered);
        assert_eq!(answered, vec![42]);
        slots.take_answered(&mut answered);
        assert_eq!(answered, vec![42], "listed once");
        assert_eq!(slots.free.len(), 2);
    }

    #[test]
    fn a_client_leaving_after_its_answer_frees_the_slot() {
        let mut slots = Slots::default();
        let slot = slots.open(Waiter::Task(None));
        assert!(slots.answer(slot, SERVED));
        slots.abandon(slot);
        assert_eq!(slots.open(Waiter::Task(None)), slot);
        assert_eq!(slots.slots.len(), 1);
    }
}
