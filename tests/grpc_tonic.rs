//! The gRPC stack between tonic-health's generated client and a real tonic
//! server on 127.0.0.1; a layer on the server injects trailers-only
//! failures (UNAVAILABLE, RESOURCE_EXHAUSTED with pushback).
#![cfg(feature = "grpc")]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use failsoft::BoxError;
use failsoft::grpc::{Deadline, GrpcTimeoutLayer};
use failsoft::http::{DEFAULT_BODY_CAP, buffer_body};
use failsoft::stack::StackLayer;
use http::{Request, Response};
use tonic::body::Body;
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::{Layer, Service, ServiceExt, service_fn};

/// Failures to answer with, in order, as (grpc-status, pushback); then pass.
type Script = Arc<Mutex<VecDeque<(&'static str, Option<&'static str>)>>>;

/// What the server saw: one `grpc-timeout` value per attempt.
type Seen = Arc<Mutex<Vec<Option<String>>>>;

#[derive(Clone)]
struct Faulty<S> {
    inner: S,
    script: Script,
    seen: Seen,
}

impl<S> Service<Request<Body>> for Faulty<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Send,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let timeout = req
            .headers()
            .get("grpc-timeout")
            .map(|v| v.to_str().unwrap().to_string());
        self.seen.lock().unwrap().push(timeout);
        let Some((status, pushback)) = self.script.lock().unwrap().pop_front() else {
            return Box::pin(self.inner.call(req));
        };
        // A trailers-only response: the status rides in the headers.
        let mut res = Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", status);
        if let Some(ms) = pushback {
            res = res.header("grpc-retry-pushback-ms", ms);
        }
        let res = res.body(Body::empty()).unwrap();
        Box::pin(async move { Ok(res) })
    }
}

struct Fixture {
    script: Script,
    seen: Seen,
    channel: Channel,
    _server: tokio::task::JoinHandle<()>,
}

async fn start(script: &[(&'static str, Option<&'static str>)]) -> Fixture {
    let script: Script = Arc::new(Mutex::new(script.iter().copied().collect()));
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let layer = {
        let (script, seen) = (Arc::clone(&script), Arc::clone(&seen));
        tower::layer::layer_fn(move |inner| Faulty {
            inner,
            script: Arc::clone(&script),
            seen: Arc::clone(&seen),
        })
    };
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(layer)
            .serve_with_incoming(health, TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Fixture {
        script,
        seen,
        channel,
        _server: server,
    }
}

/// tonic's client → buffer the body (tonic's is a stream) and set the
/// deadline → the gRPC stack → `grpc-timeout` per attempt → the channel.
fn client(
    channel: Channel,
    stack: StackLayer<
        failsoft::fallback::Decline,
        failsoft::grpc::GrpcClassify,
        failsoft::http::HttpReplay,
    >,
) -> HealthClient<
    impl tonic::client::GrpcService<Body, ResponseBody = Body, Error = BoxError, Future = impl Send>
    + Clone,
> {
    let transport = GrpcTimeoutLayer::new(Some(Duration::from_secs(2))).layer(service_fn(
        move |req: Request<failsoft::http::Buffered<Body>>| {
            channel.clone().oneshot(req.map(Body::new))
        },
    ));
    let svc = stack.layer(transport);
    HealthClient::new(service_fn(move |req: Request<Body>| {
        let svc = svc.clone();
        async move {
            let mut req = buffer_body(req, DEFAULT_BODY_CAP).await?;
            req.extensions_mut()
                .insert(Deadline::after(Duration::from_secs(5)));
            svc.oneshot(req).await
        }
    }))
}

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("loopback test took over 30 s")
}

fn check() -> HealthCheckRequest {
    HealthCheckRequest {
        service: String::new(),
    }
}

#[tokio::test]
async fn unavailable_is_retried_with_a_grpc_timeout_on_each_attempt() {
    bounded(async {
        let f = start(&[("14", None)]).await;
        let stack = StackLayer::builder().grpc().seed(21).build().unwrap();
        let counters = stack.counters();
        let mut health = client(f.channel.clone(), stack);
        let res = health.check(check()).await.unwrap();
        assert_eq!(res.into_inner().status(), ServingStatus::Serving);
        let seen = f.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        // Each attempt carried the smaller of 2 s and the 5 s left, in µs.
        for timeout in seen {
            let t = timeout.expect("grpc-timeout on every attempt");
            let micros: u64 = t.strip_suffix('u').unwrap().parse().unwrap();
            assert!(micros <= 2_000_000 && micros > 0, "{t}");
        }
        assert!(f.script.lock().unwrap().is_empty());
        assert_eq!(counters.snapshot().attempts, 2);
    })
    .await;
}

#[tokio::test]
async fn resource_exhausted_waits_for_pushback_and_negative_pushback_stops() {
    bounded(async {
        let f = start(&[("8", Some("300"))]).await;
        let stack = StackLayer::builder()
            .grpc()
            .budget(failsoft::budget::RatioBudget::builder().floor(1.0))
            .seed(22)
            .build()
            .unwrap();
        let mut health = client(f.channel.clone(), stack);
        let started = tokio::time::Instant::now();
        let res = health.check(check()).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(res.into_inner().status(), ServingStatus::Serving);
        assert_eq!(f.seen.lock().unwrap().len(), 2);

        f.script.lock().unwrap().push_back(("8", Some("-1")));
        let status = health.check(check()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(f.seen.lock().unwrap().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn other_codes_are_not_retried() {
    bounded(async {
        let f = start(&[("4", None), ("3", None)]).await;
        let mut health = client(
            f.channel.clone(),
            StackLayer::builder().grpc().seed(23).build().unwrap(),
        );
        let status = health.check(check()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        let status = health.check(check()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(f.seen.lock().unwrap().len(), 2);
    })
    .await;
}
