//! Revoked sessions and deleted users, known to every instance at once.
//!
//! A Clerk session token lives 60 seconds, so a session revoked in Clerk would keep working
//! until its token expires. Clerk's `session.revoked`, `session.ended`, `session.removed` and
//! `user.deleted` webhooks close that gap ([`Revocation::from_event`]): the service that
//! receives the delivery writes it to its database in the transaction that applies it, and
//! after the commit its verifier refuses the session's (or user's) tokens with
//! `session-revoked`.
//!
//! Every instance has to know, not only the one that received the delivery:
//! - **at startup**, an instance loads the revocations of the last day (the verifier's
//!   [`REVOCATION_TTL`], far beyond any token's life) from its tables;
//! - **on PostgreSQL**, the transaction also sends `NOTIFY clerk_revocations` ([`notify`];
//!   delivered only at commit, and not at all on rollback), and every instance keeps a
//!   `LISTEN clerk_revocations` connection ([`listen`]) that applies each notification as it
//!   comes, within milliseconds. When that connection is lost, the listener reconnects with
//!   back-off and, once listening again, reloads the revocations from the tables, so none sent
//!   while it was away is missed.
//!
//! The reference server and the gateway share this: each keeps its own tables (it knows what
//! they are: the `reload` function of [`listen`]) and both speak on the same channel, so a
//! server and gateways on one database learn each other's revocations.

use std::str::FromStr;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;

use clerk_auth::Verifier;
#[cfg(doc)]
use clerk_auth::REVOCATION_TTL;
use clerk_webhooks::{Event, EventData};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::AnyConnection;
use tokio::sync::watch;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "clerk_revocations";

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

    /// The revocation a Clerk event asks for: `session.revoked`, `session.ended` and
    /// `session.removed` revoke one session, `user.deleted` every session of the user; any
    /// other event, none.
    pub fn from_event(event: &Event) -> Option<Revocation> {
        match &event.data {
            EventData::SessionRevoked(session)
            | EventData::SessionEnded(session)
            | EventData::SessionRemoved(session) => Some(Revocation::Session(session.id.clone())),
            EventData::UserDeleted(deleted) => Some(Revocation::User(deleted.id.clone())),
            _ => None,
        }
    }

    /// Reads a notification payload.
    pub fn from_payload(payload: &str) -> Option<Revocation> {
        serde_json::from_str(payload).ok()
    }
}

/// Tells every instance about `revocation` once the transaction on `conn`, a PostgreSQL
/// connection, commits (`pg_notify` inside a transaction is delivered at commit, and dropped
/// on rollback).
pub async fn notify(conn: &mut AnyConnection, revocation: &Revocation) -> Result<(), sqlx::Error> {
    // `pg_notify` returns `void`, which the Any driver cannot decode: cast it.
    sqlx::query("SELECT pg_notify($1, $2)::text")
        .bind(CHANNEL)
        .bind(revocation.payload())
        .execute(conn)
        .await
        .map(drop)
}

/// Reads the revocations of the last day from a service's own tables (called at each
/// (re)connection of the listener).
pub type Reload = Box<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<Vec<Revocation>, sqlx::Error>> + Send>>
        + Send
        + Sync,
>;

/// Applies `revocations` to `verifier`; returns how many.
pub fn apply_all(revocations: &[Revocation], verifier: &Verifier) -> usize {
    for revocation in revocations {
        revocation.apply(verifier);
    }
    revocations.len()
}

/// A connection listening on [`CHANNEL`], outside the pool (it is held for good).
/// `application_name` is what `pg_stat_activity` shows for it.
pub async fn connect_listener(
    url: &str,
    application_name: &str,
) -> Result<PgListener, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.application_name(application_name);
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
/// listening, whose missed revocations were loaded; `None` to connect first. `reload` reads
/// the service's tables after each reconnection.
pub async fn listen(
    url: String,
    application_name: String,
    verifier: Verifier,
    listener: Option<PgListener>,
    reload: Reload,
    mut stop: watch::Receiver<bool>,
) {
    let mut retry = FIRST_RETRY;
    let mut connected = listener;
    loop {
        let mut listener = match connected.take() {
            Some(listener) => listener,
            None => match reconnect(&url, &application_name, &verifier, &reload).await {
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
                Ok(None) => match reload().await {
                    Ok(revocations) => {
                        apply_all(&revocations, &verifier);
                        tracing::info!("revocation listener: reconnected");
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "revocation listener: cannot reload revocations after a reconnection");
                        break;
                    }
                },
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
async fn reconnect(
    url: &str,
    application_name: &str,
    verifier: &Verifier,
    reload: &Reload,
) -> Result<PgListener, sqlx::Error> {
    let listener = connect_listener(url, application_name).await?;
    let loaded = apply_all(&reload().await?, verifier);
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
