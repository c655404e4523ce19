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

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
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
/// the layer, or by [`AuthError::to_response`].
#[derive(Clone)]
pub struct ClerkRejection {
    error: AuthError,
    render: Option<RejectionHandler>,
    retry_after: Duration,
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
    ) -> Self {
        ClerkRejection {
            error,
            render,
            retry_after,
        }
    }

    /// The error.
    pub fn error(&self) -> &AuthError {
        &self.error
    }
}

impl IntoResponse for ClerkRejection {
    /// The response (the layer's handler, else [`AuthError::to_response`]), carrying a
    /// [`Refused`] in its extensions for the middleware that logs and counts requests.
    fn into_response(self) -> Response {
        let mut response = match &self.render {
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
