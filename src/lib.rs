//! Tower layers that make clients fail soft instead of amplifying a retry storm.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod classify;
pub mod error;
pub mod rng;

pub use crate::error::ConfigError;

/// The boxed error type of every failsoft service, as in tower.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
