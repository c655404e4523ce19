//! `POST /webhooks/clerk`: Clerk's webhooks, delivered by Svix, keep the local tables in sync
//! and revoke sessions.
//!
//! 1. Without `CLERK_WEBHOOK_SIGNING_SECRET` the route answers 503 `webhooks-not-configured`
//!    (mounted all the same, so a misconfiguration shows as failed deliveries in Clerk's
//!    dashboard, which Svix retries, rather than as 404s).
//! 2. The raw body (at most `MAX_BODY_BYTES`, else 413) is verified with `clerk-webhooks`:
//!    the `svix-id`, `svix-timestamp` and `svix-signature` headers, a timestamp within 5
//!    minutes, an HMAC of any configured secret. Anything else is 400 with a `reason`, and
//!    nothing is written.
//! 3. The event is applied in one transaction ([`crate::sync::apply`]): 200
//!    `{"status":"applied"}`; `{"status":"duplicate"}` for a message id already applied;
//!    `{"status":"ignored"}` for event types this server does not keep, and for a verified
//!    event whose data has an unexpected shape (logged: a 4xx would make Svix retry a
//!    delivery that can never succeed). A failure rolls everything back and answers 500, so
//!    Svix delivers it again.
//! 4. After the commit, revoked sessions and deleted users are refused by this instance at
//!    once, and by the others through PostgreSQL's `NOTIFY` ([`crate::revocation`]).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Json;
use super::AppState;
use crate::db::now_ms;
use crate::error::ApiError;
use crate::sync::{self, Outcome};

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(clerk))
}

/// The body of a 2xx answer to a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivered {
    /// `applied`, `duplicate` (this `svix-id` was applied before; nothing changed) or
    /// `ignored` (an event this server does not keep).
    #[schema(value_type = String, example = "applied")]
    pub status: Outcome,
}

/// The body of a refused delivery (400), or of a webhook route that is not configured (503).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookErrorBody {
    /// `invalid_webhook` (400), `payload_too_large` (413) or `unavailable` (503).
    pub error: String,
    /// `missing-headers`, `invalid-headers`, `invalid-timestamp`, `timestamp-too-old`,
    /// `timestamp-too-new`, `signature-mismatch`, `not-an-event`;
    /// `webhooks-not-configured` for a 503.
    pub reason: String,
    /// A message (never a secret or a signature).
    pub message: String,
}

/// One Svix delivery of a Clerk event.
#[utoipa::path(
    post,
    path = "/webhooks/clerk",
    tag = "webhooks",
    params(
        ("svix-id" = String, Header, min_length = 1, description = "The message id: a redelivery has the same"),
        ("svix-timestamp" = String, Header, pattern = "^[0-9]+$", description = "Unix seconds; refused when more than 5 minutes away"),
        ("svix-signature" = String, Header, min_length = 1, description = "`v1,<base64 HMAC-SHA256>`, space-separated"),
    ),
    request_body(content = Object, description = "A Clerk event: `{\"type\", \"object\": \"event\", \"data\", \"timestamp\", \"instance_id\"}`, exactly as signed", content_type = "application/json"),
    responses(
        (status = 200, description = "Applied, a duplicate, or ignored", body = Delivered),
        (status = 400, description = "Not verified, or not a Clerk event; nothing written", body = WebhookErrorBody),
        (status = 413, description = "Body over `MAX_BODY_BYTES`; nothing written", body = WebhookErrorBody),
        (status = 500, description = "Applying it failed; nothing written, Svix retries"),
        (status = 503, description = "`CLERK_WEBHOOK_SIGNING_SECRET` is not set", body = WebhookErrorBody),
    )
)]
pub async fn clerk(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Delivered>, ApiError> {
    let result = deliver(&state, &headers, body).await;
    let outcome = match &result {
        Ok(delivered) => delivered.status.as_str(),
        Err(ApiError::Internal(_)) => "failed",
        Err(ApiError::NotConfigured { .. }) => "not-configured",
        Err(_) => "refused",
    };
    state.metrics().record_webhook(outcome);
    result.map(Json)
}

async fn deliver(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Delivered, ApiError> {
    let Some(webhook) = state.webhook() else {
        return Err(ApiError::NotConfigured {
            reason: "webhooks-not-configured",
            message: "Webhooks are not configured on this server: set \
                      CLERK_WEBHOOK_SIGNING_SECRET to the endpoint's signing secret (whsec_…).",
        });
    };
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })?;
    let event = webhook.verify_event(headers, &body).map_err(|err| {
        tracing::warn!(reason = err.reason(), error = %err, "webhook refused");
        ApiError::InvalidWebhook(err)
    })?;
    // Present: verification needs it.
    let message_id = message_id(headers).ok_or_else(|| {
        ApiError::InvalidWebhook(clerk_webhooks::WebhookError::MissingHeaders(vec![
            "svix-id",
        ]))
    })?;
    let applied = sync::apply(state.db(), message_id, &event, now_ms()).await?;
    for revocation in &applied.revocations {
        revocation.apply(state.verifier());
    }
    tracing::info!(
        svix_id = message_id,
        event_type = %event.type_,
        outcome = applied.outcome.as_str(),
        revocations = applied.revocations.len(),
        "webhook delivered"
    );
    Ok(Delivered {
        status: applied.outcome,
    })
}

/// The message id the delivery was verified with: `svix-id`, else (as `clerk-webhooks` does
/// when no `svix-*` header is sent) `webhook-id`.
fn message_id(headers: &HeaderMap) -> Option<&str> {
    let read = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    read("svix-id").or_else(|| read("webhook-id"))
}
