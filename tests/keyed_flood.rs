//! Issue 13, defect 3: keyed breakers under hostile keys. Evicting a key's
//! breaker must never reset one that is not plainly closed, and memory stays
//! bounded however many unique keys arrive.

use std::time::Duration;

use failsoft::BoxError;
use failsoft::backoff::{ExponentialBackoff, Jitter};
use failsoft::breaker::{
    Breaker, BreakerConfig, BreakerConfigBuilder, KeyedBreakers, KeyedCircuitBreakerLayer, State,
    Window,
};
use failsoft::classify::{FailureKind, Outcome};
use failsoft::error::CircuitOpen;
use tokio::time::{self, Instant};
use tower::{Layer, ServiceExt, service_fn};

/// Trips at the first failure, open 5 s, closes after one probe success.
fn builder() -> BreakerConfigBuilder {
    let open = ExponentialBackoff::builder()
        .base(Duration::from_secs(5))
        .max(Duration::from_secs(40))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    BreakerConfig::builder()
        .open_backoff(open)
        .without_ramp_up()
        .consecutive_failures(1)
        .half_open_successes(1)
        .seed(13)
}

fn fail(b: &Breaker) {
    let now = Instant::now();
    let permit = b.try_acquire_at(now).unwrap();
    b.record_at(permit, Outcome::Retryable(FailureKind::Error), now);
}

fn succeed(b: &Breaker) {
    let now = Instant::now();
    if let Ok(permit) = b.try_acquire_at(now) {
        b.record_at(permit, Outcome::Success, now);
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_open_breaker_survives_other_keys_filling_the_map() {
    let keyed = KeyedBreakers::new(builder().build().unwrap(), 4).unwrap();
    fail(&keyed.get_or_insert("failing".to_owned()));
    assert_eq!(
        keyed.get_or_insert("failing".to_owned()).state(),
        State::Open
    );
    for other in ["a", "b", "c", "d"] {
        succeed(&keyed.get_or_insert(other.to_owned()));
    }
    // The failing key's next call must still find its breaker open (it
    // used to get a fresh closed one).
    assert_eq!(
        keyed.get_or_insert("failing".to_owned()).state(),
        State::Open
    );
    assert_eq!(keyed.len(), 4);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn through_the_layer_unique_keys_cannot_switch_protection_off() {
    let cfg = builder().build().unwrap();
    let layer = KeyedCircuitBreakerLayer::new(cfg, 8, |req: &(u64, bool)| req.0).unwrap();
    let svc = layer.layer(service_fn(|(_, ok): (u64, bool)| async move {
        if ok {
            Ok(())
        } else {
            Err(BoxError::from("down"))
        }
    }));
    assert!(svc.clone().oneshot((0, false)).await.is_err());
    for key in 1..=1_000 {
        svc.clone().oneshot((key, true)).await.unwrap();
    }
    let err = svc.clone().oneshot((0, true)).await.unwrap_err();
    assert!(err.is::<CircuitOpen>(), "key 0 is still open: {err}");
    assert_eq!(layer.breakers().len(), 8);
}

/// Every kind of breaker that is not plainly closed stays through a flood
/// of unique keys; the flood shares the overflow breaker.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_flood_of_unique_keys_keeps_every_breaker_that_is_not_plainly_closed() {
    let cfg = builder().ramp_up(Duration::from_secs(60)).build().unwrap();
    let keyed = KeyedBreakers::<u64>::new(cfg, 5).unwrap();
    // Key 1 half-open (its probe in flight), key 2 ramping up after it
    // closed: both tripped at 0 s, probed at 5 s.
    fail(&keyed.get_or_insert(1));
    fail(&keyed.get_or_insert(2));
    time::advance(Duration::from_secs(5)).await;
    let probe = keyed
        .get_or_insert(1)
        .try_acquire_at(Instant::now())
        .unwrap();
    assert_eq!(keyed.get_or_insert(1).state(), State::HalfOpen);
    succeed(&keyed.get_or_insert(2));
    assert!(
        keyed
            .get_or_insert(2)
            .snapshot_at(Instant::now())
            .ramping_up
    );
    // Key 3 open, key 4 forced open, key 5 disabled by hand.
    fail(&keyed.get_or_insert(3));
    keyed.get_or_insert(4).force_open();
    keyed.get_or_insert(5).disable();
    let kept = [
        State::HalfOpen,
        State::Closed,
        State::Open,
        State::ForcedOpen,
        State::Disabled,
    ];

    for key in 1_000..11_000u64 {
        succeed(&keyed.get_or_insert(key));
    }
    assert_eq!(keyed.len(), 5, "memory stays at max_keys breakers");
    for (key, state) in (1..=5).zip(kept) {
        let b = keyed.get(&key).expect("never evicted");
        assert_eq!(b.state(), state, "key {key}");
    }
    assert!(
        keyed
            .get(&2)
            .unwrap()
            .snapshot_at(Instant::now())
            .ramping_up
    );
    // The flood has no breaker of its own: it shares the overflow one, so
    // one flood key's failure opens it for every other flood key.
    assert!(keyed.get(&1_000).is_none());
    fail(&keyed.get_or_insert(20_000));
    assert_eq!(keyed.get_or_insert(20_001).state(), State::Open);
    assert_eq!(keyed.overflow().state(), State::Open);
    drop(probe);

    // Once the ramp-up is over (noticed at key 2's next call), key 2 is
    // plainly closed and may make room.
    // (A ramp lasts up to 60 s: 10 s, jittered by up to half, and grown
    // by the trips the breaker remembers.)
    time::advance(Duration::from_secs(121)).await;
    succeed(&keyed.get(&2).unwrap());
    assert!(
        !keyed
            .get(&2)
            .unwrap()
            .snapshot_at(Instant::now())
            .ramping_up
    );
    succeed(&keyed.get_or_insert(30_000));
    assert!(keyed.get(&30_000).is_some(), "a settled slot is reused");
    assert!(keyed.get(&2).is_none());
    assert_eq!(keyed.len(), 5);
}

/// Bytes still allocated after `f`, per the dev-dependency's counter.
fn bytes_kept(f: impl FnOnce()) -> i64 {
    allocation_counter::measure(f).bytes_current
}

fn per_key_bytes(cfg: &BreakerConfig) -> i64 {
    const KEYS: u64 = 1_000;
    let keyed = KeyedBreakers::<u64>::new(cfg.clone(), KEYS as usize).unwrap();
    let bytes = bytes_kept(|| {
        for key in 0..KEYS {
            keyed.get_or_insert(key);
        }
    });
    assert_eq!(keyed.len(), KEYS as usize);
    bytes / KEYS as i64
}

/// The documented cost per key, and a time window's share of it.
#[test]
fn cost_per_key_is_as_documented() {
    let count = per_key_bytes(&builder().build().unwrap());
    let time = per_key_bytes(
        &builder()
            .window(Window::Time {
                length: Duration::from_secs(10),
                buckets: 10,
            })
            .build()
            .unwrap(),
    );
    let small_count = per_key_bytes(
        &builder()
            .window(Window::Count(10))
            .minimum_calls(10)
            .build()
            .unwrap(),
    );
    println!("bytes per key: count(100) {count}, count(10) {small_count}, time(10 buckets) {time}");
    // KeyedBreakers' docs: about 1.1 KiB with the default count window of
    // 100 calls, a byte per call of a count window, 24 per time bucket
    // (which replace the count window's ring: 10 buckets, 240 - 10 bytes).
    assert!((1_000..=1_300).contains(&count), "{count}");
    assert_eq!(
        count - small_count,
        90,
        "one byte per call of a count window"
    );
    // A time window also keeps its clean successes on per-thread counters
    // apart from the lock (a few cache lines).
    assert!(
        (230..=230 + 1_000).contains(&(time - small_count)),
        "{time}"
    );
}

#[test]
fn a_million_unique_keys_stay_within_max_keys() {
    const MAX_KEYS: usize = 1_000;
    let cfg = builder().build().unwrap();
    let per_key = per_key_bytes(&cfg);
    let keyed = KeyedBreakers::<u64>::new(cfg, MAX_KEYS).unwrap();
    let bytes = bytes_kept(|| {
        for key in 0..1_000_000u64 {
            keyed.get_or_insert(key);
        }
    });
    assert_eq!(keyed.len(), MAX_KEYS);
    println!("a million keys: {bytes} bytes kept, {per_key} per key");
    // The map's table may grow a little under churn (deleted slots), never
    // with the number of keys seen.
    let bound = MAX_KEYS as i64 * per_key * 5 / 4 + 65_536;
    assert!(bytes <= bound, "{bytes} bytes kept > {bound}");
}

#[test]
fn a_flood_against_a_full_map_of_open_breakers_allocates_nothing_it_keeps() {
    let keyed = KeyedBreakers::<u64>::new(builder().build().unwrap(), 100).unwrap();
    for key in 0..100 {
        keyed.get_or_insert(key).force_open();
    }
    let _ = keyed.overflow();
    let bytes = bytes_kept(|| {
        for key in 100..100_100u64 {
            keyed.get_or_insert(key);
        }
    });
    assert_eq!(keyed.len(), 100);
    assert!(bytes <= 0, "{bytes} bytes kept");
    assert!((0..100).all(|k| keyed.get(&k).unwrap().state() == State::ForcedOpen));
}
