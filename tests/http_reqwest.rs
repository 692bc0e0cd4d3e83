//! The default stack around `reqwest::Client` (a `tower::Service`), against
//! a real hyper server on 127.0.0.1 with scripted faults.
#![cfg(feature = "reqwest")]

mod wire;

use std::sync::Arc;
use std::time::Duration;

use failsoft::stack::StackLayer;
use tower::{Layer, ServiceExt, service_fn};
use wire::{Fault, Server, bounded};

#[tokio::test]
async fn get_waits_for_retry_after_and_a_post_goes_once() {
    bounded(async {
        let server = Server::start([
            Fault::Status(429, Some("1")),
            Fault::Ok("fresh"),
            Fault::Status(503, None),
        ])
        .await;
        let client = reqwest::Client::new();
        // The default stack: the retry waits the hinted second and is held
        // for the client-wide pace's end (`tests/http_hyper.rs`).
        let svc = StackLayer::builder()
            .http()
            .seed(11)
            .build()
            .unwrap()
            .layer(client.clone());
        let started = tokio::time::Instant::now();
        let get = client.get(server.url("/schedule")).build().unwrap();
        let res = svc.clone().oneshot(get).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert_eq!(res.text().await.unwrap(), "fresh");
        assert_eq!(server.count("GET"), 2);

        let post = client
            .post(server.url("/order"))
            .body("{}")
            .build()
            .unwrap();
        let res = svc.oneshot(post).await.unwrap();
        assert_eq!(res.status(), 503);
        assert_eq!(server.count("POST"), 1);
    })
    .await;
}

#[tokio::test]
async fn resets_and_slow_answers_are_retried_for_idempotent_requests() {
    bounded(async {
        let server = Server::start([
            Fault::Drop,
            Fault::Ok("after drop"),
            Fault::Slow(Duration::from_secs(20)),
            Fault::Ok("after slow"),
            Fault::Drop,
        ])
        .await;
        let client = reqwest::Client::new();
        let stack = StackLayer::builder()
            .http()
            .attempt_timeout(Duration::from_millis(500))
            // Room for one retry per request in this test.
            .budget(failsoft::budget::RatioBudget::builder().floor(1.0))
            .seed(12)
            .build()
            .unwrap();
        let svc = stack.layer(client.clone());
        let res = svc
            .clone()
            .oneshot(client.put(server.url("/a")).body("v").build().unwrap())
            .await
            .unwrap();
        assert_eq!(res.text().await.unwrap(), "after drop");
        let res = svc
            .clone()
            .oneshot(client.get(server.url("/b")).build().unwrap())
            .await
            .unwrap();
        assert_eq!(res.text().await.unwrap(), "after slow");
        let err = svc
            .oneshot(client.patch(server.url("/c")).body("p").build().unwrap())
            .await
            .unwrap_err();
        assert!(err.is::<reqwest::Error>(), "{err}");
        let seen: Vec<_> = server.seen().into_iter().map(|s| s.method).collect();
        assert_eq!(seen, ["PUT", "PUT", "GET", "GET", "PATCH"]);
        assert_eq!(stack.counters().snapshot().attempts, 5);
    })
    .await;
}

#[tokio::test]
async fn a_post_refused_at_connect_is_retried_and_reaches_the_server_once() {
    bounded(async {
        let mut server = Server::start([]).await;
        let url = server.url("/report");
        server.stop().await;
        let server = Arc::new(tokio::sync::Mutex::new(server));
        let client = reqwest::Client::new();
        let transport = {
            let (server, client) = (Arc::clone(&server), client.clone());
            service_fn(move |req: reqwest::Request| {
                let (server, client) = (server.clone(), client.clone());
                async move {
                    let res = client.execute(req).await;
                    if let Err(e) = &res {
                        assert!(e.is_connect(), "{e}");
                        server.lock().await.restart().await;
                    }
                    res
                }
            })
        };
        let svc = StackLayer::builder()
            .http()
            .seed(13)
            .build()
            .unwrap()
            .layer(transport);
        let post = client.post(&url).body("r").build().unwrap();
        let res = svc.oneshot(post).await.unwrap();
        assert_eq!(res.text().await.unwrap(), "ok");
        assert_eq!(server.lock().await.count("POST"), 1);
    })
    .await;
}
