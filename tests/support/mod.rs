//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use failsoft::BoxError;
use tokio::time::Instant;
use tower::Service;

/// One scripted reply.
#[derive(Clone, Debug)]
pub enum Reply {
    Ok(u16),
    Err(&'static str),
}

/// A service that answers from a script (repeating the last reply) and
/// records the virtual time of every call.
#[derive(Clone, Debug)]
pub struct Script {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    pub calls: Arc<Mutex<Vec<Instant>>>,
}

impl Script {
    pub fn new(replies: impl IntoIterator<Item = Reply>) -> Self {
        Self {
            replies: Arc::new(Mutex::new(replies.into_iter().collect())),
            calls: Arc::default(),
        }
    }

    /// Call times as offsets from `start`.
    pub fn offsets(&self, start: Instant) -> Vec<Duration> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|t| *t - start)
            .collect()
    }

    /// Puts `reply` before the remaining script.
    pub fn replies_push(&self, reply: Reply) {
        self.replies.lock().unwrap().push_front(reply);
    }

    pub fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

impl<Req> Service<Req> for Script {
    type Response = u16;
    type Error = BoxError;
    type Future = Ready<Result<u16, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Req) -> Self::Future {
        self.calls.lock().unwrap().push(Instant::now());
        let mut replies = self.replies.lock().unwrap();
        let reply = if replies.len() > 1 {
            replies.pop_front().unwrap()
        } else {
            replies.front().cloned().unwrap_or(Reply::Ok(200))
        };
        ready(match reply {
            Reply::Ok(code) => Ok(code),
            Reply::Err(msg) => Err(msg.into()),
        })
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
