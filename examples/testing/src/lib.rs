//! How to test your own axum app offline, against the emulator: the app is a library function
//! that builds the `Router` from a `Verifier`, so that `main` gives it the verifier of the
//! environment and the tests (`tests/api.rs`) one pointed at an emulator they start. The
//! tests sign real tokens with the emulator's fixed test key, serve the app on a loopback
//! port and call it over HTTP: 200 for a valid token, 401 for an expired or forged one, 403
//! for a missing permission, 503 while the emulator's JWKS is down. No mock, no network
//! beyond loopback, no Clerk account; `clerk-emulator` is a dev-dependency only.
//!
//! ```sh
//! cargo nextest run -p example-testing        # or cargo test -p example-testing
//! ```
//!
//! The app also runs against the emulator (`cargo run -p clerk-emulator -- serve` prints a
//! JWKS URL and a sample token):
//!
//! ```sh
//! CLERK_JWKS_URL=http://127.0.0.1:<port>/.well-known/jwks.json cargo run -p example-testing
//! curl -H "Authorization: Bearer <token>" http://127.0.0.1:3000/me
//! ```
use axum::routing::get;
use axum::{Json, Router};
use clerk_axum::{ClerkAuth, ClerkLayer, RequirePermission, Verifier};
use serde_json::{json, Value};

clerk_axum::permission!(
    /// Reading the organization's reports.
    pub ReportsRead = "org:reports:read"
);

/// `GET /me`: the signed-in user.
async fn me(auth: ClerkAuth) -> Json<Value> {
    Json(json!({ "user_id": auth.user_id(), "org_id": auth.org_id() }))
}

/// `GET /reports`: needs the permission `org:reports:read`.
async fn reports(auth: RequirePermission<ReportsRead>) -> Json<Value> {
    Json(json!({ "org_id": auth.org_id(), "reports": ["2025-q1", "2025-q2"] }))
}

/// The application, given the verifier of its tokens.
pub fn app(verifier: Verifier) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/reports", get(reports))
        .layer(ClerkLayer::new(verifier))
}
