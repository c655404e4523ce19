//! Revoked sessions and deleted users, known to every instance at once.
//!
//! A Clerk session token lives 60 seconds, so a session revoked in Clerk would keep working
//! here until its token expires. Clerk's `session.revoked`, `session.ended`,
//! `session.removed` and `user.deleted` webhooks close that gap: the delivery is written to
//! the database (`revoked_sessions`, or the user's tombstone in `users`) in the transaction
//! that applies it, and after the commit the verifier refuses the session's (or user's)
//! tokens with `session-revoked`.
//!
//! Every instance has to know, not only the one that received the delivery:
//! - **at startup**, an instance loads the revocations of the last day (the verifier's
//!   [`REVOCATION_TTL`], far beyond any token's life) from the tables;
//! - **on PostgreSQL**, the transaction also sends `NOTIFY clerk_revocations` (delivered
//!   only at commit, and not at all on rollback), and every instance keeps a `LISTEN
//!   clerk_revocations` connection ([`listen`]) that applies each notification as it comes,
//!   within milliseconds. When that connection is lost, the listener reconnects with
//!   back-off and, once listening again, reloads the revocations from the tables, so none sent
//!   while it was away is missed;
//! - **on SQLite** there is one instance: it applies revocations itself after the commit.

use std::str::FromStr;
use std::time::Duration;

use clerk_auth::Verifier;
use clerk_auth::REVOCATION_TTL;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::AnyConnection;
use tokio::sync::watch;

use crate::db::{now_ms, Backend, Db};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "clerk_revocations";

/// The `application_name` of the listening connection, as `pg_stat_activity` shows it.
pub const LISTENER_APPLICATION_NAME: &str = "api-server revocation listener";

/// The first wait before reconnecting the listener, doubled after each failure.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// The longest wait before reconnecting the listener.
const LAST_RETRY: Duration = Duration::from_secs(10);

/// A session, or all of a user's sessions, whose tokens are to be refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Revocation {
    /// One session (`sess_…`): revoked, ended or removed.
    Session(String),
    /// Every session of a deleted user (`user_…`).
    User(String),
}

impl Revocation {
    /// Makes the verifier refuse the tokens it covers.
    pub fn apply(&self, verifier: &Verifier) {
        match self {
            Revocation::Session(id) => verifier.revoke_session(id),
            Revocation::User(id) => verifier.revoke_user(id),
        }
    }

    /// The notification payload: `{"kind":"session","id":"sess_…"}`.
    pub fn payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a notification payload.
    pub fn from_payload(payload: &str) -> Option<Revocation> {
        serde_json::from_str(payload).ok()
    }
}

/// On PostgreSQL, tells every instance about `revocation` once the transaction on `conn`
/// commits (`pg_notify` inside a transaction is delivered at commit, and dropped on rollback).
/// Nothing to do on SQLite.
pub async fn notify(
    conn: &mut AnyConnection,
    backend: Backend,
    revocation: &Revocation,
) -> Result<(), sqlx::Error> {
    if backend != Backend::Postgres {
        return Ok(());
    }
    // `pg_notify` returns `void`, which the Any driver cannot decode: cast it.
    sqlx::query("SELECT pg_notify($1, $2)::text")
        .bind(CHANNEL)
        .bind(revocation.payload())
        .execute(conn)
        .await
        .map(drop)
}

/// Loads the revocations of the last day from the tables into the verifier; returns how many.
pub async fn load_recent(db: &Db, verifier: &Verifier) -> Result<usize, sqlx::Error> {
    let since = now_ms().saturating_sub(i64::try_from(REVOCATION_TTL.as_millis()).unwrap_or(0));
    let sessions: Vec<String> =
        sqlx::query_scalar("SELECT session_id FROM revoked_sessions WHERE revoked_at >= $1")
            .bind(since)
            .fetch_all(db.pool())
            .await?;
    let users: Vec<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE deleted = TRUE AND deleted_at >= $1")
            .bind(since)
            .fetch_all(db.pool())
            .await?;
    let revocations = sessions
        .into_iter()
        .map(Revocation::Session)
        .chain(users.into_iter().map(Revocation::User));
    let mut count = 0;
    for revocation in revocations {
        revocation.apply(verifier);
        count += 1;
    }
    Ok(count)
}

/// A connection listening on [`CHANNEL`], outside the pool (it is held for good).
pub async fn connect_listener(db: &Db) -> Result<PgListener, sqlx::Error> {
    let options =
        PgConnectOptions::from_str(db.url().as_str())?.application_name(LISTENER_APPLICATION_NAME);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options);
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Applies every revocation notified on [`CHANNEL`] until `stop`, reconnecting (and catching
/// up from the tables) whenever the connection is lost. `listener` is a connection already
/// listening, whose missed revocations were loaded; `None` to connect first.
pub async fn listen(
    db: Db,
    verifier: Verifier,
    listener: Option<PgListener>,
    mut stop: watch::Receiver<bool>,
) {
    let mut retry = FIRST_RETRY;
    let mut connected = listener;
    loop {
        let mut listener = match connected.take() {
            Some(listener) => listener,
            None => match reconnect(&db, &verifier).await {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::warn!(error = %err, retry_in_ms = retry.as_millis() as u64, "revocation listener: cannot listen; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(retry) => {}
                        _ = stop.wait_for(|stop| *stop) => return,
                    }
                    retry = (retry * 2).min(LAST_RETRY);
                    continue;
                }
            },
        };
        retry = FIRST_RETRY;
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                _ = stop.wait_for(|stop| *stop) => return,
            };
            match received {
                Ok(Some(notification)) => match Revocation::from_payload(notification.payload()) {
                    Some(revocation) => {
                        tracing::debug!(?revocation, "revocation notified");
                        revocation.apply(&verifier);
                    }
                    None => tracing::warn!(
                        payload = notification.payload(),
                        "revocation listener: a notification that is not a revocation"
                    ),
                },
                // The connection dropped and sqlx listens again on a new one: catch up on
                // what was notified in between.
                Ok(None) => {
                    if let Err(err) = load_recent(&db, &verifier).await {
                        tracing::warn!(error = %err, "revocation listener: cannot reload revocations after a reconnection");
                        break;
                    }
                    tracing::info!("revocation listener: reconnected");
                }
                Err(err) => {
                    tracing::warn!(error = %err, "revocation listener: connection lost");
                    break;
                }
            }
        }
    }
}

/// Listens again, then loads what may have been missed meanwhile. In this order: a
/// revocation committed after the load is notified, one committed before is in the tables.
async fn reconnect(db: &Db, verifier: &Verifier) -> Result<PgListener, sqlx::Error> {
    let listener = connect_listener(db).await?;
    let loaded = load_recent(db, verifier).await?;
    tracing::info!(revocations = loaded, "revocation listener: listening");
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let session = Revocation::Session("sess_1".into());
        assert_eq!(session.payload(), r#"{"kind":"session","id":"sess_1"}"#);
        assert_eq!(Revocation::from_payload(&session.payload()), Some(session));
        let user = Revocation::User("user_1".into());
        assert_eq!(user.payload(), r#"{"kind":"user","id":"user_1"}"#);
        assert_eq!(Revocation::from_payload(&user.payload()), Some(user));
        assert_eq!(Revocation::from_payload(r#"{"kind":"org","id":"x"}"#), None);
        assert_eq!(Revocation::from_payload("nonsense"), None);
    }
}
