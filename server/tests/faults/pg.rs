//! A private PostgreSQL server for the database-fault scenarios: its own data directory and
//! port, made with the machine's `initdb`, so a test can stop and restart it without
//! touching the shared server on 5432 that other tests use.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A PostgreSQL cluster in a temporary directory; stopped and removed when dropped.
pub struct PgInstance {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    /// The user that runs the server (`postgres` when the tests run as root, which
    /// PostgreSQL refuses).
    run_as: Option<&'static str>,
}

impl PgInstance {
    /// Creates and starts a cluster on a free loopback port.
    pub fn start() -> PgInstance {
        let bin = server_bin_dir();
        let run_as = is_root().then_some("postgres");
        let dir = std::env::temp_dir().join(format!(
            "api-server-faults-pg-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(user) = run_as {
            let status = Command::new("chown").arg(user).arg(&dir).status().unwrap();
            assert!(status.success(), "chown {user} {}", dir.display());
        }
        let instance = PgInstance {
            bin,
            port: free_port(),
            dir,
            run_as,
        };
        instance.run(
            "initdb",
            &[
                "-D",
                &instance.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        instance.start_server();
        instance
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `postgres://…` for the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-o",
                &options,
                "-l",
                &self.dir.join("log").display().to_string(),
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
    }

    /// Stops the server now (`-m fast`: open sessions are ended, their transactions rolled
    /// back), as a crash or a restart by an operator does.
    pub fn stop_server(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "fast",
                "-w",
                "-t",
                "30",
                "stop",
            ],
        );
    }

    /// A command running one of PostgreSQL's programs as the cluster's user.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self
            .command(program)
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PgInstance {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The directory of `initdb`, `pg_ctl` and `postgres`: Debian keeps them out of `PATH`, in
/// `/usr/lib/postgresql/<version>/bin`; elsewhere `pg_config --bindir` tells.
fn server_bin_dir() -> PathBuf {
    let debian = Path::new("/usr/lib/postgresql");
    if let Ok(entries) = std::fs::read_dir(debian) {
        let mut versions: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|bin| bin.join("initdb").exists())
            .collect();
        versions.sort();
        if let Some(bin) = versions.pop() {
            return bin;
        }
    }
    let output = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("PostgreSQL's server programs (initdb, pg_ctl) are installed");
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits `limit` at most for PostgreSQL at `url` to answer a query.
pub async fn wait_up(url: &str, limit: Duration) -> bool {
    crate::support::eventually(limit, || async {
        sqlx::postgres::PgPool::connect(url).await.is_ok()
    })
    .await
}
