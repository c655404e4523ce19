//! `GET /protected`, the classic guide's example route, and `GET /v1/me`, the session and the
//! user's profile as the webhooks keep it.

use axum::extract::State;
use axum::Json;
use clerk_axum::ClerkAuth;
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::{timestamp, AppState};
use crate::error::ApiError;

/// The body of `GET /protected`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Protected {
    /// The user id (`sub`).
    #[schema(example = "user_2NNEqL2nrIRdJ194ndJqAHwEfxC")]
    pub user_id: String,
    /// The `email` claim, if the session token carries one (add it to the session token
    /// template in Clerk's dashboard: `{"email": "{{user.primary_email_address}}"}`).
    #[schema(example = "ada@example.com")]
    pub email: Option<String>,
}

/// `GET /protected`: who is calling, from the token alone (no database).
#[utoipa::path(
    get,
    path = "/protected",
    tag = "session",
    security(("clerk" = [])),
    responses((status = 200, description = "The signed-in user", body = Protected))
)]
pub async fn protected(auth: ClerkAuth) -> Json<Protected> {
    Json(Protected {
        user_id: auth.user_id().to_owned(),
        email: auth
            .claim("email")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
    })
}

/// The body of `GET /v1/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The user id (`sub`).
    pub user_id: String,
    /// The session id (`sid`).
    pub session_id: String,
    /// The active organization, if any.
    pub org_id: Option<String>,
    /// The role in the active organization, e.g. `org:admin`.
    pub org_role: Option<String>,
    /// The permissions in the active organization, e.g. `org:notes:write`.
    pub org_permissions: Vec<String>,
    /// The user as Clerk's webhooks last described it; `null` until the first `user.created`
    /// or `user.updated` event arrives (or after `user.deleted`).
    pub profile: Option<Profile>,
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

/// `GET /v1/me`: the session's claims and the user's stored profile.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "session",
    security(("clerk" = [])),
    responses((status = 200, description = "The session and the user's profile", body = Me))
)]
pub async fn me(State(state): State<AppState>, auth: ClerkAuth) -> Result<Json<Me>, ApiError> {
    let row = sqlx::query(
        "SELECT email, first_name, last_name, image_url, public_metadata, updated_at \
         FROM users WHERE id = $1 AND deleted = FALSE",
    )
    .bind(auth.user_id())
    .fetch_optional(state.db().pool())
    .await?;
    let profile = row
        .map(|row| -> Result<Profile, sqlx::Error> {
            let metadata: String = row.try_get("public_metadata")?;
            Ok(Profile {
                email: row.try_get("email")?,
                first_name: row.try_get("first_name")?,
                last_name: row.try_get("last_name")?,
                image_url: row.try_get("image_url")?,
                // Written by this server from Clerk's JSON; should it ever not parse, the
                // profile is still worth showing.
                public_metadata: serde_json::from_str(&metadata).unwrap_or(serde_json::Value::Null),
                updated_at: timestamp(row.try_get("updated_at")?),
            })
        })
        .transpose()?;
    Ok(Json(Me {
        user_id: auth.user_id().to_owned(),
        session_id: auth.session_id().to_owned(),
        org_id: auth.org_id().map(str::to_owned),
        org_role: auth.org_role().map(str::to_owned),
        org_permissions: auth.org_permissions().to_vec(),
        profile,
    }))
}
