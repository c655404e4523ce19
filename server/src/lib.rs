//! The reference SaaS API protected by Clerk: a small multi-tenant notes service.
//!
//! The binary is a thin wrapper around [`run`]; tests use [`start`] to run the real server on
//! a free port and [`Server::shutdown`] to stop it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = api_server::Config {
//!     bind: "127.0.0.1:0".parse()?,
//!     database_url: Some("sqlite::memory:".into()),
//!     ..api_server::Config::default()
//! };
//! config.clerk.clerk_jwks_url = Some("http://127.0.0.1:9999/.well-known/jwks.json".into());
//! let server = api_server::start(api_server::Settings::from_config(config)?).await?;
//! println!("listening on {}", server.local_addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod access_log;
pub mod config;
pub mod db;
#[cfg(feature = "dev")]
pub mod dev;
pub mod error;
pub mod http;
pub mod metrics;
pub mod revocation;
pub mod sync;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use clerk_service::revocation::apply_all;
use clerk_service::serve;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Config, ConfigError, Settings};
pub use http::{app, AppState};

use crate::db::{Backend, Db};
#[cfg(feature = "dev")]
use crate::dev::DevClerk;

pub use clerk_service::StartError;

/// A running server.
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    stop: watch::Sender<bool>,
    serving: JoinHandle<std::io::Result<()>>,
    /// Pruning old rows, listening for revocations.
    background: Vec<JoinHandle<()>>,
    #[cfg(feature = "dev")]
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
    #[cfg(feature = "dev")]
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
        #[cfg(feature = "dev")]
        if let Some(dev) = self.dev {
            dev.shutdown().await;
        }
    }
}

/// Opens the database (applying migrations), and starts serving on `settings.bind` (with
/// `--dev`, after starting the emulator and pointing the verifier at it). Returns once the
/// socket is bound.
pub async fn start(settings: Settings) -> Result<Server, StartError> {
    let Settings {
        dev,
        clerk,
        webhook,
        backend,
        database,
        bind,
        limits,
        http: options,
        shutdown_drain: _,
    } = settings;
    #[cfg(feature = "dev")]
    let (mut dev, webhook, backend) =
        dev::take_over(dev, &clerk, webhook, backend, options.max_body_bytes).await?;
    #[cfg(feature = "dev")]
    let dev_verifier = match &dev {
        Some(dev) => Some(dev.verifier(clerk.tuning())?),
        None => None,
    };
    #[cfg(not(feature = "dev"))]
    let dev_verifier: Option<clerk_auth::Verifier> = {
        let _ = dev;
        None
    };
    let verifier = dev_verifier.or(clerk.verifier).ok_or_else(|| ConfigError {
        variable: "CLERK_PUBLISHABLE_KEY",
        message: "no key source".to_owned(),
    })?;
    if verifier.verifies_opaque_machine_tokens() {
        tracing::info!(
            "machine tokens on: API keys, M2M and OAuth tokens are verified with Clerk's Backend API (cached)"
        );
    } else {
        tracing::info!(
            "machine tokens off: without CLERK_SECRET_KEY, opaque API keys, M2M and OAuth tokens are refused (machine-tokens-disabled); their JWT forms are still verified locally"
        );
    }
    let db = Db::connect(&database).await.map_err(StartError::Database)?;
    // Listen before loading: a revocation committed meanwhile is then either in the tables
    // or notified.
    let revocation_listener = match db.backend() {
        Backend::Postgres => match clerk_service::revocation::connect_listener(
            db.url().as_str(),
            revocation::LISTENER_APPLICATION_NAME,
        )
        .await
        {
            Ok(listener) => Some(listener),
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for revocations yet; retrying in the background");
                None
            }
        },
        Backend::Sqlite => None,
    };
    let revocations = apply_all(
        &revocation::recent(&db)
            .await
            .map_err(StartError::Database)?,
        &verifier,
    );
    if revocations > 0 {
        tracing::info!(
            revocations,
            "loaded the last day's revoked sessions and users"
        );
    }
    let state = AppState::new(db.clone(), verifier.clone(), webhook, backend, options);
    let listener = serve::listen(bind).map_err(|err| StartError::Listen(bind, err))?;
    let addr = listener
        .local_addr()
        .map_err(|err| StartError::Listen(bind, err))?;
    #[cfg(feature = "dev")]
    let extra_routes = match dev.as_mut() {
        Some(dev) => {
            // Deliveries wait in the listen backlog until the server below accepts them.
            dev.connect(addr).map_err(StartError::Emulator)?;
            // The dev console's routes exist only with `--dev`: they drive the emulator
            // unauthenticated.
            Some(dev.console_routes(state.clone()))
        }
        None => None,
    };
    #[cfg(not(feature = "dev"))]
    let extra_routes = None;

    let (stop, stopped) = watch::channel(false);
    let app = http::app(state.clone(), extra_routes);
    let mut shutdown = stopped.clone();
    serve::raise_open_file_limit(limits.max_connections);
    let serving = tokio::spawn(serve::serve(listener, app, limits, async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    }));
    let mut background = vec![
        tokio::spawn(prune_old_rows(db.clone(), stopped.clone())),
        tokio::spawn(forget_idle_rate_limits(state.clone(), stopped.clone())),
    ];
    if db.backend() == Backend::Postgres {
        background.push(tokio::spawn(clerk_service::revocation::listen(
            db.url().as_str().to_owned(),
            revocation::LISTENER_APPLICATION_NAME.to_owned(),
            verifier,
            revocation_listener,
            revocation::reload(db),
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
        #[cfg(feature = "dev")]
        dev,
    })
}

/// Starts the server, prints the dev banner with `--dev`, and serves until SIGINT or SIGTERM,
/// then shuts down gracefully.
pub async fn run(settings: Settings) -> Result<(), StartError> {
    let drain = settings.shutdown_drain;
    let server = start(settings).await?;
    #[cfg(feature = "dev")]
    if let Some(dev) = server.dev() {
        println!("{}", dev.banner(server.local_addr()));
    }
    clerk_service::shutdown_signal().await;
    if drain > Duration::ZERO {
        server.state().start_draining();
        tracing::info!(
            drain_ms = drain.as_millis() as u64,
            "draining: /readyz answers 503, still serving until the drain ends or a second signal"
        );
        tokio::select! {
            () = tokio::time::sleep(drain) => {}
            () = clerk_service::shutdown_signal() => tracing::info!("second signal: ending the drain early"),
        }
    }
    tracing::info!("shutting down: finishing in-flight requests");
    server.shutdown().await;
    Ok(())
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

/// Forgets, every minute, the users whose `fresh=true` limit is back to full, so that its
/// memory follows the users active in the last minutes, not every user ever seen.
async fn forget_idle_rate_limits(state: AppState, mut stop: watch::Receiver<bool>) {
    const EVERY: Duration = Duration::from_secs(60);
    loop {
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        state.fresh_profiles().retain_recent();
        state.fresh_profiles().shrink_to_fit();
    }
}

/// Sets up logging ([`clerk_service::init_logging`]) and the access log, which shares its
/// writer. Keep the returned guard alive until the process ends: dropping it flushes what is
/// queued.
pub fn init_logging(config: &Config) -> LogGuard {
    let (guard, writer) =
        clerk_service::init_logging(config.log_format, config.rust_log.as_deref());
    access_log::install(writer, config.log_format);
    guard
}

/// The Tokio runtime the binary serves on: a worker thread per core, each handing its
/// access-log lines to the log writer before it parks or stops ([`access_log::flush`]).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(access_log::flush)
        .on_thread_stop(access_log::flush)
        .build()
}

pub use clerk_service::LogGuard;
