//! The `api-server` binary as a child process on a free loopback port with an SQLite file (or a
//! PostgreSQL database), and raw HTTP/1.1 over TCP for requests no well-behaved client would
//! send.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{eventually, lines, BIN, WEBHOOK_SECRET};

/// A log filter for load: warnings only, and the `listening` line the harness waits for (no
/// access log line per request).
pub const QUIET_LOG: &str = "warn,api_server=info,api_server::http=warn";

/// The `api-server` process; killed (and its SQLite database removed) when dropped.
pub struct ServerProcess {
    child: Option<Child>,
    pub addr: SocketAddr,
    launch: Launch,
}

/// How a server process is started, kept for [`ServerProcess::restart`].
#[derive(Clone)]
struct Launch {
    jwks_url: String,
    database_url: String,
    /// The SQLite file to remove at the end, if the database is one.
    sqlite_file: Option<PathBuf>,
    env: Vec<(String, String)>,
}

impl ServerProcess {
    /// Starts the binary pointed at `jwks_url` and waits for its `listening` log line.
    pub fn start(jwks_url: &str) -> ServerProcess {
        Self::start_with(jwks_url, &[])
    }

    /// The same, with extra environment variables (key-cache tuning, limits…).
    pub fn start_with(jwks_url: &str, env: &[(&str, &str)]) -> ServerProcess {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let db = std::env::temp_dir().join(format!(
            "api-server-faults-{}-{}.db",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        Self::launch(Launch {
            jwks_url: jwks_url.to_owned(),
            database_url: format!("sqlite://{}?mode=rwc", db.display()),
            sqlite_file: Some(db),
            env: owned(env),
        })
    }

    /// Starts the binary on the PostgreSQL database at `database_url`.
    pub fn start_on_database(
        jwks_url: &str,
        database_url: &str,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        Self::launch(Launch {
            jwks_url: jwks_url.to_owned(),
            database_url: database_url.to_owned(),
            sqlite_file: None,
            env: owned(env),
        })
    }

    /// Starts the binary again, with the same settings and database, once this process has
    /// exited (or was killed).
    pub fn restart(mut self) -> ServerProcess {
        assert!(!self.alive(), "restart of a running server");
        self.child = None;
        Self::launch(self.launch.clone())
    }

    /// The database URL the process was started with.
    pub fn database_url(&self) -> &str {
        &self.launch.database_url
    }

    fn launch(launch: Launch) -> ServerProcess {
        let mut command = Command::new(BIN);
        command
            .env_clear()
            .env("CLERK_JWKS_URL", &launch.jwks_url)
            .env("DATABASE_URL", &launch.database_url)
            .env("BIND", "127.0.0.1:0")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("CLERK_WEBHOOK_SIGNING_SECRET", WEBHOOK_SECRET);
        for (name, value) in &launch.env {
            command.env(name, value);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let lines = lines(child.stderr.take().unwrap());
        let mut seen = Vec::new();
        let addr = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no `listening` line; seen:\n{}", seen.join("\n")));
            if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) {
                if entry["fields"]["message"] == "listening" {
                    break entry["fields"]["addr"].as_str().unwrap().parse().unwrap();
                }
            }
            seen.push(line);
        };
        // Keep draining the log so the child never blocks on a full pipe.
        std::thread::spawn(move || while lines.recv().is_ok() {});
        ServerProcess {
            child: Some(child),
            addr,
            launch,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The resident set size now and its peak so far (`VmRSS`, `VmHWM`), in KiB.
    pub fn rss_kib(&self) -> (u64, u64) {
        let field = |name: &str| {
            proc_status_kib(self.pid(), name)
                .unwrap_or_else(|| panic!("no {name} in /proc/<pid>/status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Kills the process with SIGKILL (no chance to finish anything) and reaps it.
    pub fn kill(&mut self) {
        let child = self.child.as_mut().unwrap();
        child.kill().expect("SIGKILL is sent");
        child.wait().expect("the killed process is reaped");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET /readyz`: its status and JSON body.
    pub async fn readyz(&self, client: &reqwest::Client) -> (u16, serde_json::Value) {
        let reply = client.get(self.url("/readyz")).send().await.unwrap();
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap())
    }

    /// Waits until `/readyz` answers `status`, at most `limit`; false on timeout.
    pub async fn wait_readyz(
        &self,
        client: &reqwest::Client,
        status: u16,
        limit: Duration,
    ) -> bool {
        eventually(limit, || async {
            client
                .get(self.url("/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().as_u16() == status)
        })
        .await
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    /// Sends SIGTERM (with the `kill` command: no `nix`, no `unsafe`).
    pub fn terminate(&self) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            // Handed over to a restarted process, which removes the database.
            return;
        };
        let _ = child.kill();
        let _ = child.wait();
        if let Some(db) = &self.launch.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = db.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

fn owned(env: &[(&str, &str)]) -> Vec<(String, String)> {
    env.iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// A pool on the server's database (SQLite file or PostgreSQL), for a test to read what the
/// server wrote.
pub async fn database(database_url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(database_url)
        .await
        .expect("the test reads the server's database")
}

/// Sends `request` as is on a new connection (writing and reading at once, so a server that
/// answers early and stops reading is still heard) and returns the status code of the answer,
/// or why there was none.
pub async fn raw(addr: SocketAddr, request: Vec<u8>) -> Result<u16, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = write.write_all(&request).await;
        let _ = write.flush().await;
        // Keep the write half open until the answer is read: no half-close surprises.
        write
    });
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let status = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                let line = String::from_utf8_lossy(&head[..end]);
                let status = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|code| code.parse::<u16>().ok())
                    .ok_or_else(|| format!("not an HTTP answer: {line:?}"))?;
                return Ok(status);
            }
            match read.read(&mut buf).await {
                Ok(0) => {
                    return Err(format!(
                        "closed without an answer (read {:?})",
                        String::from_utf8_lossy(&head)
                    ))
                }
                Ok(n) => head.extend_from_slice(&buf[..n]),
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    })
    .await
    .map_err(|_| "no answer within 10 s".to_owned())?;
    writer.abort();
    status
}

/// A `… kB` field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`), in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
