//! The console's session: who the `__session` cookie signs in, signing in and out, and revoking
//! the session with its webhook awaited.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_auth::request::{session_token, SESSION_COOKIE};
use clerk_emulator::{BackendError, Delivery, Emulator};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::api::delivery_json;
use super::{non_empty, ConsoleError, ConsoleState, Result, REVOCATION_DELIVERY_WAIT};
use crate::dev::tokens::{sign, TOKEN_LIFETIME_SECS};
use crate::http::Json;

/// The session's routes.
pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/dev/api/session", get(session))
        .route("/dev/api/session/revoke", post(revoke))
        .route("/dev/api/sign-in", post(sign_in))
        .route("/dev/api/sign-out", post(sign_out))
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
        .ok()
        .flatten()
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
        REVOCATION_DELIVERY_WAIT.min(state.app.options().request_timeout / 2)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unverified_payloads_are_read_only_when_well_formed() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"user_1","sid":"sess_1"}"#);
        let parsed = unverified_payload(&format!("x.{payload}.y")).unwrap();
        assert_eq!(parsed["sid"], "sess_1");
        assert!(unverified_payload("nodots").is_none());
        assert!(unverified_payload("a.!!!.b").is_none());
    }
}
