//! gRFC A6 ("gRPC Retry Design", grpc/proposal `A6-client-retries.md`),
//! rule by rule, through the real retry layer, `TokenBucket::grpc()` and
//! `GrpcCodes`, on paused time. Each case quotes the sentence it checks.

use std::collections::VecDeque;
use std::future::{Ready, ready};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::backoff::{ExponentialBackoff, Jitter};
use failsoft::budget::{RetryBudget, TokenBucket};
use failsoft::classify::{FailureKind, GrpcCodes, Verdict};
use failsoft::retry::{RetryLayer, StopReason};
use tokio::time::Instant;
use tower::{Layer, Service};

const OK: i32 = 0;
const INVALID_ARGUMENT: i32 = 3;
const UNAVAILABLE: i32 = 14;

/// One attempt's end: status code and `grpc-retry-pushback-ms`, if sent.
type Status = (i32, Option<&'static str>);

#[derive(Clone)]
struct Server {
    replies: Arc<Mutex<VecDeque<Status>>>,
    calls: Arc<Mutex<Vec<Instant>>>,
}

impl Service<()> for Server {
    type Response = Status;
    type Error = BoxError;
    type Future = Ready<Result<Status, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (): ()) -> Self::Future {
        self.calls.lock().unwrap().push(Instant::now());
        let reply = self.replies.lock().unwrap().pop_front();
        ready(reply.ok_or_else(|| "script ran out".into()))
    }
}

/// `retryableStatusCodes: ["UNAVAILABLE"]`, as in the gRFC's example.
fn classify(_: &(), res: &Result<Status, BoxError>) -> Verdict {
    let codes = GrpcCodes::new().with(GrpcCodes::UNAVAILABLE);
    match res {
        Ok((code, pushback)) => codes.verdict(*code, *pushback),
        Err(_) => Verdict::fatal(),
    }
}

/// What one logical RPC did.
#[derive(Debug, PartialEq)]
struct Run {
    /// Offsets of the attempts from the first, in ms.
    at_ms: Vec<u64>,
    stop: StopReason,
    /// Throttle tokens afterwards.
    tokens: f64,
}

/// One RPC with `maxAttempts` 4, backoff 100 ms × 2 without jitter (so
/// delays are exact), on `bucket`.
async fn rpc(bucket: &TokenBucket, replies: &[Status], deadline: Option<Duration>) -> Run {
    let server = Server {
        replies: Arc::new(Mutex::new(replies.iter().copied().collect())),
        calls: Arc::default(),
    };
    let backoff = ExponentialBackoff::builder()
        .base(Duration::from_millis(100))
        .max(Duration::from_secs(10))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let builder = RetryLayer::builder()
        .max_attempts(4)
        .backoff(backoff)
        .max_hint(Duration::from_secs(30))
        .classify(classify as fn(&(), &Result<Status, BoxError>) -> Verdict)
        .budget(bucket.clone())
        .seed(7);
    let builder = match deadline {
        Some(d) => builder.deadline(d),
        None => builder,
    };
    let mut svc = builder.build().unwrap().layer(server.clone());
    let mut fut = pin!(svc.call(()));
    let _ = fut.as_mut().await;
    let calls = server.calls.lock().unwrap();
    Run {
        at_ms: calls
            .iter()
            .map(|t| (*t - calls[0]).as_millis() as u64)
            .collect(),
        stop: fut.stop_reason().unwrap(),
        tokens: bucket.snapshot().tokens,
    }
}

/// A gRPC throttle with `tokens` left (each failure reported takes 1).
fn bucket_at(tokens: u32) -> TokenBucket {
    let b = TokenBucket::grpc();
    for _ in tokens..10 {
        b.on_final_failure(FailureKind::Error);
    }
    assert_eq!(b.snapshot().tokens, f64::from(tokens));
    b
}

struct Case {
    rule: &'static str,
    tokens: u32,
    replies: &'static [Status],
    at_ms: &'static [u64],
    stop: StopReason,
    tokens_after: f64,
}

const UNAV: Status = (UNAVAILABLE, None);

const CASES: &[Case] = &[
    Case {
        rule: "Every failed RPC will decrement the token_count by 1 \
               (the last attempt's failure included)",
        tokens: 10,
        replies: &[UNAV, UNAV, UNAV, UNAV],
        at_ms: &[0, 100, 300, 700],
        stop: StopReason::AttemptsExhausted,
        tokens_after: 6.0,
    },
    Case {
        rule: "Every successful RPC will increment the token_count by tokenRatio",
        tokens: 7,
        replies: &[UNAV, (OK, None)],
        at_ms: &[0, 100],
        stop: StopReason::Succeeded,
        tokens_after: 6.1,
    },
    Case {
        rule: "If token_count is less than or equal to the threshold, defined \
               to be (maxTokens / 2), then RPCs will not be retried",
        tokens: 6,
        replies: &[UNAV],
        at_ms: &[0],
        stop: StopReason::Budget(failsoft::budget::BudgetRefused::new(
            "token bucket at or below its threshold",
        )),
        tokens_after: 5.0,
    },
    Case {
        rule: "... until token_count rises over the threshold (7 - 1 = 6 > 5: retried)",
        tokens: 7,
        replies: &[UNAV, UNAV],
        at_ms: &[0, 100],
        stop: StopReason::Budget(failsoft::budget::BudgetRefused::new(
            "token bucket at or below its threshold",
        )),
        tokens_after: 5.0,
    },
    Case {
        rule: "can take values between 0 and maxTokens (never below 0)",
        tokens: 0,
        replies: &[UNAV],
        at_ms: &[0],
        stop: StopReason::Budget(failsoft::budget::BudgetRefused::new(
            "token bucket at or below its threshold",
        )),
        tokens_after: 0.0,
    },
    Case {
        rule: "The only RPCs that are counted as failures ... are RPCs that fail \
               with a status code that qualifies as a retryable ... (not INVALID_ARGUMENT)",
        tokens: 10,
        replies: &[(INVALID_ARGUMENT, None)],
        at_ms: &[0],
        stop: StopReason::NonRetryable,
        tokens_after: 10.0,
    },
    Case {
        rule: "..., or that receive a pushback response indicating not to retry \
               (counted even with a fatal status)",
        tokens: 10,
        replies: &[(INVALID_ARGUMENT, Some("-1"))],
        at_ms: &[0],
        stop: StopReason::DoNotRetry,
        tokens_after: 9.0,
    },
    Case {
        rule: "Pushback: Retry in n ms (exactly n, not the backoff's 100 ms)",
        tokens: 10,
        replies: &[(UNAVAILABLE, Some("250")), (OK, None)],
        at_ms: &[0, 250],
        stop: StopReason::Succeeded,
        tokens_after: 9.1,
    },
    Case {
        rule: "Pushback of 0 ms: retry at once, even though the backoff would wait",
        tokens: 10,
        replies: &[UNAV, (UNAVAILABLE, Some("0")), (OK, None)],
        at_ms: &[0, 100, 100],
        stop: StopReason::Succeeded,
        tokens_after: 8.1,
    },
    Case {
        rule: "If this attempt also fails, retry delay will reset to initial \
               backoff for the following retry (100 ms, not 400 ms)",
        tokens: 10,
        replies: &[UNAV, (UNAVAILABLE, Some("50")), UNAV, (OK, None)],
        at_ms: &[0, 100, 150, 250],
        stop: StopReason::Succeeded,
        tokens_after: 7.1,
    },
    Case {
        rule: "If the value for pushback is negative ... it will be seen as the \
               server asking the client not to retry at all",
        tokens: 10,
        replies: &[(UNAVAILABLE, Some("-5"))],
        at_ms: &[0],
        stop: StopReason::DoNotRetry,
        tokens_after: 9.0,
    },
    Case {
        rule: "If the value for pushback is ... unparseble, then it will be seen as \
               the server asking the client not to retry at all",
        tokens: 10,
        replies: &[(UNAVAILABLE, Some("soon"))],
        at_ms: &[0],
        stop: StopReason::DoNotRetry,
        tokens_after: 9.0,
    },
    Case {
        rule: "an ASCII encoded signed 32-bit integer: 2^31 is unparseable",
        tokens: 10,
        replies: &[(UNAVAILABLE, Some("2147483648"))],
        at_ms: &[0],
        stop: StopReason::DoNotRetry,
        tokens_after: 9.0,
    },
    Case {
        rule: "If the client has already exhausted its maxAttempts, the call will \
               not be retried even if the server says to retry after a given delay",
        tokens: 10,
        replies: &[UNAV, UNAV, UNAV, (UNAVAILABLE, Some("10"))],
        at_ms: &[0, 100, 300, 700],
        stop: StopReason::AttemptsExhausted,
        tokens_after: 6.0,
    },
];

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_rule_of_the_grfc_holds() {
    let mut failures = Vec::new();
    for case in CASES {
        let bucket = bucket_at(case.tokens);
        let run = rpc(&bucket, case.replies, None).await;
        let want = Run {
            at_ms: case.at_ms.to_vec(),
            stop: case.stop,
            tokens: case.tokens_after,
        };
        // Token counts are tenths: compare to a millionth.
        let same = run.at_ms == want.at_ms
            && run.stop == want.stop
            && (run.tokens - want.tokens).abs() < 1e-6;
        if !same {
            failures.push(format!("{}\n  got  {run:?}\n  want {want:?}", case.rule));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_pushback_past_the_deadline_ends_retrying_and_still_counts() {
    // failsoft's rule (DESIGN: a hint beyond the remaining deadline ends
    // retrying at once); gRPC's deadline "applies across all attempts".
    let bucket = TokenBucket::grpc();
    let run = rpc(
        &bucket,
        &[(UNAVAILABLE, Some("5000"))],
        Some(Duration::from_secs(1)),
    )
    .await;
    assert_eq!(run.at_ms, [0]);
    assert_eq!(run.stop, StopReason::Hint);
    assert_eq!(run.tokens, 9.0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_long_pushback_is_clamped_to_max_hint() {
    // The one deviation: a pushback is honoured exactly up to `max_hint`
    // (30 s here), so a server cannot park a client for 24 days.
    let bucket = TokenBucket::grpc();
    let run = rpc(
        &bucket,
        &[(UNAVAILABLE, Some("2147483647")), (OK, None)],
        None,
    )
    .await;
    assert_eq!(run.at_ms, [0, 30_000]);
    assert_eq!(run.stop, StopReason::Succeeded);
}

#[test]
fn the_throttle_is_shared_per_server_and_counts_every_failure() {
    // "Every outgoing RPC (regardless of service or method invoked) will
    // effect token_count": one bucket, used by all clones.
    let bucket = TokenBucket::grpc();
    let other_method = bucket.clone();
    bucket.on_final_failure(FailureKind::Error);
    other_method.on_final_failure(FailureKind::Timeout);
    assert!(
        bucket.try_retry(FailureKind::Throttled).is_ok(),
        "8 - 1 = 7 > 5"
    );
    assert_eq!(other_method.snapshot().tokens, 7.0);
    for _ in 0..100 {
        other_method.on_success_after(Some(FailureKind::Error));
    }
    assert_eq!(bucket.snapshot().tokens, 10.0, "at most maxTokens");
}
