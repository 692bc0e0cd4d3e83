//! The atomic word a breaker publishes for its lock-free paths: the
//! mode, whether a success changes anything, and the epoch.

use crate::breaker::state::{Core, EPOCH_MASK, State};

// Layout of the atomic word: bits 0..3 mode, bit 3 "success is a no-op",
// bits 4.. the epoch.
pub(super) const CLOSED: u64 = 0;
const RAMPING: u64 = 1;
pub(super) const OPEN: u64 = 2;
const HALF_OPEN: u64 = 3;
pub(super) const FORCED_OPEN: u64 = 4;
pub(super) const DISABLED: u64 = 5;
pub(super) const MODE_MASK: u64 = 0b111;
pub(super) const NOOP_BIT: u64 = 0b1000;

/// The word that publishes `core`'s state.
pub(super) fn encode(core: &Core) -> u64 {
    let mode = match core.state() {
        State::Closed if core.is_ramping() => RAMPING,
        State::Closed => CLOSED,
        State::Open => OPEN,
        State::HalfOpen => HALF_OPEN,
        State::ForcedOpen => FORCED_OPEN,
        State::Disabled => DISABLED,
    };
    let noop = if core.success_is_noop() { NOOP_BIT } else { 0 };
    mode | noop | (core.epoch() << 4)
}

/// The state a published word holds.
pub(super) fn decode_state(word: u64) -> State {
    match word & MODE_MASK {
        CLOSED | RAMPING => State::Closed,
        OPEN => State::Open,
        HALF_OPEN => State::HalfOpen,
        FORCED_OPEN => State::ForcedOpen,
        _ => State::Disabled,
    }
}

// The epoch fits above the mode and the no-op bit.
const _: () = assert!(EPOCH_MASK >> 60 == 0);
