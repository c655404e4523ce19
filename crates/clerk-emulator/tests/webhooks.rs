//! Webhook delivery over real HTTP to a receiver on loopback that checks every signature
//! itself (its own HMAC, and clerk-webhooks' verifier): retries, the same `svix-id` on every
//! attempt, order, pause, out-of-order and duplicate deliveries, and signed deliveries made by
//! hand.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clerk_emulator::{unix_now, Emulator, NewOrganization, NewUser, SigningKey, UserUpdate};
use ring::hmac;
use serde_json::{json, Value};

fn emulator() -> Emulator {
    let emulator = Emulator::with_key(SigningKey::test_key());
    emulator.set_retry_schedule([Duration::from_millis(50); 3]);
    emulator
}

/// What the receiver does with one request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Waits this long, then answers 204.
    Slow(Duration),
}

#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: i64,
    signature: String,
    content_type: String,
    body: String,
    headers: HeaderMap,
}

impl Received {
    fn event(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    fn type_(&self) -> String {
        self.event()["type"].as_str().unwrap().to_owned()
    }
}

#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

impl Receiver {
    /// Serves the receiver on a free loopback port; returns its URL.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/clerk", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/webhooks/clerk", post(receive))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn types(&self) -> Vec<String> {
        self.received().iter().map(Received::type_).collect()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    receiver.received.lock().unwrap().push(Received {
        id: header("svix-id"),
        timestamp: header("svix-timestamp").parse().unwrap(),
        signature: header("svix-signature"),
        content_type: header("content-type"),
        body,
        headers: headers.clone(),
    });
    let reply = receiver
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Reply::Status(204));
    match reply {
        Reply::Status(code) => StatusCode::from_u16(code).unwrap(),
        Reply::Slow(delay) => {
            tokio::time::sleep(delay).await;
            StatusCode::NO_CONTENT
        }
    }
}

/// The test's own Svix signature check: base64-decode the secret after `whsec_`, HMAC-SHA256
/// over `{id}.{timestamp}.{body}`, compare with each `v1,` entry.
fn signature_is_valid(secret: &str, received: &Received) -> bool {
    let key_bytes = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes);
    let signed = format!("{}.{}.{}", received.id, received.timestamp, received.body);
    received.signature.split(' ').any(|entry| {
        entry.strip_prefix("v1,").is_some_and(|sig| {
            STANDARD
                .decode(sig)
                .is_ok_and(|sig| hmac::verify(&key, signed.as_bytes(), &sig).is_ok())
        })
    })
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn deliveries_are_signed_like_svix() {
    let receiver = Receiver::default();
    let emulator = emulator();
    emulator.set_webhook(receiver.start().await);
    let secret = emulator.webhook_secret();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(STANDARD.decode(&secret[6..]).unwrap().len(), 24);

    let ada = emulator
        .create_user(NewUser::new().email("ada@example.com").first_name("Ada"))
        .unwrap();
    assert!(emulator.wait_delivered(WAIT).await);

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let delivery = &received[0];
    assert!(delivery.id.starts_with("msg_"));
    assert!((delivery.timestamp - unix_now()).abs() <= 5, "seconds, now");
    assert!(delivery.signature.starts_with("v1,"));
    assert!(signature_is_valid(&secret, delivery));
    assert_eq!(delivery.content_type, "application/json");

    let event = delivery.event();
    assert_eq!(event["type"], "user.created");
    assert_eq!(event["object"], "event");
    assert_eq!(event["instance_id"], emulator.instance_id());
    assert!(emulator.instance_id().starts_with("ins_"));
    assert!(
        event["timestamp"].as_i64().unwrap() > 1_600_000_000_000,
        "ms"
    );
    assert!(event["event_attributes"]["http_request"]["client_ip"].is_string());
    assert!(event["event_attributes"]["http_request"]["user_agent"].is_string());
    assert_eq!(event["data"]["id"], ada.id.as_str());
    assert_eq!(event["data"]["object"], "user");
    assert_eq!(event, emulator.events()[0]);

    // clerk-webhooks accepts it as well.
    let verifier = clerk_webhooks::Webhook::new(&secret).unwrap();
    let parsed = verifier
        .verify_event(&delivery.headers, delivery.body.as_bytes())
        .unwrap();
    match parsed.data {
        clerk_webhooks::EventData::UserCreated(user) => {
            assert_eq!(user.id, ada.id);
            assert_eq!(user.primary_email(), Some("ada@example.com"));
        }
        other => panic!("unexpected data {other:?}"),
    }

    let log = emulator.deliveries();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].msg_id, delivery.id);
    assert_eq!(log[0].event_type, "user.created");
    assert_eq!(log[0].attempts, 1);
    assert_eq!(log[0].last_status, Some(204));
    assert!(log[0].delivered);
    assert!(!log[0].failed);
    assert_eq!(log[0].body, delivery.body);
}

#[tokio::test]
async fn failures_are_retried_with_the_same_message_id() {
    let receiver = Receiver::default();
    receiver.script([Reply::Status(500), Reply::Status(429), Reply::Status(200)]);
    let emulator = emulator();
    emulator.set_webhook(receiver.start().await);
    emulator
        .create_user(NewUser::new().email("ada@example.com"))
        .unwrap();
    assert!(emulator.wait_delivered(WAIT).await);

    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| r.id == received[0].id));
    assert!(received.iter().all(|r| r.body == received[0].body));
    let secret = emulator.webhook_secret();
    assert!(received.iter().all(|r| signature_is_valid(&secret, r)));
    let log = &emulator.deliveries()[0];
    assert_eq!(log.attempts, 3);
    assert_eq!(log.last_status, Some(200));
    assert_eq!(log.statuses, [Some(500), Some(429), Some(200)]);
    assert!(log.delivered);
}

#[tokio::test]
async fn timeouts_are_retried() {
    let receiver = Receiver::default();
    receiver.script([Reply::Slow(Duration::from_secs(3))]);
    let emulator = emulator();
    emulator.set_delivery_timeout(Duration::from_millis(300));
    emulator.set_webhook(receiver.start().await);
    emulator
        .create_user(NewUser::new().email("ada@example.com"))
        .unwrap();
    assert!(emulator.wait_delivered(WAIT).await);
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].id, received[1].id);
    assert_eq!(emulator.deliveries()[0].attempts, 2);
    assert_eq!(emulator.deliveries()[0].statuses, [None, Some(204)]);
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_then_redelivery_succeeds() {
    // A port that was free a moment ago: connections are refused.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/webhooks/clerk", listener.local_addr().unwrap())
    };
    let emulator = emulator();
    emulator.set_webhook(closed);
    emulator
        .create_user(NewUser::new().email("ada@example.com"))
        .unwrap();
    assert!(
        !emulator.wait_delivered(WAIT).await,
        "the schedule runs out"
    );
    let log = emulator.deliveries()[0].clone();
    assert_eq!(log.attempts, 4, "one attempt and three retries");
    assert_eq!(log.last_status, None);
    assert!(log.last_error.is_some());
    assert!(log.failed);
    assert!(!log.delivered);

    let receiver = Receiver::default();
    emulator.set_webhook(receiver.start().await);
    assert!(emulator.redeliver(&log.msg_id));
    assert!(!emulator.redeliver("msg_unknown"));
    assert!(emulator.wait_delivered(WAIT).await);
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, log.msg_id, "the same message");
    let log = emulator.deliveries()[0].clone();
    assert!(log.delivered && !log.failed);
    assert_eq!(log.attempts, 5);
}

#[tokio::test]
async fn events_arrive_in_the_order_of_the_changes() {
    let receiver = Receiver::default();
    // A failure on the way does not reorder: the queue waits for its head.
    receiver.script([Reply::Status(200), Reply::Status(503)]);
    let emulator = emulator();
    emulator.set_webhook(receiver.start().await);

    let ada = emulator
        .create_user(NewUser::new().email("ada@example.com"))
        .unwrap();
    for name in ["A", "B", "C"] {
        emulator
            .update_user(&ada.id, UserUpdate::new().first_name(name))
            .unwrap();
    }
    let session = emulator.create_session(&ada.id).unwrap();
    emulator.revoke_session(&session.id).unwrap();
    let org = emulator
        .create_organization(NewOrganization::new("Acme").created_by(ada.id.clone()))
        .unwrap();
    emulator
        .update_membership(&org.id, &ada.id, "org:member")
        .unwrap();
    emulator.remove_membership(&org.id, &ada.id).unwrap();
    emulator.delete_user(&ada.id).unwrap();
    let ended = emulator.create_session(&ada.id);
    assert!(ended.is_err(), "the user is gone");

    assert!(emulator.wait_delivered(WAIT).await);
    let expected = [
        "user.created",
        "user.updated",
        "user.updated",
        "user.updated",
        "session.created",
        "session.revoked",
        "organization.created",
        "organizationMembership.created",
        "organizationMembership.updated",
        "organizationMembership.deleted",
        "user.deleted",
    ];
    let received = receiver.received();
    assert_eq!(received.len(), expected.len() + 1, "one retry");
    assert_eq!(
        received[1].id, received[2].id,
        "the retry of the first update"
    );
    let mut messages: Vec<(String, String)> = Vec::new();
    for r in &received {
        if messages.last().map(|(id, _)| id) != Some(&r.id) {
            messages.push((r.id.clone(), r.type_()));
        }
    }
    let types: Vec<&str> = messages.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(types, expected, "one message per event, in order");

    let names: Vec<Value> = received
        .iter()
        .filter(|r| r.type_() == "user.updated")
        .map(|r| r.event()["data"]["first_name"].clone())
        .collect();
    assert_eq!(names, [json!("A"), json!("A"), json!("B"), json!("C")]);
    let updated_at: Vec<i64> = emulator
        .events()
        .iter()
        .filter(|e| e["type"] == "user.updated")
        .map(|e| e["data"]["updated_at"].as_i64().unwrap())
        .collect();
    assert!(updated_at.windows(2).all(|w| w[0] < w[1]));

    let revoked = received
        .iter()
        .find(|r| r.type_() == "session.revoked")
        .unwrap()
        .event();
    assert_eq!(revoked["data"]["status"], "revoked");
    assert_eq!(
        revoked["data"]["user"]["id"],
        ada.id.as_str(),
        "session events carry the user"
    );
    let membership = received
        .iter()
        .find(|r| r.type_() == "organizationMembership.created")
        .unwrap()
        .event();
    assert_eq!(membership["data"]["organization"]["id"], org.id.as_str());
    assert_eq!(
        membership["data"]["public_user_data"]["user_id"],
        ada.id.as_str()
    );
    let deleted = received.last().unwrap().event();
    assert_eq!(
        deleted["data"],
        json!({"object": "user", "id": ada.id, "deleted": true})
    );
}

#[tokio::test]
async fn paused_messages_can_be_delivered_out_of_order_and_twice() {
    let receiver = Receiver::default();
    let emulator = emulator();
    emulator.set_webhook(receiver.start().await);
    emulator.pause_delivery();
    let ada = emulator
        .create_user(NewUser::new().email("ada@example.com"))
        .unwrap();
    emulator
        .update_user(&ada.id, UserUpdate::new().first_name("Ada"))
        .unwrap();
    assert!(!emulator.wait_delivered(Duration::from_millis(300)).await);
    assert!(receiver.received().is_empty());
    let log = emulator.deliveries();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|d| d.attempts == 0 && !d.delivered));

    // The update first, while paused.
    assert_eq!(emulator.deliver_now(&log[1].msg_id).await, Ok(204));
    assert_eq!(receiver.types(), ["user.updated"]);
    emulator.resume_delivery();
    assert!(emulator.wait_delivered(WAIT).await);
    assert_eq!(receiver.types(), ["user.updated", "user.created"]);

    // And the creation once more: a duplicate, with the same id.
    assert_eq!(emulator.deliver_now(&log[0].msg_id).await, Ok(204));
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert_eq!(received[2].id, received[1].id);
    assert_eq!(received[2].body, received[1].body);
    assert_eq!(emulator.deliveries()[0].attempts, 2);
    assert!(emulator.deliver_now("msg_unknown").await.is_err());
}

#[tokio::test]
async fn no_endpoint_no_messages() {
    let emulator = emulator();
    emulator
        .create_user(NewUser::new().email("ada@example.com"))
        .unwrap();
    assert_eq!(emulator.events().len(), 1);
    assert!(emulator.deliveries().is_empty());
    assert!(emulator.wait_delivered(Duration::from_millis(10)).await);
    assert!(emulator.webhook_url().is_none());
}

#[tokio::test]
async fn signed_deliveries_for_tampering_tests() {
    let receiver = Receiver::default();
    let emulator = emulator();
    assert!(emulator.set_webhook_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    assert!(!emulator.set_webhook_secret("whsec_not base64!"));
    let secret = emulator.webhook_secret();
    assert_eq!(secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    emulator.set_webhook(receiver.start().await);
    emulator.pause_delivery();
    emulator
        .create_user(NewUser::new().email("ada@example.com"))
        .unwrap();
    let msg_id = emulator.deliveries()[0].msg_id.clone();

    let signed = emulator.signed_delivery(&msg_id).unwrap();
    assert_eq!(signed.msg_id, msg_id);
    assert_eq!(signed.body, emulator.deliveries()[0].body);
    let as_received = |body: &str, timestamp: i64| Received {
        id: signed.msg_id.clone(),
        timestamp,
        signature: signed.signature.clone(),
        content_type: String::new(),
        body: body.to_owned(),
        headers: HeaderMap::new(),
    };
    assert!(signature_is_valid(
        &secret,
        &as_received(&signed.body, signed.timestamp)
    ));
    let tampered = signed.body.replace("ada@example.com", "eve@example.com");
    assert!(!signature_is_valid(
        &secret,
        &as_received(&tampered, signed.timestamp)
    ));
    assert!(!signature_is_valid(
        &secret,
        &as_received(&signed.body, signed.timestamp + 1)
    ));
    let headers = signed.headers();
    assert_eq!(headers[0], ("svix-id", msg_id.clone()));
    assert_eq!(headers[2], ("svix-signature", signed.signature.clone()));
    assert!(emulator.signed_delivery("msg_unknown").is_none());

    let stale = emulator.sign_webhook("msg_stale", 1_000, "{}");
    assert_eq!(
        Some(stale.signature.clone()),
        clerk_emulator::webhook_signature(&secret, "msg_stale", 1_000, b"{}")
    );
    assert!(signature_is_valid(
        &secret,
        &Received {
            id: "msg_stale".into(),
            timestamp: 1_000,
            signature: stale.signature,
            content_type: String::new(),
            body: "{}".into(),
            headers: HeaderMap::new(),
        }
    ));
}

#[tokio::test]
async fn changes_over_the_backend_api_are_delivered_too() {
    let receiver = Receiver::default();
    let emulator = emulator();
    emulator.set_webhook(receiver.start().await);
    let server = emulator.serve("127.0.0.1:0").await.unwrap();
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{}/v1/users", server.api_url()))
        .bearer_auth(server.secret_key())
        .body(r#"{"email_address":["ada@example.com"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(server.wait_delivered(WAIT).await);
    assert_eq!(receiver.types(), ["user.created"]);
}
