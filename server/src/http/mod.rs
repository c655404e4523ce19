//! The HTTP layer: the route table and its middleware, assembled here; one module per
//! resource, each declaring its routes with their OpenAPI entries (`routes()`), so that the
//! router and the OpenAPI document come from one table.
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
//!
//! A layer added between the first and the router must call the router within its own
//! `call` or `poll`, on the same thread (no `tower::buffer`, no spawn): the matched route
//! reaches [`observe::ObserveLayer`] through a thread-local slot (see [`observe`]).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::response::Response;
use axum::Router;
use clerk_axum::ClerkLayer;
use tower::util::option_layer;
use tower::{Service, ServiceBuilder};
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;

pub mod admin;
pub mod docs;
pub mod extract;
pub mod health;
pub mod me;
pub mod metrics;
pub mod notes;
pub mod observe;
pub mod page;
mod state;
pub mod webhooks;

pub use extract::Json;
pub use state::{AppState, FreshProfileLimit, Options};

/// The header carrying the request id.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How long a client is told to wait when no signing key can be had.
const KEYS_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The whole application, ready to serve: every route inside the middleware listed in the
/// module documentation. `extra_routes` are mounted beside the API's, outside its OpenAPI
/// document: the dev console's, with `--dev` only (they are unauthenticated admin powers over
/// the emulator).
pub fn app(
    state: AppState,
    extra_routes: Option<Router<AppState>>,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static
{
    let (api, document) = OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(me::routes())
        .merge(notes::routes())
        .merge(admin::routes())
        .merge(webhooks::routes())
        .split_for_parts();
    let mut router = api.merge(docs::router(document));
    if let Some(extra) = extra_routes {
        router = router.merge(extra);
    }
    let router = router
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        // The one layer inside the router: `Router::layer` wraps it around every route, at a
        // cost per request; the others wrap the whole router once, below.
        .layer(observe::RouteLabelLayer)
        .with_state(state.clone());
    let options = state.options();
    let cors = (!options.cors_origins.is_empty()).then(|| cors(options.cors_origins.clone()));
    let clerk = ClerkLayer::new(state.verifier().clone()).retry_after(KEYS_RETRY_AFTER);
    let max_body_bytes = options.max_body_bytes;
    // Every layer here calls the next within its own call (see the module documentation).
    ServiceBuilder::new()
        .layer(observe::ObserveLayer::new(state))
        .layer(option_layer(cors))
        .layer(clerk)
        .layer(DefaultBodyLimit::max(max_body_bytes))
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

/// Any path no route matches.
async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// A known path with another method.
async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
