//! The failsoft strategies: the crate's real Tower layers in front of a lane.
//!
//! Devices are spread over a fleet's client stacks round-robin
//! (`devices_per_stack` in the scenario); each stack is one set of layers
//! with its own state, built once per (fleet, lane, stack).

use std::time::Duration;

use tower::util::BoxCloneService;
use tower::{Layer, ServiceExt};

use super::backend::{Call, Lane, Served, Shed};
use super::scenario::ClientSpec;
use crate::backoff::{ExponentialBackoff, Jitter};
use crate::classify::{FailureKind, Verdict, classify_error};
use crate::retry::RetryLayer;
use crate::{BoxError, ConfigError};

/// What a device gets for one user action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A real answer from the backend.
    Real,
}

/// One client stack: `Call` in, [`Answer`] out.
pub(crate) type Stack = BoxCloneService<Call, Answer, BoxError>;

/// Which failsoft parts a strategy uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts {
    /// Server hints (Retry-After, do-not-retry) honoured by the retry layer.
    pub(crate) hints: bool,
}

/// What a lane's answer means to the retry layer: a full queue is a
/// throttle with the server's hint; everything else as the crate's default.
fn classify(_call: &Call, result: &Result<Served, BoxError>) -> Verdict {
    match result {
        Ok(_) => Verdict::success(),
        Err(err) => match err.downcast_ref::<Shed>() {
            Some(shed) => {
                let v = Verdict::retryable(FailureKind::Throttled);
                match shed.hint() {
                    Some(h) => v.with_hint(h),
                    None => v,
                }
            }
            None => classify_error(err),
        },
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

/// Builds one stack in front of `lane`.
pub(crate) fn build(
    parts: Parts,
    lane: Lane,
    client: &ClientSpec,
    seed: u64,
) -> Result<Stack, ConfigError> {
    let backoff = ExponentialBackoff::builder()
        .base(Duration::from_secs(1))
        .multiplier(2.0)
        .max(Duration::from_secs(20))
        .jitter(Jitter::Full)
        .build()?;
    let retry = RetryLayer::builder()
        .max_attempts(3)
        .backoff(backoff)
        .deadline(secs(client.deadline_s))
        .attempt_timeout(secs(client.timeout_s))
        .max_hint(Duration::from_secs(60))
        .honor_hints(parts.hints)
        .seed(seed)
        .classify(classify)
        .build()?;
    let svc = retry.layer(lane).map_response(|_| Answer::Real);
    Ok(BoxCloneService::new(svc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Hint;

    #[test]
    fn shed_with_hint_is_a_throttle_carrying_it() {
        let hint = Hint::RetryAfter(Duration::from_secs(3));
        let err: Result<Served, BoxError> = Err(Box::new(Shed::new(Some(hint))));
        let v = classify(&Call::new(super::super::Fleet::Tickets), &err);
        assert_eq!(
            v,
            Verdict::retryable(FailureKind::Throttled).with_hint(hint)
        );
    }
}
