//! The server's metrics, in a `prometheus-client` registry; `GET /metrics`
//! ([`crate::http::metrics`]) writes them in Prometheus' text format (version 0.0.4).
//!
//! - `http_requests_total{route,method,status}`: requests answered, by matched route pattern
//!   (`unmatched` when no route matched) and method (an extension method is `other`);
//! - `http_request_duration_seconds{route,method}`: a latency histogram;
//! - `http_requests_in_flight`: a gauge of the requests being handled, counted from the start
//!   of the outermost middleware until its answer is ready (or the request is abandoned); the
//!   scrape that reads it is one of them, so an idle server shows 1;
//! - `auth_failures_total{reason}`: refused requests by reason (`token-expired`,
//!   `missing-permission`, …), every reason present from the start;
//! - `jwks_fetches_total`, `jwks_fetch_failures_total`, `jwks_unknown_kid_refetches_total`,
//!   `jwks_kid_misses_total`, `token_cache_hits_total`, `token_cache_misses_total`: the
//!   verifier's own counters, read at each scrape ([`clerk_auth::VerifierMetrics`]);
//! - `webhook_deliveries_total{outcome}`: Clerk webhook deliveries by outcome (`applied`,
//!   `duplicate`, `ignored`, `refused`, `failed`, `not-configured`), every outcome present
//!   from the start.
//!
//! Recording a request allocates nothing and takes no exclusive lock once its series exists:
//! the route label shares the router's string, the series are found under read locks, and
//! every count is an atomic addition. The latency histogram is this module's own (atomic
//! buckets): `prometheus-client`'s takes a mutex on each observation, which every request of a
//! route would contend for. Refusals and webhook outcomes are fixed sets, counted in arrays
//! of atomics with no lock at all.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::Method;
use clerk_auth::{Reason, Verifier, VerifierMetrics};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
    MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

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

/// The refusal reasons of `auth_failures_total` besides the verifier's ([`Reason::ALL`]):
/// clerk-axum's 403s and its missing-layer 500, then `other` for any reason an application
/// invents.
const AUTHZ_REASONS: [&str; 8] = [
    "missing-role",
    "missing-permission",
    "missing-feature",
    "missing-plan",
    "reverification-required",
    "forbidden",
    "clerk-layer-missing",
    "other",
];

/// The `method` label of every extension method.
pub const OTHER_METHOD: &str = "other";

/// The server's metrics. Build one per server; [`Metrics::encode`] writes them all.
pub struct Metrics {
    /// Tells this registry's handles apart in the per-thread cache ([`HANDLES`]).
    id: usize,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, LatencyHistogram>,
    in_flight: Gauge,
    auth_failures: Arc<LabelledCounters>,
    webhooks: Arc<LabelledCounters>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// A route label: the pattern the router matched (its own shared string), or `unmatched`.
#[derive(Debug, Clone)]
struct Route(Option<MatchedPath>);

impl Route {
    fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Route) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl std::hash::Hash for Route {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: Route,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: Route,
    method: &'static str,
}

impl Metrics {
    /// The metrics of a server verifying with `verifier`.
    pub fn new(verifier: &Verifier) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let durations = Family::<RouteLabels, LatencyHistogram>::default();
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            durations.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being handled, this scrape included",
            in_flight.clone(),
        );
        let reasons: Vec<&'static str> = Reason::ALL
            .iter()
            .map(|reason| reason.as_str())
            .chain(AUTHZ_REASONS)
            .collect();
        let auth_failures = Arc::new(LabelledCounters::new(
            "auth_failures",
            "Requests refused by authentication or authorization, by reason",
            "reason",
            reasons,
        ));
        registry.register_collector(Box::new(Arc::clone(&auth_failures)));
        let webhooks = Arc::new(LabelledCounters::new(
            "webhook_deliveries",
            "Clerk webhook deliveries, by outcome",
            "outcome",
            WEBHOOK_OUTCOMES.to_vec(),
        ));
        registry.register_collector(Box::new(Arc::clone(&webhooks)));
        registry.register_collector(Box::new(VerifierMetrics::new(verifier.clone())));
        static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
        Metrics {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            registry,
            requests,
            durations,
            in_flight,
            auth_failures,
            webhooks,
        }
    }

    /// Records one answered request: `route` is the matched route pattern (such as
    /// `/v1/notes/{id}`), `None` when no route matched, never the raw path, so that the
    /// series stay few; `refused` is the refusal's reason, if refused.
    pub fn record(
        &self,
        route: Option<&MatchedPath>,
        method: &Method,
        status: u16,
        elapsed: Duration,
        refused: Option<&str>,
    ) {
        let method = method_label(method);
        HANDLES.with(|handles| {
            let mut handles = handles.borrow_mut();
            let found = handles
                .iter()
                .position(|h| h.is(self.id, route, method, status));
            let handle = match found {
                Some(at) => &handles[at],
                None => {
                    if handles.len() == CACHED_SERIES {
                        handles.remove(0);
                    }
                    handles.push(self.handle(route, method, status));
                    &handles[handles.len() - 1]
                }
            };
            handle.duration.observe(elapsed);
            handle.requests.inc();
        });
        if let Some(reason) = refused {
            self.auth_failures.inc(reason);
        }
    }

    /// The series of a route, method and status, from the families (created if new).
    fn handle(&self, route: Option<&MatchedPath>, method: &'static str, status: u16) -> Handle {
        let route = Route(route.cloned());
        Handle {
            metrics: self.id,
            method,
            status,
            requests: self.requests.get_or_create_owned(&RequestLabels {
                route: route.clone(),
                method,
                status,
            }),
            duration: self.durations.get_or_create_owned(&RouteLabels {
                route: route.clone(),
                method,
            }),
            route,
        }
    }

    /// Records one webhook delivery by outcome, one of [`WEBHOOK_OUTCOMES`].
    pub fn record_webhook(&self, outcome: &'static str) {
        debug_assert!(WEBHOOK_OUTCOMES.contains(&outcome), "{outcome}");
        self.webhooks.inc(outcome);
    }

    /// Counts a request as in flight (`http_requests_in_flight`) until the returned guard is
    /// dropped: when the request is answered, times out, or is abandoned by its client.
    pub fn start_request(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// The requests being handled now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    /// Every metric, in Prometheus' text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// How many series each thread keeps handles of: the routes, methods and statuses a server
/// answers at all are a few dozen, and a miss only costs a lookup in the families.
const CACHED_SERIES: usize = 32;

thread_local! {
    /// The series this thread recorded into last: a request finds its counter and histogram
    /// by comparing the route's shared string by address, with no hash and no lock (the
    /// families' lookup hashes the labels with SipHash under a read lock, twice per request).
    static HANDLES: RefCell<Vec<Handle>> = const { RefCell::new(Vec::new()) };
}

/// The handles of one series of one [`Metrics`].
struct Handle {
    metrics: usize,
    method: &'static str,
    status: u16,
    /// Kept, so that the address of its string is not reused while cached.
    route: Route,
    requests: Counter,
    duration: LatencyHistogram,
}

impl Handle {
    /// Whether this is the series of `route`, `method` and `status` in the metrics `metrics`.
    fn is(
        &self,
        metrics: usize,
        route: Option<&MatchedPath>,
        method: &'static str,
        status: u16,
    ) -> bool {
        self.metrics == metrics
            && self.status == status
            && std::ptr::eq(self.method, method)
            && match (&self.route.0, route) {
                (Some(cached), Some(route)) => std::ptr::eq(cached.as_str(), route.as_str()),
                (None, None) => true,
                _ => false,
            }
    }
}

/// The `method` label: the standard methods by name, any extension method as
/// [`OTHER_METHOD`], so that clients cannot create series at will.
pub(crate) fn method_label(method: &Method) -> &'static str {
    static STANDARD: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::PATCH, "PATCH"),
        (Method::TRACE, "TRACE"),
    ];
    STANDARD
        .iter()
        .find(|(standard, _)| standard == method)
        .map_or(OTHER_METHOD, |(_, label)| label)
}

/// A request counted by `http_requests_in_flight`, until dropped. See
/// [`Metrics::start_request`].
#[derive(Debug)]
#[must_use = "the request stops being counted when this is dropped"]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A latency histogram recorded with atomics only (shared: clones are handles of one
/// histogram). `count` is incremented before the bucket, whose increment has release
/// ordering; a scrape loads the buckets with acquire and then `count`, so it never shows a
/// bucket above `+Inf`.
#[derive(Debug, Default, Clone)]
struct LatencyHistogram(Arc<Buckets>);

#[derive(Debug, Default)]
struct Buckets {
    /// Observations at or below each bucket's bound (not cumulative; summed when written).
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    fn observe(&self, elapsed: Duration) {
        let this = &*self.0;
        let seconds = elapsed.as_secs_f64();
        this.count.fetch_add(1, Ordering::Relaxed);
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            this.buckets[bucket].fetch_add(1, Ordering::Release);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        this.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        let this = &*self.0;
        // Per bucket, not cumulative: the encoder sums them, and adds `+Inf` from `count`.
        let mut buckets = [(0.0, 0); BUCKETS.len()];
        for (bucket, (bound, count)) in buckets.iter_mut().zip(BUCKETS.iter().zip(&this.buckets)) {
            *bucket = (*bound, count.load(Ordering::Acquire));
        }
        let count = this.count.load(Ordering::Relaxed);
        // u64 nanoseconds to f64 seconds: exact up to 104 days.
        let sum = this.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// A counter family over a fixed set of label values, one atomic each: counted with no lock,
/// and every value shown from the start. A value outside the set counts as its last.
#[derive(Debug)]
struct LabelledCounters {
    name: &'static str,
    help: &'static str,
    label: &'static str,
    values: Vec<&'static str>,
    counts: Box<[AtomicU64]>,
}

impl LabelledCounters {
    fn new(
        name: &'static str,
        help: &'static str,
        label: &'static str,
        values: Vec<&'static str>,
    ) -> Self {
        let counts = values.iter().map(|_| AtomicU64::new(0)).collect();
        LabelledCounters {
            name,
            help,
            label,
            values,
            counts,
        }
    }

    fn inc(&self, value: &str) {
        let index = self
            .values
            .iter()
            .position(|known| *known == value)
            .unwrap_or(self.values.len() - 1);
        self.counts[index].fetch_add(1, Ordering::Relaxed);
    }
}

impl Collector for LabelledCounters {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let mut family =
            encoder.encode_descriptor(self.name, self.help, None, MetricType::Counter)?;
        for (value, count) in self.values.iter().zip(self.counts.iter()) {
            let labels = [(self.label, *value)];
            family
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&count.load(Ordering::Relaxed), None)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        let verifier = Verifier::builder()
            .jwks_url("http://127.0.0.1:1/.well-known/jwks.json")
            .background_refresh(false)
            .build()
            .expect("a verifier");
        Metrics::new(&verifier)
    }

    fn route(pattern: &str) -> axum::Router {
        axum::Router::new().route(pattern, axum::routing::get(|| async {}))
    }

    /// The `MatchedPath` the router gives a request of `path` on `pattern`.
    async fn matched(pattern: &str, path: &str) -> MatchedPath {
        use tower::ServiceExt;
        let (send, receive) = std::sync::mpsc::channel();
        let app = route(pattern).layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let send = send.clone();
                async move {
                    let _ = send.send(request.extensions().get::<MatchedPath>().cloned());
                    next.run(request).await
                }
            },
        ));
        let request = axum::extract::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        app.oneshot(request).await.unwrap();
        receive.recv().unwrap().expect("matched")
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_method_and_status_with_a_cumulative_histogram() {
        let metrics = metrics();
        let x = matched("/x/{id}", "/x/1").await;
        for ms in [1, 20, 20, 20_000] {
            metrics.record(Some(&x), &Method::GET, 200, Duration::from_millis(ms), None);
        }
        metrics.record(None, &Method::GET, 404, Duration::from_millis(1), None);
        let out = metrics.encode();
        for line in [
            r#"http_requests_total{route="/x/{id}",method="GET",status="200"} 4"#,
            r#"http_requests_total{route="unmatched",method="GET",status="404"} 1"#,
            r#"http_request_duration_seconds_bucket{route="/x/{id}",method="GET",le="0.005"} 1"#,
            r#"http_request_duration_seconds_bucket{route="/x/{id}",method="GET",le="0.025"} 3"#,
            r#"http_request_duration_seconds_bucket{route="/x/{id}",method="GET",le="10"} 3"#,
            r#"http_request_duration_seconds_bucket{route="/x/{id}",method="GET",le="+Inf"} 4"#,
            r#"http_request_duration_seconds_count{route="/x/{id}",method="GET"} 4"#,
            r#"http_request_duration_seconds_sum{route="/x/{id}",method="GET"} 20.041"#,
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
    }

    #[tokio::test]
    async fn each_server_counts_its_own_requests_on_a_shared_thread_past_the_cached_series() {
        let (first, second) = (metrics(), metrics());
        let x = matched("/x", "/x").await;
        let statuses = 200..200 + 2 * CACHED_SERIES as u16;
        for _ in 0..2 {
            for status in statuses.clone() {
                first.record(Some(&x), &Method::GET, status, Duration::ZERO, None);
            }
            second.record(Some(&x), &Method::GET, 200, Duration::ZERO, None);
        }
        let first = first.encode();
        for status in statuses {
            let line =
                format!(r#"http_requests_total{{route="/x",method="GET",status="{status}"}} 2"#);
            assert!(first.lines().any(|l| l == line), "{line} in\n{first}");
        }
        let second = second.encode();
        let only = r#"http_requests_total{route="/x",method="GET",status="200"} 2"#;
        assert!(second.lines().any(|l| l == only), "{second}");
        assert!(!second.contains(r#"status="201""#), "{second}");
    }

    #[tokio::test]
    async fn extension_methods_share_one_other_series() {
        let metrics = metrics();
        let x = matched("/x", "/x").await;
        for method in [&b"PURGE"[..], b"X-1", b"X-2"] {
            let method = Method::from_bytes(method).unwrap();
            metrics.record(Some(&x), &method, 405, Duration::from_millis(1), None);
        }
        let out = metrics.encode();
        assert!(
            out.contains(r#"http_requests_total{route="/x",method="other",status="405"} 3"#),
            "{out}"
        );
        assert!(!out.contains("PURGE") && !out.contains("X-1"), "{out}");
    }

    #[test]
    fn every_refusal_reason_and_webhook_outcome_is_shown_from_the_start() {
        let metrics = metrics();
        metrics.record(
            None,
            &Method::GET,
            401,
            Duration::ZERO,
            Some("token-expired"),
        );
        metrics.record(
            None,
            &Method::GET,
            403,
            Duration::ZERO,
            Some("made-up-reason"),
        );
        metrics.record_webhook("applied");
        let out = metrics.encode();
        for line in [
            r#"auth_failures_total{reason="token-expired"} 1"#,
            r#"auth_failures_total{reason="missing-permission"} 0"#,
            r#"auth_failures_total{reason="session-revoked"} 0"#,
            r#"auth_failures_total{reason="other"} 1"#,
            r#"webhook_deliveries_total{outcome="applied"} 1"#,
            r#"webhook_deliveries_total{outcome="not-configured"} 0"#,
            "jwks_fetches_total 0",
            "token_cache_hits_total 0",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in\n{out}");
        }
    }

    #[test]
    fn a_request_is_in_flight_until_its_guard_is_dropped() {
        let metrics = metrics();
        let first = metrics.start_request();
        let second = metrics.start_request();
        assert_eq!(metrics.in_flight(), 2);
        drop(first);
        assert_eq!(metrics.in_flight(), 1);
        drop(second);
        assert_eq!(metrics.in_flight(), 0);
        assert!(metrics
            .encode()
            .lines()
            .any(|l| l == "http_requests_in_flight 0"));
    }
}
