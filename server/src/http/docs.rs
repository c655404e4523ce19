//! `GET /openapi.json` (OpenAPI 3.1, generated from the handlers) and `GET /docs` (Swagger UI,
//! its files compiled into the binary: no CDN, works offline).

use axum::Router;
use clerk_axum::openapi::ClerkSecurity;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::{admin, health, me, metrics, notes, webhooks, AppState};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "api-server",
        description = "The reference SaaS API protected by Clerk: session tokens are verified \
                       locally (no network call per request); notes are scoped to the user, or \
                       to the active organization with role and permission checks. Clerk's \
                       webhooks keep a local copy of users, organizations and memberships, and \
                       revoke sessions on every instance at once."
    ),
    paths(
        health::healthz,
        health::readyz,
        metrics::metrics,
        me::protected,
        me::me,
        notes::list,
        notes::create,
        notes::get,
        notes::update,
        notes::delete,
        admin::users,
        webhooks::clerk,
    ),
    modifiers(&ClerkSecurity),
    tags(
        (name = "session", description = "Who is calling"),
        (name = "notes", description = "Notes, personal or of the active organization"),
        (name = "admin", description = "The active organization's users, for its admins"),
        (name = "webhooks", description = "Clerk's webhooks (Svix-signed), keeping users, organizations and memberships in sync and revoking sessions"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// `/openapi.json` and the Swagger UI under `/docs`.
pub fn router() -> Router<AppState> {
    SwaggerUi::new("/docs")
        .url("/openapi.json", ApiDoc::openapi())
        .into()
}
