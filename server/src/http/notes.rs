//! Notes: the scoped resource.
//!
//! A request's scope comes from its session token:
//! - **no active organization**: the user's personal notes; full control over their own,
//!   no access to anyone else's;
//! - **an active organization** (`org_id` in the token): the organization's notes. Any member
//!   reads and lists them; creating and editing need the permission `org:notes:write` or the
//!   role `org:admin`; deleting one's own note needs `org:notes:write`, `org:notes:delete` or
//!   `org:admin`, deleting another member's needs `org:notes:delete` or `org:admin`.
//!
//! Every query is filtered by the scope, so a note outside it is "not found" (404), exactly
//! like a note that does not exist: its existence is never revealed.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_auth::Check;
use clerk_axum::ClerkAuth;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};

use super::{random_uuid, timestamp, AppState, Json};
use crate::db::now_ms;
use crate::error::ApiError;

/// The longest title, in characters, after trimming.
pub const MAX_TITLE_CHARS: usize = 200;
/// The longest body, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;
/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 20;
/// The most items per page.
pub const MAX_LIMIT: i64 = 100;

const WRITE: &str = "org:notes:write";
const DELETE: &str = "org:notes:delete";
const ADMIN: &str = "org:admin";

const COLUMNS: &str =
    "id, owner_user_id, org_id, author_user_id, title, body, created_at, updated_at";

/// Whose notes a request sees.
enum Scope<'a> {
    /// The user's own notes, outside any organization.
    Personal(&'a str),
    /// The active organization's notes.
    Org(&'a str),
}

impl<'a> Scope<'a> {
    fn of(auth: &'a ClerkAuth) -> Self {
        match auth.org_id() {
            Some(org_id) => Scope::Org(org_id),
            None => Scope::Personal(auth.user_id()),
        }
    }

    /// The condition selecting the scope's notes; its one parameter is `$1`.
    fn condition(&self) -> &'static str {
        match self {
            Scope::Personal(_) => "org_id IS NULL AND owner_user_id = $1",
            Scope::Org(_) => "org_id = $1",
        }
    }

    fn key(&self) -> &'a str {
        match self {
            Scope::Personal(user_id) | Scope::Org(user_id) => user_id,
        }
    }

    fn org_id(&self) -> Option<&'a str> {
        match self {
            Scope::Personal(_) => None,
            Scope::Org(org_id) => Some(org_id),
        }
    }
}

/// A note.
#[derive(Debug, Serialize, ToSchema)]
pub struct Note {
    /// A UUID (version 7).
    #[schema(example = "0192f1a4-7b7e-7c3e-9b1e-2f6a1c9d8e7f")]
    pub id: String,
    /// The title.
    pub title: String,
    /// The body.
    pub body: String,
    /// The organization the note belongs to; `null` for a personal note.
    pub org_id: Option<String>,
    /// Who created the note.
    pub owner_user_id: String,
    /// Who wrote its current version.
    pub author_user_id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

/// A stored note, as read from the database.
struct Stored {
    id: String,
    owner_user_id: String,
    org_id: Option<String>,
    author_user_id: String,
    title: String,
    body: String,
    created_at: i64,
    updated_at: i64,
}

impl Stored {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Stored {
            id: row.try_get("id")?,
            owner_user_id: row.try_get("owner_user_id")?,
            org_id: row.try_get("org_id")?,
            author_user_id: row.try_get("author_user_id")?,
            title: row.try_get("title")?,
            body: row.try_get("body")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    fn into_note(self) -> Note {
        Note {
            id: self.id,
            title: self.title,
            body: self.body,
            org_id: self.org_id,
            owner_user_id: self.owner_user_id,
            author_user_id: self.author_user_id,
            created_at: timestamp(self.created_at),
            updated_at: timestamp(self.updated_at),
        }
    }
}

/// Query parameters of `GET /v1/notes`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
}

/// A page of notes, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotePage {
    /// The notes of this page.
    pub items: Vec<Note>,
    /// Pass it as `cursor` to get the next page; `null` on the last page. Opaque: its form
    /// may change.
    pub next_cursor: Option<String>,
}

/// The body of `POST /v1/notes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// 1 to 200 characters after trimming.
    #[schema(example = "Quarterly plan")]
    pub title: String,
    /// Up to 10,000 characters (default empty).
    #[serde(default)]
    #[schema(example = "Ship the reference server.")]
    pub body: String,
}

/// The body of `PATCH /v1/notes/{id}`: the fields to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotePatch {
    /// 1 to 200 characters after trimming.
    pub title: Option<String>,
    /// Up to 10,000 characters.
    pub body: Option<String>,
}

/// The body of a 422 validation error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationErrorBody {
    /// `validation`.
    #[schema(example = "validation")]
    pub error: String,
    /// A message.
    pub message: String,
    /// What is wrong, by field name.
    #[schema(value_type = Object, example = json!({"title": "must be 1 to 200 characters"}))]
    pub fields: BTreeMap<String, String>,
}

/// The body of other errors (400, 404, 413, 415, 422 for a malformed body).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `bad_request`, `not_found`, `payload_too_large`, `unprocessable`, …
    pub error: String,
    /// A message.
    pub message: String,
}

/// `GET /v1/notes`: the scope's notes, newest first.
///
/// Pagination is by cursor (keyset): each page gives `next_cursor`, which returns the notes
/// after the last one of that page, so pages neither skip nor repeat notes when others are
/// added meanwhile.
#[utoipa::path(
    get,
    path = "/v1/notes",
    tag = "notes",
    params(ListParams),
    security(("clerk" = [])),
    responses(
        (status = 200, description = "A page of notes", body = NotePage),
        (status = 400, description = "A malformed query or cursor", body = ErrorBody),
        (status = 422, description = "`limit` out of range", body = ValidationErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    auth: ClerkAuth,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<NotePage>, ApiError> {
    let Query(params) = params?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let scope = Scope::of(&auth);
    let rows = match &after {
        None => {
            let sql = format!(
                "SELECT {COLUMNS} FROM notes WHERE {} \
                 ORDER BY created_at DESC, id DESC LIMIT $2",
                scope.condition()
            );
            sqlx::query(&sql)
                .bind(scope.key())
                .bind(limit + 1)
                .fetch_all(state.db().pool())
                .await?
        }
        Some((created_at, id)) => {
            let sql = format!(
                "SELECT {COLUMNS} FROM notes WHERE {} \
                 AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
                 ORDER BY created_at DESC, id DESC LIMIT $4",
                scope.condition()
            );
            sqlx::query(&sql)
                .bind(scope.key())
                .bind(*created_at)
                .bind(id.as_str())
                .bind(limit + 1)
                .fetch_all(state.db().pool())
                .await?
        }
    };
    let mut notes = rows
        .iter()
        .map(Stored::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if notes.len() as i64 > limit {
        notes.truncate(limit as usize);
        notes
            .last()
            .map(|last| encode_cursor(last.created_at, &last.id))
    } else {
        None
    };
    Ok(Json(NotePage {
        items: notes.into_iter().map(Stored::into_note).collect(),
        next_cursor,
    }))
}

/// `POST /v1/notes`: a new note in the scope.
#[utoipa::path(
    post,
    path = "/v1/notes",
    tag = "notes",
    request_body = NewNote,
    security(("clerk" = [])),
    responses(
        (status = 201, description = "Created", body = Note),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 403, body = clerk_axum::openapi::AuthErrorBody, description = "In an organization, without `org:notes:write` or `org:admin`"),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ValidationErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    auth: ClerkAuth,
    Json(new): Json<NewNote>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let scope = Scope::of(&auth);
    if scope.org_id().is_some() {
        require_any(&auth, &[Check::permission(WRITE), Check::role(ADMIN)])?;
    }
    let title = validate(Some(&new.title), Some(&new.body))?.unwrap_or_default();
    let now = now_ms();
    let stored = Stored {
        id: random_uuid(now),
        owner_user_id: auth.user_id().to_owned(),
        org_id: scope.org_id().map(str::to_owned),
        author_user_id: auth.user_id().to_owned(),
        title,
        body: new.body,
        created_at: now,
        updated_at: now,
    };
    let sql = format!("INSERT INTO notes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
    sqlx::query(&sql)
        .bind(stored.id.as_str())
        .bind(stored.owner_user_id.as_str())
        .bind(stored.org_id.as_deref())
        .bind(stored.author_user_id.as_str())
        .bind(stored.title.as_str())
        .bind(stored.body.as_str())
        .bind(stored.created_at)
        .bind(stored.updated_at)
        .execute(state.db().pool())
        .await?;
    Ok((StatusCode::CREATED, Json(stored.into_note())))
}

/// `GET /v1/notes/{id}`: one note of the scope.
#[utoipa::path(
    get,
    path = "/v1/notes/{id}",
    tag = "notes",
    params(("id" = String, Path, description = "The note's id")),
    security(("clerk" = [])),
    responses(
        (status = 200, description = "The note", body = Note),
        (status = 404, description = "No such note in this scope", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    auth: ClerkAuth,
    Path(id): Path<String>,
) -> Result<Json<Note>, ApiError> {
    let stored = find(&state, &Scope::of(&auth), &id).await?;
    Ok(Json(stored.into_note()))
}

/// `PATCH /v1/notes/{id}`: changes the title, the body, or both.
#[utoipa::path(
    patch,
    path = "/v1/notes/{id}",
    tag = "notes",
    params(("id" = String, Path, description = "The note's id")),
    request_body = NotePatch,
    security(("clerk" = [])),
    responses(
        (status = 200, description = "The updated note", body = Note),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 403, body = clerk_axum::openapi::AuthErrorBody, description = "In an organization, without `org:notes:write` or `org:admin`"),
        (status = 404, description = "No such note in this scope", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ValidationErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    auth: ClerkAuth,
    Path(id): Path<String>,
    Json(patch): Json<NotePatch>,
) -> Result<Json<Note>, ApiError> {
    let scope = Scope::of(&auth);
    if scope.org_id().is_some() {
        require_any(&auth, &[Check::permission(WRITE), Check::role(ADMIN)])?;
    }
    let title = validate(patch.title.as_deref(), patch.body.as_deref())?;
    if title.is_none() && patch.body.is_none() {
        let stored = find(&state, &scope, &id).await?;
        return Ok(Json(stored.into_note()));
    }
    // One statement: concurrent edits of different fields do not undo each other.
    let sql = format!(
        "UPDATE notes SET title = COALESCE($2, title), body = COALESCE($3, body), \
         author_user_id = $4, updated_at = $5 WHERE {} AND id = $6 RETURNING {COLUMNS}",
        scope.condition()
    );
    let row = sqlx::query(&sql)
        .bind(scope.key())
        .bind(title.as_deref())
        .bind(patch.body.as_deref())
        .bind(auth.user_id())
        .bind(now_ms())
        .bind(id.as_str())
        .fetch_optional(state.db().pool())
        .await?;
    match row {
        Some(row) => Ok(Json(Stored::from_row(&row)?.into_note())),
        None => Err(ApiError::NotFound),
    }
}

/// `DELETE /v1/notes/{id}`.
#[utoipa::path(
    delete,
    path = "/v1/notes/{id}",
    tag = "notes",
    params(("id" = String, Path, description = "The note's id")),
    security(("clerk" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = clerk_axum::openapi::AuthErrorBody, description = "In an organization: one's own note needs `org:notes:write`, `org:notes:delete` or `org:admin`; another member's needs `org:notes:delete` or `org:admin`"),
        (status = 404, description = "No such note in this scope", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: ClerkAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let scope = Scope::of(&auth);
    let stored = find(&state, &scope, &id).await?;
    if scope.org_id().is_some() {
        if stored.owner_user_id == auth.user_id() {
            require_any(
                &auth,
                &[
                    Check::permission(WRITE),
                    Check::permission(DELETE),
                    Check::role(ADMIN),
                ],
            )?;
        } else {
            require_any(&auth, &[Check::permission(DELETE), Check::role(ADMIN)])?;
        }
    }
    let sql = format!("DELETE FROM notes WHERE {} AND id = $2", scope.condition());
    let deleted = sqlx::query(&sql)
        .bind(scope.key())
        .bind(id.as_str())
        .execute(state.db().pool())
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The note `id` within the scope, or 404.
async fn find(state: &AppState, scope: &Scope<'_>, id: &str) -> Result<Stored, ApiError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM notes WHERE {} AND id = $2",
        scope.condition()
    );
    let row = sqlx::query(&sql)
        .bind(scope.key())
        .bind(id)
        .fetch_optional(state.db().pool())
        .await?;
    match row {
        Some(row) => Ok(Stored::from_row(&row)?),
        None => Err(ApiError::NotFound),
    }
}

/// `Ok` if the session passes any of `checks`, else a 403 naming them all.
fn require_any(auth: &ClerkAuth, checks: &[Check]) -> Result<(), ApiError> {
    if checks.iter().any(|check| auth.has(check)) {
        return Ok(());
    }
    let needed: Vec<String> = checks
        .iter()
        .flat_map(|check| {
            check
                .permissions()
                .iter()
                .map(|p| format!("the permission {p}"))
                .chain(check.roles().iter().map(|r| format!("the role {r}")))
                .collect::<Vec<_>>()
        })
        .collect();
    Err(ApiError::forbidden(
        "missing-permission",
        format!(
            "This action needs {} in the active organization.",
            needed.join(" or ")
        ),
    ))
}

/// Checks the fields given; returns the trimmed title, if given.
fn validate(title: Option<&str>, body: Option<&str>) -> Result<Option<String>, ApiError> {
    let mut fields = BTreeMap::new();
    let title = match title.map(valid_title).transpose() {
        Ok(title) => title,
        Err(message) => {
            fields.insert("title", message);
            None
        }
    };
    if let Some(Err(message)) = body.map(valid_body) {
        fields.insert("body", message);
    }
    if fields.is_empty() {
        Ok(title)
    } else {
        Err(ApiError::Validation(fields))
    }
}

/// The title, trimmed, if it has 1 to 200 characters.
fn valid_title(title: &str) -> Result<String, String> {
    let title = title.trim();
    let chars = title.chars().count();
    if chars == 0 {
        return Err("must not be empty".to_owned());
    }
    if chars > MAX_TITLE_CHARS {
        return Err(format!(
            "must be at most {MAX_TITLE_CHARS} characters (it has {chars})"
        ));
    }
    Ok(title.to_owned())
}

fn valid_body(body: &str) -> Result<(), String> {
    let chars = body.chars().count();
    if chars > MAX_BODY_CHARS {
        return Err(format!(
            "must be at most {MAX_BODY_CHARS} characters (it has {chars})"
        ));
    }
    Ok(())
}

/// A cursor: where the previous page ended, `<created_at>.<id>`, base64url.
fn encode_cursor(created_at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created_at}.{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), ApiError> {
    let invalid = || ApiError::BadRequest("`cursor` is not a cursor this API gave.".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (created_at, id) = text.split_once('.').ok_or_else(invalid)?;
    let created_at = created_at.parse().map_err(|_| invalid())?;
    if id.is_empty() {
        return Err(invalid());
    }
    Ok((created_at, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = encode_cursor(1_700_000_000_000, "0192f1a4-7b7e-7c3e-9b1e-2f6a1c9d8e7f");
        assert_eq!(
            decode_cursor(&cursor).unwrap(),
            (
                1_700_000_000_000,
                "0192f1a4-7b7e-7c3e-9b1e-2f6a1c9d8e7f".to_owned()
            )
        );
        for bad in [
            "",
            "!!!",
            "bm9kb3Q",
            &URL_SAFE_NO_PAD.encode("x.y"),
            &URL_SAFE_NO_PAD.encode("1."),
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(valid_title("  hello ").unwrap(), "hello");
        assert!(valid_title("   ").is_err());
        assert!(valid_title(&"é".repeat(200)).is_ok());
        assert!(valid_title(&"é".repeat(201)).is_err());
        assert!(valid_body(&"x".repeat(10_000)).is_ok());
        assert!(valid_body(&"x".repeat(10_001)).is_err());
    }
}
