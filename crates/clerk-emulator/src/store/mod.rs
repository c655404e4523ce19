//! The emulated instance's directory: users, sessions, organizations and memberships, kept in
//! memory. Every change emits its Clerk webhook event, in the order the changes happen.
//!
//! One file per resource (`users`, `sessions`, `organizations`, `memberships`, and `machines`
//! for machine authentication, which emits no events), each adding its part of `impl Store`;
//! `query` holds the list parameters (paging, search, `order_by`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::objects::{BackendError, Organization, Session, User};
use crate::webhooks::Hooks;

mod machines;
mod memberships;
mod organizations;
mod query;
mod sessions;
mod users;

pub(crate) use machines::{OAuthVerdict, Signer};
use memberships::{Membership, ADMIN_PERMISSIONS, MEMBER_PERMISSIONS};
pub(crate) use query::{
    ListQuery, OrderBy, UserQuery, MEMBERSHIP_ORDER_FIELDS, ORGANIZATION_ORDER_FIELDS,
    USER_ORDER_FIELDS,
};

pub(crate) struct Store {
    instance_id: String,
    /// The last timestamp handed out, so that every change gets a later one.
    last_ms: i64,
    users: Vec<User>,
    sessions: Vec<Session>,
    organizations: Vec<Organization>,
    memberships: Vec<Membership>,
    roles: BTreeMap<String, Vec<String>>,
    machine_auth: machines::MachineAuth,
    events: Vec<Value>,
    hooks: Arc<Hooks>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Reads an optional metadata parameter: absent stays absent, `null` is an empty object,
/// anything else but an object is refused.
fn metadata(param: &str, value: Option<Value>) -> Result<Option<Map<String, Value>>, BackendError> {
    match value {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Map::new())),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(BackendError::invalid(
            "form_param_invalid",
            param,
            format!("{param} must be a JSON object"),
        )),
    }
}

/// Merges `patch` into `target`, Clerk's way: objects merge recursively, `null` removes a key,
/// anything else replaces.
pub(crate) fn deep_merge(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(&key);
            }
            Value::Object(inner) => {
                let slot = target
                    .entry(key)
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(existing) = slot {
                    deep_merge(existing, inner);
                }
            }
            other => {
                target.insert(key, other);
            }
        }
    }
}

impl Store {
    pub fn new(instance_id: String, hooks: Arc<Hooks>) -> Self {
        let roles = BTreeMap::from([
            (
                "org:admin".to_owned(),
                ADMIN_PERMISSIONS.map(str::to_owned).to_vec(),
            ),
            (
                "org:member".to_owned(),
                MEMBER_PERMISSIONS.map(str::to_owned).to_vec(),
            ),
        ]);
        Self {
            instance_id,
            last_ms: 0,
            users: Vec::new(),
            sessions: Vec::new(),
            organizations: Vec::new(),
            memberships: Vec::new(),
            roles,
            machine_auth: machines::MachineAuth::default(),
            events: Vec::new(),
            hooks,
        }
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Now in ms, and always later than any time handed out before.
    fn tick(&mut self) -> i64 {
        self.last_ms = now_ms().max(self.last_ms + 1);
        self.last_ms
    }

    fn emit(&mut self, type_: &str, data: Value) {
        let event = json!({
            "type": type_,
            "object": "event",
            "data": data,
            "timestamp": now_ms(),
            "instance_id": self.instance_id,
            "event_attributes": {
                "http_request": { "client_ip": "127.0.0.1", "user_agent": "clerk-emulator" }
            },
        });
        self.hooks.enqueue(type_, event.to_string());
        self.events.push(event);
    }

    pub fn events(&self) -> Vec<Value> {
        self.events.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_merge_merges_objects_and_removes_nulls() {
        let mut target = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1], "f": "x"})
            .as_object()
            .cloned()
            .unwrap();
        let patch =
            json!({"b": {"c": null, "g": {"h": null, "i": 4}}, "e": [2], "f": null, "j": 5});
        deep_merge(&mut target, patch.as_object().cloned().unwrap());
        assert_eq!(
            Value::Object(target),
            json!({"a": 1, "b": {"d": 3, "g": {"i": 4}}, "e": [2], "j": 5})
        );
    }
}
