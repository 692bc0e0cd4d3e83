//! Keyed breakers: one breaker per key (for example per host), in a map of
//! bounded size.

use std::fmt;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};

use lru::LruCache;
use tower::{Layer, Service};

use super::config::BreakerConfig;
use super::future::Handle;
use super::future::ResponseFuture;
use super::handle::Breaker;
use super::state::State;
use crate::BoxError;
use crate::classify::{Classify, DefaultClassify};
use crate::error::ConfigError;

/// A bounded map from keys to breakers: at most `max_keys` keys have a
/// breaker of their own, and only plainly closed breakers are ever evicted.
///
/// # Eviction
///
/// When a new key arrives and the map is full, the least recently used
/// breaker that is *plainly closed* is dropped to make room (and with it
/// that key's history; the key, seen again, starts closed). Plainly closed
/// means closed, not ramping up after a recovery and with no trips since it
/// last closed. A breaker that is open, half-open, ramping up, forced open
/// or disabled by hand is never evicted: when keys come from requests (a
/// host, a tenant), sending unique keys must not switch the protection of
/// a failing key off. Eviction looks at the 16 least recently used keys
/// at most (moving those it must keep to the front), so
/// a new key costs a bounded amount of work under the map's lock.
///
/// # When every slot is taken
///
/// When none of those breakers may be evicted, the new key gets no breaker
/// of its own: it shares one *overflow* breaker, built from the same
/// config, with every other key in that position, until a slot frees up (a
/// breaker closes again and settles). This bounds the damage as Envoy's
/// maximum ejection percentage bounds outlier ejection: the breakers that
/// protect failing keys stay, memory stays at `max_keys` breakers plus one,
/// and keys that do not fit are still judged, together: if they fail, the
/// overflow breaker trips for all of them. [`get`](Self::get) does not
/// find such a key; [`get_or_insert`](Self::get_or_insert) returns the
/// overflow breaker for it. Size `max_keys` above the number of keys you
/// expect to fail at once.
///
/// # Cost per key
///
/// Each key holds one [`Breaker`] plus its map entry: about 1.1 KiB with
/// the default count window of 100 calls, plus the key itself. Most of it
/// is fixed (the breaker's shared state on cache lines of its own, its
/// state-change channel, the map entry); the window's share is one byte
/// per call of a count window, or 24 bytes per bucket of a time window
/// (10 buckets: 240 bytes) plus the per-thread counters a time window
/// keeps its clean successes on (a few cache lines, under 1 KiB on this
/// 2-core VM: about 1.9 KiB a key in all). Measured on x86-64 by `tests/keyed_flood.rs`,
/// which also checks that a million unique keys leave the map at
/// `max_keys` breakers and about `max_keys` × that cost.
///
/// A breaker's state moves on at its next call (an open breaker turns
/// half-open, a ramp-up ends), so a key that is never seen again keeps its
/// slot while its breaker is not plainly closed; [`Breaker::reset`] on it
/// (found with [`get`](Self::get)) frees the slot by hand.
///
/// # Sharing
///
/// Clones share one map (an `Arc` inside).
///
/// # Examples
///
/// ```
/// use failsoft::breaker::{BreakerConfig, KeyedBreakers, State};
///
/// let keyed = KeyedBreakers::new(BreakerConfig::builder().build()?, 2)?;
/// keyed.get_or_insert("a").force_open();
/// assert_eq!(keyed.get(&"a").map(|b| b.state()), Some(State::ForcedOpen));
/// keyed.get_or_insert("b");
/// keyed.get_or_insert("c"); // evicts "b", the least recently used closed one
/// assert!(keyed.get(&"b").is_none());
/// assert_eq!(keyed.get(&"a").map(|b| b.state()), Some(State::ForcedOpen));
/// keyed.get_or_insert("c").force_open();
/// // Every slot is open: "d" shares the overflow breaker.
/// assert_eq!(keyed.get_or_insert("d").state(), State::Closed);
/// assert!(keyed.get(&"d").is_none());
/// assert_eq!(keyed.len(), 2);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
pub struct KeyedBreakers<K> {
    inner: Arc<KeyedInner<K>>,
}

/// How many of the least recently used keys a new key may look at for a
/// plainly closed breaker to evict (see [`KeyedBreakers`]).
const EVICTION_SCAN: usize = 16;

struct KeyedInner<K> {
    cfg: BreakerConfig,
    map: Mutex<LruCache<K, Breaker>>,
    /// Shared by keys that find every slot taken; made when first needed.
    overflow: OnceLock<Breaker>,
}

/// A service that picks a breaker per request by a key function.
///
/// Unlike [`CircuitBreaker`](super::CircuitBreaker), it cannot decide in
/// `poll_ready` (the key comes from the request), so `poll_ready` only
/// waits for the inner service, and `call` rejects at once with
/// [`CircuitOpen`](crate::error::CircuitOpen) when the key's breaker is
/// open. The map lock is held only to find or insert the breaker.
///
/// # Sharing
///
/// Clones share one [`KeyedBreakers`] map.
///
/// # Examples
///
/// ```
/// use failsoft::breaker::{BreakerConfig, KeyedCircuitBreakerLayer};
/// use failsoft::error::CircuitOpen;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), failsoft::BoxError> {
/// let layer = KeyedCircuitBreakerLayer::new(
///     BreakerConfig::builder().build()?,
///     1_000,
///     |req: &(&'static str, u8)| req.0,
/// )?;
/// layer.breakers().get_or_insert("down.example").force_open();
/// let svc = layer.layer(service_fn(|req: (&'static str, u8)| async move { Ok::<_, std::io::Error>(req.1) }));
/// assert_eq!(svc.clone().oneshot(("up.example", 1)).await?, 1);
/// let err = svc.oneshot(("down.example", 2)).await.unwrap_err();
/// assert!(err.downcast_ref::<CircuitOpen>().is_some());
/// # Ok(())
/// # }
/// ```
pub struct KeyedCircuitBreaker<S, K, F, C = DefaultClassify> {
    inner: S,
    breakers: KeyedBreakers<K>,
    key: F,
    classify: C,
}

/// Wraps services in a [`KeyedCircuitBreaker`].
///
/// # Sharing
///
/// Every service this layer makes shares the layer's one
/// [`KeyedBreakers`] map (the key already tells endpoints apart).
///
/// # Examples
///
/// See [`KeyedCircuitBreaker`].
pub struct KeyedCircuitBreakerLayer<K, F, C = DefaultClassify> {
    breakers: KeyedBreakers<K>,
    key: F,
    classify: C,
}

// === impl KeyedBreakers ===

impl<K: Hash + Eq> KeyedBreakers<K> {
    /// A map holding at most `max_keys` breakers built from `cfg`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for `breaker.max_keys` when `max_keys` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{BreakerConfig, KeyedBreakers};
    /// let err = KeyedBreakers::<u8>::new(BreakerConfig::builder().build()?, 0).unwrap_err();
    /// assert_eq!(err.field(), "breaker.max_keys");
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn new(cfg: BreakerConfig, max_keys: usize) -> Result<Self, ConfigError> {
        let cap = NonZeroUsize::new(max_keys)
            .ok_or(ConfigError::new("breaker.max_keys", "must be at least 1"))?;
        Ok(Self {
            inner: Arc::new(KeyedInner {
                cfg,
                // Grows with the keys seen: a large `max_keys` reserves nothing.
                map: Mutex::new(LruCache::sparse(cap)),
                overflow: OnceLock::new(),
            }),
        })
    }

    /// The breaker for `key`: its own, made if needed (evicting the least
    /// recently used plainly closed breaker when the map is full), or the
    /// shared overflow breaker when no breaker may be evicted.
    ///
    /// # Examples
    ///
    /// See the [type-level example](Self).
    pub fn get_or_insert(&self, key: K) -> Breaker {
        self.entry(key)
    }

    fn entry(&self, key: K) -> Breaker {
        let mut map = self
            .inner
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(breaker) = map.get(&key) {
            return breaker.clone();
        }
        if map.len() < map.cap().get() || evict_one(&mut map) {
            let breaker = Breaker::new(&self.inner.cfg);
            map.push(key, breaker.clone());
            return breaker;
        }
        drop(map);
        self.overflow()
    }

    /// The breaker shared by keys that found every slot taken by a breaker
    /// that may not be evicted.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{BreakerConfig, KeyedBreakers, State};
    /// let keyed = KeyedBreakers::new(BreakerConfig::builder().build()?, 1)?;
    /// keyed.get_or_insert(1).force_open();
    /// keyed.get_or_insert(2).force_open(); // 2 has no slot: this opens the overflow
    /// assert_eq!(keyed.get_or_insert(3).state(), State::ForcedOpen);
    /// assert_eq!(keyed.overflow().state(), State::ForcedOpen);
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn overflow(&self) -> Breaker {
        self.inner
            .overflow
            .get_or_init(|| Breaker::new(&self.inner.cfg))
            .clone()
    }

    /// The breaker for `key`, if the map holds one (marks it as used); `None`
    /// for a key that shares the overflow breaker.
    ///
    /// # Examples
    ///
    /// See the [type-level example](Self).
    pub fn get(&self, key: &K) -> Option<Breaker> {
        let mut map = self
            .inner
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(key).cloned()
    }

    /// How many keys have a breaker of their own (at most `max_keys`).
    ///
    /// # Examples
    ///
    /// See the [type-level example](Self).
    pub fn len(&self) -> usize {
        self.inner
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// `true` when the map holds no key.
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{BreakerConfig, KeyedBreakers};
    /// assert!(KeyedBreakers::<u8>::new(BreakerConfig::builder().build()?, 8)?.is_empty());
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `true` for a breaker whose eviction loses nothing but a clean record:
/// closed, not ramping up, no trips since it last closed.
fn plainly_closed(breaker: &Breaker) -> bool {
    if breaker.state() != State::Closed {
        return false;
    }
    let snap = breaker.snapshot_at(crate::time::now());
    snap.state == State::Closed && !snap.ramping_up && snap.trips == 0
}

/// Drops the least recently used plainly closed breaker among the first
/// [`EVICTION_SCAN`] least recently used; those it must keep move to the
/// front, so the next scan looks further. `false` when none may go.
#[cold]
fn evict_one<K: Hash + Eq>(map: &mut LruCache<K, Breaker>) -> bool {
    for _ in 0..EVICTION_SCAN.min(map.len()) {
        let Some((key, breaker)) = map.pop_lru() else {
            return false;
        };
        if plainly_closed(&breaker) {
            return true;
        }
        map.push(key, breaker);
    }
    false
}

impl<K> Clone for KeyedBreakers<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K: Hash + Eq> fmt::Debug for KeyedBreakers<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBreakers")
            .field("keys", &self.len())
            .finish()
    }
}

// === impl KeyedCircuitBreakerLayer ===

impl<K: Hash + Eq, F> KeyedCircuitBreakerLayer<K, F> {
    /// A layer keeping at most `max_keys` breakers, keyed by `key(&req)`.
    ///
    /// # Errors
    ///
    /// As [`KeyedBreakers::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use failsoft::breaker::{BreakerConfig, KeyedCircuitBreakerLayer};
    /// let layer = KeyedCircuitBreakerLayer::<String, _>::new(
    ///     BreakerConfig::builder().build()?, 64, |host: &String| host.clone())?;
    /// assert!(layer.breakers().is_empty());
    /// # Ok::<(), failsoft::ConfigError>(())
    /// ```
    pub fn new(cfg: BreakerConfig, max_keys: usize, key: F) -> Result<Self, ConfigError> {
        Ok(Self {
            breakers: KeyedBreakers::new(cfg, max_keys)?,
            key,
            classify: DefaultClassify,
        })
    }
}

impl<K, F, C> KeyedCircuitBreakerLayer<K, F, C> {
    /// Classifies results with `classify` (it sees `&()` for the request).
    pub fn classify<C2>(self, classify: C2) -> KeyedCircuitBreakerLayer<K, F, C2> {
        KeyedCircuitBreakerLayer {
            breakers: self.breakers,
            key: self.key,
            classify,
        }
    }

    /// The shared map of breakers.
    pub fn breakers(&self) -> &KeyedBreakers<K> {
        &self.breakers
    }
}

impl<K, F: Clone, C: Clone> Clone for KeyedCircuitBreakerLayer<K, F, C> {
    fn clone(&self) -> Self {
        Self {
            breakers: self.breakers.clone(),
            key: self.key.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<K: Hash + Eq, F, C> fmt::Debug for KeyedCircuitBreakerLayer<K, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerLayer")
            .field("breakers", &self.breakers)
            .finish()
    }
}

impl<S, K, F: Clone, C: Clone> Layer<S> for KeyedCircuitBreakerLayer<K, F, C> {
    type Service = KeyedCircuitBreaker<S, K, F, C>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedCircuitBreaker {
            inner,
            breakers: self.breakers.clone(),
            key: self.key.clone(),
            classify: self.classify.clone(),
        }
    }
}

// === impl KeyedCircuitBreaker ===

impl<S, K, F, C> KeyedCircuitBreaker<S, K, F, C> {
    /// The shared map of breakers.
    pub fn breakers(&self) -> &KeyedBreakers<K> {
        &self.breakers
    }
}

impl<S: Clone, K, F: Clone, C: Clone> Clone for KeyedCircuitBreaker<S, K, F, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breakers: self.breakers.clone(),
            key: self.key.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<S, K: Hash + Eq, F, C> fmt::Debug for KeyedCircuitBreaker<S, K, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreaker")
            .field("breakers", &self.breakers)
            .finish()
    }
}

impl<S, K, F, C, Req> Service<Req> for KeyedCircuitBreaker<S, K, F, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    K: Hash + Eq,
    F: Fn(&Req) -> K,
    C: Classify<(), S::Response> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let breaker = self.breakers.entry((self.key)(&req));
        // As in the unkeyed layer: a slow call is timed from its first wait.
        let admitted = match breaker.acquire_plain() {
            Some(plain) => Ok(plain.into_permit()),
            None => breaker.acquire_slow(crate::time::now, false),
        };
        match admitted {
            Ok(permit) => {
                let fut = self.inner.call(req);
                ResponseFuture::called(fut, Handle::Keyed(breaker), permit, self.classify.clone())
            }
            Err(open) => ResponseFuture::rejected(open),
        }
    }
}
