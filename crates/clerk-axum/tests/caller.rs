//! `ClerkCaller` and `RequireScope` over real HTTP: a real axum server on a loopback port, the
//! emulator's JWKS and real RSA keys, with session tokens and the JWT forms of machine tokens
//! (verified locally, so no Backend API is involved).

use axum::routing::get;
use axum::{Json, Router};
use clerk_auth::Verifier;
use clerk_axum::{Accepts, AnyToken, ClerkAuth, ClerkCaller, ClerkLayer, RequireScope, TokenType};
use clerk_emulator::{Emulator, EmulatorServer, SigningKey, TokenBuilder, CAT_M2M};
use reqwest::StatusCode;
use serde_json::{json, Value};

clerk_axum::accepts!(Scripts = Accepts::SESSION.or(TokenType::OAuthToken));
clerk_axum::scope!(ReadReports = "reports:read");

async fn who(caller: ClerkCaller<AnyToken>) -> Json<Value> {
    Json(json!({"type": caller.token_type().as_str(), "subject": caller.subject()}))
}

async fn scripts(caller: ClerkCaller<Scripts>) -> String {
    caller.token_type().to_string()
}

async fn layered(caller: ClerkCaller) -> String {
    caller.token_type().to_string()
}

async fn report(RequireScope(caller, ..): RequireScope<ReadReports, Scripts>) -> String {
    caller.subject().to_owned()
}

async fn session_only(auth: ClerkAuth) -> String {
    auth.user_id().to_owned()
}

struct App {
    emulator: EmulatorServer,
    base: String,
    client: reqwest::Client,
}

async fn app(layer_accepts: Accepts) -> App {
    let emulator = Emulator::with_key(SigningKey::test_key())
        .serve("127.0.0.1:0")
        .await
        .expect("emulator");
    let verifier = Verifier::builder()
        .jwks_url(emulator.jwks_url())
        .build()
        .expect("verifier");
    let router = Router::new()
        .route("/who", get(who))
        .route("/scripts", get(scripts))
        .route("/layered", get(layered))
        .route("/report", get(report))
        .route("/session", get(session_only))
        .layer(ClerkLayer::new(verifier).accepts(layer_accepts));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    App {
        emulator,
        base,
        client: reqwest::Client::new(),
    }
}

impl App {
    async fn get(&self, path: &str, token: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        (response.status(), response.text().await.expect("body"))
    }

    fn m2m(&self) -> String {
        self.machine_jwt()
            .header("cat", CAT_M2M)
            .user("mch_caller")
            .claim("scopes", "mch_callee")
            .sign()
    }

    fn oauth(&self, scope: &str) -> String {
        self.machine_jwt()
            .header("typ", "at+jwt")
            .user("user_ada")
            .claim("client_id", "client_app")
            .claim("scope", scope)
            .sign()
    }

    fn machine_jwt(&self) -> TokenBuilder {
        self.emulator
            .session_token()
            .remove_claim("sid")
            .remove_claim("azp")
    }
}

fn reason(body: &str) -> String {
    let body: Value = serde_json::from_str(body).expect("JSON");
    body["reason"].as_str().expect("a reason").to_owned()
}

#[tokio::test]
async fn any_token_takes_sessions_and_each_machine_jwt() {
    let app = app(Accepts::SESSION).await;
    let session = app.emulator.session_token().user("user_ada").sign();
    for (token, expected) in [
        (
            session,
            json!({"type": "session_token", "subject": "user_ada"}),
        ),
        (
            app.m2m(),
            json!({"type": "m2m_token", "subject": "mch_caller"}),
        ),
        (
            app.oauth("a b"),
            json!({"type": "oauth_token", "subject": "user_ada"}),
        ),
    ] {
        let (status, body) = app.get("/who", &token).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), expected);
    }
}

#[tokio::test]
async fn a_type_the_route_does_not_take_is_401_token_type_mismatch() {
    let app = app(Accepts::SESSION).await;
    let (status, body) = app.get("/scripts", &app.m2m()).await;
    assert_eq!(
        (status, reason(&body)),
        (StatusCode::UNAUTHORIZED, "token-type-mismatch".into())
    );
    assert_eq!(app.get("/scripts", &app.oauth("x")).await.0, 200);
    let (status, body) = app.get("/session", &app.oauth("x")).await;
    assert_eq!(status, 401, "ClerkAuth stays session-only");
    assert_eq!(reason(&body), "token-type-mismatch");
}

#[tokio::test]
async fn the_layer_sets_what_a_route_without_its_own_types_takes() {
    let sessions = app(Accepts::SESSION).await;
    assert_eq!(sessions.get("/layered", &sessions.m2m()).await.0, 401);
    let machines = app(Accepts::only(TokenType::M2mToken)).await;
    assert_eq!(
        machines.get("/layered", &machines.m2m()).await,
        (StatusCode::OK, "m2m_token".into())
    );
    let session = machines.emulator.session_token().sign();
    assert_eq!(machines.get("/layered", &session).await.0, 401);
}

#[tokio::test]
async fn require_scope_refuses_a_machine_credential_without_it_and_lets_sessions_through() {
    let app = app(Accepts::SESSION).await;
    let (status, body) = app.get("/report", &app.oauth("reports:write")).await;
    assert_eq!(
        (status, reason(&body)),
        (StatusCode::FORBIDDEN, "missing-scope".into())
    );
    assert!(!body.contains("eyJ"), "no token in the body: {body}");
    assert_eq!(
        app.get("/report", &app.oauth("reports:read other")).await,
        (StatusCode::OK, "user_ada".into())
    );
    let session = app.emulator.session_token().user("user_grace").sign();
    assert_eq!(
        app.get("/report", &session).await,
        (StatusCode::OK, "user_grace".into())
    );
}
