//! Session revocation through webhooks: a revoked session's still-valid token is refused at
//! once, by every instance, and after a restart.

use std::time::Duration;

use serde_json::json;

use crate::events::{deleted, event, session, user};
use crate::support::{on_both_databases, Db, Peer, TestApp};

on_both_databases!(
    a_revoked_ended_or_removed_session_is_refused_at_once,
    a_deleted_users_sessions_are_all_refused,
    a_restarted_instance_still_refuses_revoked_sessions,
    a_session_event_of_an_unexpected_shape_still_revokes_the_session,
);

mod postgres_only {
    #[tokio::test]
    async fn another_instance_refuses_a_revoked_session_within_a_second() {
        super::another_instance_refuses_a_revoked_session_within_a_second().await
    }

    #[tokio::test]
    async fn a_new_instance_loads_revocations_made_before_it_started() {
        super::a_new_instance_loads_revocations_made_before_it_started().await
    }

    #[tokio::test]
    async fn the_listener_reconnects_and_catches_up_on_missed_revocations() {
        super::the_listener_reconnects_and_catches_up_on_missed_revocations().await
    }
}

fn session_token(app: &TestApp, user: &str, session: &str) -> String {
    app.clerk
        .session_token()
        .user(user)
        .session(session)
        .expires_in(600)
        .sign()
}

fn assert_revoked(reply: &crate::support::Reply) {
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(reply.json["reason"], "session-revoked", "{}", reply.text);
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
}

async fn a_revoked_ended_or_removed_session_is_refused_at_once(db: Db) {
    let app = TestApp::start(db).await;
    for (i, type_) in ["session.revoked", "session.ended", "session.removed"]
        .into_iter()
        .enumerate()
    {
        let sid = format!("sess_{i}");
        let token = session_token(&app, "user_ada", &sid);
        assert_eq!(app.get("/protected", &token).await.status, 200);
        let status = type_.trim_start_matches("session.");
        let reply = app
            .deliver(
                &format!("msg_{i}"),
                &event(type_, session(&sid, "user_ada", status)),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json["status"], "applied");
        // The same token, verified and cached before, right after the delivery.
        assert_revoked(&app.get("/protected", &token).await);
        assert_revoked(&app.get("/v1/me", &token).await);
    }
    let other = session_token(&app, "user_ada", "sess_other");
    assert_eq!(
        app.get("/protected", &other).await.status,
        200,
        "the user's other sessions still work"
    );
    assert_eq!(app.count("revoked_sessions").await, 3);
}

async fn a_session_event_of_an_unexpected_shape_still_revokes_the_session(db: Db) {
    let app = TestApp::start(db).await;
    let token = session_token(&app, "user_ada", "sess_odd");
    assert_eq!(app.get("/protected", &token).await.status, 200);
    // No user_id: not a Session to clerk-webhooks, but its id is all a revocation needs.
    let odd = event(
        "session.revoked",
        json!({"id": "sess_odd", "object": "session", "status": "revoked"}),
    );
    let reply = app.deliver("msg_odd", &odd).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["status"], "applied");
    assert_revoked(&app.get("/protected", &token).await);
    assert_eq!(app.count("revoked_sessions").await, 1);
}

async fn a_deleted_users_sessions_are_all_refused(db: Db) {
    let app = TestApp::start(db).await;
    app.deliver(
        "msg_1",
        &event("user.created", user("user_ada", 1, "Ada", json!({}))),
    )
    .await;
    let tokens = [
        session_token(&app, "user_ada", "sess_a"),
        session_token(&app, "user_ada", "sess_b"),
    ];
    for token in &tokens {
        assert_eq!(app.get("/protected", token).await.status, 200);
    }
    let reply = app
        .deliver("msg_2", &event("user.deleted", deleted("user", "user_ada")))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    for token in &tokens {
        assert_revoked(&app.get("/protected", token).await);
    }
    let fresh = session_token(&app, "user_ada", "sess_new");
    assert_revoked(&app.get("/protected", &fresh).await);
    assert_eq!(
        app.get("/protected", &app.token("user_bob")).await.status,
        200
    );
}

async fn a_restarted_instance_still_refuses_revoked_sessions(db: Db) {
    let mut app = TestApp::start(db).await;
    let revoked = session_token(&app, "user_ada", "sess_revoked");
    let deleted_user = session_token(&app, "user_gone", "sess_gone");
    let kept = session_token(&app, "user_ada", "sess_kept");
    app.deliver(
        "msg_1",
        &event(
            "session.revoked",
            session("sess_revoked", "user_ada", "revoked"),
        ),
    )
    .await;
    app.deliver(
        "msg_2",
        &event("user.deleted", deleted("user", "user_gone")),
    )
    .await;
    app.restart().await;
    assert_revoked(&app.get("/protected", &revoked).await);
    assert_revoked(&app.get("/protected", &deleted_user).await);
    assert_eq!(app.get("/protected", &kept).await.status, 200);
}

/// Polls `peer` until it refuses `token` as revoked; fails after `within`.
async fn wait_until_revoked(peer: &Peer, token: &str, within: Duration) -> Duration {
    let started = tokio::time::Instant::now();
    loop {
        let reply = peer.get("/protected", token).await;
        if reply.status == 401 {
            assert_revoked(&reply);
            return started.elapsed();
        }
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert!(
            started.elapsed() < within,
            "the other instance still accepts the token after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn another_instance_refuses_a_revoked_session_within_a_second() {
    let app = TestApp::start(Db::Postgres).await;
    let peer = app.peer().await;
    let token = session_token(&app, "user_ada", "sess_1");
    let doomed_user = session_token(&app, "user_gone", "sess_2");
    // The peer has verified (and cached) both tokens.
    assert_eq!(peer.get("/protected", &token).await.status, 200);
    assert_eq!(peer.get("/protected", &doomed_user).await.status, 200);

    let reply = app
        .deliver(
            "msg_1",
            &event("session.revoked", session("sess_1", "user_ada", "revoked")),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    wait_until_revoked(&peer, &token, Duration::from_secs(1)).await;

    let reply = app
        .deliver(
            "msg_2",
            &event("user.deleted", deleted("user", "user_gone")),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    wait_until_revoked(&peer, &doomed_user, Duration::from_secs(1)).await;
    peer.server.shutdown().await;
}

async fn a_new_instance_loads_revocations_made_before_it_started() {
    let app = TestApp::start(Db::Postgres).await;
    let token = session_token(&app, "user_ada", "sess_1");
    app.deliver(
        "msg_1",
        &event("session.ended", session("sess_1", "user_ada", "ended")),
    )
    .await;
    let peer = app.peer().await;
    assert_revoked(&peer.get("/protected", &token).await);
    peer.server.shutdown().await;
}

async fn the_listener_reconnects_and_catches_up_on_missed_revocations() {
    let app = TestApp::start(Db::Postgres).await;
    let peer = app.peer().await;
    let token = session_token(&app, "user_ada", "sess_1");
    assert_eq!(peer.get("/protected", &token).await.status, 200);
    let listeners = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = $1",
        )
        .bind(api_server::revocation::LISTENER_APPLICATION_NAME)
        .fetch_one(&app.pool())
        .await
        .unwrap()
    };
    assert_eq!(listeners().await, 2, "one listener per instance");

    // A revocation committed without a notification reaching anyone (as if sent while the
    // listeners were away) is not known...
    sqlx::query(
        "INSERT INTO revoked_sessions (session_id, user_id, revoked_at) VALUES ($1, $2, $3)",
    )
    .bind("sess_1")
    .bind("user_ada")
    .bind(crate::events::now_ms())
    .execute(&app.pool())
    .await
    .unwrap();
    assert_eq!(peer.get("/protected", &token).await.status, 200);

    // ...until the connection drops: the listener reconnects, then reloads the tables.
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = $1",
    )
    .bind(api_server::revocation::LISTENER_APPLICATION_NAME)
    .fetch_all(&app.pool())
    .await
    .unwrap();
    assert_eq!(cut, [true, true]);
    wait_until_revoked(&peer, &token, Duration::from_secs(5)).await;

    // Listening again: the next revocation arrives by notification.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while listeners().await < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the listeners came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let next = session_token(&app, "user_ada", "sess_2");
    assert_eq!(peer.get("/protected", &next).await.status, 200);
    app.deliver(
        "msg_2",
        &event("session.revoked", session("sess_2", "user_ada", "revoked")),
    )
    .await;
    wait_until_revoked(&peer, &next, Duration::from_secs(1)).await;
    peer.server.shutdown().await;
}
