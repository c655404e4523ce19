//! `clerk-gateway`: the forward-auth decision service. A reverse proxy (nginx `auth_request`,
//! Traefik `ForwardAuth`, Caddy `forward_auth`, Envoy `ext_authz`) asks it about each request
//! before passing the request on; it verifies the request's Clerk credential (session token,
//! API key, M2M or OAuth token) with `clerk-auth`, applies the route's policy, and answers
//! allow (200, with identity headers) or refuse (401, 403 or 503), in the form each proxy
//! family understands:
//!
//! | endpoint | for | allow | refuse |
//! |---|---|---|---|
//! | `/forward-auth` | Traefik, Caddy, any proxy relaying the answer | 200 | 401 / 403 / 503 (`Retry-After`) as they are |
//! | `/auth-request` | nginx `auth_request`, ingress-nginx | 200 | 401 or 403 only (nginx turns anything else into 500); the real status and reason in `X-Clerk-Auth-Status` and `X-Clerk-Auth-Reason` |
//! | `/ext-authz/…` | Envoy HTTP `ext_authz` | 200 | 401 / 403 / 503 |
//! | `envoy.service.auth.v3.Authorization/Check` (gRPC) | Envoy gRPC `ext_authz` ([`grpc`]) | `OK`, the identity headers set on the request | `UNAUTHENTICATED` / `PERMISSION_DENIED` / `UNAVAILABLE`, with the HTTP endpoints' 401 / 403 / 503 answer for the client |
//!
//! Every refusal carries `X-Clerk-Auth-Status`, `X-Clerk-Auth-Reason` and `Cache-Control:
//! no-store`; every allow carries the full set of identity headers ([`identity::HEADERS`],
//! empty when absent), `Cache-Control: private, max-age=…` never longer than the credential's
//! remaining life, and with `GATEWAY_SIGNING_KEY` a signed `X-Clerk-Identity`.
#![forbid(unsafe_code)]

pub mod config;
#[cfg(feature = "dev")]
pub mod dev;
pub mod grpc;
pub mod identity;
pub mod metrics;
pub mod original;
pub mod policy;
pub mod rules;
pub mod store;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use clerk_auth::{Check, Reason, Verifier};
use clerk_axum::{unmet_check, unmet_scope, AuthError, Forbidden};
use clerk_service::config::ConfigError;
use clerk_service::revocation::{apply_all, Revocation};
use clerk_webhooks::Webhook;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Config, Settings};
use identity::{Identity, Signer, IDENTITY_HEADER};
use metrics::Metrics;
use original::{ambiguous, Family, Original};
use policy::Policy;
use rules::{Matched, Rules};
use store::Store;

/// The real status of a refusal, on every refusal (through nginx, whose `auth_request` only
/// passes 401 and 403, it tells the snippet to answer 503).
pub const AUTH_STATUS_HEADER: &str = "x-clerk-auth-status";
/// The reason of a refusal (`token-expired`, `missing-permission`, `keys-unavailable`, …).
pub const AUTH_REASON_HEADER: &str = "x-clerk-auth-reason";

/// The longest `max-age` of an allow, in seconds.
pub const MAX_CACHE_SECS: i64 = 60;

/// The seconds in the `Retry-After` of a 503.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What the gateway decides with: the verifier, the rules and the rest of the settings.
pub struct Gate {
    verifier: Verifier,
    rules: Option<Rules>,
    /// Whether the rules look at the method, the host, the path.
    needs: (bool, bool, bool),
    signer: Option<Signer>,
    webhook: Option<Webhook>,
    store: Option<Store>,
    metrics: Metrics,
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("rules", &self.rules.as_ref().map(|r| r.rules().len()))
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// The decision about one request.
#[derive(Debug)]
pub enum Decision {
    /// Allowed, acting for this identity.
    Allow(Box<Identity>),
    /// Allowed with no credential (a public rule, or `optional` with none sent).
    Anonymous,
    /// Refused.
    Refuse(AuthError),
    /// The proxy or the policy is misconfigured: refused, 500 (403 through nginx).
    Misconfigured {
        /// `invalid-policy`, `invalid-original-request`, `original-request-unknown` or
        /// `client-query-in-auth-url`.
        reason: &'static str,
        /// What is wrong, for the operator.
        message: String,
    },
}

impl Decision {
    /// The outcome and reason, as metrics and logs label it.
    pub fn label(&self) -> (&'static str, &'static str) {
        match self {
            Decision::Allow(_) => ("allowed", ""),
            Decision::Anonymous => ("anonymous", ""),
            Decision::Refuse(err) => match err {
                AuthError::Unavailable(_) => ("unavailable", err.reason()),
                AuthError::Forbidden(_) => ("forbidden", err.reason()),
                _ => ("unauthorized", err.reason()),
            },
            Decision::Misconfigured { reason, .. } => ("misconfigured", reason),
        }
    }
}

impl Gate {
    /// A gate with `verifier` and nothing else: the policy from each request's query string.
    pub fn new(verifier: Verifier) -> Gate {
        let metrics = Metrics::new(verifier.clone());
        Gate {
            verifier,
            rules: None,
            needs: (false, false, false),
            signer: None,
            webhook: None,
            store: None,
            metrics,
        }
    }

    /// With these rules.
    pub fn with_rules(mut self, rules: Rules) -> Gate {
        self.needs = rules.needs();
        self.rules = Some(rules);
        self
    }

    /// With signed identities.
    pub fn with_signer(mut self, signer: Signer) -> Gate {
        self.signer = Some(signer);
        self
    }

    /// With revocation webhooks.
    pub fn with_webhook(mut self, webhook: Webhook) -> Gate {
        self.webhook = Some(webhook);
        self
    }

    /// With revocations shared through PostgreSQL.
    pub fn with_store(mut self, store: Store) -> Gate {
        self.store = Some(store);
        self
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Decides about the request a proxy of `family` describes: `method` and `uri` are the
    /// gateway's own request line's, `headers` the request's headers (the client's, and those
    /// the proxy adds).
    pub async fn decide(
        &self,
        family: Family,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> (Decision, Option<String>) {
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        // Envoy appends the original path (and its query) to the prefix: the policy query is
        // the forward-auth families' only.
        let query = match family {
            Family::ExtAuthz | Family::ExtAuthzGrpc => None,
            Family::ForwardAuth | Family::AuthRequest => uri.query(),
        };
        // A proxy that appends the client's query string to the auth URL (Caddy's
        // `forward_auth` with a `uri` that has no `?`) would let the client choose its own
        // policy (`?optional=true`): refused as a misconfiguration.
        if let Some(query) = query.filter(|query| !query.is_empty()) {
            if original::original_query(family, headers) == Some(query) {
                return (
                    Decision::Misconfigured {
                        reason: "client-query-in-auth-url",
                        message: "The auth URL's query string is the original request's: the \
                                  proxy appends the client's query to the auth URL, so a \
                                  client could choose its own policy. Give the auth URL an \
                                  explicit query (with Caddy: `uri /forward-auth?`, the \
                                  policy after the `?`)."
                            .to_owned(),
                    },
                    None,
                );
            }
        }
        let query_policy = match Policy::from_query(query.unwrap_or("")) {
            Ok(policy) => policy,
            Err(err) => {
                return (
                    Decision::Misconfigured {
                        reason: "invalid-policy",
                        message: format!("The auth URL's policy query: {err}."),
                    },
                    None,
                )
            }
        };
        let original = match Original::read(family, method, path_and_query, headers) {
            Ok(original) => original,
            Err(err) => {
                return (
                    Decision::Misconfigured {
                        reason: "invalid-original-request",
                        message: format!("The proxy's description of the request: {err}."),
                    },
                    None,
                )
            }
        };
        let decision = self.decide_original(&original, query_policy, headers).await;
        (decision, original.host)
    }

    /// Decides about `original`, the request as its proxy described it, whose credentials are
    /// in `headers`. `policy` is the proxy's own (the auth URL's query, or an Envoy route's
    /// context extensions), if it sends one. With rules, the matching rule's policy, narrowed
    /// by `policy`; without rules, `policy`, by default a session token.
    pub async fn decide_original(
        &self,
        original: &Original,
        policy: Option<Policy>,
        headers: &HeaderMap,
    ) -> Decision {
        match &self.rules {
            None => {
                let policy = policy.unwrap_or_default();
                self.authenticate(&policy, policy.check().as_ref(), headers)
                    .await
            }
            Some(rules) => match self.rule_policy(rules, original) {
                Err(decision) => decision,
                Ok(matched) => match (matched, policy) {
                    // The common case: the rule as it is, its check built once.
                    (Matched::Rule(rule), None) => {
                        self.authenticate(&rule.policy, rule.check(), headers).await
                    }
                    (matched, query) => {
                        let base = matched.policy().cloned().unwrap_or_default();
                        let policy = match query {
                            Some(query) => base.narrowed_by(&query),
                            None => base,
                        };
                        self.authenticate(&policy, policy.check().as_ref(), headers)
                            .await
                    }
                },
            },
        }
    }

    /// What the rules give `original` (a rule or the default; never nothing).
    fn rule_policy<'r>(
        &self,
        rules: &'r Rules,
        original: &Original,
    ) -> Result<Matched<'r>, Decision> {
        let (method, host, path) = self.needs;
        let missing = [
            (method && original.method.is_none(), "method"),
            (host && original.host.is_none(), "host"),
            (path && original.path.is_none(), "path"),
        ];
        if let Some((_, what)) = missing.iter().find(|(missing, _)| *missing) {
            return Err(Decision::Misconfigured {
                reason: "original-request-unknown",
                message: format!(
                    "The rules need the original request's {what}, and the proxy did not send \
                     it (X-Forwarded-Method / -Host / -Uri, or X-Original-Method / -URI / -URL)."
                ),
            });
        }
        if let Some(why) = original.path.as_deref().and_then(ambiguous) {
            return Err(Decision::Refuse(AuthError::Forbidden(Forbidden::new(
                "ambiguous-path",
                format!("The path cannot be matched against the rules safely: {why}."),
            ))));
        }
        let matched = rules.matching(original);
        tracing::debug!(rule = matched.name(), "rule");
        match matched {
            Matched::Nothing => Err(Decision::Refuse(AuthError::Forbidden(Forbidden::new(
                "no-matching-rule",
                "No rule allows this request.",
            )))),
            matched => Ok(matched),
        }
    }

    /// Verifies the request's credential under `policy`.
    async fn authenticate(
        &self,
        policy: &Policy,
        check: Option<&Check>,
        headers: &HeaderMap,
    ) -> Decision {
        if policy.public {
            return Decision::Anonymous;
        }
        let caller = match self
            .verifier
            .authenticate_request(headers, policy.accepts)
            .await
        {
            Ok(caller) => caller,
            Err(rejection)
                if policy.optional
                    && matches!(
                        rejection.reason(),
                        Reason::SessionTokenMissing | Reason::TokenMissing
                    ) =>
            {
                return Decision::Anonymous
            }
            Err(rejection) => return Decision::Refuse(AuthError::from_rejection(rejection)),
        };
        if let Some(check) = check {
            if let Some(forbidden) = unmet_check(&caller, check) {
                return Decision::Refuse(AuthError::Forbidden(forbidden));
            }
        }
        for scope in &policy.scopes {
            if let Some(forbidden) = unmet_scope(&caller, scope) {
                return Decision::Refuse(AuthError::Forbidden(forbidden));
            }
        }
        Decision::Allow(Box::new(Identity::of(&caller)))
    }

    /// Counts `decision` and answers `family`'s proxy.
    fn answer(&self, family: Family, decision: Decision, audience: Option<&str>) -> Response {
        let (outcome, reason) = decision.label();
        self.metrics.record(family, outcome, reason);
        self.respond(family, decision, audience)
    }

    /// The answer to `family`'s proxy.
    pub fn respond(&self, family: Family, decision: Decision, audience: Option<&str>) -> Response {
        match decision {
            Decision::Allow(identity) => self.allow(Some(&identity), audience),
            Decision::Anonymous => self.allow(None, audience),
            Decision::Refuse(err) => refuse(family, &err),
            Decision::Misconfigured { reason, message } => {
                tracing::warn!(reason, %message, "forward-auth request misconfigured");
                let mut response = (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"error": "internal", "reason": reason, "message": message})),
                )
                    .into_response();
                tunnel(family, &mut response, reason);
                response
            }
        }
    }

    fn allow(&self, identity: Option<&Identity>, audience: Option<&str>) -> Response {
        let mut response = StatusCode::OK.into_response();
        let headers = response.headers_mut();
        let anonymous = Identity::default();
        let written = identity.unwrap_or(&anonymous).write_headers(headers);
        if written.is_none() {
            let err = AuthError::Forbidden(Forbidden::new(
                "identity-too-large",
                "This credential's identity (its organization permissions) is too large for \
                 the identity headers.",
            ));
            tracing::warn!("an identity larger than the identity headers allow; refused");
            return err.to_response(RETRY_AFTER);
        }
        if let Some(signer) = &self.signer {
            let signed = match identity {
                Some(identity) => match signer.sign(identity, audience.unwrap_or_default()) {
                    Ok(token) => HeaderValue::from_str(&token).ok(),
                    Err(err) => {
                        tracing::error!(error = %err, "cannot sign the identity");
                        None
                    }
                },
                None => Some(HeaderValue::from_static("")),
            };
            match signed {
                Some(value) => {
                    headers.insert(HeaderName::from_static(IDENTITY_HEADER), value);
                }
                None => {
                    return AuthError::Unavailable(clerk_auth::Rejection::new(
                        Reason::UnexpectedError,
                        "The identity could not be signed.",
                    ))
                    .to_response(RETRY_AFTER)
                }
            }
        }
        let max_age = identity
            .and_then(|identity| identity.expires_at)
            .map(|exp| (exp - now_secs()).clamp(0, MAX_CACHE_SECS));
        let cache = match (identity, max_age) {
            (Some(_), Some(secs)) if secs > 0 => format!("private, max-age={secs}"),
            (Some(_), None) => format!("private, max-age={MAX_CACHE_SECS}"),
            _ => "private, no-store".to_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&cache) {
            headers.insert(header::CACHE_CONTROL, value);
        }
        response
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The answer to a refusal, in the form `family`'s proxy passes on.
fn refuse(family: Family, err: &AuthError) -> Response {
    let mut response = err.to_response(RETRY_AFTER);
    tunnel(family, &mut response, err.reason());
    response
}

/// Adds the real status and the reason; through nginx, turns what is not 401 or 403 into 403.
fn tunnel(family: Family, response: &mut Response, reason: &str) {
    let status = response.status();
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static(AUTH_STATUS_HEADER),
        HeaderValue::from(status.as_u16()),
    );
    if let Ok(reason) = HeaderValue::from_str(reason) {
        headers.insert(HeaderName::from_static(AUTH_REASON_HEADER), reason);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if family == Family::AuthRequest
        && status != StatusCode::UNAUTHORIZED
        && status != StatusCode::FORBIDDEN
    {
        *response.status_mut() = StatusCode::FORBIDDEN;
    }
}

/// The gateway's routes over `gate`: the HTTP endpoints, and Envoy's gRPC `Check` service
/// beside them (over HTTP/2).
pub fn app(gate: Arc<Gate>) -> Router {
    let grpc = grpc::routes(Arc::clone(&gate));
    Router::new()
        .route("/forward-auth", any(forward_auth))
        .route("/auth-request", any(auth_request))
        .route(original::EXT_AUTHZ_PREFIX, any(ext_authz))
        // The original path `/` (a catch-all does not match an empty rest).
        .route("/ext-authz/", any(ext_authz))
        .route("/ext-authz/{*path}", any(ext_authz))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/.well-known/jwks.json", get(jwks))
        .route(
            "/webhooks/clerk",
            post(webhook).layer(DefaultBodyLimit::max(config::MAX_WEBHOOK_BYTES)),
        )
        .with_state(gate)
        .merge(grpc)
}

async fn decide_and_respond(
    gate: &Gate,
    family: Family,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let (decision, audience) = gate.decide(family, method, uri, headers).await;
    gate.answer(family, decision, audience.as_deref())
}

async fn forward_auth(
    State(gate): State<Arc<Gate>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    decide_and_respond(&gate, Family::ForwardAuth, &method, &uri, &headers).await
}

async fn auth_request(
    State(gate): State<Arc<Gate>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    decide_and_respond(&gate, Family::AuthRequest, &method, &uri, &headers).await
}

async fn ext_authz(
    State(gate): State<Arc<Gate>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    decide_and_respond(&gate, Family::ExtAuthz, &method, &uri, &headers).await
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(gate): State<Arc<Gate>>) -> Response {
    let keys = gate.verifier.key_status();
    let database = match &gate.store {
        Some(store) => Some(store.ping().await),
        None => None,
    };
    let ready = keys.usable && database.unwrap_or(true);
    let body = json!({
        "status": if ready { "ok" } else { "unavailable" },
        "keys": {
            "usable": keys.usable,
            "keys": keys.keys,
            "age_seconds": keys.age.map(|age| age.as_secs()),
            "stale": keys.stale,
            "error": keys.last_error,
        },
        "database": database.map(|ok| json!({"ok": ok})),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(gate): State<Arc<Gate>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        gate.metrics.encode(),
    )
        .into_response()
}

async fn jwks(State(gate): State<Arc<Gate>>) -> Response {
    match &gate.signer {
        Some(signer) => (
            [(header::CACHE_CONTROL, "public, max-age=300")],
            Json(signer.jwks().clone()),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({
                "error": "not_found",
                "reason": "signing-not-configured",
                "message": "Signed identities are off: set GATEWAY_SIGNING_KEY.",
            })),
        )
            .into_response(),
    }
}

/// `POST /webhooks/clerk`: a revocation (`session.revoked`, `.ended`, `.removed`,
/// `user.deleted`) applies at once; with PostgreSQL, it is recorded and notified to every
/// instance first (so a failure answers 500 and Svix retries). Other events are ignored.
async fn webhook(State(gate): State<Arc<Gate>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(webhook) = &gate.webhook else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "error": "unavailable",
                "reason": "webhooks-not-configured",
                "message": "Webhooks are not configured: set CLERK_WEBHOOK_SIGNING_SECRET.",
            })),
        )
            .into_response();
    };
    let event = match webhook.verify_event(&headers, &body) {
        Ok(event) => event,
        Err(err) => {
            tracing::warn!(reason = err.reason(), error = %err, "webhook refused");
            let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST);
            return (
                status,
                Json(json!({
                    "error": "invalid_webhook",
                    "reason": err.reason(),
                    "message": err.to_string(),
                })),
            )
                .into_response();
        }
    };
    let Some(revocation) = Revocation::from_event(&event) else {
        gate.metrics.record_webhook("ignored");
        return Json(json!({"status": "ignored"})).into_response();
    };
    if let Some(store) = &gate.store {
        if let Err(err) = store.record(&revocation).await {
            tracing::error!(error = %err, "cannot record a revocation; Svix will retry");
            gate.metrics.record_webhook("failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({
                    "error": "internal",
                    "reason": "database-unavailable",
                    "message": "The revocation could not be recorded.",
                })),
            )
                .into_response();
        }
    }
    revocation.apply(&gate.verifier);
    tracing::info!(event_type = %event.type_, ?revocation, "revocation applied");
    gate.metrics.record_webhook("applied");
    Json(json!({"status": "applied"})).into_response()
}

pub use clerk_service::StartError;

/// A running gateway.
pub struct Gateway {
    addr: SocketAddr,
    gate: Arc<Gate>,
    stop: watch::Sender<bool>,
    serving: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    #[cfg(feature = "dev")]
    dev: Option<dev::DevClerk>,
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The decision state.
    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// The dev-mode emulator and credentials, with `--dev`.
    #[cfg(feature = "dev")]
    pub fn dev(&self) -> Option<&dev::DevClerk> {
        self.dev.as_ref()
    }

    /// Stops accepting, finishes the requests in flight, stops the listener.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        match self.serving.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "the gateway stopped with an error"),
            Err(err) => tracing::error!(error = %err, "the gateway task failed"),
        }
        for task in self.background {
            let _ = task.await;
        }
        if let Some(store) = &self.gate.store {
            store.close().await;
        }
        #[cfg(feature = "dev")]
        if let Some(dev) = self.dev {
            dev.shutdown().await;
        }
    }
}

/// Starts the gateway on `settings.bind`; returns once the socket is bound.
pub async fn start(settings: Settings) -> Result<Gateway, StartError> {
    let Settings {
        dev,
        clerk,
        webhook,
        database_url,
        bind,
        limits,
        rules,
        signer,
    } = settings;
    #[cfg(feature = "dev")]
    let (dev, webhook) = if dev {
        let dev = dev::DevClerk::start().await.map_err(StartError::Emulator)?;
        if !clerk.key_sources.is_empty() {
            tracing::warn!(ignored = ?clerk.key_sources, "--dev: using the local emulator's keys instead");
        }
        let webhook = Some(dev.webhook());
        (Some(dev), webhook)
    } else {
        (None, webhook)
    };
    #[cfg(feature = "dev")]
    let verifier = match &dev {
        Some(dev) => Some(dev.verifier(clerk.tuning()).map_err(ConfigError::from)?),
        None => clerk.verifier,
    };
    #[cfg(not(feature = "dev"))]
    let verifier = {
        let _ = dev;
        clerk.verifier
    };
    let verifier =
        verifier.ok_or_else(|| ConfigError::new("CLERK_PUBLISHABLE_KEY", "no key source"))?;
    let mut gate = Gate::new(verifier.clone());
    if let Some(rules) = rules {
        tracing::info!(rules = rules.rules().len(), "rules loaded");
        gate = gate.with_rules(rules);
    }
    if let Some(signer) = signer {
        tracing::info!(
            alg = signer.algorithm(),
            "signed identities on (X-Clerk-Identity)"
        );
        gate = gate.with_signer(signer);
    }
    if let Some(webhook) = webhook {
        gate = gate.with_webhook(webhook);
    }
    let (stop, stopped) = watch::channel(false);
    let mut background = Vec::new();
    if let Some(url) = database_url {
        // Listen before loading: a revocation committed meanwhile is then either in the
        // table or notified.
        let listener = match clerk_service::revocation::connect_listener(
            &url,
            store::LISTENER_APPLICATION_NAME,
        )
        .await
        {
            Ok(listener) => Some(listener),
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for revocations yet; retrying in the background");
                None
            }
        };
        let store = Store::connect(&url).await.map_err(StartError::Database)?;
        let loaded = apply_all(
            &store.recent().await.map_err(StartError::Database)?,
            &verifier,
        );
        tracing::info!(
            revocations = loaded,
            "revocations shared through PostgreSQL"
        );
        background.push(tokio::spawn(clerk_service::revocation::listen(
            url,
            store::LISTENER_APPLICATION_NAME.to_owned(),
            verifier.clone(),
            listener,
            store.reload(),
            stopped.clone(),
        )));
        gate = gate.with_store(store);
    }
    let gate = Arc::new(gate);
    let listener =
        clerk_service::serve::listen(bind).map_err(|err| StartError::Listen(bind, err))?;
    let addr = listener
        .local_addr()
        .map_err(|err| StartError::Listen(bind, err))?;
    clerk_service::serve::raise_open_file_limit(limits.max_connections);
    let mut shutdown = stopped;
    let router = app(Arc::clone(&gate));
    let serving = tokio::spawn(clerk_service::serve::serve(
        listener,
        router,
        limits,
        async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        },
    ));
    tracing::info!(%addr, "listening");
    Ok(Gateway {
        addr,
        gate,
        stop,
        serving,
        background,
        #[cfg(feature = "dev")]
        dev,
    })
}

/// Starts the gateway, prints the dev banner with `--dev`, and serves until SIGINT or
/// SIGTERM.
pub async fn run(settings: Settings) -> Result<(), StartError> {
    let gateway = start(settings).await?;
    #[cfg(feature = "dev")]
    if let Some(dev) = gateway.dev() {
        println!("{}", dev.banner(gateway.local_addr()));
    }
    clerk_service::shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    gateway.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clerk_emulator::SigningKey;

    fn gate() -> Arc<Gate> {
        let verifier = Verifier::builder()
            .jwt_key(SigningKey::test_key().public_key_pem())
            .build()
            .unwrap();
        Arc::new(Gate::new(verifier))
    }

    async fn serve(gate: Arc<Gate>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app(gate)).await.unwrap() });
        addr
    }

    #[tokio::test]
    async fn ext_authz_decides_for_every_original_path_the_root_included() {
        let addr = serve(gate()).await;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        for path in [
            "/ext-authz",
            "/ext-authz/",
            "/ext-authz/notes",
            "/ext-authz/?q=1",
        ] {
            let response = client
                .get(format!("http://{addr}{path}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401, "{path}");
            assert_eq!(
                response.headers()[AUTH_REASON_HEADER],
                "session-token-missing",
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn a_client_query_appended_to_the_auth_url_is_refused_not_taken_for_a_policy() {
        let gate = gate();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-method", HeaderValue::from_static("GET"));
        headers.insert(
            "x-forwarded-uri",
            HeaderValue::from_static("/notes?optional=true"),
        );
        let uri: Uri = "/forward-auth?optional=true".parse().unwrap();
        for family in [Family::ForwardAuth, Family::AuthRequest] {
            let (decision, _) = gate.decide(family, &Method::GET, &uri, &headers).await;
            assert_eq!(
                decision.label(),
                ("misconfigured", "client-query-in-auth-url"),
                "{family:?}"
            );
        }
        // The operator's own policy, and a client query that differs from it, decide as usual.
        let uri: Uri = "/forward-auth?optional=true&accepts=session_token"
            .parse()
            .unwrap();
        let (decision, _) = gate
            .decide(Family::ForwardAuth, &Method::GET, &uri, &headers)
            .await;
        assert_eq!(decision.label(), ("anonymous", ""));
        let (decision, _) = gate
            .decide(
                Family::ForwardAuth,
                &Method::GET,
                &"/forward-auth".parse().unwrap(),
                &headers,
            )
            .await;
        assert_eq!(decision.label(), ("unauthorized", "session-token-missing"));
    }
}
