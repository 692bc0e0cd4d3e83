//! The breaker's instants as signed offsets from its origin.

use super::*;

#[test]
fn nanos_are_exact_and_saturate_past_292_years() {
    assert_eq!(nanos(Duration::new(1, 500)), Some(1_000_000_500));
    assert_eq!(nanos(Duration::ZERO), Some(0));
    let max = Duration::from_nanos(i64::MAX as u64);
    assert_eq!(nanos(max), Some(i64::MAX));
    assert_eq!(nanos(max + Duration::from_nanos(1)), None);
    assert_eq!(nanos(Duration::MAX), None);
}

#[test]
fn is_before_agrees_with_comparing_offsets() {
    let b = Breaker::new(&crate::breaker::BreakerConfig::builder().build().unwrap());
    let origin = b.shared.hot.origin;
    let ms = |n: u64| Duration::from_millis(n);
    let mut instants = vec![origin, origin + ms(1), origin + ms(5_000)];
    instants.extend(origin.checked_sub(ms(3)));
    let untils = [
        i64::MIN + 1,
        -3_000_001,
        -3_000_000,
        -1,
        0,
        1_000_000,
        1_000_001,
        5_000_000_000,
        i64::MAX,
    ];
    for &now in &instants {
        for &until in &untils {
            assert_eq!(
                b.is_before(now, until),
                b.offset(now) < until,
                "now = origin {:+} ns, until = {until}",
                b.offset(now)
            );
        }
    }
}

#[test]
fn offsets_before_the_origin_are_negative() {
    let b = Breaker::new(&crate::breaker::BreakerConfig::builder().build().unwrap());
    let origin = b.shared.hot.origin;
    assert_eq!(b.offset(origin + Duration::from_millis(3)), 3_000_000);
    if let Some(before) = origin.checked_sub(Duration::from_millis(2)) {
        assert_eq!(b.offset(before), -2_000_000);
    }
}
