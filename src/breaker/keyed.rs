//! Keyed breakers: one breaker per key (for example per host), in a map of
//! bounded size.

use std::fmt;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use lru::LruCache;
use tower::{Layer, Service};

use super::config::BreakerConfig;
use super::future::Handle;
use super::future::ResponseFuture;
use super::handle::Breaker;
use crate::BoxError;
use crate::classify::{Classify, DefaultClassify};
use crate::error::ConfigError;

/// A bounded map from keys to breakers, least recently used evicted first.
///
/// Memory is fixed by `max_keys`: when a new key arrives and the map is
/// full, the breaker of the key used least recently is dropped (and with
/// it that key's history; a key seen again starts closed).
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
/// keyed.get_or_insert("c"); // evicts "a", the least recently used
/// assert!(keyed.get(&"a").is_none());
/// assert_eq!(keyed.len(), 2);
/// # Ok::<(), failsoft::ConfigError>(())
/// ```
pub struct KeyedBreakers<K> {
    inner: Arc<KeyedInner<K>>,
}

struct KeyedInner<K> {
    cfg: BreakerConfig,
    map: Mutex<LruCache<K, Breaker>>,
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
            }),
        })
    }

    /// The breaker for `key`, made (and the least recent evicted) if needed.
    pub fn get_or_insert(&self, key: K) -> Breaker {
        self.entry(key)
    }

    fn entry(&self, key: K) -> Breaker {
        let mut map = self
            .inner
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get_or_insert(key, || Breaker::new(&self.inner.cfg))
            .clone()
    }

    /// The breaker for `key`, if the map holds one (marks it as used).
    pub fn get(&self, key: &K) -> Option<Breaker> {
        let mut map = self
            .inner
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(key).cloned()
    }

    /// How many keys the map holds.
    pub fn len(&self) -> usize {
        self.inner
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// `true` when the map holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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
            None => breaker.acquire_locked(crate::time::now(), false),
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
