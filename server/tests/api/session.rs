//! `GET /v1/me`: the session's claims and the stored profile; `?fresh=true` from Clerk's
//! Backend API.

use clerk_emulator::{Fault, NewUser};
use serde_json::json;

use crate::events::{event, user};
use crate::support::{clerk, on_both_databases, Db, TestApp};

on_both_databases!(
    me_outside_an_organization_has_no_org_and_no_profile_yet,
    me_in_an_organization_has_its_role_and_permissions,
    me_returns_the_stored_profile_and_hides_deleted_users,
    fresh_returns_what_clerk_has_now_and_stores_it,
);

async fn me_outside_an_organization_has_no_org_and_no_profile_yet(db: Db) {
    let app = TestApp::start(db).await;
    let token = app
        .clerk
        .session_token()
        .user("user_ada")
        .session("sess_1")
        .sign();
    let reply = app.get("/v1/me", &token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json,
        json!({
            "token_type": "session_token",
            "user_id": "user_ada",
            "session_id": "sess_1",
            "org_id": null,
            "org_role": null,
            "org_permissions": [],
            "profile": null,
        })
    );
}

async fn me_in_an_organization_has_its_role_and_permissions(db: Db) {
    let app = TestApp::start(db).await;
    let token = app.org_token(
        "user_ada",
        "org_acme",
        "org:admin",
        &["org:notes:write", "org:notes:delete"],
    );
    let reply = app.get("/v1/me", &token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["org_id"], "org_acme");
    assert_eq!(reply.json["org_role"], "org:admin");
    assert_eq!(
        reply.json["org_permissions"],
        json!(["org:notes:write", "org:notes:delete"])
    );
}

async fn me_returns_the_stored_profile_and_hides_deleted_users(db: Db) {
    let app = TestApp::start(db).await;
    let pool = app.server().state().db().pool().clone();
    for (id, deleted) in [("user_ada", false), ("user_gone", true)] {
        sqlx::query(
            "INSERT INTO users (id, email, first_name, last_name, image_url, public_metadata, \
             updated_at, deleted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind("ada@example.com")
        .bind("Ada")
        .bind("Lovelace")
        .bind(None::<String>)
        .bind(r#"{"plan":"pro"}"#)
        .bind(1_767_225_599_999_i64)
        .bind(deleted)
        .execute(&pool)
        .await
        .expect("insert a user");
    }
    let reply = app.get("/v1/me", &app.token("user_ada")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json["profile"],
        json!({
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "image_url": null,
            "public_metadata": {"plan": "pro"},
            "updated_at": "2025-12-31T23:59:59.999Z",
        })
    );
    let reply = app.get("/v1/me", &app.token("user_gone")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["profile"], json!(null));
}

/// The server with the Backend API of its emulator configured.
async fn with_backend_api(db: Db) -> TestApp {
    let clerk = clerk().await;
    let (secret_key, api_url) = (clerk.secret_key(), clerk.api_url().to_owned());
    TestApp::start_with_clerk(clerk, db, |c| {
        c.clerk.clerk_secret_key = Some(secret_key.into());
        c.clerk.clerk_api_url = Some(api_url);
        // These tests call fresh=true in quick succession; the limit has a test of its own.
        c.fresh_profile_burst = 100;
    })
    .await
}

async fn fresh_returns_what_clerk_has_now_and_stores_it(db: Db) {
    let app = with_backend_api(db).await;
    let ada = app
        .clerk
        .create_user(
            NewUser::new()
                .email("ada@example.com")
                .first_name("Ada")
                .public_metadata(json!({"plan": "free"})),
        )
        .unwrap();
    let token = app.token(&ada.id);
    // No webhook reached this server.
    assert_eq!(app.get("/v1/me", &token).await.json["profile"], json!(null));
    let reply = app.get("/v1/me?fresh=true", &token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["profile"]["email"], "ada@example.com");
    assert_eq!(
        reply.json["profile"]["public_metadata"],
        json!({"plan": "free"})
    );

    app.clerk
        .update_user_metadata(&ada.id, json!({"public_metadata": {"plan": "pro"}}))
        .unwrap();
    let stored = app.get("/v1/me", &token).await;
    assert_eq!(
        stored.json["profile"]["public_metadata"],
        json!({"plan": "free"})
    );
    let fresh = app.get("/v1/me?fresh=true", &token).await;
    assert_eq!(
        fresh.json["profile"]["public_metadata"],
        json!({"plan": "pro"})
    );
    let stored = app.get("/v1/me", &token).await;
    assert_eq!(
        stored.json["profile"]["public_metadata"],
        json!({"plan": "pro"}),
        "stored"
    );

    // A webhook older than what the Backend API gave changes nothing.
    let late = event(
        "user.updated",
        user(&ada.id, 1, "Late", json!({"plan": "free"})),
    );
    assert_eq!(app.deliver("msg_late", &late).await.status, 200);
    let stored = app.get("/v1/me", &token).await;
    assert_eq!(stored.json["profile"]["first_name"], "Ada");
    assert_eq!(
        stored.json["profile"]["public_metadata"],
        json!({"plan": "pro"})
    );

    assert_eq!(app.get("/v1/me?fresh=maybe", &token).await.status, 400);
}

#[tokio::test]
async fn fresh_without_a_secret_key_is_503() {
    let app = TestApp::start(Db::Sqlite).await;
    let reply = app.get("/v1/me?fresh=true", &app.token("user_ada")).await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.json["error"], "unavailable");
    assert_eq!(reply.json["reason"], "backend-api-not-configured");
    assert_eq!(app.get("/v1/me", &app.token("user_ada")).await.status, 200);
}

#[tokio::test]
async fn backend_api_failures_are_502_and_never_show_the_secret_key() {
    let app = with_backend_api(Db::Sqlite).await;
    let secret_key = app.clerk.secret_key();
    let unknown = app
        .get("/v1/me?fresh=true", &app.token("user_unknown"))
        .await;
    assert_eq!(unknown.status, 502, "{}", unknown.text);
    assert_eq!(unknown.json["error"], "bad_gateway");
    assert_eq!(unknown.json["reason"], "backend-api-error");
    assert!(unknown.json["message"].as_str().unwrap().contains("404"));

    let ada = app
        .clerk
        .create_user(NewUser::new().email("ada@example.com"))
        .unwrap();
    let token = app.token(&ada.id);
    for fault in [Fault::Status(500), Fault::Status(401), Fault::Garbage] {
        app.clerk.set_backend_fault(fault.clone());
        let reply = app.get("/v1/me?fresh=true", &token).await;
        assert_eq!(reply.status, 502, "{fault:?}: {}", reply.text);
        assert_eq!(reply.json["reason"], "backend-api-error");
        assert!(!reply.text.contains(&secret_key), "{}", reply.text);
        assert!(!reply.text.contains(app.clerk.api_url()), "{}", reply.text);
    }
    app.clerk.set_backend_fault(Fault::None);
    assert_eq!(app.get("/v1/me?fresh=true", &token).await.status, 200);
}

#[tokio::test]
async fn fresh_profiles_are_limited_per_user_with_429_and_retry_after() {
    let clerk = clerk().await;
    let (secret_key, api_url) = (clerk.secret_key(), clerk.api_url().to_owned());
    let app = TestApp::start_with_clerk(clerk, Db::Sqlite, |c| {
        c.clerk.clerk_secret_key = Some(secret_key.into());
        c.clerk.clerk_api_url = Some(api_url);
        c.fresh_profile_burst = 2;
        c.fresh_profile_rate = std::time::Duration::from_secs(30);
    })
    .await;
    let ada = app
        .clerk
        .create_user(NewUser::new().email("ada@example.com"))
        .unwrap();
    let grace = app
        .clerk
        .create_user(NewUser::new().email("grace@example.com"))
        .unwrap();
    let (ada_token, grace_token) = (app.token(&ada.id), app.token(&grace.id));
    for _ in 0..2 {
        let reply = app.get("/v1/me?fresh=true", &ada_token).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let calls = app.clerk.requests(clerk_emulator::Endpoint::BackendApi);
    let limited = app.get("/v1/me?fresh=true", &ada_token).await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert_eq!(limited.json["error"], "too_many_requests");
    assert_eq!(limited.json["reason"], "fresh-profile-rate-limited");
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert_eq!(
        app.clerk.requests(clerk_emulator::Endpoint::BackendApi),
        calls,
        "no Backend API call over the limit"
    );
    // The stored profile still answers, and another user has a limit of their own.
    assert_eq!(app.get("/v1/me", &ada_token).await.status, 200);
    assert_eq!(app.get("/v1/me?fresh=true", &grace_token).await.status, 200);
}
