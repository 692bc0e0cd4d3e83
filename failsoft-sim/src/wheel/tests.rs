use super::*;

fn fired(wheel: &mut Wheel<u32>, until: u64) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    wheel.advance(until, |_, ms, item| out.push((ms, item)));
    out
}

#[test]
fn timers_fire_by_millisecond_then_in_the_order_set() {
    let mut wheel = Wheel::new(8, 2);
    wheel.set(5, 1);
    wheel.set(3, 2);
    wheel.set(5, 3);
    assert_eq!(fired(&mut wheel, 4), vec![(3, 2)]);
    assert_eq!(fired(&mut wheel, 10), vec![(5, 1), (5, 3)]);
    assert!(fired(&mut wheel, 20).is_empty());
}

#[test]
fn timers_beyond_the_span_wait_and_fire_on_time() {
    let mut wheel = Wheel::new(4, 2);
    wheel.set(1_000, 7);
    wheel.set(2, 8);
    assert_eq!(fired(&mut wheel, 999), vec![(2, 8)]);
    assert_eq!(fired(&mut wheel, 1_000), vec![(1_000, 7)]);
}

#[test]
fn a_timer_set_while_firing_fires_when_due() {
    let mut wheel = Wheel::<u32>::new(16, 3);
    wheel.set(1, 0);
    let mut out = Vec::new();
    wheel.advance(5, |w, ms, item| {
        out.push((ms, item));
        if item < 3 {
            // Once at the same millisecond, then two later.
            w.set(ms + u64::from(item), item + 1);
        }
    });
    assert_eq!(out, vec![(1, 0), (1, 1), (2, 2), (4, 3)]);
}

#[test]
fn peeking_and_popping_take_timers_one_at_a_time_in_firing_order() {
    let mut wheel = Wheel::new(16, 4);
    wheel.set(7, 1);
    wheel.set(2, 2);
    wheel.set(7, 3);
    assert_eq!(wheel.peek(1), None);
    assert_eq!(wheel.peek(6), Some((2, 2)));
    assert_eq!(wheel.pop(6), Some((2, 2)));
    assert_eq!(wheel.pop(6), None);
    // Set after 2 fired, for a millisecond already passed: due at 2.
    wheel.set(1, 4);
    assert_eq!(wheel.pop(6), Some((2, 4)));
    assert_eq!(wheel.pop(9), Some((7, 1)));
    assert_eq!(wheel.pop(9), Some((7, 3)));
    assert_eq!(wheel.pop(9), None);
}

#[test]
fn a_timer_from_beyond_the_span_fires_before_a_later_set_one_of_its_millisecond() {
    let mut wheel = Wheel::new(4, 2);
    wheel.set(100, 1);
    assert!(fired(&mut wheel, 95).is_empty());
    // Now within the ring's span: set after the first, fires after it.
    wheel.set(100, 2);
    wheel.set(99, 3);
    assert_eq!(fired(&mut wheel, 100), vec![(99, 3), (100, 1), (100, 2)]);
}

#[test]
fn random_timers_fire_by_millisecond_then_in_the_order_set() {
    use failsoft::rng::Rng;
    use std::collections::BTreeSet;
    let mut rng = Rng::from_seed(17);
    let mut wheel = Wheel::new(300, 100);
    // The model: every timer as (millisecond, order set, item).
    let mut model = BTreeSet::new();
    let (mut next, mut count, mut order) = (0u64, 0u32, 0u32);
    let mut until = 0;
    for _ in 0..400 {
        for _ in 0..(rng.next_u64() % 20) {
            let ms = until + rng.next_u64() % 1_000;
            wheel.set(ms, count);
            model.insert((ms.max(next), order, count));
            (count, order) = (count + 1, order + 1);
        }
        until += rng.next_u64() % 150;
        let mut seen = Vec::new();
        wheel.advance(until, |w, ms, item| {
            seen.push((ms, item));
            // Some timers set more, due at once or soon.
            if item % 3 == 0 {
                w.set(ms + u64::from(item % 5), item + 1_000_000);
            }
        });
        let mut want = Vec::new();
        while let Some(&(ms, _, item)) = model.first().filter(|e| e.0 <= until) {
            model.pop_first();
            next = ms;
            want.push((ms, item));
            if item % 3 == 0 {
                let at = (ms + u64::from(item % 5)).max(next);
                model.insert((at, order, item + 1_000_000));
                order += 1;
            }
        }
        next = until + 1;
        assert_eq!(seen, want, "until {until}");
    }
    assert!(count > 3_000, "{count} timers");
}

#[test]
fn whole_milliseconds_round_up() {
    assert_eq!(ms_ceil(Duration::ZERO), 0);
    assert_eq!(ms_ceil(Duration::from_nanos(1)), 1);
    assert_eq!(ms_ceil(Duration::from_millis(5_000)), 5_000);
    assert_eq!(ms_ceil(Duration::new(2, 1_000_001)), 2_002);
    assert_eq!(ms_ceil(Duration::MAX), u64::MAX);
}

#[test]
fn a_query_far_ahead_skips_empty_buckets_at_once() {
    let mut wheel = Wheel::new(1_000, 64);
    wheel.set(5, 1);
    // Bucket by bucket, these would take billions of steps.
    assert_eq!(wheel.pop(u64::MAX / 2), Some((5, 1)));
    assert_eq!(wheel.pop(u64::MAX / 2), None);
    wheel.set(1 << 40, 2);
    wheel.set((1 << 40) + 3, 3);
    assert_eq!(wheel.pop(u64::MAX / 2), Some((1 << 40, 2)));
    // Set near the new position, in the ring again.
    wheel.set((1 << 40) + 1, 4);
    assert_eq!(
        fired(&mut wheel, u64::MAX / 2),
        vec![((1 << 40) + 1, 4), ((1 << 40) + 3, 3)]
    );
}

#[test]
fn a_timer_in_the_past_fires_next() {
    let mut wheel = Wheel::new(16, 4);
    assert!(fired(&mut wheel, 9).is_empty());
    wheel.set(3, 1);
    assert_eq!(fired(&mut wheel, 10), vec![(10, 1)]);
}
