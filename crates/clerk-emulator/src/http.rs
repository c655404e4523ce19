//! What the routes of the emulator's server share: their state ([`Shared`]: the emulator, and
//! each endpoint's fault and request counter), the secret-key gate, and Clerk-shaped JSON and
//! error responses.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::emulator::Emulator;
use crate::fault::{Endpoint, Fault};
use crate::ids;

/// The number of endpoint classes, each with a fault and counters.
const ENDPOINTS: usize = Endpoint::ALL.len();

/// The state of a running server, shared by all its routes.
pub(crate) struct Shared {
    pub(crate) emulator: Emulator,
    faults: RwLock<[Fault; ENDPOINTS]>,
    counters: [AtomicU64; ENDPOINTS],
    /// Requests answered by a [`Fault::FailFirst`] since it was set.
    failed: [AtomicU64; ENDPOINTS],
    shutdown: watch::Receiver<bool>,
}

impl Shared {
    /// No faults and zero counters; `shutdown` turns `true` when the server stops.
    pub(crate) fn new(emulator: Emulator, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            emulator,
            faults: RwLock::new(std::array::from_fn(|_| Fault::None)),
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            failed: std::array::from_fn(|_| AtomicU64::new(0)),
            shutdown,
        }
    }

    pub(crate) fn fault(&self, endpoint: Endpoint) -> Fault {
        self.faults.read().unwrap_or_else(PoisonError::into_inner)[endpoint.index()].clone()
    }

    /// Sets the fault of one endpoint (a [`Fault::FailFirst`] starts counting afresh).
    pub(crate) fn set_fault(&self, endpoint: Endpoint, fault: Fault) {
        let mut faults = self.faults.write().unwrap_or_else(PoisonError::into_inner);
        faults[endpoint.index()] = fault;
        self.failed[endpoint.index()].store(0, Ordering::SeqCst);
    }

    /// How many requests an endpoint has received.
    pub(crate) fn requests(&self, endpoint: Endpoint) -> u64 {
        self.counters[endpoint.index()].load(Ordering::SeqCst)
    }

    pub(crate) fn reset_counters(&self) {
        for counter in &self.counters {
            counter.store(0, Ordering::SeqCst);
        }
    }

    async fn shutting_down(&self) {
        let mut shutdown = self.shutdown.clone();
        // An error means the sender is gone: the server is going away as well.
        let _ = shutdown.wait_for(|stop| *stop).await;
    }

    /// Counts the request and applies the endpoint's fault: `Some` answer replaces the normal
    /// one.
    pub(crate) async fn fault_answer(&self, endpoint: Endpoint) -> Option<Response> {
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

    /// Whether the request carries `Authorization: Bearer <secret key>`.
    pub(crate) fn authorized(&self, headers: &HeaderMap) -> bool {
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

/// A `200` answer with this body, as `application/json`.
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

/// [`clerk_error_with_meta`] with an empty `meta`.
pub(crate) fn clerk_error(
    status: StatusCode,
    code: &str,
    message: &str,
    long_message: &str,
) -> Response {
    clerk_error_with_meta(status, code, message, long_message, json!({}))
}

/// Clerk's `401` for a missing or wrong secret key.
pub(crate) fn key_invalid() -> Response {
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
