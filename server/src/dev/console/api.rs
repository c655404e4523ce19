//! The console's JSON routes over the emulator's directory and its webhook deliveries: users,
//! organizations, memberships, metadata edits; the delivery log and pausing delivery.

use std::sync::atomic::Ordering;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::Router;
use clerk_emulator::objects::{Organization, User};
use clerk_emulator::{BackendError, Delivery, Emulator, NewOrganization, NewUser};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{non_empty, ConsoleState, Result, DELIVERIES_LISTED};
use crate::error::ApiError;
use crate::http::Json;

/// The directory's and the deliveries' routes.
pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/dev/api/users", get(users).post(create_user))
        .route("/dev/api/users/{id}/metadata", patch(edit_metadata))
        .route(
            "/dev/api/organizations",
            get(organizations).post(create_organization),
        )
        .route(
            "/dev/api/organizations/{id}/memberships",
            post(add_membership),
        )
        .route("/dev/api/deliveries", get(deliveries))
        .route("/dev/api/webhooks", get(webhooks).post(set_webhooks))
}

// ---- users and organizations ----

fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "email": user.primary_email(),
        "first_name": user.first_name,
        "last_name": user.last_name,
        "public_metadata": user.public_metadata,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    })
}

fn organization_json(emulator: &Emulator, organization: &Organization) -> Value {
    let members: Vec<Value> = emulator
        .memberships(&organization.id)
        .iter()
        .map(|m| json!({"user_id": m.user.id, "role": m.role}))
        .collect();
    json!({
        "id": organization.id,
        "name": organization.name,
        "slug": organization.slug,
        "members": members,
    })
}

/// `GET /dev/api/users`: the emulator's users, in creation order.
async fn users(State(state): State<ConsoleState>) -> Json<Value> {
    let users: Vec<Value> = state
        .console
        .emulator
        .users()
        .iter()
        .map(user_json)
        .collect();
    Json(json!({ "items": users }))
}

/// The body of `POST /dev/api/users`.
#[derive(Debug, Deserialize)]
struct NewUserBody {
    email: String,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
}

/// `POST /dev/api/users`: creates a user (`user.created`); 201.
async fn create_user(
    State(state): State<ConsoleState>,
    Json(body): Json<NewUserBody>,
) -> Result<(StatusCode, Json<Value>)> {
    let email = body.email.trim();
    if email.is_empty() {
        return Err(ApiError::invalid("email", "An email address is required.").into());
    }
    let mut new = NewUser::new().email(email);
    if let Some(first) = non_empty(body.first_name.as_deref()) {
        new = new.first_name(first);
    }
    if let Some(last) = non_empty(body.last_name.as_deref()) {
        new = new.last_name(last);
    }
    let user = state.console.emulator.create_user(new)?;
    Ok((StatusCode::CREATED, Json(user_json(&user))))
}

/// `GET /dev/api/organizations`: the emulator's organizations with their members.
async fn organizations(State(state): State<ConsoleState>) -> Json<Value> {
    let emulator = &state.console.emulator;
    let items: Vec<Value> = emulator
        .organizations()
        .iter()
        .map(|org| organization_json(emulator, org))
        .collect();
    Json(json!({ "items": items }))
}

/// The body of `POST /dev/api/organizations`.
#[derive(Debug, Deserialize)]
struct NewOrganizationBody {
    name: String,
    #[serde(default)]
    slug: Option<String>,
    /// The first member.
    user_id: String,
    /// Their role, `org:admin` by default.
    #[serde(default)]
    role: Option<String>,
}

/// `POST /dev/api/organizations`: creates an organization with a first member; 201. An
/// admin creates it (`created_by`, as in Clerk); any other role is added after it.
async fn create_organization(
    State(state): State<ConsoleState>,
    Json(body): Json<NewOrganizationBody>,
) -> Result<(StatusCode, Json<Value>)> {
    let emulator = &state.console.emulator;
    let name = body.name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("name", "A name is required.").into());
    }
    let role = non_empty(body.role.as_deref()).unwrap_or("org:admin");
    if emulator.user(&body.user_id).is_none() {
        return Err(BackendError::NotFound {
            object: "user",
            id: body.user_id,
        }
        .into());
    }
    let mut new = NewOrganization::new(name);
    if let Some(slug) = non_empty(body.slug.as_deref()) {
        new = new.slug(slug);
    }
    if role == "org:admin" {
        new = new.created_by(&body.user_id);
    }
    let organization = emulator.create_organization(new)?;
    if role != "org:admin" {
        emulator.add_membership(&organization.id, &body.user_id, role)?;
    }
    let organization = emulator
        .organization(&organization.id)
        .unwrap_or(organization);
    Ok((
        StatusCode::CREATED,
        Json(organization_json(emulator, &organization)),
    ))
}

/// The body of `POST /dev/api/organizations/{id}/memberships`.
#[derive(Debug, Deserialize)]
struct MembershipBody {
    user_id: String,
    role: String,
}

/// `POST /dev/api/organizations/{id}/memberships`: adds a member
/// (`organizationMembership.created`); 201 with the organization.
async fn add_membership(
    State(state): State<ConsoleState>,
    Path(org): Path<String>,
    Json(body): Json<MembershipBody>,
) -> Result<(StatusCode, Json<Value>)> {
    let emulator = &state.console.emulator;
    let membership = emulator.add_membership(&org, &body.user_id, body.role.trim())?;
    let organization = emulator
        .organization(&membership.organization.id)
        .unwrap_or(membership.organization);
    Ok((
        StatusCode::CREATED,
        Json(organization_json(emulator, &organization)),
    ))
}

/// The body of `PATCH /dev/api/users/{id}/metadata`.
#[derive(Debug, Deserialize)]
struct MetadataBody {
    public_metadata: Value,
}

/// `PATCH /dev/api/users/{id}/metadata`: deep-merges into the user's public metadata, as
/// Clerk's `PATCH /v1/users/{id}/metadata` (a `null` removes a key), which emits
/// `user.updated`. Answers at once with the messages queued: the server learns of the change
/// when the webhook arrives.
async fn edit_metadata(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    Json(body): Json<MetadataBody>,
) -> Result<Json<Value>> {
    if !body.public_metadata.is_object() {
        return Err(ApiError::invalid("public_metadata", "Must be a JSON object.").into());
    }
    let emulator = &state.console.emulator;
    let before = emulator.deliveries().len();
    let user =
        emulator.update_user_metadata(&id, json!({ "public_metadata": body.public_metadata }))?;
    let queued: Vec<Value> = emulator
        .deliveries()
        .iter()
        .skip(before)
        .map(delivery_json)
        .collect();
    Ok(Json(
        json!({ "user": user_json(&user), "deliveries": queued }),
    ))
}

// ---- webhooks ----

pub(super) fn delivery_json(delivery: &Delivery) -> Value {
    let event: Value = serde_json::from_str(&delivery.body).unwrap_or_default();
    json!({
        "msg_id": delivery.msg_id,
        "event_type": delivery.event_type,
        "object_id": event["data"]["id"],
        "timestamp": event["timestamp"],
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "delivered": delivery.delivered,
        "failed": delivery.failed,
    })
}

/// `GET /dev/api/deliveries`: the emulator's webhook messages, newest first (at most 100).
async fn deliveries(State(state): State<ConsoleState>) -> Json<Value> {
    let items: Vec<Value> = state
        .console
        .emulator
        .deliveries()
        .iter()
        .rev()
        .take(DELIVERIES_LISTED)
        .map(delivery_json)
        .collect();
    Json(json!({
        "paused": state.console.paused.load(Ordering::Relaxed),
        "items": items,
    }))
}

/// The body of `POST /dev/api/webhooks`.
#[derive(Debug, Deserialize)]
struct WebhooksBody {
    paused: bool,
}

/// `GET /dev/api/webhooks`: whether delivery is paused, and where it goes.
async fn webhooks(State(state): State<ConsoleState>) -> Json<Value> {
    Json(json!({
        "paused": state.console.paused.load(Ordering::Relaxed),
        "url": state.console.emulator.webhook_url(),
    }))
}

/// `POST /dev/api/webhooks` `{"paused": bool}`: holds the emulator's deliveries back, or
/// lets them go, to watch a change arrive late.
async fn set_webhooks(
    State(state): State<ConsoleState>,
    Json(body): Json<WebhooksBody>,
) -> Json<Value> {
    let console = &state.console;
    if body.paused {
        console.emulator.pause_delivery();
    } else {
        console.emulator.resume_delivery();
    }
    console.paused.store(body.paused, Ordering::Relaxed);
    Json(json!({
        "paused": body.paused,
        "url": console.emulator.webhook_url(),
    }))
}
