//! `GET /v1/me`: the session's claims and the stored profile.

use serde_json::json;

use crate::common::{on_both_databases, Db, TestApp};

on_both_databases!(
    me_outside_an_organization_has_no_org_and_no_profile_yet,
    me_in_an_organization_has_its_role_and_permissions,
    me_returns_the_stored_profile_and_hides_deleted_users,
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
