//! `GET /metrics`: Prometheus text format (version 0.0.4), written by hand.
//!
//! - `http_requests_total{route,method,status}`: requests answered, by matched route pattern
//!   (`unmatched` when no route matched) and method (an extension method is `other`);
//! - `http_request_duration_seconds{route,method}`: a latency histogram;
//! - `http_requests_in_flight`: a gauge of the requests being handled, counted from the start
//!   of the outermost middleware until its answer is ready (or the request is abandoned); the
//!   scrape that reads it is one of them, so an idle server shows 1;
//! - `auth_failures_total{reason}`: refused requests by reason (`token-expired`,
//!   `missing-permission`, …), every Clerk reason present from the start;
//! - `jwks_fetches_total`, `jwks_fetch_failures_total`: fetches of Clerk's signing keys;
//! - `token_cache_hits_total`, `token_cache_misses_total`: the verified-token cache;
//! - `webhook_deliveries_total{outcome}`: Clerk webhook deliveries by outcome (`applied`,
//!   `duplicate`, `ignored`, `refused`, `failed`, `not-configured`), every outcome present
//!   from the start.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, Method};
use axum::response::IntoResponse;
use clerk_auth::Reason;

use super::AppState;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The outcomes of a webhook delivery, as `webhook_deliveries_total` labels them.
pub const WEBHOOK_OUTCOMES: [&str; 6] = [
    "applied",
    "duplicate",
    "ignored",
    "refused",
    "failed",
    "not-configured",
];

/// The `method` label of the standard methods; any other (extension) method is counted as
/// [`OTHER_METHOD`], so that clients cannot create series at will.
static METHODS: [Method; 9] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
    Method::CONNECT,
    Method::PATCH,
    Method::TRACE,
];

/// The `method` label of every extension method.
pub const OTHER_METHOD: &str = "other";

/// The request metrics.
///
/// Recording a request allocates nothing and takes no exclusive lock, except the first time a
/// route, method and status are seen: the series are found under read locks (keyed by the
/// matched route template and a fixed set of method labels) and counted with atomic
/// additions.
#[derive(Debug, Default)]
pub struct Metrics {
    /// By matched route template (owned, allocated once per template).
    routes: RwLock<HashMap<Box<str>, RouteSeries>>,
    /// Shared with the [`InFlight`] guards, which outlive a borrow of this.
    in_flight: Arc<AtomicU64>,
    /// Only refused requests touch it.
    auth_failures: Mutex<BTreeMap<String, u64>>,
    /// By index in [`WEBHOOK_OUTCOMES`].
    webhooks: [AtomicU64; WEBHOOK_OUTCOMES.len()],
}

/// One route's series, by method: the index in [`METHODS`], or `METHODS.len()` for
/// [`OTHER_METHOD`].
#[derive(Debug, Default)]
struct RouteSeries {
    methods: [MethodSeries; METHODS.len() + 1],
}

#[derive(Debug, Default)]
struct MethodSeries {
    histogram: Histogram,
    /// Requests answered, by status: few per route and method.
    statuses: RwLock<Vec<(u16, AtomicU64)>>,
}

/// A latency histogram. `count` is incremented before the bucket, whose increment has release
/// ordering; a scrape loads the buckets with acquire and then `count`, so it never shows a
/// bucket above `+Inf`.
#[derive(Debug, Default)]
struct Histogram {
    /// Observations at or below each bucket's bound (not cumulative; summed when written).
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// The index of `method` in a [`RouteSeries`].
fn method_index(method: &Method) -> usize {
    METHODS
        .iter()
        .position(|m| m == method)
        .unwrap_or(METHODS.len())
}

/// The `method` label of the index [`method_index`] gave.
fn method_label(index: usize) -> &'static str {
    METHODS.get(index).map_or(OTHER_METHOD, Method::as_str)
}

impl Metrics {
    /// Records one answered request: `route` is the matched route template (such as
    /// `/v1/notes/{id}`, or `unmatched`), never the raw path, so that the series stay few;
    /// `auth_failure` is the refusal reason, if refused.
    pub fn record(
        &self,
        route: &str,
        method: &Method,
        status: u16,
        elapsed: Duration,
        auth_failure: Option<&str>,
    ) {
        let method = method_index(method);
        {
            let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
            if let Some(series) = routes.get(route) {
                series.methods[method].record(status, elapsed);
            } else {
                drop(routes);
                let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
                routes.entry(route.into()).or_default().methods[method].record(status, elapsed);
            }
        }
        if let Some(reason) = auth_failure {
            let mut failures = self.auth_failures.lock().unwrap_or_else(|p| p.into_inner());
            match failures.get_mut(reason) {
                Some(count) => *count += 1,
                None => {
                    failures.insert(reason.to_owned(), 1);
                }
            }
        }
    }

    /// Records one webhook delivery by outcome, one of [`WEBHOOK_OUTCOMES`] (any other is
    /// not counted).
    pub fn record_webhook(&self, outcome: &'static str) {
        debug_assert!(WEBHOOK_OUTCOMES.contains(&outcome), "{outcome}");
        if let Some(i) = WEBHOOK_OUTCOMES.iter().position(|o| *o == outcome) {
            self.webhooks[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a request as in flight (`http_requests_in_flight`) until the returned guard is
    /// dropped: when the request is answered, times out, or is abandoned by its client.
    pub fn start_request(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(&self.in_flight))
    }

    /// The requests being handled now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// A request counted by `http_requests_in_flight`, until dropped. See
/// [`Metrics::start_request`].
#[derive(Debug)]
#[must_use = "the request stops being counted when this is dropped"]
pub struct InFlight(Arc<AtomicU64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl MethodSeries {
    fn record(&self, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let histogram = &self.histogram;
        histogram.count.fetch_add(1, Ordering::Relaxed);
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            histogram.buckets[bucket].fetch_add(1, Ordering::Release);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        histogram.sum_nanos.fetch_add(nanos, Ordering::Relaxed);

        let statuses = self.statuses.read().unwrap_or_else(|p| p.into_inner());
        if let Some((_, count)) = statuses.iter().find(|(s, _)| *s == status) {
            count.fetch_add(1, Ordering::Relaxed);
            return;
        }
        drop(statuses);
        let mut statuses = self.statuses.write().unwrap_or_else(|p| p.into_inner());
        match statuses.iter().find(|(s, _)| *s == status) {
            Some((_, count)) => {
                count.fetch_add(1, Ordering::Relaxed);
            }
            None => statuses.push((status, AtomicU64::new(1))),
        }
    }
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let stats = state.verifier().stats();
    let metrics = state.metrics();
    let mut out = String::with_capacity(4096);
    write_requests(&mut out, metrics);
    write_in_flight(&mut out, metrics);
    {
        let failures = metrics
            .auth_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        write_auth_failures(&mut out, &failures);
    }
    write_webhooks(&mut out, &metrics.webhooks);
    counter(
        &mut out,
        "jwks_fetches_total",
        "Fetches of Clerk's JWKS, successful or not.",
        stats.jwks.fetches,
    );
    counter(
        &mut out,
        "jwks_fetch_failures_total",
        "Fetches of Clerk's JWKS that failed.",
        stats.jwks.failures,
    );
    counter(
        &mut out,
        "token_cache_hits_total",
        "Tokens answered from the verified-token cache.",
        stats.cache_hits,
    );
    counter(
        &mut out,
        "token_cache_misses_total",
        "Tokens whose signature had to be checked.",
        stats.cache_misses,
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

/// A snapshot of one route and method's histogram.
struct HistogramSnapshot {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

fn write_requests(out: &mut String, metrics: &Metrics) {
    // Copied out under the read lock, then written sorted by route, method and status.
    let mut requests: Vec<(&str, &str, u16, u64)> = Vec::new();
    let mut durations: Vec<(&str, &str, HistogramSnapshot)> = Vec::new();
    let routes = metrics.routes.read().unwrap_or_else(|p| p.into_inner());
    for (route, series) in routes.iter() {
        for (index, method) in series.methods.iter().enumerate() {
            let label = method_label(index);
            let histogram = &method.histogram;
            let mut buckets = [0; BUCKETS.len()];
            for (snapshot, bucket) in buckets.iter_mut().zip(&histogram.buckets) {
                *snapshot = bucket.load(Ordering::Acquire);
            }
            let count = histogram.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let sum_nanos = histogram.sum_nanos.load(Ordering::Relaxed);
            durations.push((
                route,
                label,
                HistogramSnapshot {
                    buckets,
                    count,
                    // u64 nanoseconds to f64 seconds: exact up to 104 days.
                    sum_seconds: sum_nanos as f64 / 1e9,
                },
            ));
            let statuses = method.statuses.read().unwrap_or_else(|p| p.into_inner());
            for (status, count) in statuses.iter() {
                requests.push((route, label, *status, count.load(Ordering::Relaxed)));
            }
        }
    }
    requests.sort_unstable_by_key(|&(route, method, status, _)| (route, method, status));
    durations.sort_unstable_by_key(|&(route, method, _)| (route, method));

    out.push_str("# HELP http_requests_total HTTP requests answered.\n");
    out.push_str("# TYPE http_requests_total counter\n");
    for (route, method, status, count) in requests {
        let _ = writeln!(
            out,
            "http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {count}",
            escape(route),
            escape(method)
        );
    }
    out.push_str("# HELP http_request_duration_seconds Time to answer an HTTP request.\n");
    out.push_str("# TYPE http_request_duration_seconds histogram\n");
    for (route, method, histogram) in durations {
        let labels = format!("route=\"{}\",method=\"{}\"", escape(route), escape(method));
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
            cumulative += count;
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            histogram.count
        );
        let _ = writeln!(
            out,
            "http_request_duration_seconds_sum{{{labels}}} {}",
            histogram.sum_seconds
        );
        let _ = writeln!(
            out,
            "http_request_duration_seconds_count{{{labels}}} {}",
            histogram.count
        );
    }
}

fn write_in_flight(out: &mut String, metrics: &Metrics) {
    let _ = writeln!(
        out,
        "# HELP http_requests_in_flight HTTP requests being handled, this scrape included.\n\
         # TYPE http_requests_in_flight gauge\n\
         http_requests_in_flight {}",
        metrics.in_flight()
    );
}

fn write_auth_failures(out: &mut String, failures: &BTreeMap<String, u64>) {
    out.push_str("# HELP auth_failures_total Requests refused by authentication or authorization, by reason.\n");
    out.push_str("# TYPE auth_failures_total counter\n");
    let mut all: BTreeMap<&str, u64> = Reason::ALL.iter().map(|r| (r.as_str(), 0)).collect();
    for (reason, count) in failures {
        all.insert(reason, *count);
    }
    for (reason, count) in all {
        let _ = writeln!(
            out,
            "auth_failures_total{{reason=\"{}\"}} {count}",
            escape(reason)
        );
    }
}

fn write_webhooks(out: &mut String, deliveries: &[AtomicU64; WEBHOOK_OUTCOMES.len()]) {
    out.push_str("# HELP webhook_deliveries_total Clerk webhook deliveries, by outcome.\n");
    out.push_str("# TYPE webhook_deliveries_total counter\n");
    for (outcome, count) in WEBHOOK_OUTCOMES.iter().zip(deliveries) {
        let count = count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "webhook_deliveries_total{{outcome=\"{outcome}\"}} {count}"
        );
    }
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

/// Escapes a label value: backslash, double quote and newline (the exposition format's rule).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("a\nb"), "a\\nb");
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let metrics = Metrics::default();
        for ms in [1, 20, 20, 20_000] {
            metrics.record("/x", &Method::GET, 200, Duration::from_millis(ms), None);
        }
        let mut out = String::new();
        write_requests(&mut out, &metrics);
        assert!(out.contains(r#"http_requests_total{route="/x",method="GET",status="200"} 4"#));
        assert!(out.contains(
            r#"http_request_duration_seconds_bucket{route="/x",method="GET",le="0.005"} 1"#
        ));
        assert!(out.contains(
            r#"http_request_duration_seconds_bucket{route="/x",method="GET",le="0.025"} 3"#
        ));
        assert!(out.contains(
            r#"http_request_duration_seconds_bucket{route="/x",method="GET",le="10"} 3"#
        ));
        assert!(out.contains(
            r#"http_request_duration_seconds_bucket{route="/x",method="GET",le="+Inf"} 4"#
        ));
        assert!(out.contains(r#"http_request_duration_seconds_count{route="/x",method="GET"} 4"#));
    }

    #[test]
    fn extension_methods_share_one_other_series() {
        let metrics = Metrics::default();
        for method in [&b"PURGE"[..], b"X-1", b"X-2"] {
            let method = Method::from_bytes(method).unwrap();
            metrics.record("/x", &method, 405, Duration::from_millis(1), None);
        }
        let mut out = String::new();
        write_requests(&mut out, &metrics);
        assert!(
            out.contains(r#"http_requests_total{route="/x",method="other",status="405"} 3"#),
            "{out}"
        );
        assert!(!out.contains("PURGE") && !out.contains("X-1"), "{out}");
    }

    #[test]
    fn series_are_written_sorted_by_route_method_and_status() {
        let metrics = Metrics::default();
        let ms = Duration::from_millis(1);
        metrics.record("/b", &Method::GET, 404, ms, None);
        metrics.record("/b", &Method::GET, 200, ms, None);
        metrics.record("/a", &Method::POST, 201, ms, None);
        metrics.record("/a", &Method::DELETE, 204, ms, None);
        let mut out = String::new();
        write_requests(&mut out, &metrics);
        let series: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("http_requests_total{"))
            .collect();
        assert_eq!(
            series,
            [
                r#"http_requests_total{route="/a",method="DELETE",status="204"} 1"#,
                r#"http_requests_total{route="/a",method="POST",status="201"} 1"#,
                r#"http_requests_total{route="/b",method="GET",status="200"} 1"#,
                r#"http_requests_total{route="/b",method="GET",status="404"} 1"#,
            ]
        );
        let counts: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("http_request_duration_seconds_count"))
            .collect();
        assert_eq!(
            counts,
            [
                r#"http_request_duration_seconds_count{route="/a",method="DELETE"} 1"#,
                r#"http_request_duration_seconds_count{route="/a",method="POST"} 1"#,
                r#"http_request_duration_seconds_count{route="/b",method="GET"} 2"#,
            ]
        );
    }

    #[test]
    fn a_request_is_in_flight_until_its_guard_is_dropped() {
        let metrics = Metrics::default();
        let first = metrics.start_request();
        let second = metrics.start_request();
        assert_eq!(metrics.in_flight(), 2);
        drop(first);
        assert_eq!(metrics.in_flight(), 1);
        drop(second);
        assert_eq!(metrics.in_flight(), 0);
        let mut out = String::new();
        write_in_flight(&mut out, &metrics);
        assert_eq!(
            out,
            "# HELP http_requests_in_flight HTTP requests being handled, this scrape included.\n\
             # TYPE http_requests_in_flight gauge\n\
             http_requests_in_flight 0\n"
        );
    }

    #[test]
    fn histogram_sum_is_in_seconds() {
        let metrics = Metrics::default();
        metrics.record("/x", &Method::GET, 200, Duration::from_millis(1500), None);
        metrics.record("/x", &Method::GET, 200, Duration::from_millis(250), None);
        let mut out = String::new();
        write_requests(&mut out, &metrics);
        assert!(
            out.contains(r#"http_request_duration_seconds_sum{route="/x",method="GET"} 1.75"#),
            "{out}"
        );
    }
}
