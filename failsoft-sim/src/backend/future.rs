//! The future of a lane call: a rejection at once, or an answer slot.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::{Served, Shared, Shed, lock};
use failsoft::BoxError;

/// The future of a [`Lane`](super::Lane) call.
///
/// # Cancel safety
///
/// Dropping it leaves the request in the queue: the lane still serves it
/// and counts the work as wasted, which is the point of the model.
pub struct LaneFuture {
    inner: Inner,
}

enum Inner {
    Shed(Option<Shed>),
    /// Queued; the answer arrives in this slot of the shared state.
    Waiting(Rc<RefCell<Shared>>, usize),
    /// The answer was taken.
    Done,
}

// === impl LaneFuture ===

impl LaneFuture {
    pub(super) fn shed(shed: Shed) -> Self {
        Self {
            inner: Inner::Shed(Some(shed)),
        }
    }

    pub(super) fn waiting(shared: Rc<RefCell<Shared>>, slot: usize) -> Self {
        Self {
            inner: Inner::Waiting(shared, slot),
        }
    }
}

impl std::future::Future for LaneFuture {
    type Output = Result<Served, BoxError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.inner {
            Inner::Shed(shed) => {
                let shed = shed.take().unwrap_or(Shed::new(None));
                Poll::Ready(Err(Box::new(shed)))
            }
            Inner::Waiting(shared, slot) => {
                let served = std::task::ready!(lock(shared).slots.poll(*slot, cx));
                self.inner = Inner::Done;
                Poll::Ready(Ok(served))
            }
            Inner::Done => Poll::Ready(Err(Box::new(Shed::new(None)))),
        }
    }
}

impl Drop for LaneFuture {
    fn drop(&mut self) {
        if let Inner::Waiting(shared, slot) = &self.inner {
            lock(shared).slots.abandon(*slot);
        }
    }
}

impl fmt::Debug for LaneFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.inner {
            Inner::Shed(_) => "shed",
            Inner::Waiting(..) => "waiting",
            Inner::Done => "done",
        };
        f.debug_struct("LaneFuture").field("state", &state).finish()
    }
}
