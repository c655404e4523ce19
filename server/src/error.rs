//! One error type for every handler, and the status code each case maps to.
//!
//! Bodies are JSON: `{"error": "<kind>", "message": "…"}`, plus `fields` for a validation
//! error and `reason` for a refusal. Internal errors are logged with their cause and answered
//! with a bare 500: a client never sees SQL, paths or driver messages.
//!
//! Refusals of the session itself (401, 503 when no key can be had, and the guards' 403) are
//! `clerk-axum`'s; this type covers what the server decides.

use std::collections::BTreeMap;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use clerk_webhooks::WebhookError;
use serde::Serialize;

/// Why a request failed.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request cannot be read: malformed JSON, a bad query string or cursor.
    BadRequest(String),
    /// 403: a valid session without the role or permission this action needs. `reason` is
    /// `missing-permission` or `missing-role`, as clerk-axum's guards spell it.
    Forbidden {
        /// Machine-readable reason.
        reason: &'static str,
        /// What was needed.
        message: String,
    },
    /// 404: no such resource *in the caller's scope*. A note of another user or organization
    /// is "not found" too, never "forbidden", so its existence is not revealed.
    NotFound,
    /// 405: the path exists, but not with this method (`Allow` lists those it has).
    MethodNotAllowed,
    /// 413: the body is larger than `MAX_BODY_BYTES`.
    PayloadTooLarge,
    /// 415: a JSON body without `Content-Type: application/json`.
    UnsupportedMediaType,
    /// 422: well-formed JSON with the wrong shape (a number where a string belongs, a missing
    /// field).
    Unprocessable(String),
    /// 422: values that break a rule, by field name.
    Validation(BTreeMap<&'static str, String>),
    /// 400: a webhook delivery that does not verify (missing headers, a bad signature, a
    /// timestamp more than 5 minutes away) or whose verified body is not a Clerk event.
    /// `reason` says which; nothing was written. Svix retries it, to no avail unless the
    /// signing secret is fixed.
    InvalidWebhook(WebhookError),
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

/// Put in a response's extensions by refusals, so the request log and the metrics can tell
/// why a request was refused without seeing the request's token.
#[derive(Debug, Clone)]
pub struct AuthFailure(pub String);

impl ApiError {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) | ApiError::Validation(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::InvalidWebhook(WebhookError::BodyTooLarge { .. }) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::InvalidWebhook(_) => StatusCode::BAD_REQUEST,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::NotConfigured { .. } | ApiError::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A 403 for a missing permission (or any of several).
    pub fn forbidden(reason: &'static str, message: impl Into<String>) -> Self {
        ApiError::Forbidden {
            reason,
            message: message.into(),
        }
    }

    /// The reason of a refused webhook delivery, e.g. `signature-mismatch`.
    pub fn webhook_reason(err: &WebhookError) -> &'static str {
        match err {
            WebhookError::MissingHeaders(_) => "missing-headers",
            WebhookError::DuplicateHeader(_)
            | WebhookError::InvalidHeader(_)
            | WebhookError::HeaderTooLong { .. } => "invalid-headers",
            WebhookError::InvalidTimestamp => "invalid-timestamp",
            WebhookError::TimestampTooOld => "timestamp-too-old",
            WebhookError::TimestampTooNew => "timestamp-too-new",
            WebhookError::NoMatchingSignature => "signature-mismatch",
            WebhookError::BodyTooLarge { .. } => "body-too-large",
            WebhookError::InvalidJson(_)
            | WebhookError::JsonTooDeep
            | WebhookError::NotAnEvent(_) => "not-an-event",
            _ => "invalid-webhook",
        }
    }

    /// A 422 for one field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::Validation(BTreeMap::from([(field, message.into())]))
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a BTreeMap<&'static str, String>>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let webhook_message;
        let (error, reason, message, fields): (&str, Option<&str>, &str, _) = match &self {
            ApiError::BadRequest(message) => ("bad_request", None, message, None),
            ApiError::Forbidden { reason, message } => {
                ("forbidden", Some(*reason), message.as_str(), None)
            }
            ApiError::NotFound => ("not_found", None, "Not found.", None),
            ApiError::MethodNotAllowed => (
                "method_not_allowed",
                None,
                "This path does not accept this method.",
                None,
            ),
            ApiError::PayloadTooLarge => (
                "payload_too_large",
                None,
                "The request body is larger than this server accepts.",
                None,
            ),
            ApiError::UnsupportedMediaType => (
                "unsupported_media_type",
                None,
                "Send the body as JSON with Content-Type: application/json.",
                None,
            ),
            ApiError::Unprocessable(message) => ("unprocessable", None, message, None),
            ApiError::Validation(fields) => (
                "validation",
                None,
                "Some fields are not valid.",
                Some(fields),
            ),
            ApiError::InvalidWebhook(WebhookError::BodyTooLarge { .. }) => (
                "payload_too_large",
                None,
                "The request body is larger than this server accepts.",
                None,
            ),
            ApiError::InvalidWebhook(err) => {
                webhook_message = err.to_string();
                (
                    "invalid_webhook",
                    Some(ApiError::webhook_reason(err)),
                    webhook_message.as_str(),
                    None,
                )
            }
            ApiError::BadGateway(message) => (
                "bad_gateway",
                Some("backend-api-error"),
                message.as_str(),
                None,
            ),
            ApiError::NotConfigured { reason, message } => {
                ("unavailable", Some(*reason), *message, None)
            }
            ApiError::Timeout => (
                "timeout",
                None,
                "The request took too long and was abandoned.",
                None,
            ),
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                ("internal", None, "Internal server error.", None)
            }
        };
        let mut response = (
            status,
            axum::Json(Body {
                error,
                reason,
                message,
                fields,
            }),
        )
            .into_response();
        match &self {
            ApiError::Forbidden { reason, .. } => {
                // RFC 6750 §3.1: the token is valid but lacks the privileges the request needs.
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="insufficient_scope""#),
                );
                response
                    .extensions_mut()
                    .insert(AuthFailure((*reason).to_owned()));
            }
            ApiError::Timeout => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        ApiError::Internal(Box::new(err))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(err) => ApiError::Unprocessable(err.body_text()),
            JsonRejection::JsonSyntaxError(err) => ApiError::BadRequest(err.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            JsonRejection::BytesRejection(err) => {
                if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest(err.body_text())
                }
            }
            other => ApiError::BadRequest(other.body_text()),
        }
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
