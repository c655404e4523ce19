//! Revocations shared by several gateway instances through PostgreSQL (`DATABASE_URL`).
//!
//! A revocation is written to `clerk_gateway_revocations` and notified on the channel of
//! [`clerk_service::revocation`] in one transaction; every instance listens on that channel,
//! and at startup and after each reconnection reloads the last day of the table. The table is
//! created if missing (`CREATE TABLE IF NOT EXISTS`, not a migration: the gateway may share a
//! database with the reference server, whose migrations table is its own).

use clerk_auth::REVOCATION_TTL;
use clerk_service::revocation::{self, Revocation};
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

/// The `application_name` of the listening connection.
pub const LISTENER_APPLICATION_NAME: &str = "clerk-gateway revocation listener";

/// The gateway's revocations table.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    url: String,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Connects and creates the table if missing.
    pub async fn connect(url: &str) -> Result<Store, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS clerk_gateway_revocations (\
             kind TEXT NOT NULL, id TEXT NOT NULL, revoked_at BIGINT NOT NULL, \
             PRIMARY KEY (kind, id))",
        )
        .execute(&pool)
        .await?;
        Ok(Store {
            pool,
            url: url.to_owned(),
        })
    }

    /// The database URL (for the listener's own connection).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Records `revocation` and notifies every instance, in one transaction.
    pub async fn record(&self, revocation: &Revocation) -> Result<(), sqlx::Error> {
        let (kind, id) = match revocation {
            Revocation::Session(id) => ("session", id),
            Revocation::User(id) => ("user", id),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO clerk_gateway_revocations (kind, id, revoked_at) VALUES ($1, $2, $3) \
             ON CONFLICT (kind, id) DO NOTHING",
        )
        .bind(kind)
        .bind(id.as_str())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        revocation::notify(&mut tx, revocation).await?;
        tx.commit().await
    }

    /// The revocations of the last day; older rows are deleted on the way.
    pub async fn recent(&self) -> Result<Vec<Revocation>, sqlx::Error> {
        let since = now_ms().saturating_sub(i64::try_from(REVOCATION_TTL.as_millis()).unwrap_or(0));
        sqlx::query("DELETE FROM clerk_gateway_revocations WHERE revoked_at < $1")
            .bind(since)
            .execute(&self.pool)
            .await?;
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT kind, id FROM clerk_gateway_revocations")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(kind, id)| match kind.as_str() {
                "session" => Some(Revocation::Session(id)),
                "user" => Some(Revocation::User(id)),
                _ => None,
            })
            .collect())
    }

    /// What the listener calls to catch up after a reconnection.
    pub fn reload(&self) -> revocation::Reload {
        let store = self.clone();
        Box::new(move || {
            let store = store.clone();
            Box::pin(async move { store.recent().await })
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
