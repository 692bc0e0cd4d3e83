//! A fixed number of calls through the recommended stack (or tower's), for
//! counting instructions where timings are too noisy to compare two
//! builds:
//!
//! ```text
//! cargo build --release -p failsoft-benches --example count_calls
//! valgrind --tool=callgrind target/release/examples/count_calls open 200000
//! ```
//!
//! The first argument is `ok` (every call succeeds at its first poll),
//! `open` (the breaker is forced open and the fallback answers),
//! `gateless` (the stack without its throttle and breaker, succeeding) or
//! `tower` (tower's `Retry` with a `TpsBudget` and backoff around a
//! `Timeout`, the benches' baseline, every call succeeding); the second
//! the number of calls; the optional third the number of stacks
//! (1 by default), each with its own state, called in turn in a fixed
//! shuffled order. With thousands of stacks, a cache simulation counts
//! the lines a call on a cold stack touches:
//!
//! ```text
//! valgrind --tool=cachegrind --cache-sim=yes --LL=1048576,16,64 \
//!     target/release/examples/count_calls ok 200000 4096
//! ```
//!
//! The `LLd` read misses of that run, less those of a run with 0 calls
//! (the set-up's), divided by the calls, are the lines per call.
//!
//! Prints how many calls got an answer.

#[path = "../support/mod.rs"]
mod support;

use std::future::{Future, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use failsoft::BoxError;
use failsoft::stack::StackLayer;
use support::{gateless, shuffled, tower_stack};
use tower::{Layer, Service, service_fn};

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "ok".to_owned());
    let calls: u64 = args.next().map_or(Ok(200_000), |n| n.parse())?;
    let hosts: usize = args.next().map_or(Ok(1), |n| n.parse())?;
    if hosts == 0 {
        return Err("the number of stacks must be at least 1".into());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let _entered = runtime.enter();
    let service = || service_fn(|x: u64| ready(Ok::<_, BoxError>(x)));
    let answered = match kind.as_str() {
        "ok" | "open" => {
            let mut stacks = Vec::with_capacity(hosts);
            for _ in 0..hosts {
                let stack = StackLayer::builder()
                    .seed(1)
                    .fallback(|_, _| Ok(0u64))
                    .build()?;
                if kind == "open" {
                    stack.breaker().force_open();
                }
                stacks.push(stack.layer(service()));
            }
            run(stacks, calls)
        }
        "gateless" => run((0..hosts).map(|_| gateless(service())).collect(), calls),
        "tower" => run((0..hosts).map(|_| tower_stack(service())).collect(), calls),
        other => {
            return Err(format!(
                "the first argument is ok, open, gateless or tower, not {other:?}"
            )
            .into());
        }
    };
    println!("{answered} of {calls} calls answered");
    Ok(())
}

/// `calls` calls spread over `stacks` in a fixed shuffled order, each
/// made ready, called and polled once; how many succeeded at that poll.
fn run<S: Service<u64>>(mut stacks: Vec<S>, calls: u64) -> u64 {
    let order = shuffled(stacks.len());
    let mut cx = Context::from_waker(Waker::noop());
    let mut answered = 0u64;
    for (i, &host) in (0..calls).zip(order.iter().cycle()) {
        let svc = &mut stacks[host];
        if !matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))) {
            continue;
        }
        let fut = pin!(svc.call(std::hint::black_box(i)));
        if matches!(fut.poll(&mut cx), Poll::Ready(Ok(_))) {
            answered += 1;
        }
    }
    answered
}
