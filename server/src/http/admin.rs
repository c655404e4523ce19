//! `GET /v1/admin/users`: the active organization's members, from the local tables that
//! Clerk's webhooks keep in sync (no Backend API call).
//!
//! Allowed with the permission `org:users:read` or the role `org:admin` in the active
//! organization ([`ListUsers`]); anyone else gets clerk-axum's 403 (`missing-permission`).
//! Only that organization's members are listed, never the whole instance's users: in Clerk
//! anyone may create an organization and be its admin, so an organization role cannot vouch
//! for access to other tenants' users.

use axum::extract::State;
use clerk_axum::{Check, Require};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{timestamp, Json, Query};
use super::page::{invalid_cursor, limit, page};
use super::AppState;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};

clerk_axum::requirement!(
    /// Who may list the active organization's users: whoever may read them, or its admins.
    pub ListUsers = Check::permission("org:users:read").or(Check::role("org:admin"))
);

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(users))
}

/// The longest user id a cursor may hold.
const MAX_CURSOR_LEN: usize = 128;

/// The query of `GET /v1/admin/users`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page: the id of its last user, 1 to 128 letters,
    /// digits and underscores as Clerk's ids are (the page goes on with the ids after it);
    /// absent for the first page.
    #[param(pattern = "^[A-Za-z0-9_]{1,128}$")]
    pub cursor: Option<String>,
}

/// Whether `id` has the form of a Clerk id, exactly as [`UserListParams::cursor`]'s pattern.
fn is_user_id(id: &str) -> bool {
    (1..=MAX_CURSOR_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
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

/// A member's row.
#[derive(sqlx::FromRow)]
struct MemberRow {
    id: String,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    image_url: Option<String>,
    public_metadata: String,
    updated_at: i64,
    role: String,
}

impl MemberRow {
    fn into_member(self) -> MemberUser {
        MemberUser {
            // Written by this server from Clerk's JSON; should it ever not parse, the member
            // is still worth listing.
            public_metadata: serde_json::from_str(&self.public_metadata)
                .unwrap_or(serde_json::Value::Null),
            updated_at: timestamp(self.updated_at),
            id: self.id,
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            image_url: self.image_url,
            role: self.role,
        }
    }
}

const MEMBERS: &str = "SELECT u.id, u.email, u.first_name, u.last_name, u.image_url, \
     u.public_metadata, u.updated_at, m.role FROM memberships m JOIN users u ON u.id = m.user_id \
     WHERE m.org_id = $1 AND m.deleted = FALSE AND u.deleted = FALSE AND u.id > $2 \
     ORDER BY u.id LIMIT $3";

/// The active organization's users, by user id.
#[utoipa::path(
    get,
    path = "/v1/admin/users",
    tag = "admin",
    params(UserListParams),
    security(("clerk" = [])),
    responses(
        (status = 200, description = "A page of the organization's users", body = UserPage),
        (status = 400, description = "A malformed query or cursor", body = ErrorBody),
        (status = 403, body = clerk_axum::openapi::AuthErrorBody, description = "Without the permission `org:users:read` or the role `org:admin` in the active organization"),
        (status = 422, description = "`limit` out of range", body = ValidationErrorBody),
    )
)]
pub async fn users(
    State(state): State<AppState>,
    Require(auth, ..): Require<ListUsers>,
    Query(params): Query<UserListParams>,
) -> Result<Json<UserPage>, ApiError> {
    let limit = limit(params.limit)?;
    let after = params.cursor;
    if after.as_deref().is_some_and(|id| !is_user_id(id)) {
        return Err(invalid_cursor(
            "a user id (1 to 128 letters, digits or underscores)",
        ));
    }
    // Allowed only with an organization role or permission, so there is an organization.
    let org_id = auth.org_id().unwrap_or_default();
    let rows = sqlx::query_as::<_, MemberRow>(MEMBERS)
        .bind(org_id)
        .bind(after.as_deref().unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(state.db().pool())
        .await?;
    let (rows, next_cursor) = page(rows, limit, |last| last.id.clone());
    Ok(Json(UserPage {
        items: rows.into_iter().map(MemberRow::into_member).collect(),
        next_cursor,
    }))
}
