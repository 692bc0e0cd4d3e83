//! Cost of the whole recommended stack (fallback, retry with budget and
//! deadline, throttle, breaker, attempt timeout) against tower's nearest
//! stack and the bare service, measured in the same run:
//!
//! - `stack/success_path`: `poll_ready` + `call` + one poll, on one
//!   service; tower's `Retry` + `TpsBudget` alone, and with backoff around
//!   a `Timeout`; and the stack with its gate (throttle and breaker) taken
//!   out, which shows what the gate costs inside the stack.
//! - `stack/waits_once`: the same with a backend whose future is pending
//!   at the first poll and answers at the second, as a call over the
//!   network is: the timers are armed (the clock read) and dropped.
//! - `stack/many_hosts`: the waiting call of `stack/waits_once` spread
//!   over 4,096 stacks of each kind, each with its own state (a stack per
//!   backend host), called in a fixed shuffled order: what a call costs
//!   when its stack's state is not in the CPU's caches, as in the Dec 7
//!   replay at `--scale 20`.
//! - `stack/clone_oneshot`: `svc.clone().oneshot(req)`, for the stacks and
//!   for each failsoft layer next to its own `ready` + `call` row.
//! - `stack/open_fallback`: an open breaker's fast fail through the stack,
//!   the fallback answering.
//! - `stack/threads`: 1 vs 2 threads calling clones of one stack (success;
//!   open with the fallback answering; and open with the throttle shedding
//!   too, as after an outage). One iteration is one call on
//!   each thread, so the throughput ratio is
//!   `2 × time(1 thread) / time(2 threads)`; `no shared state` is what the
//!   machine allows at the moment.
//! - `stack/floor`: what the machine charges for the operations the rows
//!   above cannot avoid, in the same run: an `Arc` clone and drop (a
//!   service clone that shares state, or a future that owns it), an
//!   uncontended atomic add, and one clock read.
//!
//! Every row runs on Tokio's real clock (the runtime is not paused).
//!
//! Run: `cargo bench -p failsoft-benches --bench stack -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Waker};
use std::time::Duration;

mod support;

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use failsoft::BoxError;
use failsoft::breaker::{BreakerConfig, CircuitBreakerLayer};
use failsoft::budget::RatioBudget;
use failsoft::error::Throttled;
use failsoft::fallback::{FallbackLayer, FallbackReason};
use failsoft::retry::RetryLayer;
use failsoft::stack::{AttemptTimeoutLayer, StackLayer};
use failsoft::throttle::ThrottleLayer;
use support::{
    WithTps, backend, clone_oneshot, drive, drive_waiting, gateless, open_stack, runtime, shuffled,
    tower_stack, waiting_backend,
};
use tokio::time::Instant;
use tower::retry::budget::TpsBudget;
use tower::{Layer, Service};

fn stack() -> StackLayer {
    StackLayer::builder().seed(1).build().expect("valid config")
}

fn success_path(c: &mut Criterion) {
    let rt = runtime();
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

    let mut tower_full = tower_stack(backend());
    g.bench_function("tower Retry + TpsBudget + backoff + Timeout", |b| {
        b.iter(|| drive(&mut tower_full, black_box(7), &mut cx))
    });

    let mut ours = stack().layer(backend());
    g.bench_function("failsoft stack", |b| {
        b.iter(|| drive(&mut ours, black_box(7), &mut cx))
    });

    // The stack with its gate (throttle and breaker) taken out: what any
    // design that keeps the fallback, the retry future with its budget and
    // deadline, and the attempt timeout pays before it judges a single
    // call, such as one fusing the gate into the retry future.
    let mut gateless = gateless(backend());
    g.bench_function("failsoft stack without its gate", |b| {
        b.iter(|| drive(&mut gateless, black_box(7), &mut cx))
    });
    g.finish();
}

/// A call that waits once, as one over the network does: the layers arm
/// their timers (reading the clock), and drop them when it answers.
fn waiting(c: &mut Criterion) {
    let rt = runtime();
    let _enter = rt.enter();
    let mut g = c.benchmark_group("stack/waits_once");
    g.throughput(Throughput::Elements(1));
    let mut cx = Context::from_waker(Waker::noop());

    let mut bare = waiting_backend();
    g.bench_function("bare service", |b| {
        b.iter(|| drive_waiting(&mut bare, black_box(7), &mut cx))
    });
    let mut tower_full = tower_stack(waiting_backend());
    g.bench_function("tower Retry + TpsBudget + backoff + Timeout", |b| {
        b.iter(|| drive_waiting(&mut tower_full, black_box(7), &mut cx))
    });
    let mut ours = stack().layer(waiting_backend());
    assert!(drive_waiting(&mut ours, 7, &mut cx));
    g.bench_function("failsoft stack", |b| {
        b.iter(|| drive_waiting(&mut ours, black_box(7), &mut cx))
    });
    // Without slow-call timing, an answer reads no clock when it comes.
    let untimed = StackLayer::builder()
        .seed(1)
        .throttle(ThrottleLayer::builder())
        .breaker(BreakerConfig::builder().minimum_calls(5))
        .build()
        .expect("valid config");
    let mut untimed = untimed.layer(waiting_backend());
    assert!(drive_waiting(&mut untimed, 7, &mut cx));
    g.bench_function("failsoft stack, no slow-call timing", |b| {
        b.iter(|| drive_waiting(&mut untimed, black_box(7), &mut cx))
    });
    g.finish();
}

/// Stacks in the `stack/many_hosts` rows: enough that their state (about
/// 10 KB in 24 allocations each for failsoft's, a few hundred bytes for
/// tower's) is well past this machine's caches.
const HOSTS: usize = 4096;

/// Calls `stacks` in `order`, one waiting call each per iteration.
fn many<S: Service<u64>>(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut stacks: Vec<S>,
    order: &[usize],
) {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(stacks.iter_mut().all(|s| drive_waiting(s, 7, &mut cx)));
    let mut next = order.iter().cycle();
    g.bench_function(name, |b| {
        b.iter(|| {
            let i = *next.next().expect("a cycle never ends");
            drive_waiting(&mut stacks[i], black_box(7), &mut cx)
        })
    });
}

/// The waiting call on one of thousands of stacks, cold in the caches.
fn many_hosts(c: &mut Criterion) {
    let rt = runtime();
    let _enter = rt.enter();
    let mut g = c.benchmark_group("stack/many_hosts");
    g.throughput(Throughput::Elements(1));
    let order = shuffled(HOSTS);
    let bare = (0..HOSTS).map(|_| waiting_backend()).collect();
    many(&mut g, "bare service", bare, &order);
    let tower = (0..HOSTS).map(|_| tower_stack(waiting_backend())).collect();
    many(
        &mut g,
        "tower Retry + TpsBudget + backoff + Timeout",
        tower,
        &order,
    );
    let ours = (0..HOSTS)
        .map(|_| stack().layer(waiting_backend()))
        .collect();
    many(&mut g, "failsoft stack", ours, &order);
    g.finish();
}

/// `ready` + `call` on one service, then `clone().oneshot` on it.
fn pair<S>(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, name: &str, svc: S)
where
    S: Service<u64, Response = u64> + Clone,
{
    let mut cx = Context::from_waker(Waker::noop());
    let mut one = svc.clone();
    assert!(drive(&mut one, 7, &mut cx));
    g.bench_function(format!("{name}/ready+call"), |b| {
        b.iter(|| drive(&mut one, black_box(7), &mut cx))
    });
    g.bench_function(format!("{name}/clone.oneshot"), |b| {
        b.iter(|| clone_oneshot(&svc, black_box(7), &mut cx))
    });
}

fn clones(c: &mut Criterion) {
    let rt = runtime();
    let _enter = rt.enter();
    let mut g = c.benchmark_group("stack/clone_oneshot");
    g.throughput(Throughput::Elements(1));
    pair(&mut g, "bare service", backend());
    pair(&mut g, "tower stack", tower_stack(backend()));
    pair(&mut g, "failsoft stack", stack().layer(backend()));
    let retry = RetryLayer::builder()
        .budget(RatioBudget::builder().build().expect("valid budget"))
        .deadline(Duration::from_secs(10))
        .seed(1)
        .build()
        .expect("valid config");
    pair(&mut g, "failsoft retry + budget", retry.layer(backend()));
    let throttle = ThrottleLayer::builder()
        .seed(1)
        .build()
        .expect("valid config");
    pair(&mut g, "failsoft throttle", throttle.layer(backend()));
    let breaker =
        CircuitBreakerLayer::new(BreakerConfig::builder().seed(1).build().expect("valid"));
    pair(&mut g, "failsoft breaker", breaker.layer(backend()));
    let fallback = FallbackLayer::new(|_: FallbackReason, _: BoxError| Ok(0u64));
    pair(&mut g, "failsoft fallback", fallback.layer(backend()));
    let timeout = AttemptTimeoutLayer::new(Duration::from_secs(2));
    pair(&mut g, "failsoft attempt timeout", timeout.layer(backend()));
    g.finish();
}

fn open_fallback(c: &mut Criterion) {
    let rt = runtime();
    let _enter = rt.enter();
    let mut g = c.benchmark_group("stack/open_fallback");
    g.throughput(Throughput::Elements(1));
    pair(&mut g, "failsoft stack", open_stack(backend(), false));
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
                let rt = runtime();
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
    let open = open_stack(backend(), false);
    let shedding = open_stack(backend(), true);
    let tower = tower_stack(backend());
    for threads in [1usize, 2] {
        g.bench_function(format!("no shared state/{threads}"), |b| {
            b.iter_custom(|iters| run_threads(&bare, threads, iters))
        });
        g.bench_function(format!("failsoft stack/{threads}"), |b| {
            b.iter_custom(|iters| run_threads(&ours, threads, iters))
        });
        g.bench_function(format!("failsoft stack, open, fallback/{threads}"), |b| {
            b.iter_custom(|iters| run_threads(&open, threads, iters))
        });
        g.bench_function(
            format!("failsoft stack, open, throttle shedding, fallback/{threads}"),
            |b| b.iter_custom(|iters| run_threads(&shedding, threads, iters)),
        );
        g.bench_function(format!("tower stack/{threads}"), |b| {
            b.iter_custom(|iters| run_threads(&tower, threads, iters))
        });
    }
    g.finish();
}

fn floor(c: &mut Criterion) {
    let rt = runtime();
    let _enter = rt.enter();
    let mut g = c.benchmark_group("stack/floor");
    g.throughput(Throughput::Elements(1));
    let shared = Arc::new(0u64);
    g.bench_function("Arc clone + drop", |b| {
        b.iter(|| drop(black_box(Arc::clone(&shared))))
    });
    let count = AtomicU64::new(0);
    g.bench_function("atomic add", |b| {
        b.iter(|| black_box(&count).fetch_add(1, Ordering::Relaxed))
    });
    g.bench_function("clock read", |b| b.iter(|| black_box(Instant::now())));
    // What a shed call's error costs: `Throttled` carries no data, so
    // boxing it allocates nothing (as with the breaker's `CircuitOpen`).
    g.bench_function("boxed Throttled, made and dropped", |b| {
        b.iter(|| drop(black_box(BoxError::from(Box::new(Throttled::new())))))
    });
    g.finish();
}

criterion_group!(
    benches,
    success_path,
    waiting,
    many_hosts,
    clones,
    open_fallback,
    scaling,
    floor
);
criterion_main!(benches);
