//! Scenario 6: PostgreSQL stopped in the middle of a webhook burst, then started again. Every
//! delivery attempt is either applied (2xx) or answered 5xx, so Svix retries it; once the
//! database is back the retries complete the set: every user exactly once, every message
//! applied once. While the database is down, routes that need none keep authenticating.

use std::time::{Duration, Instant};

use crate::burst::{aim, applied, create_users, deliver_all, delivered, wait_delivered};
use crate::pg::{wait_up, PgInstance};
use crate::support::{clerk, client, ServerProcess};

/// Users created in the burst (one `user.created` delivery each).
const USERS: usize = 120;
/// How long PostgreSQL stays down.
const DOWN: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_burst_each_delivery_applied_once_or_answered_5xx() {
    let started = Instant::now();
    let pg = PgInstance::start();
    let clerk = clerk().await;
    let server = ServerProcess::start_on_database(&clerk.jwks_url(), &pg.url(), &[]);
    let client = client();
    let protected = |n: usize| {
        let token = clerk
            .session_token()
            .user(format!("user_db_down_{n}"))
            .jti(format!("jti_db_down_{n}"))
            .sign();
        let request = client.get(server.url("/protected")).bearer_auth(token);
        async move { request.send().await.map(|r| r.status().as_u16()) }
    };
    assert_eq!(protected(0).await.unwrap(), 200);

    aim(&clerk, &server);
    let users = create_users(&clerk, "pg-burst-", USERS);
    let emulator = clerk.emulator();
    // A third of the burst acknowledged.
    wait_delivered(&clerk, USERS / 3).await;

    pg.stop_server();
    let stopped = Instant::now();
    let delivered_at_stop = delivered(&clerk);
    // Down: authentication on a route without a database still works, with fresh tokens
    // (not from the verified-token cache); readiness says the database is gone.
    let mut auth_while_down = 0;
    for n in 1..=10 {
        assert_eq!(
            protected(n).await.unwrap(),
            200,
            "GET /protected while down"
        );
        auth_while_down += 1;
    }
    let (readyz_down, readyz_body) = server.readyz(&client).await;
    assert_eq!(readyz_down, 503, "{readyz_body}");
    assert_eq!(readyz_body["database"]["ok"], false, "{readyz_body}");
    tokio::time::sleep(DOWN.saturating_sub(stopped.elapsed())).await;
    pg.start_server();
    let down_for = stopped.elapsed();
    assert!(wait_up(&pg.url(), Duration::from_secs(30)).await);

    let redelivered = deliver_all(&clerk, Duration::from_secs(120)).await;
    assert!(
        server
            .wait_readyz(&client, 200, Duration::from_secs(15))
            .await,
        "ready again once PostgreSQL is back"
    );

    let log = emulator.deliveries();
    let attempts: Vec<Option<u16>> = log.iter().flat_map(|d| d.statuses.clone()).collect();
    let ok = attempts
        .iter()
        .filter(|s| matches!(s, Some(200..=299)))
        .count();
    let server_errors = attempts
        .iter()
        .filter(|s| matches!(s, Some(500..=599)))
        .count();
    let db = applied(server.database_url()).await;
    let figures = format!(
        "figures: PostgreSQL down {:.1} s mid-burst: {USERS} messages, {} attempts ({ok} × 2xx, \
         {server_errors} × 5xx, {} other), {delivered_at_stop} delivered before the stop, \
         {redelivered} redelivered by hand; {auth_while_down} × 200 on /protected and \
         /readyz {readyz_down} while down; database: {} users ({} rows), {} messages ({} rows); \
         {:.2} s",
        down_for.as_secs_f64(),
        attempts.len(),
        attempts.len() - ok - server_errors,
        db.users.len(),
        db.user_rows,
        db.messages.len(),
        db.message_rows,
        started.elapsed().as_secs_f64()
    );
    println!("{figures}");
    // Every attempt was answered, with a 2xx or a 5xx: never a 4xx (Svix would drop it),
    // never silence.
    assert_eq!(ok + server_errors, attempts.len(), "{figures}\n{log:?}");
    assert!(server_errors > 0, "the outage hit the burst: {figures}");
    assert!(log.iter().all(|d| d.delivered), "{figures}");
    let expected_users: std::collections::BTreeSet<String> = users.into_iter().collect();
    assert_eq!(db.users, expected_users, "{figures}");
    assert_eq!(db.user_rows, USERS as i64, "{figures}");
    let messages: std::collections::BTreeSet<String> =
        log.iter().map(|d| d.msg_id.clone()).collect();
    assert_eq!(db.messages, messages, "{figures}");
    assert_eq!(db.message_rows, USERS as i64, "{figures}");
}
