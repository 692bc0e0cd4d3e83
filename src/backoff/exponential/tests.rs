use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::rng::Rng;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn backoff(jitter: Jitter) -> ExponentialBackoff {
    ExponentialBackoff::builder()
        .base(ms(100))
        .max(ms(10_000))
        .jitter(jitter)
        .build()
        .unwrap()
}

#[test]
fn default_config_is_valid() {
    assert_eq!(
        ExponentialBackoff::builder().build(),
        Ok(ExponentialBackoff::default())
    );
}

#[test]
fn no_jitter_doubles_up_to_the_cap() {
    let b = backoff(Jitter::None);
    let delays: Vec<Duration> = b.schedule_seeded(0).take(10).collect();
    let want: Vec<Duration> = [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
        .into_iter()
        .map(ms)
        .collect();
    assert_eq!(delays, want);
}

#[test]
fn full_jitter_mean_is_half_the_ceiling() {
    let b = backoff(Jitter::Full);
    let mut rng = Rng::from_seed(1);
    let n = 10_000;
    let ceiling = b.ceiling(3).as_secs_f64();
    let mut sum = 0.0;
    for _ in 0..n {
        let d = b.delay(3, Duration::ZERO, &mut rng).as_secs_f64();
        assert!(d < ceiling + 1e-9);
        sum += d;
    }
    let mean = sum / f64::from(n);
    // Standard error of U(0, c) over 10,000 draws is c / sqrt(12 * 10_000).
    assert!(
        (mean - ceiling / 2.0).abs() < 0.02 * ceiling,
        "mean {mean} vs {}",
        ceiling / 2.0
    );
}

#[test]
fn equal_jitter_stays_in_upper_half() {
    let b = backoff(Jitter::Equal);
    let mut rng = Rng::from_seed(2);
    let mut sum = 0.0;
    for _ in 0..10_000 {
        let d = b.delay(4, Duration::ZERO, &mut rng);
        assert!(d >= b.ceiling(4) / 2 && d <= b.ceiling(4), "{d:?}");
        sum += d.as_secs_f64();
    }
    let mean = sum / 10_000.0;
    let want = 0.75 * b.ceiling(4).as_secs_f64();
    assert!((mean - want).abs() < 0.02 * want, "mean {mean} want {want}");
}

#[test]
fn decorrelated_follows_brooker_formula() {
    let b = backoff(Jitter::Decorrelated);
    let mut rng = Rng::from_seed(3);
    let mut previous = Duration::ZERO;
    let mut saw_growth = false;
    for retry in 0..200 {
        let d = b.delay(retry, previous, &mut rng);
        let prev = if previous.is_zero() {
            b.base()
        } else {
            previous
        };
        let upper = (prev * 3).min(b.max());
        assert!(d >= b.base().min(upper), "retry {retry}: {d:?} below base");
        assert!(d <= upper, "retry {retry}: {d:?} above {upper:?}");
        saw_growth |= d > prev;
        previous = d;
    }
    assert!(saw_growth);
}

#[test]
fn decorrelated_uses_previous_delay_not_attempt_number() {
    let b = backoff(Jitter::Decorrelated);
    // With previous = 2 s the draw is in [base, 6 s), whatever the retry index.
    let mut rng = Rng::from_seed(4);
    let mut above_first_ceiling = 0;
    for _ in 0..1_000 {
        let d = b.delay(0, Duration::from_secs(2), &mut rng);
        assert!(d < Duration::from_secs(6));
        if d > ms(300) {
            above_first_ceiling += 1;
        }
    }
    assert!(above_first_ceiling > 900);
}

#[test]
fn huge_attempt_numbers_saturate_at_the_cap() {
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        let b = ExponentialBackoff::builder()
            .base(Duration::from_secs(1))
            .max(Duration::MAX)
            .multiplier(1e300)
            .jitter(jitter)
            .build()
            .unwrap();
        let mut rng = Rng::from_seed(5);
        for retry in [1_000_000, u32::MAX - 1, u32::MAX] {
            let d = b.delay(retry, Duration::MAX, &mut rng);
            assert!(d <= b.max());
        }
        assert_eq!(b.ceiling(1_000_000), Duration::MAX);
    }
}

#[test]
fn max_attempts_bounds_the_schedule() {
    let b = ExponentialBackoff::builder()
        .max_attempts(4)
        .build()
        .unwrap();
    assert_eq!(b.schedule_seeded(1).count(), 3);
    let b = ExponentialBackoff::builder()
        .max_attempts(1)
        .build()
        .unwrap();
    assert_eq!(b.schedule_seeded(1).count(), 0);
}

#[test]
fn max_elapsed_bounds_the_sum_of_delays() {
    let b = ExponentialBackoff::builder()
        .jitter(Jitter::None)
        .max_elapsed(ms(1_000))
        .build()
        .unwrap();
    // 100 + 200 + 400 = 700; the next (800) would pass 1 s.
    let delays: Vec<Duration> = b.schedule_seeded(1).collect();
    assert_eq!(delays, vec![ms(100), ms(200), ms(400)]);
    let mut s = b.schedule_seeded(1);
    s.by_ref().for_each(drop);
    assert_eq!(s.next_delay(), None, "an ended schedule stays ended");
}

#[test]
fn seeds_reproduce_and_differ() {
    let b = backoff(Jitter::Full);
    let a: Vec<_> = b.schedule_seeded(10).take(8).collect();
    let same: Vec<_> = b.schedule_seeded(10).take(8).collect();
    let other: Vec<_> = b.schedule_seeded(11).take(8).collect();
    assert_eq!(a, same);
    assert_ne!(a, other);
}

#[test]
fn config_errors_name_the_field() {
    let cases = [
        (
            ExponentialBackoff::builder().base(Duration::ZERO),
            "backoff.base",
        ),
        (
            ExponentialBackoff::builder().base(ms(10)).max(ms(5)),
            "backoff.max",
        ),
        (
            ExponentialBackoff::builder().multiplier(f64::NAN),
            "backoff.multiplier",
        ),
        (
            ExponentialBackoff::builder().multiplier(f64::INFINITY),
            "backoff.multiplier",
        ),
        (
            ExponentialBackoff::builder().multiplier(0.5),
            "backoff.multiplier",
        ),
        (
            ExponentialBackoff::builder().max_attempts(0),
            "backoff.max_attempts",
        ),
        (
            ExponentialBackoff::builder().max_elapsed(Duration::ZERO),
            "backoff.max_elapsed",
        ),
    ];
    for (builder, field) in cases {
        assert_eq!(builder.build().unwrap_err().field(), field);
    }
}

fn any_jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
    ]
}

proptest! {
    #[test]
    fn no_delay_ever_exceeds_the_cap(
        base_ms in 1u64..10_000,
        extra_ms in 0u64..100_000,
        multiplier in 1.0f64..50.0,
        jitter in any_jitter(),
        seed in any::<u64>(),
        retry in any::<u32>(),
        previous_ms in any::<u64>(),
    ) {
        let b = ExponentialBackoff::builder()
            .base(ms(base_ms))
            .max(ms(base_ms + extra_ms))
            .multiplier(multiplier)
            .jitter(jitter)
            .build()
            .unwrap();
        let mut rng = Rng::from_seed(seed);
        let d = b.delay(retry, ms(previous_ms), &mut rng);
        prop_assert!(d <= b.max());
        prop_assert!(d <= b.ceiling(retry) || jitter == Jitter::Decorrelated);
        if jitter == Jitter::None {
            prop_assert_eq!(d, b.ceiling(retry));
        }
    }

    #[test]
    fn schedules_stay_within_cap_and_limits(
        jitter in any_jitter(),
        seed in any::<u64>(),
        attempts in 1u32..30,
    ) {
        let b = ExponentialBackoff::builder()
            .base(ms(50))
            .max(ms(2_000))
            .jitter(jitter)
            .max_attempts(attempts)
            .build()
            .unwrap();
        let delays: Vec<_> = b.schedule_seeded(seed).collect();
        prop_assert_eq!(delays.len() as u32, attempts - 1);
        prop_assert!(delays.iter().all(|d| *d <= ms(2_000)));
    }
}
