//! A small load generator for the scenarios: requests at a steady rate from several tasks,
//! each outcome counted, latencies kept for percentiles, RSS sampled on the side.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;

/// Counts of outcomes and every latency, shared by the tasks of one load.
#[derive(Default)]
pub struct Tally {
    pub sent: AtomicU64,
    pub ok: AtomicU64,
    pub unauthorized: AtomicU64,
    pub unavailable: AtomicU64,
    pub other: AtomicU64,
    pub transport: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
    /// The first few unexpected outcomes, for the failure message.
    pub unexpected: Mutex<Vec<String>>,
}

impl Tally {
    /// Counts an answer (or its absence) that took `elapsed`.
    pub fn record(&self, outcome: Result<u16, String>, elapsed: Duration) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let counter = match &outcome {
            Ok(200..=299) => &self.ok,
            Ok(401) => &self.unauthorized,
            Ok(503) => &self.unavailable,
            Ok(_) => &self.other,
            Err(_) => &self.transport,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let micros = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
        self.latencies_us.lock().unwrap().push(micros);
    }

    /// The unexpected outcomes noted so far (the first ten).
    pub fn unexpected_list(&self) -> Vec<String> {
        self.unexpected.lock().unwrap().clone()
    }

    /// Notes an outcome the scenario did not expect (kept for the failure message).
    pub fn unexpected(&self, what: String) {
        let mut list = self.unexpected.lock().unwrap();
        if list.len() < 10 {
            list.push(what);
        }
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// The `p`-th percentile latency (0 < p ≤ 100) in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let mut all = self.latencies_us.lock().unwrap().clone();
        if all.is_empty() {
            return 0.0;
        }
        all.sort_unstable();
        let rank = ((p / 100.0) * all.len() as f64).ceil() as usize;
        f64::from(all[rank.clamp(1, all.len()) - 1]) / 1000.0
    }

    /// A one-line summary.
    pub fn summary(&self) -> String {
        format!(
            "sent {}, 2xx {}, 401 {}, 503 {}, other {}, no answer {}, p50 {:.2} ms, p99 {:.2} ms",
            Self::get(&self.sent),
            Self::get(&self.ok),
            Self::get(&self.unauthorized),
            Self::get(&self.unavailable),
            Self::get(&self.other),
            Self::get(&self.transport),
            self.percentile_ms(50.0),
            self.percentile_ms(99.0),
        )
    }
}

/// Calls `send(i)` for i = 0, 1, … at `rate` calls per second in all, spread over `tasks`
/// tasks, until `duration` has passed. A task whose call takes longer than its period skips
/// the ticks it missed (no catch-up bursts), so the achieved rate is the true one: the number
/// of calls returned, divided by `duration`.
pub async fn paced<F, Fut>(rate: u32, duration: Duration, tasks: u32, send: F) -> u64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    assert!(rate > 0 && tasks > 0);
    let send = Arc::new(send);
    let next = Arc::new(AtomicU64::new(0));
    let period = Duration::from_secs_f64(f64::from(tasks) / f64::from(rate));
    let end = Instant::now() + duration;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let send = send.clone();
        let next = next.clone();
        handles.push(tokio::spawn(async move {
            // Stagger the tasks over one period so the load is even.
            let offset = period.mul_f64(f64::from(t) / f64::from(tasks));
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
            loop {
                ticks.tick().await;
                if Instant::now() >= end {
                    break;
                }
                send(next.fetch_add(1, Ordering::Relaxed)).await;
            }
        }));
    }
    for handle in handles {
        handle.await.expect("a load task panicked");
    }
    next.load(Ordering::Relaxed)
}

/// Samples the server's RSS every `every` until stopped; returns the samples in KiB.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<Vec<u64>>,
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = tokio::spawn(async move {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    samples.push(kib);
                }
                tokio::time::sleep(every).await;
            }
            samples
        });
        RssSampler { stop, handle }
    }

    pub async fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.await.expect("the sampler panicked")
    }
}

/// `VmRSS` of a process in KiB, if it still runs.
pub fn rss_kib(pid: u32) -> Option<u64> {
    crate::support::proc_status_kib(pid, "VmRSS:")
}

/// A client for load: a connection pool big enough for the tasks, short timeouts.
pub fn load_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(256)
        .no_proxy()
        .build()
        .unwrap()
}

/// `GET url` with `token`, counted in `tally`; an answer other than `expected` is noted as
/// unexpected (as "`what` `i`: answer") for the failure message.
pub async fn probe(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    expected: u16,
    tally: &Tally,
    what: &str,
    i: u64,
) {
    let start = Instant::now();
    let outcome = get_status(client, url, token).await;
    if outcome != Ok(expected) {
        tally.unexpected(format!("{what} {i}: {outcome:?}"));
    }
    tally.record(outcome, start.elapsed());
}

/// `GET url` with a bearer token; the status, or why there was none.
pub async fn get_status(client: &reqwest::Client, url: &str, token: &str) -> Result<u16, String> {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map(|response| response.status().as_u16())
        .map_err(|e| e.to_string())
}
