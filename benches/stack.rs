//! Success-path cost of the whole recommended stack (fallback, retry with
//! budget and deadline, throttle, breaker, attempt timeout) against the
//! bare service and tower's `Retry` + `TpsBudget`, measured in the same run;
//! and 1 vs 2 threads calling clones of one stack. One iteration of the
//! 2-thread rows is one call on each thread, so the throughput ratio is
//! `2 × time(1 thread) / time(2 threads)`; `no shared state` is what the
//! machine allows at the moment.
//!
//! Run: `cargo bench --bench stack -- --warm-up-time 1 --measurement-time 2`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::task::{Context, Waker};
use std::time::Duration;

mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use failsoft::stack::StackLayer;
use support::{WithTps, backend, drive};
use tokio::time::Instant;
use tower::retry::budget::TpsBudget;
use tower::{Layer, Service};

fn stack() -> StackLayer {
    StackLayer::builder().seed(1).build().expect("valid config")
}

fn success_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _enter = rt.enter();
    let mut g = c.benchmark_group("stack/success_path");
    g.throughput(Throughput::Elements(1));
    let mut cx = Context::from_waker(Waker::noop());

    let mut bare = backend();
    g.bench_function("bare service", |b| {
        b.iter(|| drive(&mut bare, black_box(7), &mut cx))
    });

    let tps = Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.1));
    let mut tower_retry = tower::retry::RetryLayer::new(WithTps(tps)).layer(backend());
    g.bench_function("tower Retry + TpsBudget", |b| {
        b.iter(|| drive(&mut tower_retry, black_box(7), &mut cx))
    });

    let mut ours = stack().layer(backend());
    g.bench_function("failsoft stack", |b| {
        b.iter(|| drive(&mut ours, black_box(7), &mut cx))
    });
    g.finish();
}

/// Calls a fresh clone of `svc` `iters` times on each of `threads` threads
/// (each in its own runtime context); returns the wall time.
fn run_threads<S>(svc: &S, threads: usize, iters: u64) -> Duration
where
    S: Service<u64> + Clone + Send,
{
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let mut svc = svc.clone();
            let barrier = &barrier;
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .unwrap();
                let _enter = rt.enter();
                let mut cx = Context::from_waker(Waker::noop());
                barrier.wait();
                for i in 0..iters {
                    black_box(drive(&mut svc, i, &mut cx));
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}

fn scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("stack/threads");
    let bare = backend();
    let ours = stack().layer(backend());
    for threads in [1usize, 2] {
        g.bench_function(format!("no shared state/{threads}"), |b| {
            b.iter_custom(|iters| run_threads(&bare, threads, iters))
        });
        g.bench_function(format!("failsoft stack/{threads}"), |b| {
            b.iter_custom(|iters| run_threads(&ours, threads, iters))
        });
    }
    g.finish();
}

criterion_group!(benches, success_path, scaling);
criterion_main!(benches);
