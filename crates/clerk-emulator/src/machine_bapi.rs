//! The Backend API routes of machine authentication (clerk-spec §5, microservices §C.2), at
//! the root like Clerk's (the SDKs call them with `skipApiVersionInUrl`, so no `/v1`):
//!
//! - `POST /api_keys` (200), `POST /api_keys/verify`, `POST /api_keys/{id}/revoke`: behind the
//!   secret key;
//! - `POST /m2m_tokens` (201): behind a machine secret key; `POST /m2m_tokens/verify`,
//!   `POST /m2m_tokens/{id}/revoke`, `GET /m2m_tokens`: behind the secret key (any token) or a
//!   machine secret key (only the tokens the machine may see);
//! - `POST /oauth_applications/access_tokens/verify`: behind the secret key.
//!
//! Verification answers 200 with the object, or 404 for a token that is unknown, revoked or
//! expired (what the SDKs rely on); 401 for a missing or wrong key; 400 for a body that is
//! not the expected JSON; 413 for a body over [`MACHINE_BODY_LIMIT`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::bapi::{error_response, query_pairs};
use crate::fault::Endpoint;
use crate::http::{clerk_error, json_body, key_invalid, Shared};
use crate::machines::{M2mToken, NewApiKey, NewM2mToken, TokenFormat};
use crate::objects::BackendError;
use crate::store::OAuthVerdict;

/// The largest request body, in bytes, that the machine-authentication routes read
/// (`/api_keys…`, `/m2m_tokens…`, `/oauth_applications/access_tokens/verify`); a larger one
/// gets 413 in Clerk's error shape. Their bodies are a token and a few fields.
pub const MACHINE_BODY_LIMIT: usize = 64 * 1024;

/// The default page size of `GET /m2m_tokens`.
const DEFAULT_LIMIT: usize = 10;
/// Its largest page size.
const MAX_LIMIT: usize = 100;

type AppState = State<Arc<Shared>>;
type Body = Result<Bytes, BytesRejection>;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api_keys", post(create_api_key))
        .route("/api_keys/verify", post(verify_api_key))
        .route("/api_keys/{id}/revoke", post(revoke_api_key))
        .route("/m2m_tokens", post(create_m2m_token).get(list_m2m_tokens))
        .route("/m2m_tokens/verify", post(verify_m2m_token))
        .route("/m2m_tokens/{id}/revoke", post(revoke_m2m_token))
        .route(
            "/oauth_applications/access_tokens/verify",
            post(verify_oauth_token),
        )
        .layer(DefaultBodyLimit::max(MACHINE_BODY_LIMIT))
}

/// Who a request authenticates as.
enum Caller {
    /// The instance's secret key.
    Instance,
    /// A machine's secret key: the machine's id.
    Machine(String),
}

impl Caller {
    fn machine(&self) -> Option<&str> {
        match self {
            Self::Instance => None,
            Self::Machine(id) => Some(id),
        }
    }
}

/// Counts the request, applies the endpoint's fault, then checks the key: the instance's
/// secret key, or also a machine secret key if `machine_keys`.
async fn gate(
    shared: &Shared,
    endpoint: Endpoint,
    headers: &HeaderMap,
    machine_keys: bool,
) -> Result<Caller, Response> {
    if let Some(response) = shared.fault_answer(endpoint).await {
        return Err(response);
    }
    if shared.authorized(headers) {
        return Ok(Caller::Instance);
    }
    let machine = machine_keys
        .then(|| headers.get(header::AUTHORIZATION)?.to_str().ok())
        .flatten()
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|key| shared.emulator.store().machine_by_secret_key(key));
    machine.map(Caller::Machine).ok_or_else(key_invalid)
}

macro_rules! gate {
    ($shared:expr, $endpoint:expr, $headers:expr, $machine_keys:expr) => {
        match gate(&$shared, $endpoint, &$headers, $machine_keys).await {
            Ok(caller) => caller,
            Err(response) => return response,
        }
    };
}

macro_rules! attempt {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(refusal) => return Refusal::into_response(refusal),
        }
    };
}

/// Why a request was refused before it reached the store.
enum Refusal {
    /// A body over [`MACHINE_BODY_LIMIT`]: 413.
    TooLarge,
    /// A body or parameter that is not what the route takes: 400.
    Invalid(BackendError),
}

impl From<BackendError> for Refusal {
    fn from(error: BackendError) -> Self {
        Self::Invalid(error)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::TooLarge => {
                let message =
                    format!("The request body is larger than {MACHINE_BODY_LIMIT} bytes.");
                clerk_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request_body_too_large",
                    "Request body too large",
                    &message,
                )
            }
            Self::Invalid(error) => error_response(&error),
        }
    }
}

fn invalid_body(message: String) -> BackendError {
    BackendError::invalid("request_body_invalid", "body", message)
}

fn bad_request(param: &str, message: &str) -> BackendError {
    BackendError::invalid("bad_request", param, message)
}

/// The body as JSON of the expected shape (an empty body reads as `{}`).
fn parse<T: DeserializeOwned>(body: Body) -> Result<T, Refusal> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Refusal::TooLarge
        } else {
            Refusal::Invalid(invalid_body(format!(
                "the request body could not be read: {}",
                rejection.body_text()
            )))
        }
    })?;
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    serde_json::from_slice(text)
        .map_err(|e| Refusal::Invalid(invalid_body(format!("the request body is invalid: {e}"))))
}

/// A positive number of seconds, rounded up to a whole second.
fn lifetime(seconds: Option<f64>) -> Result<Option<i64>, Refusal> {
    match seconds {
        None => Ok(None),
        // `as` saturates: a huge lifetime is the largest one.
        Some(s) if s > 0.0 && s.is_finite() => Ok(Some(s.ceil() as i64)),
        Some(_) => Err(bad_request(
            "seconds_until_expiration",
            "seconds_until_expiration must be a positive number",
        )
        .into()),
    }
}

/// The 404 of a verification, with the message the JS SDK's tests use.
fn not_found(what: &str) -> Response {
    let message = format!("{what} not found");
    clerk_error(
        StatusCode::NOT_FOUND,
        "resource_not_found",
        &message,
        &message,
    )
}

fn ok(value: &Value) -> Response {
    json_body(value.to_string())
}

fn respond(result: Result<Value, BackendError>) -> Response {
    match result {
        Ok(value) => ok(&value),
        Err(error) => error_response(&error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    #[serde(default)]
    revocation_reason: Option<String>,
}

// ---- API keys ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateApiKeyBody {
    #[serde(rename = "type")]
    key_type: Option<String>,
    name: String,
    description: Option<String>,
    subject: String,
    claims: Option<Value>,
    #[serde(default)]
    scopes: Vec<String>,
    created_by: Option<String>,
    seconds_until_expiration: Option<f64>,
}

async fn create_api_key(State(shared): AppState, headers: HeaderMap, body: Body) -> Response {
    gate!(shared, Endpoint::BackendApi, headers, false);
    let body: CreateApiKeyBody = attempt!(parse(body));
    let mut new = NewApiKey::new(body.subject, body.name);
    if let Some(key_type) = body.key_type {
        new.key_type = key_type;
    }
    new.description = body.description;
    new.claims = body.claims;
    new.scopes = body.scopes;
    new.created_by = body.created_by;
    new.seconds_until_expiration = attempt!(lifetime(body.seconds_until_expiration));
    respond(shared.emulator.create_api_key(new).map(|c| c.to_json()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyApiKeyBody {
    secret: String,
}

async fn verify_api_key(State(shared): AppState, headers: HeaderMap, body: Body) -> Response {
    gate!(shared, Endpoint::ApiKeyVerify, headers, false);
    let body: VerifyApiKeyBody = attempt!(parse(body));
    let verified = shared.emulator.store().verify_api_key(&body.secret);
    match verified {
        Some(key) => ok(&key.to_json()),
        None => not_found("API key"),
    }
}

async fn revoke_api_key(
    State(shared): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    gate!(shared, Endpoint::BackendApi, headers, false);
    let body: RevokeBody = attempt!(parse(body));
    let revoked = shared
        .emulator
        .store()
        .revoke_api_key(&id, body.revocation_reason);
    respond(revoked.map(|key| key.to_json()))
}

// ---- M2M tokens ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateM2mBody {
    token_format: Option<String>,
    seconds_until_expiration: Option<f64>,
    claims: Option<Value>,
    min_remaining_ttl_seconds: Option<u64>,
}

async fn create_m2m_token(State(shared): AppState, headers: HeaderMap, body: Body) -> Response {
    let caller = gate!(shared, Endpoint::BackendApi, headers, true);
    let Some(machine_id) = caller.machine() else {
        let message =
            "M2M tokens are created with a machine secret key, not the instance's secret key.";
        return clerk_error(
            StatusCode::FORBIDDEN,
            "authorization_invalid",
            "Forbidden",
            message,
        );
    };
    let body: CreateM2mBody = attempt!(parse(body));
    let format = match body.token_format.as_deref() {
        None | Some("opaque") => TokenFormat::Opaque,
        Some("jwt") => TokenFormat::Jwt,
        Some(_) => {
            return error_response(&bad_request(
                "token_format",
                "token_format must be `opaque` or `jwt`",
            ));
        }
    };
    let mut new = NewM2mToken::new().format(format);
    new.seconds_until_expiration = attempt!(lifetime(body.seconds_until_expiration));
    new.claims = body.claims;
    new.min_remaining_ttl_seconds = body
        .min_remaining_ttl_seconds
        .map(|s| i64::try_from(s).unwrap_or(i64::MAX));
    match shared.emulator.create_m2m_token(machine_id, new) {
        Ok(created) => (StatusCode::CREATED, ok(&created.to_json())).into_response(),
        Err(error) => error_response(&error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyM2mBody {
    token: String,
}

async fn verify_m2m_token(State(shared): AppState, headers: HeaderMap, body: Body) -> Response {
    let caller = gate!(shared, Endpoint::M2mVerify, headers, true);
    let body: VerifyM2mBody = attempt!(parse(body));
    let verified = shared
        .emulator
        .store()
        .verify_m2m_token(&body.token, caller.machine());
    match verified {
        Some(token) => ok(&token.to_json()),
        None => not_found("Machine token"),
    }
}

async fn revoke_m2m_token(
    State(shared): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let caller = gate!(shared, Endpoint::BackendApi, headers, true);
    let body: RevokeBody = attempt!(parse(body));
    let revoked =
        shared
            .emulator
            .store()
            .revoke_m2m_token(&id, body.revocation_reason, caller.machine());
    respond(revoked.map(|token| token.to_json()))
}

/// The parameters of `GET /m2m_tokens`.
struct ListParams {
    subject: String,
    revoked: bool,
    expired: bool,
    limit: usize,
    offset: usize,
}

fn list_params(raw: Option<&str>) -> Result<ListParams, BackendError> {
    let mut params = ListParams {
        subject: String::new(),
        revoked: false,
        expired: false,
        limit: DEFAULT_LIMIT,
        offset: 0,
    };
    let flag = |name: &str, value: &str| match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad_request(name, &format!("{name} must be true or false"))),
    };
    for (name, value) in query_pairs(raw) {
        match name.as_str() {
            "subject" => params.subject = value,
            "revoked" => params.revoked = flag("revoked", &value)?,
            "expired" => params.expired = flag("expired", &value)?,
            "limit" => {
                params.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        bad_request("limit", &format!("limit must be between 1 and {MAX_LIMIT}"))
                    })?;
            }
            "offset" => {
                params.offset = value
                    .parse()
                    .map_err(|_| bad_request("offset", "offset must be 0 or more"))?;
            }
            _ => {}
        }
    }
    if params.subject.is_empty() {
        return Err(bad_request("subject", "subject is required"));
    }
    Ok(params)
}

async fn list_m2m_tokens(
    State(shared): AppState,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let caller = gate!(shared, Endpoint::BackendApi, headers, true);
    let params = match list_params(raw.as_deref()) {
        Ok(params) => params,
        Err(error) => return error_response(&error),
    };
    if caller.machine().is_some_and(|m| m != params.subject) {
        return clerk_error(
            StatusCode::FORBIDDEN,
            "authorization_invalid",
            "Forbidden",
            "A machine secret key lists only its own machine's tokens.",
        );
    }
    let store = shared.emulator.store();
    if let Err(error) = store.machine(&params.subject) {
        return error_response(&error);
    }
    let (tokens, total) = store.list_m2m_tokens(
        &params.subject,
        params.revoked,
        params.expired,
        params.offset,
        params.limit,
    );
    drop(store);
    let tokens: Vec<Value> = tokens.iter().map(M2mToken::to_json).collect();
    ok(&json!({ "m2m_tokens": tokens, "total_count": total }))
}

// ---- OAuth access tokens ----

/// `access_token`, or the deprecated `secret`; other fields are allowed (the schema does not
/// forbid them).
#[derive(Deserialize)]
struct VerifyOAuthBody {
    access_token: Option<String>,
    secret: Option<String>,
}

async fn verify_oauth_token(State(shared): AppState, headers: HeaderMap, body: Body) -> Response {
    gate!(shared, Endpoint::OAuthVerify, headers, false);
    let body: VerifyOAuthBody = attempt!(parse(body));
    let Some(token) = body.access_token.or(body.secret) else {
        return error_response(&invalid_body(
            "the request body is invalid: missing field `access_token`".to_owned(),
        ));
    };
    let verdict = shared.emulator.store().verify_oauth_token(&token);
    match verdict {
        OAuthVerdict::Active(token) => ok(&token.to_json()),
        OAuthVerdict::Inactive => ok(&json!({ "active": false })),
        OAuthVerdict::NotFound => not_found("OAuth token"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_positive_and_rounded_up() {
        assert_eq!(lifetime(None).ok(), Some(None));
        assert_eq!(lifetime(Some(1.2)).ok(), Some(Some(2)));
        assert_eq!(lifetime(Some(60.0)).ok(), Some(Some(60)));
        assert!(lifetime(Some(0.0)).is_err());
        assert!(lifetime(Some(-1.0)).is_err());
        assert!(lifetime(Some(f64::NAN)).is_err());
        assert!(lifetime(Some(f64::INFINITY)).is_err());
    }

    #[test]
    fn list_params_need_a_subject_and_check_their_ranges() {
        let params = list_params(Some("subject=mch_1&revoked=true&limit=100&offset=5")).unwrap();
        assert_eq!(params.subject, "mch_1");
        assert!(params.revoked && !params.expired);
        assert_eq!((params.limit, params.offset), (100, 5));
        assert_eq!(
            list_params(Some("subject=mch_1")).unwrap().limit,
            DEFAULT_LIMIT
        );
        assert!(list_params(None).is_err());
        assert!(list_params(Some("subject=mch_1&limit=101")).is_err());
        assert!(list_params(Some("subject=mch_1&limit=0")).is_err());
        assert!(list_params(Some("subject=mch_1&offset=-1")).is_err());
        assert!(list_params(Some("subject=mch_1&expired=yes")).is_err());
    }
}
