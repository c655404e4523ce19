//! Machine credentials on the reference server: OAuth access tokens and API keys on the notes
//! routes (their subject's scope, `notes:read` / `notes:write`), every type on `GET /v1/me`,
//! `/protected` session-only.

use clerk_emulator::{TokenBuilder, CAT_M2M};
use serde_json::json;

use clerk_emulator::machines::NewApiKey;

use crate::support::{clerk, on_both_databases, Db, TestApp};

on_both_databases!(
    an_oauth_token_acts_in_its_users_personal_notes_within_its_scopes,
    m2m_tokens_are_not_taken_by_the_notes_routes,
    a_users_api_key_acts_in_personal_notes_and_an_organizations_in_its_notes,
);

/// The server with machine tokens on: the emulator's secret key and Backend API.
async fn with_machine_tokens(db: Db) -> TestApp {
    let clerk = clerk().await;
    let (secret, api) = (clerk.secret_key(), clerk.api_url().to_owned());
    TestApp::start_with_clerk(clerk, db, move |config| {
        config.clerk.clerk_secret_key = Some(secret.into());
        config.clerk.clerk_api_url = Some(api);
    })
    .await
}

fn api_key(app: &TestApp, subject: &str, scopes: &[&str]) -> String {
    app.clerk
        .create_api_key(NewApiKey::new(subject, "scripts").scopes(scopes.iter().copied()))
        .expect("an API key")
        .secret
}

/// The JWT form of a machine token: the emulator's key and issuer, no session claims.
fn machine_jwt(app: &TestApp) -> TokenBuilder {
    app.clerk
        .session_token()
        .remove_claim("sid")
        .remove_claim("azp")
        .expires_in(600)
}

/// An OAuth access token (`at+jwt`) for `user` with `scope` (space-separated).
fn oauth(app: &TestApp, user: &str, scope: &str) -> String {
    machine_jwt(app)
        .header("typ", "at+jwt")
        .user(user)
        .jti("oat_0ef5a7a33d87ed87ee7954c845d80450")
        .claim("client_id", "client_reports")
        .claim("scope", scope)
        .sign()
}

/// An M2M JWT of machine `mch_reports` that may talk to `mch_notes`.
fn m2m(app: &TestApp) -> String {
    machine_jwt(app)
        .header("cat", CAT_M2M)
        .user("mch_reports")
        .jti("mt_f7f0ba8c3b4843ce7d85fcdd5e71853e")
        .claim("aud", json!(["mch_notes"]))
        .claim("scopes", "mch_notes")
        .sign()
}

async fn an_oauth_token_acts_in_its_users_personal_notes_within_its_scopes(db: Db) {
    let app = TestApp::start(db).await;
    let ada = app.token("user_ada");
    let mine = app.create_note(&ada, "ada's").await;
    let reader = oauth(&app, "user_ada", "notes:read");
    let list = app.get("/v1/notes", &reader).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.json["items"][0]["id"], mine["id"]);
    let one = app
        .get(
            &format!("/v1/notes/{}", mine["id"].as_str().unwrap()),
            &reader,
        )
        .await;
    assert_eq!(one.status, 200);

    let refused = app
        .post("/v1/notes", &reader, json!({"title": "t", "body": "b"}))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.json["reason"], "missing-scope");
    let notes_before = app.count("notes").await;
    let writer = oauth(&app, "user_ada", "notes:write");
    assert_eq!(
        app.get("/v1/notes", &writer).await.json["reason"],
        "missing-scope"
    );
    let created = app
        .post(
            "/v1/notes",
            &writer,
            json!({"title": "by the app", "body": ""}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(app.count("notes").await, notes_before + 1);
    let listed = app.get("/v1/notes", &ada).await;
    assert_eq!(
        listed.json["items"][0]["title"], "by the app",
        "in ada's own notes"
    );

    let other = oauth(&app, "user_grace", "notes:read notes:write");
    assert_eq!(app.get("/v1/notes", &other).await.json["items"], json!([]));
    let theirs = app
        .get(
            &format!("/v1/notes/{}", mine["id"].as_str().unwrap()),
            &other,
        )
        .await;
    assert_eq!(
        theirs.status, 404,
        "another user's note does not exist for it"
    );
}

async fn m2m_tokens_are_not_taken_by_the_notes_routes(db: Db) {
    let app = TestApp::start(db).await;
    let reply = app.get("/v1/notes", &m2m(&app)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json["reason"], "token-type-mismatch");
}

#[tokio::test]
async fn me_answers_every_type_with_its_fields() {
    let app = TestApp::start(Db::Sqlite).await;
    let reply = app.get("/v1/me", &m2m(&app)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json,
        json!({
            "token_type": "m2m_token",
            "credential_id": "mt_f7f0ba8c3b4843ce7d85fcdd5e71853e",
            "subject": "mch_reports",
            "machine_id": "mch_reports",
            "scopes": ["mch_notes"],
            "org_id": null,
            "org_role": null,
            "org_permissions": [],
            "profile": null,
        })
    );
    let reply = app.get("/v1/me", &oauth(&app, "user_ada", "a b")).await;
    assert_eq!(reply.json["token_type"], "oauth_token");
    assert_eq!(reply.json["user_id"], "user_ada");
    assert_eq!(reply.json["client_id"], "client_reports");
    assert_eq!(reply.json["scopes"], json!(["a", "b"]));
}

#[tokio::test]
async fn protected_stays_session_only_and_opaque_tokens_need_a_secret_key() {
    let app = TestApp::start(Db::Sqlite).await;
    let reply = app.get("/protected", &m2m(&app)).await;
    assert_eq!(
        (reply.status, reply.json["reason"].clone()),
        (401, json!("token-type-mismatch"))
    );
    for token in [
        "ak_LCWGdaM8mv8K4PC/57IICZQXAeWfCgF30DZaFXHoGn9=",
        "oat_0123",
    ] {
        let reply = app.get("/v1/notes", token).await;
        assert_eq!(reply.status, 401, "{}", reply.text);
        assert_eq!(reply.json["reason"], "machine-tokens-disabled");
    }
    let reply = app.get("/protected", "ak_123").await;
    assert_eq!(
        reply.json["reason"], "token-invalid",
        "a malformed session token there"
    );
}

async fn a_users_api_key_acts_in_personal_notes_and_an_organizations_in_its_notes(db: Db) {
    let app = with_machine_tokens(db).await;
    let ada = app.token("user_ada");
    let personal = app.create_note(&ada, "ada's own").await;
    let grace = app.org_token("user_grace", "org_acme", "org:admin", &[]);
    let shared = app.create_note(&grace, "acme's").await;

    let ada_key = api_key(&app, "user_ada", &["notes:read", "notes:write"]);
    let listed = app.get("/v1/notes", &ada_key).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.json["items"][0]["id"], personal["id"]);
    let created = app
        .post(
            "/v1/notes",
            &ada_key,
            json!({"title": "from a script", "body": ""}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.delete(&format!("/v1/notes/{id}"), &ada_key)
            .await
            .status,
        204
    );

    let acme_key = api_key(&app, "org_acme", &["notes:read"]);
    let listed = app.get("/v1/notes", &acme_key).await;
    assert_eq!(
        listed.json["items"][0]["id"], shared["id"],
        "{}",
        listed.text
    );
    let before = app.count("notes").await;
    let refused = app
        .post("/v1/notes", &acme_key, json!({"title": "t", "body": ""}))
        .await;
    assert_eq!(
        (refused.status, refused.json["reason"].clone()),
        (403, json!("missing-scope"))
    );
    assert_eq!(app.count("notes").await, before, "nothing written");

    let machine_key = api_key(
        &app,
        &app.clerk.create_machine("cron", &[]).unwrap().id,
        &["notes:read"],
    );
    let refused = app.get("/v1/notes", &machine_key).await;
    assert_eq!(
        (refused.status, refused.json["reason"].clone()),
        (403, json!("no-notes-scope"))
    );

    let me = app.get("/v1/me", &acme_key).await;
    assert_eq!(me.json["token_type"], "api_key");
    assert_eq!(me.json["org_id"], "org_acme");
    assert_eq!(me.json["name"], "scripts");
    assert_eq!(me.json["scopes"], json!(["notes:read"]));

    let unknown = app.get("/v1/notes", "ak_not_a_key").await;
    assert_eq!(
        (unknown.status, unknown.json["reason"].clone()),
        (401, json!("token-invalid"))
    );
    app.clerk
        .set_machine_verify_fault(clerk_emulator::Fault::Status(500));
    let down = app
        .get("/v1/notes", &api_key(&app, "user_ada", &["notes:read"]))
        .await;
    assert_eq!(down.status, 503, "{}", down.text);
    assert_eq!(down.json["reason"], "unexpected-error");
    let cached = app.get("/v1/notes", &ada_key).await;
    assert_eq!(
        cached.status, 200,
        "a cached key keeps working while the Backend API is down"
    );
}
