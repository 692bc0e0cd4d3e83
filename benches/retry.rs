//! Success-path cost of the retry layer, against the bare service and
//! tower's `Retry` measured in the same run; one `next_delay`; and scaling
//! from 1 to 2 threads calling clones of one layered service.
//!
//! Run: `cargo bench -p failsoft-benches --bench retry`. Compare ratios, not absolute times:
//! the machines are noisy, the baselines are measured alongside.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]
// A benchmark measures wall time on purpose (iter_custom across threads).
#![allow(clippy::disallowed_types)]

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

mod support;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use failsoft::backoff::ExponentialBackoff;
use failsoft::retry::RetryLayer;
use failsoft::rng::Rng;
use support::{Never, WithTps, backend, drive, tps};
use tower::{Layer, Service};

fn success_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("retry/success_path");
    g.throughput(Throughput::Elements(1));
    let mut cx = Context::from_waker(Waker::noop());

    let mut bare = backend();
    g.bench_function("bare service", |b| {
        b.iter(|| drive(&mut bare, black_box(7), &mut cx))
    });

    let mut never = tower::retry::RetryLayer::new(Never).layer(backend());
    g.bench_function("tower Retry, never-retry policy", |b| {
        b.iter(|| drive(&mut never, black_box(7), &mut cx))
    });

    let mut with_tps = tower::retry::RetryLayer::new(WithTps(tps())).layer(backend());
    g.bench_function("tower Retry + TpsBudget", |b| {
        b.iter(|| drive(&mut with_tps, black_box(7), &mut cx))
    });

    let mut ours = RetryLayer::builder()
        .seed(1)
        .build()
        .unwrap()
        .layer(backend());
    g.bench_function("failsoft Retry (counters on)", |b| {
        b.iter(|| drive(&mut ours, black_box(7), &mut cx))
    });

    let mut ours_deadline = RetryLayer::builder()
        .seed(1)
        .deadline(Duration::from_secs(5))
        .build()
        .unwrap()
        .layer(backend());
    // A deadline needs a clock read and a runtime for the timer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    g.bench_function("failsoft Retry + deadline", |b| {
        b.iter(|| drive(&mut ours_deadline, black_box(7), &mut cx))
    });
    g.finish();
}

fn next_delay(c: &mut Criterion) {
    let backoff = ExponentialBackoff::default();
    let mut rng = Rng::from_seed(3);
    c.bench_function("backoff/next_delay", |b| {
        b.iter(|| backoff.delay(black_box(4), Duration::ZERO, &mut rng))
    });
}

/// Runs `iters` calls split across `threads` threads, each on its own
/// clone of `svc`, and returns the wall time.
fn split_calls<S>(svc: &S, threads: u64, iters: u64) -> Duration
where
    S: Service<u64, Response = u64> + Clone + Send,
    S::Error: std::fmt::Debug,
{
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            let mut svc = svc.clone();
            let barrier = Arc::clone(&barrier);
            s.spawn(move || {
                let mut cx = Context::from_waker(Waker::noop());
                barrier.wait();
                for i in 0..iters / threads {
                    black_box(drive(&mut svc, i, &mut cx));
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // The scope joins the threads when it ends; time until then.
        start
    })
    .elapsed()
}

fn scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("retry/threads");
    g.throughput(Throughput::Elements(1));
    let ours = RetryLayer::builder()
        .seed(1)
        .build()
        .unwrap()
        .layer(backend());
    let with_tps = tower::retry::RetryLayer::new(WithTps(tps())).layer(backend());
    for threads in [1u64, 2] {
        g.bench_with_input(
            BenchmarkId::new("failsoft Retry", threads),
            &threads,
            |b, &t| b.iter_custom(|iters| split_calls(&ours, t, iters)),
        );
        g.bench_with_input(
            BenchmarkId::new("tower Retry + TpsBudget", threads),
            &threads,
            |b, &t| b.iter_custom(|iters| split_calls(&with_tps, t, iters)),
        );
    }
    g.finish();
}

criterion_group!(benches, success_path, next_delay, scaling);
criterion_main!(benches);
