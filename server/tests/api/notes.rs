//! Notes: CRUD, isolation between users and organizations, permissions, pagination and
//! input errors.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{on_both_databases, Db, TestApp};

const WRITE: &str = "org:notes:write";
const DELETE: &str = "org:notes:delete";

on_both_databases!(
    personal_notes_have_full_crud,
    users_cannot_see_or_change_each_others_notes,
    organizations_are_isolated_from_each_other_and_from_personal_notes,
    org_members_read_but_cannot_write,
    org_writers_edit_any_note_but_delete_only_their_own,
    org_admins_and_deleters_delete_any_note,
    pagination_walks_every_note_once_newest_first,
    pagination_rejects_bad_parameters,
    invalid_fields_are_422_with_the_field_named,
    malformed_bodies_are_client_errors_never_500,
    unknown_notes_are_404,
);

async fn personal_notes_have_full_crud(db: Db) {
    let app = TestApp::start(db).await;
    let ada = app.token("user_ada");

    let created = app
        .post(
            "/v1/notes",
            &ada,
            json!({"title": "  Plan  ", "body": "Ship it."}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let note = created.json;
    assert_eq!(note["title"], "Plan", "the title is trimmed");
    assert_eq!(note["body"], "Ship it.");
    assert_eq!(note["org_id"], Value::Null);
    assert_eq!(note["owner_user_id"], "user_ada");
    assert_eq!(note["author_user_id"], "user_ada");
    let id = note["id"].as_str().expect("an id").to_owned();
    let path = format!("/v1/notes/{id}");

    let fetched = app.get(&path, &ada).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json, note);

    let listed = app.get("/v1/notes", &ada).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json["items"], json!([note]));
    assert_eq!(listed.json["next_cursor"], Value::Null);

    let patched = app.patch(&path, &ada, json!({"title": "Plan B"})).await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.json["title"], "Plan B");
    assert_eq!(patched.json["body"], "Ship it.", "an absent field is kept");
    assert!(patched.json["updated_at"].as_str() >= note["updated_at"].as_str());
    assert_eq!(app.get(&path, &ada).await.json["title"], "Plan B");

    let deleted = app.delete(&path, &ada).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.text.is_empty());
    assert_eq!(app.get(&path, &ada).await.status, 404);
    assert_eq!(app.delete(&path, &ada).await.status, 404);
}

async fn users_cannot_see_or_change_each_others_notes(db: Db) {
    let app = TestApp::start(db).await;
    let (ada, bob) = (app.token("user_ada"), app.token("user_bob"));
    let note = app.create_note(&ada, "Ada's").await;
    let path = format!("/v1/notes/{}", note["id"].as_str().unwrap());

    assert_eq!(app.get(&path, &bob).await.status, 404);
    assert_eq!(
        app.patch(&path, &bob, json!({"title": "mine"}))
            .await
            .status,
        404
    );
    assert_eq!(app.delete(&path, &bob).await.status, 404);
    assert_eq!(app.get("/v1/notes", &bob).await.json["items"], json!([]));

    let still = app.get(&path, &ada).await;
    assert_eq!(still.status, 200);
    assert_eq!(still.json, note, "untouched by the other user");
}

async fn organizations_are_isolated_from_each_other_and_from_personal_notes(db: Db) {
    let app = TestApp::start(db).await;
    let personal = app.token("user_ada");
    let in_acme = app.org_token("user_ada", "org_acme", "org:member", &[WRITE]);
    let in_globex = app.org_token("user_ada", "org_globex", "org:admin", &[WRITE, DELETE]);
    let other_acme_member = app.org_token("user_bob", "org_acme", "org:member", &[]);

    let own = app.create_note(&personal, "personal").await;
    let acme = app.create_note(&in_acme, "acme").await;
    assert_eq!(acme["org_id"], "org_acme");
    assert_eq!(acme["owner_user_id"], "user_ada");

    let ids = |reply: &crate::support::Reply| -> Vec<String> {
        reply.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (own_id, acme_id) = (own["id"].as_str().unwrap(), acme["id"].as_str().unwrap());
    assert_eq!(ids(&app.get("/v1/notes", &personal).await), [own_id]);
    assert_eq!(ids(&app.get("/v1/notes", &in_acme).await), [acme_id]);
    assert_eq!(
        ids(&app.get("/v1/notes", &other_acme_member).await),
        [acme_id]
    );
    assert!(ids(&app.get("/v1/notes", &in_globex).await).is_empty());

    // The same user, in another scope, cannot reach the note by id either.
    let acme_path = format!("/v1/notes/{acme_id}");
    let own_path = format!("/v1/notes/{own_id}");
    assert_eq!(app.get(&acme_path, &personal).await.status, 404);
    assert_eq!(app.get(&acme_path, &in_globex).await.status, 404);
    assert_eq!(app.delete(&acme_path, &in_globex).await.status, 404);
    assert_eq!(
        app.patch(&acme_path, &in_globex, json!({"title": "x"}))
            .await
            .status,
        404
    );
    assert_eq!(app.get(&own_path, &in_acme).await.status, 404);
    assert_eq!(app.get(&own_path, &other_acme_member).await.status, 404);
    assert_eq!(app.get(&acme_path, &other_acme_member).await.status, 200);
}

async fn org_members_read_but_cannot_write(db: Db) {
    let app = TestApp::start(db).await;
    let admin = app.org_token("user_admin", "org_acme", "org:admin", &[]);
    let member = app.org_token("user_member", "org_acme", "org:member", &[]);
    let note = app.create_note(&admin, "by the admin").await;
    let path = format!("/v1/notes/{}", note["id"].as_str().unwrap());

    assert_eq!(app.get(&path, &member).await.status, 200);
    assert_eq!(
        app.get("/v1/notes", &member).await.json["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for reply in [
        app.post("/v1/notes", &member, json!({"title": "mine"}))
            .await,
        app.patch(&path, &member, json!({"title": "changed"})).await,
        app.delete(&path, &member).await,
    ] {
        assert_eq!(reply.status, 403, "{}", reply.text);
        assert_eq!(reply.json["error"], "forbidden");
        assert_eq!(reply.json["reason"], "missing-permission");
        assert!(reply.json["message"]
            .as_str()
            .unwrap()
            .contains("org:notes:"));
    }
    assert_eq!(app.get(&path, &member).await.json, note, "nothing changed");
}

async fn org_writers_edit_any_note_but_delete_only_their_own(db: Db) {
    let app = TestApp::start(db).await;
    let admin = app.org_token("user_admin", "org_acme", "org:admin", &[]);
    let writer = app.org_token("user_writer", "org_acme", "org:member", &[WRITE]);
    let admins = app.create_note(&admin, "by the admin").await;
    let admins_path = format!("/v1/notes/{}", admins["id"].as_str().unwrap());

    let own = app.create_note(&writer, "by the writer").await;
    let own_path = format!("/v1/notes/{}", own["id"].as_str().unwrap());

    let edited = app
        .patch(&admins_path, &writer, json!({"body": "edited"}))
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(edited.json["body"], "edited");
    assert_eq!(edited.json["owner_user_id"], "user_admin");
    assert_eq!(edited.json["author_user_id"], "user_writer");

    let refused = app.delete(&admins_path, &writer).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.json["reason"], "missing-permission");
    assert_eq!(app.delete(&own_path, &writer).await.status, 204);
    assert_eq!(app.get(&admins_path, &admin).await.status, 200);
}

async fn org_admins_and_deleters_delete_any_note(db: Db) {
    let app = TestApp::start(db).await;
    let admin = app.org_token("user_admin", "org_acme", "org:admin", &[]);
    let writer = app.org_token("user_writer", "org_acme", "org:member", &[WRITE]);
    let deleter = app.org_token("user_deleter", "org_acme", "org:member", &[DELETE]);
    let first = app.create_note(&writer, "first").await;
    let second = app.create_note(&writer, "second").await;

    let path = |note: &Value| format!("/v1/notes/{}", note["id"].as_str().unwrap());
    assert_eq!(app.delete(&path(&first), &admin).await.status, 204);
    assert_eq!(app.delete(&path(&second), &deleter).await.status, 204);
    // org:notes:delete alone does not allow writing.
    let refused = app.post("/v1/notes", &deleter, json!({"title": "x"})).await;
    assert_eq!(refused.status, 403);
}

async fn pagination_walks_every_note_once_newest_first(db: Db) {
    let app = TestApp::start(db).await;
    let ada = app.token("user_ada");
    for i in 0..25 {
        app.create_note(&ada, &format!("note {i}")).await;
    }
    let first = app.get("/v1/notes", &ada).await;
    assert_eq!(
        first.json["items"].as_array().unwrap().len(),
        20,
        "default limit"
    );

    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut path = "/v1/notes?limit=10".to_owned();
    loop {
        let page = app.get(&path, &ada).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let items = page.json["items"].as_array().unwrap().clone();
        pages.push(items.len());
        seen.extend(items);
        match page.json["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/notes?limit=10&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, [10, 10, 5]);
    let ids: HashSet<&str> = seen.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 25, "no note twice, none skipped");
    let times: Vec<&str> = seen
        .iter()
        .map(|n| n["created_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let exact = app.get("/v1/notes?limit=25", &ada).await;
    assert_eq!(exact.json["items"].as_array().unwrap().len(), 25);
    assert_eq!(exact.json["next_cursor"], Value::Null);
    let max = app.get("/v1/notes?limit=100", &ada).await;
    assert_eq!(max.status, 200);
}

async fn pagination_rejects_bad_parameters(db: Db) {
    let app = TestApp::start(db).await;
    let ada = app.token("user_ada");
    for limit in ["0", "101", "-1"] {
        let reply = app.get(&format!("/v1/notes?limit={limit}"), &ada).await;
        assert_eq!(reply.status, 422, "limit={limit}: {}", reply.text);
        assert_eq!(reply.json["error"], "validation");
        assert!(reply.json["fields"]["limit"].is_string());
    }
    for query in ["limit=abc", "cursor=not-a-cursor", "cursor=MTIz"] {
        let reply = app.get(&format!("/v1/notes?{query}"), &ada).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.text);
        assert_eq!(reply.json["error"], "bad_request");
    }
}

async fn invalid_fields_are_422_with_the_field_named(db: Db) {
    let app = TestApp::start(db).await;
    let ada = app.token("user_ada");
    let cases = [
        (json!({"title": ""}), vec!["title"]),
        (json!({"title": "   "}), vec!["title"]),
        (json!({"title": "x".repeat(201)}), vec!["title"]),
        (
            json!({"title": "ok", "body": "x".repeat(10_001)}),
            vec!["body"],
        ),
        (
            json!({"title": "", "body": "x".repeat(10_001)}),
            vec!["body", "title"],
        ),
    ];
    for (body, fields) in cases {
        let reply = app.post("/v1/notes", &ada, body).await;
        assert_eq!(reply.status, 422, "{}", reply.text);
        assert_eq!(reply.json["error"], "validation");
        let named: Vec<&str> = reply.json["fields"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(named, fields);
    }
    let longest = app
        .post(
            "/v1/notes",
            &ada,
            json!({"title": "é".repeat(200), "body": "x".repeat(10_000)}),
        )
        .await;
    assert_eq!(longest.status, 201, "the limits count characters");

    let note = app.create_note(&ada, "valid").await;
    let path = format!("/v1/notes/{}", note["id"].as_str().unwrap());
    let reply = app.patch(&path, &ada, json!({"title": " "})).await;
    assert_eq!(reply.status, 422);
    assert!(reply.json["fields"]["title"].is_string());
    assert_eq!(app.get(&path, &ada).await.json["title"], "valid");
}

async fn malformed_bodies_are_client_errors_never_500(db: Db) {
    let app = TestApp::start(db).await;
    let ada = app.token("user_ada");
    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = app
            .client
            .post(app.url("/v1/notes"))
            .bearer_auth(&ada)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        async move { crate::support::read(request.send().await.unwrap()).await }
    };
    let json_type = Some("application/json");
    for (body, status, error) in [
        (r#"{"title": "#, 400, "bad_request"),
        ("not json", 400, "bad_request"),
        (r#"{"title": "x"} trailing"#, 400, "bad_request"),
    ] {
        let reply = send(body, json_type).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
        assert_eq!(reply.json["error"], error, "{body}");
    }
    // JSON of the wrong shape: a 422 of the one validation shape, naming the field.
    for (body, field) in [
        (r#"{"title": 5}"#, "title"),
        ("{}", "title"),
        ("[]", "$"),
        (r#"{"title": "x", "colour": "red"}"#, "colour"),
        (r#"{"title": "x", "body": [1]}"#, "body"),
    ] {
        let reply = send(body, json_type).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.text);
        assert_eq!(reply.json["error"], "validation", "{body}");
        assert!(
            reply.json["fields"][field].is_string(),
            "{body}: {}",
            reply.text
        );
    }
    let reply = send(r#"{"title": "x"}"#, None).await;
    assert_eq!(reply.status, 415);
    assert_eq!(reply.json["error"], "unsupported_media_type");

    let reply = send(r#"{"title": "x"}"#, Some("text/plain")).await;
    assert_eq!(reply.status, 415);
}

async fn unknown_notes_are_404(db: Db) {
    let app = TestApp::start(db).await;
    let ada = app.token("user_ada");
    for id in [
        "01a216f4-1fac-73f9-810c-10bc3fc3d19c",
        "not-an-id",
        "%27%20OR%201%3D1",
    ] {
        let path = format!("/v1/notes/{id}");
        let reply = app.get(&path, &ada).await;
        assert_eq!(reply.status, 404, "{id}");
        assert_eq!(reply.json["error"], "not_found");
        assert_eq!(
            app.call(
                Method::PATCH,
                &path,
                Some(&ada),
                Some(&json!({"title": "x"}))
            )
            .await
            .status,
            404
        );
        assert_eq!(app.delete(&path, &ada).await.status, 404);
    }
}
