//! A Clerk webhook event: the envelope, and its `data` typed by event type.
//!
//! Parsing is tolerant by design, because Clerk adds event types and fields without notice:
//! an unknown type keeps its raw data ([`EventData::Unknown`]); a known type whose data does not
//! fit the typed shape keeps its raw data too ([`EventData::Unparsed`]); unknown fields are kept
//! in `extra` maps; a known field of an unexpected type reads as absent. Only a body that is not
//! JSON, nests too deep, or has no string `type` is refused.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::WebhookError;
use clerk_types::{DeletedObject, Organization, OrganizationMembership, Session, User};

/// The deepest nesting of arrays and objects accepted in a body (the envelope object is
/// level 1). Clerk's events nest about 5 levels; serde_json itself stops at 128.
pub const MAX_JSON_DEPTH: usize = 64;

/// A Clerk webhook event (clerk-spec §6):
/// `{"type", "object": "event", "data", "timestamp", "instance_id", "event_attributes"}`.
///
/// Get one from [`Webhook::verify_event`](crate::Webhook::verify_event). It also implements
/// `Deserialize` (for events stored as JSON; only serde_json's own depth limit applies there)
/// and `Serialize`, which writes Clerk's shape back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The event type, e.g. `user.created`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Always `event` today; empty when absent.
    pub object: String,
    /// The event's payload, typed when the event type is known.
    pub data: EventData,
    /// When Clerk created the event, in milliseconds since the Unix epoch; 0 when absent.
    pub timestamp: i64,
    /// The Clerk instance (`ins_…`) the event belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Request details, e.g. `{"http_request": {"client_ip", "user_agent"}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_attributes: Option<Value>,
    /// Top-level fields this version does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Event {
    /// Parses an event body **without verifying it**: use [`Webhook::verify_event`](crate::Webhook::verify_event)
    /// for requests. This is for bodies verified earlier (a stored delivery being replayed).
    ///
    /// # Errors
    /// [`WebhookError::InvalidJson`], [`WebhookError::JsonTooDeep`] or
    /// [`WebhookError::NotAnEvent`].
    pub fn from_slice(body: &[u8]) -> Result<Event, WebhookError> {
        let value: Value = serde_json::from_slice(body).map_err(WebhookError::InvalidJson)?;
        if nesting_depth(&value) > MAX_JSON_DEPTH {
            return Err(WebhookError::JsonTooDeep);
        }
        let Value::Object(fields) = value else {
            return Err(WebhookError::NotAnEvent("the body is not a JSON object"));
        };
        Event::from_fields(fields).map_err(WebhookError::NotAnEvent)
    }

    fn from_fields(mut fields: Map<String, Value>) -> Result<Event, &'static str> {
        let Some(Value::String(type_)) = fields.remove("type") else {
            return Err("`type` is missing or not a string");
        };
        let data = fields.remove("data").unwrap_or(Value::Null);
        Ok(Event {
            data: EventData::parse(&type_, data),
            type_,
            object: take(&mut fields, "object"),
            timestamp: take(&mut fields, "timestamp"),
            instance_id: take(&mut fields, "instance_id"),
            event_attributes: take(&mut fields, "event_attributes"),
            extra: fields,
        })
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Event, D::Error> {
        Event::from_fields(Map::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// Removes a field, reading a value of the wrong type as the default.
fn take<T: DeserializeOwned + Default>(fields: &mut Map<String, Value>, name: &str) -> T {
    fields
        .remove(name)
        .and_then(|value| T::deserialize(value).ok())
        .unwrap_or_default()
}

/// The depth of the deepest array or object (a scalar is 0). The recursion is bounded by
/// serde_json's own limit of 128 on the value being measured.
fn nesting_depth(value: &Value) -> usize {
    let deepest = |children: &mut dyn Iterator<Item = &Value>| {
        1 + children.map(nesting_depth).max().unwrap_or(0)
    };
    match value {
        Value::Array(items) => deepest(&mut items.iter()),
        Value::Object(fields) => deepest(&mut fields.values()),
        _ => 0,
    }
}

/// An event's `data`, typed by the event type.
///
/// Match on the variants you handle and ignore the rest: new variants may be added as Clerk
/// adds event types.
///
/// ```
/// # fn handle(event: clerk_webhooks::Event) {
/// use clerk_webhooks::EventData;
///
/// match &event.data {
///     EventData::UserCreated(user) | EventData::UserUpdated(user) => {
///         println!("upsert {} <{:?}>", user.id, user.primary_email());
///     }
///     EventData::UserDeleted(deleted) => println!("delete {}", deleted.id),
///     EventData::Unparsed { error, .. } => eprintln!("{}: unexpected data: {error}", event.type_),
///     _ => {}
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventData {
    /// `user.created`
    UserCreated(Box<User>),
    /// `user.updated`
    UserUpdated(Box<User>),
    /// `user.deleted`
    UserDeleted(DeletedObject),
    /// `session.created`
    SessionCreated(Box<Session>),
    /// `session.ended`
    SessionEnded(Box<Session>),
    /// `session.removed`
    SessionRemoved(Box<Session>),
    /// `session.revoked`
    SessionRevoked(Box<Session>),
    /// `organization.created`
    OrganizationCreated(Box<Organization>),
    /// `organization.updated`
    OrganizationUpdated(Box<Organization>),
    /// `organization.deleted`
    OrganizationDeleted(DeletedObject),
    /// `organizationMembership.created`
    OrganizationMembershipCreated(Box<OrganizationMembership>),
    /// `organizationMembership.updated`
    OrganizationMembershipUpdated(Box<OrganizationMembership>),
    /// `organizationMembership.deleted`
    OrganizationMembershipDeleted(Box<OrganizationMembership>),
    /// An event type this version has no type for (`email.created`, `role.updated`, …): the
    /// raw `data`.
    Unknown(Value),
    /// A known event type whose `data` does not have the typed shape (e.g. no string `id`):
    /// the raw `data`, and why it did not fit.
    Unparsed {
        /// The raw `data`.
        data: Value,
        /// Why the typed parse failed.
        error: String,
    },
}

impl EventData {
    fn parse(type_: &str, data: Value) -> EventData {
        fn typed<T: DeserializeOwned>(data: Value, variant: fn(T) -> EventData) -> EventData {
            match T::deserialize(&data) {
                Ok(typed) => variant(typed),
                Err(error) => EventData::Unparsed {
                    data,
                    error: error.to_string(),
                },
            }
        }
        match type_ {
            "user.created" => typed(data, EventData::UserCreated),
            "user.updated" => typed(data, EventData::UserUpdated),
            "user.deleted" => typed(data, EventData::UserDeleted),
            "session.created" => typed(data, EventData::SessionCreated),
            "session.ended" => typed(data, EventData::SessionEnded),
            "session.removed" => typed(data, EventData::SessionRemoved),
            "session.revoked" => typed(data, EventData::SessionRevoked),
            "organization.created" => typed(data, EventData::OrganizationCreated),
            "organization.updated" => typed(data, EventData::OrganizationUpdated),
            "organization.deleted" => typed(data, EventData::OrganizationDeleted),
            "organizationMembership.created" => {
                typed(data, EventData::OrganizationMembershipCreated)
            }
            "organizationMembership.updated" => {
                typed(data, EventData::OrganizationMembershipUpdated)
            }
            "organizationMembership.deleted" => {
                typed(data, EventData::OrganizationMembershipDeleted)
            }
            _ => EventData::Unknown(data),
        }
    }
}

/// Serializes as the `data` object itself, so an [`Event`] serializes back to Clerk's shape.
impl Serialize for EventData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            EventData::UserCreated(user) | EventData::UserUpdated(user) => {
                user.serialize(serializer)
            }
            EventData::UserDeleted(deleted) | EventData::OrganizationDeleted(deleted) => {
                deleted.serialize(serializer)
            }
            EventData::SessionCreated(session)
            | EventData::SessionEnded(session)
            | EventData::SessionRemoved(session)
            | EventData::SessionRevoked(session) => session.serialize(serializer),
            EventData::OrganizationCreated(organization)
            | EventData::OrganizationUpdated(organization) => organization.serialize(serializer),
            EventData::OrganizationMembershipCreated(membership)
            | EventData::OrganizationMembershipUpdated(membership)
            | EventData::OrganizationMembershipDeleted(membership) => {
                membership.serialize(serializer)
            }
            EventData::Unknown(data) | EventData::Unparsed { data, .. } => {
                data.serialize(serializer)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nesting_depth_counts_arrays_and_objects() {
        assert_eq!(nesting_depth(&json!(1)), 0);
        assert_eq!(nesting_depth(&json!({})), 1);
        assert_eq!(nesting_depth(&json!({"a": [1, {"b": []}]})), 4);
    }
}
