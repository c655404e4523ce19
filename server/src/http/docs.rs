//! `GET /openapi.json` (OpenAPI 3.1, generated from the handlers as the router registers them)
//! and `GET /docs` (Swagger UI, its files compiled into the binary: no CDN, works offline).

use axum::Router;
use clerk_axum::openapi::ClerkSecurity;
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

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
    Timeouts.modify(&mut document);
    ClerkSecurity.modify(&mut document);
    SwaggerUi::new("/docs")
        .url("/openapi.json", document)
        .into()
}

/// Adds to every operation that declares no 503 of its own the 503 any request can get: the
/// request took longer than `REQUEST_TIMEOUT_MS` (`{"error":"timeout"}`), or, on a protected
/// route, no signing key can be had (`keys-unavailable`; `AuthErrorBody`, which `ErrorBody`'s
/// schema admits too). Run before [`ClerkSecurity`], which then keeps this one.
struct Timeouts;

impl Modify for Timeouts {
    fn modify(&self, openapi: &mut Document) {
        let response = ResponseBuilder::new()
            .description(
                "The request took longer than `REQUEST_TIMEOUT_MS` (`error`: `timeout`), or, \
                 on a protected route, no signing key can be had (`reason`: \
                 `keys-unavailable`); retry later.",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .description(Some("Seconds to wait before retrying."))
                    .build(),
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .entry("503".to_owned())
                    .or_insert_with(|| response.clone().into());
            }
        }
    }
}
