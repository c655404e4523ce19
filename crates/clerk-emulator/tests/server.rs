//! The emulator over real HTTP on loopback: JWKS endpoints, secret key, counters, faults,
//! rotation and shutdown.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use clerk_emulator::{Emulator, EmulatorServer, Endpoint, Fault, SigningKey};
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

fn http() -> reqwest::Client {
    client(Duration::from_secs(10))
}

async fn get_json(url: &str) -> (u16, Value) {
    let response = http().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    )
}

async fn backend_jwks(server: &EmulatorServer, authorization: Option<&str>) -> (u16, Value) {
    let mut request = http().get(format!("{}/v1/jwks", server.api_url()));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn urls_issuer_and_publishable_key_follow_the_bound_address() {
    let server = serve().await;
    let base = format!("http://{}", server.local_addr());
    assert_eq!(server.base_url(), base);
    assert_eq!(server.jwks_url(), format!("{base}/.well-known/jwks.json"));
    assert_eq!(server.api_url(), base);
    assert_eq!(server.issuer(), base);
    let pk = server.publishable_key();
    let host = STANDARD_NO_PAD
        .decode(pk.strip_prefix("pk_test_").unwrap())
        .unwrap();
    assert_eq!(host, format!("{}$", server.local_addr()).as_bytes());
}

#[tokio::test]
async fn explicit_issuer_survives_serving() {
    let server = Emulator::with_key(SigningKey::test_key())
        .with_issuer("https://clerk.example.com")
        .serve("127.0.0.1:0")
        .await
        .unwrap();
    assert_eq!(server.issuer(), "https://clerk.example.com");
}

#[tokio::test]
async fn well_known_jwks_serves_the_published_keys() {
    let server = serve().await;
    let response = http().get(server.jwks_url()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body, json!({ "keys": [SigningKey::test_key().jwk()] }));
    assert_eq!(server.well_known_jwks_requests(), 1);
    assert_eq!(server.backend_jwks_requests(), 0);
}

#[tokio::test]
async fn backend_jwks_requires_the_secret_key() {
    let server = serve().await;
    let bearer = format!("Bearer {}", server.secret_key());
    let (status, body) = backend_jwks(&server, Some(&bearer)).await;
    assert_eq!(status, 200);
    assert_eq!(body, server.jwks());

    for wrong in [
        None,
        Some("Bearer sk_test_wrong"),
        Some(server.secret_key().as_str()),
    ] {
        let (status, body) = backend_jwks(&server, wrong).await;
        assert_eq!(status, 401, "{wrong:?}");
        let error = &body["errors"][0];
        assert_eq!(error["code"], "clerk_key_invalid");
        assert!(error["message"]
            .as_str()
            .unwrap()
            .contains("Secret Key is invalid"));
        assert!(error["long_message"].is_string());
        assert!(!body["clerk_trace_id"].as_str().unwrap().is_empty());
    }
    assert_eq!(server.backend_jwks_requests(), 4);
    assert_eq!(server.jwks_requests(), 4);
}

#[tokio::test]
async fn counters_count_concurrent_requests_and_reset() {
    let server = serve().await;
    let url = server.jwks_url();
    let client = http();
    let requests = (0..50).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move { client.get(url).send().await.unwrap().status() })
    });
    for request in requests.collect::<Vec<_>>() {
        assert_eq!(request.await.unwrap(), 200);
    }
    assert_eq!(server.requests(Endpoint::WellKnownJwks), 50);
    server.reset_counters();
    assert_eq!(server.jwks_requests(), 0);
}

#[tokio::test]
async fn status_fault_answers_with_a_clerk_error() {
    let server = serve().await;
    server.set_fault(Fault::Status(500));
    let (status, body) = get_json(&server.jwks_url()).await;
    assert_eq!(status, 500);
    assert!(body["errors"][0]["code"].is_string());
    let (status, _) = backend_jwks(&server, None).await;
    assert_eq!(status, 500, "a fault replaces the secret-key check");

    server.set_fault(Fault::Status(429));
    let response = http().get(server.jwks_url()).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(server.jwks_requests(), 3);

    server.set_fault(Fault::None);
    let (status, _) = get_json(&server.jwks_url()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn hang_fault_never_answers() {
    let server = serve().await;
    server.set_fault(Fault::Hang);
    let started = Instant::now();
    let err = client(Duration::from_millis(300))
        .get(server.jwks_url())
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(server.well_known_jwks_requests(), 1);
}

#[tokio::test]
async fn delay_fault_answers_late() {
    let server = serve().await;
    server.set_fault(Fault::Delay(Duration::from_millis(400)));
    let err = client(Duration::from_millis(100))
        .get(server.jwks_url())
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");

    let started = Instant::now();
    let (status, body) = get_json(&server.jwks_url()).await;
    assert_eq!(status, 200);
    assert_eq!(body, server.jwks());
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(server.well_known_jwks_requests(), 2);
}

#[tokio::test]
async fn garbage_empty_and_exact_bodies() {
    let server = serve().await;

    server.set_fault(Fault::Garbage);
    let response = http().get(server.jwks_url()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    server.set_fault(Fault::EmptyKeys);
    assert_eq!(
        get_json(&server.jwks_url()).await,
        (200, json!({"keys": []}))
    );

    let body = r#"{"keys":[{"kid":"a","kty":"RSA","use":"enc"},{"kid":"a"}]}"#;
    server.set_fault(Fault::Body(body.to_owned()));
    let text = http()
        .get(server.jwks_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, body);
    assert_eq!(server.jwks_requests(), 3);
}

#[tokio::test]
async fn oversized_fault_is_a_huge_valid_jwks() {
    let server = serve().await;
    let size = 4 * 1024 * 1024;
    server.set_fault(Fault::Oversized(size));
    let response = http().get(server.jwks_url()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert_eq!(text.len(), size);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["keys"], server.jwks()["keys"]);

    server.set_fault(Fault::Oversized(10));
    let (_, body) = get_json(&server.jwks_url()).await;
    assert_eq!(body["keys"], server.jwks()["keys"]);
}

#[tokio::test]
async fn faults_can_target_one_endpoint() {
    let server = serve().await;
    server.set_endpoint_fault(Endpoint::BackendJwks, Fault::Status(503));
    assert_eq!(server.fault(Endpoint::BackendJwks), Fault::Status(503));
    assert_eq!(server.fault(Endpoint::WellKnownJwks), Fault::None);
    let bearer = format!("Bearer {}", server.secret_key());
    assert_eq!(backend_jwks(&server, Some(&bearer)).await.0, 503);
    assert_eq!(get_json(&server.jwks_url()).await.0, 200);
}

#[tokio::test]
async fn rotation_shows_in_the_served_jwks() {
    let server = serve().await;
    let kids = |body: &Value| -> Vec<String> {
        body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let new = SigningKey::test_key_n(1).with_kid("ins_rotated");
    server.rotate_to(&new);
    let (_, body) = get_json(&server.jwks_url()).await;
    assert_eq!(kids(&body), [SigningKey::test_key().kid(), "ins_rotated"]);
    assert_eq!(server.session_token().header_value()["kid"], "ins_rotated");

    assert!(server.retire_key(SigningKey::test_key().kid()));
    let bearer = format!("Bearer {}", server.secret_key());
    let (_, body) = backend_jwks(&server, Some(&bearer)).await;
    assert_eq!(kids(&body), ["ins_rotated"]);
}

#[tokio::test]
async fn shutdown_ends_hanging_requests_and_closes_the_port() {
    let server = serve().await;
    let url = server.jwks_url();
    server.set_fault(Fault::Hang);
    let hanging = tokio::spawn({
        let url = url.clone();
        async move { http().get(url).send().await.map(|r| r.status().as_u16()) }
    });
    while server.well_known_jwks_requests() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown does not wait for hanging requests");
    let hanging = hanging.await.unwrap();
    assert!(matches!(hanging, Ok(503) | Err(_)), "{hanging:?}");
    assert!(client(Duration::from_secs(2))
        .get(url)
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = serve().await;
    let url = server.jwks_url();
    assert_eq!(get_json(&url).await.0, 200);
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(5);
    // A fresh client, so that no pooled connection is reused.
    while client(Duration::from_secs(1))
        .get(&url)
        .send()
        .await
        .is_ok()
    {
        assert!(Instant::now() < deadline, "the server is still answering");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
