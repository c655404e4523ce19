//! Notes: the scoped resource.
//!
//! The routes take a session token, an API key or an OAuth access token ([`NotesTokens`]).
//! A request's scope comes from its credential:
//! - a session with **no active organization**: the user's personal notes; full control over
//!   their own, no access to anyone else's;
//! - a session with **an active organization** (`org_id` in the token): the organization's
//!   notes. Any member reads and lists them; creating and editing need the permission
//!   `org:notes:write` or the role `org:admin`; deleting one's own note needs
//!   `org:notes:write`, `org:notes:delete` or `org:admin`, deleting another member's needs
//!   `org:notes:delete` or `org:admin`;
//! - an **API key** acts in its subject's scope: a user's key in that user's personal notes,
//!   an organization's key in the organization's notes; an **OAuth access token** in its
//!   user's personal notes. A machine credential needs the scope [`READ_SCOPE`] to read and
//!   list, [`WRITE_SCOPE`] to create, edit and delete (403 `missing-scope`); what it writes is
//!   authored by its subject. An API key whose subject is a machine has no notes (403
//!   `no-notes-scope`).
//!
//! Every query is filtered by the scope, so a note outside it is "not found" (404), exactly
//! like a note that does not exist: its existence is never revealed.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use clerk_auth::{Accepts, Caller, Check, TokenType};
use clerk_axum::{ClerkCaller, Forbidden};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{timestamp, Json, Query};
use super::page::{invalid_cursor, limit, page};
use super::AppState;
use crate::db::now_ms;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};

/// The longest title, in characters, after trimming.
pub const MAX_TITLE_CHARS: usize = 200;
/// The longest body, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;

/// In an organization: who may create and edit notes.
static WRITE: LazyLock<Check> =
    LazyLock::new(|| Check::permission("org:notes:write").or(Check::role("org:admin")));
/// In an organization: who may delete their own notes.
static DELETE_OWN: LazyLock<Check> = LazyLock::new(|| {
    Check::any([
        Check::permission("org:notes:write"),
        Check::permission("org:notes:delete"),
        Check::role("org:admin"),
    ])
});
/// In an organization: who may delete another member's notes.
static DELETE_ANY: LazyLock<Check> =
    LazyLock::new(|| Check::permission("org:notes:delete").or(Check::role("org:admin")));

clerk_axum::accepts!(
    /// The credentials the notes routes take: a session token, an API key or an OAuth
    /// access token (M2M tokens act for machines, which have no notes).
    pub NotesTokens = Accepts::SESSION.or(TokenType::ApiKey).or(TokenType::OAuthToken)
);

/// The scope a machine credential needs to read and list notes.
pub const READ_SCOPE: &str = "notes:read";
/// The scope a machine credential needs to create, edit and delete notes.
pub const WRITE_SCOPE: &str = "notes:write";

/// The caller of a notes route.
type NotesCaller = ClerkCaller<NotesTokens>;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

/// The columns of a note, in [`Stored`]'s order.
macro_rules! columns {
    () => {
        "id, owner_user_id, org_id, author_user_id, title, body, created_at, updated_at"
    };
}

/// The statements of one scope, each its own static text; `$1` is the scope's key.
struct Statements {
    list: &'static str,
    list_after: &'static str,
    find: &'static str,
    update: &'static str,
    delete: &'static str,
}

/// The statements of a scope whose notes satisfy `$condition`.
macro_rules! statements {
    ($condition:literal) => {
        Statements {
            list: concat!(
                "SELECT ",
                columns!(),
                " FROM notes WHERE ",
                $condition,
                " ORDER BY created_at DESC, id DESC LIMIT $2"
            ),
            list_after: concat!(
                "SELECT ",
                columns!(),
                " FROM notes WHERE ",
                $condition,
                " AND (created_at < $2 OR (created_at = $2 AND id < $3))",
                " ORDER BY created_at DESC, id DESC LIMIT $4"
            ),
            find: concat!(
                "SELECT ",
                columns!(),
                " FROM notes WHERE ",
                $condition,
                " AND id = $2"
            ),
            // One statement: concurrent edits of different fields do not undo each other.
            update: concat!(
                "UPDATE notes SET title = COALESCE($2, title), body = COALESCE($3, body), ",
                "author_user_id = $4, updated_at = $5 WHERE ",
                $condition,
                " AND id = $6 RETURNING ",
                columns!()
            ),
            delete: concat!("DELETE FROM notes WHERE ", $condition, " AND id = $2"),
        }
    };
}

const PERSONAL: Statements = statements!("org_id IS NULL AND owner_user_id = $1");
const ORGANIZATION: Statements = statements!("org_id = $1");
const INSERT: &str = concat!(
    "INSERT INTO notes (",
    columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);

/// Whose notes a request sees.
enum Scope<'a> {
    /// The user's own notes, outside any organization.
    Personal(&'a str),
    /// The active organization's notes.
    Org(&'a str),
}

impl<'a> Scope<'a> {
    /// The scope of the caller's credential.
    fn of(caller: &'a NotesCaller) -> Result<Self, ApiError> {
        match &**caller {
            Caller::Session(claims) => Ok(match claims.org_id() {
                Some(org_id) => Scope::Org(org_id),
                None => Scope::Personal(claims.user_id()),
            }),
            Caller::Machine(machine) => match (machine.org_id(), machine.user_id()) {
                (Some(org_id), _) => Ok(Scope::Org(org_id)),
                (None, Some(user_id)) => Ok(Scope::Personal(user_id)),
                (None, None) => Err(caller
                    .refuse(Forbidden::new(
                        "no-notes-scope",
                        "This credential acts for a machine, which has no notes: use a user's or \
                         an organization's API key.",
                    ))
                    .into()),
            },
        }
    }

    /// The scope of a caller that reads: a machine credential needs [`READ_SCOPE`].
    fn reading(caller: &'a NotesCaller) -> Result<Self, ApiError> {
        let scope = Scope::of(caller)?;
        caller.require_scope(READ_SCOPE)?;
        Ok(scope)
    }

    fn sql(&self) -> &'static Statements {
        match self {
            Scope::Personal(_) => &PERSONAL,
            Scope::Org(_) => &ORGANIZATION,
        }
    }

    fn key(&self) -> &'a str {
        match self {
            Scope::Personal(key) | Scope::Org(key) => key,
        }
    }

    fn org_id(&self) -> Option<&'a str> {
        match self {
            Scope::Personal(_) => None,
            Scope::Org(org_id) => Some(org_id),
        }
    }

    /// A change: in an organization, a session must pass `check` (personal notes are the
    /// user's own); a machine credential needs [`WRITE_SCOPE`].
    fn require(&self, caller: &NotesCaller, check: &Check) -> Result<(), ApiError> {
        match (&**caller, self) {
            (Caller::Machine(_), _) => Ok(caller.require_scope(WRITE_SCOPE)?),
            (Caller::Session(_), Scope::Personal(_)) => Ok(()),
            (Caller::Session(_), Scope::Org(_)) => Ok(caller.require(check)?),
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
#[derive(sqlx::FromRow)]
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

/// The query of `GET /v1/notes`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoteListParams {
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page: `<created_at>.<id>` of its last note (Unix
    /// milliseconds, then the note's id); absent for the first page.
    #[param(
        pattern = "^[0-9]{1,15}\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )]
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
    /// 1 to 200 characters, not all white space; stored without its leading and trailing
    /// white space.
    #[schema(
        example = "Quarterly plan",
        min_length = 1,
        max_length = 200,
        pattern = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub title: String,
    /// Up to 10,000 characters (default empty).
    #[serde(default)]
    #[schema(example = "Ship the reference server.", max_length = 10000)]
    pub body: String,
}

/// The body of `PATCH /v1/notes/{id}`: the fields to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotePatch {
    /// 1 to 200 characters, not all white space (stored trimmed); absent or `null`: unchanged.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub title: Option<String>,
    /// Up to 10,000 characters; absent or `null`: unchanged.
    #[schema(max_length = 10000)]
    pub body: Option<String>,
}

/// The scope's notes, newest first.
///
/// Pagination is by cursor (keyset): each page gives `next_cursor`, which returns the notes
/// after the last one of that page, so pages neither skip nor repeat notes when others are
/// added meanwhile.
#[utoipa::path(
    get,
    path = "/v1/notes",
    tag = "notes",
    params(NoteListParams),
    security(("clerk" = []), ("clerk_api_key" = []), ("clerk_oauth_token" = [])),
    responses(
        (status = 200, description = "A page of notes", body = NotePage),
        (status = 400, description = "A malformed query or cursor", body = ErrorBody),
        (status = 403, body = clerk_axum::openapi::AuthErrorBody, description = "A machine credential without the scope `notes:read` (`missing-scope`), or one acting for a machine (`no-notes-scope`)"),
        (status = 422, description = "`limit` out of range", body = ValidationErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: NotesCaller,
    Query(params): Query<NoteListParams>,
) -> Result<Json<NotePage>, ApiError> {
    let scope = Scope::reading(&caller)?;
    let limit = limit(params.limit)?;
    let after = params.cursor.as_deref().map(split_position).transpose()?;
    let query = match &after {
        None => sqlx::query_as::<_, Stored>(scope.sql().list)
            .bind(scope.key())
            .bind(limit + 1),
        Some((created_at, id)) => sqlx::query_as::<_, Stored>(scope.sql().list_after)
            .bind(scope.key())
            .bind(*created_at)
            .bind(id.as_str())
            .bind(limit + 1),
    };
    let rows = query.fetch_all(state.db().pool()).await?;
    let (notes, next_cursor) = page(rows, limit, |last| {
        format!("{}.{}", last.created_at, last.id)
    });
    Ok(Json(NotePage {
        items: notes.into_iter().map(Stored::into_note).collect(),
        next_cursor,
    }))
}

/// A new note in the scope.
#[utoipa::path(
    post,
    path = "/v1/notes",
    tag = "notes",
    request_body = NewNote,
    security(("clerk" = []), ("clerk_api_key" = []), ("clerk_oauth_token" = [])),
    responses(
        (status = 201, description = "Created", body = Note),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 403, body = clerk_axum::openapi::AuthErrorBody, description = "In an organization, a session without `org:notes:write` or `org:admin`; a machine credential without the scope `notes:write` (`missing-scope`) or acting for a machine (`no-notes-scope`)"),
        (status = 413, description = "Body over `MAX_BODY_BYTES`", body = ErrorBody),
        (status = 415, description = "No `Content-Type: application/json`", body = ErrorBody),
        (status = 422, description = "Invalid fields, or JSON of another shape", body = ValidationErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: NotesCaller,
    Json(new): Json<NewNote>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let scope = Scope::of(&caller)?;
    scope.require(&caller, &WRITE)?;
    let title = validate(Some(&new.title), Some(&new.body))?.unwrap_or_default();
    let now = now_ms();
    let stored = Stored {
        id: uuid::Uuid::now_v7().to_string(),
        owner_user_id: caller.subject().to_owned(),
        org_id: scope.org_id().map(str::to_owned),
        author_user_id: caller.subject().to_owned(),
        title,
        body: new.body,
        created_at: now,
        updated_at: now,
    };
    sqlx::query(INSERT)
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

/// One note of the scope.
#[utoipa::path(
    get,
    path = "/v1/notes/{id}",
    tag = "notes",
    params(("id" = String, Path, description = "The note's id")),
    security(("clerk" = []), ("clerk_api_key" = []), ("clerk_oauth_token" = [])),
    responses(
        (status = 200, description = "The note", body = Note),
        (status = 403, body = clerk_axum::openapi::AuthErrorBody, description = "A machine credential without the scope `notes:read` (`missing-scope`), or one acting for a machine (`no-notes-scope`)"),
        (status = 404, description = "No such note in this scope", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: NotesCaller,
    Path(id): Path<String>,
) -> Result<Json<Note>, ApiError> {
    let stored = find(&state, &Scope::reading(&caller)?, &id).await?;
    Ok(Json(stored.into_note()))
}

/// Changes a note's title, body, or both.
#[utoipa::path(
    patch,
    path = "/v1/notes/{id}",
    tag = "notes",
    params(("id" = String, Path, description = "The note's id")),
    request_body = NotePatch,
    security(("clerk" = []), ("clerk_api_key" = []), ("clerk_oauth_token" = [])),
    responses(
        (status = 200, description = "The updated note", body = Note),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 403, body = clerk_axum::openapi::AuthErrorBody, description = "In an organization, a session without `org:notes:write` or `org:admin`; a machine credential without the scope `notes:write` (`missing-scope`) or acting for a machine (`no-notes-scope`)"),
        (status = 404, description = "No such note in this scope", body = ErrorBody),
        (status = 413, description = "Body over `MAX_BODY_BYTES`", body = ErrorBody),
        (status = 415, description = "No `Content-Type: application/json`", body = ErrorBody),
        (status = 422, description = "Invalid fields, or JSON of another shape", body = ValidationErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: NotesCaller,
    Path(id): Path<String>,
    Json(patch): Json<NotePatch>,
) -> Result<Json<Note>, ApiError> {
    let scope = Scope::of(&caller)?;
    scope.require(&caller, &WRITE)?;
    let title = validate(patch.title.as_deref(), patch.body.as_deref())?;
    if title.is_none() && patch.body.is_none() {
        let stored = find(&state, &scope, &id).await?;
        return Ok(Json(stored.into_note()));
    }
    let stored = sqlx::query_as::<_, Stored>(scope.sql().update)
        .bind(scope.key())
        .bind(title.as_deref())
        .bind(patch.body.as_deref())
        .bind(caller.subject())
        .bind(now_ms())
        .bind(id.as_str())
        .fetch_optional(state.db().pool())
        .await?;
    stored
        .map(|stored| Json(stored.into_note()))
        .ok_or(ApiError::NotFound)
}

/// Deletes a note.
#[utoipa::path(
    delete,
    path = "/v1/notes/{id}",
    tag = "notes",
    params(("id" = String, Path, description = "The note's id")),
    security(("clerk" = []), ("clerk_api_key" = []), ("clerk_oauth_token" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = clerk_axum::openapi::AuthErrorBody, description = "In an organization, for a session: one's own note needs `org:notes:write`, `org:notes:delete` or `org:admin`; another member's needs `org:notes:delete` or `org:admin`. A machine credential needs the scope `notes:write` (`missing-scope`) and must act for a user or an organization (`no-notes-scope`)"),
        (status = 404, description = "No such note in this scope", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: NotesCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let scope = Scope::of(&caller)?;
    let stored = find(&state, &scope, &id).await?;
    let needed = if stored.owner_user_id == caller.subject() {
        &DELETE_OWN
    } else {
        &DELETE_ANY
    };
    scope.require(&caller, needed)?;
    let deleted = sqlx::query(scope.sql().delete)
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
    sqlx::query_as::<_, Stored>(scope.sql().find)
        .bind(scope.key())
        .bind(id)
        .fetch_optional(state.db().pool())
        .await?
        .ok_or(ApiError::NotFound)
}

/// Checks the fields given; returns the trimmed title, if given.
fn validate(title: Option<&str>, body: Option<&str>) -> Result<Option<String>, ApiError> {
    let mut fields = BTreeMap::new();
    let title = match title.map(valid_title).transpose() {
        Ok(title) => title,
        Err(message) => {
            fields.insert("title".into(), message);
            None
        }
    };
    if let Some(Err(message)) = body.map(valid_body) {
        fields.insert("body".into(), message);
    }
    if fields.is_empty() {
        Ok(title)
    } else {
        Err(ApiError::Validation(fields))
    }
}

/// The title, trimmed, if it has 1 to 200 characters.
/// The title, trimmed, if it has 1 to 200 characters as sent and is not all white space
/// (Unicode's `White_Space`, which the OpenAPI schema's pattern lists).
fn valid_title(title: &str) -> Result<String, String> {
    let chars = title.chars().count();
    if chars > MAX_TITLE_CHARS {
        return Err(format!(
            "must be at most {MAX_TITLE_CHARS} characters (it has {chars})"
        ));
    }
    let title = title.trim();
    if title.is_empty() {
        return Err("must not be empty or white space only".to_owned());
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

/// The position a page of notes ended at: `<created_at>.<id>`, 1 to 15 digits then a note id
/// (a UUID in lowercase, hyphenated), exactly the pattern of [`NoteListParams::cursor`].
fn split_position(text: &str) -> Result<(i64, String), ApiError> {
    let invalid = || invalid_cursor("<created_at>.<id>");
    let (created_at, id) = text.split_once('.').ok_or_else(invalid)?;
    if created_at.is_empty()
        || created_at.len() > 15
        || !created_at.bytes().all(|b| b.is_ascii_digit())
        || !is_note_id(id)
    {
        return Err(invalid());
    }
    let created_at = created_at.parse().map_err(|_| invalid())?;
    Ok((created_at, id.to_owned()))
}

/// A note id: 8-4-4-4-12 lowercase hexadecimal digits.
fn is_note_id(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_split_and_garbage_is_refused() {
        assert_eq!(
            split_position("1700000000000.0192f1a4-7b7e-7c3e-9b1e-2f6a1c9d8e7f").unwrap(),
            (
                1_700_000_000_000,
                "0192f1a4-7b7e-7c3e-9b1e-2f6a1c9d8e7f".to_owned()
            )
        );
        for bad in [
            "x.y",
            "1.",
            "nodot",
            "1.0192F1A4-7B7E-7C3E-9B1E-2F6A1C9D8E7F",
            "1234567890123456.0192f1a4-7b7e-7c3e-9b1e-2f6a1c9d8e7f",
            "-1.0192f1a4-7b7e-7c3e-9b1e-2f6a1c9d8e7f",
            "1.0192f1a47b7e7c3e9b1e2f6a1c9d8e7f",
        ] {
            assert!(split_position(bad).is_err(), "{bad}");
        }
    }

    /// The white space the title's pattern refuses alone is exactly what `str::trim` removes.
    #[test]
    fn the_title_pattern_lists_exactly_unicode_white_space() {
        let schema = serde_json::to_value(<NewNote as utoipa::PartialSchema>::schema()).unwrap();
        let pattern = schema["properties"]["title"]["pattern"].as_str().unwrap();
        let listed = pattern
            .trim_start_matches("[^")
            .trim_end_matches(']')
            .replace("\\t", "\t")
            .replace("\\n", "\n")
            .replace("\\f", "\u{c}")
            .replace("\\r", "\r");
        let mut set = std::collections::BTreeSet::new();
        let mut rest = listed.as_str();
        let unicode =
            |text: &str| char::from_u32(u32::from_str_radix(&text[2..6], 16).unwrap()).unwrap();
        while !rest.is_empty() {
            let (c, len) = if rest.starts_with("\\u") {
                (unicode(rest), 6)
            } else {
                let c = rest.chars().next().unwrap();
                (c, c.len_utf8())
            };
            rest = &rest[len..];
            if let Some(range) = rest.strip_prefix('-') {
                let end = unicode(range);
                set.extend(c..=end);
                rest = &range[6..];
            } else {
                set.insert(c);
            }
        }
        let white: std::collections::BTreeSet<char> = (0..=0x10ffff)
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace())
            .collect();
        assert_eq!(set, white);
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
