//! `POST /webhooks/clerk`: verified deliveries are applied in one transaction, idempotent by
//! `svix-id`, order-safe by `updated_at`; refused or failed ones write nothing.

use reqwest::Method;
use serde_json::{json, Value};

use crate::events::{deleted, event, membership, organization, user};
use crate::support::{on_both_databases, Db, TestApp, WEBHOOK_SECRET};

on_both_databases!(
    user_created_updated_and_deleted_are_applied,
    organizations_and_memberships_are_applied,
    a_redelivery_changes_nothing_and_is_2xx,
    concurrent_copies_of_one_message_are_applied_once,
    an_older_or_equal_event_never_overwrites_a_newer_one,
    a_late_update_after_a_delete_does_not_resurrect,
    a_delete_before_the_create_leaves_a_tombstone,
    unknown_and_unreadable_events_are_ignored_but_recorded,
    refused_deliveries_write_nothing,
    a_failure_while_applying_writes_nothing_and_is_retried,
);

/// The `profile` of `GET /v1/me` for `user_id`.
async fn profile(app: &TestApp, user_id: &str) -> Value {
    let reply = app.get("/v1/me", &app.token(user_id)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json["profile"].clone()
}

/// The number of rows of `table` matching `condition`, whose one parameter is `id`.
async fn rows(app: &TestApp, table: &str, condition: &str, id: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table} WHERE {condition}"))
        .bind(id)
        .fetch_one(&app.pool())
        .await
        .expect("a count")
}

fn assert_status(reply: &crate::support::Reply, code: u16, status: &str) {
    assert_eq!(reply.status, code, "{}", reply.text);
    assert_eq!(reply.json, json!({ "status": status }), "{}", reply.text);
}

async fn user_created_updated_and_deleted_are_applied(db: Db) {
    let app = TestApp::start(db).await;
    let created = event(
        "user.created",
        user("user_ada", 1_000, "Ada", json!({"plan": "free"})),
    );
    assert_status(&app.deliver("msg_1", &created).await, 200, "applied");
    assert_eq!(
        profile(&app, "user_ada").await,
        json!({
            "email": "user_ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "image_url": "https://img.clerk.com/x",
            "public_metadata": {"plan": "free"},
            "updated_at": "1970-01-01T00:00:01.000Z",
        })
    );

    let updated = event(
        "user.updated",
        user("user_ada", 2_000, "Augusta", json!({"plan": "pro"})),
    );
    assert_status(&app.deliver("msg_2", &updated).await, 200, "applied");
    let now = profile(&app, "user_ada").await;
    assert_eq!(now["first_name"], "Augusta");
    assert_eq!(now["public_metadata"], json!({"plan": "pro"}));

    let removed = event("user.deleted", deleted("user", "user_ada"));
    assert_status(&app.deliver("msg_3", &removed).await, 200, "applied");
    assert_eq!(
        app.get("/v1/me", &app.token("user_ada")).await.status,
        401,
        "a deleted user's tokens are refused"
    );
    assert_eq!(
        rows(
            &app,
            "users",
            "id = $1 AND deleted = TRUE AND deleted_at IS NOT NULL AND email IS NULL",
            "user_ada"
        )
        .await,
        1,
        "a tombstone without the personal data"
    );
    assert_eq!(app.count("webhook_deliveries").await, 3);
}

async fn organizations_and_memberships_are_applied(db: Db) {
    let app = TestApp::start(db).await;
    let deliveries = [
        event("organization.created", organization("org_1", "Acme", 1_000)),
        event(
            "organization.updated",
            organization("org_1", "Acme Corp", 2_000),
        ),
        event(
            "organizationMembership.created",
            membership("orgmem_1", "org_1", "user_ada", "org:member", &[], 1_000),
        ),
        event(
            "organizationMembership.updated",
            membership(
                "orgmem_1",
                "org_1",
                "user_ada",
                "org:admin",
                &["org:sys_memberships:manage"],
                2_000,
            ),
        ),
        event(
            "organizationMembership.created",
            membership("orgmem_2", "org_1", "user_bob", "org:member", &[], 1_000),
        ),
        event(
            "organizationMembership.deleted",
            membership("orgmem_2", "org_1", "user_bob", "org:member", &[], 3_000),
        ),
    ];
    for (i, delivery) in deliveries.iter().enumerate() {
        assert_status(
            &app.deliver(&format!("msg_{i}"), delivery).await,
            200,
            "applied",
        );
    }
    let (name, slug, metadata, updated_at): (String, Option<String>, String, i64) = sqlx::query_as(
        "SELECT name, slug, public_metadata, updated_at FROM organizations WHERE id = 'org_1' AND deleted = FALSE",
    )
    .fetch_one(&app.pool())
    .await
    .unwrap();
    assert_eq!(
        (name.as_str(), slug.as_deref(), updated_at),
        ("Acme Corp", Some("acme-corp"), 2_000)
    );
    assert_eq!(
        serde_json::from_str::<Value>(&metadata).unwrap(),
        json!({"tier": "startup"})
    );
    let (org_id, user_id, role, permissions): (String, String, String, String) = sqlx::query_as(
        "SELECT org_id, user_id, role, permissions FROM memberships WHERE id = 'orgmem_1' AND deleted = FALSE",
    )
    .fetch_one(&app.pool())
    .await
    .unwrap();
    assert_eq!(
        (org_id.as_str(), user_id.as_str(), role.as_str()),
        ("org_1", "user_ada", "org:admin")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&permissions).unwrap(),
        json!(["org:sys_memberships:manage"])
    );
    assert_eq!(
        rows(
            &app,
            "memberships",
            "id = $1 AND deleted = TRUE",
            "orgmem_2"
        )
        .await,
        1
    );

    let gone = event("organization.deleted", deleted("organization", "org_1"));
    assert_status(&app.deliver("msg_org_gone", &gone).await, 200, "applied");
    assert_eq!(
        rows(&app, "organizations", "id = $1 AND deleted = TRUE", "org_1").await,
        1
    );
    assert_eq!(
        rows(
            &app,
            "memberships",
            "org_id = $1 AND deleted = FALSE",
            "org_1"
        )
        .await,
        0,
        "an organization's memberships go with it"
    );
    let late = event(
        "organization.updated",
        organization("org_1", "Back from the dead", 9_000),
    );
    assert_status(&app.deliver("msg_org_late", &late).await, 200, "applied");
    assert_eq!(
        rows(
            &app,
            "organizations",
            "id = $1 AND deleted = FALSE",
            "org_1"
        )
        .await,
        0
    );
    let late = event(
        "organizationMembership.updated",
        membership("orgmem_2", "org_1", "user_bob", "org:admin", &[], 9_000),
    );
    assert_status(&app.deliver("msg_mem_late", &late).await, 200, "applied");
    assert_eq!(
        rows(
            &app,
            "memberships",
            "id = $1 AND deleted = FALSE",
            "orgmem_2"
        )
        .await,
        0
    );
}

async fn a_redelivery_changes_nothing_and_is_2xx(db: Db) {
    let app = TestApp::start(db).await;
    let first = event("user.created", user("user_ada", 1_000, "Ada", json!({})));
    assert_status(&app.deliver("msg_same", &first).await, 200, "applied");
    assert_status(&app.deliver("msg_same", &first).await, 200, "duplicate");
    // Even a different (newer) body under the same message id is not applied again.
    let other = event("user.updated", user("user_ada", 5_000, "Eve", json!({})));
    assert_status(&app.deliver("msg_same", &other).await, 200, "duplicate");
    assert_eq!(profile(&app, "user_ada").await["first_name"], "Ada");
    assert_eq!(app.count("webhook_deliveries").await, 1);
    assert_eq!(app.count("users").await, 1);

    let metrics = app.call(Method::GET, "/metrics", None, None).await.text;
    assert!(
        metrics.contains("webhook_deliveries_total{outcome=\"applied\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("webhook_deliveries_total{outcome=\"duplicate\"} 2"),
        "{metrics}"
    );
}

async fn concurrent_copies_of_one_message_are_applied_once(db: Db) {
    let app = TestApp::start(db).await;
    let created = event("user.created", user("user_ada", 1_000, "Ada", json!({})));
    let copy = || app.deliver("msg_racing", &created);
    let (a, b, c, d) = tokio::join!(copy(), copy(), copy(), copy());
    let mut statuses: Vec<String> = [a, b, c, d]
        .iter()
        .map(|reply| {
            assert_eq!(reply.status, 200, "{}", reply.text);
            reply.json["status"].as_str().unwrap().to_owned()
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["applied", "duplicate", "duplicate", "duplicate"]);
    assert_eq!(app.count("webhook_deliveries").await, 1);
}

async fn an_older_or_equal_event_never_overwrites_a_newer_one(db: Db) {
    let app = TestApp::start(db).await;
    let newer = event(
        "user.updated",
        user("user_ada", 2_000, "Newer", json!({"v": 2})),
    );
    let older = event(
        "user.created",
        user("user_ada", 1_000, "Older", json!({"v": 1})),
    );
    let same_time = event(
        "user.updated",
        user("user_ada", 2_000, "Same time", json!({"v": 3})),
    );
    assert_status(&app.deliver("msg_newer", &newer).await, 200, "applied");
    assert_status(&app.deliver("msg_older", &older).await, 200, "applied");
    assert_status(
        &app.deliver("msg_same_time", &same_time).await,
        200,
        "applied",
    );
    let stored = profile(&app, "user_ada").await;
    assert_eq!(stored["first_name"], "Newer");
    assert_eq!(stored["public_metadata"], json!({"v": 2}));
    assert_eq!(stored["updated_at"], "1970-01-01T00:00:02.000Z");

    let org_newer = event("organization.updated", organization("org_1", "New", 2_000));
    let org_older = event("organization.created", organization("org_1", "Old", 1_000));
    app.deliver("msg_org_newer", &org_newer).await;
    app.deliver("msg_org_older", &org_older).await;
    let name: String = sqlx::query_scalar("SELECT name FROM organizations WHERE id = 'org_1'")
        .fetch_one(&app.pool())
        .await
        .unwrap();
    assert_eq!(name, "New");

    let mem_newer = event(
        "organizationMembership.updated",
        membership("orgmem_1", "org_1", "user_ada", "org:admin", &[], 2_000),
    );
    let mem_older = event(
        "organizationMembership.created",
        membership("orgmem_1", "org_1", "user_ada", "org:member", &[], 1_000),
    );
    app.deliver("msg_mem_newer", &mem_newer).await;
    app.deliver("msg_mem_older", &mem_older).await;
    let role: String = sqlx::query_scalar("SELECT role FROM memberships WHERE id = 'orgmem_1'")
        .fetch_one(&app.pool())
        .await
        .unwrap();
    assert_eq!(role, "org:admin");
}

async fn a_late_update_after_a_delete_does_not_resurrect(db: Db) {
    let app = TestApp::start(db).await;
    app.deliver(
        "msg_1",
        &event("user.created", user("user_ada", 1_000, "Ada", json!({}))),
    )
    .await;
    app.deliver("msg_2", &event("user.deleted", deleted("user", "user_ada")))
        .await;
    let late = event(
        "user.updated",
        user("user_ada", 99_999_999_999_999, "Zombie", json!({})),
    );
    assert_status(&app.deliver("msg_3", &late).await, 200, "applied");
    assert_eq!(
        rows(&app, "users", "id = $1 AND deleted = TRUE", "user_ada").await,
        1
    );
    assert_eq!(
        rows(
            &app,
            "users",
            "id = $1 AND first_name IS NOT NULL",
            "user_ada"
        )
        .await,
        0
    );
}

async fn a_delete_before_the_create_leaves_a_tombstone(db: Db) {
    let app = TestApp::start(db).await;
    app.deliver("msg_2", &event("user.deleted", deleted("user", "user_ada")))
        .await;
    app.deliver(
        "msg_1",
        &event("user.created", user("user_ada", 1_000, "Ada", json!({}))),
    )
    .await;
    assert_eq!(
        rows(&app, "users", "id = $1 AND deleted = TRUE", "user_ada").await,
        1
    );
    assert_eq!(app.count("users").await, 1);
}

async fn unknown_and_unreadable_events_are_ignored_but_recorded(db: Db) {
    let app = TestApp::start(db).await;
    let unknown = event(
        "email.created",
        json!({"id": "ema_1", "to_email_address": "x"}),
    );
    assert_status(&app.deliver("msg_unknown", &unknown).await, 200, "ignored");
    assert_status(
        &app.deliver("msg_unknown", &unknown).await,
        200,
        "duplicate",
    );
    // A known type whose data lacks the user's id.
    let unreadable = event("user.updated", json!({"first_name": "nobody"}));
    assert_status(
        &app.deliver("msg_unreadable", &unreadable).await,
        200,
        "ignored",
    );
    let created = event(
        "session.created",
        crate::events::session("sess_1", "user_ada", "active"),
    );
    assert_status(&app.deliver("msg_session", &created).await, 200, "ignored");
    assert_eq!(app.count("users").await, 0);
    assert_eq!(app.count("revoked_sessions").await, 0);
    let outcomes: Vec<(String, String)> =
        sqlx::query_as("SELECT svix_id, outcome FROM webhook_deliveries ORDER BY svix_id")
            .fetch_all(&app.pool())
            .await
            .unwrap();
    assert_eq!(
        outcomes,
        [
            ("msg_session".to_owned(), "ignored".to_owned()),
            ("msg_unknown".to_owned(), "ignored".to_owned()),
            ("msg_unreadable".to_owned(), "ignored".to_owned()),
        ]
    );
}

/// Webhook headers, by name.
type Headers = Vec<(&'static str, String)>;

async fn refused_deliveries_write_nothing(db: Db) {
    let app = TestApp::start(db).await;
    let body = serde_json::to_vec(&event(
        "user.created",
        user("user_ada", 1_000, "Ada", json!({})),
    ))
    .unwrap();
    let webhook = clerk_webhooks::Webhook::new(WEBHOOK_SECRET).unwrap();
    let now = clerk_emulator::unix_now();
    let sign = |id: &str, at: i64, body: &[u8]| webhook.sign(id, at, body);
    let headers = |id: &'static str, at: i64, signature: String| {
        vec![
            ("svix-id", id.to_owned()),
            ("svix-timestamp", at.to_string()),
            ("svix-signature", signature),
        ]
    };
    let mut tampered = body.clone();
    let at = tampered.iter().position(|&b| b == b'A').unwrap();
    tampered[at] = b'E';
    let other_secret = clerk_webhooks::Webhook::new("whsec_c29tZW9uZS1lbHNlcy1zZWNyZXQ=").unwrap();
    let cases: Vec<(&str, Headers, Vec<u8>)> = vec![
        (
            "signature-mismatch",
            headers("msg_1", now, sign("msg_1", now, &body)),
            tampered,
        ),
        (
            "signature-mismatch",
            headers("msg_2", now, other_secret.sign("msg_2", now, &body)),
            body.clone(),
        ),
        (
            "signature-mismatch",
            headers("msg_3", now, sign("msg_other", now, &body)),
            body.clone(),
        ),
        (
            "timestamp-too-old",
            headers("msg_4", now - 301, sign("msg_4", now - 301, &body)),
            body.clone(),
        ),
        (
            "timestamp-too-new",
            // 305, not 301: the server's clock may tick a second or more past `now` before it
            // reads the delivery, and 301 would then be within the 300 s tolerance.
            headers("msg_5", now + 305, sign("msg_5", now + 305, &body)),
            body.clone(),
        ),
        (
            "missing-headers",
            headers("msg_6", now, sign("msg_6", now, &body))[..2].to_vec(),
            body.clone(),
        ),
        (
            "invalid-timestamp",
            headers("msg_7", now, sign("msg_7", now, &body))
                .into_iter()
                .map(|(n, v)| {
                    if n == "svix-timestamp" {
                        (n, format!("{v}.5"))
                    } else {
                        (n, v)
                    }
                })
                .collect(),
            body.clone(),
        ),
        (
            "not-an-event",
            headers("msg_8", now, sign("msg_8", now, b"[1, 2]")),
            b"[1, 2]".to_vec(),
        ),
    ];
    for (reason, headers, body) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let reply = app.deliver_raw(&headers, body).await;
        assert_eq!(reply.status, 400, "{reason}: {}", reply.text);
        assert_eq!(reply.json["error"], "invalid_webhook", "{}", reply.text);
        assert_eq!(reply.json["reason"], reason, "{}", reply.text);
        assert!(reply.json["message"].is_string());
        assert!(!reply.text.contains(&WEBHOOK_SECRET[6..]));
    }

    let big = serde_json::to_vec(&event(
        "user.created",
        user("user_big", 1_000, &"x".repeat(140_000), json!({})),
    ))
    .unwrap();
    let signature = sign("msg_big", now, &big);
    let reply = app
        .deliver_raw(
            &[
                ("svix-id", "msg_big"),
                ("svix-timestamp", &now.to_string()),
                ("svix-signature", &signature),
            ],
            big,
        )
        .await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert_eq!(reply.json["error"], "payload_too_large");

    for table in ["webhook_deliveries", "users", "revoked_sessions"] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }
    // The genuine delivery still goes through.
    assert_status(
        &app.deliver(
            "msg_1",
            &event("user.created", user("user_ada", 1_000, "Ada", json!({}))),
        )
        .await,
        200,
        "applied",
    );
}

/// Makes every write of `user_boom` to `users` fail, as a database failure would.
async fn break_writes_of_user_boom(app: &TestApp, db: Db) {
    let pool = app.pool();
    let statements: &[&str] = match db {
        Db::Sqlite => &[
            "CREATE TRIGGER boom_insert BEFORE INSERT ON users WHEN NEW.id = 'user_boom' \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        ],
        Db::Postgres => &[
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.id = 'user_boom' THEN RAISE EXCEPTION 'injected failure'; END IF; \
             RETURN NEW; END $$",
            "CREATE TRIGGER boom_insert BEFORE INSERT OR UPDATE ON users \
             FOR EACH ROW EXECUTE FUNCTION boom()",
        ],
    };
    for statement in statements {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
}

async fn repair_writes_of_user_boom(app: &TestApp, db: Db) {
    let sql = match db {
        Db::Sqlite => "DROP TRIGGER boom_insert",
        Db::Postgres => "DROP TRIGGER boom_insert ON users",
    };
    sqlx::query(sql).execute(&app.pool()).await.unwrap();
}

async fn a_failure_while_applying_writes_nothing_and_is_retried(db: Db) {
    let app = TestApp::start(db).await;
    break_writes_of_user_boom(&app, db).await;
    let created = event("user.created", user("user_boom", 1_000, "Boom", json!({})));
    let reply = app.deliver("msg_boom", &created).await;
    assert_eq!(reply.status, 500, "{}", reply.text);
    assert!(!reply.text.contains("injected"), "no database detail leaks");
    assert_eq!(app.count("webhook_deliveries").await, 0);
    assert_eq!(app.count("users").await, 0);

    // A deletion touches the user row after recording the delivery and before the
    // revocation: both are rolled back, and the user's tokens still work.
    let token = app.token("user_boom");
    let reply = app
        .deliver(
            "msg_boom_gone",
            &event("user.deleted", deleted("user", "user_boom")),
        )
        .await;
    assert_eq!(reply.status, 500, "{}", reply.text);
    assert_eq!(app.count("webhook_deliveries").await, 0);
    assert_eq!(app.get("/protected", &token).await.status, 200);

    // Svix retries with the same message id, and it is applied whole.
    repair_writes_of_user_boom(&app, db).await;
    assert_status(&app.deliver("msg_boom", &created).await, 200, "applied");
    assert_eq!(profile(&app, "user_boom").await["first_name"], "Boom");
    let metrics = app.call(Method::GET, "/metrics", None, None).await.text;
    assert!(
        metrics.contains("webhook_deliveries_total{outcome=\"failed\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn without_a_signing_secret_the_route_answers_503() {
    let app = TestApp::start_with(Db::Sqlite, |c| c.clerk_webhook_signing_secret = None).await;
    let reply = app
        .deliver(
            "msg_1",
            &event("user.created", user("user_ada", 1, "Ada", json!({}))),
        )
        .await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.json["error"], "unavailable");
    assert_eq!(reply.json["reason"], "webhooks-not-configured");
    assert_eq!(app.count("webhook_deliveries").await, 0);
}

#[tokio::test]
async fn rotated_secrets_are_all_accepted_with_or_without_the_prefix() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.clerk_webhook_signing_secret = Some(
            format!(
                "whsec_bmV3LXNlY3JldC0xMjM0NTY=, {}",
                WEBHOOK_SECRET.trim_start_matches("whsec_")
            )
            .into(),
        );
    })
    .await;
    // Signed with the old secret (the second in the list, given without its prefix).
    let created = event("user.created", user("user_ada", 1, "Ada", json!({})));
    assert_status(&app.deliver("msg_old", &created).await, 200, "applied");
    // Signed with the new one only.
    let body = serde_json::to_vec(&created).unwrap();
    let now = clerk_emulator::unix_now();
    let signature = clerk_webhooks::Webhook::new("bmV3LXNlY3JldC0xMjM0NTY=")
        .unwrap()
        .sign("msg_new", now, &body);
    let reply = app
        .deliver_raw(
            &[
                ("svix-id", "msg_new"),
                ("svix-timestamp", &now.to_string()),
                ("svix-signature", &signature),
            ],
            body,
        )
        .await;
    assert_status(&reply, 200, "applied");
}
