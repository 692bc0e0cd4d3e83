//! A hyper server on 127.0.0.1 (port 0) with scripted faults, for the
//! loopback end-to-end tests of the `http` and `reqwest` features.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 200 with this body.
    Ok(&'static str),
    /// This status, with `Retry-After` if given.
    Status(u16, Option<&'static str>),
    /// Wait this long, then 200 "slow".
    Slow(Duration),
    /// Close the connection without answering.
    Drop,
    /// 200 with a `content-length` of 100, then close after 10 bytes.
    CutBody,
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body_len: usize,
    pub idempotency_key: bool,
}

#[derive(Debug, Default)]
struct State {
    script: VecDeque<Fault>,
    seen: Vec<Seen>,
}

/// A running server; stops when dropped.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    tasks: Option<JoinSet<()>>,
}

impl Server {
    /// Starts on a free port; answers by `script`, then 200 "ok".
    pub async fn start(script: impl IntoIterator<Item = Fault>) -> Server {
        let state = Arc::new(Mutex::new(State {
            script: script.into_iter().collect(),
            seen: Vec::new(),
        }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut server = Server {
            addr,
            state,
            tasks: None,
        };
        server.serve(listener);
        server
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Requests seen with this method.
    pub fn count(&self, method: &str) -> usize {
        self.seen().iter().filter(|s| s.method == method).count()
    }

    /// Stops accepting and closes every connection; once this returns,
    /// connecting is refused.
    pub async fn stop(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.shutdown().await;
        }
    }

    /// Listens again on the same address (keeps script and log).
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let mut tasks = JoinSet::new();
        let state = Arc::clone(&self.state);
        let conns: Arc<Mutex<JoinSet<()>>> = Arc::default();
        let guard = Arc::clone(&conns);
        tasks.spawn(async move {
            // Connection tasks die with the accept loop.
            let _conns = guard;
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&state);
                let svc = service_fn(move |req| handle(Arc::clone(&state), req));
                _conns.lock().unwrap().spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        self.tasks = Some(tasks);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.abort_all();
        }
    }
}

pub type ServerBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn full(text: &'static str) -> ServerBody {
    Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed()
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<ServerBody>, std::io::Error> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let idempotency_key = req.headers().contains_key("idempotency-key");
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?;
    let fault = {
        let mut state = state.lock().unwrap();
        state.seen.push(Seen {
            method,
            path,
            body_len: body.to_bytes().len(),
            idempotency_key,
        });
        state.script.pop_front().unwrap_or(Fault::Ok("ok"))
    };
    match fault {
        Fault::Ok(text) => Ok(Response::new(full(text))),
        Fault::Status(code, retry_after) => {
            let mut res = Response::builder().status(StatusCode::from_u16(code).unwrap());
            if let Some(after) = retry_after {
                res = res.header("retry-after", after);
            }
            Ok(res.body(full("busy")).unwrap())
        }
        Fault::Slow(wait) => {
            tokio::time::sleep(wait).await;
            Ok(Response::new(full("slow")))
        }
        Fault::Drop => Err(std::io::Error::other("dropped on purpose")),
        Fault::CutBody => {
            // The head and the first bytes go out before the cut.
            let first = futures::stream::iter([Ok(Frame::data(Bytes::from_static(b"0123456789")))]);
            let cut = futures::stream::once(async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err(std::io::Error::other("cut mid-body"))
            });
            let frames = futures::StreamExt::chain(first, cut);
            let res = Response::builder()
                .header("content-length", "100")
                .body(StreamBody::new(frames).boxed())
                .unwrap();
            Ok(res)
        }
    }
}

/// Runs `test` with a 30 s bound: a hung loopback test fails, never hangs CI.
pub async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("loopback test took over 30 s")
}

/// A `Result` helper for infallible bodies.
pub fn infallible<T>(x: T) -> Result<T, Infallible> {
    Ok(x)
}
