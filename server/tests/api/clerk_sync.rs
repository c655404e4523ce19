//! Changes made in Clerk (the emulator) reach the server through Svix-signed webhooks the
//! emulator delivers itself: users, organizations, memberships and revoked sessions.

use std::time::Duration;

use clerk_emulator::{NewOrganization, NewUser, UserUpdate};
use reqwest::Method;
use serde_json::json;

use crate::support::{on_both_databases, Db, TestApp, WEBHOOK_SECRET};

on_both_databases!(
    users_created_changed_and_deleted_in_clerk_reach_the_local_table,
    sessions_revoked_ended_or_removed_in_clerk_are_refused,
    organizations_and_memberships_in_clerk_reach_the_admin_route,
    a_resent_message_is_a_duplicate_and_out_of_order_messages_are_safe,
    a_delivery_that_failed_is_retried_by_clerk_and_applied,
);

const WAIT: Duration = Duration::from_secs(10);

/// The server, with the emulator delivering its webhooks to it.
async fn connected(db: Db) -> TestApp {
    let app = TestApp::start(db).await;
    assert!(app.clerk.set_webhook_secret(WEBHOOK_SECRET));
    app.clerk.set_webhook(app.url("/webhooks/clerk"));
    app
}

async fn delivered(app: &TestApp) {
    assert!(
        app.clerk.wait_delivered(WAIT).await,
        "every delivery answered 2xx: {:#?}",
        app.clerk.deliveries()
    );
}

async fn users_created_changed_and_deleted_in_clerk_reach_the_local_table(db: Db) {
    let app = connected(db).await;
    let ada = app
        .clerk
        .create_user(
            NewUser::new()
                .email("ada@example.com")
                .first_name("Ada")
                .public_metadata(json!({"plan": "free"})),
        )
        .unwrap();
    delivered(&app).await;
    let token = app.token(&ada.id);
    let me = app.get("/v1/me", &token).await;
    assert_eq!(
        me.json["profile"]["email"], "ada@example.com",
        "{}",
        me.text
    );
    assert_eq!(me.json["profile"]["first_name"], "Ada");
    assert_eq!(
        me.json["profile"]["public_metadata"],
        json!({"plan": "free"})
    );

    app.clerk
        .update_user_metadata(&ada.id, json!({"public_metadata": {"plan": "pro"}}))
        .unwrap();
    app.clerk
        .update_user(&ada.id, UserUpdate::new().last_name("Lovelace"))
        .unwrap();
    delivered(&app).await;
    let me = app.get("/v1/me", &token).await;
    assert_eq!(
        me.json["profile"]["public_metadata"],
        json!({"plan": "pro"})
    );
    assert_eq!(me.json["profile"]["last_name"], "Lovelace");

    app.clerk.delete_user(&ada.id).unwrap();
    delivered(&app).await;
    let reply = app.get("/v1/me", &token).await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(reply.json["reason"], "session-revoked");
    assert_eq!(app.count("webhook_deliveries").await, 4);
}

async fn sessions_revoked_ended_or_removed_in_clerk_are_refused(db: Db) {
    let app = connected(db).await;
    let ada = app
        .clerk
        .create_user(NewUser::new().email("ada@example.com"))
        .unwrap();
    let sessions: Vec<_> = (0..4)
        .map(|_| app.clerk.create_session(&ada.id).unwrap())
        .collect();
    let tokens: Vec<String> = sessions
        .iter()
        .map(|session| app.clerk.session_token_for(session).expires_in(600).sign())
        .collect();
    for token in &tokens {
        assert_eq!(app.get("/protected", token).await.status, 200);
    }
    app.clerk.revoke_session(&sessions[0].id).unwrap();
    app.clerk.end_session(&sessions[1].id).unwrap();
    app.clerk.remove_session(&sessions[2].id).unwrap();
    delivered(&app).await;
    for token in &tokens[..3] {
        let reply = app.get("/protected", token).await;
        assert_eq!(reply.status, 401, "{}", reply.text);
        assert_eq!(reply.json["reason"], "session-revoked");
    }
    assert_eq!(app.get("/protected", &tokens[3]).await.status, 200);
    assert_eq!(app.count("revoked_sessions").await, 3);
}

async fn organizations_and_memberships_in_clerk_reach_the_admin_route(db: Db) {
    let app = connected(db).await;
    let grace = app
        .clerk
        .create_user(NewUser::new().email("grace@example.com"))
        .unwrap();
    let ada = app
        .clerk
        .create_user(NewUser::new().email("ada@example.com"))
        .unwrap();
    let org = app
        .clerk
        .create_organization(NewOrganization::new("Acme").created_by(&grace.id))
        .unwrap();
    app.clerk
        .add_membership(&org.id, &ada.id, "org:member")
        .unwrap();
    delivered(&app).await;

    let session = app.clerk.create_session(&grace.id).unwrap();
    let admin = app
        .clerk
        .session_token_in_org(&session, &org.id)
        .unwrap()
        .expires_in(600)
        .sign();
    let reply = app.get("/v1/admin/users", &admin).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let mut listed: Vec<(String, String)> = reply.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["email"].as_str().unwrap().to_owned(),
                u["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("ada@example.com".to_owned(), "org:member".to_owned()),
            ("grace@example.com".to_owned(), "org:admin".to_owned()),
        ]
    );

    let member_session = app.clerk.create_session(&ada.id).unwrap();
    let member = app
        .clerk
        .session_token_in_org(&member_session, &org.id)
        .unwrap()
        .expires_in(600)
        .sign();
    assert_eq!(app.get("/v1/admin/users", &member).await.status, 403);

    app.clerk.remove_membership(&org.id, &ada.id).unwrap();
    delivered(&app).await;
    let reply = app.get("/v1/admin/users", &admin).await;
    assert_eq!(reply.json["items"].as_array().unwrap().len(), 1);

    app.clerk.delete_organization(&org.id).unwrap();
    delivered(&app).await;
    let reply = app.get("/v1/admin/users", &admin).await;
    assert_eq!(reply.json["items"], json!([]));
}

async fn a_resent_message_is_a_duplicate_and_out_of_order_messages_are_safe(db: Db) {
    let app = connected(db).await;
    app.clerk.pause_delivery();
    let ada = app
        .clerk
        .create_user(NewUser::new().email("ada@example.com").first_name("First"))
        .unwrap();
    app.clerk
        .update_user(&ada.id, UserUpdate::new().first_name("Second"))
        .unwrap();
    let log = app.clerk.deliveries();
    assert_eq!(log.len(), 2);
    // The update first, then the creation: the older creation changes nothing.
    assert_eq!(app.clerk.deliver_now(&log[1].msg_id).await, Ok(200));
    assert_eq!(app.clerk.deliver_now(&log[0].msg_id).await, Ok(200));
    let token = app.token(&ada.id);
    assert_eq!(
        app.get("/v1/me", &token).await.json["profile"]["first_name"],
        "Second"
    );
    // Resent as Svix's "resend" does: same id, same body.
    app.clerk.resume_delivery();
    delivered(&app).await;
    assert!(app.clerk.redeliver(&log[1].msg_id));
    delivered(&app).await;
    assert_eq!(app.count("webhook_deliveries").await, 2);
    let metrics = app.call(Method::GET, "/metrics", None, None).await.text;
    assert!(
        metrics.contains("webhook_deliveries_total{outcome=\"applied\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("webhook_deliveries_total{outcome=\"duplicate\"} 1"),
        "{metrics}"
    );
    assert_eq!(
        app.get("/v1/me", &token).await.json["profile"]["first_name"],
        "Second"
    );
}

async fn a_delivery_that_failed_is_retried_by_clerk_and_applied(db: Db) {
    let app = connected(db).await;
    app.clerk
        .set_retry_schedule(vec![Duration::from_millis(300); 20]);
    // Webhooks answer 500 while the users table refuses writes.
    let trigger = match db {
        Db::Sqlite => vec![
            "CREATE TRIGGER refuse BEFORE INSERT ON users BEGIN SELECT RAISE(ABORT, 'down'); END",
        ],
        Db::Postgres => vec![
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             RAISE EXCEPTION 'down'; END $$",
            "CREATE TRIGGER refuse BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION refuse()",
        ],
    };
    for statement in trigger {
        sqlx::query(statement).execute(&app.pool()).await.unwrap();
    }
    let ada = app
        .clerk
        .create_user(NewUser::new().email("ada@example.com"))
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.clerk.deliveries()[0].attempts < 2 {
        assert!(tokio::time::Instant::now() < deadline, "retried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.clerk.deliveries()[0].last_status, Some(500));
    assert_eq!(app.count("webhook_deliveries").await, 0);

    let drop = match db {
        Db::Sqlite => "DROP TRIGGER refuse",
        Db::Postgres => "DROP TRIGGER refuse ON users",
    };
    sqlx::query(drop).execute(&app.pool()).await.unwrap();
    delivered(&app).await;
    let me = app.get("/v1/me", &app.token(&ada.id)).await;
    assert_eq!(
        me.json["profile"]["email"], "ada@example.com",
        "{}",
        me.text
    );
    assert_eq!(app.count("webhook_deliveries").await, 1);
}
