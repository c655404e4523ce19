//! The server's side of revocations ([`clerk_service::revocation`]): where they are kept.
//!
//! A revoked session is a row of `revoked_sessions`, a deleted user the tombstone in `users`,
//! both written in the transaction that applies the webhook ([`crate::sync`]). At startup and
//! after each reconnection of the PostgreSQL listener, the last day of both is loaded into the
//! verifier ([`recent`]).

use clerk_auth::REVOCATION_TTL;
pub use clerk_service::revocation::{Revocation, CHANNEL};

use crate::db::{now_ms, Db};

/// The `application_name` of the listening connection, as `pg_stat_activity` shows it.
pub const LISTENER_APPLICATION_NAME: &str = "api-server revocation listener";

/// The revocations of the last day, from the tables.
pub async fn recent(db: &Db) -> Result<Vec<Revocation>, sqlx::Error> {
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
    Ok(sessions
        .into_iter()
        .map(Revocation::Session)
        .chain(users.into_iter().map(Revocation::User))
        .collect())
}

/// What the listener calls to catch up after a reconnection.
pub fn reload(db: Db) -> clerk_service::revocation::Reload {
    Box::new(move || {
        let db = db.clone();
        Box::pin(async move { recent(&db).await })
    })
}
