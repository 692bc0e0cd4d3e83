//! Budgets and the throttle: success-path deposit and withdrawal, single
//! threaded and with 2 threads sharing one budget, the throttle's admit cost,
//! and the retry layer with each budget on the success path. tower's
//! `TpsBudget` is measured in the same run as the baseline.
//!
//! Run: `cargo bench -p failsoft-benches --bench budget -- --warm-up-time 1 --measurement-time 2`.
//! Compare ratios, not absolute times.

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
use failsoft::budget::{RatioBudget, RetryBudget, TokenBucket};
use failsoft::classify::FailureKind;
use failsoft::retry::RetryLayer;
use failsoft::throttle::ThrottleLayer;
use support::{WithTps, backend, drive, tps};
use tower::Layer;
use tower::retry::budget::Budget;

fn ratio() -> RatioBudget {
    RatioBudget::default()
}

fn deposit(c: &mut Criterion) {
    let mut g = c.benchmark_group("budget/deposit");
    g.throughput(Throughput::Elements(1));
    let t = tps();
    g.bench_function("tower TpsBudget::deposit", |b| {
        b.iter(|| black_box(&t).deposit())
    });
    let r = ratio();
    g.bench_function("RatioBudget::on_request", |b| {
        b.iter(|| black_box(&r).on_request())
    });
    let k = TokenBucket::aws_standard();
    g.bench_function("TokenBucket::on_success (full)", |b| {
        b.iter(|| black_box(&k).on_success(false))
    });
    g.finish();
}

fn withdraw(c: &mut Criterion) {
    let mut g = c.benchmark_group("budget/withdraw");
    g.throughput(Throughput::Elements(1));
    let t = tps();
    g.bench_function("tower TpsBudget::withdraw (refused)", |b| {
        b.iter(|| black_box(&t).withdraw())
    });
    let empty = RatioBudget::builder().floor(0.0).build().unwrap();
    g.bench_function("RatioBudget::try_retry (refused)", |b| {
        b.iter(|| black_box(&empty).try_retry(FailureKind::Error))
    });
    let r = RatioBudget::builder().floor(1.0).build().unwrap();
    g.bench_function("RatioBudget::try_retry + cancel_retry", |b| {
        b.iter(|| {
            if let Ok(receipt) = black_box(&r).try_retry(FailureKind::Error) {
                r.cancel_retry(receipt);
            }
        })
    });
    let k = TokenBucket::aws_standard();
    g.bench_function("TokenBucket::try_retry + cancel_retry", |b| {
        b.iter(|| {
            if let Ok(receipt) = black_box(&k).try_retry(FailureKind::Error) {
                k.cancel_retry(receipt);
            }
        })
    });
    g.finish();
}

/// Runs `iters` calls of `f` split across `threads` threads sharing `x`,
/// and returns the wall time.
fn split<T: Sync>(x: &T, threads: u64, iters: u64, f: impl Fn(&T) + Sync) -> Duration {
    split_each(std::slice::from_ref(x), threads, iters, f)
}

/// Like [`split`], but thread `i` uses `xs[i % xs.len()]`: with one value
/// per thread nothing is shared, the control for what sharing costs.
fn split_each<T: Sync>(xs: &[T], threads: u64, iters: u64, f: impl Fn(&T) + Sync) -> Duration {
    let barrier = Barrier::new(threads as usize + 1);
    std::thread::scope(|s| {
        for i in 0..threads {
            let (barrier, f) = (&barrier, &f);
            let x = &xs[i as usize % xs.len()];
            s.spawn(move || {
                barrier.wait();
                for _ in 0..iters / threads {
                    f(black_box(x));
                }
            });
        }
        barrier.wait();
        Instant::now()
    })
    .elapsed()
}

fn deposit_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("budget/deposit_threads");
    g.throughput(Throughput::Elements(1));
    let t = tps();
    let r = ratio();
    let k = TokenBucket::aws_standard();
    let unshared = [ratio(), ratio()];
    for threads in [1u64, 2] {
        g.bench_with_input(
            BenchmarkId::new("RatioBudget, one per thread (control)", threads),
            &threads,
            |b, &n| b.iter_custom(|iters| split_each(&unshared, n, iters, |r| r.on_request())),
        );
        g.bench_with_input(
            BenchmarkId::new("tower TpsBudget", threads),
            &threads,
            |b, &n| b.iter_custom(|iters| split(&t, n, iters, |t| t.deposit())),
        );
        g.bench_with_input(
            BenchmarkId::new("RatioBudget", threads),
            &threads,
            |b, &n| b.iter_custom(|iters| split(&r, n, iters, |r| r.on_request())),
        );
        g.bench_with_input(
            BenchmarkId::new("TokenBucket (full)", threads),
            &threads,
            |b, &n| b.iter_custom(|iters| split(&k, n, iters, |k| k.on_success(false))),
        );
    }
    g.finish();
}

fn throttle(c: &mut Criterion) {
    let mut g = c.benchmark_group("throttle");
    g.throughput(Throughput::Elements(1));
    let mut cx = Context::from_waker(Waker::noop());
    let mut bare = backend();
    g.bench_function("bare service", |b| {
        b.iter(|| drive(&mut bare, black_box(1), &mut cx))
    });
    let layer = ThrottleLayer::builder().seed(1).build().unwrap();
    let handle = layer.handle();
    let mut svc = layer.layer(backend());
    g.bench_function("Throttle (admit + accept)", |b| {
        b.iter(|| drive(&mut svc, black_box(1), &mut cx))
    });
    let now = tokio::time::Instant::now();
    g.bench_function("ThrottleHandle::admit_at", |b| {
        b.iter(|| handle.admit_at(black_box(now)))
    });
    g.finish();
}

fn retry_with_budgets(c: &mut Criterion) {
    let mut g = c.benchmark_group("retry/success_path_with_budget");
    g.throughput(Throughput::Elements(1));
    let mut cx = Context::from_waker(Waker::noop());
    let mut tower_tps = tower::retry::RetryLayer::new(WithTps(tps())).layer(backend());
    g.bench_function("tower Retry + TpsBudget", |b| {
        b.iter(|| drive(&mut tower_tps, black_box(1), &mut cx))
    });
    let mut none = RetryLayer::builder()
        .seed(1)
        .build()
        .unwrap()
        .layer(backend());
    g.bench_function("NoBudget", |b| {
        b.iter(|| drive(&mut none, black_box(1), &mut cx))
    });
    let mut with_ratio = RetryLayer::builder()
        .seed(1)
        .budget(ratio())
        .build()
        .unwrap()
        .layer(backend());
    g.bench_function("RatioBudget", |b| {
        b.iter(|| drive(&mut with_ratio, black_box(1), &mut cx))
    });
    let mut with_bucket = RetryLayer::builder()
        .seed(1)
        .budget(TokenBucket::aws_standard())
        .build()
        .unwrap()
        .layer(backend());
    g.bench_function("TokenBucket", |b| {
        b.iter(|| drive(&mut with_bucket, black_box(1), &mut cx))
    });
    g.finish();

    let mut g = c.benchmark_group("retry/threads_with_budget");
    g.throughput(Throughput::Elements(1));
    let shared = RetryLayer::builder()
        .seed(1)
        .budget(ratio())
        .build()
        .unwrap()
        .layer(backend());
    for threads in [1u64, 2] {
        g.bench_with_input(
            BenchmarkId::new("RatioBudget", threads),
            &threads,
            |b, &n| {
                b.iter_custom(|iters| {
                    let barrier = Arc::new(Barrier::new(n as usize + 1));
                    std::thread::scope(|s| {
                        for _ in 0..n {
                            let mut svc = shared.clone();
                            let barrier = Arc::clone(&barrier);
                            s.spawn(move || {
                                let mut cx = Context::from_waker(Waker::noop());
                                barrier.wait();
                                for i in 0..iters / n {
                                    drive(&mut svc, i, &mut cx);
                                }
                            });
                        }
                        barrier.wait();
                        Instant::now()
                    })
                    .elapsed()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(
    benches,
    deposit,
    withdraw,
    deposit_threads,
    throttle,
    retry_with_budgets
);
criterion_main!(benches);
