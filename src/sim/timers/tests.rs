use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::time::Instant;

use super::{Clock, now};
use crate::time::sleep_until;

/// A waker writing its name to a shared log when woken.
struct Named(&'static str, Arc<Mutex<Vec<&'static str>>>);

impl Wake for Named {
    fn wake(self: Arc<Self>) {
        self.1.lock().unwrap().push(self.0);
    }
}

fn waker(name: &'static str, log: &Arc<Mutex<Vec<&'static str>>>) -> Waker {
    Waker::from(Arc::new(Named(name, log.clone())))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn the_clock_is_the_layers_now_until_its_guard_drops() {
    let t0 = Instant::now();
    let mut clock = Clock::install(t0, 1_000, 10).unwrap();
    assert_eq!(crate::time::now(), t0);
    clock.advance(250);
    assert_eq!(crate::time::now(), t0 + ms(250));
    // Never back.
    clock.advance(100);
    assert_eq!(now(), Some(t0 + ms(250)));
    drop(clock);
    assert_eq!(now(), None);
}

#[test]
fn a_sleep_wakes_its_task_at_the_first_millisecond_at_or_after_its_deadline() {
    let t0 = Instant::now();
    let mut clock = Clock::install(t0, 1_000, 10).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let w = waker("a", &log);
    let mut cx = Context::from_waker(&w);
    let mut sleep = pin!(sleep_until(t0 + Duration::from_micros(2_500)));
    assert!(sleep.as_mut().poll(&mut cx).is_pending());
    assert_eq!(clock.next_due(2), None);
    assert_eq!(clock.next_due(10), Some(3));
    clock.advance(2);
    assert!(log.lock().unwrap().is_empty());
    assert!(sleep.as_mut().poll(&mut cx).is_pending());
    clock.advance(3);
    assert_eq!(*log.lock().unwrap(), ["a"]);
    assert_eq!(sleep.as_mut().poll(&mut cx), Poll::Ready(()));
    // A deadline already passed is ready at once, with no timer set.
    let mut past = pin!(sleep_until(t0 + ms(1)));
    assert_eq!(past.as_mut().poll(&mut cx), Poll::Ready(()));
    assert_eq!(clock.next_due(10_000), None);
}

#[test]
fn timers_of_one_millisecond_fire_in_the_order_set_and_a_dropped_one_never() {
    let t0 = Instant::now();
    let mut clock = Clock::install(t0, 1_000, 10).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (a, b, c) = (waker("a", &log), waker("b", &log), waker("c", &log));
    let mut sa = Box::pin(sleep_until(t0 + ms(40)));
    let mut sb = Box::pin(sleep_until(t0 + ms(40)));
    let mut sc = Box::pin(sleep_until(t0 + ms(30)));
    assert!(sb.as_mut().poll(&mut Context::from_waker(&b)).is_pending());
    assert!(sa.as_mut().poll(&mut Context::from_waker(&a)).is_pending());
    assert!(sc.as_mut().poll(&mut Context::from_waker(&c)).is_pending());
    drop(sc);
    // The cancelled timer at 30 does not stop the clock.
    assert_eq!(clock.next_due(100), Some(40));
    clock.advance(40);
    assert_eq!(*log.lock().unwrap(), ["b", "a"]);
}

#[test]
fn a_reset_sleep_wakes_its_task_at_the_new_deadline_only() {
    let t0 = Instant::now();
    let mut clock = Clock::install(t0, 1_000, 10).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let w = waker("a", &log);
    let mut sleep = Box::pin(sleep_until(t0 + ms(5)));
    assert!(
        sleep
            .as_mut()
            .poll(&mut Context::from_waker(&w))
            .is_pending()
    );
    sleep.as_mut().reset(t0 + ms(2_000));
    assert_eq!(clock.next_due(1_999), None);
    clock.advance(1_999);
    assert!(log.lock().unwrap().is_empty());
    // Beyond the wheel's ring (1 s here), it still fires on time.
    assert_eq!(clock.next_due(5_000), Some(2_000));
    clock.advance(2_000);
    assert_eq!(*log.lock().unwrap(), ["a"]);
}

#[tokio::test(start_paused = true)]
async fn without_a_clock_sleeps_are_tokios() {
    let sleep = sleep_until(Instant::now() + ms(5));
    assert!(
        matches!(sleep, crate::time::Sleep::Tokio { .. }),
        "{sleep:?}"
    );
}
