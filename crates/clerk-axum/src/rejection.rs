//! Why a request was refused, and the HTTP response for it.
//!
//! | case | status | body `reason` |
//! |---|---|---|
//! | no token, or a token that does not verify | 401 + `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3) | the verifier's reason, e.g. `token-expired` |
//! | no signing key can be had (JWKS down, secret key refused) | 503 + `Retry-After` | `keys-unavailable`, `secret-key-invalid` |
//! | a valid session without the required role, permission, feature, plan or a recent enough verification | 403 | `missing-role`, `missing-permission`, …, `reverification-required` |
//! | the `ClerkLayer` is not installed (a programming error) | 500 | `clerk-layer-missing` |
//!
//! Every body is JSON: `{"error": "...", "reason": "...", "message": "..."}`. Messages never
//! contain the token. The whole response can be replaced with [`crate::ClerkLayer::rejection`].
//!
//! A gRPC call (a request whose `content-type` starts with `application/grpc`) is never
//! answered with JSON: every refusal is a gRPC status, in a trailers-only response (HTTP 200,
//! the status in the headers), as the [gRPC protocol] requires:
//!
//! | case | `grpc-status` | `grpc-message` |
//! |---|---|---|
//! | no token, or a token that does not verify | 16 `UNAUTHENTICATED` | `token-expired: JWT is expired.` |
//! | a valid credential that lacks what the method requires | 7 `PERMISSION_DENIED` | `missing-permission: …`, `missing-scope: …`, `session-required: …` |
//! | no signing key can be had, or the Backend API cannot verify a machine token | 14 `UNAVAILABLE` | `keys-unavailable: …`, `unexpected-error: …`, `machine-token-verification-throttled: …` |
//! | the `ClerkLayer` is not installed (a programming error) | 13 `INTERNAL` | `clerk-layer-missing: …` |
//!
//! `grpc-message` is always `<reason>: <message>` (percent-encoded on the wire as the protocol
//! says; clients decode it), the reason alone is in the `x-clerk-auth-reason` metadata, and
//! statuses 16 and 7 carry the `www-authenticate` of their HTTP counterparts, 14 a
//! `retry-after`. [`crate::ClerkLayer::rejection`] does not apply to gRPC calls.
//!
//! [gRPC protocol]: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use clerk_auth::{Rejection, Unmet};
use serde::Serialize;

/// A refused request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AuthError {
    /// No token, or a token that does not verify: 401.
    Unauthorized(Rejection),
    /// No signing key could be had; the client is not at fault: 503 with `Retry-After`.
    Unavailable(Rejection),
    /// A valid session that lacks what the route requires: 403.
    Forbidden(Forbidden),
    /// `ClerkLayer` was not added to the router: 500 (and an error in the log).
    MissingLayer,
}

impl AuthError {
    /// The verifier's rejection as the right kind of error: 503 for unavailable keys, 401
    /// otherwise.
    pub fn from_rejection(rejection: Rejection) -> Self {
        if rejection.reason().is_unavailable() {
            AuthError::Unavailable(rejection)
        } else {
            AuthError::Unauthorized(rejection)
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Forbidden(_) => StatusCode::FORBIDDEN,
            AuthError::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable reason, e.g. `token-expired` or `missing-permission`.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Unauthorized(r) | AuthError::Unavailable(r) => r.reason().as_str(),
            AuthError::Forbidden(f) => f.reason(),
            AuthError::MissingLayer => "clerk-layer-missing",
        }
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        match self {
            AuthError::Unauthorized(r) | AuthError::Unavailable(r) => r.message(),
            AuthError::Forbidden(f) => &f.message,
            AuthError::MissingLayer => {
                "Clerk authentication is not configured on this route (add ClerkLayer)."
            }
        }
    }

    /// The gRPC status code of this refusal: 16 `UNAUTHENTICATED`, 7 `PERMISSION_DENIED`,
    /// 14 `UNAVAILABLE` or 13 `INTERNAL` (see the module docs).
    pub fn grpc_code(&self) -> i32 {
        match self {
            AuthError::Unauthorized(_) => 16,
            AuthError::Forbidden(_) => 7,
            AuthError::Unavailable(_) => 14,
            AuthError::MissingLayer => 13,
        }
    }

    /// The `grpc-message` of this refusal, before percent-encoding: `<reason>: <message>`,
    /// e.g. `token-expired: JWT is expired.`.
    pub fn grpc_message(&self) -> String {
        format!("{}: {}", self.reason(), self.message())
    }

    /// The headers a gRPC refusal carries besides its status and message: the reason as
    /// `x-clerk-auth-reason`, and `www-authenticate` (16, 7) or `retry-after` (14) as over
    /// HTTP.
    pub fn grpc_metadata(&self, retry_after: Duration) -> http::HeaderMap {
        let mut metadata = http::HeaderMap::with_capacity(2);
        metadata.insert(REASON_METADATA, HeaderValue::from_static(self.reason()));
        match self {
            AuthError::Unauthorized(_) => {
                metadata.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            AuthError::Forbidden(_) => {
                metadata.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="insufficient_scope""#),
                );
            }
            AuthError::Unavailable(_) => {
                let secs = retry_after.as_secs().max(1);
                metadata.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            AuthError::MissingLayer => {}
        }
        metadata
    }

    /// The refusal of a gRPC call (see the module docs): a trailers-only response, HTTP 200
    /// with `content-type: application/grpc`, `grpc-status`, `grpc-message` and the
    /// [metadata](AuthError::grpc_metadata), and an empty body.
    pub fn to_grpc_response(&self, retry_after: Duration) -> Response {
        let mut response = Response::new(axum::body::Body::empty());
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert(GRPC_STATUS, HeaderValue::from(self.grpc_code()));
        let message = self.grpc_message();
        let encoded = percent_encoding::utf8_percent_encode(&message, GRPC_MESSAGE_ESCAPED);
        // Percent-encoding leaves only printable ASCII, always a valid header value.
        if let Ok(value) = HeaderValue::try_from(encoded.to_string()) {
            headers.insert(GRPC_MESSAGE, value);
        }
        headers.extend(self.grpc_metadata(retry_after));
        response
    }

    /// The default response (see the module docs), with `Retry-After` for a 503.
    pub fn to_response(&self, retry_after: Duration) -> Response {
        let status = self.status();
        let error = match self {
            AuthError::Unauthorized(_) => "unauthorized",
            AuthError::Unavailable(_) => "unavailable",
            AuthError::Forbidden(_) => "forbidden",
            AuthError::MissingLayer => "internal",
        };
        let body = AuthErrorBody {
            error,
            reason: self.reason(),
            message: self.message(),
            clerk_error: match self {
                AuthError::Forbidden(f) => f.clerk_error.as_ref(),
                _ => None,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            AuthError::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            AuthError::Unavailable(_) => {
                let secs = retry_after.as_secs().max(1);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            AuthError::Forbidden(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="insufficient_scope""#),
                );
            }
            AuthError::MissingLayer => {}
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The metadata key (a header of the trailers-only response) carrying a gRPC refusal's reason,
/// e.g. `token-expired`.
pub const REASON_METADATA: &str = "x-clerk-auth-reason";

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// What gRPC's `Percent-Encoded` leaves escaped: every byte outside printable ASCII, and `%`.
const GRPC_MESSAGE_ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message(), self.reason())
    }
}

impl std::error::Error for AuthError {}

/// The JSON body of every refusal (see the module docs); its OpenAPI schema is
/// `AuthErrorBody` (feature `openapi`).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthErrorBody<'a> {
    /// `unauthorized`, `forbidden`, `unavailable` or `internal`.
    #[cfg_attr(feature = "openapi", schema(example = "unauthorized"))]
    pub error: &'a str,
    /// The reason, as Clerk spells it (`token-expired`, `token-invalid-signature`, …) or one of
    /// this library's (`session-token-missing`, `keys-unavailable`, `missing-permission`, …).
    #[cfg_attr(feature = "openapi", schema(example = "token-expired"))]
    pub reason: &'a str,
    /// A message for the developer; never contains the token.
    pub message: &'a str,
    /// For `reverification-required`: Clerk's `reverificationErrorResponse` body, which Clerk's
    /// frontend recognises to prompt the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub clerk_error: Option<&'a serde_json::Value>,
}

/// A valid session that lacks what a route requires.
#[derive(Debug, Clone, PartialEq)]
pub struct Forbidden {
    reason: &'static str,
    message: String,
    /// For reverification: Clerk's `reverificationErrorResponse` body, which Clerk's frontend
    /// (`useReverification`) recognises to prompt the user.
    clerk_error: Option<serde_json::Value>,
}

impl From<Unmet> for Forbidden {
    /// The refusal for the first requirement a session does not meet: its reason and message,
    /// and for a reverification Clerk's error body.
    fn from(unmet: Unmet) -> Self {
        let clerk_error = unmet.reverification().map(|requirement| {
            reverification_error(requirement.level().as_str(), requirement.after_minutes())
        });
        Forbidden {
            reason: unmet.reason(),
            message: unmet.to_string(),
            clerk_error,
        }
    }
}

/// Clerk's `reverificationErrorResponse` body, which Clerk's frontend (`useReverification`)
/// recognises to prompt the user.
fn reverification_error(level: &str, after_minutes: i64) -> serde_json::Value {
    serde_json::json!({
        "type": "forbidden",
        "reason": "reverification-error",
        "metadata": {
            "reverification": { "level": level, "afterMinutes": after_minutes }
        }
    })
}

impl Forbidden {
    /// A refusal with a reason such as `missing-permission` and a message.
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Forbidden {
            reason,
            message: message.into(),
            clerk_error: None,
        }
    }

    /// A refusal because the session's factor verification is too old or absent.
    pub fn reverification(level: &str, after_minutes: i64) -> Self {
        Forbidden {
            reason: "reverification-required",
            message: format!(
                "This action needs a recent verification ({level} within {after_minutes} minutes)."
            ),
            clerk_error: Some(reverification_error(level, after_minutes)),
        }
    }

    /// The reason, e.g. `missing-permission`.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Replaces the default response of a refusal; see [`crate::ClerkLayer::rejection`].
pub type RejectionHandler = Arc<dyn Fn(&AuthError) -> Response + Send + Sync>;

/// The rejection of this crate's extractors: the error, rendered by the handler configured on
/// the layer, or by [`AuthError::to_response`]; for a gRPC call, by
/// [`AuthError::to_grpc_response`].
#[derive(Clone)]
pub struct ClerkRejection {
    error: AuthError,
    render: Option<RejectionHandler>,
    retry_after: Duration,
    grpc: bool,
}

impl std::fmt::Debug for ClerkRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClerkRejection")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl ClerkRejection {
    pub(crate) fn new(
        error: AuthError,
        render: Option<RejectionHandler>,
        retry_after: Duration,
        grpc: bool,
    ) -> Self {
        ClerkRejection {
            error,
            render,
            retry_after,
            grpc,
        }
    }

    /// The error.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// Whether the refused request is a gRPC call, answered with a gRPC status.
    pub fn is_grpc(&self) -> bool {
        self.grpc
    }

    /// The `Retry-After` (HTTP) or `retry-after` metadata (gRPC) of an unavailable refusal.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }
}

impl IntoResponse for ClerkRejection {
    /// The response (for a gRPC call [`AuthError::to_grpc_response`], else the layer's
    /// handler, else [`AuthError::to_response`]), carrying a [`Refused`] in its extensions for
    /// the middleware that logs and counts requests.
    fn into_response(self) -> Response {
        let mut response = match &self.render {
            _ if self.grpc => self.error.to_grpc_response(self.retry_after),
            Some(render) => render(&self.error),
            None => self.error.to_response(self.retry_after),
        };
        response.extensions_mut().insert(Refused {
            reason: self.error.reason(),
        });
        response
    }
}

impl From<ClerkRejection> for Response {
    /// The response, so that `?` works in a handler returning `Result<_, Response>`.
    fn from(rejection: ClerkRejection) -> Response {
        rejection.into_response()
    }
}

/// In the extensions of every refusal this crate answers: why, for access logs and metrics
/// that must not see the request's token. Read it in a middleware outside the router:
///
/// ```no_run
/// # fn log(response: &axum::response::Response) {
/// if let Some(refused) = response.extensions().get::<clerk_axum::Refused>() {
///     tracing::info!(reason = refused.reason, "refused");
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refused {
    /// The refusal's reason, e.g. `token-expired` or `missing-permission`.
    pub reason: &'static str,
}

/// Seen by an observer for every refused request: metrics, audit logs.
pub trait AuthObserver: Send + Sync + 'static {
    /// A request was refused. Never given the token.
    fn rejected(&self, error: &AuthError);
    /// A request was authenticated.
    fn accepted(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use clerk_auth::Reason;

    #[tokio::test]
    async fn unauthorized_is_401_with_www_authenticate_and_json() {
        let err =
            AuthError::from_rejection(Rejection::new(Reason::TokenExpired, "JWT is expired."));
        let response = err.to_response(Duration::from_secs(5));
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#
        );
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("body");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"error":"unauthorized","reason":"token-expired","message":"JWT is expired."})
        );
    }

    #[test]
    fn unavailable_keys_are_503_with_retry_after() {
        let err = AuthError::from_rejection(Rejection::new(Reason::KeysUnavailable, "down"));
        let response = err.to_response(Duration::from_secs(7));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    }

    #[tokio::test]
    async fn reverification_carries_clerks_error_shape() {
        let err = AuthError::Forbidden(Forbidden::reverification("second_factor", 10));
        let response = err.to_response(Duration::from_secs(1));
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("body");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["reason"], "reverification-required");
        assert_eq!(json["clerk_error"]["reason"], "reverification-error");
        assert_eq!(
            json["clerk_error"]["metadata"]["reverification"],
            serde_json::json!({"level": "second_factor", "afterMinutes": 10})
        );
    }
}
