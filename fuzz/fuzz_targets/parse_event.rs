//! `clerk_webhooks::Event::from_slice` on arbitrary bytes (a webhook delivery body).
//!
//! Besides "no panic", every outcome is checked against an independent reading of the same
//! bytes with plain `serde_json::Value`:
//!
//! - refused exactly as documented: `InvalidJson` when serde_json refuses the bytes,
//!   `JsonTooDeep` when arrays/objects nest deeper than `MAX_JSON_DEPTH`, `NotAnEvent` when
//!   the value is not an object with a string `type`; accepted otherwise;
//! - accepted ⇒ a second parse, and the `Deserialize` impl on the same bytes, give an equal
//!   event; the envelope fields are the body's (wrong types read as absent); unknown fields
//!   are all in `extra`; known types are typed or `Unparsed` with the raw data, unknown types
//!   keep their raw data;
//! - accepted ⇒ the event's serialization parses back: through a `Value` to an equal event,
//!   and as text to the same type and variant (text equality is not asserted because
//!   serde_json's default float parsing is not exactly round-trip).
#![no_main]

use std::mem::discriminant;

use clerk_webhooks::{Event, EventData, WebhookError, MAX_JSON_DEPTH};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// The event types the crate types (`EventData`'s variants other than Unknown/Unparsed).
const KNOWN_TYPES: [&str; 13] = [
    "user.created",
    "user.updated",
    "user.deleted",
    "session.created",
    "session.ended",
    "session.removed",
    "session.revoked",
    "organization.created",
    "organization.updated",
    "organization.deleted",
    "organizationMembership.created",
    "organizationMembership.updated",
    "organizationMembership.deleted",
];

/// The envelope fields the crate reads into named fields (everything else goes to `extra`).
const ENVELOPE: [&str; 6] = [
    "type",
    "object",
    "data",
    "timestamp",
    "instance_id",
    "event_attributes",
];

/// Depth of the deepest array/object (scalar = 0), without recursion.
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, above)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(fields) => Box::new(fields.values()),
            _ => continue,
        };
        deepest = deepest.max(above + 1);
        stack.extend(children.map(|child| (child, above + 1)));
    }
    deepest
}

/// The typed data's own `id` (`None` for `Unknown` and `Unparsed`).
fn typed_id(data: &EventData) -> Option<&str> {
    Some(match data {
        EventData::UserCreated(user) | EventData::UserUpdated(user) => &user.id,
        EventData::UserDeleted(deleted) | EventData::OrganizationDeleted(deleted) => &deleted.id,
        EventData::SessionCreated(session)
        | EventData::SessionEnded(session)
        | EventData::SessionRemoved(session)
        | EventData::SessionRevoked(session) => &session.id,
        EventData::OrganizationCreated(org) | EventData::OrganizationUpdated(org) => &org.id,
        EventData::OrganizationMembershipCreated(m)
        | EventData::OrganizationMembershipUpdated(m)
        | EventData::OrganizationMembershipDeleted(m) => &m.id,
        _ => return None,
    })
}

fuzz_target!(|body: &[u8]| {
    let parsed = Event::from_slice(body);

    // The independent reading.
    let fields: Map<String, Value> = match serde_json::from_slice::<Value>(body) {
        Err(_) => {
            assert!(
                matches!(parsed, Err(WebhookError::InvalidJson(_))),
                "{parsed:?}"
            );
            return;
        }
        Ok(value) if depth(&value) > MAX_JSON_DEPTH => {
            assert!(
                matches!(parsed, Err(WebhookError::JsonTooDeep)),
                "{parsed:?}"
            );
            return;
        }
        Ok(Value::Object(fields)) if fields.get("type").is_some_and(Value::is_string) => fields,
        Ok(_) => {
            assert!(
                matches!(parsed, Err(WebhookError::NotAnEvent(_))),
                "{parsed:?}"
            );
            return;
        }
    };
    let event = match parsed {
        Ok(event) => event,
        Err(err) => panic!("a JSON object with a string `type` was refused: {err}"),
    };

    // Deterministic, and the same as the `Deserialize` impl.
    assert_eq!(Event::from_slice(body).expect("second parse"), event);
    assert_eq!(
        serde_json::from_slice::<Event>(body).expect("Deserialize"),
        event
    );

    // The envelope, field by field.
    assert_eq!(Some(event.type_.as_str()), fields["type"].as_str());
    assert_eq!(
        event.object,
        fields.get("object").and_then(Value::as_str).unwrap_or("")
    );
    assert_eq!(
        event.timestamp,
        fields.get("timestamp").and_then(Value::as_i64).unwrap_or(0)
    );
    assert_eq!(
        event.instance_id.as_deref(),
        fields.get("instance_id").and_then(Value::as_str)
    );
    assert_eq!(
        event.event_attributes.as_ref(),
        fields.get("event_attributes").filter(|v| !v.is_null())
    );
    let mut extra = fields.clone();
    extra.retain(|name, _| !ENVELOPE.contains(&name.as_str()));
    assert_eq!(event.extra, extra);

    // The data: typed, or kept raw.
    let raw = fields.get("data").cloned().unwrap_or(Value::Null);
    match &event.data {
        EventData::Unknown(data) => {
            assert!(!KNOWN_TYPES.contains(&event.type_.as_str()));
            assert_eq!(data, &raw);
        }
        EventData::Unparsed { data, error } => {
            assert!(KNOWN_TYPES.contains(&event.type_.as_str()));
            assert_eq!(data, &raw);
            assert!(!error.is_empty());
        }
        typed => {
            assert!(KNOWN_TYPES.contains(&event.type_.as_str()));
            let id = typed_id(typed).expect("a typed variant has an id");
            assert_eq!(raw.get("id").and_then(Value::as_str), Some(id));
        }
    }

    // Serialization parses back.
    let value = serde_json::to_value(&event).expect("serialize to a Value");
    let again: Event = serde_json::from_value(value).expect("Value round trip");
    assert_eq!(again, event);
    let text = serde_json::to_vec(&event).expect("serialize to text");
    let again = Event::from_slice(&text).expect("text round trip");
    assert_eq!(again.type_, event.type_);
    assert_eq!(discriminant(&again.data), discriminant(&event.data));
});
