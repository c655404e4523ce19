//! The reference SaaS API protected by Clerk: a small multi-tenant notes service.
//!
//! The binary is a thin wrapper around [`run`]; tests use [`start`] to run the real server on
//! a free port and [`Server::shutdown`] to stop it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), api_server::StartError> {
//! let config = api_server::Config {
//!     clerk_jwks_url: Some("http://127.0.0.1:9999/.well-known/jwks.json".into()),
//!     bind: "127.0.0.1:0".parse().unwrap(),
//!     database_url: Some("sqlite::memory:".into()),
//!     ..api_server::Config::default()
//! };
//! let server = api_server::start(config).await?;
//! println!("listening on {}", server.local_addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod config;
pub mod db;
pub mod dev;
pub mod error;
pub mod http;
pub mod revocation;
mod serve;
pub mod sync;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use clerk_auth::{Verifier, VerifierBuilder};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Config, ConfigError};
pub use http::{app, AppState};

use crate::db::{Backend, Db};
use crate::dev::DevClerk;

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    /// A setting is wrong (exit code 2): the message names the variable.
    Config(ConfigError),
    /// The database cannot be opened or migrated.
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

/// The variables that name a key source; one is needed unless `--dev`.
const KEY_SOURCES: [&str; 4] = [
    "CLERK_JWT_KEY",
    "CLERK_JWKS_URL",
    "CLERK_SECRET_KEY",
    "CLERK_PUBLISHABLE_KEY",
];

/// A running server.
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    stop: watch::Sender<bool>,
    serving: JoinHandle<std::io::Result<()>>,
    /// Keeping the keys fresh, pruning old rows, listening for revocations.
    background: Vec<JoinHandle<()>>,
    dev: Option<DevClerk>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// The address it listens on (the real port when `BIND` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The application state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The dev-mode emulator and tokens, with `--dev`.
    pub fn dev(&self) -> Option<&DevClerk> {
        self.dev.as_ref()
    }

    /// Stops accepting connections, lets in-flight requests finish, then closes the
    /// database (and the dev emulator).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        match self.serving.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "the server stopped with an error"),
            Err(err) => tracing::error!(error = %err, "the server task failed"),
        }
        for task in self.background {
            let _ = task.await;
        }
        self.state.db().close().await;
        if let Some(dev) = self.dev {
            dev.shutdown().await;
        }
    }
}

/// Checks the configuration, opens the database (applying migrations), builds the verifier
/// and starts serving on `config.bind`. Returns once the socket is bound.
pub async fn start(config: Config) -> Result<Server, StartError> {
    config.validate()?;
    let mut dev = if config.dev {
        let azp = config
            .clerk_var("CLERK_AUTHORIZED_PARTIES")
            .and_then(|parties| {
                parties
                    .split(',')
                    .map(str::trim)
                    .find(|p| !p.is_empty())
                    .map(str::to_owned)
            });
        Some(
            DevClerk::start(azp.as_deref())
                .await
                .map_err(StartError::Emulator)?,
        )
    } else {
        None
    };
    let verifier = build_verifier(&config, dev.as_ref())?;
    let webhook = match &dev {
        Some(dev) => {
            if config.webhook()?.is_some() {
                tracing::warn!("--dev: using the local emulator's webhook signing secret instead");
            }
            Some(dev.webhook(config.max_body_bytes))
        }
        None => config.webhook()?,
    };
    let backend = match &dev {
        Some(dev) => Some(dev.backend()?),
        None => config.backend()?,
    };
    let db = Db::connect(&config.database()?)
        .await
        .map_err(StartError::Database)?;
    // Listen before loading: a revocation committed meanwhile is then either in the tables
    // or notified.
    let revocation_listener = match db.backend() {
        Backend::Postgres => match revocation::connect_listener(&db).await {
            Ok(listener) => Some(listener),
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for revocations yet; retrying in the background");
                None
            }
        },
        Backend::Sqlite => None,
    };
    let revocations = revocation::load_recent(&db, &verifier)
        .await
        .map_err(StartError::Database)?;
    if revocations > 0 {
        tracing::info!(
            revocations,
            "loaded the last day's revoked sessions and users"
        );
    }
    let state = AppState::new(
        db.clone(),
        verifier.clone(),
        webhook,
        backend,
        http::Options {
            request_timeout: config.request_timeout(),
            max_body_bytes: config.max_body_bytes,
            cors_origins: config.cors_origins()?,
        },
    );
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|err| StartError::Listen(config.bind, err))?;
    let addr = listener
        .local_addr()
        .map_err(|err| StartError::Listen(config.bind, err))?;
    if let Some(dev) = dev.as_mut() {
        // Deliveries wait in the listen backlog until the server below accepts them.
        dev.connect(addr).map_err(StartError::Emulator)?;
    }

    let (stop, stopped) = watch::channel(false);
    // The dev console's routes exist only with `--dev`: they drive the emulator unauthenticated.
    let app = http::app(state.clone(), dev.as_ref().map(DevClerk::console));
    let mut shutdown = stopped.clone();
    let serving = tokio::spawn(serve::serve(listener, app, async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    }));
    let mut background = vec![
        tokio::spawn(keep_keys_fresh(verifier.clone(), stopped.clone())),
        tokio::spawn(prune_old_rows(db.clone(), stopped.clone())),
    ];
    if db.backend() == Backend::Postgres {
        background.push(tokio::spawn(revocation::listen(
            db,
            verifier,
            revocation_listener,
            stopped,
        )));
    }
    tracing::info!(%addr, backend = ?state.db().backend(), "listening");
    Ok(Server {
        addr,
        state,
        stop,
        serving,
        background,
        dev,
    })
}

/// Starts the server, prints the dev banner with `--dev`, and serves until SIGINT or SIGTERM,
/// then shuts down gracefully.
pub async fn run(config: Config) -> Result<(), StartError> {
    let drain = Duration::from_millis(config.shutdown_drain_ms);
    let server = start(config).await?;
    if let Some(dev) = server.dev() {
        println!("{}", dev.banner(server.local_addr()));
    }
    shutdown_signal().await;
    if drain > Duration::ZERO {
        server.state().start_draining();
        tracing::info!(
            drain_ms = drain.as_millis() as u64,
            "draining: /readyz answers 503, still serving until the drain ends or a second signal"
        );
        tokio::select! {
            () = tokio::time::sleep(drain) => {}
            () = shutdown_signal() => tracing::info!("second signal: ending the drain early"),
        }
    }
    tracing::info!("shutting down: finishing in-flight requests");
    server.shutdown().await;
    Ok(())
}

/// The verifier from the configuration; with `--dev`, pointed at the emulator instead of
/// any configured key source.
fn build_verifier(config: &Config, dev: Option<&DevClerk>) -> Result<Verifier, ConfigError> {
    let builder = match dev {
        Some(dev) => {
            let ignored: Vec<&str> = KEY_SOURCES
                .into_iter()
                .chain(["CLERK_ISSUER", "CLERK_API_URL"])
                .filter(|name| config.clerk_var(name).is_some_and(|v| !v.trim().is_empty()))
                .collect();
            if !ignored.is_empty() {
                tracing::warn!(ignored = ?ignored, "--dev: using the local emulator's keys instead");
            }
            let (jwks_url, issuer) = (dev.jwks_url(), dev.issuer());
            VerifierBuilder::from_vars(|name| match name {
                "CLERK_JWKS_URL" => Some(jwks_url.clone()),
                "CLERK_ISSUER" => Some(issuer.clone()),
                "CLERK_SECRET_KEY"
                | "CLERK_PUBLISHABLE_KEY"
                | "CLERK_JWT_KEY"
                | "CLERK_API_URL" => None,
                // The emulator is the key source; skew, parties and cache tuning still apply.
                other => config.clerk_var(other),
            })?
        }
        None => {
            let has_key_source = KEY_SOURCES
                .iter()
                .any(|name| config.clerk_var(name).is_some_and(|v| !v.trim().is_empty()));
            if !has_key_source {
                return Err(ConfigError {
                    variable: "CLERK_PUBLISHABLE_KEY",
                    message: "no key source: set CLERK_PUBLISHABLE_KEY (pk_test_…), \
                              CLERK_SECRET_KEY, CLERK_JWT_KEY or CLERK_JWKS_URL, or run with \
                              --dev for a local Clerk emulator"
                        .to_owned(),
                });
            }
            VerifierBuilder::from_vars(|name| config.clerk_var(name))?
        }
    };
    builder.build()
}

/// Keeps the signing keys loaded without waiting for traffic: retries while they are
/// unusable (with back-off from 1 s to 30 s), refreshes when they are due. Without it, an
/// instance that started while Clerk was unreachable would stay unready, and so receive no
/// requests that could load them.
async fn keep_keys_fresh(verifier: Verifier, mut stop: watch::Receiver<bool>) {
    const FIRST_RETRY: Duration = Duration::from_secs(1);
    const LAST_RETRY: Duration = Duration::from_secs(30);
    const CHECK_EVERY: Duration = Duration::from_secs(30);
    let mut wait = FIRST_RETRY;
    let mut retry = FIRST_RETRY;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        let status = verifier.key_status();
        wait = if status.usable && !status.stale {
            CHECK_EVERY
        } else {
            match verifier.prefetch().await {
                Ok(()) => {
                    retry = FIRST_RETRY;
                    CHECK_EVERY
                }
                Err(rejection) => {
                    tracing::warn!(reason = %rejection.reason(), message = rejection.message(), "signing keys unavailable; retrying");
                    let this = retry;
                    retry = (retry * 2).min(LAST_RETRY);
                    this
                }
            }
        };
    }
}

/// Forgets old webhook message ids and revocations ([`sync::RETENTION_MS`]), at startup and
/// then hourly.
async fn prune_old_rows(db: Db, mut stop: watch::Receiver<bool>) {
    const EVERY: Duration = Duration::from_secs(3600);
    loop {
        match sync::prune(&db, db::now_ms()).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "pruned old webhook deliveries and revocations"),
            Err(err) => tracing::warn!(error = %err, "cannot prune old webhook deliveries"),
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
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

/// Sets up logging: `config.log_format` lines filtered by `RUST_LOG` (default `info`).
pub fn init_logging(config: &Config) {
    let filter = config
        .rust_log
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .unwrap_or(config::DEFAULT_LOG_FILTER);
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(config::DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        config::LogFormat::Text => builder.try_init(),
        config::LogFormat::Json => builder.json().try_init(),
    };
}
