//! The dev console: `GET /dev/console`, one self-contained page (`server/console/index.html`,
//! compiled in), and the JSON routes under `/dev/api/` with which it drives the in-process
//! Clerk emulator. Mounted by [`super::app`] only when given a console, that is with `--dev`:
//! these routes are unauthenticated admin powers over the local Clerk, and do not exist
//! otherwise (404).
//!
//! Signing in creates an emulator session and sets its token (valid for
//! [`crate::dev::TOKEN_LIFETIME_SECS`]) as the `__session` cookie, as Clerk's frontend does, so
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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use clerk_auth::request::{session_token, SESSION_COOKIE};
use clerk_emulator::objects::{Organization, User};
use clerk_emulator::{BackendError, Delivery, Emulator, NewOrganization, NewUser};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{AppState, Json};
use crate::dev::{sign, TOKEN_LIFETIME_SECS};
use crate::error::ApiError;

/// The page, with its script and style inline.
pub const PAGE: &str = include_str!("../../console/index.html");

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
        .route("/dev/api/users", get(users).post(create_user))
        .route("/dev/api/users/{id}/metadata", patch(edit_metadata))
        .route(
            "/dev/api/organizations",
            get(organizations).post(create_organization),
        )
        .route(
            "/dev/api/organizations/{id}/memberships",
            post(add_membership),
        )
        .route("/dev/api/session", get(session))
        .route("/dev/api/session/revoke", post(revoke))
        .route("/dev/api/sign-in", post(sign_in))
        .route("/dev/api/sign-out", post(sign_out))
        .route("/dev/api/deliveries", get(deliveries))
        .route("/dev/api/webhooks", get(webhooks).post(set_webhooks))
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

// ---- users and organizations ----

fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "email": user.primary_email(),
        "first_name": user.first_name,
        "last_name": user.last_name,
        "public_metadata": user.public_metadata,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    })
}

fn organization_json(emulator: &Emulator, organization: &Organization) -> Value {
    let members: Vec<Value> = emulator
        .memberships(&organization.id)
        .iter()
        .map(|m| json!({"user_id": m.user.id, "role": m.role}))
        .collect();
    json!({
        "id": organization.id,
        "name": organization.name,
        "slug": organization.slug,
        "members": members,
    })
}

/// `GET /dev/api/users`: the emulator's users, in creation order.
async fn users(State(state): State<ConsoleState>) -> Json<Value> {
    let users: Vec<Value> = state
        .console
        .emulator
        .users()
        .iter()
        .map(user_json)
        .collect();
    Json(json!({ "items": users }))
}

/// The body of `POST /dev/api/users`.
#[derive(Debug, Deserialize)]
struct NewUserBody {
    email: String,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
}

/// `POST /dev/api/users`: creates a user (`user.created`); 201.
async fn create_user(
    State(state): State<ConsoleState>,
    Json(body): Json<NewUserBody>,
) -> Result<(StatusCode, Json<Value>)> {
    let email = body.email.trim();
    if email.is_empty() {
        return Err(ApiError::invalid("email", "An email address is required.").into());
    }
    let mut new = NewUser::new().email(email);
    if let Some(first) = non_empty(body.first_name.as_deref()) {
        new = new.first_name(first);
    }
    if let Some(last) = non_empty(body.last_name.as_deref()) {
        new = new.last_name(last);
    }
    let user = state.console.emulator.create_user(new)?;
    Ok((StatusCode::CREATED, Json(user_json(&user))))
}

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

/// `GET /dev/api/organizations`: the emulator's organizations with their members.
async fn organizations(State(state): State<ConsoleState>) -> Json<Value> {
    let emulator = &state.console.emulator;
    let items: Vec<Value> = emulator
        .organizations()
        .iter()
        .map(|org| organization_json(emulator, org))
        .collect();
    Json(json!({ "items": items }))
}

/// The body of `POST /dev/api/organizations`.
#[derive(Debug, Deserialize)]
struct NewOrganizationBody {
    name: String,
    #[serde(default)]
    slug: Option<String>,
    /// The first member.
    user_id: String,
    /// Their role, `org:admin` by default.
    #[serde(default)]
    role: Option<String>,
}

/// `POST /dev/api/organizations`: creates an organization with a first member; 201. An
/// admin creates it (`created_by`, as in Clerk); any other role is added after it.
async fn create_organization(
    State(state): State<ConsoleState>,
    Json(body): Json<NewOrganizationBody>,
) -> Result<(StatusCode, Json<Value>)> {
    let emulator = &state.console.emulator;
    let name = body.name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("name", "A name is required.").into());
    }
    let role = non_empty(body.role.as_deref()).unwrap_or("org:admin");
    if emulator.user(&body.user_id).is_none() {
        return Err(BackendError::NotFound {
            object: "user",
            id: body.user_id,
        }
        .into());
    }
    let mut new = NewOrganization::new(name);
    if let Some(slug) = non_empty(body.slug.as_deref()) {
        new = new.slug(slug);
    }
    if role == "org:admin" {
        new = new.created_by(&body.user_id);
    }
    let organization = emulator.create_organization(new)?;
    if role != "org:admin" {
        emulator.add_membership(&organization.id, &body.user_id, role)?;
    }
    let organization = emulator
        .organization(&organization.id)
        .unwrap_or(organization);
    Ok((
        StatusCode::CREATED,
        Json(organization_json(emulator, &organization)),
    ))
}

/// The body of `POST /dev/api/organizations/{id}/memberships`.
#[derive(Debug, Deserialize)]
struct MembershipBody {
    user_id: String,
    role: String,
}

/// `POST /dev/api/organizations/{id}/memberships`: adds a member
/// (`organizationMembership.created`); 201 with the organization.
async fn add_membership(
    State(state): State<ConsoleState>,
    Path(org): Path<String>,
    Json(body): Json<MembershipBody>,
) -> Result<(StatusCode, Json<Value>)> {
    let emulator = &state.console.emulator;
    let membership = emulator.add_membership(&org, &body.user_id, body.role.trim())?;
    let organization = emulator
        .organization(&membership.organization.id)
        .unwrap_or(membership.organization);
    Ok((
        StatusCode::CREATED,
        Json(organization_json(emulator, &organization)),
    ))
}

/// The body of `PATCH /dev/api/users/{id}/metadata`.
#[derive(Debug, Deserialize)]
struct MetadataBody {
    public_metadata: Value,
}

/// `PATCH /dev/api/users/{id}/metadata`: deep-merges into the user's public metadata, as
/// Clerk's `PATCH /v1/users/{id}/metadata` (a `null` removes a key), which emits
/// `user.updated`. Answers at once with the messages queued: the server learns of the change
/// when the webhook arrives.
async fn edit_metadata(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    Json(body): Json<MetadataBody>,
) -> Result<Json<Value>> {
    if !body.public_metadata.is_object() {
        return Err(ApiError::invalid("public_metadata", "Must be a JSON object.").into());
    }
    let emulator = &state.console.emulator;
    let before = emulator.deliveries().len();
    let user =
        emulator.update_user_metadata(&id, json!({ "public_metadata": body.public_metadata }))?;
    let queued: Vec<Value> = emulator
        .deliveries()
        .iter()
        .skip(before)
        .map(delivery_json)
        .collect();
    Ok(Json(
        json!({ "user": user_json(&user), "deliveries": queued }),
    ))
}

// ---- the session ----

/// The console's session, as the `__session` cookie names it.
#[derive(Debug, Default, Serialize)]
struct SessionView {
    signed_in: bool,
    user_id: Option<String>,
    email: Option<String>,
    session_id: Option<String>,
    org_id: Option<String>,
    org_role: Option<String>,
    /// The emulator's status of the session: `active`, `revoked`, `ended`; `unknown` for a
    /// session this emulator never made (a cookie from an earlier run).
    status: Option<String>,
    /// When the token expires (Unix seconds).
    expires_at: Option<i64>,
    /// `valid`, or why this server refuses the token (`session-revoked`, …).
    token: Option<String>,
}

/// The session of a token: from its verified claims, else (a refused token) from its
/// unverified payload and the emulator.
async fn session_view(state: &ConsoleState, token: Option<&str>) -> SessionView {
    let Some(token) = token else {
        return SessionView::default();
    };
    let emulator = &state.console.emulator;
    let mut view = SessionView {
        signed_in: true,
        ..SessionView::default()
    };
    match state.app.verifier().verify(token).await {
        Ok(claims) => {
            view.user_id = Some(claims.user_id().to_owned());
            view.session_id = Some(claims.session_id().to_owned());
            view.org_id = claims.org_id().map(str::to_owned);
            view.org_role = claims.org_role().map(str::to_owned);
            view.expires_at = Some(claims.expires_at());
            view.token = Some("valid".to_owned());
        }
        Err(rejection) => {
            let payload = unverified_payload(token).unwrap_or_default();
            let text = |name: &str| payload.get(name).and_then(Value::as_str).map(str::to_owned);
            view.user_id = text("sub");
            view.session_id = text("sid");
            view.expires_at = payload.get("exp").and_then(Value::as_i64);
            view.token = Some(rejection.reason().as_str().to_owned());
        }
    }
    let session = view
        .session_id
        .as_deref()
        .and_then(|sid| emulator.session(sid));
    view.status = Some(
        session
            .as_ref()
            .map_or("unknown", |s| s.status.as_str())
            .to_owned(),
    );
    if let (None, Some(session)) = (&view.org_id, &session) {
        view.org_id.clone_from(&session.last_active_organization_id);
        view.org_role = view.org_id.as_deref().and_then(|org| {
            emulator
                .memberships(org)
                .into_iter()
                .find(|m| Some(&m.user.id) == view.user_id.as_ref())
                .map(|m| m.role)
        });
    }
    view.email = view
        .user_id
        .as_deref()
        .and_then(|id| emulator.user(id))
        .and_then(|user| user.primary_email().map(str::to_owned));
    view
}

/// A token's payload, unverified: only to describe a token the server refuses.
fn unverified_payload(token: &str) -> Option<serde_json::Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The session id (`sid`) of a token, unverified.
fn session_id(token: &str) -> Option<String> {
    unverified_payload(token)?
        .get("sid")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The session token of the request's cookie.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    session_token(headers, None)
        .filter(|found| found.carrier == clerk_auth::request::TokenCarrier::Cookie)
        .map(|found| found.token.into_owned())
}

/// `Set-Cookie` for the console's session.
fn session_cookie(token: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; SameSite=Lax; HttpOnly"
    ))
    .expect("a token is a valid cookie value")
}

/// `GET /dev/api/session`: who the cookie signs in, and whether this server accepts it.
async fn session(State(state): State<ConsoleState>, headers: HeaderMap) -> Json<SessionView> {
    Json(session_view(&state, cookie_token(&headers).as_deref()).await)
}

/// The body of `POST /dev/api/sign-in`.
#[derive(Debug, Deserialize)]
struct SignInBody {
    user_id: String,
    /// The active organization, if any (id or slug); the user must be a member.
    #[serde(default)]
    org_id: Option<String>,
}

/// `POST /dev/api/sign-in`: a new emulator session for the user (`session.created`), its
/// token (with the organization active, if asked) in the `__session` cookie.
async fn sign_in(
    State(state): State<ConsoleState>,
    Json(body): Json<SignInBody>,
) -> Result<Response> {
    let emulator = &state.console.emulator;
    let Some(user) = emulator.user(&body.user_id) else {
        return Err(BackendError::NotFound {
            object: "user",
            id: body.user_id,
        }
        .into());
    };
    let org = non_empty(body.org_id.as_deref());
    if let Some(org) = org {
        if emulator.organization(org).is_none() {
            return Err(BackendError::NotFound {
                object: "organization",
                id: org.to_owned(),
            }
            .into());
        }
        if !emulator
            .memberships(org)
            .iter()
            .any(|m| m.user.id == user.id)
        {
            return Err(ConsoleError::Refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not-a-member",
                format!("{} is not a member of {org}.", user.id),
            ));
        }
    }
    let session = emulator.create_session(&user.id)?;
    let builder = match org {
        Some(org) => emulator.session_token_in_org(&session, org)?,
        None => emulator.session_token_for(&session),
    };
    let token = sign(
        builder,
        user.primary_email(),
        state.console.authorized_party.as_deref(),
    );
    let view = session_view(&state, Some(&token)).await;
    let mut response = Json(view).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&token, TOKEN_LIFETIME_SECS),
    );
    Ok(response)
}

/// `POST /dev/api/sign-out`: ends the cookie's session if still active (`session.ended`, as
/// Clerk's sign-out does) and clears the cookie.
async fn sign_out(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Json(_): Json<Value>,
) -> Response {
    let emulator = &state.console.emulator;
    let mut ended = None;
    if let Some(sid) = cookie_token(&headers).as_deref().and_then(session_id) {
        let active = emulator.session(&sid).is_some_and(|s| s.status == "active");
        if active && emulator.end_session(&sid).is_ok() {
            ended = Some(sid);
        }
    }
    let mut response = Json(json!({ "signed_in": false, "ended_session": ended })).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0));
    response
}

/// `POST /dev/api/session/revoke`: revokes the cookie's session in the emulator
/// (`session.revoked`) and waits (up to 5 s, unless delivery is paused) for the webhook to
/// reach the server, which then refuses every token of the session. The cookie stays: its
/// token is simply refused from now on.
async fn revoke(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Json(_): Json<Value>,
) -> Result<Json<Value>> {
    let token = cookie_token(&headers).ok_or_else(|| {
        ConsoleError::Refused(
            StatusCode::CONFLICT,
            "not-signed-in",
            "No __session cookie: sign in first.".to_owned(),
        )
    })?;
    let sid = session_id(&token).ok_or_else(|| {
        ConsoleError::Refused(
            StatusCode::BAD_REQUEST,
            "not-a-session-token",
            "The __session cookie holds no session id.".to_owned(),
        )
    })?;
    let emulator = &state.console.emulator;
    let before = emulator.deliveries().len();
    emulator.revoke_session(&sid)?;
    let wait = if state.console.paused.load(Ordering::Relaxed) {
        Duration::ZERO
    } else {
        // Well within the request timeout, which would answer 503 instead.
        REVOCATION_DELIVERY_WAIT.min(state.app.inner.options.request_timeout / 2)
    };
    let sent = settled(emulator, before, wait).await;
    let view = session_view(&state, Some(&token)).await;
    Ok(Json(json!({
        "session": view,
        "deliveries": sent.iter().map(delivery_json).collect::<Vec<_>>(),
    })))
}

/// The messages queued since the `from`th, once each is delivered or failed, or when
/// `timeout` runs out.
async fn settled(emulator: &Emulator, from: usize, timeout: Duration) -> Vec<Delivery> {
    let deadline = Instant::now() + timeout;
    loop {
        let queued: Vec<Delivery> = emulator.deliveries().into_iter().skip(from).collect();
        if queued.iter().all(|d| d.delivered || d.failed) || Instant::now() >= deadline {
            return queued;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- webhooks ----

fn delivery_json(delivery: &Delivery) -> Value {
    let event: Value = serde_json::from_str(&delivery.body).unwrap_or_default();
    json!({
        "msg_id": delivery.msg_id,
        "event_type": delivery.event_type,
        "object_id": event["data"]["id"],
        "timestamp": event["timestamp"],
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "delivered": delivery.delivered,
        "failed": delivery.failed,
    })
}

/// `GET /dev/api/deliveries`: the emulator's webhook messages, newest first (at most 100).
async fn deliveries(State(state): State<ConsoleState>) -> Json<Value> {
    let items: Vec<Value> = state
        .console
        .emulator
        .deliveries()
        .iter()
        .rev()
        .take(DELIVERIES_LISTED)
        .map(delivery_json)
        .collect();
    Json(json!({
        "paused": state.console.paused.load(Ordering::Relaxed),
        "items": items,
    }))
}

/// The body of `POST /dev/api/webhooks`.
#[derive(Debug, Deserialize)]
struct WebhooksBody {
    paused: bool,
}

/// `GET /dev/api/webhooks`: whether delivery is paused, and where it goes.
async fn webhooks(State(state): State<ConsoleState>) -> Json<Value> {
    Json(json!({
        "paused": state.console.paused.load(Ordering::Relaxed),
        "url": state.console.emulator.webhook_url(),
    }))
}

/// `POST /dev/api/webhooks` `{"paused": bool}`: holds the emulator's deliveries back, or
/// lets them go, to watch a change arrive late.
async fn set_webhooks(
    State(state): State<ConsoleState>,
    Json(body): Json<WebhooksBody>,
) -> Json<Value> {
    let console = &state.console;
    if body.paused {
        console.emulator.pause_delivery();
    } else {
        console.emulator.resume_delivery();
    }
    console.paused.store(body.paused, Ordering::Relaxed);
    Json(json!({
        "paused": body.paused,
        "url": console.emulator.webhook_url(),
    }))
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

    #[test]
    fn unverified_payloads_are_read_only_when_well_formed() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"user_1","sid":"sess_1"}"#);
        let parsed = unverified_payload(&format!("x.{payload}.y")).unwrap();
        assert_eq!(parsed["sid"], "sess_1");
        assert!(unverified_payload("nodots").is_none());
        assert!(unverified_payload("a.!!!.b").is_none());
    }
}
