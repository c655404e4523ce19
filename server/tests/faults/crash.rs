//! Scenario 7: the server killed with SIGKILL in the middle of a webhook burst. Everything it
//! answered 2xx for (the emulator's delivery log says which) is in the database after the
//! crash; after a restart the retries complete the set, with nothing applied twice.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::burst::{aim, applied, create_users, deliver_all, subject, wait_delivered};
use crate::support::{clerk, ServerProcess};

const USERS: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_burst_loses_nothing_answered_2xx_and_applies_nothing_twice() {
    let started = Instant::now();
    let clerk = clerk().await;
    let mut server = ServerProcess::start(&clerk.jwks_url());
    aim(&clerk, &server);
    let users = create_users(&clerk, "crash-", USERS);
    let emulator = clerk.emulator();
    // A third of the burst acknowledged.
    wait_delivered(&clerk, USERS / 3).await;

    server.kill();
    // Nothing can be acknowledged any more: the log now says exactly what was.
    emulator.pause_delivery();
    let acknowledged: Vec<_> = emulator
        .deliveries()
        .into_iter()
        .filter(|d| d.delivered)
        .collect();
    let after_crash = applied(server.database_url()).await;
    let lost: Vec<&String> = acknowledged
        .iter()
        .map(|d| &d.msg_id)
        .filter(|id| !after_crash.messages.contains(*id))
        .collect();
    let lost_users: Vec<String> = acknowledged
        .iter()
        .map(subject)
        .filter(|id| !after_crash.users.contains(id))
        .collect();
    // Applied but never acknowledged (killed between the commit and the answer): harmless,
    // the redelivery is recognised as a duplicate.
    let unacknowledged_applied = after_crash.messages.len() - (acknowledged.len() - lost.len());

    let server = server.restart();
    emulator.set_webhook(server.url("/webhooks/clerk"));
    emulator.resume_delivery();
    let redelivered = deliver_all(&clerk, Duration::from_secs(120)).await;
    let log = emulator.deliveries();
    let db = applied(server.database_url()).await;
    let figures = format!(
        "figures: SIGKILL mid-burst: {USERS} messages, {} acknowledged before the kill, {} of \
         them missing after it ({} users missing), {unacknowledged_applied} applied but not \
         acknowledged; after the restart {} attempts in all, {redelivered} redelivered by hand; \
         database: {} users ({} rows), {} messages ({} rows); {:.2} s",
        acknowledged.len(),
        lost.len(),
        lost_users.len(),
        log.iter().map(|d| d.attempts).sum::<u32>(),
        db.users.len(),
        db.user_rows,
        db.messages.len(),
        db.message_rows,
        started.elapsed().as_secs_f64()
    );
    println!("{figures}");
    assert!(acknowledged.len() < USERS, "killed mid-burst: {figures}");
    assert!(
        lost.is_empty(),
        "acknowledged and lost: {lost:?}\n{figures}"
    );
    assert!(lost_users.is_empty(), "{lost_users:?}\n{figures}");
    assert!(log.iter().all(|d| d.delivered), "{figures}");
    let expected_users: BTreeSet<String> = users.into_iter().collect();
    assert_eq!(db.users, expected_users, "{figures}");
    assert_eq!(db.user_rows, USERS as i64, "{figures}");
    let messages: BTreeSet<String> = log.iter().map(|d| d.msg_id.clone()).collect();
    assert_eq!(db.messages, messages, "{figures}");
    assert_eq!(db.message_rows, USERS as i64, "{figures}");
}
