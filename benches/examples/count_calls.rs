//! A fixed number of calls through the recommended stack, for counting
//! instructions where timings are too noisy to compare two builds:
//!
//! ```text
//! cargo build --release -p failsoft-benches --example count_calls
//! valgrind --tool=callgrind target/release/examples/count_calls open 200000
//! ```
//!
//! The first argument is `ok` (every call succeeds at its first poll) or
//! `open` (the breaker is forced open and the fallback answers); the
//! second the number of calls. Prints how many calls got an answer.

use std::future::{Future, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use failsoft::BoxError;
use failsoft::stack::StackLayer;
use tower::{Layer, Service, service_fn};

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let open = match args.next().as_deref() {
        Some("ok") | None => false,
        Some("open") => true,
        Some(other) => {
            return Err(format!("the first argument is ok or open, not {other:?}").into());
        }
    };
    let calls: u64 = args.next().map_or(Ok(200_000), |n| n.parse())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let _entered = runtime.enter();
    let stack = StackLayer::builder()
        .seed(1)
        .fallback(|_, _| Ok(0u64))
        .build()?;
    if open {
        stack.breaker().force_open();
    }
    let mut svc = stack.layer(service_fn(|x: u64| ready(Ok::<_, BoxError>(x))));
    let mut cx = Context::from_waker(Waker::noop());
    let mut answered = 0u64;
    for i in 0..calls {
        if !matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))) {
            continue;
        }
        let fut = pin!(svc.call(std::hint::black_box(i)));
        if matches!(fut.poll(&mut cx), Poll::Ready(Ok(_))) {
            answered += 1;
        }
    }
    println!("{answered} of {calls} calls answered");
    Ok(())
}
