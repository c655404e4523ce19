//! Clerk webhook events in Clerk's shapes (clerk-spec §6), for tests that sign and post them.

use serde_json::{json, Value};

/// The event envelope around `data`.
pub fn event(type_: &str, data: Value) -> Value {
    json!({
        "type": type_,
        "object": "event",
        "data": data,
        "timestamp": now_ms(),
        "instance_id": "ins_test",
        "event_attributes": {"http_request": {"client_ip": "203.0.113.7", "user_agent": "test"}},
    })
}

/// A User object with one (primary) email address.
pub fn user(id: &str, updated_at: i64, first_name: &str, metadata: Value) -> Value {
    json!({
        "id": id,
        "object": "user",
        "email_addresses": [
            {"id": "idn_other", "email_address": format!("{id}@old.example.com"), "object": "email_address"},
            {"id": "idn_primary", "email_address": format!("{id}@example.com"), "object": "email_address"},
        ],
        "primary_email_address_id": "idn_primary",
        "first_name": first_name,
        "last_name": "Lovelace",
        "username": null,
        "image_url": "https://img.clerk.com/x",
        "public_metadata": metadata,
        "private_metadata": {"secret": "never stored"},
        "unsafe_metadata": {},
        "created_at": 1_716_883_200_000_i64,
        "updated_at": updated_at,
        "banned": false,
    })
}

/// What Clerk sends for a deleted user or organization.
pub fn deleted(object: &str, id: &str) -> Value {
    json!({"object": object, "id": id, "deleted": true})
}

/// A Session object (`status` as the event type implies).
pub fn session(id: &str, user_id: &str, status: &str) -> Value {
    json!({
        "id": id,
        "object": "session",
        "user_id": user_id,
        "client_id": "client_1",
        "status": status,
        "last_active_at": now_ms(),
        "expire_at": now_ms() + 7 * 24 * 3600 * 1000,
        "created_at": now_ms() - 60_000,
        "updated_at": now_ms(),
        "user": null,
    })
}

/// An Organization object.
pub fn organization(id: &str, name: &str, updated_at: i64) -> Value {
    json!({
        "id": id,
        "object": "organization",
        "name": name,
        "slug": name.to_lowercase().replace(' ', "-"),
        "image_url": "https://img.clerk.com/org",
        "public_metadata": {"tier": "startup"},
        "private_metadata": {},
        "created_at": 1_716_970_000_000_i64,
        "updated_at": updated_at,
    })
}

/// An OrganizationMembership object.
pub fn membership(
    id: &str,
    org_id: &str,
    user_id: &str,
    role: &str,
    permissions: &[&str],
    updated_at: i64,
) -> Value {
    json!({
        "id": id,
        "object": "organization_membership",
        "role": role,
        "permissions": permissions,
        "organization": organization(org_id, "Acme", 1),
        "public_user_data": {"user_id": user_id, "identifier": format!("{user_id}@example.com")},
        "public_metadata": {},
        "private_metadata": {},
        "created_at": 1_716_970_000_000_i64,
        "updated_at": updated_at,
    })
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
