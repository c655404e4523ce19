//! Serving the emulator over HTTP: the JWKS endpoints, the Backend API routes (see
//! `bapi.rs`), request counters and switchable faults.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bapi;
use crate::emulator::Emulator;
use crate::ids;

/// The path of the public (Frontend API) JWKS endpoint.
pub const WELL_KNOWN_JWKS_PATH: &str = "/.well-known/jwks.json";
/// The path of the Backend API JWKS endpoint, which requires the secret key.
pub const BACKEND_JWKS_PATH: &str = "/v1/jwks";

/// A class of the emulator's endpoints, each with its own fault and request counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /.well-known/jwks.json`: public, like Clerk's Frontend API.
    WellKnownJwks,
    /// `GET /v1/jwks`: requires `Authorization: Bearer <secret key>`, like Clerk's Backend API.
    BackendJwks,
    /// Every other Backend API route (`/v1/users`, `/v1/sessions`, `/v1/organizations`, …),
    /// behind the secret key as well.
    BackendApi,
}

impl Endpoint {
    /// Every endpoint class.
    pub const ALL: [Endpoint; 3] = [
        Endpoint::WellKnownJwks,
        Endpoint::BackendJwks,
        Endpoint::BackendApi,
    ];

    /// The two JWKS endpoints.
    pub const JWKS: [Endpoint; 2] = [Endpoint::WellKnownJwks, Endpoint::BackendJwks];

    fn index(self) -> usize {
        match self {
            Self::WellKnownJwks => 0,
            Self::BackendJwks => 1,
            Self::BackendApi => 2,
        }
    }
}

/// How an endpoint misbehaves. Switch it at runtime with [`EmulatorServer::set_fault`] (the
/// JWKS endpoints), [`EmulatorServer::set_backend_fault`] (the rest of the Backend API) or
/// [`EmulatorServer::set_endpoint_fault`]; faulted requests still count as requests.
///
/// A fault replaces the endpoint's normal answer, including the secret-key check of the
/// Backend API, except [`Fault::Delay`], which only delays it, and [`Fault::FailFirst`] once
/// its failures are used up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fault {
    /// Answer normally.
    #[default]
    None,
    /// Answer with this HTTP status and a Clerk-shaped error body (`429` also gets
    /// `Retry-After: 1`). An invalid status code gives 500.
    Status(u16),
    /// Answer the first `n` requests (counted from when the fault is set) as
    /// [`Fault::Status`] with this status, then normally: a transient outage.
    FailFirst(u32, u16),
    /// Accept the request and never answer (until the server shuts down, when it gives 503).
    Hang,
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// `200` with a body that is not JSON.
    Garbage,
    /// `200` with `{"keys":[]}`.
    EmptyKeys,
    /// `200` with a JSON body of at least this many bytes: the real keys plus a long filler
    /// string. Exactly this size when it exceeds the real JWKS.
    Oversized(usize),
    /// `200` with exactly this body, as `application/json` (duplicate kids, weak keys,
    /// `use: enc`, ...).
    Body(String),
}

pub(crate) struct Shared {
    pub(crate) emulator: Emulator,
    faults: RwLock<[Fault; 3]>,
    counters: [AtomicU64; 3],
    /// Requests answered by a [`Fault::FailFirst`] since it was set.
    failed: [AtomicU64; 3],
    shutdown: watch::Receiver<bool>,
}

impl Shared {
    fn fault(&self, endpoint: Endpoint) -> Fault {
        self.faults.read().unwrap_or_else(PoisonError::into_inner)[endpoint.index()].clone()
    }

    async fn shutting_down(&self) {
        let mut shutdown = self.shutdown.clone();
        // An error means the sender is gone: the server is going away as well.
        let _ = shutdown.wait_for(|stop| *stop).await;
    }

    /// Counts the request and applies the endpoint's fault: `Some` answer replaces the normal
    /// one.
    async fn fault_answer(&self, endpoint: Endpoint) -> Option<Response> {
        self.counters[endpoint.index()].fetch_add(1, Ordering::SeqCst);
        match self.fault(endpoint) {
            Fault::None => None,
            Fault::Delay(delay) => {
                tokio::select! {
                    () = tokio::time::sleep(delay) => None,
                    () = self.shutting_down() => Some(StatusCode::SERVICE_UNAVAILABLE.into_response()),
                }
            }
            Fault::Hang => {
                self.shutting_down().await;
                Some(StatusCode::SERVICE_UNAVAILABLE.into_response())
            }
            Fault::Status(code) => Some(status_fault(code)),
            Fault::FailFirst(n, code) => {
                let failed = self.failed[endpoint.index()].fetch_add(1, Ordering::SeqCst);
                (failed < u64::from(n)).then(|| status_fault(code))
            }
            Fault::Garbage => Some(json_body(
                "<html><body>502 Bad Gateway</body></html>".to_owned(),
            )),
            Fault::EmptyKeys => Some(json_body(r#"{"keys":[]}"#.to_owned())),
            Fault::Oversized(size) => Some(json_body(self.oversized(size))),
            Fault::Body(body) => Some(json_body(body)),
        }
    }

    async fn answer(&self, endpoint: Endpoint, headers: &HeaderMap) -> Response {
        if let Some(response) = self.fault_answer(endpoint).await {
            return response;
        }
        if endpoint == Endpoint::BackendJwks && !self.authorized(headers) {
            return key_invalid();
        }
        json_body(self.emulator.jwks().to_string())
    }

    /// The gate of every Backend API route but `/v1/jwks`: counter, fault, secret key.
    pub(crate) async fn backend_gate(&self, headers: &HeaderMap) -> Result<(), Response> {
        if let Some(response) = self.fault_answer(Endpoint::BackendApi).await {
            return Err(response);
        }
        if !self.authorized(headers) {
            return Err(key_invalid());
        }
        Ok(())
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let expected = format!("Bearer {}", self.emulator.secret_key());
        headers
            .get(header::AUTHORIZATION)
            .is_some_and(|value| value.as_bytes() == expected.as_bytes())
    }

    fn oversized(&self, size: usize) -> String {
        let keys = self.emulator.jwks()["keys"].to_string();
        let head = format!(r#"{{"keys":{keys},"padding":""#);
        let tail = r#""}"#;
        let filler = size.saturating_sub(head.len() + tail.len());
        let mut body = String::with_capacity(head.len() + filler + tail.len());
        body.push_str(&head);
        body.extend(std::iter::repeat_n('A', filler));
        body.push_str(tail);
        body
    }
}

pub(crate) fn json_body(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A Backend API error response:
/// `{"errors":[{code,message,long_message,meta}],"clerk_trace_id"}`.
pub(crate) fn clerk_error_with_meta(
    status: StatusCode,
    code: &str,
    message: &str,
    long_message: &str,
    meta: Value,
) -> Response {
    let body = json!({
        "errors": [{ "code": code, "message": message, "long_message": long_message, "meta": meta }],
        "clerk_trace_id": ids::hex(32),
    });
    (status, json_body(body.to_string())).into_response()
}

fn clerk_error(status: StatusCode, code: &str, message: &str, long_message: &str) -> Response {
    clerk_error_with_meta(status, code, message, long_message, json!({}))
}

fn key_invalid() -> Response {
    clerk_error(
        StatusCode::UNAUTHORIZED,
        "clerk_key_invalid",
        "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.",
        "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.",
    )
}

/// The answer of [`Fault::Status`].
fn status_fault(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = format!("Emulated HTTP {}", status.as_u16());
    let mut response = clerk_error(status, "emulated_fault", &message, &message);
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
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
    shared.answer(Endpoint::WellKnownJwks, &headers).await
}

async fn backend_jwks(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    shared.answer(Endpoint::BackendJwks, &headers).await
}

/// A running emulator server. It stops when dropped, or with [`EmulatorServer::shutdown`].
///
/// It dereferences to its [`Emulator`], so tokens can be minted and keys rotated directly on it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use clerk_emulator::{Emulator, SigningKey};
/// let server = Emulator::with_key(SigningKey::generate(2048)).serve("127.0.0.1:0").await?;
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
    pub(crate) async fn bind(
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
        let shared = Arc::new(Shared {
            emulator,
            faults: RwLock::new([Fault::None, Fault::None, Fault::None]),
            counters: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            failed: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            shutdown: shutdown.clone(),
        });
        let app = Router::new()
            .route(WELL_KNOWN_JWKS_PATH, get(well_known_jwks))
            .route(BACKEND_JWKS_PATH, get(backend_jwks))
            .merge(bapi::routes())
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

    /// Sets the fault of the Backend API routes other than `/v1/jwks` (users, sessions,
    /// organizations).
    pub fn set_backend_fault(&self, fault: Fault) {
        self.set_endpoint_fault(Endpoint::BackendApi, fault);
    }

    /// Sets the fault of one endpoint (a [`Fault::FailFirst`] starts counting afresh).
    pub fn set_endpoint_fault(&self, endpoint: Endpoint, fault: Fault) {
        let mut faults = self
            .shared
            .faults
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        faults[endpoint.index()] = fault;
        self.shared.failed[endpoint.index()].store(0, Ordering::SeqCst);
    }

    /// The current fault of an endpoint.
    pub fn fault(&self, endpoint: Endpoint) -> Fault {
        self.shared.fault(endpoint)
    }

    /// How many requests an endpoint has received (faulted and rejected ones included).
    pub fn requests(&self, endpoint: Endpoint) -> u64 {
        self.shared.counters[endpoint.index()].load(Ordering::SeqCst)
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

    /// Requests to the Backend API routes other than `/v1/jwks`.
    pub fn backend_api_requests(&self) -> u64 {
        self.requests(Endpoint::BackendApi)
    }

    /// Sets every request counter back to zero.
    pub fn reset_counters(&self) {
        for counter in &self.shared.counters {
            counter.store(0, Ordering::SeqCst);
        }
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
