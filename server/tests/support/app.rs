//! The server in the test's process: the real app on a free loopback port, a local Clerk (the
//! emulator), a fresh database (an SQLite file, or a PostgreSQL database created for the test
//! and dropped after it), and an HTTP client.

use std::path::PathBuf;

use api_server::{Config, Settings};
use clerk_emulator::{EmulatorServer, Organization};
use reqwest::Method;
use serde_json::Value;
use sqlx::{Connection, Executor};

use super::{clerk, client, read, Reply, WEBHOOK_SECRET};

/// Where the PostgreSQL tests create their databases (trust auth). `TEST_POSTGRES_URL`
/// overrides it.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn name(db: Db)` of the enclosing module once on SQLite and once on
/// PostgreSQL, as `sqlite::name` and `postgres::name`.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::support::Db::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::support::Db::Postgres).await
                }
            )*
        }
    };
}
pub(crate) use on_both_databases;

/// A database for one test, removed when dropped.
pub struct TestDb {
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    pub async fn new(db: Db) -> TestDb {
        let suffix = random_suffix();
        match db {
            Db::Sqlite => {
                let path = std::env::temp_dir().join(format!("api-server-test-{suffix}.db"));
                TestDb {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    cleanup: Cleanup::File(path),
                }
            }
            Db::Postgres => {
                let admin_url = std::env::var("TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|err| {
                        panic!(
                            "PostgreSQL is not reachable at {admin_url}: {err}\n\
                             The PostgreSQL tests need a running server (CI starts one); \
                             set TEST_POSTGRES_URL to use another."
                        )
                    });
                let name = format!("api_test_{suffix}");
                conn.execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .unwrap_or_else(|err| panic!("cannot create database {name}: {err}"));
                let _ = conn.close().await;
                TestDb {
                    url: with_database(&admin_url, &name),
                    cleanup: Cleanup::Postgres { admin_url, name },
                }
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                // Drop runs inside the test's runtime: use a thread with its own.
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime");
                    runtime.block_on(async {
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                            let _ = conn
                                .execute(
                                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                                )
                                .await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// `postgres://u@h:p/db?x` with another database name.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// Checks `config` and starts the server, as the binary does.
pub async fn start(config: Config) -> Result<api_server::Server, String> {
    let settings = Settings::from_config(config).map_err(|err| err.to_string())?;
    api_server::start(settings)
        .await
        .map_err(|err| err.to_string())
}

/// The running server, its Clerk and its database.
pub struct TestApp {
    pub server: Option<api_server::Server>,
    pub clerk: EmulatorServer,
    pub base: String,
    pub client: reqwest::Client,
    /// What the server was started with (for restarts and more instances).
    pub config: Config,
    // Dropped last: after the server.
    _db: TestDb,
}

/// Another instance of the server, on the same database and Clerk as a [`TestApp`].
pub struct Peer {
    pub server: api_server::Server,
    pub base: String,
    pub client: reqwest::Client,
}

impl Peer {
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        let request = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token);
        read(request.send().await.expect("the request is answered")).await
    }
}

impl TestApp {
    /// The server on `db`, with the default configuration.
    pub async fn start(db: Db) -> TestApp {
        TestApp::start_with(db, |_| {}).await
    }

    /// The server on `db`, with the configuration edited by `edit`.
    pub async fn start_with(db: Db, edit: impl FnOnce(&mut Config)) -> TestApp {
        TestApp::start_with_clerk(clerk().await, db, edit).await
    }

    /// The server pointed at an emulator prepared by the test (faults, keys).
    pub async fn start_with_clerk(
        clerk: EmulatorServer,
        db: Db,
        edit: impl FnOnce(&mut Config),
    ) -> TestApp {
        let test_db = TestDb::new(db).await;
        let mut config = Config {
            clerk_webhook_signing_secret: Some(WEBHOOK_SECRET.into()),
            database_url: Some(test_db.url().into()),
            bind: "127.0.0.1:0".parse().expect("an address"),
            ..Config::default()
        };
        config.clerk.clerk_jwks_url = Some(clerk.jwks_url());
        edit(&mut config);
        let server = start(config.clone()).await.expect("the server starts");
        let base = format!("http://{}", server.local_addr());
        TestApp {
            server: Some(server),
            clerk,
            base,
            client: client(),
            config,
            _db: test_db,
        }
    }

    /// Stops the server and starts it again on the same database (on another port).
    pub async fn restart(&mut self) {
        self.stop().await;
        let server = start(self.config.clone())
            .await
            .expect("the server starts again");
        self.base = format!("http://{}", server.local_addr());
        self.server = Some(server);
    }

    /// Another instance sharing this one's database and Clerk.
    pub async fn peer(&self) -> Peer {
        let server = start(self.config.clone())
            .await
            .expect("another instance starts");
        Peer {
            base: format!("http://{}", server.local_addr()),
            server,
            client: client(),
        }
    }

    /// The database, as the server sees it.
    pub fn pool(&self) -> sqlx::AnyPool {
        self.server().state().db().pool().clone()
    }

    /// The number of rows of `table`.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&self.pool())
            .await
            .expect("a count")
    }

    /// Posts a webhook delivery signed with [`WEBHOOK_SECRET`] now, as Svix would.
    pub async fn deliver(&self, svix_id: &str, event: &Value) -> Reply {
        let body = serde_json::to_vec(event).expect("JSON");
        let timestamp = clerk_emulator::unix_now();
        let signature = clerk_webhooks::Webhook::new(WEBHOOK_SECRET)
            .expect("the test secret")
            .sign(svix_id, timestamp, &body);
        self.deliver_raw(
            &[
                ("svix-id", svix_id),
                ("svix-timestamp", &timestamp.to_string()),
                ("svix-signature", &signature),
            ],
            body,
        )
        .await
    }

    /// Posts a webhook delivery with exactly these headers and body.
    pub async fn deliver_raw(&self, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        let mut request = self
            .client
            .post(self.url("/webhooks/clerk"))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.send().await.expect("the request is answered")).await
    }

    pub fn server(&self) -> &api_server::Server {
        self.server.as_ref().expect("the server is running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A session token of `user`, outside any organization, valid for 10 minutes.
    pub fn token(&self, user: &str) -> String {
        self.clerk.session_token().user(user).expires_in(600).sign()
    }

    /// A session token of `user` with `org` active, with this role and these permissions.
    pub fn org_token(&self, user: &str, org: &str, role: &str, permissions: &[&str]) -> String {
        self.clerk
            .session_token()
            .user(user)
            .organization(
                Organization::new(org)
                    .role(role)
                    .permissions(permissions.iter().copied()),
            )
            .expires_in(600)
            .sign()
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        read(request.send().await.expect("the request is answered")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(&body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(token), Some(&body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Creates a note and returns it; fails the test unless it is created.
    pub async fn create_note(&self, token: &str, title: &str) -> Value {
        let reply = self
            .post(
                "/v1/notes",
                token,
                serde_json::json!({ "title": title, "body": "text" }),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.json
    }

    /// Stops the server gracefully.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

#[test]
fn postgres_urls_get_the_test_database() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/test?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}
