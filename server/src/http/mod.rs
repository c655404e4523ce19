//! The HTTP layer: the router, its middleware, and one module per resource.
//!
//! Middleware, outermost first, each crossed once per request:
//! 1. [`observe::ObserveLayer`]: request id (`x-request-id` honoured or generated, echoed
//!    back), the request timeout, the access log line and the request metrics;
//! 2. CORS, when `CORS_ALLOWED_ORIGINS` lists origins;
//! 3. [`clerk_axum::ClerkLayer`]: makes the verifier available to the `ClerkAuth` extractor,
//!    which protects each route that asks for it;
//! 4. the body-size limit, enforced by the JSON and body extractors (413);
//! 5. the router, whose one layer ([`observe::RouteLabelLayer`]) tells the first which route
//!    matched.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use clerk_auth::Verifier;
use clerk_axum::ClerkLayer;
use clerk_webhooks::Webhook;
use tower::util::option_layer;
use tower::{Service, ServiceBuilder};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::db::Db;
use crate::error::{ApiError, AuthFailure};

pub mod admin;
pub mod console;
pub mod docs;
pub mod health;
pub mod me;
pub mod metrics;
pub mod notes;
pub mod observe;
pub mod webhooks;

/// The header carrying the request id.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How long a client is told to wait when no signing key can be had.
const KEYS_RETRY_AFTER: Duration = Duration::from_secs(5);

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    verifier: Verifier,
    webhook: Option<Webhook>,
    backend: Option<clerk_backend::Client>,
    metrics: metrics::Metrics,
    options: Options,
    /// Set once a shutdown signal starts the drain period: `/readyz` answers 503.
    draining: std::sync::atomic::AtomicBool,
}

/// The HTTP options of [`crate::Config`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests taking longer are answered 503.
    pub request_timeout: Duration,
    /// Larger bodies are answered 413.
    pub max_body_bytes: usize,
    /// Origins allowed by CORS; empty: no CORS headers.
    pub cors_origins: Vec<HeaderValue>,
}

impl AppState {
    /// The state of a server using `db` and `verifier`, verifying webhooks with `webhook`
    /// and calling Clerk's Backend API with `backend` (each `None` when not configured).
    pub fn new(
        db: Db,
        verifier: Verifier,
        webhook: Option<Webhook>,
        backend: Option<clerk_backend::Client>,
        options: Options,
    ) -> Self {
        AppState {
            inner: Arc::new(Inner {
                db,
                verifier,
                webhook,
                backend,
                metrics: metrics::Metrics::default(),
                options,
                draining: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The token verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// The verifier of Clerk's webhooks, if a signing secret is configured.
    pub fn webhook(&self) -> Option<&Webhook> {
        self.inner.webhook.as_ref()
    }

    /// The Backend API client, if a secret key is configured.
    pub fn backend(&self) -> Option<&clerk_backend::Client> {
        self.inner.backend.as_ref()
    }

    /// The request metrics.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    /// Starts the drain period before a shutdown: `/readyz` answers 503 `draining` from now
    /// on, so that a load balancer stops sending here, while every route keeps serving.
    pub fn start_draining(&self) {
        self.inner
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the drain period has started.
    pub fn is_draining(&self) -> bool {
        self.inner
            .draining
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The whole application, ready to serve: every route inside the middleware listed in the
/// module documentation. With `console`, the dev console's routes too (`GET /dev/console`,
/// `/dev/api/…`) driving that emulator: for `--dev` only, since those routes are
/// unauthenticated admin powers over it.
///
/// Serve it with `axum::serve(listener, app.into_make_service())` (`axum::ServiceExt`).
pub fn app(
    state: AppState,
    console: Option<console::Console>,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static
{
    let options = &state.inner.options;
    let clerk = ClerkLayer::new(state.verifier().clone())
        .retry_after(KEYS_RETRY_AFTER)
        .rejection(|error| {
            let mut response = error.to_response(KEYS_RETRY_AFTER);
            response
                .extensions_mut()
                .insert(AuthFailure(error.reason().to_owned()));
            response
        });
    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/protected", get(me::protected))
        .route("/v1/me", get(me::me))
        .route("/v1/admin/users", get(admin::users))
        .route("/webhooks/clerk", post(webhooks::clerk))
        .route("/v1/notes", get(notes::list).post(notes::create))
        .route(
            "/v1/notes/{id}",
            get(notes::get).patch(notes::update).delete(notes::delete),
        )
        .merge(docs::router());
    if let Some(console) = console {
        router = router.merge(console::router(state.clone(), console));
    }
    let router = router
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        // The one layer inside the router: `Router::layer` wraps it around every route, at a
        // cost per request; the others wrap the whole router once, below.
        .layer(observe::RouteLabelLayer)
        .with_state(state.clone());
    let cors = (!options.cors_origins.is_empty()).then(|| cors(options.cors_origins.clone()));
    ServiceBuilder::new()
        .layer(observe::ObserveLayer::new(state.clone()))
        .layer(option_layer(cors))
        .layer(clerk)
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .service(router)
}

/// CORS for the listed origins only, credentials (cookies) allowed.
///
/// A preflight from a listed origin is answered with the allowed methods and headers; one
/// from any other origin gets no `Access-Control-Allow-Origin`, so the browser refuses.
fn cors(origins: Vec<HeaderValue>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            REQUEST_ID.clone(),
        ])
        .expose_headers([
            REQUEST_ID.clone(),
            header::WWW_AUTHENTICATE,
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(600))
}

/// A UUID version 7 (RFC 9562 §5.7): the Unix millisecond time, then 74 random bits. Its
/// text sorts by creation time. The random bits come from the operating system's
/// cryptographic generator: note ids use this.
pub fn random_uuid(now_ms: i64) -> String {
    use ring::rand::SecureRandom;
    let mut random = [0u8; 10];
    // The system's random source failing is not something a request can recover from;
    // the time prefix alone still makes the id unique enough to trace a request.
    let _ = ring::rand::SystemRandom::new().fill(&mut random);
    let text = uuid_v7(now_ms, random);
    std::str::from_utf8(&text)
        .expect("a UUID is ASCII")
        .to_owned()
}

/// The text of a UUID version 7 with this millisecond time and these random bits (6 of
/// them replaced by the version and variant): 8-4-4-4-12 lowercase hex digits.
fn uuid_v7(now_ms: i64, random: [u8; 10]) -> [u8; 36] {
    let mut bytes = [0u8; 16];
    let ms = u64::try_from(now_ms).unwrap_or(0).to_be_bytes();
    bytes[..6].copy_from_slice(&ms[2..]);
    bytes[6..].copy_from_slice(&random);
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Where each byte's two hex digits go in 8-4-4-4-12 (the dashes are at 8, 13, 18, 23).
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    let mut text = [b'-'; 36];
    for (b, at) in bytes.iter().zip(AT) {
        text[at] = HEX[usize::from(b >> 4)];
        text[at + 1] = HEX[usize::from(b & 0x0f)];
    }
    text
}

/// Any path no route matches.
async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// A known path with another method.
async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// JSON in and out. As an extractor, its failures are [`ApiError`]s: malformed JSON 400, wrong
/// types 422, no JSON content type 415, too large 413 (axum's own answer these in plain text).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    axum::Json<T>: FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<T>::from_request(request, state).await?;
        Ok(Json(value))
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Formats Unix milliseconds as RFC 3339 in UTC, e.g. `2026-01-02T03:04:05.678Z`.
pub fn timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(timestamp(1_767_225_599_999), "2025-12-31T23:59:59.999Z");
    }

    #[test]
    fn uuids_are_version_7_and_sort_by_time() {
        let a = random_uuid(1_000);
        let b = random_uuid(2_000);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "7");
        assert!(a < b);
        assert_ne!(random_uuid(1_000), random_uuid(1_000));
        // The 8-4-4-4-12 layout, the millisecond time first, then version and variant.
        let id = random_uuid(0x0123_4567_89ab);
        assert!(id.starts_with("01234567-89ab-7"), "{id}");
        for (i, c) in id.char_indices() {
            if matches!(i, 8 | 13 | 18 | 23) {
                assert_eq!(c, '-', "{id}");
            } else {
                assert!(c.is_ascii_hexdigit() && !c.is_ascii_uppercase(), "{id}");
            }
        }
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
    }

    #[test]
    fn uuid_text_carries_time_and_random_bits_in_order() {
        let text = uuid_v7(0x0123_4567_89ab, [0xff; 10]);
        assert_eq!(&text, b"01234567-89ab-7fff-bfff-ffffffffffff");
        let text = uuid_v7(0, [0; 10]);
        assert_eq!(&text, b"00000000-0000-7000-8000-000000000000");
    }
}
