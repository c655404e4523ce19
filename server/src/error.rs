//! One error type for every handler, and the status code each case maps to.
//!
//! Bodies are JSON: `{"error": "<kind>", "message": "…"}`, plus `fields` for a validation
//! error and `reason` for a refusal. Internal errors are logged with their cause and answered
//! with a bare 500: a client never sees SQL, paths or driver messages.
//!
//! Refusals of the session (401, 503 when no key can be had, and every 403) are `clerk-axum`'s:
//! a handler that checks a requirement returns its [`ClerkRejection`] through
//! [`ApiError::Refused`], whose body and headers are clerk-axum's own.

use std::borrow::Cow;
use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use clerk_axum::ClerkRejection;
use clerk_webhooks::WebhookError;
use serde::Serialize;
use utoipa::ToSchema;

/// Why a request failed.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request cannot be read: malformed JSON, a bad query string or cursor.
    BadRequest(String),
    /// 401, 403 or 503, as clerk-axum answers a refused session (a requirement the handler
    /// checked with `ClerkAuth::require`).
    Refused(ClerkRejection),
    /// 404: no such resource *in the caller's scope*. A note of another user or organization
    /// is "not found" too, never "forbidden", so its existence is not revealed.
    NotFound,
    /// 405: the path exists, but not with this method (`Allow` lists those it has).
    MethodNotAllowed,
    /// 413: the body is larger than `MAX_BODY_BYTES`.
    PayloadTooLarge,
    /// 415: a JSON body without `Content-Type: application/json`.
    UnsupportedMediaType,
    /// 422: values that break a rule, or well-formed JSON of the wrong shape (a number where a
    /// string belongs, a missing or unknown field), by field name (`$` for the body as a
    /// whole): one shape whatever the cause.
    Validation(BTreeMap<Cow<'static, str>, String>),
    /// 400: a webhook delivery that does not verify (missing headers, a bad signature, a
    /// timestamp more than 5 minutes away) or whose verified body is not a Clerk event.
    /// `reason` says which; nothing was written. Svix retries it, to no avail unless the
    /// signing secret is fixed.
    InvalidWebhook(WebhookError),
    /// 429: over a rate limit (`reason` says which); `Retry-After` says when to come back.
    TooManyRequests {
        /// Machine-readable reason, e.g. `fresh-profile-rate-limited`.
        reason: &'static str,
        /// What was limited.
        message: &'static str,
        /// When a retry may succeed.
        retry_after: std::time::Duration,
    },
    /// 502: Clerk's Backend API failed or refused. The message never holds the secret key.
    BadGateway(String),
    /// 503: a feature this server is not configured for (`webhooks-not-configured`,
    /// `backend-api-not-configured`).
    NotConfigured {
        /// Machine-readable reason.
        reason: &'static str,
        /// What to set.
        message: &'static str,
    },
    /// 503: the request took longer than `REQUEST_TIMEOUT_MS`.
    Timeout,
    /// 500: anything else (a database failure, a bug). Logged, never shown.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Refused(rejection) => rejection.error().status(),
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::InvalidWebhook(WebhookError::BodyTooLarge { .. }) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::InvalidWebhook(_) => StatusCode::BAD_REQUEST,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::NotConfigured { .. } | ApiError::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A 422 for one field.
    pub fn invalid(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ApiError::Validation(BTreeMap::from([(field.into(), message.into())]))
    }
}

/// The JSON body of the errors this server answers itself (400, 404, 405, 413, 415, 429, 502,
/// 503), except a validation error's (422).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    /// `bad_request`, `not_found`, `method_not_allowed`, `payload_too_large`,
    /// `unsupported_media_type`, `invalid_webhook`, `too_many_requests`, `bad_gateway`,
    /// `unavailable`, `timeout`, `internal`.
    #[schema(example = "not_found")]
    pub error: &'a str,
    /// For some errors, a stable reason: `backend-api-error`, `webhooks-not-configured`,
    /// `signature-mismatch`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// A message for the developer.
    pub message: &'a str,
}

/// The JSON body of a 422 validation error: what is wrong, by field name.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationErrorBody<'a> {
    /// `validation`.
    #[schema(example = "validation")]
    pub error: &'a str,
    /// A message.
    pub message: &'a str,
    /// What is wrong, by field name.
    #[schema(value_type = Object, example = json!({"title": "must be 1 to 200 characters"}))]
    pub fields: &'a BTreeMap<Cow<'static, str>, String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let this = match self {
            ApiError::Refused(rejection) => return rejection.into_response(),
            other => other,
        };
        let status = this.status();
        let webhook_message;
        let (error, reason, message): (&str, Option<&str>, &str) = match &this {
            ApiError::Refused(_) => unreachable!("answered by clerk-axum above"),
            ApiError::Validation(fields) => {
                let body = ValidationErrorBody {
                    error: "validation",
                    message: "Some fields are not valid.",
                    fields,
                };
                return (status, axum::Json(body)).into_response();
            }
            ApiError::BadRequest(message) => ("bad_request", None, message),
            ApiError::NotFound => ("not_found", None, "Not found."),
            ApiError::MethodNotAllowed => (
                "method_not_allowed",
                None,
                "This path does not accept this method.",
            ),
            ApiError::PayloadTooLarge
            | ApiError::InvalidWebhook(WebhookError::BodyTooLarge { .. }) => (
                "payload_too_large",
                None,
                "The request body is larger than this server accepts.",
            ),
            ApiError::UnsupportedMediaType => (
                "unsupported_media_type",
                None,
                "Send the body as JSON with Content-Type: application/json.",
            ),
            ApiError::InvalidWebhook(err) => {
                webhook_message = err.to_string();
                (
                    "invalid_webhook",
                    Some(err.reason()),
                    webhook_message.as_str(),
                )
            }
            ApiError::TooManyRequests {
                reason, message, ..
            } => ("too_many_requests", Some(*reason), *message),
            ApiError::BadGateway(message) => {
                ("bad_gateway", Some("backend-api-error"), message.as_str())
            }
            ApiError::NotConfigured { reason, message } => ("unavailable", Some(*reason), *message),
            ApiError::Timeout => (
                "timeout",
                None,
                "The request took too long and was abandoned.",
            ),
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                ("internal", None, "Internal server error.")
            }
        };
        let mut response = (
            status,
            axum::Json(ErrorBody {
                error,
                reason,
                message,
            }),
        )
            .into_response();
        match this {
            ApiError::Timeout => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                // Whole seconds, rounded up, at least 1 (RFC 9110 §10.2.3).
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            _ => {}
        }
        response
    }
}

impl From<ClerkRejection> for ApiError {
    fn from(rejection: ClerkRejection) -> Self {
        ApiError::Refused(rejection)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        ApiError::Internal(Box::new(err))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn json(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("body");
        (status, serde_json::from_slice(&body).expect("json"))
    }

    #[tokio::test]
    async fn internal_errors_do_not_leak_their_cause() {
        let (status, body) = json(ApiError::Internal("secret table xyz is gone".into())).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("xyz"));
    }

    #[tokio::test]
    async fn validation_lists_fields() {
        let (status, body) = json(ApiError::invalid("title", "must not be empty")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"], "validation");
        assert_eq!(body["fields"]["title"], "must not be empty");
    }
}
