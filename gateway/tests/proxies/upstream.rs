//! The upstream behind the proxy: a real HTTP server on a loopback port that records every
//! request it receives (method, URI, headers, body) and answers 200, and accepts WebSocket
//! upgrades on `/ws` (recorded too), echoing each text message.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::task::JoinHandle;

/// The largest body the upstream accepts.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    /// A header's value, `""` when absent (a proxy may remove an empty header or pass it on
    /// empty: to the upstream both mean "none").
    pub fn header(&self, name: &str) -> String {
        let mut values = self.headers.get_all(name).iter();
        let first = values
            .next()
            .map(|v| v.to_str().expect("visible ASCII").to_owned())
            .unwrap_or_default();
        assert!(
            values.next().is_none(),
            "{name} reached the upstream more than once: {:?}",
            self.headers
        );
        first
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// The running upstream.
pub struct Upstream {
    addr: SocketAddr,
    log: Log,
    task: JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let log: Log = Arc::default();
        let app = Router::new()
            .route("/ws", get(websocket))
            .fallback(record)
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(Arc::clone(&log));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Upstream { addr, log, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received whose path is `path`, in order.
    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|seen| seen.uri.path() == path)
            .cloned()
            .collect()
    }

    /// The one request received for `path`.
    pub fn only(&self, path: &str) -> Seen {
        let seen = self.seen(path);
        assert_eq!(
            seen.len(),
            1,
            "requests for {path} at the upstream: {seen:#?}"
        );
        seen.into_iter().next().unwrap()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(log): State<Log>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let bytes = body.len();
    log.lock().unwrap().push(Seen {
        method,
        uri,
        headers,
        body,
    });
    Json(json!({"upstream": true, "path": path, "body_bytes": bytes})).into_response()
}

async fn websocket(
    State(log): State<Log>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    log.lock().unwrap().push(Seen {
        method,
        uri,
        headers,
        body: Bytes::new(),
    });
    upgrade.on_upgrade(echo)
}

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(text) => Message::Text(format!("echo: {}", text.as_str()).into()),
            Message::Close(_) => break,
            _ => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}
