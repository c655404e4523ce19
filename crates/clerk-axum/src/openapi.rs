//! OpenAPI (utoipa): the Clerk bearer security scheme, and the 401/403/503 responses of
//! protected operations.
//!
//! ```
//! use utoipa::OpenApi;
//!
//! #[utoipa::path(get, path = "/me", security(("clerk" = [])), responses((status = 200)))]
//! async fn me() {}
//!
//! use clerk_axum::openapi::ClerkSecurity;
//!
//! #[derive(OpenApi)]
//! #[openapi(paths(me), modifiers(&ClerkSecurity))]
//! struct Api;
//!
//! let doc = serde_json::to_value(Api::openapi()).unwrap();
//! assert_eq!(doc["components"]["securitySchemes"]["clerk"]["scheme"], "bearer");
//! assert!(doc["paths"]["/me"]["get"]["responses"]["401"].is_object());
//! ```

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, PartialSchema};

/// The name of the session-token security scheme: use `security(("clerk" = []))` on
/// protected paths.
pub const SCHEME: &str = "clerk";
/// The scheme of Clerk API keys (`ak_…`), for routes that take them.
pub const API_KEY_SCHEME: &str = "clerk_api_key";
/// The scheme of Clerk M2M tokens (`mt_…` or an M2M JWT).
pub const M2M_SCHEME: &str = "clerk_m2m_token";
/// The scheme of Clerk OAuth access tokens (`oat_…` or an `at+jwt` JWT).
pub const OAUTH_SCHEME: &str = "clerk_oauth_token";

/// Every scheme of this crate, the session token's first.
pub const SCHEMES: [&str; 4] = [SCHEME, API_KEY_SCHEME, M2M_SCHEME, OAUTH_SCHEME];

pub use crate::rejection::AuthErrorBody;

/// Adds the `clerk` bearer scheme, an `AuthErrorBody` schema and the `Unauthorized`,
/// `Forbidden` and `KeysUnavailable` responses, and declares 401 and 503 on every operation
/// that requires the `clerk` scheme (403 is declared by the operations that can refuse it).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClerkSecurity;

impl Modify for ClerkSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A Clerk session token, in `Authorization: Bearer <token>` or the \
                         `__session` cookie.",
                    ))
                    .build(),
            ),
        );
        for (name, format, description) in [
            (
                API_KEY_SCHEME,
                "ak_…",
                "A Clerk API key, in `Authorization: Bearer <key>`; it acts for its subject (a \
                 user or an organization) with its scopes.",
            ),
            (
                M2M_SCHEME,
                "mt_… or JWT",
                "A Clerk machine-to-machine token, in `Authorization: Bearer <token>`.",
            ),
            (
                OAUTH_SCHEME,
                "oat_… or JWT",
                "A Clerk OAuth access token, in `Authorization: Bearer <token>`; it acts for its \
                 user with its scopes.",
            ),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format(format)
                        .description(Some(description))
                        .build(),
                ),
            );
        }
        components
            .schemas
            .insert("AuthErrorBody".to_owned(), AuthErrorBody::schema());
        let body = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("AuthErrorBody")))
                .build()
        };
        components.responses.insert(
            "Unauthorized".to_owned(),
            RefOr::T(
                ResponseBuilder::new()
                    .description("No session token, or one that does not verify.")
                    .header(
                        "WWW-Authenticate",
                        HeaderBuilder::new()
                            .description(Some(r#"`Bearer error="invalid_token"`"#))
                            .build(),
                    )
                    .content("application/json", body())
                    .build(),
            ),
        );
        components.responses.insert(
            "Forbidden".to_owned(),
            RefOr::T(
                ResponseBuilder::new()
                    .description(
                        "A valid session without the required role, permission, feature, \
                         plan or recent verification.",
                    )
                    .content("application/json", body())
                    .build(),
            ),
        );
        components.responses.insert(
            "KeysUnavailable".to_owned(),
            RefOr::T(
                ResponseBuilder::new()
                    .description("Clerk's signing keys cannot be had right now; retry later.")
                    .header(
                        "Retry-After",
                        HeaderBuilder::new()
                            .description(Some("Seconds to wait before retrying."))
                            .build(),
                    )
                    .content("application/json", body())
                    .build(),
            ),
        );
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                if requires_clerk(operation) {
                    let responses = &mut operation.responses.responses;
                    responses
                        .entry("401".to_owned())
                        .or_insert_with(|| Ref::from_response_name("Unauthorized").into());
                    responses
                        .entry("503".to_owned())
                        .or_insert_with(|| Ref::from_response_name("KeysUnavailable").into());
                }
            }
        }
    }
}

fn requires_clerk(operation: &Operation) -> bool {
    operation.security.as_ref().is_some_and(|requirements| {
        requirements.iter().any(|requirement| {
            serde_json::to_value(requirement)
                .ok()
                .is_some_and(|value| SCHEMES.iter().any(|scheme| value.get(scheme).is_some()))
        })
    })
}
