//! `GET /v1/admin/users`: the active organization's members, from the local tables that
//! Clerk's webhooks keep in sync (no Backend API call).
//!
//! Allowed with the role `org:admin` or the permission `org:users:read` in the active
//! organization; anyone else gets clerk-axum's 403 (`missing-permission`). Only that
//! organization's members are listed, never the whole instance's users: in Clerk anyone may
//! create an organization and be its admin, so an organization role cannot vouch for access
//! to other tenants' users.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_auth::Check;
use clerk_axum::ClerkAuth;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};

use super::notes::{DEFAULT_LIMIT, MAX_LIMIT};
use super::{timestamp, AppState, Json};
use crate::error::ApiError;

/// The role that may list the organization's users.
pub const ADMIN_ROLE: &str = "org:admin";
/// The permission that may list the organization's users.
pub const USERS_READ: &str = "org:users:read";

/// Query parameters of `GET /v1/admin/users`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
}

/// A member of the organization, as the webhooks last described them.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberUser {
    /// The user id.
    #[schema(example = "user_2NNEqL2nrIRdJ194ndJqAHwEfxC")]
    pub id: String,
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
    /// The role in the organization, e.g. `org:member`.
    pub role: String,
    /// When Clerk last changed the user (RFC 3339).
    pub updated_at: String,
}

/// A page of users, by user id.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    /// The users of this page.
    pub items: Vec<MemberUser>,
    /// Pass it as `cursor` to get the next page; `null` on the last page. Opaque.
    pub next_cursor: Option<String>,
}

/// `GET /v1/admin/users`: the active organization's users, by user id.
#[utoipa::path(
    get,
    path = "/v1/admin/users",
    tag = "admin",
    params(UserListParams),
    security(("clerk" = [])),
    responses(
        (status = 200, description = "A page of the organization's users", body = UserPage),
        (status = 400, description = "A malformed query or cursor", body = super::notes::ErrorBody),
        (status = 403, body = clerk_axum::openapi::AuthErrorBody, description = "Without the role `org:admin` or the permission `org:users:read` in the active organization"),
        (status = 422, description = "`limit` out of range", body = super::notes::ValidationErrorBody),
    )
)]
pub async fn users(
    State(state): State<AppState>,
    auth: ClerkAuth,
    params: Result<Query<UserListParams>, QueryRejection>,
) -> Result<Json<UserPage>, Response> {
    if !auth.has(&Check::role(ADMIN_ROLE)) {
        auth.require(&Check::permission(USERS_READ))
            .map_err(IntoResponse::into_response)?;
    }
    // Allowed only with an organization role or permission, so there is an organization.
    let org_id = auth.org_id().unwrap_or_default().to_owned();
    list(&state, &org_id, params)
        .await
        .map_err(IntoResponse::into_response)
}

async fn list(
    state: &AppState,
    org_id: &str,
    params: Result<Query<UserListParams>, QueryRejection>,
) -> Result<Json<UserPage>, ApiError> {
    let Query(params) = params?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let rows = sqlx::query(
        "SELECT u.id, u.email, u.first_name, u.last_name, u.image_url, u.public_metadata, \
         u.updated_at, m.role FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 AND m.deleted = FALSE AND u.deleted = FALSE AND u.id > $2 \
         ORDER BY u.id LIMIT $3",
    )
    .bind(org_id)
    .bind(after.as_deref().unwrap_or(""))
    .bind(limit + 1)
    .fetch_all(state.db().pool())
    .await?;
    let mut items = rows
        .iter()
        .map(member_user)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|last| URL_SAFE_NO_PAD.encode(&last.id))
    } else {
        None
    };
    Ok(Json(UserPage { items, next_cursor }))
}

fn member_user(row: &AnyRow) -> Result<MemberUser, sqlx::Error> {
    let metadata: String = row.try_get("public_metadata")?;
    Ok(MemberUser {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        image_url: row.try_get("image_url")?,
        public_metadata: serde_json::from_str(&metadata).unwrap_or(serde_json::Value::Null),
        role: row.try_get("role")?,
        updated_at: timestamp(row.try_get("updated_at")?),
    })
}

/// A cursor: the last user id of the previous page, base64url.
fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::BadRequest("`cursor` is not a cursor this API gave.".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let id = String::from_utf8(bytes).map_err(|_| invalid())?;
    if id.is_empty() {
        return Err(invalid());
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_user_ids_and_garbage_is_refused() {
        let cursor = URL_SAFE_NO_PAD.encode("user_2NNEqL2nrIRdJ194ndJqAHwEfxC");
        assert_eq!(
            decode_cursor(&cursor).unwrap(),
            "user_2NNEqL2nrIRdJ194ndJqAHwEfxC"
        );
        for bad in ["", "!!!", "/w"] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
