//! The Backend API routes over the emulator's directory (clerk-spec §7): users, sessions,
//! organizations and memberships, behind the secret key, answering in Clerk's shapes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, patch, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::http::{clerk_error_with_meta, json_body, Shared};
use crate::objects::{BackendError, NewUser, OrganizationMembership, User, UserUpdate};
use crate::store::{
    ListQuery, OrderBy, UserQuery, MEMBERSHIP_ORDER_FIELDS, ORGANIZATION_ORDER_FIELDS,
    USER_ORDER_FIELDS,
};

/// The default page size of list endpoints.
const DEFAULT_LIMIT: usize = 10;
/// The largest page size.
const MAX_LIMIT: usize = 500;

type AppState = State<Arc<Shared>>;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/users", get(list_users).post(create_user))
        .route("/v1/users/count", get(count_users))
        .route(
            "/v1/users/{id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route(
            "/v1/users/{id}/metadata",
            patch(merge_metadata).put(replace_metadata),
        )
        .route("/v1/sessions/{id}", get(get_session))
        .route("/v1/sessions/{id}/revoke", post(revoke_session))
        .route("/v1/organizations", get(list_organizations))
        .route("/v1/organizations/{id}", get(get_organization))
        .route("/v1/organizations/{id}/memberships", get(list_memberships))
}

/// A [`BackendError`] as Clerk's error response.
pub(crate) fn error_response(error: &BackendError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    match error {
        BackendError::NotFound { .. } => clerk_error_with_meta(
            status,
            error.code(),
            "not found",
            "Resource not found",
            json!({}),
        ),
        BackendError::Invalid { param, message, .. } => clerk_error_with_meta(
            status,
            error.code(),
            message,
            message,
            json!({ "param_name": param }),
        ),
    }
}

fn respond(result: Result<Value, BackendError>) -> Response {
    match result {
        Ok(value) => json_body(value.to_string()),
        Err(error) => error_response(&error),
    }
}

/// The body as JSON (an empty body reads as `{}`).
fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BackendError> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| {
        let code = if e.is_data() {
            "form_param_invalid"
        } else {
            "request_body_invalid"
        };
        BackendError::invalid(code, "body", format!("the request body is invalid: {e}"))
    })
}

/// `%XX` and `+` decoding of one query-string component; invalid escapes stay as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query string's pairs, decoded, in order; `name[]` reads as `name`.
pub(crate) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(name);
            let name = name.strip_suffix("[]").map(str::to_owned).unwrap_or(name);
            (name, percent_decode(value))
        })
        .collect()
}

/// The parameters common to every list: `limit`, `offset`, `order_by`, `query`.
struct Common {
    limit: usize,
    offset: usize,
    order_by: Option<OrderBy>,
    query: Option<String>,
}

fn number(
    name: &str,
    value: &str,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, BackendError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            BackendError::invalid(
                "form_param_invalid",
                name,
                format!(
                    "{name} must be a number between {} and {}",
                    range.start(),
                    range.end()
                ),
            )
        })
}

fn common(pairs: &[(String, String)], order_fields: &[&str]) -> Result<Common, BackendError> {
    let mut common = Common {
        limit: DEFAULT_LIMIT,
        offset: 0,
        order_by: None,
        query: None,
    };
    for (name, value) in pairs {
        match name.as_str() {
            "limit" => common.limit = number("limit", value, 1..=MAX_LIMIT)?,
            "offset" => common.offset = number("offset", value, 0..=usize::MAX)?,
            "order_by" => common.order_by = Some(OrderBy::parse(value, order_fields)?),
            "query" if !value.is_empty() => common.query = Some(value.clone()),
            _ => {}
        }
    }
    Ok(common)
}

fn user_query(raw: Option<&str>) -> Result<UserQuery, BackendError> {
    let pairs = query_pairs(raw);
    let common = common(&pairs, USER_ORDER_FIELDS)?;
    let all = |wanted: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(name, _)| name == wanted)
            .map(|(_, value)| value.clone())
            .collect()
    };
    Ok(UserQuery {
        limit: common.limit,
        offset: common.offset,
        order_by: common.order_by,
        user_ids: all("user_id"),
        email_addresses: all("email_address"),
        external_ids: all("external_id"),
        usernames: all("username"),
        query: common.query,
    })
}

fn list_query(raw: Option<&str>, order_fields: &[&str]) -> Result<ListQuery, BackendError> {
    let common = common(&query_pairs(raw), order_fields)?;
    Ok(ListQuery {
        limit: common.limit,
        offset: common.offset,
        order_by: common.order_by,
        query: common.query,
    })
}

macro_rules! gate {
    ($shared:expr, $headers:expr) => {
        if let Err(response) = $shared.backend_gate(&$headers).await {
            return response;
        }
    };
}

async fn list_users(
    State(shared): AppState,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    gate!(shared, headers);
    respond(user_query(raw.as_deref()).map(|q| {
        let users = shared.emulator.store().list_users(&q);
        Value::Array(users.iter().map(User::to_json).collect())
    }))
}

async fn count_users(
    State(shared): AppState,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    gate!(shared, headers);
    respond(user_query(raw.as_deref()).map(|q| {
        let count = shared.emulator.store().count_users(&q);
        json!({ "object": "total_count", "total_count": count })
    }))
}

async fn create_user(State(shared): AppState, headers: HeaderMap, bytes: Bytes) -> Response {
    gate!(shared, headers);
    respond(
        body::<NewUser>(&bytes)
            .and_then(|new| shared.emulator.store().create_user(new))
            .map(|user| user.to_json()),
    )
}

async fn get_user(State(shared): AppState, headers: HeaderMap, Path(id): Path<String>) -> Response {
    gate!(shared, headers);
    respond(shared.emulator.store().user(&id).map(|u| u.to_json()))
}

async fn update_user(
    State(shared): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    gate!(shared, headers);
    respond(
        body::<UserUpdate>(&bytes)
            .and_then(|update| shared.emulator.store().update_user(&id, update))
            .map(|user| user.to_json()),
    )
}

async fn delete_user(
    State(shared): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    gate!(shared, headers);
    respond(shared.emulator.store().delete_user(&id))
}

async fn metadata(shared: &Shared, id: &str, bytes: &[u8], merge: bool) -> Response {
    respond(
        body::<Value>(bytes)
            .and_then(|body| shared.emulator.store().user_metadata(id, body, merge))
            .map(|user| user.to_json()),
    )
}

async fn merge_metadata(
    State(shared): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    gate!(shared, headers);
    metadata(&shared, &id, &bytes, true).await
}

async fn replace_metadata(
    State(shared): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    gate!(shared, headers);
    metadata(&shared, &id, &bytes, false).await
}

async fn get_session(
    State(shared): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    gate!(shared, headers);
    respond(shared.emulator.store().session(&id).map(|s| s.to_json()))
}

async fn revoke_session(
    State(shared): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    gate!(shared, headers);
    respond(
        shared
            .emulator
            .store()
            .set_session_status(&id, "revoked")
            .map(|s| s.to_json()),
    )
}

async fn list_organizations(
    State(shared): AppState,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    gate!(shared, headers);
    respond(
        list_query(raw.as_deref(), ORGANIZATION_ORDER_FIELDS).map(|q| {
            let (orgs, total) = shared.emulator.store().list_organizations(&q);
            let data: Vec<Value> = orgs.iter().map(|o| o.to_json()).collect();
            json!({ "data": data, "total_count": total })
        }),
    )
}

async fn get_organization(
    State(shared): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    gate!(shared, headers);
    respond(
        shared
            .emulator
            .store()
            .organization(&id)
            .map(|o| o.to_json()),
    )
}

async fn list_memberships(
    State(shared): AppState,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    gate!(shared, headers);
    respond(
        list_query(raw.as_deref(), MEMBERSHIP_ORDER_FIELDS)
            .and_then(|q| shared.emulator.store().list_memberships(&id, &q))
            .map(|(list, total)| {
                let data: Vec<Value> = list.iter().map(OrganizationMembership::to_json).collect();
                json!({ "data": data, "total_count": total })
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_decode_and_repeat() {
        let pairs = query_pairs(Some(
            "user_id=a&user_id[]=b&email_address=ada%40example.com&query=ada+l&bad=%zz&x",
        ));
        assert_eq!(
            pairs,
            [
                ("user_id", "a"),
                ("user_id", "b"),
                ("email_address", "ada@example.com"),
                ("query", "ada l"),
                ("bad", "%zz"),
                ("x", ""),
            ]
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
        );
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%C3%BC"), "ü");
    }

    #[test]
    fn limits_are_checked() {
        assert!(user_query(Some("limit=0")).is_err());
        assert!(user_query(Some("limit=501")).is_err());
        assert!(user_query(Some("limit=x")).is_err());
        assert!(user_query(Some("offset=-1")).is_err());
        assert_eq!(user_query(Some("limit=500")).unwrap().limit, 500);
        assert_eq!(user_query(None).unwrap().limit, DEFAULT_LIMIT);
    }
}
