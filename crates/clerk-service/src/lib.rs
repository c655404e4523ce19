//! What a Clerk-protected service needs besides the verifier, shared by the reference server
//! (`api-server`) and the forward-auth gateway (`clerk-gateway`), so that each is written once:
//!
//! - [`config`]: the `CLERK_*` settings of the verifier, the connection limits and the log
//!   format, as clap structs each binary flattens into its own, with errors that name the
//!   variable;
//! - [`serve`]: hyper's HTTP/1.1 and HTTP/2 (cleartext) servers on one port, with the limits
//!   a server exposed to the internet needs (head timeout, keep-alive timeout, head size,
//!   connection count, HTTP/2 streams, windows and resets);
//! - [`revocation`]: revoked sessions and deleted users from Clerk's webhooks, shared by every
//!   instance through PostgreSQL's `LISTEN/NOTIFY`;
//! - [`init_logging`] and [`shutdown_signal`].
#![forbid(unsafe_code)]

pub mod config;
pub mod revocation;
pub mod serve;

use std::fmt;
use std::net::SocketAddr;

use config::{ConfigError, LogFormat, DEFAULT_LOG_FILTER};
use tracing_appender::non_blocking::NonBlocking;

/// Why a service (the reference server, the gateway) could not start.
#[derive(Debug)]
pub enum StartError {
    /// A setting is wrong (exit code 2): the message names the variable.
    Config(ConfigError),
    /// The database cannot be opened (or migrated).
    Database(sqlx::Error),
    /// The listen address cannot be bound.
    Listen(SocketAddr, std::io::Error),
    /// The dev-mode emulator cannot start.
    Emulator(std::io::Error),
}

impl StartError {
    /// The process exit code: 2 for a configuration error, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::Config(_) => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(err) => write!(f, "{err}"),
            StartError::Database(err) => write!(f, "DATABASE_URL: cannot open the database: {err}"),
            StartError::Listen(addr, err) => write!(f, "BIND: cannot listen on {addr}: {err}"),
            StartError::Emulator(err) => write!(f, "--dev: cannot start the Clerk emulator: {err}"),
        }
    }
}

impl std::error::Error for StartError {}

impl From<ConfigError> for StartError {
    fn from(err: ConfigError) -> Self {
        StartError::Config(err)
    }
}

/// Sets up logging: `format` lines filtered by `rust_log` (`RUST_LOG`, default `info`),
/// written to standard error by a thread of their own, so that no request waits for a
/// `write`: lines go through a bounded queue (128,000 lines; beyond it, under a flood that
/// standard error cannot absorb, lines are dropped rather than requests slowed) and are
/// written in batches. Returns the guard (keep it alive until the process ends: dropping it
/// flushes what is queued) and the writer, for other logs (an access log) to share.
pub fn init_logging(format: LogFormat, rust_log: Option<&str>) -> (LogGuard, NonBlocking) {
    let filter = rust_log
        .filter(|f| !f.trim().is_empty())
        .unwrap_or(DEFAULT_LOG_FILTER);
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let (writer, guard) = tracing_appender::non_blocking(std::io::BufWriter::with_capacity(
        64 * 1024,
        std::io::stderr(),
    ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer.clone());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    (LogGuard { _writer: guard }, writer)
}

/// Flushes the queued log lines when dropped; see [`init_logging`].
#[derive(Debug)]
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: tracing_appender::non_blocking::WorkerGuard,
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
