//! The retry layer's and the recommended stack's success paths allocate
//! nothing per call.

use std::convert::Infallible;
use std::future::{Future, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use failsoft::retry::RetryLayer;
use failsoft::stack::StackLayer;
use tower::{Layer, Service, service_fn};

fn call_once<S: Service<u64, Response = u64>>(svc: &mut S, cx: &mut Context<'_>) {
    assert!(matches!(svc.poll_ready(cx), Poll::Ready(Ok(()))));
    let fut = pin!(svc.call(1));
    assert!(matches!(fut.poll(cx), Poll::Ready(Ok(1))));
}

/// Allocations made by 1,000 successful calls, after one to warm up
/// thread-locals.
fn allocations_in_1000_calls<S: Service<u64, Response = u64>>(svc: &mut S) -> u64 {
    let mut cx = Context::from_waker(Waker::noop());
    call_once(svc, &mut cx);
    let info = allocation_counter::measure(|| {
        for _ in 0..1_000 {
            call_once(svc, &mut cx);
        }
    });
    info.count_total
}

#[test]
fn success_path_makes_no_allocation() {
    let mut svc = RetryLayer::builder()
        .seed(1)
        .build()
        .unwrap()
        .layer(service_fn(|x: u64| ready(Ok::<_, Infallible>(x))));
    assert_eq!(allocations_in_1000_calls(&mut svc), 0);
}

#[test]
fn the_whole_stack_makes_no_allocation_on_the_success_path() {
    // The default stack has a deadline and an attempt timeout: neither may
    // cost a timer (or a clock read) for a call that completes at once.
    let mut svc = StackLayer::builder()
        .seed(1)
        .build()
        .unwrap()
        .layer(service_fn(|x: u64| ready(Ok::<_, Infallible>(x))));
    assert_eq!(allocations_in_1000_calls(&mut svc), 0);
}

#[test]
fn a_failing_call_is_counted_as_allocating() {
    // Guards the measurement itself: boxing an error allocates.
    let info = allocation_counter::measure(|| {
        let err: failsoft::BoxError = "x".into();
        std::hint::black_box(err);
    });
    assert!(info.count_total > 0);
}
