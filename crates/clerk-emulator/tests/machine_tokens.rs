//! Machine authentication over real HTTP on loopback: API keys, M2M tokens and OAuth access
//! tokens, their verify endpoints in Clerk's shapes (200 / 400 / 401 / 404 / 413), machine
//! secret-key scoping, the JWT forms checked with `ring` against the served JWKS, and the
//! verify endpoints' counters and faults.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_emulator::machines::{Machine, NewApiKey, NewM2mToken, NewOAuthToken};
use clerk_emulator::{
    unix_now, BackendError, Emulator, EmulatorServer, Endpoint, Fault, SigningKey, TokenFormat,
    CAT_M2M, MACHINE_BODY_LIMIT,
};
use reqwest::Method;
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use serde_json::{json, Value};

async fn serve() -> EmulatorServer {
    Emulator::with_key(SigningKey::test_key())
        .serve("127.0.0.1:0")
        .await
        .unwrap()
}

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .unwrap()
}

/// An answer: status, `Content-Type`, and the body as JSON (or as a string if it is not).
struct Answer {
    status: u16,
    content_type: Option<String>,
    body: Value,
}

async fn send(
    server: &EmulatorServer,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let mut request =
        client(Duration::from_secs(10)).request(method, format!("{}{path}", server.api_url()));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        content_type,
        body,
    }
}

async fn post(server: &EmulatorServer, path: &str, key: &str, body: Value) -> Answer {
    send(
        server,
        Method::POST,
        path,
        Some(key),
        Some(&body.to_string()),
    )
    .await
}

async fn post_raw(server: &EmulatorServer, path: &str, key: Option<&str>, body: &str) -> Answer {
    send(server, Method::POST, path, key, Some(body)).await
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

fn assert_clerk_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    let errors = answer.body["errors"].as_array().expect("an `errors` array");
    assert_eq!(errors.len(), 1, "{}", answer.body);
    assert_eq!(errors[0]["code"], code, "{}", answer.body);
    assert!(errors[0]["message"].is_string(), "{}", answer.body);
    assert!(errors[0]["long_message"].is_string(), "{}", answer.body);
}

fn is_hex_id(id: &Value, prefix: &str) -> bool {
    id.as_str()
        .and_then(|id| id.strip_prefix(prefix))
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn now_ms() -> i64 {
    unix_now() * 1000
}

/// The header and payload of a compact JWS, after checking its RS256 signature with the key
/// the served JWKS publishes under the header's `kid`.
async fn verified_jwt(server: &EmulatorServer, token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let json =
        |s: &str| -> Value { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap() };
    let (header, payload) = (json(parts[0]), json(parts[1]));
    let jwks: Value = serde_json::from_str(
        &client(Duration::from_secs(10))
            .get(server.jwks_url())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the JWKS publishes the token's kid");
    let component = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    RsaPublicKeyComponents {
        n: component("n"),
        e: component("e"),
    }
    .verify(
        &RSA_PKCS1_2048_8192_SHA256,
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
    )
    .expect("the signature verifies with the published key");
    (header, payload)
}

/// Three machines: `orders` may talk to `billing`; `audit` to nobody.
fn machines(server: &EmulatorServer) -> (Machine, Machine, Machine) {
    let billing = server.create_machine("billing", &[]).unwrap();
    let orders = server.create_machine("orders", &[&billing.id]).unwrap();
    let audit = server.create_machine("audit", &[]).unwrap();
    (orders, billing, audit)
}

// ---- API keys ----

#[tokio::test]
async fn api_key_verify_answers_clerks_api_key_object() {
    let server = serve().await;
    let created = server
        .create_api_key(
            NewApiKey::new("user_2xhFjEI5X2qWRvtV13BzSj8H6Dk", "MY_SERVICE_API_KEY")
                .description("for the nightly job")
                .scopes(["read", "write"])
                .claims(json!({"foo": "bar"}))
                .created_by("user_2xhFjEI5X2qWRvtV13BzSj8H6Dk")
                .seconds_until_expiration(3600),
        )
        .unwrap();
    let answer = post(
        &server,
        "/api_keys/verify",
        &server.secret_key(),
        json!({"secret": created.secret}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    let key = &answer.body;
    assert_eq!(
        keys(key),
        BTreeSet::from([
            "object",
            "id",
            "type",
            "subject",
            "name",
            "description",
            "claims",
            "scopes",
            "revoked",
            "revocation_reason",
            "expired",
            "expiration",
            "created_by",
            "last_used_at",
            "created_at",
            "updated_at",
        ])
    );
    assert_eq!(key["object"], "api_key");
    assert!(is_hex_id(&key["id"], "ak_"), "{key}");
    assert_eq!(key["id"], created.api_key.id);
    assert_eq!(key["type"], "api_key");
    assert_eq!(key["subject"], "user_2xhFjEI5X2qWRvtV13BzSj8H6Dk");
    assert_eq!(key["name"], "MY_SERVICE_API_KEY");
    assert_eq!(key["description"], "for the nightly job");
    assert_eq!(key["claims"], json!({"foo": "bar"}));
    assert_eq!(key["scopes"], json!(["read", "write"]));
    assert_eq!(key["revoked"], false);
    assert_eq!(key["revocation_reason"], Value::Null);
    assert_eq!(key["expired"], false);
    assert_eq!(key["created_by"], "user_2xhFjEI5X2qWRvtV13BzSj8H6Dk");
    let created_at = key["created_at"].as_i64().unwrap();
    assert!((created_at - now_ms()).abs() < 5_000, "created_at is in ms");
    assert_eq!(key["updated_at"], created_at);
    assert_eq!(key["expiration"], created_at + 3_600_000);
    let used = key["last_used_at"]
        .as_i64()
        .expect("verification marks the key used");
    assert!(used > created_at);
    assert_eq!(
        server.api_key(&created.api_key.id).unwrap().last_used_at,
        Some(used)
    );
    assert!(
        key.get("secret").is_none(),
        "verification does not echo the secret"
    );
}

#[tokio::test]
async fn api_key_secrets_are_base64_and_differ_from_ids() {
    let server = serve().await;
    let mut alphabet = BTreeSet::new();
    for _ in 0..20 {
        let created = server
            .create_api_key(NewApiKey::new("org_2xhFjEI5X2qWRvtV13BzSj8H6Dk", "key"))
            .unwrap();
        let rest = created.secret.strip_prefix("ak_").unwrap();
        assert_eq!(rest.len(), 44);
        assert!(rest.ends_with('='));
        assert!(rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)));
        assert_ne!(created.secret, created.api_key.id);
        alphabet.extend(rest.bytes().filter(|b| b"+/".contains(b)));
    }
    assert!(!alphabet.is_empty(), "20 secrets hold a `+` or a `/`");
}

#[tokio::test]
async fn api_key_created_over_http_shows_its_secret_once() {
    let server = serve().await;
    let answer = post(
        &server,
        "/api_keys",
        &server.secret_key(),
        json!({
            "name": "ci-pipeline",
            "subject": "mch_2xhFjEI5X2qWRvtV13BzSj8H6Dk",
            "scopes": ["deploy"],
            "claims": {"env": "staging"},
            "seconds_until_expiration": 90.5,
        }),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let created = &answer.body;
    assert_eq!(created["object"], "api_key");
    assert_eq!(created["type"], "api_key");
    assert_eq!(created["description"], Value::Null);
    assert_eq!(created["created_by"], Value::Null);
    assert_eq!(created["last_used_at"], Value::Null);
    assert_eq!(
        created["expiration"].as_i64().unwrap() - created["created_at"].as_i64().unwrap(),
        91_000,
        "fractional seconds round up"
    );
    let secret = created["secret"].as_str().unwrap();
    let verified = post(
        &server,
        "/api_keys/verify",
        &server.secret_key(),
        json!({"secret": secret}),
    )
    .await;
    assert_eq!(verified.status, 200);
    assert_eq!(verified.body["id"], created["id"]);
    assert_eq!(verified.body["subject"], "mch_2xhFjEI5X2qWRvtV13BzSj8H6Dk");
    assert_eq!(verified.body["claims"], json!({"env": "staging"}));
    assert_eq!(server.backend_api_requests(), 1);
}

#[tokio::test]
async fn api_key_creation_refuses_what_clerk_refuses() {
    let server = serve().await;
    let key = server.secret_key();
    for body in [
        json!({"name": "ok-name"}),
        json!({"subject": "user_2abc"}),
        json!({"name": "ok-name", "subject": "sess_2abc"}),
        json!({"name": "ab", "subject": "user_2abc"}),
        json!({"name": " padded ", "subject": "user_2abc"}),
        json!({"name": "ok-name", "subject": "user_2abc", "seconds_until_expiration": 0}),
        json!({"name": "ok-name", "subject": "user_2abc", "created_by": "org_2abc"}),
        json!({"name": "ok-name", "subject": "user_2abc", "type": "ab"}),
        json!({"name": "ok-name", "subject": "user_2abc", "unknown": 1}),
    ] {
        let answer = post(&server, "/api_keys", &key, body.clone()).await;
        assert_eq!(answer.status, 400, "{body} → {}", answer.body);
    }
    let error = server
        .create_api_key(NewApiKey::new("nobody", "name"))
        .unwrap_err();
    assert_eq!(error.status(), 400);
    assert_eq!(error.code(), "bad_request");
}

#[tokio::test]
async fn unknown_revoked_and_expired_api_keys_are_not_found() {
    let server = serve().await;
    let key = server.secret_key();
    let unknown = post(
        &server,
        "/api_keys/verify",
        &key,
        json!({"secret": "ak_LCWGdaM8mv8K4PC/57IICZQXAeWfCgF30DZaFXHoGn9="}),
    )
    .await;
    assert_clerk_error(&unknown, 404, "resource_not_found");
    assert_eq!(unknown.body["errors"][0]["message"], "API key not found");

    let revoked = server
        .create_api_key(NewApiKey::new("user_2abc", "revoked"))
        .unwrap();
    let answer = post(
        &server,
        &format!("/api_keys/{}/revoke", revoked.api_key.id),
        &key,
        json!({"revocation_reason": "leaked"}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["revoked"], true);
    assert_eq!(answer.body["revocation_reason"], "leaked");
    assert!(answer.body["updated_at"].as_i64() > answer.body["created_at"].as_i64());
    let answer = post(
        &server,
        "/api_keys/verify",
        &key,
        json!({"secret": revoked.secret}),
    )
    .await;
    assert_clerk_error(&answer, 404, "resource_not_found");

    let expired = server
        .create_api_key(NewApiKey::new("user_2abc", "expired").seconds_until_expiration(0))
        .unwrap();
    assert!(expired.api_key.expired);
    let answer = post(
        &server,
        "/api_keys/verify",
        &key,
        json!({"secret": expired.secret}),
    )
    .await;
    assert_clerk_error(&answer, 404, "resource_not_found");
    assert_eq!(
        server.api_key(&expired.api_key.id).unwrap().last_used_at,
        None
    );

    let answer = post(
        &server,
        "/api_keys/ak_00000000000000000000000000000000/revoke",
        &key,
        json!({}),
    )
    .await;
    assert_clerk_error(&answer, 404, "resource_not_found");
    assert_eq!(server.requests(Endpoint::ApiKeyVerify), 3);
}

#[tokio::test]
async fn revoking_from_rust_keeps_the_first_reason() {
    let server = serve().await;
    let created = server
        .create_api_key(NewApiKey::new("user_2abc", "twice"))
        .unwrap();
    let first = server
        .revoke_api_key(&created.api_key.id, Some("rotated"))
        .unwrap();
    let again = server.revoke_api_key(&created.api_key.id, None).unwrap();
    assert_eq!(first, again);
    assert_eq!(again.revocation_reason.as_deref(), Some("rotated"));
    assert!(matches!(
        server.revoke_api_key("ak_nope", None),
        Err(BackendError::NotFound {
            object: "api_key",
            ..
        })
    ));
}

// ---- keys and bodies ----

#[tokio::test]
async fn verify_endpoints_refuse_a_missing_or_wrong_key_with_401() {
    let server = serve().await;
    let (orders, _, _) = machines(&server);
    for path in [
        "/api_keys/verify",
        "/m2m_tokens/verify",
        "/oauth_applications/access_tokens/verify",
    ] {
        let body = r#"{"secret":"x","token":"x","access_token":"x"}"#;
        let missing = post_raw(&server, path, None, body).await;
        assert_clerk_error(&missing, 401, "clerk_key_invalid");
        let wrong = post_raw(&server, path, Some("sk_test_wrong"), body).await;
        assert_clerk_error(&wrong, 401, "clerk_key_invalid");
    }
    for path in [
        "/api_keys/verify",
        "/oauth_applications/access_tokens/verify",
    ] {
        let answer = post(&server, path, &orders.secret_key, json!({"secret": "x"})).await;
        assert_clerk_error(&answer, 401, "clerk_key_invalid");
    }
    let answer = post(&server, "/api_keys", &orders.secret_key, json!({})).await;
    assert_clerk_error(&answer, 401, "clerk_key_invalid");
    assert_eq!(server.machine_verify_requests(), 8);
}

#[tokio::test]
async fn bodies_that_are_not_the_expected_json_are_400() {
    let server = serve().await;
    let key = server.secret_key();
    for (path, body) in [
        ("/api_keys/verify", ""),
        ("/api_keys/verify", "not json"),
        ("/api_keys/verify", "[]"),
        ("/api_keys/verify", r#"{"secret": 1}"#),
        ("/api_keys/verify", r#"{"token": "ak_x"}"#),
        ("/api_keys/verify", r#"{"secret": "ak_x", "extra": true}"#),
        ("/m2m_tokens/verify", "{}"),
        ("/m2m_tokens/verify", r#"{"secret": "mt_x"}"#),
        ("/m2m_tokens/verify", r#"{"token": "mt_x", "extra": true}"#),
        ("/m2m_tokens/verify", r#"{"token": null}"#),
        ("/oauth_applications/access_tokens/verify", "{}"),
        (
            "/oauth_applications/access_tokens/verify",
            r#"{"access_token": 7}"#,
        ),
        ("/api_keys/ak_x/revoke", r#"{"reason": "x"}"#),
    ] {
        let answer = post_raw(&server, path, Some(&key), body).await;
        assert_eq!(answer.status, 400, "{path} {body:?} → {}", answer.body);
        assert_clerk_error(&answer, 400, "request_body_invalid");
    }
    let extra = post_raw(
        &server,
        "/oauth_applications/access_tokens/verify",
        Some(&key),
        r#"{"access_token": "oat_unknown", "extra": true}"#,
    )
    .await;
    assert_clerk_error(&extra, 404, "resource_not_found");
}

#[tokio::test]
async fn oversized_bodies_are_413_in_clerks_shape() {
    let server = serve().await;
    let token = "a".repeat(MACHINE_BODY_LIMIT);
    let body = json!({ "token": token }).to_string();
    let answer = post_raw(
        &server,
        "/m2m_tokens/verify",
        Some(&server.secret_key()),
        &body,
    )
    .await;
    assert_clerk_error(&answer, 413, "request_body_too_large");
    assert_eq!(server.requests(Endpoint::M2mVerify), 1);
}

// ---- M2M tokens ----

#[tokio::test]
async fn m2m_token_created_with_a_machine_key_is_201() {
    let server = serve().await;
    let (orders, billing, _) = machines(&server);
    let answer = post(
        &server,
        "/m2m_tokens",
        &orders.secret_key,
        json!({"seconds_until_expiration": 60, "claims": {"important_metadata": "Some useful data"}}),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    let created = &answer.body;
    assert_eq!(
        keys(created),
        BTreeSet::from([
            "object",
            "id",
            "subject",
            "claims",
            "scopes",
            "token",
            "revoked",
            "revocation_reason",
            "expired",
            "expiration",
            "last_used_at",
            "created_at",
            "updated_at",
        ])
    );
    assert_eq!(created["object"], "machine_to_machine_token");
    assert!(is_hex_id(&created["id"], "mt_"), "{created}");
    let token = created["token"].as_str().unwrap();
    let rest = token.strip_prefix("mt_").unwrap();
    assert_eq!(rest.len(), 32);
    assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_ne!(created["token"], created["id"]);
    assert_eq!(created["subject"], orders.id);
    assert_eq!(created["scopes"], json!([billing.id]));
    assert_eq!(
        created["claims"],
        json!({"important_metadata": "Some useful data"})
    );
    assert_eq!(created["revoked"], false);
    assert_eq!(created["expired"], false);
    assert_eq!(created["last_used_at"], Value::Null);
    assert_eq!(
        created["expiration"].as_i64().unwrap(),
        created["created_at"].as_i64().unwrap() + 60_000
    );

    let default = post(&server, "/m2m_tokens", &orders.secret_key, json!({})).await;
    assert_eq!(default.status, 201);
    assert_eq!(
        default.body["expiration"].as_i64().unwrap() - default.body["created_at"].as_i64().unwrap(),
        3_600_000,
        "an hour by default"
    );
    assert_eq!(default.body["claims"], Value::Null);
}

#[tokio::test]
async fn m2m_token_creation_refuses_what_clerk_refuses() {
    let server = serve().await;
    let (orders, _, _) = machines(&server);
    let instance = post(&server, "/m2m_tokens", &server.secret_key(), json!({})).await;
    assert_clerk_error(&instance, 403, "authorization_invalid");
    let wrong = post(&server, "/m2m_tokens", "ak_wrong", json!({})).await;
    assert_clerk_error(&wrong, 401, "clerk_key_invalid");
    for body in [
        json!({"token_format": "paseto"}),
        json!({"seconds_until_expiration": 0}),
        json!({"seconds_until_expiration": -5}),
        json!({"min_remaining_ttl_seconds": 3600}),
        json!({"seconds_until_expiration": 60, "min_remaining_ttl_seconds": 60}),
        json!({"min_remaining_ttl_seconds": -1}),
        json!({"token_format": "jwt", "claims": ["not", "an", "object"]}),
        json!({"subject": "mch_other"}),
    ] {
        let answer = post(&server, "/m2m_tokens", &orders.secret_key, body.clone()).await;
        assert_eq!(answer.status, 400, "{body} → {}", answer.body);
    }
}

#[tokio::test]
async fn m2m_verify_answers_clerks_m2m_token_object() {
    let server = serve().await;
    let (orders, billing, _) = machines(&server);
    let created = server
        .create_m2m_token(&orders.id, NewM2mToken::new().claims(json!({"job": 7})))
        .unwrap();
    let answer = post(
        &server,
        "/m2m_tokens/verify",
        &server.secret_key(),
        json!({"token": created.token}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    let token = &answer.body;
    assert_eq!(
        keys(token),
        BTreeSet::from([
            "object",
            "id",
            "subject",
            "claims",
            "scopes",
            "revoked",
            "revocation_reason",
            "expired",
            "expiration",
            "last_used_at",
            "created_at",
            "updated_at",
        ])
    );
    assert_eq!(token["object"], "machine_to_machine_token");
    assert_eq!(token["id"], created.m2m_token.id);
    assert_eq!(token["subject"], orders.id);
    assert_eq!(token["claims"], json!({"job": 7}));
    assert_eq!(token["scopes"], json!([billing.id]));
    assert_eq!(token["revoked"], false);
    assert_eq!(token["revocation_reason"], Value::Null);
    assert_eq!(token["expired"], false);
    let created_at = token["created_at"].as_i64().unwrap();
    assert!((created_at - now_ms()).abs() < 5_000, "created_at is in ms");
    assert_eq!(token["updated_at"], created_at);
    assert_eq!(token["expiration"], created_at + 3_600_000);
    assert!(token["last_used_at"].as_i64().unwrap() > created_at);
}

#[tokio::test]
async fn a_machine_key_verifies_only_tokens_meant_for_its_machine() {
    let server = serve().await;
    let (orders, billing, audit) = machines(&server);
    let token = server
        .create_m2m_token(&orders.id, NewM2mToken::new())
        .unwrap()
        .token;
    let verify = |key: String| {
        let server = &server;
        let token = token.clone();
        async move { post(server, "/m2m_tokens/verify", &key, json!({"token": token})).await }
    };
    let by_target = verify(billing.secret_key.clone()).await;
    assert_eq!(by_target.status, 200, "the token's scopes include billing");
    assert_eq!(by_target.body["subject"], orders.id);
    assert_eq!(
        verify(orders.secret_key.clone()).await.status,
        200,
        "its own machine"
    );
    let by_outsider = verify(audit.secret_key.clone()).await;
    assert_clerk_error(&by_outsider, 404, "resource_not_found");
    assert_eq!(
        by_outsider.body["errors"][0]["message"],
        "Machine token not found"
    );
    assert_eq!(
        verify(server.secret_key()).await.status,
        200,
        "the instance sees all"
    );

    // Scopes are taken when a token is created.
    server.add_machine_scope(&orders.id, &audit.id).unwrap();
    assert_eq!(verify(audit.secret_key.clone()).await.status, 404);
    let newer = server
        .create_m2m_token(&orders.id, NewM2mToken::new())
        .unwrap();
    assert_eq!(
        newer.m2m_token.scopes,
        [billing.id.clone(), audit.id.clone()]
    );
    let answer = post(
        &server,
        "/m2m_tokens/verify",
        &audit.secret_key,
        json!({"token": newer.token}),
    )
    .await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn unknown_revoked_expired_and_jwt_m2m_tokens_are_not_found() {
    let server = serve().await;
    let (orders, billing, _) = machines(&server);
    let key = server.secret_key();
    let verify = |token: String| {
        let (server, key) = (&server, key.clone());
        async move { post(server, "/m2m_tokens/verify", &key, json!({"token": token})).await }
    };
    assert_clerk_error(
        &verify("mt_f7f0ba8c3b4843ce7d85fcdd5e71853e".to_owned()).await,
        404,
        "resource_not_found",
    );

    let revoked = server
        .create_m2m_token(&orders.id, NewM2mToken::new())
        .unwrap();
    let by_other = post(
        &server,
        &format!("/m2m_tokens/{}/revoke", revoked.m2m_token.id),
        &billing.secret_key,
        json!({}),
    )
    .await;
    assert_clerk_error(&by_other, 404, "resource_not_found");
    let by_owner = post(
        &server,
        &format!("/m2m_tokens/{}/revoke", revoked.m2m_token.id),
        &orders.secret_key,
        json!({"revocation_reason": "job done"}),
    )
    .await;
    assert_eq!(by_owner.status, 200, "{}", by_owner.body);
    assert_eq!(by_owner.body["revoked"], true);
    assert_eq!(by_owner.body["revocation_reason"], "job done");
    assert_clerk_error(&verify(revoked.token).await, 404, "resource_not_found");

    let expired = server
        .create_m2m_token(&orders.id, NewM2mToken::new().seconds_until_expiration(0))
        .unwrap();
    assert!(expired.m2m_token.expired);
    assert_clerk_error(&verify(expired.token).await, 404, "resource_not_found");

    let jwt = server
        .create_m2m_token(&orders.id, NewM2mToken::new().format(TokenFormat::Jwt))
        .unwrap();
    assert_clerk_error(&verify(jwt.token).await, 404, "resource_not_found");
    assert!(
        server.m2m_token(&jwt.m2m_token.id).is_none(),
        "JWTs are not stored"
    );
    let answer = post(
        &server,
        &format!("/m2m_tokens/{}/revoke", jwt.m2m_token.id),
        &key,
        json!({}),
    )
    .await;
    assert_clerk_error(&answer, 404, "resource_not_found");
}

#[tokio::test]
async fn m2m_list_returns_a_machines_opaque_tokens_and_their_count() {
    let server = serve().await;
    let (orders, billing, _) = machines(&server);
    let first = server
        .create_m2m_token(&orders.id, NewM2mToken::new())
        .unwrap();
    let second = server
        .create_m2m_token(&orders.id, NewM2mToken::new())
        .unwrap();
    let expired = server
        .create_m2m_token(&orders.id, NewM2mToken::new().seconds_until_expiration(-60))
        .unwrap();
    server
        .create_m2m_token(&orders.id, NewM2mToken::new().format(TokenFormat::Jwt))
        .unwrap();
    server
        .create_m2m_token(&billing.id, NewM2mToken::new())
        .unwrap();
    server.revoke_m2m_token(&first.m2m_token.id, None).unwrap();

    let list = |query: String, key: String| {
        let server = &server;
        async move {
            send(
                server,
                Method::GET,
                &format!("/m2m_tokens?{query}"),
                Some(&key),
                None,
            )
            .await
        }
    };
    let ids = |answer: &Answer| -> Vec<String> {
        answer.body["m2m_tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let live = list(format!("subject={}", orders.id), orders.secret_key.clone()).await;
    assert_eq!(live.status, 200, "{}", live.body);
    assert_eq!(
        keys(&live.body),
        BTreeSet::from(["m2m_tokens", "total_count"])
    );
    assert_eq!(ids(&live), [second.m2m_token.id.as_str()]);
    assert_eq!(live.body["total_count"], 1);
    assert!(live.body["m2m_tokens"][0].get("token").is_none());

    let all = list(
        format!("subject={}&revoked=true&expired=true", orders.id),
        server.secret_key(),
    )
    .await;
    assert_eq!(
        ids(&all),
        [
            expired.m2m_token.id.clone(),
            second.m2m_token.id.clone(),
            first.m2m_token.id.clone()
        ],
        "newest first, no JWT"
    );
    let page = list(
        format!(
            "subject={}&revoked=true&expired=true&limit=1&offset=1",
            orders.id
        ),
        server.secret_key(),
    )
    .await;
    assert_eq!(ids(&page), [second.m2m_token.id.as_str()]);
    assert_eq!(page.body["total_count"], 3);

    let others = list(format!("subject={}", orders.id), billing.secret_key.clone()).await;
    assert_clerk_error(&others, 403, "authorization_invalid");
    let no_subject = list(String::new(), server.secret_key()).await;
    assert_clerk_error(&no_subject, 400, "bad_request");
    let unknown = list("subject=mch_unknown".to_owned(), server.secret_key()).await;
    assert_clerk_error(&unknown, 404, "resource_not_found");
}

#[tokio::test]
async fn min_remaining_ttl_reuses_a_live_opaque_token() {
    let server = serve().await;
    let (orders, _, _) = machines(&server);
    let create = |body: Value| {
        let (server, key) = (&server, orders.secret_key.clone());
        async move { post(server, "/m2m_tokens", &key, body).await }
    };
    let first = create(json!({"claims": {"a": 1}})).await;
    let reused = create(json!({"claims": {"a": 1}, "min_remaining_ttl_seconds": 600})).await;
    assert_eq!(reused.status, 201);
    assert_eq!(reused.body["token"], first.body["token"]);
    assert_eq!(reused.body["id"], first.body["id"]);
    let other_claims = create(json!({"claims": {"a": 2}, "min_remaining_ttl_seconds": 600})).await;
    assert_ne!(other_claims.body["id"], first.body["id"]);
    let too_short = create(json!({
        "claims": {"a": 1}, "seconds_until_expiration": 7200, "min_remaining_ttl_seconds": 3601
    }))
    .await;
    assert_ne!(
        too_short.body["id"], first.body["id"],
        "the first has under 3601 s left"
    );
}

#[tokio::test]
async fn m2m_jwt_has_clerks_header_and_claims_and_verifies_with_the_jwks() {
    let server = serve().await;
    let (orders, billing, _) = machines(&server);
    let second = server.create_machine("ledger", &[]).unwrap();
    server.add_machine_scope(&orders.id, &second.id).unwrap();
    let answer = post(
        &server,
        "/m2m_tokens",
        &orders.secret_key,
        json!({
            "token_format": "jwt",
            "seconds_until_expiration": 300,
            "claims": {"important_metadata": "Some useful data", "sub": "mch_forged"},
        }),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let token = answer.body["token"].as_str().unwrap();
    let (header, payload) = verified_jwt(&server, token).await;
    assert_eq!(
        header,
        json!({"alg": "RS256", "cat": CAT_M2M, "kid": SigningKey::test_key().kid(), "typ": "JWT"})
    );
    assert_eq!(
        keys(&payload),
        BTreeSet::from([
            "aud",
            "exp",
            "iat",
            "important_metadata",
            "iss",
            "jti",
            "nbf",
            "scopes",
            "sub"
        ])
    );
    assert_eq!(payload["iss"], server.issuer());
    assert_eq!(payload["sub"], orders.id, "the registered claims win");
    assert_eq!(payload["aud"], json!([billing.id, second.id]));
    assert_eq!(payload["scopes"], format!("{} {}", billing.id, second.id));
    assert!(is_hex_id(&payload["jti"], "mt_"));
    assert_eq!(payload["jti"], answer.body["id"]);
    let iat = payload["iat"].as_i64().unwrap();
    assert!((iat - unix_now()).abs() < 5);
    assert_eq!(payload["nbf"], iat - 10);
    assert_eq!(payload["exp"], iat + 300);
    assert_eq!(payload["important_metadata"], "Some useful data");
    assert_eq!(answer.body["expiration"], (iat + 300) * 1000);
    assert_eq!(answer.body["created_at"], iat * 1000);

    let lonely = server.create_machine("lonely", &[]).unwrap();
    let created = server
        .create_m2m_token(&lonely.id, NewM2mToken::new().format(TokenFormat::Jwt))
        .unwrap();
    let (_, payload) = verified_jwt(&server, &created.token).await;
    assert!(payload.get("aud").is_none() && payload.get("scopes").is_none());
    assert_eq!(payload["exp"], payload["iat"].as_i64().unwrap() + 3600);
}

#[tokio::test]
async fn jwt_forms_are_signed_with_the_current_key() {
    let server = serve().await;
    server.rotate_to(&SigningKey::test_key_n(1));
    let machine = server.create_machine("worker", &[]).unwrap();
    let m2m = server
        .create_m2m_token(&machine.id, NewM2mToken::new().format(TokenFormat::Jwt))
        .unwrap();
    let (header, _) = verified_jwt(&server, &m2m.token).await;
    assert_eq!(header["kid"], SigningKey::test_key_n(1).kid());
    let oauth = server
        .create_oauth_access_token(NewOAuthToken::new("user_2abc").format(TokenFormat::Jwt))
        .unwrap();
    let (header, _) = verified_jwt(&server, &oauth.token).await;
    assert_eq!(header["kid"], SigningKey::test_key_n(1).kid());
}

// ---- OAuth access tokens ----

#[tokio::test]
async fn oauth_verify_answers_clerks_access_token_object() {
    let server = serve().await;
    let created = server
        .create_oauth_access_token(
            NewOAuthToken::new("user_2xhFjEI5X2qWRvtV13BzSj8H6Dk")
                .client_id("client_2xhFjEI5X2qWRvtV13BzSj8H6Dk")
                .scopes(["read", "write"]),
        )
        .unwrap();
    let rest = created.token.strip_prefix("oat_").unwrap();
    assert_eq!(rest.len(), 32);
    for body in [
        json!({"access_token": created.token}),
        json!({"secret": created.token}),
    ] {
        let answer = post(
            &server,
            "/oauth_applications/access_tokens/verify",
            &server.secret_key(),
            body,
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.content_type.as_deref(), Some("application/json"));
        let token = &answer.body;
        assert_eq!(
            keys(token),
            BTreeSet::from([
                "object",
                "id",
                "client_id",
                "subject",
                "scopes",
                "revoked",
                "revocation_reason",
                "expired",
                "expiration",
                "created_at",
                "updated_at",
            ])
        );
        assert_eq!(token["object"], "clerk_idp_oauth_access_token");
        assert!(is_hex_id(&token["id"], "oat_"));
        assert_eq!(token["id"], created.oauth_token.id);
        assert_eq!(token["client_id"], "client_2xhFjEI5X2qWRvtV13BzSj8H6Dk");
        assert_eq!(token["subject"], "user_2xhFjEI5X2qWRvtV13BzSj8H6Dk");
        assert_eq!(token["scopes"], json!(["read", "write"]));
        assert_eq!(token["revoked"], false);
        assert_eq!(token["revocation_reason"], Value::Null);
        assert_eq!(token["expired"], false);
        let created_at = token["created_at"].as_i64().unwrap();
        assert!((created_at - now_ms()).abs() < 5_000, "times are in ms");
        assert_eq!(token["updated_at"], created_at);
        assert_eq!(token["expiration"], created_at + 3_600_000);
    }

    let with_audience = server
        .create_oauth_access_token(
            NewOAuthToken::new("user_2abc").audience(["https://api.example.com"]),
        )
        .unwrap();
    let answer = post(
        &server,
        "/oauth_applications/access_tokens/verify",
        &server.secret_key(),
        json!({"access_token": with_audience.token}),
    )
    .await;
    assert_eq!(answer.body["aud"], json!(["https://api.example.com"]));
}

#[tokio::test]
async fn unknown_revoked_and_expired_oauth_tokens_are_not_found() {
    let server = serve().await;
    let key = server.secret_key();
    let verify = |token: String| {
        let (server, key) = (&server, key.clone());
        async move {
            post(
                server,
                "/oauth_applications/access_tokens/verify",
                &key,
                json!({"access_token": token}),
            )
            .await
        }
    };
    let unknown = verify("oat_unknown".to_owned()).await;
    assert_clerk_error(&unknown, 404, "resource_not_found");
    assert_eq!(
        unknown.body["errors"][0]["message"],
        "OAuth token not found"
    );

    let revoked = server
        .create_oauth_access_token(NewOAuthToken::new("user_2abc"))
        .unwrap();
    let after = server
        .revoke_oauth_access_token(&revoked.oauth_token.id, Some("signed out"))
        .unwrap();
    assert!(after.revoked);
    assert_clerk_error(&verify(revoked.token).await, 404, "resource_not_found");

    let expired = server
        .create_oauth_access_token(NewOAuthToken::new("user_2abc").seconds_until_expiration(0))
        .unwrap();
    assert_clerk_error(&verify(expired.token).await, 404, "resource_not_found");

    let expired_jwt = server
        .create_oauth_access_token(
            NewOAuthToken::new("user_2abc")
                .format(TokenFormat::Jwt)
                .seconds_until_expiration(-60),
        )
        .unwrap();
    let answer = verify(expired_jwt.token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body, json!({"active": false}));

    let live_jwt = server
        .create_oauth_access_token(NewOAuthToken::new("user_2abc").format(TokenFormat::Jwt))
        .unwrap();
    let answer = verify(live_jwt.token).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["id"], live_jwt.oauth_token.id);

    assert!(server
        .create_oauth_access_token(NewOAuthToken::new("org_2abc"))
        .is_err());
}

#[tokio::test]
async fn oauth_jwt_has_the_at_jwt_header_and_clerks_claims() {
    let server = serve().await;
    let created = server
        .create_oauth_access_token(
            NewOAuthToken::new("user_2vYVtestTESTtestTESTtestTESTtest")
                .client_id("client_2VTWUzvGC5UhdJCNx6xG1D98edc")
                .scopes(["read:foo", "write:bar"])
                .audience(["https://api.example.com"])
                .format(TokenFormat::Jwt)
                .seconds_until_expiration(300),
        )
        .unwrap();
    let (header, payload) = verified_jwt(&server, &created.token).await;
    assert_eq!(
        header,
        json!({"alg": "RS256", "kid": SigningKey::test_key().kid(), "typ": "at+jwt"})
    );
    assert_eq!(
        keys(&payload),
        BTreeSet::from([
            "aud",
            "client_id",
            "exp",
            "iat",
            "iss",
            "jti",
            "nbf",
            "scope",
            "sub"
        ])
    );
    assert_eq!(payload["iss"], server.issuer());
    assert_eq!(payload["sub"], "user_2vYVtestTESTtestTESTtestTESTtest");
    assert_eq!(payload["client_id"], "client_2VTWUzvGC5UhdJCNx6xG1D98edc");
    assert_eq!(payload["scope"], "read:foo write:bar");
    assert_eq!(payload["aud"], json!(["https://api.example.com"]));
    assert_eq!(payload["jti"], created.oauth_token.id);
    let iat = payload["iat"].as_i64().unwrap();
    assert_eq!(payload["nbf"], iat - 10);
    assert_eq!(payload["exp"], iat + 300);
    assert_eq!(created.oauth_token.expiration, Some((iat + 300) * 1000));
}

// ---- machines ----

#[tokio::test]
async fn machines_scope_only_existing_machines() {
    let server = serve().await;
    assert!(matches!(
        server.create_machine("orders", &["mch_unknown"]),
        Err(BackendError::NotFound {
            object: "machine",
            ..
        })
    ));
    assert!(server.create_machine("", &[]).is_err());
    let billing = server.create_machine("billing", &[]).unwrap();
    let orders = server
        .create_machine("orders", &[&billing.id, &billing.id])
        .unwrap();
    assert_eq!(orders.scopes, [billing.id.as_str()], "scopes are distinct");
    assert_eq!(server.machine(&orders.id), Some(orders.clone()));
    assert_ne!(orders.secret_key, billing.secret_key);
    assert!(server.add_machine_scope(&orders.id, "mch_unknown").is_err());
    assert!(matches!(
        server.create_m2m_token("mch_unknown", NewM2mToken::new()),
        Err(BackendError::NotFound {
            object: "machine",
            ..
        })
    ));
}

// ---- counters and faults ----

#[tokio::test]
async fn each_verify_endpoint_has_its_own_counter() {
    let server = serve().await;
    let key = server.secret_key();
    let body = json!({"secret": "x", "token": "x", "access_token": "x"}).to_string();
    let _ = post_raw(&server, "/api_keys/verify", Some(&key), &body).await;
    for _ in 0..2 {
        let _ = post(
            &server,
            "/m2m_tokens/verify",
            &key,
            json!({"token": "mt_x"}),
        )
        .await;
    }
    for _ in 0..3 {
        let _ = post(
            &server,
            "/oauth_applications/access_tokens/verify",
            &key,
            json!({"access_token": "oat_x"}),
        )
        .await;
    }
    let _ = post(&server, "/api_keys", &key, json!({})).await;
    assert_eq!(
        server.requests(Endpoint::ApiKeyVerify),
        1,
        "rejected requests count"
    );
    assert_eq!(server.requests(Endpoint::M2mVerify), 2);
    assert_eq!(server.requests(Endpoint::OAuthVerify), 3);
    assert_eq!(server.machine_verify_requests(), 6);
    assert_eq!(
        server.backend_api_requests(),
        1,
        "creation is a Backend API call"
    );
    assert_eq!(server.jwks_requests(), 0);
    server.reset_counters();
    assert_eq!(server.machine_verify_requests(), 0);
}

#[tokio::test]
async fn verify_faults_work_like_the_jwks_faults() {
    let server = serve().await;
    let created = server
        .create_api_key(NewApiKey::new("user_2abc", "faulted"))
        .unwrap();
    let key = server.secret_key();
    let verify = || {
        post(
            &server,
            "/api_keys/verify",
            &key,
            json!({"secret": created.secret}),
        )
    };

    server.set_endpoint_fault(Endpoint::ApiKeyVerify, Fault::Status(503));
    assert_eq!(server.fault(Endpoint::ApiKeyVerify), Fault::Status(503));
    assert_eq!(server.fault(Endpoint::M2mVerify), Fault::None);
    assert_clerk_error(&verify().await, 503, "emulated_fault");
    let unauthenticated = post_raw(&server, "/api_keys/verify", None, "{}").await;
    assert_eq!(
        unauthenticated.status, 503,
        "a fault replaces the key check"
    );
    let m2m = post(
        &server,
        "/m2m_tokens/verify",
        &key,
        json!({"token": "mt_x"}),
    )
    .await;
    assert_eq!(m2m.status, 404, "other endpoints answer normally");

    server.set_endpoint_fault(Endpoint::ApiKeyVerify, Fault::FailFirst(1, 429));
    assert_eq!(verify().await.status, 429);
    assert_eq!(verify().await.status, 200);

    server.set_machine_verify_fault(Fault::Hang);
    let started = Instant::now();
    let err = client(Duration::from_millis(300))
        .post(format!(
            "{}/oauth_applications/access_tokens/verify",
            server.api_url()
        ))
        .bearer_auth(&key)
        .body(r#"{"access_token":"oat_x"}"#)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    server.set_machine_verify_fault(Fault::Delay(Duration::from_millis(300)));
    let started = Instant::now();
    assert_eq!(verify().await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    server.set_machine_verify_fault(Fault::Garbage);
    let garbage = verify().await;
    assert_eq!(garbage.status, 200);
    assert!(garbage.body.is_string(), "not JSON: {}", garbage.body);

    server.set_machine_verify_fault(Fault::Body(
        r#"{"object":"api_key","id":"ak_seconds","expiration":1716883200}"#.to_owned(),
    ));
    assert_eq!(verify().await.body["expiration"], 1_716_883_200);

    server.set_machine_verify_fault(Fault::None);
    assert_eq!(verify().await.status, 200);
    assert_eq!(server.requests(Endpoint::ApiKeyVerify), 8);
    assert_eq!(server.requests(Endpoint::OAuthVerify), 1);
}
