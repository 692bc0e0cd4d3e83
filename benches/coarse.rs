//! What a [`CoarseClock`](failsoft::time::CoarseClock) saves, in one run:
//! each row first on Tokio's clock (the default), then again after the
//! coarse clock is installed (for the rest of the process, so the two
//! groups run in this order in one binary of their own).
//!
//! - `clock read`: `failsoft::time::now()`.
//! - `stack, success`: the stack answered at its first poll, which reads
//!   no clock (the control: it should not move).
//! - `stack, open, fallback`: an open breaker's fast fail through the
//!   stack, the fallback answering; it reads the clock every call.
//! - `stack, open, throttle shedding, fallback`: the same with the throttle
//!   shedding most calls, as after an outage.
//! - `tower stack, success`: tower's `Retry` + `TpsBudget` + backoff +
//!   `Timeout`, the baseline; it reads Tokio's clock itself either way.
//!
//! Run: `cargo bench -p failsoft-benches --bench coarse -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::task::{Context, Waker};
use std::time::Duration;

mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use failsoft::stack::StackLayer;
use failsoft::time::CoarseClock;
use support::{backend, drive, open_stack, runtime, tower_stack};
use tower::Layer;

fn rows(c: &mut Criterion, clock: &str) {
    let rt = runtime();
    let _enter = rt.enter();
    let mut g = c.benchmark_group(format!("coarse/{clock}"));
    g.throughput(Throughput::Elements(1));
    g.bench_function("clock read", |b| {
        b.iter(|| black_box(failsoft::time::now()))
    });
    let mut cx = Context::from_waker(Waker::noop());
    let layer = StackLayer::builder().seed(1).build().expect("valid config");
    let mut ok = layer.layer(backend());
    g.bench_function("stack, success", |b| {
        b.iter(|| assert!(drive(&mut ok, black_box(1), &mut cx)))
    });
    let mut open = open_stack(backend(), false);
    g.bench_function("stack, open, fallback", |b| {
        b.iter(|| assert!(drive(&mut open, black_box(1), &mut cx)))
    });
    let mut shedding = open_stack(backend(), true);
    g.bench_function("stack, open, throttle shedding, fallback", |b| {
        b.iter(|| assert!(drive(&mut shedding, black_box(1), &mut cx)))
    });
    // The baseline: tower's stack reads Tokio's clock itself (its
    // `Timeout`), so the coarse clock does not change it.
    let mut tower = tower_stack(backend());
    g.bench_function("tower stack, success", |b| {
        b.iter(|| assert!(drive(&mut tower, black_box(1), &mut cx)))
    });
    g.finish();
}

fn tokio_clock(c: &mut Criterion) {
    rows(c, "tokio clock");
}

fn coarse_clock(c: &mut Criterion) {
    let clock = CoarseClock::start(Duration::from_millis(1)).expect("valid resolution");
    assert!(failsoft::time::install(clock), "installed first");
    rows(c, "coarse clock, 1 ms");
}

criterion_group!(benches, tokio_clock, coarse_clock);
criterion_main!(benches);
