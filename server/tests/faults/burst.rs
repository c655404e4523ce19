//! A burst of Clerk webhooks from the emulator (Svix-style: signed, retried, one message id
//! across retries) into the server, and what the server's database holds afterwards.

use std::collections::BTreeSet;
use std::time::Duration;

use clerk_emulator::{Delivery, EmulatorServer, NewUser};
use sqlx::Row;

use crate::support::{ServerProcess, WEBHOOK_SECRET};

/// Retries at test speed, but more of them than the default, so that an outage of a few
/// seconds does not exhaust the schedule (Svix's own schedule runs for a day).
pub const RETRIES: [Duration; 10] = [
    Duration::from_millis(200),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(2),
    Duration::from_secs(3),
    Duration::from_secs(3),
    Duration::from_secs(3),
    Duration::from_secs(3),
    Duration::from_secs(3),
];

/// Points the emulator's webhooks at `server`, signed with the server's secret.
pub fn aim(clerk: &EmulatorServer, server: &ServerProcess) {
    let emulator = clerk.emulator();
    assert!(emulator.set_webhook_secret(WEBHOOK_SECRET));
    emulator.set_retry_schedule(RETRIES.to_vec());
    // As Svix: an attempt may take 15 s before it counts as failed, so a server that answers
    // a database outage with a 5xx after its pool's 5 s acquire timeout is heard.
    emulator.set_delivery_timeout(Duration::from_secs(15));
    emulator.set_webhook(server.url("/webhooks/clerk"));
}

/// Creates `n` users in the emulator: `n` `user.created` messages queued for delivery.
pub fn create_users(clerk: &EmulatorServer, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            clerk
                .emulator()
                .create_user(
                    NewUser::new()
                        .email(format!("{prefix}{i}@example.com"))
                        .first_name(format!("User {i}")),
                )
                .expect("the emulator creates the user")
                .id
        })
        .collect()
}

/// The user id a delivery's body is about (`data.id`).
pub fn subject(delivery: &Delivery) -> String {
    let body: serde_json::Value = serde_json::from_str(&delivery.body).unwrap();
    body["data"]["id"].as_str().unwrap().to_owned()
}

/// What the server's database holds: the ids of live users, and the message ids of applied
/// deliveries; and how many rows each table has (duplicates would show there).
#[derive(Debug)]
pub struct Applied {
    pub users: BTreeSet<String>,
    pub user_rows: i64,
    pub messages: BTreeSet<String>,
    pub message_rows: i64,
}

/// Reads [`Applied`] straight from the database (SQLite file or PostgreSQL).
pub async fn applied(database_url: &str) -> Applied {
    let pool = crate::support::database(database_url).await;
    let column = |sql: &'static str| {
        let pool = &pool;
        async move {
            sqlx::query(sql)
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<String, _>(0))
                .collect::<Vec<_>>()
        }
    };
    let users = column("SELECT id FROM users WHERE deleted = FALSE").await;
    let messages = column("SELECT svix_id FROM webhook_deliveries").await;
    pool.close().await;
    Applied {
        user_rows: users.len() as i64,
        users: users.into_iter().collect(),
        message_rows: messages.len() as i64,
        messages: messages.into_iter().collect(),
    }
}

/// How many messages the server has acknowledged so far.
pub fn delivered(clerk: &EmulatorServer) -> usize {
    clerk
        .emulator()
        .deliveries()
        .iter()
        .filter(|d| d.delivered)
        .count()
}

/// Waits until at least `n` messages are acknowledged (at most 60 s): the burst is under way.
pub async fn wait_delivered(clerk: &EmulatorServer, n: usize) {
    assert!(
        crate::support::eventually(Duration::from_secs(60), || async { delivered(clerk) >= n })
            .await,
        "{n} deliveries acknowledged"
    );
}

/// Waits until every message is delivered, redelivering (as an operator would from Svix's
/// dashboard) any whose retry schedule ran out; `limit` in all.
pub async fn deliver_all(clerk: &EmulatorServer, limit: Duration) -> u32 {
    let emulator = clerk.emulator();
    let deadline = std::time::Instant::now() + limit;
    let mut redelivered = 0;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if emulator.wait_delivered(left).await {
            return redelivered;
        }
        let failed: Vec<String> = emulator
            .deliveries()
            .into_iter()
            .filter(|d| d.failed)
            .map(|d| d.msg_id)
            .collect();
        assert!(
            !failed.is_empty() && std::time::Instant::now() < deadline,
            "deliveries still pending after {limit:?}: {:?}",
            emulator
                .deliveries()
                .iter()
                .filter(|d| !d.delivered)
                .map(|d| (&d.msg_id, &d.statuses, &d.last_error))
                .collect::<Vec<_>>()
        );
        for id in failed {
            emulator.redeliver(&id);
            redelivered += 1;
        }
    }
}
