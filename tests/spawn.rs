//! Spawning a stack's call on a multi-threaded runtime, as users write it.
//!
//! Stacks of named types (owned requests, `DefaultClassify`, `HttpClassify`,
//! hyper-util's client) spawn as written. A stack holding a closure whose
//! signature carries a lifetime (a `&'static str` request, a
//! `classify_results` closure over `BoxError`) hits rustc issue #102211 and
//! is spawned through `BoxCloneService`; see the `stack` module docs.
#![cfg(feature = "http")]

use bytes::Bytes;
use failsoft::BoxError;
use failsoft::classify::{FailureKind, Verdict};
use failsoft::fallback::FallbackReason;
use failsoft::stack::StackLayer;
use http_body_util::Full;
use tower::util::BoxCloneService;
use tower::{Layer, Service, ServiceExt, service_fn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_stack_spawns_as_written() {
    let mut svc = StackLayer::builder()
        .fallback(|_: FallbackReason, _| Ok(0))
        .build()
        .unwrap()
        .layer(service_fn(|x: u32| async move {
            Ok::<_, std::io::Error>(x + 1)
        }));
    let task = tokio::spawn(async move { svc.ready().await?.call(1).await });
    assert_eq!(task.await.unwrap().unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_stack_around_hyper_spawns_as_written() {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut svc = StackLayer::builder().http().build().unwrap().layer(client);
    // Port 1 on loopback: refused at once.
    let req = http::Request::get("http://127.0.0.1:1/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let task = tokio::spawn(async move { svc.ready().await?.call(req).await });
    assert!(task.await.unwrap().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closures_with_lifetimes_spawn_once_boxed() {
    let svc = StackLayer::builder()
        .classify_results(|res: &Result<usize, BoxError>| match res {
            Ok(_) => Verdict::success(),
            Err(_) => Verdict::retryable(FailureKind::Error),
        })
        .build()
        .unwrap()
        .layer(service_fn(|device: &'static str| async move {
            Ok::<_, BoxError>(device.len())
        }));
    let mut svc = BoxCloneService::new(svc);
    let task = tokio::spawn(async move { svc.ready().await?.call("vacuum-7").await });
    assert_eq!(task.await.unwrap().unwrap(), 8);
}
