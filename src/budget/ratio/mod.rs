//! [`RatioBudget`]: retries as a share of requests, with a floor, over a
//! sliding window.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use tokio::time::Instant;

use super::ledger::Ledger;
use super::units::{to_f64, units_down};
use super::{BudgetRefused, RatioReceipt, RetryBudget};
use crate::buckets::BucketClock;
use crate::classify::FailureKind;
use crate::stripes::Striped;

mod builder;
#[cfg(test)]
mod tests;

pub use self::builder::RatioBudgetBuilder;

/// Every this many deposits on one cell (a thread's own, or the shared
/// one), a deposit reads the clock and, if a bucket boundary has passed,
/// files the pending deposits into the window.
const HARVEST_EVERY: u64 = 32;

/// Retries limited to a share of requests plus a floor, over a sliding window
/// (the Finagle and tower design, counted exactly).
///
/// Over any window `w` (default 10 s, sliding by `w / buckets`), granted
/// retries ≤ `floor × w + ratio × requests`. Default ratio 0.1, the SRE
/// book's 10 %.
///
/// **Floor default: 0.1 retries per second**, one retry per default window.
/// A floor lets a quiet client still retry an isolated blip, but every
/// retry it grants is load that no request paid for: in a storm it adds
/// `floor ÷ request rate` to the amplification. Finagle and tower default to
/// 10 per second, sized for servers sending thousands of requests a second;
/// failsoft's clients are often devices sending one request a minute, where
/// 10 per second would let every request retry to its attempt limit. At 0.1
/// per second the floor's share stays at or below 0.1 for any client sending
/// at least one request per second, and a client sending less still gets
/// one retry per window.
///
/// # Amplification bound
///
/// With at most `n` attempts per request, ratio `r`, floor `f` and window
/// `w`, whatever the failure pattern:
///
/// - in any window: attempts ≤ `requests × (1 + r) + f × w`, and ≤ `n × requests`;
/// - over any period of length `T`: retries ≤ `r × requests` (counting
///   requests in the period and in the window before it) `+ f × (T + w + w / buckets)`.
///
/// Retries are withdrawn *before* their backoff sleep, so retries still
/// sleeping are counted. Each granted retry is matched to a unit of credit
/// created at most one window before it, and credit is never spent twice.
///
/// # Cost
///
/// [`on_request`](RetryBudget::on_request) (the success path) adds one to a
/// per-thread, cache-padded counter and does not read the clock, except once
/// every 32 deposits per thread. The pending deposits are filed into the
/// window when a retry is asked for (or a bucket boundary passed): they are
/// credited to the bucket of the previous filing, which is never later than
/// they happened, so they may expire up to one filing interval early but
/// never late. The budget therefore never over-admits; at most 31 deposits
/// per thread since the last filing may be dropped when more than a window
/// passes between filings, which only happens below about three requests per
/// second per thread, where the floor dominates anyway.
///
/// # Sharing
///
/// Clones share one budget (an `Arc` inside): give clones to every service
/// (and every retry layer) whose retries should come out of one pot.
///
/// # Cancel safety
///
/// [`cancel_retry`](RetryBudget::cancel_retry) gives back the withdrawal
/// its [`RatioReceipt`] names, in the bucket it was granted at, and nothing
/// once that bucket has left the window: the credit it spent has expired
/// with it, and giving back another withdrawal would let a retry go out
/// that no credit paid for. The bound above therefore holds under any
/// pattern of cancellations, including retries that wait longer than the
/// window (a `Retry-After` of 30 s against the default 10 s window).
///
/// # Examples
///
/// ```
/// use failsoft::budget::{RatioBudget, RetryBudget};
/// use failsoft::classify::FailureKind;
///
/// let budget = RatioBudget::builder().ratio(0.1).floor(0.0).build()?;
/// for _ in 0..10 {
///     budget.on_request();
/// }
/// assert!(budget.try_retry(FailureKind::Error).is_ok());
/// let refused = budget.try_retry(FailureKind::Error).unwrap_err();
/// assert_eq!(refused.reason(), "ratio budget spent");
/// assert_eq!(budget.snapshot().refused, 1);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RatioBudget {
    shared: Arc<Shared>,
}

/// Counters of a [`RatioBudget`], read with [`RatioBudget::snapshot`].
///
/// # Examples
///
/// ```
/// use failsoft::budget::{RatioBudget, RetryBudget};
/// let budget = RatioBudget::default();
/// budget.on_request();
/// let s = budget.snapshot();
/// assert_eq!(s.requests, 1);
/// assert_eq!(s.granted, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RatioSnapshot {
    /// Requests deposited since the budget was built.
    pub requests: u64,
    /// Retries granted since the budget was built, less those cancelled:
    /// the retries sent, when the retry layer drives the budget.
    pub granted: u64,
    /// Retries refused since the budget was built.
    pub refused: u64,
    /// Withdrawals cancelled by [`cancel_retry`](RetryBudget::cancel_retry)
    /// (their retry was never sent). Those still in the window gave their
    /// credit back; those already expired had none left to give.
    pub cancelled: u64,
    /// Requests inside the current window.
    pub window_requests: u64,
    /// Retries inside the current window.
    pub window_retries: u64,
    /// Retries that could be granted now (fractional credit included).
    pub available: f64,
}

struct Shared {
    pending: Striped,
    // The filing state is written every few dozen deposits; each sits on
    // its own cache line so the deposit path's reads of `pending` (and the
    // plain configuration) are not invalidated by it.
    /// Bucket of the last filing, read without the lock to gate harvests.
    filed: CachePadded<AtomicU64>,
    core: CachePadded<Mutex<Core>>,
    clock: BucketClock,
    deposit_units: u64,
    floor_units: u64,
    config: RatioBudgetBuilder,
}

struct Core {
    ledger: Ledger,
    /// Bucket of the last filing: pending deposits happened at or after it.
    filed: u64,
    requests: u64,
    granted: u64,
    refused: u64,
    cancelled: u64,
}

// === impl RatioBudget ===

impl RatioBudget {
    /// A builder starting from the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::budget::RatioBudget;
    /// let budget = RatioBudget::builder().ratio(0.2).build()?;
    /// assert_eq!(budget.ratio(), 0.2);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub const fn builder() -> RatioBudgetBuilder {
        RatioBudgetBuilder::DEFAULT
    }

    fn from_config(config: RatioBudgetBuilder) -> Self {
        let floor_units = units_down(config.floor * config.window.as_secs_f64());
        Self {
            shared: Arc::new(Shared {
                pending: Striped::new(),
                filed: CachePadded::new(AtomicU64::new(0)),
                core: CachePadded::new(Mutex::new(Core {
                    ledger: Ledger::new(config.buckets),
                    filed: 0,
                    requests: 0,
                    granted: 0,
                    refused: 0,
                    cancelled: 0,
                })),
                clock: BucketClock::new(crate::time::now(), config.window, config.buckets),
                deposit_units: units_down(config.ratio),
                floor_units,
                config,
            }),
        }
    }

    /// The configured ratio.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::budget::RatioBudget;
    /// assert_eq!(RatioBudget::default().ratio(), 0.1);
    /// ```
    pub fn ratio(&self) -> f64 {
        self.shared.config.ratio
    }

    /// The configured floor, in retries per second.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::budget::RatioBudget;
    /// assert_eq!(RatioBudget::default().floor(), 0.1);
    /// ```
    pub fn floor(&self) -> f64 {
        self.shared.config.floor
    }

    /// The configured window.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::budget::RatioBudget;
    /// # use std::time::Duration;
    /// assert_eq!(RatioBudget::default().window(), Duration::from_secs(10));
    /// ```
    pub fn window(&self) -> Duration {
        self.shared.config.window
    }

    /// Deposits one request at `now`, exactly (filing pending deposits first).
    /// The pure variant of [`on_request`](RetryBudget::on_request), for tests
    /// and simulations that drive time themselves. Drive one budget either
    /// with the `*_at` methods or with the trait methods (which read
    /// `tokio::time::Instant::now()`), not a mix of clocks.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::budget::RatioBudget;
    /// # use failsoft::classify::FailureKind;
    /// use tokio::time::Instant;
    /// let budget = RatioBudget::builder().floor(0.0).ratio(1.0).build()?;
    /// let now = Instant::now();
    /// budget.on_request_at(now);
    /// assert!(budget.try_retry_at(FailureKind::Error, now).is_ok());
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn on_request_at(&self, now: Instant) {
        let bucket = self.shared.bucket(now);
        let mut core = self.shared.file(now);
        core.requests = core.requests.saturating_add(1);
        let bucket = bucket.max(core.filed);
        core.ledger.deposit(bucket, 1);
    }

    /// [`try_retry`](RetryBudget::try_retry) at `now`.
    ///
    /// # Errors
    ///
    /// [`BudgetRefused`] ("ratio budget spent") when less than one retry of
    /// credit is left in the window.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::budget::RatioBudget;
    /// # use failsoft::classify::FailureKind;
    /// use tokio::time::Instant;
    /// let budget = RatioBudget::builder().floor(0.0).build()?;
    /// assert!(budget.try_retry_at(FailureKind::Error, Instant::now()).is_err());
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn try_retry_at(
        &self,
        kind: FailureKind,
        now: Instant,
    ) -> Result<RatioReceipt, BudgetRefused> {
        let s = &*self.shared;
        let mut core = s.file(now);
        let bucket = core.filed;
        if let Some(bucket) = core
            .ledger
            .try_withdraw(bucket, s.floor_units, s.deposit_units)
        {
            core.granted += 1;
            Ok(RatioReceipt { bucket })
        } else {
            core.refused += 1;
            drop(core);
            tracing::debug!(kind = kind.as_str(), "ratio retry budget spent");
            Err(BudgetRefused::new("ratio budget spent"))
        }
    }

    /// [`cancel_retry`](RetryBudget::cancel_retry) at `now`: gives back the
    /// withdrawal of `receipt` if it is still in the window at `now`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::budget::RatioBudget;
    /// # use failsoft::classify::FailureKind;
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// let budget = RatioBudget::builder().floor(0.1).build()?; // one per window
    /// let now = Instant::now();
    /// let receipt = budget.try_retry_at(FailureKind::Error, now)?;
    /// budget.cancel_retry_at(receipt, now);
    /// assert!(budget.try_retry_at(FailureKind::Error, now).is_ok());
    /// // A withdrawal cancelled after it left the window gives nothing back,
    /// // and never another request's withdrawal.
    /// let later = now + Duration::from_secs(10);
    /// let old = budget.try_retry_at(FailureKind::Error, later)?;
    /// let later = later + Duration::from_secs(10);
    /// let _live = budget.try_retry_at(FailureKind::Error, later)?;
    /// budget.cancel_retry_at(old, later);
    /// assert_eq!(budget.snapshot_at(later).available, 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel_retry_at(&self, receipt: RatioReceipt, now: Instant) {
        let mut core = self.shared.file(now);
        let bucket = core.filed;
        core.ledger.cancel(receipt.bucket, bucket);
        // The retry is not sent either way: it is no longer granted.
        core.granted = core.granted.saturating_sub(1);
        core.cancelled += 1;
    }

    /// The budget's counters and available credit now.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::budget::RatioBudget;
    /// let s = RatioBudget::builder().floor(0.5).build()?.snapshot();
    /// assert_eq!(s.available, 5.0); // 0.5 per second over 10 s
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn snapshot(&self) -> RatioSnapshot {
        self.snapshot_at(crate::time::now())
    }

    /// The budget's counters and available credit at `now`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::budget::RatioBudget;
    /// use tokio::time::Instant;
    /// let s = RatioBudget::default().snapshot_at(Instant::now());
    /// assert_eq!(s.requests, 0);
    /// ```
    pub fn snapshot_at(&self, now: Instant) -> RatioSnapshot {
        let s = &*self.shared;
        let core = s.file(now);
        let (window_requests, window_retries) = core.ledger.totals();
        RatioSnapshot {
            requests: core.requests,
            granted: core.granted,
            refused: core.refused,
            cancelled: core.cancelled,
            window_requests,
            window_retries,
            available: to_f64(core.ledger.credit(s.floor_units, s.deposit_units)),
        }
    }

    /// Files pending deposits if a bucket boundary has passed; called by
    /// every `HARVEST_EVERY`-th deposit of a thread.
    #[cold]
    fn tick(&self) {
        let s = &*self.shared;
        let now = crate::time::now();
        if s.bucket(now) > s.filed.load(Ordering::Relaxed)
            && let Ok(core) = s.core.try_lock()
        {
            drop(s.file_locked(core, now));
        }
    }
}

impl Default for RatioBudget {
    /// The default budget: ratio 0.1, floor 0.1 per second, window 10 s.
    fn default() -> Self {
        Self::from_config(RatioBudgetBuilder::DEFAULT)
    }
}

impl RetryBudget for RatioBudget {
    type Receipt = RatioReceipt;

    #[inline]
    fn on_request(&self) {
        let prev = self.shared.pending.increment();
        // Half a period out of step with the throttle's fold (also every
        // 32nd request of a thread), so that in the recommended stack no
        // request pays for both clock reads.
        if prev % HARVEST_EVERY == HARVEST_EVERY / 2 - 1 {
            self.tick();
        }
    }

    fn try_retry(&self, kind: FailureKind) -> Result<RatioReceipt, BudgetRefused> {
        self.try_retry_at(kind, crate::time::now())
    }

    fn cancel_retry(&self, receipt: RatioReceipt) {
        self.cancel_retry_at(receipt, crate::time::now())
    }

    #[inline]
    fn on_success(&self, _retried: bool) {}
}

impl fmt::Debug for RatioBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.shared.config;
        f.debug_struct("RatioBudget")
            .field("ratio", &c.ratio)
            .field("floor", &c.floor)
            .field("window", &c.window)
            .field("pending_requests", &self.shared.pending.peek())
            .finish()
    }
}

// === impl Shared ===

impl Shared {
    fn bucket(&self, now: Instant) -> u64 {
        self.clock.bucket(now)
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        // Nothing panics while the lock is held; recover the data regardless.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the lock and files pending deposits at `now`.
    fn file(&self, now: Instant) -> MutexGuard<'_, Core> {
        let core = self.lock();
        self.file_locked(core, now)
    }

    /// Credits every pending deposit to the bucket of the previous filing
    /// (they all happened after it), then moves the filing mark to `now`.
    fn file_locked<'a>(
        &self,
        mut core: MutexGuard<'a, Core>,
        now: Instant,
    ) -> MutexGuard<'a, Core> {
        let n = self.pending.take();
        let prev = core.filed;
        core.requests = core.requests.saturating_add(n);
        core.ledger.deposit(prev, n);
        let bucket = self.bucket(now).max(prev);
        core.filed = bucket;
        core.ledger.advance(bucket);
        self.filed.store(bucket, Ordering::Relaxed);
        core
    }
}
