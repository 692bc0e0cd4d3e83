//! The default stack around hyper-util's client, against a real hyper
//! server on 127.0.0.1 with scripted faults (see `wire/mod.rs`).
#![cfg(feature = "http")]

mod wire;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use failsoft::BoxError;
use failsoft::fallback::FallbackReason;
use failsoft::http::{DEFAULT_BODY_CAP, buffer_body};
use failsoft::retry::RetrySnapshot;
use failsoft::stack::StackLayer;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt, service_fn};
use wire::{Fault, Server, bounded};

type Body = BoxBody<Bytes, hyper::Error>;

/// hyper-util's client with its body boxed, so a fallback can answer too.
fn client<B>() -> impl tower::Service<
    Request<B>,
    Response = Response<Body>,
    Error = hyper_util::client::legacy::Error,
    Future = impl Send,
> + Clone
where
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    Client::builder(TokioExecutor::new())
        .build_http::<B>()
        .map_response(|res: Response<hyper::body::Incoming>| res.map(BodyExt::boxed))
}

fn cached() -> Response<Body> {
    Response::new(
        Full::new(Bytes::from_static(b"cached"))
            .map_err(|never| match never {})
            .boxed(),
    )
}

async fn text(res: Response<Body>) -> String {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn request(method: &str, url: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

/// The default stack after a 503 + `Retry-After: 1`: the retry layer waits
/// the hinted second, and the throttle paces the whole client until
/// `1 s × U(1, 1.2)`. The retry is held for the pace's end rather than
/// rejected (no budget spent on it, not counted as sent), then answered.
#[tokio::test]
async fn get_waits_for_retry_after_and_gets_the_answer() {
    bounded(async {
        let server = Server::start([Fault::Status(503, Some("1")), Fault::Ok("fresh")]).await;
        let stack = StackLayer::builder().http().seed(1).build().unwrap();
        let counters = stack.counters();
        let throttle = stack.throttle();
        let started = tokio::time::Instant::now();
        let res = stack
            .layer(client())
            .oneshot(request("GET", &server.url("/schedule"), ""))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(text(res).await, "fresh");
        assert_eq!(server.count("GET"), 2);
        // The 1 s hint is a floor on the wait (a lower bound, not a timing).
        assert!(started.elapsed() >= Duration::from_secs(1));
        let snap: RetrySnapshot = counters.snapshot();
        assert_eq!(snap.sent(), 2, "{snap:?}");
        assert_eq!(snap.successes, 1);
        assert!(snap.held <= 1, "{snap:?}");
        // The pace is over by the time the answer came.
        assert!(
            throttle
                .snapshot()
                .paced_until
                .is_none_or(|t| t <= tokio::time::Instant::now())
        );
    })
    .await;
}

/// A pace that outlasts the deadline: the default stack (10 s deadline)
/// told `Retry-After: 30` neither retries past its deadline (the caller
/// gets the server's 503) nor holds a new request for the pace; a fallback
/// answers it at once, told the pace's end. The server sees one attempt.
#[tokio::test]
async fn a_pace_beyond_the_deadline_is_answered_by_the_fallback() {
    bounded(async {
        let server = Server::start([Fault::Status(503, Some("30")), Fault::Ok("fresh")]).await;
        let reasons = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&reasons);
        let stack = StackLayer::builder()
            .http()
            .fallback(move |reason: FallbackReason, _err| {
                seen.lock().unwrap().push(reason);
                Ok(cached())
            })
            .seed(1)
            .build()
            .unwrap();
        let counters = stack.counters();
        let svc = stack.layer(client());
        // The server's own answer comes back: no retry within the deadline.
        let res = svc
            .clone()
            .oneshot(request("GET", &server.url("/schedule"), ""))
            .await
            .unwrap();
        assert_eq!(res.status(), 503);
        // The next request meets the pace: not sent, not held.
        let res = svc
            .clone()
            .oneshot(request("GET", &server.url("/schedule"), ""))
            .await
            .unwrap();
        assert_eq!(text(res).await, "cached");
        assert_eq!(server.count("GET"), 1);
        let reasons = reasons.lock().unwrap();
        assert!(
            matches!(reasons[..], [FallbackReason::Paced(ref paced)] if paced.holds()),
            "{reasons:?}"
        );
        let snap = counters.snapshot();
        assert_eq!((snap.sent(), snap.held), (1, 0), "{snap:?}");
    })
    .await;
}

#[tokio::test]
async fn post_without_key_is_sent_once_and_with_a_key_is_retried() {
    bounded(async {
        let server = Server::start([
            Fault::Status(503, None),
            Fault::Status(503, None),
            Fault::Ok("accepted"),
        ])
        .await;
        let svc = StackLayer::builder()
            .http()
            .seed(2)
            .build()
            .unwrap()
            .layer(client());
        let res = svc
            .clone()
            .oneshot(request("POST", &server.url("/order"), "{}"))
            .await
            .unwrap();
        // The caller gets the server's own 503, and the POST went out once.
        assert_eq!(res.status(), 503);
        assert_eq!(server.count("POST"), 1);

        let mut keyed = request("POST", &server.url("/order"), "{}");
        keyed
            .headers_mut()
            .insert("idempotency-key", "order-42".parse().unwrap());
        let res = svc.oneshot(keyed).await.unwrap();
        assert_eq!(text(res).await, "accepted");
        let seen = server.seen();
        assert_eq!(seen.len(), 3);
        assert!(
            seen[1..]
                .iter()
                .all(|s| s.idempotency_key && s.body_len == 2)
        );
    })
    .await;
}

#[tokio::test]
async fn dropped_connections_retry_a_get_but_not_a_post() {
    bounded(async {
        let server = Server::start([Fault::Drop, Fault::Ok("second time")]).await;
        let svc = StackLayer::builder()
            .http()
            .seed(3)
            .build()
            .unwrap()
            .layer(client());
        let res = svc
            .clone()
            .oneshot(request("GET", &server.url("/"), ""))
            .await
            .unwrap();
        assert_eq!(text(res).await, "second time");
        assert_eq!(server.count("GET"), 2);

        let server = Server::start([Fault::Drop, Fault::Ok("never")]).await;
        let err = svc
            .oneshot(request("POST", &server.url("/"), "x"))
            .await
            .unwrap_err();
        assert!(err.is::<hyper_util::client::legacy::Error>(), "{err}");
        assert_eq!(server.count("POST"), 1);
    })
    .await;
}

#[tokio::test]
async fn a_slow_answer_is_cut_by_the_attempt_timeout_and_retried() {
    bounded(async {
        let server = Server::start([Fault::Slow(Duration::from_secs(20)), Fault::Ok("fast")]).await;
        let svc = StackLayer::builder()
            .http()
            .attempt_timeout(Duration::from_millis(500))
            .seed(4)
            .build()
            .unwrap()
            .layer(client());
        let res = svc
            .oneshot(request("GET", &server.url("/"), ""))
            .await
            .unwrap();
        assert_eq!(text(res).await, "fast");
        assert_eq!(server.count("GET"), 2);
    })
    .await;
}

#[tokio::test]
async fn a_post_refused_while_the_server_restarts_is_sent_once_after() {
    bounded(async {
        let mut server = Server::start([]).await;
        let url = server.url("/report");
        server.stop().await;
        let server = Arc::new(tokio::sync::Mutex::new(server));
        // The transport brings the server back after the first refusal.
        let restarts = Arc::new(Mutex::new(0));
        let transport = {
            let (server, restarts) = (Arc::clone(&server), Arc::clone(&restarts));
            let inner = client::<Full<Bytes>>();
            service_fn(move |req| {
                let (server, restarts, inner) = (server.clone(), restarts.clone(), inner.clone());
                async move {
                    let res = inner.oneshot(req).await;
                    if res.is_err() && *restarts.lock().unwrap() == 0 {
                        *restarts.lock().unwrap() += 1;
                        server.lock().await.restart().await;
                    }
                    res
                }
            })
        };
        let svc = StackLayer::builder()
            .http()
            .seed(5)
            .build()
            .unwrap()
            .layer(transport);
        let res = svc.oneshot(request("POST", &url, "r")).await.unwrap();
        assert_eq!(text(res).await, "ok");
        assert_eq!(*restarts.lock().unwrap(), 1);
        // Refused means never sent: the POST reached the server exactly once.
        assert_eq!(server.lock().await.count("POST"), 1);
    })
    .await;
}

#[tokio::test]
async fn a_dead_server_gets_the_fallback() {
    bounded(async {
        let mut server = Server::start([]).await;
        server.stop().await;
        let reasons = Arc::new(Mutex::new(Vec::new()));
        let stack = {
            let reasons = Arc::clone(&reasons);
            StackLayer::builder()
                .http()
                .on_failures(true)
                .fallback(move |reason: FallbackReason, _err| {
                    reasons.lock().unwrap().push(reason.as_str());
                    Ok(cached())
                })
                .seed(6)
                .build()
                .unwrap()
        };
        let counters = stack.counters();
        let res = stack
            .layer(client())
            .oneshot(request("GET", &server.url("/"), ""))
            .await
            .unwrap();
        assert_eq!(text(res).await, "cached");
        assert_eq!(reasons.lock().unwrap().len(), 1);
        assert!(counters.snapshot().attempts >= 2);
        assert_eq!(server.seen().len(), 0);
    })
    .await;
}

#[tokio::test]
async fn buffered_bodies_replay_under_the_cap_and_go_once_over_it() {
    bounded(async {
        let server = Server::start([
            Fault::Status(503, None),
            Fault::Ok("stored"),
            Fault::Status(503, None),
        ])
        .await;
        let svc = StackLayer::builder()
            .http()
            .seed(8)
            .build()
            .unwrap()
            .layer(client());
        let small = buffer_body(request("PUT", &server.url("/a"), "small"), DEFAULT_BODY_CAP)
            .await
            .unwrap();
        let res = svc.clone().oneshot(small).await.unwrap();
        assert_eq!(text(res).await, "stored");
        let big: &'static str = "x".repeat(100).leak();
        let big = buffer_body(request("PUT", &server.url("/b"), big), 10)
            .await
            .unwrap();
        assert!(!big.body().is_replayable());
        let res = svc.oneshot(big).await.unwrap();
        assert_eq!(res.status(), 503);
        let lens: Vec<_> = server
            .seen()
            .iter()
            .map(|s| (s.path.clone(), s.body_len))
            .collect();
        assert_eq!(
            lens,
            [("/a".into(), 5), ("/a".into(), 5), ("/b".to_string(), 100)]
        );
    })
    .await;
}

#[tokio::test]
async fn a_body_cut_mid_way_reaches_the_caller_as_an_error() {
    bounded(async {
        let server = Server::start([Fault::CutBody]).await;
        let svc = StackLayer::builder()
            .http()
            .seed(9)
            .build()
            .unwrap()
            .layer(client());
        let res = svc
            .oneshot(request("GET", &server.url("/"), ""))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.into_body().collect().await.is_err());
        assert_eq!(server.count("GET"), 1);
    })
    .await;
}
