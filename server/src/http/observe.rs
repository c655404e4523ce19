//! The middleware every request crosses once: its id, its deadline, its access log line and
//! its metrics.
//!
//! [`ObserveLayer`] wraps the whole application, outside the router, so a request pays for it
//! once (a layer added with `Router::layer` is instead wrapped around every route, and each
//! request clones and boxes it). The router is inside, so this layer does not see which
//! route matched; [`RouteLabelLayer`], the one layer inside the router, hands the matched
//! pattern out to it.

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::{Level, Span};

use clerk_axum::Refused;

use super::{AppState, REQUEST_ID};
use crate::access_log;
use crate::error::ApiError;
use crate::metrics::{method_label, InFlight};

/// A request timeout beyond this is treated as this (it cannot overflow the clock).
const LONGEST_TIMEOUT: Duration = Duration::from_secs(30 * 365 * 86_400);

/// Every request: an id, a timeout, a log line and metrics. The outermost layer.
///
/// - The request id is the client's `x-request-id` when it is short and printable, else a
///   new UUID version 7; either way it is echoed in the response's `x-request-id`.
/// - A request not answered within the request timeout is answered 503 (its handler is
///   dropped).
/// - One access-log line per request ([`crate::access_log`]), at `info` (`warn` for a 5xx)
///   with the request id, method, route (the matched pattern, such as `/v1/notes/{id}`, never
///   the raw path or query), status, latency and, for a refused request, the refusal reason.
///   Headers are never logged: they carry the token.
/// - At `debug`, a `request` span (request id, method, route) around the handler, so that
///   every line the request causes carries them; at `info` it is not made: it would cost more
///   than the request (BENCHMARKS.md).
/// - `http_requests_total`, the latency histogram, `http_requests_in_flight` and
///   `auth_failures_total`.
///
/// This runs on every request, so it allocates nothing of its own, except the text of a new
/// request id when the client sent none: the route is the router's own (shared)
/// string, the request id is written without a system call, the metrics are counted without
/// allocating, and the response future is a plain struct, not a boxed one.
#[derive(Clone)]
pub struct ObserveLayer {
    state: AppState,
    timeout: Duration,
    max_body_bytes: u64,
}

impl ObserveLayer {
    /// The layer recording into `state`'s metrics, with its request timeout and body limit.
    pub fn new(state: AppState) -> Self {
        let timeout = state.options().request_timeout.min(LONGEST_TIMEOUT);
        let max_body_bytes = u64::try_from(state.options().max_body_bytes).unwrap_or(u64::MAX);
        ObserveLayer {
            state,
            timeout,
            max_body_bytes,
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            state: self.state.clone(),
            timeout: self.timeout,
            max_body_bytes: self.max_body_bytes,
        }
    }
}

/// The service of [`ObserveLayer`].
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    state: AppState,
    timeout: Duration,
    max_body_bytes: u64,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        // Counted until the future is dropped: answered, timed out, or abandoned by the client.
        let in_flight = self.state.metrics().start_request();
        let request_id = match request.headers().get(&REQUEST_ID) {
            Some(id) if is_acceptable_request_id(id) => id.clone(),
            _ => new_request_id(),
        };
        let method = request.method().clone();
        // The macro evaluates the fields only when the span is enabled (at `debug`); the route
        // is recorded once the router has matched one (see [`RouteLabelLayer`]).
        let span = tracing::debug_span!(
            "request",
            request_id = request_id.to_str().unwrap_or_default(),
            method = %method,
            route = tracing::field::Empty,
        );
        // The deadline counts from `started`: one clock read fewer than `tokio::time::timeout`.
        let deadline = tokio::time::Instant::from_std(started) + self.timeout;
        let (inner, route) = if declares_more_than(&request, self.max_body_bytes) {
            // Refused before any of the body is read (so without `100 Continue`): hyper then
            // closes the connection rather than read the body.
            let refused = ApiError::PayloadTooLarge.into_response();
            (
                Answer::Ready {
                    response: Some(refused),
                },
                None,
            )
        } else {
            let _entered = span.enter();
            MATCHED_ROUTE.set(None);
            let inner = self.inner.call(request);
            let future = tokio::time::timeout_at(deadline, inner);
            (Answer::Pending { future }, MATCHED_ROUTE.take())
        };
        ObserveFuture {
            inner,
            route,
            span,
            started,
            request_id: Some(request_id),
            method,
            state: self.state.clone(),
            _in_flight: in_flight,
        }
    }
}

/// Whether the request, of a method that takes a body, declares a `Content-Length` above
/// `limit` (the other methods' handlers never read a body).
fn declares_more_than(request: &Request, limit: u64) -> bool {
    matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH
    ) && request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok())
        .and_then(|length| length.parse::<u64>().ok())
        .is_some_and(|length| length > limit)
}

pin_project! {
    /// What a request is answered with: the application's response within the timeout, or a
    /// refusal decided before calling it.
    #[project = AnswerProjection]
    enum Answer<F> {
        Pending { #[pin] future: tokio::time::Timeout<F> },
        Ready { response: Option<Response> },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Answer<F> {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        match self.project() {
            AnswerProjection::Pending { future } => Poll::Ready(match ready!(future.poll(cx)) {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_elapsed) => ApiError::Timeout.into_response(),
            }),
            AnswerProjection::Ready { response } => {
                Poll::Ready(response.take().unwrap_or_else(|| {
                    ApiError::Internal("polled after completion".into()).into_response()
                }))
            }
        }
    }
}

pin_project! {
    /// The response future of [`Observe`].
    pub struct ObserveFuture<F> {
        #[pin]
        inner: Answer<F>,
        // Set once the router has matched a route (see `RouteLabelLayer`).
        route: Option<MatchedPath>,
        span: Span,
        started: Instant,
        // Taken when the response is ready.
        request_id: Option<HeaderValue>,
        method: Method,
        state: AppState,
        _in_flight: InFlight,
    }
}

impl<F> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = {
            let _entered = this.span.enter();
            if this.route.is_some() {
                this.inner.poll(cx)
            } else {
                // The router calls the route's service (and so `RouteLabelService::call`)
                // from within this poll, on this thread.
                MATCHED_ROUTE.set(None);
                let polled = this.inner.poll(cx);
                *this.route = MATCHED_ROUTE.take();
                polled
            }
        };
        let mut response = ready!(polled);
        if let Some(request_id) = this.request_id.take() {
            response
                .headers_mut()
                .insert(REQUEST_ID.clone(), request_id);
        }
        let elapsed = this.started.elapsed();
        let status = response.status();
        let failure = response.extensions().get::<Refused>().map(|r| r.reason);
        this.state.metrics().record(
            this.route.as_ref(),
            this.method,
            status.as_u16(),
            elapsed,
            failure,
        );
        let route = this.route.as_ref().map_or("unmatched", MatchedPath::as_str);
        this.span.record("route", route);
        if access_log::enabled() {
            let id = response.headers().get(&REQUEST_ID);
            access_log::write(&access_log::Line {
                request_id: id.and_then(|id| id.to_str().ok()).unwrap_or_default(),
                method: method_label(this.method),
                route,
                status: status.as_u16(),
                latency: elapsed,
                refused: failure,
            });
        }
        Poll::Ready(Ok(response))
    }
}

thread_local! {
    /// The route pattern the router matched, handed by [`RouteLabelService::call`] to the
    /// [`Observe`] future being polled on this thread (see [`RouteLabelLayer`]).
    static MATCHED_ROUTE: Cell<Option<MatchedPath>> = const { Cell::new(None) };
}

/// Hands the matched route pattern to [`Observe`], outside the router, for its metrics and
/// log line, and records it in the request's span so that the handler's own log lines carry
/// it.
///
/// Added with `Router::layer`, so it runs inside every route, after the match. The router
/// calls a route's service while [`Observe`]'s future is being polled, on the same thread and
/// within the same call, so the pattern goes through a thread-local slot that the future
/// empties before polling and reads right after: no allocation, and the route is known even if
/// the request then times out. Requests no route matched (the 404 fallback) carry no pattern:
/// [`Observe`] counts them as `unmatched`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RouteLabelLayer;

impl<S> Layer<S> for RouteLabelLayer {
    type Service = RouteLabelService<S>;

    fn layer(&self, inner: S) -> RouteLabelService<S> {
        RouteLabelService { inner }
    }
}

/// The service of [`RouteLabelLayer`].
#[derive(Clone)]
pub struct RouteLabelService<S> {
    inner: S,
}

impl<S> Service<Request> for RouteLabelService<S>
where
    S: Service<Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if let Some(route) = request.extensions().get::<MatchedPath>() {
            // The request span is on only when `info` is (a global check, cheaper than asking
            // for the current span).
            if tracing::level_enabled!(Level::DEBUG) {
                Span::current().record("route", route.as_str());
            }
            // Cloning a `MatchedPath` shares its string.
            MATCHED_ROUTE.set(Some(route.clone()));
        }
        self.inner.call(request)
    }
}

/// A client's request id is kept if it is short and printable, so it can go into logs.
fn is_acceptable_request_id(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// A new request id: a UUID version 7 (RFC 9562 §5.7: the Unix millisecond time, then random
/// bits), whose text sorts by time.
///
/// A request id must be unique, not secret: it is echoed to the client and written in logs,
/// and nothing is granted to whoever knows one. Its random bits come from `uuid`'s fast
/// generator (a per-thread one seeded from the operating system), with no shared counter:
/// `Uuid::now_v7` would take a process-wide lock to keep ids monotonic, which every request
/// would contend for.
fn new_request_id() -> HeaderValue {
    let id = uuid::Uuid::new_v7(uuid::Timestamp::now(uuid::NoContext));
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = id.hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(text).expect("a UUID is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_request_ids_are_version_7_uuids_and_differ() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = new_request_id();
            let id = id.to_str().unwrap().to_owned();
            assert_eq!(id.len(), 36, "{id}");
            assert_eq!(&id[14..15], "7", "{id}");
            assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
            assert!(is_acceptable_request_id(
                &HeaderValue::from_str(&id).unwrap()
            ));
            assert!(seen.insert(id), "request ids repeat");
        }
    }

    #[test]
    fn only_plain_request_ids_are_kept() {
        assert!(is_acceptable_request_id(&HeaderValue::from_static(
            "abc-123_x.y:z"
        )));
        assert!(!is_acceptable_request_id(&HeaderValue::from_static("a b")));
        assert!(!is_acceptable_request_id(&HeaderValue::from_static("")));
        let long = "a".repeat(129);
        assert!(!is_acceptable_request_id(
            &HeaderValue::from_str(&long).unwrap()
        ));
    }
}
