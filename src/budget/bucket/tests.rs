use super::*;

fn cfg() -> TokenBucketBuilder {
    TokenBucket::builder()
}

#[test]
fn default_config_is_valid() {
    assert!(TokenBucketBuilder::default().build().is_ok());
    assert!(cfg().build().is_ok());
}

#[test]
fn presets_are_valid_configurations() {
    assert!(TokenBucketBuilder::AWS_STANDARD.build().is_ok());
    assert!(TokenBucketBuilder::AWS_STANDARD_2026.build().is_ok());
    assert!(TokenBucketBuilder::FIXED_REFUND.build().is_ok());
    assert!(TokenBucketBuilder::GRPC.build().is_ok());
}

#[test]
fn rejects_bad_amounts_naming_the_field() {
    let cases = [
        (cfg().capacity(f64::NAN), "budget.capacity"),
        (cfg().capacity(-1.0), "budget.capacity"),
        (cfg().capacity(f64::INFINITY), "budget.capacity"),
        (cfg().capacity(1e13), "budget.capacity"),
        (cfg().error_cost(f64::NAN), "budget.error_cost"),
        (cfg().timeout_cost(-0.5), "budget.timeout_cost"),
        (cfg().throttle_cost(f64::INFINITY), "budget.throttle_cost"),
        (cfg().refund(f64::NAN), "budget.refund"),
        (cfg().refund(1e-7), "budget.refund"),
    ];
    for (builder, field) in cases {
        assert_eq!(builder.build().unwrap_err().field(), field, "{builder:?}");
    }
}

#[test]
fn zero_and_millionth_refunds_are_accepted() {
    assert!(cfg().refund(0.0).build().is_ok());
    assert!(cfg().refund(1e-6).build().is_ok());
}

#[test]
fn zero_capacity_is_accepted_and_grants_no_paid_retry() {
    // AWS published case: "No retries at all if retry quota is 0".
    let b = cfg().capacity(0.0).build().unwrap();
    for kind in [
        FailureKind::Error,
        FailureKind::Timeout,
        FailureKind::Throttled,
    ] {
        assert!(b.try_retry(kind).is_err());
    }
    assert_eq!(b.snapshot().tokens, 0.0);
    let free = cfg()
        .capacity(0.0)
        .error_cost(0.0)
        .timeout_cost(0.0)
        .throttle_cost(0.0);
    assert!(free.build().unwrap().try_retry(FailureKind::Error).is_ok());
}

#[test]
fn a_capacity_below_a_cost_is_accepted_and_refills_by_successes() {
    let b = cfg().capacity(8.0).build().unwrap();
    assert!(b.try_retry(FailureKind::Timeout).is_err(), "10 > 8");
    b.try_retry(FailureKind::Error).unwrap();
    assert_eq!(b.snapshot().tokens, 3.0);
    for _ in 0..10 {
        b.on_success(false);
    }
    assert_eq!(b.snapshot().tokens, 8.0, "never above capacity");
    assert!(b.try_retry(FailureKind::Timeout).is_err());
}

#[test]
fn rejects_keep_above_outside_the_bucket() {
    for k in [f64::NAN, -1.0, 500.0, 600.0] {
        let err = cfg().keep_above(k).build().unwrap_err();
        assert_eq!(err.field(), "budget.keep_above");
    }
}

#[test]
fn aws_preset_charges_by_failure_kind() {
    let b = TokenBucket::aws_standard();
    b.try_retry(FailureKind::Error).unwrap();
    b.try_retry(FailureKind::Timeout).unwrap();
    b.try_retry(FailureKind::Throttled).unwrap();
    assert_eq!(b.snapshot().tokens, 480.0);
    assert_eq!(b.snapshot().granted, 3);
}

#[test]
fn aws_preset_grants_exactly_one_hundred_retries_without_successes() {
    let b = TokenBucket::aws_standard();
    let granted = (0..1000)
        .filter(|_| b.try_retry(FailureKind::Error).is_ok())
        .count();
    assert_eq!(granted, 100);
    let s = b.snapshot();
    assert_eq!((s.tokens, s.refused), (0.0, 900));
}

#[test]
fn refused_retries_cost_nothing_unless_charging_failures() {
    let b = cfg().capacity(10.0).build().unwrap();
    b.try_retry(FailureKind::Error).unwrap();
    b.try_retry(FailureKind::Error).unwrap();
    assert!(b.try_retry(FailureKind::Error).is_err());
    b.on_success(false);
    assert_eq!(b.snapshot().tokens, 1.0);
}

#[test]
fn grpc_preset_stops_at_half_and_refills_by_tenths() {
    let b = TokenBucket::grpc();
    let granted = (0..10)
        .filter(|_| b.try_retry(FailureKind::Error).is_ok())
        .count();
    assert_eq!(granted, 4);
    // Every failure was charged, down to zero.
    assert_eq!(b.snapshot().tokens, 0.0);
    // 61 successes bring it to 6.1: above half after paying 1? 5.1 > 5, yes.
    for _ in 0..60 {
        b.on_success(false);
    }
    assert!(
        b.try_retry(FailureKind::Error).is_err(),
        "6.0 - 1 = 5 is not above half"
    );
    for _ in 0..11 {
        b.on_success(true);
    }
    assert_eq!(b.snapshot().tokens, 6.1);
    assert!(b.try_retry(FailureKind::Error).is_ok());
}

#[test]
fn refunds_never_exceed_capacity() {
    let b = cfg().capacity(10.0).refund(3.0).build().unwrap();
    b.try_retry(FailureKind::Error).unwrap();
    for _ in 0..5 {
        b.on_success(false);
    }
    assert_eq!(b.snapshot().tokens, 10.0);
}

#[test]
fn cancel_gives_the_cost_back_once() {
    let b = TokenBucket::aws_standard();
    let receipt = b.try_retry(FailureKind::Timeout).unwrap();
    b.cancel_retry(receipt);
    let s = b.snapshot();
    assert_eq!((s.tokens, s.granted, s.cancelled), (500.0, 0, 1));
}

#[test]
fn grpc_cancel_keeps_the_failure_charge() {
    let b = TokenBucket::grpc();
    let receipt = b.try_retry(FailureKind::Error).unwrap();
    b.cancel_retry(receipt);
    assert_eq!(b.snapshot().tokens, 9.0);
}

#[test]
fn clones_share_one_bucket() {
    let a = TokenBucket::aws_standard();
    let b = a.clone();
    a.try_retry(FailureKind::Error).unwrap();
    assert_eq!(b.snapshot().tokens, 495.0);
}

#[test]
fn many_threads_never_overdraw() {
    let b = cfg().capacity(1000.0).build().unwrap();
    let granted = std::sync::Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (b, granted) = (b.clone(), granted.clone());
            std::thread::spawn(move || {
                for j in 0..2_000u64 {
                    if b.try_retry(FailureKind::Error).is_ok() {
                        granted.fetch_add(1, Ordering::Relaxed);
                    }
                    if (i + j) % 7 == 0 {
                        b.on_success(false);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = b.snapshot();
    assert!(s.tokens <= 1000.0);
    // Every token granted was either there at the start or refunded.
    let refunded_at_most = (8 * 2_000 / 7 + 8) as f64;
    let granted = granted.load(Ordering::Relaxed);
    assert_eq!(granted, s.granted);
    assert!(granted as f64 * 5.0 <= 1000.0 + refunded_at_most - s.tokens);
    assert_eq!(s.granted + s.refused, 16_000);
}

#[test]
fn aws_success_after_retries_returns_the_last_retry_cost() {
    let b = TokenBucket::aws_standard();
    b.try_retry(FailureKind::Error).unwrap();
    b.try_retry(FailureKind::Timeout).unwrap();
    assert_eq!(b.snapshot().tokens, 485.0);
    b.on_success_after(Some(FailureKind::Timeout));
    assert_eq!(
        b.snapshot().tokens,
        495.0,
        "the timeout retry's 10 came back"
    );
    b.on_success_after(None);
    assert_eq!(b.snapshot().tokens, 496.0, "no-retry increment");
    // Without the kind, a retried success counts as an error retry.
    b.try_retry(FailureKind::Error).unwrap();
    b.on_success(true);
    assert_eq!(b.snapshot().tokens, 496.0);
}

#[test]
fn aws_2026_costs_fourteen_and_five_for_throttles() {
    let b = TokenBucket::aws_standard_2026();
    b.try_retry(FailureKind::Error).unwrap();
    b.try_retry(FailureKind::Timeout).unwrap();
    b.try_retry(FailureKind::Throttled).unwrap();
    assert_eq!(b.snapshot().tokens, 500.0 - 14.0 - 14.0 - 5.0);
    b.on_success_after(Some(FailureKind::Throttled));
    assert_eq!(b.snapshot().tokens, 472.0);
}

#[test]
fn fixed_refund_returns_one_whatever_the_retry_cost() {
    let b = TokenBucket::fixed_refund();
    b.try_retry(FailureKind::Timeout).unwrap();
    b.on_success_after(Some(FailureKind::Timeout));
    assert_eq!(b.snapshot().tokens, 491.0);
}

#[test]
fn final_failures_cost_only_buckets_that_count_failures() {
    let aws = TokenBucket::aws_standard();
    aws.on_final_failure(FailureKind::Timeout);
    assert_eq!(aws.snapshot().tokens, 500.0);
    let grpc = TokenBucket::grpc();
    for _ in 0..12 {
        grpc.on_final_failure(FailureKind::Error);
    }
    assert_eq!(grpc.snapshot().tokens, 0.0, "never below zero");
    assert_eq!(grpc.snapshot().granted + grpc.snapshot().refused, 0);
}
