//! `GET /metrics`: Prometheus text format (version 0.0.4), written by hand.
//!
//! - `http_requests_total{route,method,status}`: requests answered, by matched route pattern;
//! - `http_request_duration_seconds{route,method}`: a latency histogram;
//! - `auth_failures_total{reason}`: refused requests by reason (`token-expired`,
//!   `missing-permission`, …), every Clerk reason present from the start;
//! - `jwks_fetches_total`, `jwks_fetch_failures_total`: fetches of Clerk's signing keys;
//! - `token_cache_hits_total`, `token_cache_misses_total`: the verified-token cache;
//! - `webhook_deliveries_total{outcome}`: Clerk webhook deliveries by outcome (`applied`,
//!   `duplicate`, `ignored`, `refused`, `failed`, `not-configured`), every outcome present
//!   from the start.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
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

/// The request counters. Updated once per request under a short lock.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    requests: BTreeMap<(String, String, u16), u64>,
    durations: BTreeMap<(String, String), Histogram>,
    auth_failures: BTreeMap<String, u64>,
    webhooks: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Default)]
struct Histogram {
    /// Observations at or below each bucket's bound (not cumulative; summed when written).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// Records one answered request; `auth_failure` is the refusal reason, if refused.
    pub fn record(
        &self,
        route: &str,
        method: &Method,
        status: u16,
        elapsed: Duration,
        auth_failure: Option<&str>,
    ) {
        let seconds = elapsed.as_secs_f64();
        let mut counters = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *counters
            .requests
            .entry((route.to_owned(), method.to_string(), status))
            .or_default() += 1;
        let histogram = counters
            .durations
            .entry((route.to_owned(), method.to_string()))
            .or_default();
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            histogram.buckets[bucket] += 1;
        }
        histogram.count += 1;
        histogram.sum += seconds;
        if let Some(reason) = auth_failure {
            *counters.auth_failures.entry(reason.to_owned()).or_default() += 1;
        }
    }
}

impl Metrics {
    /// Records one webhook delivery by outcome, one of [`WEBHOOK_OUTCOMES`].
    pub fn record_webhook(&self, outcome: &'static str) {
        let mut counters = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *counters.webhooks.entry(outcome).or_default() += 1;
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
    let mut out = String::with_capacity(4096);
    {
        let counters = state
            .metrics()
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        write_requests(&mut out, &counters);
        write_auth_failures(&mut out, &counters.auth_failures);
        write_webhooks(&mut out, &counters.webhooks);
    }
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

fn write_requests(out: &mut String, counters: &Counters) {
    out.push_str("# HELP http_requests_total HTTP requests answered.\n");
    out.push_str("# TYPE http_requests_total counter\n");
    for ((route, method, status), count) in &counters.requests {
        let _ = writeln!(
            out,
            "http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {count}",
            escape(route),
            escape(method)
        );
    }
    out.push_str("# HELP http_request_duration_seconds Time to answer an HTTP request.\n");
    out.push_str("# TYPE http_request_duration_seconds histogram\n");
    for ((route, method), histogram) in &counters.durations {
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
            histogram.sum
        );
        let _ = writeln!(
            out,
            "http_request_duration_seconds_count{{{labels}}} {}",
            histogram.count
        );
    }
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

fn write_webhooks(out: &mut String, deliveries: &BTreeMap<&'static str, u64>) {
    out.push_str("# HELP webhook_deliveries_total Clerk webhook deliveries, by outcome.\n");
    out.push_str("# TYPE webhook_deliveries_total counter\n");
    for outcome in WEBHOOK_OUTCOMES {
        let count = deliveries.get(outcome).copied().unwrap_or(0);
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
        let counters = metrics.inner.lock().unwrap();
        let mut out = String::new();
        write_requests(&mut out, &counters);
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
}
