use std::time::Duration;

use super::*;

fn cfg() -> RatioBudgetBuilder {
    RatioBudget::builder()
}

const E: FailureKind = FailureKind::Error;

#[test]
fn default_config_is_valid() {
    assert!(RatioBudgetBuilder::default().build().is_ok());
    let b = RatioBudget::default();
    assert_eq!(
        (b.ratio(), b.floor(), b.window()),
        (0.1, 0.1, Duration::from_secs(10))
    );
}

#[test]
fn rejects_ratio_outside_unit_interval_or_nan() {
    for r in [f64::NAN, -0.1, 1.01, f64::INFINITY] {
        assert_eq!(cfg().ratio(r).build().unwrap_err().field(), "budget.ratio");
    }
    assert!(cfg().ratio(0.0).build().is_ok());
    assert!(cfg().ratio(1.0).build().is_ok());
}

#[test]
fn rejects_bad_floor() {
    for f in [f64::NAN, -1.0, f64::INFINITY] {
        assert_eq!(cfg().floor(f).build().unwrap_err().field(), "budget.floor");
    }
}

#[test]
fn rejects_zero_window() {
    let err = cfg().window(Duration::ZERO).build().unwrap_err();
    assert_eq!(err.field(), "budget.window");
}

#[test]
fn rejects_zero_buckets() {
    assert_eq!(
        cfg().buckets(0).build().unwrap_err().field(),
        "budget.buckets"
    );
}

#[test]
fn rejects_more_buckets_than_a_thousand_instead_of_allocating_them() {
    let long = Duration::from_secs(86_400);
    // u32::MAX buckets used to allocate 64 GiB and abort the process.
    let err = cfg().window(long).buckets(u32::MAX).build().unwrap_err();
    assert_eq!(err.field(), "budget.buckets");
    assert!(cfg().window(long).buckets(1_000).build().is_ok());
    assert!(cfg().window(long).buckets(1_001).build().is_err());
}

#[test]
fn rejects_window_shorter_than_its_buckets() {
    let err = cfg()
        .window(Duration::from_millis(5))
        .buckets(10)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "budget.window");
    assert!(
        cfg()
            .window(Duration::from_millis(10))
            .buckets(10)
            .build()
            .is_ok()
    );
}

#[test]
fn fractional_ratio_is_counted_exactly() {
    // tower's TpsBudget turns 0.3 into "one retry per 3 requests" and grants
    // 33 retries for 100 requests; the exact answer is 30.
    let b = cfg().ratio(0.3).floor(0.0).build().unwrap();
    let now = Instant::now();
    for _ in 0..100 {
        b.on_request_at(now);
    }
    let granted = (0..100).filter(|_| b.try_retry_at(E, now).is_ok()).count();
    assert_eq!(granted, 30);
}

#[test]
fn fast_path_deposits_are_filed_when_a_retry_is_asked() {
    let b = cfg()
        .ratio(0.1)
        .floor(0.0)
        .window(Duration::from_secs(3600))
        .build()
        .unwrap();
    for _ in 0..1_000 {
        b.on_request();
    }
    let granted = (0..200).filter(|_| b.try_retry(E).is_ok()).count();
    assert_eq!(granted, 100);
    let s = b.snapshot();
    assert_eq!((s.requests, s.granted, s.refused), (1_000, 100, 100));
}

#[test]
fn floor_allows_retries_without_requests_and_refills_each_window() {
    let b = cfg().floor(0.5).build().unwrap(); // 5 per 10 s window
    let t0 = Instant::now();
    let granted = (0..10).filter(|_| b.try_retry_at(E, t0).is_ok()).count();
    assert_eq!(granted, 5);
    assert!(b.try_retry_at(E, t0 + Duration::from_secs(9)).is_err());
    let later = t0 + Duration::from_secs(11);
    assert_eq!(
        (0..10).filter(|_| b.try_retry_at(E, later).is_ok()).count(),
        5
    );
}

#[test]
fn credit_expires_after_the_window() {
    let b = cfg().ratio(1.0).floor(0.0).build().unwrap();
    let t0 = Instant::now();
    for _ in 0..5 {
        b.on_request_at(t0);
    }
    assert_eq!(b.snapshot_at(t0 + Duration::from_secs(9)).available, 5.0);
    assert!(b.try_retry_at(E, t0 + Duration::from_secs(11)).is_err());
}

#[test]
fn budget_refills_after_a_storm() {
    let b = cfg().build().unwrap();
    let t0 = Instant::now();
    // Storm: every request fails and asks for a retry.
    let mut t = t0;
    for _ in 0..600 {
        b.on_request_at(t);
        let _ = b.try_retry_at(E, t);
        t += Duration::from_millis(100);
    }
    assert!(b.snapshot_at(t).refused > 0);
    // Calm: 100 successful requests over 10 s earn 10 retries, plus the floor.
    for _ in 0..100 {
        b.on_request_at(t);
        t += Duration::from_millis(100);
    }
    assert!(b.snapshot_at(t).available >= 10.0);
}

#[test]
fn cancel_gives_back_a_withdrawal() {
    let b = cfg().floor(0.1).build().unwrap();
    let now = Instant::now();
    let receipt = b.try_retry_at(E, now).unwrap();
    assert!(b.try_retry_at(E, now).is_err());
    b.cancel_retry_at(receipt, now);
    let s = b.snapshot_at(now);
    assert_eq!((s.granted, s.cancelled, s.available), (0, 1, 1.0));
}

#[test]
fn a_cancel_after_its_withdrawal_expired_keeps_the_live_ones() {
    let b = cfg().floor(0.1).build().unwrap(); // one per 10 s window
    let t0 = Instant::now();
    let old = b.try_retry_at(E, t0).unwrap();
    let t1 = t0 + Duration::from_secs(10);
    let live = b.try_retry_at(E, t1).unwrap();
    b.cancel_retry_at(old, t1 + Duration::from_secs(2));
    let s = b.snapshot_at(t1 + Duration::from_secs(2));
    assert_eq!((s.granted, s.cancelled, s.available), (1, 1, 0.0));
    assert!(b.try_retry_at(E, t1 + Duration::from_secs(2)).is_err());
    b.cancel_retry_at(live, t1 + Duration::from_secs(2));
    assert!(b.try_retry_at(E, t1 + Duration::from_secs(2)).is_ok());
}

#[test]
fn clones_share_one_budget() {
    let a = cfg().floor(0.1).build().unwrap();
    let b = a.clone();
    a.try_retry(E).unwrap();
    assert!(b.try_retry(E).is_err());
    assert_eq!(b.snapshot().granted, 1);
}

#[test]
fn many_threads_sharing_one_budget_are_exact() {
    // One long window, so the bound is exactly floor + ratio × requests.
    let b = cfg()
        .ratio(0.1)
        .floor(1.0)
        .window(Duration::from_secs(3600))
        .build()
        .unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let b = b.clone();
            std::thread::spawn(move || {
                let mut granted = 0u64;
                for j in 0..5_000u64 {
                    b.on_request();
                    if (i + j) % 4 == 0 && b.try_retry(E).is_ok() {
                        granted += 1;
                    }
                }
                granted
            })
        })
        .collect();
    let during: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    // Drain what is left: the total must be exactly 3600 + 0.1 × 40_000.
    let after = (0..10_000).filter(|_| b.try_retry(E).is_ok()).count() as u64;
    assert!(during <= 3_600 + 4_000);
    assert_eq!(during + after, 7_600);
    let s = b.snapshot();
    assert_eq!((s.requests, s.granted), (40_000, 7_600));
}

#[test]
fn debug_shows_configuration() {
    let text = format!("{:?}", RatioBudget::default());
    assert!(text.contains("ratio: 0.1"), "{text}");
}
