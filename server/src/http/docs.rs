//! `GET /openapi.json` (OpenAPI 3.1, generated from the handlers as the router registers them)
//! and `GET /docs` (Swagger UI, its files compiled into the binary: no CDN, works offline).

use axum::Router;
use clerk_axum::openapi::ClerkSecurity;
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::AppState;

/// The API description: its title, description and tags. The paths come from the route table
/// ([`super::app`]).
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
    tags(
        (name = "session", description = "Who is calling"),
        (name = "notes", description = "Notes, personal or of the active organization"),
        (name = "admin", description = "The active organization's users, for its admins"),
        (name = "webhooks", description = "Clerk's webhooks (Svix-signed), keeping users, organizations and memberships in sync and revoking sessions"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// `/openapi.json` and the Swagger UI under `/docs`, for `document` (the route table's), with
/// Clerk's security scheme and its 401 and 503 on every protected operation.
pub fn router(mut document: Document) -> Router<AppState> {
    ClerkSecurity.modify(&mut document);
    SwaggerUi::new("/docs")
        .url("/openapi.json", document)
        .into()
}
