//! The app over real HTTP, against a real emulator: its JWKS, tokens signed by its key.

use clerk_axum::Verifier;
use clerk_emulator::{Emulator, EmulatorServer, Fault, Organization, SigningKey};

/// An emulator and the app, each on a free loopback port.
struct Harness {
    emulator: EmulatorServer,
    url: String,
}

impl Harness {
    /// Starts the emulator with the fixed test key (generating an RSA key is slow), then the
    /// app with a verifier pointed at the emulator's JWKS.
    async fn start() -> Harness {
        let emulator = Emulator::with_key(SigningKey::test_key())
            .serve("127.0.0.1:0")
            .await;
        Harness::serve(emulator.unwrap()).await
    }

    /// Serves the app against an emulator already set up (a fault set before the first fetch).
    async fn serve(emulator: EmulatorServer) -> Harness {
        let verifier = Verifier::builder()
            .jwks_url(emulator.jwks_url())
            .build()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = example_testing::app(verifier);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Harness { emulator, url }
    }

    /// `GET path` with `token`: the status and the JSON body.
    async fn get(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        let request = reqwest::Client::new().get(format!("{}{path}", self.url));
        let response = request.bearer_auth(token).send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
        )
    }
}

#[tokio::test]
async fn a_valid_token_is_200() {
    let app = Harness::start().await;
    let token = app.emulator.session_token().user("user_ada").sign();
    let (status, body) = app.get("/me", &token).await;
    assert_eq!((status, body["user_id"].as_str()), (200, Some("user_ada")));
}

#[tokio::test]
async fn an_expired_token_is_401() {
    let app = Harness::start().await;
    let token = app.emulator.session_token().expires_in(-60).sign();
    let (status, body) = app.get("/me", &token).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (401, Some("token-expired"))
    );
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_401() {
    let app = Harness::start().await;
    // The header names the emulator's key; the signature is another key's.
    let forged = app
        .emulator
        .session_token()
        .signed_by(&SigningKey::test_key_n(1))
        .sign();
    let (status, body) = app.get("/me", &forged).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (401, Some("token-invalid-signature"))
    );
}

#[tokio::test]
async fn a_missing_permission_is_403() {
    let app = Harness::start().await;
    let member = Organization::new("org_1")
        .role("org:member")
        .permission("org:reports:read");
    let reader = app.emulator.session_token().organization(member).sign();
    assert_eq!(app.get("/reports", &reader).await.0, 200);

    let guest = Organization::new("org_1").role("org:guest");
    let token = app.emulator.session_token().organization(guest).sign();
    let (status, body) = app.get("/reports", &token).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (403, Some("missing-permission"))
    );
}

#[tokio::test]
async fn an_unreachable_jwks_is_503_not_401() {
    let emulator = Emulator::with_key(SigningKey::test_key())
        .serve("127.0.0.1:0")
        .await
        .unwrap();
    // Before the verifier is built: its first fetch of the keys fails.
    emulator.set_fault(Fault::Status(500));
    let app = Harness::serve(emulator).await;
    let token = app.emulator.session_token().sign();
    let (status, body) = app.get("/me", &token).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (503, Some("keys-unavailable"))
    );
}
