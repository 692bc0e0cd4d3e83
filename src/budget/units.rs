//! Fixed-point credit: budgets count in millionths of a retry (or token), so
//! fractional ratios such as 0.1 or 0.3 are counted exactly with integers.
//!
//! Conversions round *against* the caller: what is given (deposits, refunds,
//! capacity) rounds down, what is charged (costs) rounds up, so a budget never
//! admits more than its real-valued configuration would.

/// One whole retry (or token) in fixed-point units.
pub(crate) const UNIT: u64 = 1_000_000;

/// Values this close to a whole number of units are taken as that number,
/// so `0.3 × 10⁶ = 299_999.999…` counts as 300_000.
const SNAP: f64 = 1e-9;

/// `x` in units, rounded down; `x` must be finite and non-negative
/// (checked by the builders). Saturates at `u64::MAX`.
pub(crate) fn units_down(x: f64) -> u64 {
    let y = x * UNIT as f64;
    let r = y.round();
    let v = if (y - r).abs() <= SNAP * r.max(1.0) {
        r
    } else {
        y.floor()
    };
    // `as` saturates for out-of-range floats and maps NaN to 0.
    v as u64
}

/// `x` in units, rounded up; saturates at `u64::MAX`.
pub(crate) fn units_up(x: f64) -> u64 {
    let y = x * UNIT as f64;
    let r = y.round();
    let v = if (y - r).abs() <= SNAP * r.max(1.0) {
        r
    } else {
        y.ceil()
    };
    v as u64
}

/// Units back to a float number of retries or tokens.
pub(crate) fn to_f64(units: u64) -> f64 {
    units as f64 / UNIT as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_ratios_are_exact() {
        assert_eq!(units_down(0.1), 100_000);
        assert_eq!(units_down(0.3), 300_000);
        assert_eq!(units_down(0.7), 700_000);
        assert_eq!(units_up(0.3), 300_000);
        assert_eq!(units_down(1.0), UNIT);
    }

    #[test]
    fn rounding_goes_against_the_caller() {
        assert_eq!(units_down(1.0 / 3.0), 333_333);
        assert_eq!(units_up(1.0 / 3.0), 333_334);
        assert_eq!(units_down(f64::MAX), u64::MAX);
    }
}
