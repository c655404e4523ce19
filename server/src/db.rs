//! The database: SQLite (one file, the default) or PostgreSQL, through one [`sqlx::AnyPool`]
//! so the same queries and migrations run on both.
//!
//! Portable SQL only: `$1` placeholders, `TEXT`/`BIGINT`/`BOOLEAN` columns, times as `BIGINT`
//! Unix milliseconds, JSON kept as text. Only this module, [`crate::sync`],
//! [`crate::revocation`] and `http/` know SQL.

use std::path::Path;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::AnyPool;

/// The migrations of `server/migrations/`, embedded in the binary and applied at startup in
/// the order of their numbers; a new file there is applied without any other change. sqlx
/// takes a lock on PostgreSQL, so several instances starting at once apply each one once.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, a file (or memory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A checked `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    backend: Backend,
}

impl std::fmt::Debug for DatabaseUrl {
    /// The URL is not shown: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseUrl")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl DatabaseUrl {
    /// Checks the scheme: `sqlite:` or `postgres://` / `postgresql://`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(
                "must start with sqlite: (e.g. sqlite://data/api.db?mode=rwc) or postgres://"
                    .to_owned(),
            );
        };
        Ok(DatabaseUrl {
            url: url.to_owned(),
            backend,
        })
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL itself. It may hold a password: never log it.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The file of an SQLite URL, if it names one (not `:memory:`).
    fn sqlite_file(&self) -> Option<&Path> {
        let rest = self.url.strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
    }
}

/// The connection pool and which backend it talks to.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    url: DatabaseUrl,
}

impl Db {
    /// Connects (creating an SQLite file's directory), then applies the migrations.
    pub async fn connect(url: &DatabaseUrl) -> Result<Db, sqlx::Error> {
        sqlx::any::install_default_drivers();
        if let Some(dir) = url.sqlite_file().and_then(Path::parent) {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5));
        let options = match (url.backend, url.sqlite_file()) {
            // One writer at a time anyway; a few readers.
            (Backend::Sqlite, Some(_)) => options.max_connections(4),
            // Each connection to `:memory:` is its own database: keep exactly one, forever.
            (Backend::Sqlite, None) => options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None),
            (Backend::Postgres, _) => options.max_connections(10),
        };
        let pool = options.connect(&url.url).await?;
        if url.backend == Backend::Sqlite && url.sqlite_file().is_some() {
            // Readers do not block the writer; kept in the file once set.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        MIGRATOR.run(&pool).await?;
        Ok(Db {
            pool,
            url: url.clone(),
        })
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.url.backend
    }

    /// The URL it was opened with (for connections outside the pool, such as PostgreSQL's
    /// `LISTEN`).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Whether the database answers `SELECT 1`.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(drop)
    }

    /// Closes every connection, waiting for those in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_apart() {
        let url = DatabaseUrl::parse("sqlite://data/api.db?mode=rwc").unwrap();
        assert_eq!(url.backend(), Backend::Sqlite);
        assert_eq!(url.sqlite_file(), Some(Path::new("data/api.db")));
        let url = DatabaseUrl::parse("sqlite::memory:").unwrap();
        assert_eq!(url.sqlite_file(), None);
        let url = DatabaseUrl::parse("postgres://postgres@127.0.0.1:5432/test").unwrap();
        assert_eq!(url.backend(), Backend::Postgres);
        assert!(DatabaseUrl::parse("mysql://localhost/db").is_err());
    }

    #[test]
    fn debug_hides_the_url() {
        let url = DatabaseUrl::parse("postgres://user:hunter2@db/app").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
    }

    #[test]
    fn every_file_in_the_migrations_folder_is_embedded() {
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .expect("the migrations folder")
            .filter(|entry| {
                entry
                    .as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
            })
            .count();
        assert_eq!(MIGRATOR.iter().count(), files);
        let versions: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        assert_eq!(versions, [1, 2]);
    }
}
