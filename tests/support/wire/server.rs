//! A rate-limited HTTP/1 server on 127.0.0.1: a token bucket admits
//! `rate` requests per second with bursts up to `burst`; everything else is
//! answered at once with `503` and `Retry-After: 1`.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::RETRY_AFTER;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// The server's limit: `rate` requests per second, bursts up to `burst`.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub rate: f64,
    pub burst: f64,
}

impl Limit {
    /// `rate` per second with a burst of one second's worth.
    pub fn per_second(rate: f64) -> Self {
        Self { rate, burst: rate }
    }

    /// How many requests the server admits over `secs` seconds, starting
    /// with a full bucket.
    pub fn allowance(&self, secs: f64) -> f64 {
        self.burst + self.rate * secs
    }
}

/// A running server; dropping it stops accepting and closes every
/// connection.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    limit: Limit,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    bucket: Mutex<Bucket>,
    attempts: AtomicU64,
    ok: AtomicU64,
}

#[derive(Debug)]
struct Bucket {
    limit: Limit,
    tokens: f64,
    last: Instant,
}

// === impl Server ===

impl Server {
    /// Binds 127.0.0.1 on a port the system picks and serves until
    /// dropped. The bucket starts full.
    pub async fn start(limit: Limit) -> io::Result<Server> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            bucket: Mutex::new(Bucket {
                limit,
                tokens: limit.burst,
                last: Instant::now(),
            }),
            attempts: AtomicU64::new(0),
            ok: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept(listener, Arc::clone(&shared)));
        Ok(Server {
            addr,
            limit,
            shared,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// Requests the server has seen (every attempt that reached it).
    pub fn attempts(&self) -> u64 {
        self.shared.attempts.load(Ordering::Relaxed)
    }

    /// `200`s the server has sent.
    pub fn ok(&self) -> u64 {
        self.shared.ok.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The accept task owns the connections' JoinSet: aborting it
        // aborts them too.
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = Arc::clone(&shared);
                let service = service_fn(move |req| answer(req, Arc::clone(&shared)));
                connections.spawn(async move {
                    // A client that goes away mid-request is not our error.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn answer(
    _req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    shared.attempts.fetch_add(1, Ordering::Relaxed);
    let admitted = shared.bucket.lock().unwrap().take(Instant::now());
    let response = if admitted {
        shared.ok.fetch_add(1, Ordering::Relaxed);
        Response::new(Full::new(Bytes::from_static(b"ok\n")))
    } else {
        let mut res = Response::new(Full::new(Bytes::from_static(b"slow down\n")));
        *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        res.headers_mut()
            .insert(RETRY_AFTER, hyper::header::HeaderValue::from_static("1"));
        res
    };
    Ok(response)
}

// === impl Bucket ===

impl Bucket {
    /// Refills for the time since the last call, then takes one token if
    /// there is one.
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.limit.rate).min(self.limit.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
