//! Which requests may be sent twice.

use std::error::Error as StdError;
use std::io;

use http::{HeaderMap, Method};

/// The `Idempotency-Key` request header (IETF draft
/// "The Idempotency-Key HTTP Header Field"): a request carrying it may be
/// retried whatever its method, since the server deduplicates by key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Which requests [`HttpClassify`](super::HttpClassify) lets the retry
/// layer send again.
///
/// # Examples
///
/// ```
/// use failsoft::http::Idempotency;
/// use http::{HeaderMap, Method};
///
/// let headers = HeaderMap::new();
/// assert!(Idempotency::Methods.allows(&Method::PUT, &headers, &Default::default()));
/// assert!(!Idempotency::Methods.allows(&Method::POST, &headers, &Default::default()));
/// assert!(Idempotency::AnyMethod.allows(&Method::POST, &headers, &Default::default()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Idempotency {
    /// The default: retry the methods RFC 9110 §9.2.2 calls idempotent
    /// (GET, HEAD, OPTIONS, PUT, DELETE, TRACE), and any request carrying an
    /// [`IDEMPOTENCY_KEY`] header or a [`RetrySafe`] extension.
    #[default]
    Methods,
    /// Retry every method. Opt in only when the server deduplicates
    /// requests itself.
    AnyMethod,
}

/// A request extension that marks one request as safe to retry whatever
/// its method (the server deduplicates it some other way).
///
/// # Examples
///
/// ```
/// use failsoft::http::{Idempotency, RetrySafe};
///
/// let mut req = http::Request::post("http://127.0.0.1/report").body(()).unwrap();
/// req.extensions_mut().insert(RetrySafe);
/// assert!(Idempotency::Methods.allows(req.method(), req.headers(), req.extensions()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RetrySafe;

// === impl Idempotency ===

impl Idempotency {
    /// Whether a request with this method, headers and extensions may be
    /// sent again after it may have reached the server.
    pub fn allows(self, method: &Method, headers: &HeaderMap, ext: &http::Extensions) -> bool {
        match self {
            Idempotency::AnyMethod => true,
            Idempotency::Methods => {
                is_idempotent(method)
                    || headers.contains_key(IDEMPOTENCY_KEY)
                    || ext.get::<RetrySafe>().is_some()
            }
        }
    }
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// `true` when an error shows that the request never reached the server:
/// somewhere in its [`source`](StdError::source) chain is an
/// [`io::Error`] of kind [`ConnectionRefused`](io::ErrorKind::ConnectionRefused).
///
/// Such a request may be retried whatever its method. Other transport
/// errors (a reset, a timeout) may have struck after the server acted.
///
/// # Examples
///
/// ```
/// use failsoft::http::never_sent;
/// use std::io;
///
/// let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
/// assert!(never_sent(&refused));
/// assert!(!never_sent(&io::Error::new(io::ErrorKind::ConnectionReset, "reset")));
/// ```
pub fn never_sent(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    // Bounded: a cyclic `source` chain must not loop forever.
    for _ in 0..32 {
        let Some(err) = next else { return false };
        if let Some(io) = err.downcast_ref::<io::Error>()
            && io.kind() == io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        next = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idempotent_methods_are_retry_safe_by_default() {
        let none = HeaderMap::new();
        let ext = http::Extensions::new();
        for m in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"] {
            let m = Method::from_bytes(m.as_bytes()).unwrap();
            assert!(Idempotency::Methods.allows(&m, &none, &ext), "{m}");
        }
        for m in ["POST", "PATCH", "CONNECT", "PURGE"] {
            let m = Method::from_bytes(m.as_bytes()).unwrap();
            assert!(!Idempotency::Methods.allows(&m, &none, &ext), "{m}");
        }
        let mut keyed = HeaderMap::new();
        keyed.insert("Idempotency-Key", "8e03978e".parse().unwrap());
        assert!(Idempotency::Methods.allows(&Method::POST, &keyed, &ext));
    }

    #[test]
    fn never_sent_finds_refusals_down_the_chain() {
        #[derive(Debug)]
        struct Wrap(io::Error);
        impl std::fmt::Display for Wrap {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("connect failed")
            }
        }
        impl StdError for Wrap {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let refused = Wrap(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(never_sent(&refused));
        let reset = Wrap(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(!never_sent(&reset));
    }
}
