//! Admit + record on the success path of a closed breaker.
//!
//! - `single`: one thread, failsoft's breaker (pure API and as a Tower
//!   service) against failsafe, recloser and tower-resilience, and the bare
//!   service as the baseline of the service rows.
//! - `shared`: the same calls on 1 thread and on 2 threads sharing one
//!   breaker; one iteration is one call on each thread, so the throughput
//!   ratio of 2 threads to 1 is `2 × time(1 thread) / time(2 threads)`.
//!   `no_shared_state` touches nothing shared: its ratio is what the
//!   machine allows at the moment (other processes compete for cores).
//!
//! - `open`: the fast fail of an open breaker, failsoft (pure API at a
//!   given instant, the same reading the clock, the Tower service reading
//!   the clock, forced open) against recloser's open path; then 1 and 2 threads sharing one open
//!   breaker, as in `shared`.
//!
//! Run: `cargo bench -p failsoft-benches --bench breaker -- --warm-up-time 1 --measurement-time 2`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::future::{Ready, ready};
use std::hint::black_box;
use std::sync::Barrier;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use failsafe::CircuitBreaker as _;
use failsoft::breaker::{Breaker, BreakerConfig, CircuitBreaker};
use failsoft::classify::Outcome;
use futures::task::noop_waker_ref;
use tokio::time::Instant;
use tower::Service;

/// A backend that answers at once.
#[derive(Clone, Copy, Debug)]
struct Echo;

impl Service<u64> for Echo {
    type Response = u64;
    type Error = std::convert::Infallible;
    type Future = Ready<Result<u64, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> Self::Future {
        ready(Ok(req))
    }
}

/// One request through a service that is always ready, polled to its end
/// (every future here completes on the first poll).
fn drive<S: Service<u64>>(svc: &mut S, req: u64) -> bool {
    let mut cx = Context::from_waker(noop_waker_ref());
    if !matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))) {
        return false;
    }
    let mut fut = std::pin::pin!(svc.call(req));
    matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(_)))
}

fn config() -> BreakerConfig {
    BreakerConfig::builder()
        .seed(1)
        .build()
        .expect("valid config")
}

fn single(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _enter = rt.enter();
    let mut g = c.benchmark_group("breaker/single");
    g.throughput(Throughput::Elements(1));

    let breaker = Breaker::new(&config());
    let now = Instant::now();
    g.bench_function("failsoft_core", |b| {
        b.iter(|| {
            let permit = breaker.try_acquire_at(black_box(now)).unwrap();
            breaker.record_at(permit, Outcome::Success, now);
        })
    });

    let mut bare = Echo;
    g.bench_function("bare_service", |b| {
        b.iter(|| drive(&mut bare, black_box(1)))
    });

    let mut svc = CircuitBreaker::new(Echo, Breaker::new(&config()));
    g.bench_function("failsoft_service", |b| {
        b.iter(|| drive(&mut svc, black_box(1)))
    });

    let fs = failsafe::Config::new().build();
    g.bench_function("failsafe", |b| {
        b.iter(|| fs.call(|| Ok::<_, ()>(black_box(1u64))).is_ok())
    });

    let rc = recloser::Recloser::default();
    g.bench_function("recloser", |b| {
        b.iter(|| rc.call(|| Ok::<_, ()>(black_box(1u64))).is_ok())
    });

    let layer = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .build()
        .expect("valid config");
    let mut tr = tower::Layer::layer(&layer, Echo);
    g.bench_function("tower_resilience", |b| {
        b.iter(|| drive(&mut tr, black_box(1)))
    });
    g.finish();
}

/// A per-thread caller: each thread makes its own (for example its own
/// clone of a service sharing one breaker).
type MakeCall<'a> = &'a (dyn Fn() -> Box<dyn FnMut() + Send + 'a> + Sync);

/// Runs a fresh caller `iters` times on each of `threads` threads at once;
/// returns the wall time from the common start to the last finish.
fn run_threads(threads: usize, iters: u64, make: MakeCall<'_>) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let mut call = make();
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for _ in 0..iters {
                    call();
                }
            });
        }
        barrier.wait();
        // Leaving the scope joins every thread.
        Instant::now()
    })
    .elapsed()
}

fn shared(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _enter = rt.enter();
    let mut g = c.benchmark_group("breaker/shared");
    let breaker = Breaker::new(&config());
    let now = Instant::now();
    let fs = failsafe::Config::new().build();
    let rc = recloser::Recloser::default();
    let svc = CircuitBreaker::new(Echo, Breaker::new(&config()));
    let tr_layer = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .build()
        .expect("valid config");
    let tr = tower::Layer::layer(&tr_layer, Echo);

    // Touches no shared state: the machine's own ceiling for 2 threads.
    let local = || -> Box<dyn FnMut() + Send> {
        Box::new(|| {
            black_box(black_box(1u64).wrapping_mul(3));
        })
    };
    let core = || -> Box<dyn FnMut() + Send + '_> {
        Box::new(|| {
            let permit = breaker.try_acquire_at(black_box(now)).unwrap();
            breaker.record_at(permit, Outcome::Success, now);
        })
    };
    let service = || -> Box<dyn FnMut() + Send + '_> {
        let mut svc = svc.clone();
        Box::new(move || {
            black_box(drive(&mut svc, 1));
        })
    };
    let failsafe = || -> Box<dyn FnMut() + Send + '_> {
        Box::new(|| {
            black_box(fs.call(|| Ok::<_, ()>(1u64)).is_ok());
        })
    };
    let recloser = || -> Box<dyn FnMut() + Send + '_> {
        Box::new(|| {
            black_box(rc.call(|| Ok::<_, ()>(1u64)).is_ok());
        })
    };
    let tower_resilience = || -> Box<dyn FnMut() + Send + '_> {
        let mut svc = tr.clone();
        Box::new(move || {
            black_box(drive(&mut svc, 1));
        })
    };
    let subjects: [(&str, MakeCall<'_>); 6] = [
        ("no_shared_state", &local),
        ("failsoft_core", &core),
        ("failsoft_service", &service),
        ("failsafe", &failsafe),
        ("recloser", &recloser),
        ("tower_resilience", &tower_resilience),
    ];
    for (name, make) in subjects {
        for threads in [1usize, 2] {
            g.bench_function(format!("{name}/{threads}_threads"), |b| {
                b.iter_custom(|iters| run_threads(threads, iters, make))
            });
        }
    }
    g.finish();
}

/// A recloser that stays open for an hour once tripped.
fn open_recloser() -> recloser::Recloser {
    let rc = recloser::Recloser::custom()
        .error_rate(0.5)
        .closed_len(2)
        .open_wait(Duration::from_secs(3_600))
        .build();
    for _ in 0..3 {
        let _ = rc.call(|| Err::<u64, ()>(()));
    }
    assert!(matches!(
        rc.call(|| Ok::<_, ()>(1u64)),
        Err(recloser::Error::Rejected)
    ));
    rc
}

/// A failsoft breaker open for an hour (tripped by failures, not forced).
fn open_breaker() -> Breaker {
    let cfg = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_backoff(
            failsoft::backoff::ExponentialBackoff::builder()
                .base(Duration::from_secs(3_600))
                .max(Duration::from_secs(3_600))
                .jitter(failsoft::backoff::Jitter::None)
                .build()
                .expect("valid backoff"),
        )
        .seed(1)
        .build()
        .expect("valid config");
    let b = Breaker::new(&cfg);
    let now = failsoft::time::now();
    let permit = b.try_acquire_at(now).unwrap();
    b.record_at(
        permit,
        Outcome::Retryable(failsoft::classify::FailureKind::Error),
        now,
    );
    assert_eq!(b.state(), failsoft::breaker::State::Open);
    b
}

/// One call through a service whose breaker rejects it; `true` if it did.
fn rejected<S: Service<u64>>(svc: &mut S, req: u64) -> bool {
    let mut cx = Context::from_waker(noop_waker_ref());
    if !matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))) {
        return false;
    }
    let mut fut = std::pin::pin!(svc.call(req));
    matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Err(_)))
}

fn open(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _enter = rt.enter();
    let mut g = c.benchmark_group("breaker/open");
    g.throughput(Throughput::Elements(1));

    // What one clock read costs in this build, for the rows that read it:
    // failsoft's (through `failsoft::time`: a thread-local check and an
    // atomic load to find no installed timer, then Tokio's clock, which
    // without `test-util`, as here, is the standard library's), and the
    // standard library's, which recloser reads. Only measured here, never
    // used by the crate.
    g.bench_function("clock_read", |b| b.iter(failsoft::time::now));
    #[allow(clippy::disallowed_types)]
    g.bench_function("clock_read_std", |b| b.iter(std::time::Instant::now));
    let breaker = open_breaker();
    let now = failsoft::time::now();
    g.bench_function("failsoft_core", |b| {
        b.iter(|| breaker.try_acquire_at(black_box(now)).is_err())
    });
    // The same API reading the clock for each call, as recloser's `call`
    // does: the like-for-like row for recloser's.
    g.bench_function("failsoft_core_clock", |b| {
        b.iter(|| breaker.try_acquire_at(failsoft::time::now()).is_err())
    });
    let mut svc = CircuitBreaker::new(Echo, open_breaker());
    assert!(rejected(&mut svc, 1));
    g.bench_function("failsoft_service", |b| {
        b.iter(|| rejected(&mut svc, black_box(1)))
    });
    let forced = Breaker::new(&config());
    forced.force_open();
    let mut forced_svc = CircuitBreaker::new(Echo, forced);
    g.bench_function("failsoft_service_forced", |b| {
        b.iter(|| rejected(&mut forced_svc, black_box(1)))
    });
    let rc = open_recloser();
    g.bench_function("recloser", |b| {
        b.iter(|| rc.call(|| Ok::<_, ()>(black_box(1u64))).is_err())
    });
    g.finish();

    let mut g = c.benchmark_group("breaker/open_shared");
    let local = || -> Box<dyn FnMut() + Send> {
        Box::new(|| {
            black_box(black_box(1u64).wrapping_mul(3));
        })
    };
    let service = || -> Box<dyn FnMut() + Send + '_> {
        let mut svc = svc.clone();
        Box::new(move || {
            assert!(rejected(&mut svc, black_box(1)));
        })
    };
    let recloser = || -> Box<dyn FnMut() + Send + '_> {
        Box::new(|| {
            assert!(rc.call(|| Ok::<_, ()>(black_box(1u64))).is_err());
        })
    };
    let subjects: [(&str, MakeCall<'_>); 3] = [
        ("no_shared_state", &local),
        ("failsoft_service", &service),
        ("recloser", &recloser),
    ];
    for (name, make) in subjects {
        for threads in [1usize, 2] {
            g.bench_function(format!("{name}/{threads}_threads"), |b| {
                b.iter_custom(|iters| run_threads(threads, iters, make))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, single, shared, open);
criterion_main!(benches);
