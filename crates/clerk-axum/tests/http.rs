//! clerk-axum over real HTTP: a real axum server on a loopback port, the emulator's JWKS,
//! real RSA keys.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use clerk_auth::JwksOptions;
use clerk_auth::{Check, Verifier};
use clerk_axum::{
    AuthError, AuthObserver, ClerkAuth, ClerkLayer, ClerkRejection, Refused, Require,
    RequireAuthLayer, RequireFeature, RequirePermission, RequirePlan, RequireReverification,
    RequireRole, Strict,
};
use clerk_emulator::{Emulator, EmulatorServer, Fault, Organization, SigningKey};
use reqwest::StatusCode;
use serde_json::{json, Value};

clerk_axum::permission!(NotesDelete = "org:notes:delete");
clerk_axum::role!(Admin = "org:admin");
clerk_axum::feature!(Analytics = "analytics");
clerk_axum::plan!(Pro = "pro");
clerk_axum::requirement!(
    WriteNotes = Check::permission("org:notes:write").or(Check::role("org:admin"))
);

/// Copies the [`Refused`] reason a refusal carries in its extensions into a header, so that
/// the tests, on the other side of the socket, can see it.
async fn expose_refusal(mut response: axum::response::Response) -> axum::response::Response {
    if let Some(refused) = response.extensions().get::<Refused>().copied() {
        response.headers_mut().insert(
            "x-refused",
            refused.reason.parse().expect("a reason is a header value"),
        );
    }
    response
}

#[derive(Default)]
struct Counts {
    accepted: AtomicUsize,
    rejected: Mutex<Vec<String>>,
}

impl AuthObserver for Counts {
    fn rejected(&self, error: &AuthError) {
        self.rejected
            .lock()
            .expect("lock")
            .push(error.reason().to_owned());
    }
    fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::SeqCst);
    }
}

async fn me(auth: ClerkAuth) -> Json<Value> {
    Json(json!({"user_id": auth.user_id(), "org_id": auth.org_id(), "email": auth.claim("email")}))
}

async fn maybe(auth: Option<ClerkAuth>) -> String {
    auth.map_or_else(|| "anonymous".to_owned(), |a| a.user_id().to_owned())
}

async fn runtime(auth: ClerkAuth) -> Result<&'static str, ClerkRejection> {
    let needed = String::from("org:notes:") + "export";
    auth.require(&Check::permission(needed))?;
    Ok("exported")
}

struct App {
    emulator: EmulatorServer,
    base: String,
    counts: Arc<Counts>,
    client: reqwest::Client,
}

async fn app_with(configure: impl FnOnce(ClerkLayer) -> ClerkLayer, fault: Option<Fault>) -> App {
    let emulator = Emulator::with_key(SigningKey::test_key())
        .serve("127.0.0.1:0")
        .await
        .expect("emulator");
    if let Some(fault) = fault {
        emulator.set_fault(fault);
    }
    let verifier = Verifier::builder()
        .jwks_url(emulator.jwks_url())
        .authorized_parties(["http://localhost:3000"])
        .jwks_options(JwksOptions {
            timeout: std::time::Duration::from_millis(500),
            ..JwksOptions::default()
        })
        .build()
        .expect("verifier");
    let counts = Arc::new(Counts::default());
    let layer = configure(ClerkLayer::new(verifier).observer(counts.clone()));
    let protected = Router::new()
        .route("/all/hello", get(|| async { "hello" }))
        .route("/all/me", get(me))
        .layer(RequireAuthLayer::new());
    let admins = Router::new()
        .route("/admins/only", get(|| async { "admins" }))
        .layer(RequireAuthLayer::with(Check::role("org:admin")));
    let router = Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route(
            "/delete",
            get(|_: RequirePermission<NotesDelete>| async { "deleted" }),
        )
        .route("/admin", get(|_: RequireRole<Admin>| async { "admin" }))
        .route(
            "/analytics",
            get(|_: RequireFeature<Analytics>| async { "analytics" }),
        )
        .route("/pro", get(|_: RequirePlan<Pro>| async { "pro" }))
        .route(
            "/reverify",
            get(|_: RequireReverification<Strict>| async { "fresh" }),
        )
        .route("/runtime", get(runtime))
        .route(
            "/notes/write",
            get(|Require(auth, ..): Require<WriteNotes>| async move { auth.user_id().to_owned() }),
        )
        .merge(protected)
        .merge(admins)
        .layer(layer)
        .route("/unlayered", get(me))
        .layer(axum::middleware::map_response(expose_refusal));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    App {
        emulator,
        base,
        counts,
        client: reqwest::Client::new(),
    }
}

async fn app() -> App {
    app_with(|layer| layer, None).await
}

impl App {
    async fn get(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        (status, headers, response.text().await.expect("body"))
    }

    fn token(&self) -> clerk_emulator::TokenBuilder {
        self.emulator.session_token()
    }
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).expect("JSON body")
}

#[tokio::test]
async fn valid_token_reaches_the_handler_with_its_claims() {
    let app = app().await;
    let token = app
        .token()
        .user("user_1")
        .claim("email", "a@example.com")
        .sign();
    let (status, _, body) = app.get("/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json(&body),
        json!({"user_id": "user_1", "org_id": null, "email": "a@example.com"})
    );
    assert_eq!(app.counts.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn missing_token_is_401_with_www_authenticate_and_reason() {
    let app = app().await;
    let (status, headers, body) = app.get("/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    let body = json(&body);
    assert_eq!(body["error"], "unauthorized");
    assert_eq!(body["reason"], "session-token-missing");
    assert_eq!(
        *app.counts.rejected.lock().expect("lock"),
        ["session-token-missing"]
    );
}

#[tokio::test]
async fn invalid_tokens_are_401_with_clerks_reason_and_no_token_in_the_body() {
    let app = app().await;
    let cases = [
        (app.token().expires_in(-60).sign(), "token-expired"),
        (
            app.token()
                .signed_by(&SigningKey::test_key_n(1).with_kid(SigningKey::test_key().kid()))
                .sign(),
            "token-invalid-signature",
        ),
        (
            app.token().azp("https://evil.example").sign(),
            "token-invalid-authorized-parties",
        ),
        (
            app.token().issuer("https://evil.example").sign(),
            "token-invalid-issuer",
        ),
        ("not-a-token".to_owned(), "token-invalid"),
    ];
    for (token, reason) in cases {
        let (status, headers, body) = app.get("/me", Some(&token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{reason}");
        assert_eq!(
            headers["www-authenticate"],
            r#"Bearer error="invalid_token""#
        );
        assert_eq!(json(&body)["reason"], reason);
        assert!(
            !body.contains(&token),
            "{reason}: the body echoes the token"
        );
    }
}

#[tokio::test]
async fn session_cookie_is_read_when_there_is_no_header() {
    let app = app().await;
    let token = app.token().user("user_cookie").sign();
    let response = app
        .client
        .get(format!("{}/me", app.base))
        .header("cookie", format!("theme=dark; __session={token}"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json(&response.text().await.expect("body"))["user_id"],
        "user_cookie"
    );
}

#[tokio::test]
async fn optional_auth_is_anonymous_without_a_token_but_401_with_a_bad_one() {
    let app = app().await;
    assert_eq!(app.get("/maybe", None).await.2, "anonymous");
    let token = app.token().user("user_opt").sign();
    assert_eq!(app.get("/maybe", Some(&token)).await.2, "user_opt");
    let (status, _, body) = app.get("/maybe", Some("garbage")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json(&body)["reason"], "token-invalid");
}

#[tokio::test]
async fn guards_answer_403_with_the_missing_requirement() {
    let app = app().await;
    let member = app
        .token()
        .organization(
            Organization::new("org_1")
                .role("org:member")
                .permission("org:notes:read"),
        )
        .sign();
    let admin = app
        .token()
        .organization(
            Organization::new("org_1")
                .role("org:admin")
                .permissions(["org:notes:delete", "org:notes:export"]),
        )
        .plans("o:pro")
        .features(["o:analytics"])
        .sign();
    for (path, reason) in [
        ("/delete", "missing-permission"),
        ("/admin", "missing-role"),
        ("/analytics", "missing-feature"),
        ("/pro", "missing-plan"),
        ("/runtime", "missing-permission"),
        ("/admins/only", "missing-role"),
    ] {
        let (status, headers, body) = app.get(path, Some(&member)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            headers["www-authenticate"],
            r#"Bearer error="insufficient_scope""#
        );
        let body = json(&body);
        assert_eq!(
            (body["error"].as_str(), body["reason"].as_str()),
            (Some("forbidden"), Some(reason)),
            "{path}"
        );
        let (status, _, _) = app.get(path, Some(&admin)).await;
        assert_eq!(status, StatusCode::OK, "{path} as admin");
    }
    // A guard without any token is a 401, not a 403.
    assert_eq!(app.get("/delete", None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn reverification_guard_uses_clerks_error_body() {
    let app = app().await;
    let stale = app.token().fva([30, 30]).sign();
    let (status, _, body) = app.get("/reverify", Some(&stale)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let body = json(&body);
    assert_eq!(body["reason"], "reverification-required");
    assert_eq!(body["clerk_error"]["reason"], "reverification-error");
    let fresh = app.token().fva([1, 2]).sign();
    assert_eq!(app.get("/reverify", Some(&fresh)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn require_auth_layer_protects_a_whole_router_and_shares_the_session() {
    let app = app().await;
    assert_eq!(
        app.get("/all/hello", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let token = app.token().user("user_layer").sign();
    assert_eq!(app.get("/all/hello", Some(&token)).await.2, "hello");
    let (status, _, body) = app.get("/all/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["user_id"], "user_layer");
    // The layer and the handler's extractor verified once per request.
    assert_eq!(app.counts.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn unavailable_keys_are_503_with_retry_after_never_401() {
    let app = app_with(|layer| layer, Some(Fault::Status(500))).await;
    let token = app.token().sign();
    let (status, headers, body) = app.get("/me", Some(&token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "5");
    assert_eq!(json(&body)["reason"], "keys-unavailable");
}

#[tokio::test]
async fn rejections_can_be_customised() {
    let app = app_with(
        |layer| {
            layer.rejection(|error| {
                (
                    error.status(),
                    format!("custom {} {}", error.status().as_u16(), error.reason()),
                )
                    .into_response()
            })
        },
        None,
    )
    .await;
    let (status, _, body) = app.get("/me", None).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::UNAUTHORIZED, "custom 401 session-token-missing")
    );
    let member = app
        .token()
        .organization(Organization::new("org_1").role("org:member"))
        .sign();
    let (status, _, body) = app.get("/admin", Some(&member)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::FORBIDDEN, "custom 403 missing-role")
    );
}

#[tokio::test]
async fn an_extractor_without_the_layer_is_a_500_not_an_open_door() {
    let app = app().await;
    let token = app.token().sign();
    let (status, _, body) = app.get("/unlayered", Some(&token)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json(&body)["reason"], "clerk-layer-missing");
}

#[tokio::test]
async fn a_requirement_with_any_of_lets_either_alternative_in() {
    let app = app().await;
    let in_org = |role: &str, permissions: &[&str]| {
        app.token()
            .organization(
                Organization::new("org_1")
                    .role(role)
                    .permissions(permissions.iter().copied()),
            )
            .sign()
    };
    let writer = in_org("org:member", &["org:notes:write"]);
    let admin = in_org("org:admin", &[]);
    let member = in_org("org:member", &["org:notes:read"]);
    assert_eq!(
        app.get("/notes/write", Some(&writer)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/notes/write", Some(&admin)).await.0,
        StatusCode::OK
    );
    let (status, _, body) = app.get("/notes/write", Some(&member)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let body = json(&body);
    assert_eq!(body["reason"], "missing-permission");
    assert_eq!(
        body["message"],
        "This action requires the permission \"org:notes:write\" in the active organization \
         or the role \"org:admin\" in the active organization."
    );
}

#[tokio::test]
async fn every_refusal_carries_its_reason_in_the_response_extensions() {
    let app = app().await;
    let member = app
        .token()
        .organization(Organization::new("org_1").role("org:member"))
        .sign();
    for (path, token, status, reason) in [
        (
            "/me",
            None,
            StatusCode::UNAUTHORIZED,
            "session-token-missing",
        ),
        (
            "/me",
            Some("garbage"),
            StatusCode::UNAUTHORIZED,
            "token-invalid",
        ),
        (
            "/admin",
            Some(member.as_str()),
            StatusCode::FORBIDDEN,
            "missing-role",
        ),
        (
            "/notes/write",
            Some(member.as_str()),
            StatusCode::FORBIDDEN,
            "missing-permission",
        ),
        (
            "/admins/only",
            Some(member.as_str()),
            StatusCode::FORBIDDEN,
            "missing-role",
        ),
    ] {
        let (got, headers, _) = app.get(path, token).await;
        assert_eq!(got, status, "{path}");
        assert_eq!(
            headers.get("x-refused").map(|v| v.to_str().unwrap()),
            Some(reason),
            "{path}"
        );
    }
    let (status, headers, _) = app.get("/me", Some(&member)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get("x-refused").is_none());

    let down = app_with(|layer| layer, Some(Fault::Status(500))).await;
    let (status, headers, _) = down.get("/me", Some(&down.token().sign())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["x-refused"], "keys-unavailable");

    let custom = app_with(
        |layer| layer.rejection(|error| (error.status(), "custom").into_response()),
        None,
    )
    .await;
    let (status, headers, body) = custom.get("/me", None).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::UNAUTHORIZED, "custom")
    );
    assert_eq!(headers["x-refused"], "session-token-missing");
}
