//! Typed Clerk events from realistic payloads (`tests/fixtures/`), and the tolerance rules:
//! unknown types and fields kept, mismatched data kept raw, bounded JSON.

use clerk_webhooks::{Event, EventData, FixedClock, Webhook, WebhookError, MAX_JSON_DEPTH};
use serde_json::{json, Value};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> Event {
    Event::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Whether the data is the expected variant, with the expected content.
type Check = fn(&EventData) -> bool;

fn raw_data(name: &str) -> Value {
    serde_json::from_slice::<Value>(&fixture(name)).unwrap()["data"].clone()
}

#[test]
fn user_created_is_typed() {
    let event = parse("user.created");
    assert_eq!(event.type_, "user.created");
    assert_eq!(event.object, "event");
    assert_eq!(event.timestamp, 1_716_883_200_789);
    assert_eq!(
        event.instance_id.as_deref(),
        Some("ins_2hcz8pQ7rT0uVwXyZaBcDeFgHiJ")
    );
    assert_eq!(
        event.event_attributes.as_ref().unwrap()["http_request"]["client_ip"],
        "203.0.113.7"
    );
    assert!(event.extra.is_empty());

    let EventData::UserCreated(user) = &event.data else {
        panic!("{:?}", event.data)
    };
    assert_eq!(user.id, "user_2hd0WlHS5c4KtD3nA2GmWJpDjQp");
    assert_eq!(user.email_addresses.len(), 2);
    assert_eq!(
        user.email_addresses[1].email_address,
        "ada@work.example.org"
    );
    assert_eq!(
        user.email_addresses[0].extra["verification"]["status"],
        "verified"
    );
    assert_eq!(user.primary_email(), Some("ada.lovelace@example.com"));
    assert_eq!(user.first_name.as_deref(), Some("Ada"));
    assert_eq!(user.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(user.username, None);
    assert_eq!(user.external_id, None);
    assert_eq!(
        user.image_url.as_deref(),
        Some("https://img.clerk.com/eyJ0eXBlIjoiZGVmYXVsdCJ9")
    );
    assert_eq!(user.public_metadata["plan"], "free");
    assert!(user.private_metadata.is_empty());
    assert!(user.unsafe_metadata.is_empty());
    assert_eq!(user.created_at, Some(1_716_883_200_123));
    assert_eq!(user.updated_at, Some(1_716_883_200_456));
    // Fields without a typed slot are kept, as sent.
    assert_eq!(user.extra["object"], "user");
    assert_eq!(user.extra["two_factor_enabled"], false);
    assert_eq!(user.extra["last_sign_in_at"], Value::Null);
    assert_eq!(user.extra["verification_attempts_remaining"], 100);
}

#[test]
fn user_updated_is_typed() {
    let event = parse("user.updated");
    let EventData::UserUpdated(user) = &event.data else {
        panic!("{:?}", event.data)
    };
    assert_eq!(user.primary_email(), Some("ada@work.example.org"));
    assert_eq!(user.first_name.as_deref(), Some("Augusta Ada"));
    assert_eq!(user.username.as_deref(), Some("countess"));
    assert_eq!(user.external_id.as_deref(), Some("crm-1815"));
    assert_eq!(user.public_metadata["seats"], 5);
    assert_eq!(user.private_metadata["stripe_customer"], "cus_Q1w2E3r4T5y6");
    assert_eq!(user.unsafe_metadata["theme"], "dark");
    assert_eq!(user.updated_at, Some(1_716_969_600_321));
}

#[test]
fn user_deleted_is_typed() {
    let event = parse("user.deleted");
    let EventData::UserDeleted(deleted) = &event.data else {
        panic!("{:?}", event.data)
    };
    assert_eq!(deleted.id, "user_2hd0WlHS5c4KtD3nA2GmWJpDjQp");
    assert!(deleted.deleted);
    assert_eq!(deleted.object.as_deref(), Some("user"));
    assert!(deleted.extra.is_empty());
}

#[test]
fn session_revoked_is_typed() {
    let event = parse("session.revoked");
    let EventData::SessionRevoked(session) = &event.data else {
        panic!("{:?}", event.data)
    };
    assert_eq!(session.id, "sess_2hd0XdB0nLr8KqZs5VwYt1uC6mE");
    assert_eq!(session.user_id, "user_2hd0WlHS5c4KtD3nA2GmWJpDjQp");
    assert_eq!(
        session.client_id.as_deref(),
        Some("client_2hd0XaP4wq7N1bJc9vLrS3tUe8F")
    );
    assert_eq!(session.status.as_deref(), Some("revoked"));
    assert_eq!(session.last_active_at, Some(1_716_969_000_000));
    assert_eq!(session.expire_at, Some(1_717_488_001_000));
    assert_eq!(session.created_at, Some(1_716_883_201_000));
    assert_eq!(session.updated_at, Some(1_716_969_700_000));
    let user = session.user.as_ref().unwrap();
    assert_eq!(user.id, session.user_id);
    assert_eq!(user.primary_email(), Some("ada@work.example.org"));
    assert_eq!(
        session.extra["last_active_organization_id"],
        "org_2hd1AbCdEfGhIjKlMnOpQrStUvW"
    );
    assert_eq!(session.extra["abandon_at"], 1_719_475_200_000_i64);
}

#[test]
fn other_session_events_are_typed_with_or_without_their_user() {
    let mut body: Value = serde_json::from_slice(&fixture("session.revoked")).unwrap();
    body["data"]["user"] = Value::Null;
    let cases: [(&str, Check); 3] = [
        (
            "session.created",
            |d| matches!(d, EventData::SessionCreated(s) if s.user.is_none()),
        ),
        (
            "session.ended",
            |d| matches!(d, EventData::SessionEnded(s) if s.user.is_none()),
        ),
        (
            "session.removed",
            |d| matches!(d, EventData::SessionRemoved(s) if s.user.is_none()),
        ),
    ];
    for (kind, check) in cases {
        body["type"] = json!(kind);
        let event = Event::from_slice(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert!(check(&event.data), "{kind}: {:?}", event.data);
    }
}

#[test]
fn organization_created_is_typed() {
    let event = parse("organization.created");
    let EventData::OrganizationCreated(org) = &event.data else {
        panic!("{:?}", event.data)
    };
    assert_eq!(org.id, "org_2hd1AbCdEfGhIjKlMnOpQrStUvW");
    assert_eq!(org.name, "Analytical Engines Ltd");
    assert_eq!(org.slug.as_deref(), Some("analytical-engines"));
    assert!(org
        .image_url
        .as_deref()
        .unwrap()
        .starts_with("https://img.clerk.com/"));
    assert_eq!(org.public_metadata["tier"], "startup");
    assert_eq!(org.private_metadata["billing_id"], "acct_991");
    assert_eq!(org.members_count, Some(1));
    assert_eq!(org.created_at, Some(1_716_970_000_000));
    assert_eq!(org.updated_at, Some(1_716_970_000_000));
    assert_eq!(org.extra["created_by"], "user_2hd0WlHS5c4KtD3nA2GmWJpDjQp");
    assert_eq!(org.extra["max_allowed_memberships"], 5);
}

#[test]
fn organization_membership_created_is_typed() {
    let event = parse("organizationMembership.created");
    let EventData::OrganizationMembershipCreated(membership) = &event.data else {
        panic!("{:?}", event.data)
    };
    assert_eq!(membership.id, "orgmem_2hd1BcDeFgHiJkLmNoPqRsTuVwX");
    assert_eq!(membership.role, "org:admin");
    assert_eq!(membership.permissions.len(), 6);
    assert!(membership
        .permissions
        .iter()
        .any(|p| p == "org:sys_memberships:manage"));
    assert_eq!(
        membership.organization_id(),
        Some("org_2hd1AbCdEfGhIjKlMnOpQrStUvW")
    );
    let org = membership.organization.as_ref().unwrap();
    assert_eq!(org.name, "Analytical Engines Ltd");
    assert_eq!(org.slug.as_deref(), Some("analytical-engines"));
    assert_eq!(
        membership.user_id(),
        Some("user_2hd0WlHS5c4KtD3nA2GmWJpDjQp")
    );
    let member = membership.public_user_data.as_ref().unwrap();
    assert_eq!(
        member.identifier.as_deref(),
        Some("ada.lovelace@example.com")
    );
    assert_eq!(member.first_name.as_deref(), Some("Ada"));
    assert_eq!(member.last_name.as_deref(), Some("Lovelace"));
    assert!(member.image_url.is_some());
    assert_eq!(member.extra["has_image"], false);
    assert_eq!(membership.public_metadata["department"], "engineering");
    assert_eq!(membership.created_at, Some(1_716_970_000_200));
    assert_eq!(membership.updated_at, Some(1_716_970_000_200));
    assert_eq!(membership.extra["role_name"], "Admin");
}

#[test]
fn other_known_types_map_to_their_variants() {
    let org = raw_data("organization.created");
    let membership = raw_data("organizationMembership.created");
    let deleted_org =
        json!({"object": "organization", "id": "org_1", "slug": "acme", "deleted": true});
    let cases: [(&str, Value, Check); 5] = [
        (
            "organization.updated",
            org,
            |d| matches!(d, EventData::OrganizationUpdated(o) if o.name == "Analytical Engines Ltd"),
        ),
        (
            "organization.deleted",
            deleted_org,
            |d| matches!(d, EventData::OrganizationDeleted(o) if o.id == "org_1" && o.deleted && o.extra["slug"] == "acme"),
        ),
        (
            "organizationMembership.updated",
            membership.clone(),
            |d| matches!(d, EventData::OrganizationMembershipUpdated(m) if m.role == "org:admin"),
        ),
        (
            "organizationMembership.deleted",
            membership,
            |d| matches!(d, EventData::OrganizationMembershipDeleted(m) if m.user_id().is_some()),
        ),
        (
            "user.updated",
            raw_data("user.created"),
            |d| matches!(d, EventData::UserUpdated(u) if u.first_name.as_deref() == Some("Ada")),
        ),
    ];
    for (kind, data, check) in cases {
        let body = json!({"type": kind, "object": "event", "data": data, "timestamp": 1});
        let event = Event::from_slice(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert!(check(&event.data), "{kind}: {:?}", event.data);
    }
}

#[test]
fn unknown_event_type_keeps_its_raw_data() {
    let event = parse("email.created");
    assert_eq!(event.type_, "email.created");
    assert_eq!(event.timestamp, 1_716_883_199_100);
    let EventData::Unknown(data) = &event.data else {
        panic!("{:?}", event.data)
    };
    assert_eq!(data, &raw_data("email.created"));
    assert_eq!(data["slug"], "verification_code");
}

#[test]
fn future_user_created_with_unknown_and_changed_fields_still_parses() {
    let event = parse("user.created.future");
    // Unknown top-level fields are kept.
    assert_eq!(event.extra["delivery_attempt"], 3);
    assert_eq!(event.extra["schema_version"], 2);
    assert_eq!(
        event.event_attributes.as_ref().unwrap()["region"],
        "eu-west-1"
    );

    let EventData::UserCreated(user) = &event.data else {
        panic!("{:?}", event.data)
    };
    assert_eq!(user.id, "user_3aB0cD1eF2gH3iJ4kL5mN6oP7qS");
    // The email entry without an id is skipped; the other keeps its new fields.
    assert_eq!(user.email_addresses.len(), 1);
    assert_eq!(
        user.email_addresses[0].extra["matches_sso_connection"],
        false
    );
    assert_eq!(user.primary_email(), Some("grace@example.com"));
    // A field whose type changed reads as absent, without failing the event.
    assert_eq!(user.first_name, None);
    assert_eq!(user.last_name.as_deref(), Some("Hopper"));
    // null where an object is expected, a float where an integer is expected.
    assert!(user.public_metadata.is_empty());
    assert_eq!(user.updated_at, None);
    assert_eq!(user.created_at, Some(1_893_456_000_000));
    assert_eq!(user.image_url, None);
    // Unknown data fields are kept.
    assert_eq!(user.extra["risk_score"], 0.02);
    assert_eq!(user.extra["verified_domains"], json!(["example.com"]));
}

#[test]
fn known_type_with_mismatched_data_falls_back_to_raw_data() {
    let cases = [
        json!({"first_name": "no id"}),
        json!({"id": 42}),
        json!(null),
        json!("user_1"),
        json!([{"id": "user_1"}]),
    ];
    for data in cases {
        let body = json!({"type": "user.created", "object": "event", "data": data, "timestamp": 1});
        let event = Event::from_slice(&serde_json::to_vec(&body).unwrap()).unwrap();
        match &event.data {
            EventData::Unparsed { data: raw, error } => {
                assert_eq!(raw, &data);
                assert!(!error.is_empty());
            }
            other => panic!("{data}: {other:?}"),
        }
    }

    // A session needs its user_id.
    let body = json!({"type": "session.ended", "data": {"id": "sess_1"}});
    let event = Event::from_slice(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert!(
        matches!(&event.data, EventData::Unparsed { error, .. } if error.contains("user_id")),
        "{:?}",
        event.data
    );
}

#[test]
fn envelope_fields_are_tolerant() {
    let body = br#"{"type":"user.deleted","data":{"id":"user_1"},"timestamp":null,"instance_id":7,"object":null}"#;
    let event = Event::from_slice(body).unwrap();
    assert_eq!(event.timestamp, 0);
    assert_eq!(event.instance_id, None);
    assert_eq!(event.object, "");
    assert_eq!(event.event_attributes, None);
    assert!(matches!(&event.data, EventData::UserDeleted(d) if d.id == "user_1" && !d.deleted));
}

#[test]
fn a_body_that_is_not_an_event_is_refused() {
    let cases: [&[u8]; 7] = [
        b"[]",
        b"\"user.created\"",
        b"{}",
        br#"{"type": 1, "data": {}}"#,
        br#"{"type": null}"#,
        b"null",
        b"42",
    ];
    for body in cases {
        assert!(
            matches!(Event::from_slice(body), Err(WebhookError::NotAnEvent(_))),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn invalid_json_is_refused() {
    let cases: [&[u8]; 8] = [
        b"",
        b"{",
        b"{\"type\":\"user.created\"} trailing",
        b"\xef\xbb\xbf{\"type\":\"user.created\"}",
        b"{\"type\":\"user.created\",\"timestamp\":NaN}",
        b"{\"type\":\"user.created\",}",
        b"{'type':'user.created'}",
        b"{\"type\":\"\xff\"}",
    ];
    for body in cases {
        assert!(
            matches!(Event::from_slice(body), Err(WebhookError::InvalidJson(_))),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

fn nested(depth: usize) -> Vec<u8> {
    // The envelope is level 1; `data` adds levels 2..=depth.
    let inner = depth - 1;
    format!(
        r#"{{"type":"email.created","data":{}{}}}"#,
        "[".repeat(inner),
        "]".repeat(inner)
    )
    .into_bytes()
}

#[test]
fn json_nested_deeper_than_the_limit_is_refused() {
    assert!(Event::from_slice(&nested(MAX_JSON_DEPTH)).is_ok());
    assert!(matches!(
        Event::from_slice(&nested(MAX_JSON_DEPTH + 1)),
        Err(WebhookError::JsonTooDeep)
    ));
    // Far deeper than serde_json's own limit: refused without overflowing the stack.
    assert!(matches!(
        Event::from_slice(&nested(100_000)),
        Err(WebhookError::InvalidJson(_))
    ));
}

#[test]
fn duplicate_keys_keep_the_last_value() {
    let body =
        br#"{"type":"user.created","type":"user.deleted","data":{"id":"user_1","id":"user_2"}}"#;
    let event = Event::from_slice(body).unwrap();
    assert_eq!(event.type_, "user.deleted");
    assert!(matches!(&event.data, EventData::UserDeleted(d) if d.id == "user_2"));
}

#[test]
fn events_serialize_back_to_the_same_json() {
    for name in [
        "user.created",
        "user.updated",
        "user.deleted",
        "session.revoked",
        "organization.created",
        "organizationMembership.created",
        "email.created",
    ] {
        let original: Value = serde_json::from_slice(&fixture(name)).unwrap();
        let event = parse(name);
        assert_eq!(serde_json::to_value(&event).unwrap(), original, "{name}");
        // And `Event` deserializes from any serde source the same way.
        let again: Event = serde_json::from_value(original).unwrap();
        assert_eq!(again, event, "{name}");
    }
}

#[test]
fn signed_fixtures_verify_and_parse() {
    let webhook = Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .unwrap()
        .with_clock(FixedClock::at_secs(1_716_883_200));
    for name in [
        "user.created",
        "organizationMembership.created",
        "email.created",
    ] {
        let body = fixture(name);
        let mut headers = http::HeaderMap::new();
        headers.insert("svix-id", "msg_fixture".parse().unwrap());
        headers.insert("svix-timestamp", "1716883200".parse().unwrap());
        headers.insert(
            "svix-signature",
            webhook
                .sign("msg_fixture", 1_716_883_200, &body)
                .parse()
                .unwrap(),
        );
        let event = webhook.verify_event(&headers, &body).unwrap();
        assert_eq!(event, parse(name));
    }
}
