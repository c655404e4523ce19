//! Serving the emulator over HTTP: binding, the JWKS endpoints, the Backend API routes (see
//! `bapi.rs` and, for machine authentication, `machine_bapi.rs`), and the controls of request
//! counters and switchable faults.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bapi;
use crate::emulator::Emulator;
use crate::fault::{Endpoint, Fault};
use crate::http::{clerk_error, json_body, key_invalid, Shared};
use crate::machine_bapi;

/// The path of the public (Frontend API) JWKS endpoint.
pub const WELL_KNOWN_JWKS_PATH: &str = "/.well-known/jwks.json";
/// The path of the Backend API JWKS endpoint, which requires the secret key.
pub const BACKEND_JWKS_PATH: &str = "/v1/jwks";

impl Emulator {
    /// Starts a fresh emulator (new key) and serves it on `addr`; see [`Emulator::serve`].
    pub async fn start(addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<EmulatorServer> {
        Self::new().serve(addr).await
    }

    /// Serves this emulator's endpoints on `addr` (`127.0.0.1:0` for a free port). Unless the
    /// issuer was set explicitly, it becomes the server's base URL. Must be called within a
    /// Tokio runtime.
    pub async fn serve(
        &self,
        addr: impl tokio::net::ToSocketAddrs,
    ) -> std::io::Result<EmulatorServer> {
        EmulatorServer::bind(self.clone(), addr).await
    }
}

/// The answer of a JWKS endpoint: its fault, or (behind the secret key for `/v1/jwks`) the
/// JWKS.
async fn jwks_answer(shared: &Shared, endpoint: Endpoint, headers: &HeaderMap) -> Response {
    if let Some(response) = shared.fault_answer(endpoint).await {
        return response;
    }
    if endpoint == Endpoint::BackendJwks && !shared.authorized(headers) {
        return key_invalid();
    }
    json_body(shared.emulator.jwks().to_string())
}

/// Any path the emulator does not serve: Clerk's 404.
async fn not_found() -> Response {
    clerk_error(
        StatusCode::NOT_FOUND,
        "resource_not_found",
        "not found",
        "Resource not found",
    )
}

async fn well_known_jwks(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    jwks_answer(&shared, Endpoint::WellKnownJwks, &headers).await
}

async fn backend_jwks(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    jwks_answer(&shared, Endpoint::BackendJwks, &headers).await
}

/// A running emulator server. It stops when dropped, or with [`EmulatorServer::shutdown`].
///
/// It dereferences to its [`Emulator`], so tokens can be minted and keys rotated directly on it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use clerk_emulator::{Emulator, SigningKey};
/// let server = Emulator::with_key(SigningKey::test_key()).serve("127.0.0.1:0").await?;
/// assert_eq!(server.issuer(), server.base_url());
/// assert_eq!(server.jwks_url(), format!("{}/.well-known/jwks.json", server.base_url()));
/// let token = server.session_token().sign();
/// server.shutdown().await;
/// # let _ = token;
/// # Ok(())
/// # }
/// ```
pub struct EmulatorServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    base_url: String,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for EmulatorServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorServer")
            .field("base_url", &self.base_url)
            .field("emulator", &self.shared.emulator)
            .finish_non_exhaustive()
    }
}

impl EmulatorServer {
    async fn bind(
        emulator: Emulator,
        addr: impl tokio::net::ToSocketAddrs,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        // A wildcard bind is reachable on loopback; its own address is not a usable URL.
        let url_ip = if addr.ip().is_unspecified() {
            match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            }
        } else {
            addr.ip()
        };
        let base_url = format!("http://{}", SocketAddr::new(url_ip, addr.port()));
        emulator.served_at(&base_url);

        let (stop, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared::new(emulator, shutdown.clone()));
        let app = Router::new()
            .route(WELL_KNOWN_JWKS_PATH, get(well_known_jwks))
            .route(BACKEND_JWKS_PATH, get(backend_jwks))
            .merge(bapi::routes())
            .merge(machine_bapi::routes())
            .fallback(not_found)
            .with_state(Arc::clone(&shared));
        let mut shutdown_signal = shutdown;
        let task = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = shutdown_signal.wait_for(|stop| *stop).await;
            });
            // Accept errors are retried inside axum; an error here means the listener is gone.
            let _ = serving.await;
        });
        Ok(Self {
            shared,
            addr,
            base_url,
            stop,
            task: Some(task),
        })
    }

    /// The emulator being served.
    pub fn emulator(&self) -> &Emulator {
        &self.shared.emulator
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<ip>:<port>`, without a trailing slash (a wildcard bind is given as loopback).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The public JWKS URL, `<base>/.well-known/jwks.json`.
    pub fn jwks_url(&self) -> String {
        format!("{}{WELL_KNOWN_JWKS_PATH}", self.base_url)
    }

    /// The Backend API base URL (`CLERK_API_URL`): the Backend API JWKS is at
    /// `<api_url>/v1/jwks`.
    pub fn api_url(&self) -> &str {
        &self.base_url
    }

    /// Sets the fault of both JWKS endpoints.
    pub fn set_fault(&self, fault: Fault) {
        for endpoint in Endpoint::JWKS {
            self.set_endpoint_fault(endpoint, fault.clone());
        }
    }

    /// Sets the fault of the Backend API routes other than `/v1/jwks` and the machine-token
    /// verify endpoints (users, sessions, organizations; creating, revoking and listing API
    /// keys and M2M tokens).
    pub fn set_backend_fault(&self, fault: Fault) {
        self.set_endpoint_fault(Endpoint::BackendApi, fault);
    }

    /// Sets the fault of the three machine-token verify endpoints
    /// ([`Endpoint::MACHINE_VERIFY`]); set one with [`EmulatorServer::set_endpoint_fault`].
    pub fn set_machine_verify_fault(&self, fault: Fault) {
        for endpoint in Endpoint::MACHINE_VERIFY {
            self.set_endpoint_fault(endpoint, fault.clone());
        }
    }

    /// Sets the fault of one endpoint (a [`Fault::FailFirst`] starts counting afresh).
    pub fn set_endpoint_fault(&self, endpoint: Endpoint, fault: Fault) {
        self.shared.set_fault(endpoint, fault);
    }

    /// The current fault of an endpoint.
    pub fn fault(&self, endpoint: Endpoint) -> Fault {
        self.shared.fault(endpoint)
    }

    /// How many requests an endpoint has received (faulted and rejected ones included).
    pub fn requests(&self, endpoint: Endpoint) -> u64 {
        self.shared.requests(endpoint)
    }

    /// Requests to `GET /.well-known/jwks.json`.
    pub fn well_known_jwks_requests(&self) -> u64 {
        self.requests(Endpoint::WellKnownJwks)
    }

    /// Requests to `GET /v1/jwks`.
    pub fn backend_jwks_requests(&self) -> u64 {
        self.requests(Endpoint::BackendJwks)
    }

    /// Requests to both JWKS endpoints.
    pub fn jwks_requests(&self) -> u64 {
        Endpoint::JWKS.iter().map(|e| self.requests(*e)).sum()
    }

    /// Requests to the Backend API routes other than `/v1/jwks` and the machine-token verify
    /// endpoints.
    pub fn backend_api_requests(&self) -> u64 {
        self.requests(Endpoint::BackendApi)
    }

    /// Requests to the three machine-token verify endpoints: `POST /api_keys/verify`,
    /// `POST /m2m_tokens/verify` and `POST /oauth_applications/access_tokens/verify` (count
    /// one with [`EmulatorServer::requests`]).
    pub fn machine_verify_requests(&self) -> u64 {
        Endpoint::MACHINE_VERIFY
            .iter()
            .map(|e| self.requests(*e))
            .sum()
    }

    /// Sets every request counter back to zero.
    pub fn reset_counters(&self) {
        self.shared.reset_counters();
    }

    /// Stops accepting connections, answers hanging requests with 503, and waits until the
    /// server has finished.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            // A panicked or cancelled server task has stopped as well.
            let _ = task.await;
        }
    }
}

impl Deref for EmulatorServer {
    type Target = Emulator;

    fn deref(&self) -> &Emulator {
        &self.shared.emulator
    }
}

impl Drop for EmulatorServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
