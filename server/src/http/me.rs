//! `GET /protected`, the classic guide's example route, and `GET /v1/me`, the session and the
//! user's profile as the webhooks keep it (or, with `?fresh=true`, as Clerk's Backend API
//! has it now).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use clerk_auth::{Caller, TokenType};
use clerk_axum::{AnyToken, ClerkAuth, ClerkCaller};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{timestamp, Json, Query};
use super::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::sync;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(protected))
        .routes(routes!(me))
}

/// The body of `GET /protected`.
// It borrows from the verified claims: the route answers from the token without copying it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Protected<'a> {
    /// The user id (`sub`).
    #[schema(example = "user_2NNEqL2nrIRdJ194ndJqAHwEfxC")]
    pub user_id: &'a str,
    /// The `email` claim, if the session token carries one (add it to the session token
    /// template in Clerk's dashboard: `{"email": "{{user.primary_email_address}}"}`).
    #[schema(example = "ada@example.com")]
    pub email: Option<&'a str>,
}

/// Who is calling, from the token alone (no database).
#[utoipa::path(
    get,
    path = "/protected",
    tag = "session",
    security(("clerk" = [])),
    responses((status = 200, description = "The signed-in user", body = Protected))
)]
pub async fn protected(auth: ClerkAuth) -> Response {
    axum::Json(Protected {
        user_id: auth.user_id(),
        email: auth.claim("email").and_then(serde_json::Value::as_str),
    })
    .into_response()
}

/// The body of `GET /v1/me`: who is calling, by the type of their credential.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// `session_token`, `api_key`, `m2m_token` or `oauth_token`.
    #[schema(example = "session_token")]
    pub token_type: &'static str,
    /// The user: a session's (`sub`), a user's API key's subject, an OAuth token's user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The session id (`sid`), for a session token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The active organization of a session, or the organization an API key acts for.
    pub org_id: Option<String>,
    /// The role in a session's active organization, e.g. `org:admin`.
    pub org_role: Option<String>,
    /// The permissions in a session's active organization, e.g. `org:notes:write`.
    pub org_permissions: Vec<String>,
    /// A machine credential's id (`ak_…`, `mt_…`, `oat_…`; a JWT's `jti`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// A machine credential's subject: a user, an organization or a machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// An M2M token's machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    /// An OAuth token's application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// An API key's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A machine credential's scopes (for an M2M token, the machines it may talk to).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// The user as Clerk's webhooks last described it (or the Backend API, with
    /// `fresh=true`); `null` until the first `user.created` or `user.updated` event arrives,
    /// after `user.deleted`, and for credentials that act for no user.
    pub profile: Option<Profile>,
}

impl Me {
    fn of(caller: &Caller) -> Me {
        match caller {
            Caller::Session(claims) => Me {
                token_type: TokenType::SessionToken.as_str(),
                user_id: Some(claims.user_id().to_owned()),
                session_id: Some(claims.session_id().to_owned()),
                org_id: claims.org_id().map(str::to_owned),
                org_role: claims.org_role().map(str::to_owned),
                org_permissions: claims.org_permissions().to_vec(),
                credential_id: None,
                subject: None,
                machine_id: None,
                client_id: None,
                name: None,
                scopes: None,
                profile: None,
            },
            Caller::Machine(machine) => Me {
                token_type: machine.token_type().as_str(),
                user_id: machine.user_id().map(str::to_owned),
                session_id: None,
                org_id: machine.org_id().map(str::to_owned),
                org_role: None,
                org_permissions: Vec::new(),
                credential_id: Some(machine.id().to_owned()),
                subject: Some(machine.subject().to_owned()),
                machine_id: machine.machine_id().map(str::to_owned),
                client_id: machine.client_id().map(str::to_owned),
                name: machine.name().map(str::to_owned),
                scopes: Some(machine.scopes().to_vec()),
                profile: None,
            },
        }
    }
}

/// A user's profile, from the local `users` table.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    /// The primary email address.
    pub email: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Profile image.
    pub image_url: Option<String>,
    /// Clerk's `public_metadata`.
    #[schema(value_type = Object)]
    pub public_metadata: serde_json::Value,
    /// When Clerk last changed the user (RFC 3339).
    pub updated_at: String,
}

/// Query parameters of `GET /v1/me`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MeParams {
    /// `true`: fetch the user from Clerk's Backend API first and store it (as a webhook
    /// would, never over a newer row), for a profile that is current even if a webhook is
    /// late. One Backend API call per request: Clerk rate-limits them.
    #[serde(default)]
    pub fresh: bool,
}

/// Who is calling (any credential: a session, an API key, an M2M or OAuth token) and, for a
/// user, their stored profile.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "session",
    params(MeParams),
    security(("clerk" = []), ("clerk_api_key" = []), ("clerk_m2m_token" = []), ("clerk_oauth_token" = [])),
    responses(
        (status = 200, description = "The caller and, for a user, the stored profile", body = Me),
        (status = 400, description = "A malformed query", body = ErrorBody),
        (status = 429, description = "`fresh=true` more often than `FRESH_PROFILE_RATE` allows for this user (`reason`: `fresh-profile-rate-limited`); the stored profile is untouched", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "`fresh=true`: Clerk's Backend API failed (`reason`: `backend-api-error`)", body = ErrorBody),
        (status = 503, description = "No signing key can be had (`keys-unavailable`), the request took longer than `REQUEST_TIMEOUT_MS` (`timeout`), or `fresh=true` without `CLERK_SECRET_KEY` (`backend-api-not-configured`)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait, when retrying may help"))),
    )
)]
pub async fn me(
    State(state): State<AppState>,
    caller: ClerkCaller<AnyToken>,
    Query(params): Query<MeParams>,
) -> Result<Json<Me>, ApiError> {
    let mut me = Me::of(&caller);
    if let Some(user_id) = me.user_id.as_deref() {
        if params.fresh {
            refresh(&state, user_id).await?;
        }
        me.profile = stored_profile(&state, user_id).await?;
    }
    Ok(Json(me))
}

/// Fetches the user from the Backend API and stores it, order-safe; at most as often as
/// `FRESH_PROFILE_RATE` allows per user.
async fn refresh(state: &AppState, user_id: &str) -> Result<(), ApiError> {
    let Some(backend) = state.backend() else {
        return Err(ApiError::NotConfigured {
            reason: "backend-api-not-configured",
            message: "Fresh profiles need Clerk's Backend API: set CLERK_SECRET_KEY \
                      (and CLERK_API_URL if not https://api.clerk.com).",
        });
    };
    if let Err(not_until) = state.fresh_profiles().check_key(&user_id.to_owned()) {
        use governor::clock::Clock as _;
        return Err(ApiError::TooManyRequests {
            reason: "fresh-profile-rate-limited",
            message: "Too many fresh profiles for this user: each is a call to Clerk's Backend \
                      API, which Clerk rate-limits. Use the stored profile, or retry later.",
            retry_after: not_until.wait_time_from(governor::clock::DefaultClock::default().now()),
        });
    }
    let user = backend.users().get(user_id).await.map_err(|err| {
        tracing::warn!(
            error = %err,
            status = ?err.status(),
            clerk_trace_id = ?err.clerk_trace_id(),
            "Backend API: cannot fetch the user"
        );
        ApiError::BadGateway(backend_failure(&err))
    })?;
    if user.id != user_id {
        return Err(ApiError::BadGateway(
            "Clerk's Backend API answered with another user.".to_owned(),
        ));
    }
    let updated_at = user.updated_at.unwrap_or(0);
    sync::upsert_user(state.db().pool(), &user, updated_at).await?;
    Ok(())
}

/// What to tell the client about a Backend API failure: the status and Clerk's error code,
/// nothing about the request (its URL, its key).
fn backend_failure(err: &clerk_backend::Error) -> String {
    match (err.status(), err.code().filter(|code| !code.is_empty())) {
        (Some(status), Some(code)) => {
            format!("Clerk's Backend API answered {status} ({code}).")
        }
        (Some(status), None) => format!("Clerk's Backend API answered {status}."),
        (None, _) if err.is_timeout() => "Clerk's Backend API did not answer in time.".to_owned(),
        (None, _) => {
            "Clerk's Backend API could not be reached or sent an unreadable answer.".to_owned()
        }
    }
}

/// A profile's row.
#[derive(sqlx::FromRow)]
struct ProfileRow {
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    image_url: Option<String>,
    public_metadata: String,
    updated_at: i64,
}

/// The user's profile from the local table, unless deleted.
async fn stored_profile(state: &AppState, user_id: &str) -> Result<Option<Profile>, ApiError> {
    let row = sqlx::query_as::<_, ProfileRow>(
        "SELECT email, first_name, last_name, image_url, public_metadata, updated_at \
         FROM users WHERE id = $1 AND deleted = FALSE",
    )
    .bind(user_id)
    .fetch_optional(state.db().pool())
    .await?;
    Ok(row.map(|row| Profile {
        email: row.email,
        first_name: row.first_name,
        last_name: row.last_name,
        image_url: row.image_url,
        // Written by this server from Clerk's JSON; should it ever not parse, the profile is
        // still worth showing.
        public_metadata: serde_json::from_str(&row.public_metadata)
            .unwrap_or(serde_json::Value::Null),
        updated_at: timestamp(row.updated_at),
    }))
}
