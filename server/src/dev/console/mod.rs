//! The dev console: `GET /dev/console`, one self-contained page (`server/console/index.html`,
//! compiled in), and the JSON routes under `/dev/api/` with which it drives the in-process
//! Clerk emulator. Mounted by [`crate::http::app`] only when given these routes, that is with `--dev`:
//! these routes are unauthenticated admin powers over the local Clerk, and do not exist
//! otherwise (404).
//!
//! Signing in creates an emulator session and sets its token (valid for
//! [`crate::dev::tokens::TOKEN_LIFETIME_SECS`]) as the `__session` cookie, as Clerk's frontend does, so
//! the page calls `/v1/me` and `/v1/notes` with the cookie alone, never an `Authorization`
//! header. The cookie is `Path=/; SameSite=Lax; HttpOnly`: Clerk's own cookie is readable by
//! JavaScript because its frontend SDK reads it, but this page never needs the token, and
//! `HttpOnly` keeps it out of reach of any script.
//!
//! Changes go through the emulator, never straight to the server's tables: creating a user or
//! an organization, editing metadata or revoking a session emits Clerk's event, which the
//! emulator delivers, signed, to `POST /webhooks/clerk`, as Clerk would.
//!
//! Admin powers without authentication, kept to the developer's own browser:
//! - every `/dev/` request must name `localhost` or an IP address in `Host`, so that no web
//!   page can reach them through DNS rebinding (403 `dev-console-host` otherwise);
//! - every change is a `POST` or `PATCH` with a JSON body (`Content-Type: application/json`,
//!   else 415), which a cross-site form cannot send, nor a cross-site script without a CORS
//!   preflight that this server refuses (unless `CORS_ALLOWED_ORIGINS` lists that site);
//! - the page runs only its own inline script and style (a Content-Security-Policy with their
//!   hashes) and may connect to this server only.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clerk_emulator::{BackendError, Emulator};
use serde_json::json;

use crate::error::ApiError;
use crate::http::{AppState, Json};

mod api;
mod session;

/// The page, with its script and style inline.
pub const PAGE: &str = include_str!("../../../console/index.html");

/// How long revoking a session waits for its `session.revoked` delivery, so that the next
/// request already sees the revocation.
const REVOCATION_DELIVERY_WAIT: Duration = Duration::from_secs(5);

/// The most deliveries `GET /dev/api/deliveries` lists, newest first.
const DELIVERIES_LISTED: usize = 100;

/// What the console drives: the emulator, and how its tokens are minted.
#[derive(Clone)]
pub struct Console {
    emulator: Emulator,
    authorized_party: Option<String>,
    /// Whether the console paused the emulator's webhook delivery.
    paused: Arc<AtomicBool>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("authorized_party", &self.authorized_party)
            .finish_non_exhaustive()
    }
}

impl Console {
    /// A console over `emulator`, whose tokens carry `azp` = `authorized_party` if given.
    pub fn new(emulator: Emulator, authorized_party: Option<String>) -> Self {
        Console {
            emulator,
            authorized_party,
            paused: Arc::new(AtomicBool::new(false)),
        }
    }
}

#[derive(Clone)]
struct ConsoleState {
    app: AppState,
    console: Console,
}

/// `GET /dev/console` and the `/dev/api/…` routes.
pub fn router(app: AppState, console: Console) -> Router<AppState> {
    Router::new()
        .route("/dev/console", get(page))
        .merge(api::routes())
        .merge(session::routes())
        .layer(middleware::from_fn(local_hosts_only))
        .with_state(ConsoleState { app, console })
}

// ---- guard ----

/// Refuses a `Host` that is neither `localhost` nor an IP address: a DNS-rebinding page
/// would come with its own domain name.
async fn local_hosts_only(request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    match host {
        Some(host) if !is_local_host(host) => ConsoleError::Refused(
            StatusCode::FORBIDDEN,
            "dev-console-host",
            "The dev console answers only to http://localhost or an IP address \
             (DNS rebinding protection)."
                .to_owned(),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}

/// `localhost`, `*.localhost` or an IP address, with or without a port.
fn is_local_host(host: &str) -> bool {
    if let Some(rest) = host.strip_prefix('[') {
        let Some((ip, port)) = rest.split_once(']') else {
            return false;
        };
        return ip.parse::<std::net::Ipv6Addr>().is_ok()
            && (port.is_empty() || port.strip_prefix(':').is_some_and(is_port));
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if is_port(port) => name,
        Some(_) => return false,
        None => host,
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::Ipv4Addr>().is_ok()
}

fn is_port(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
}

// ---- errors ----

/// A console request that failed: the server's own errors, or the emulator's refusals with
/// Clerk's error code.
enum ConsoleError {
    Api(ApiError),
    Clerk(BackendError),
    Refused(StatusCode, &'static str, String),
}

impl From<ApiError> for ConsoleError {
    fn from(err: ApiError) -> Self {
        ConsoleError::Api(err)
    }
}

impl From<BackendError> for ConsoleError {
    fn from(err: BackendError) -> Self {
        ConsoleError::Clerk(err)
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, reason, message) = match self {
            ConsoleError::Api(err) => return err.into_response(),
            ConsoleError::Clerk(err) => (
                StatusCode::from_u16(err.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                err.code(),
                err.to_string(),
            ),
            ConsoleError::Refused(status, reason, message) => (status, reason, message),
        };
        let error = match status {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::CONFLICT => "conflict",
            StatusCode::BAD_REQUEST => "bad_request",
            _ => "unprocessable",
        };
        (
            status,
            Json(json!({"error": error, "reason": reason, "message": message})),
        )
            .into_response()
    }
}

type Result<T, E = ConsoleError> = std::result::Result<T, E>;

// ---- the page ----

/// `GET /dev/console`.
async fn page() -> Response {
    let mut response = axum::response::Html(PAGE).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        content_security_policy().clone(),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The page's policy: its own inline script and style only (by hash), requests to this
/// server only, no frames, no forms posted anywhere.
pub fn content_security_policy() -> &'static HeaderValue {
    static POLICY: OnceLock<HeaderValue> = OnceLock::new();
    POLICY.get_or_init(|| {
        let script = inline_hash(PAGE, "<script>", "</script>");
        let style = inline_hash(PAGE, "<style>", "</style>");
        HeaderValue::from_str(&format!(
            "default-src 'none'; script-src '{script}'; style-src '{style}'; \
             connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'"
        ))
        .expect("a policy is a valid header value")
    })
}

/// `sha256-<base64>` of the text between `open` and `close` (the page has one of each).
fn inline_hash(page: &str, open: &str, close: &str) -> String {
    let start = page.find(open).map_or(0, |i| i + open.len());
    let end = page[start..].find(close).map_or(page.len(), |i| start + i);
    let digest = ring::digest::digest(&ring::digest::SHA256, &page.as_bytes()[start..end]);
    format!("sha256-{}", STANDARD.encode(digest.as_ref()))
}

/// A trimmed text, unless empty.
pub(super) fn non_empty(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_hosts_pass() {
        for host in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "localhost:8080",
            "LOCALHOST",
            "app.localhost:3000",
            "[::1]:8080",
            "[::1]",
            "192.168.1.20:8080",
        ] {
            assert!(is_local_host(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "[::1",
            "[::1]x",
            "localhost:port",
            "",
        ] {
            assert!(!is_local_host(host), "{host}");
        }
    }

    #[test]
    fn the_policy_allows_the_pages_own_script_and_style() {
        let policy = content_security_policy().to_str().unwrap();
        let script = inline_hash(PAGE, "<script>", "</script>");
        let style = inline_hash(PAGE, "<style>", "</style>");
        assert!(
            policy.contains(&format!("script-src '{script}'")),
            "{policy}"
        );
        assert!(policy.contains(&format!("style-src '{style}'")), "{policy}");
        assert_eq!(PAGE.matches("<script").count(), 1, "one inline script");
        assert_eq!(PAGE.matches("<style").count(), 1, "one inline style");
        assert!(
            !PAGE.contains(" style=\""),
            "no style attributes: the policy refuses them"
        );
        assert!(
            !PAGE.contains("http://") && !PAGE.contains("https://"),
            "no CDN"
        );
    }
}
