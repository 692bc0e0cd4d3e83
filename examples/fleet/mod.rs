//! What the wire-demo fleets (`vacuum`, `streaming`, `tickets`) share: the
//! command line, the compressed day, the client (the failsoft stack or a
//! naive retry loop), the tally of outcomes and the report every 5 s.
//!
//! Each example includes this file with `#[path = "fleet/mod.rs"] mod fleet;`
//! (Cargo builds only `examples/*.rs` and `examples/*/main.rs` as examples,
//! so this directory is not one).
#![allow(dead_code)] // each example uses its own part of it

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Args;
use failsoft::BoxError;
use failsoft::retry::RetryCounters;
use failsoft::stack::StackLayer;
use tokio::time::Instant;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

/// The length of the simulated day, 07:00–21:00, in seconds.
const DAY: f64 = 14.0 * 3600.0;

/// Options every fleet takes.
#[derive(Args, Debug, Clone)]
pub(crate) struct Common {
    /// The storm_server URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080/")]
    pub(crate) url: String,
    /// Wall-clock seconds for 07:00–21:00, as given to storm_server.
    #[arg(long, default_value_t = 60)]
    pub(crate) seconds: u64,
    /// Fixed 1 s retries, 4 attempts, hints ignored, no fallback.
    #[arg(long)]
    pub(crate) naive: bool,
    /// Seed of the fleet's phases and traits, and of the stack.
    #[arg(long, default_value_t = 7)]
    pub(crate) seed: u64,
}

/// The simulated day compressed into `seconds` of wall-clock time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Day {
    start: Instant,
    seconds: f64,
}

impl Day {
    /// A day starting now.
    pub(crate) fn new(seconds: u64) -> Self {
        Self {
            start: Instant::now(),
            seconds: seconds.max(1) as f64,
        }
    }

    /// Wall-clock time for `sim_secs` simulated seconds.
    pub(crate) fn real(&self, sim_secs: f64) -> Duration {
        Duration::from_secs_f64((sim_secs * self.seconds / DAY).max(0.0))
    }

    /// The instant the simulated clock reads `hour` (07:00 is the start).
    pub(crate) fn at_hour(&self, hour: f64) -> Instant {
        self.start + self.real((hour - 7.0) * 3600.0)
    }

    /// The simulated hour now.
    pub(crate) fn hour(&self) -> f64 {
        7.0 + 14.0 * self.start.elapsed().as_secs_f64() / self.seconds
    }

    /// The end of the day (21:00).
    pub(crate) fn end(&self) -> Instant {
        self.start + Duration::from_secs_f64(self.seconds)
    }
}

/// How one logical request ended for its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The backend answered it.
    Ok,
    /// It failed, and the device carried on with what it had.
    Soft,
    /// It failed, and the user saw it.
    Hard,
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    attempts: AtomicU64,
    ok: AtomicU64,
    soft: AtomicU64,
    hard: AtomicU64,
}

impl Tally {
    fn take(&self) -> [u64; 5] {
        [
            self.requests.swap(0, Ordering::Relaxed),
            self.attempts.swap(0, Ordering::Relaxed),
            self.ok.swap(0, Ordering::Relaxed),
            self.soft.swap(0, Ordering::Relaxed),
            self.hard.swap(0, Ordering::Relaxed),
        ]
    }
}

type Stack = BoxCloneSyncService<reqwest::Request, reqwest::Response, BoxError>;

/// A fleet's client: the failsoft stack over one `reqwest::Client`, or
/// (`--naive`) a fixed retry loop; and its tally.
#[derive(Clone)]
pub(crate) struct Fleet {
    client: reqwest::Client,
    stack: Option<(Stack, RetryCounters)>,
    tally: Arc<Tally>,
    url: reqwest::Url,
    pub(crate) day: Day,
}

impl Fleet {
    /// The client for `common`'s URL, which must be on loopback. The stack
    /// is the default one with [`StackBuilder::http`]: no fallback inside
    /// it, as each device knows what it can fall back on.
    ///
    /// [`StackBuilder::http`]: failsoft::stack::StackBuilder::http
    pub(crate) fn new(common: &Common) -> Result<Self, BoxError> {
        let url: reqwest::Url = common.url.parse()?;
        if !url
            .host_str()
            .is_some_and(|h| h == "127.0.0.1" || h == "localhost")
        {
            return Err("this example talks to loopback only".into());
        }
        let client = reqwest::Client::new();
        let stack = if common.naive {
            None
        } else {
            let stack = StackLayer::builder().http().seed(common.seed).build()?;
            let counters = stack.counters();
            // Boxed to name its type; the stack's call spawns as it is.
            Some((
                BoxCloneSyncService::new(stack.layer(client.clone())),
                counters,
            ))
        };
        Ok(Self {
            client,
            stack,
            tally: Arc::default(),
            url,
            day: Day::new(common.seconds),
        })
    }

    /// A request to `path` on the server; `build` adds the method, headers
    /// and body.
    pub(crate) fn request(
        &self,
        path: &str,
        build: impl Fn(&reqwest::Client, reqwest::Url) -> reqwest::RequestBuilder,
    ) -> Option<reqwest::Request> {
        let url = self.url.join(path).ok()?;
        build(&self.client, url).build().ok()
    }

    /// Sends one logical request and records its outcome: `Ok` on a 2xx
    /// answer, otherwise `Soft` if the device has something to fall back on
    /// (`fallback`), `Hard` if not. A naive client never falls back.
    pub(crate) async fn send(&self, req: reqwest::Request, fallback: bool) -> Outcome {
        self.tally.requests.fetch_add(1, Ordering::Relaxed);
        let answered = match &self.stack {
            Some((stack, _)) => stack
                .clone()
                .oneshot(req)
                .await
                .is_ok_and(|res| res.status().is_success()),
            None => self.naive(req).await,
        };
        let outcome = match (answered, fallback && self.stack.is_some()) {
            (true, _) => Outcome::Ok,
            (false, true) => Outcome::Soft,
            (false, false) => Outcome::Hard,
        };
        match outcome {
            Outcome::Ok => &self.tally.ok,
            Outcome::Soft => &self.tally.soft,
            Outcome::Hard => &self.tally.hard,
        }
        .fetch_add(1, Ordering::Relaxed);
        outcome
    }

    /// Four attempts 1 s apart, 2 s each, whatever the server says.
    async fn naive(&self, req: reqwest::Request) -> bool {
        for attempt in 0..4 {
            let Some(copy) = req.try_clone() else {
                return false;
            };
            self.tally.attempts.fetch_add(1, Ordering::Relaxed);
            let res = tokio::time::timeout(Duration::from_secs(2), self.client.execute(copy)).await;
            if matches!(res, Ok(Ok(ref r)) if r.status().is_success()) {
                return true;
            }
            if attempt < 3 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        false
    }

    /// Prints a line every 5 s until 10 s after the day's end, then the
    /// totals: requests, attempts sent to the server, ok / soft / hard.
    pub(crate) async fn report(&self, name: &str) {
        let mode = if self.stack.is_some() {
            "failsoft"
        } else {
            "naive"
        };
        println!("{mode} {name}");
        println!("   t   hour  requests  attempts      ok    soft    hard");
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.tick().await;
        let (mut last_sent, mut total) = (0, [0_u64; 5]);
        for step in 1.. {
            tick.tick().await;
            let mut line = self.tally.take();
            if let Some((_, counters)) = &self.stack {
                let sent = counters.snapshot().sent();
                line[1] = sent - last_sent;
                last_sent = sent;
            }
            for (t, l) in total.iter_mut().zip(line) {
                *t += l;
            }
            let hour = self.day.hour().min(21.0);
            let [requests, attempts, ok, soft, hard] = line;
            println!(
                "{:>4}s  {:02}:{:02} {requests:>9} {attempts:>9} {ok:>7} {soft:>7} {hard:>7}",
                step * 5,
                hour as u32,
                (hour.fract() * 60.0) as u32,
            );
            if Instant::now() >= self.day.end() + Duration::from_secs(10) {
                break;
            }
        }
        let [requests, attempts, ok, soft, hard] = total;
        println!(
            "total {requests} requests, {attempts} attempts ({:.2} per request), \
             ok {ok}, soft {soft}, hard {hard}",
            attempts as f64 / requests.max(1) as f64
        );
    }
}

/// Calls `due` every `period` from `first` until `end`; runs never wait
/// for each other (each is spawned), as devices do not.
pub(crate) fn every<F, Fut>(first: Instant, period: Duration, end: Instant, due: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(first, period.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while tick.tick().await < end {
            tokio::spawn(due());
        }
    });
}
