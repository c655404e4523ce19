//! `GET /protected` and the 401/503 refusals: the token alone decides, with Clerk's reasons.

use clerk_emulator::{unix_now, Compact, Fault};
use reqwest::Method;

use crate::support::{clerk, Db, TestApp};

#[tokio::test]
async fn protected_returns_the_user_and_email_claim() {
    let app = TestApp::start(Db::Sqlite).await;
    let token = app
        .clerk
        .session_token()
        .user("user_ada")
        .claim("email", "ada@example.com")
        .sign();
    let reply = app.get("/protected", &token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json,
        serde_json::json!({"user_id": "user_ada", "email": "ada@example.com"})
    );
}

#[tokio::test]
async fn protected_email_is_null_without_the_claim() {
    let app = TestApp::start(Db::Sqlite).await;
    let reply = app.get("/protected", &app.token("user_plain")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json,
        serde_json::json!({"user_id": "user_plain", "email": null})
    );
}

#[tokio::test]
async fn the_session_cookie_is_accepted() {
    let app = TestApp::start(Db::Sqlite).await;
    let response = app
        .client
        .get(app.url("/protected"))
        .header(
            "cookie",
            format!("theme=dark; __session={}", app.token("user_cookie")),
        )
        .send()
        .await
        .unwrap();
    let reply = crate::support::read(response).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["user_id"], "user_cookie");
}

#[tokio::test]
async fn a_missing_token_is_401_with_www_authenticate() {
    let app = TestApp::start(Db::Sqlite).await;
    for path in ["/protected", "/v1/me", "/v1/notes", "/v1/notes/x"] {
        let reply = app.call(Method::GET, path, None, None).await;
        assert_eq!(reply.status, 401, "{path}");
        assert_eq!(
            reply.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
        assert_eq!(reply.json["error"], "unauthorized");
        assert_eq!(reply.json["reason"], "session-token-missing");
        assert!(reply.json["message"].is_string());
    }
}

#[tokio::test]
async fn refused_tokens_are_401_with_clerks_reason() {
    let app = TestApp::start(Db::Sqlite).await;
    let now = unix_now();
    let valid = || app.clerk.session_token().user("user_x");
    let cases = [
        ("token-expired", valid().at(now - 3600).sign()),
        ("token-not-active-yet", valid().nbf(now + 600).sign()),
        ("token-iat-in-the-future", valid().iat(now + 600).sign()),
        (
            "token-invalid-issuer",
            valid().issuer("https://evil.example.com").sign(),
        ),
        (
            "token-invalid-signature",
            valid().compact().corrupt_signature().to_string(),
        ),
        ("token-invalid", "not-a-jwt".to_owned()),
        (
            "token-invalid-algorithm",
            Compact::from_json(r#"{"alg":"none"}"#, r#"{"sub":"user_x"}"#).to_string(),
        ),
        ("token-type-mismatch", valid().remove_claim("sid").sign()),
        ("session-pending", valid().status("pending").sign()),
        (
            "jwk-kid-mismatch",
            valid().header("kid", "ins_unknown").sign(),
        ),
    ];
    for (reason, token) in cases {
        let reply = app.get("/protected", &token).await;
        assert_eq!(reply.status, 401, "{reason}: {}", reply.text);
        assert_eq!(reply.json["reason"], reason, "{}", reply.text);
        assert_eq!(reply.json["error"], "unauthorized");
        assert_eq!(
            reply.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
        assert!(!reply.text.contains(&token), "the body echoes the token");
    }
}

#[tokio::test]
async fn authorized_parties_are_enforced_when_configured() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.clerk.clerk_authorized_parties = vec!["https://app.example.com".into()];
    })
    .await;
    let ours = app
        .clerk
        .session_token()
        .azp("https://app.example.com")
        .sign();
    assert_eq!(app.get("/protected", &ours).await.status, 200);
    let theirs = app
        .clerk
        .session_token()
        .azp("https://other.example.com")
        .sign();
    let reply = app.get("/protected", &theirs).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json["reason"], "token-invalid-authorized-parties");
}

#[tokio::test]
async fn unavailable_keys_are_503_with_retry_after_not_401() {
    let clerk = clerk().await;
    clerk.set_fault(Fault::Status(500));
    let token = clerk.session_token().sign();
    let app = TestApp::start_with_clerk(clerk, Db::Sqlite, |_| {}).await;
    let reply = app.get("/protected", &token).await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.json["reason"], "keys-unavailable");
    assert!(reply.header("retry-after").is_some());
    assert!(reply.header("www-authenticate").is_none());
}
