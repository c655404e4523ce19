//! clerk-axum's gRPC side with real tonic: a tonic server (and an axum router serving REST and
//! gRPC on one port) on a loopback port, called over HTTP/2 by tonic's own client, with the
//! emulator's JWKS and Backend API, real RSA keys, session tokens and M2M tokens.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use clerk_auth::{JwksOptions, Verifier};
use clerk_axum::{
    Accepts, Check, ClerkAuth, ClerkLayer, ClerkRequestExt, GrpcPolicy, GrpcRule, TokenType,
};
use clerk_emulator::machines::{NewM2mToken, TokenFormat};
use clerk_emulator::{Emulator, EmulatorServer, Fault, Organization, SigningKey};
use http::uri::PathAndQuery;
use serde_json::{json, Value};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::transport::{Channel, Server};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// `probe.v1.Probe`: unary methods that take and return a string (`StringValue` on the wire)
/// and say who called, written as tonic's generated servers are.
#[derive(Clone)]
struct Probe;

impl NamedService for Probe {
    const NAME: &'static str = "probe.v1.Probe";
}

impl tower::Service<http::Request<tonic::body::Body>> for Probe {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let method = request.uri().path().rsplit('/').next().unwrap_or("");
        let method = Method(method.to_owned());
        Box::pin(async move {
            let mut grpc = Grpc::new(ProstCodec::<String, String>::default());
            Ok(grpc.unary(method, request).await)
        })
    }
}

struct Method(String);

impl UnaryService<String> for Method {
    type Response = String;
    type Future = BoxFuture<Result<tonic::Response<String>, Status>>;

    fn call(&mut self, request: tonic::Request<String>) -> Self::Future {
        let answer = answer(&self.0, &request).map(tonic::Response::new);
        Box::pin(async move { answer })
    }
}

/// What each method answers: who called, read from the request's extensions.
fn answer(method: &str, request: &tonic::Request<String>) -> Result<String, Status> {
    match method {
        "Who" | "Notes" | "Admin" | "Report" => {
            let caller = request.clerk_caller()?;
            Ok(format!("{} {}", caller.token_type(), caller.subject()))
        }
        "Session" => {
            let auth = request.clerk_auth()?;
            let seen = json!({
                "user_id": auth.user_id(),
                "org_id": auth.org_id(),
                "email": auth.claim("email"),
            });
            Ok(seen.to_string())
        }
        "Export" => {
            // A check that depends on the request, made by the method itself.
            let auth = request.clerk_auth()?;
            auth.require(&Check::permission(request.get_ref().clone()))?;
            Ok("exported".to_owned())
        }
        "Health" => match request.clerk_caller() {
            Ok(_) => Err(Status::internal("a public method saw a caller")),
            Err(_) => Ok("serving".to_owned()),
        },
        other => Err(Status::unimplemented(other.to_owned())),
    }
}

/// The machine the probe service runs as: M2M tokens must name it in their scopes to call
/// `Report`.
struct Machines {
    /// The probe service's own machine id.
    service: String,
    /// A machine allowed to call it.
    reporting: String,
    /// A machine that is not.
    stranger: String,
}

struct App {
    emulator: EmulatorServer,
    machines: Machines,
    /// The tonic server's address.
    grpc: String,
}

fn policy(service_machine: &str) -> GrpcPolicy {
    GrpcPolicy::new()
        .service("probe.v1.Probe", GrpcRule::accepting(Accepts::ANY))
        .method(
            "/probe.v1.Probe/Notes",
            GrpcRule::authenticated().check(Check::permission("org:notes:read")),
        )
        .method(
            "/probe.v1.Probe/Admin",
            GrpcRule::accepting(Accepts::ANY).check(Check::role("org:admin")),
        )
        .method(
            "/probe.v1.Probe/Report",
            GrpcRule::accepting(Accepts::only(TokenType::M2mToken))
                .scope(service_machine.to_owned()),
        )
        .method("/probe.v1.Probe/Health", GrpcRule::public())
}

fn verifier(emulator: &EmulatorServer) -> Verifier {
    Verifier::builder()
        .jwks_url(emulator.jwks_url())
        .secret_key(emulator.secret_key())
        .api_url(emulator.api_url())
        .jwks_options(JwksOptions {
            timeout: Duration::from_millis(500),
            ..JwksOptions::default()
        })
        .build()
        .expect("verifier")
}

async fn emulator() -> (EmulatorServer, Machines) {
    let emulator = Emulator::with_key(SigningKey::test_key())
        .serve("127.0.0.1:0")
        .await
        .expect("emulator");
    let service = emulator.create_machine("probe", &[]).expect("machine").id;
    let reporting = emulator
        .create_machine("reporting", &[&service])
        .expect("machine")
        .id;
    let stranger = emulator
        .create_machine("stranger", &[])
        .expect("machine")
        .id;
    let machines = Machines {
        service,
        reporting,
        stranger,
    };
    (emulator, machines)
}

/// The probe service behind `GrpcAuthLayer` on tonic's own server.
async fn app() -> App {
    let (emulator, machines) = emulator().await;
    let layer = ClerkLayer::new(verifier(&emulator)).grpc(policy(&machines.service));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let grpc = format!("http://{}", listener.local_addr().expect("addr"));
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(
        Server::builder()
            .layer(layer)
            .add_service(Probe)
            .serve_with_incoming(incoming),
    );
    App {
        emulator,
        machines,
        grpc,
    }
}

/// A unary call of `method` with `token` in the `authorization` metadata, over a new HTTP/2
/// connection; the answer, or the status with its metadata.
async fn call(base: &str, method: &str, token: Option<&str>, body: &str) -> Result<String, Status> {
    let channel = Channel::from_shared(base.to_owned())
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.expect("ready");
    let mut request = tonic::Request::new(body.to_owned());
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().expect("metadata value");
        request.metadata_mut().insert("authorization", value);
    }
    let path = PathAndQuery::try_from(format!("/probe.v1.Probe/{method}")).expect("path");
    let codec = ProstCodec::<String, String>::default();
    client
        .unary(request, path, codec)
        .await
        .map(tonic::Response::into_inner)
}

impl App {
    async fn call(&self, method: &str, token: Option<&str>) -> Result<String, Status> {
        call(&self.grpc, method, token, "").await
    }

    fn session(&self, permissions: &[&str]) -> String {
        let org = Organization::new("org_1")
            .role("org:member")
            .permissions(permissions.iter().copied());
        self.emulator
            .session_token()
            .user("user_ada")
            .organization(org)
            .sign()
    }

    fn m2m(&self, machine: &str, format: TokenFormat) -> String {
        self.emulator
            .create_m2m_token(machine, NewM2mToken::new().format(format))
            .expect("m2m token")
            .token
    }
}

/// The status's code and reason (from `grpc-message`, `<reason>: <message>`), checked against
/// the `x-clerk-auth-reason` metadata.
fn refusal(result: Result<String, Status>) -> (Code, String) {
    let status = result.expect_err("a refusal");
    let (reason, message) = status
        .message()
        .split_once(": ")
        .unwrap_or_else(|| panic!("grpc-message is `<reason>: <message>`: {status:?}"));
    assert!(!message.is_empty(), "{status:?}");
    assert!(!status.message().contains("eyJ"), "no token in the message");
    assert_eq!(
        status
            .metadata()
            .get("x-clerk-auth-reason")
            .map(|v| v.to_str().unwrap()),
        Some(reason),
        "{status:?}"
    );
    (status.code(), reason.to_owned())
}

#[tokio::test]
async fn a_session_token_in_metadata_reaches_the_method_with_its_claims_in_extensions() {
    let app = app().await;
    let token = app
        .emulator
        .session_token()
        .user("user_ada")
        .organization(Organization::new("org_1").role("org:member"))
        .claim("email", "ada@example.com")
        .sign();
    let answer = app.call("Session", Some(&token)).await.expect("answer");
    assert_eq!(
        serde_json::from_str::<Value>(&answer).unwrap(),
        json!({"user_id": "user_ada", "org_id": "org_1", "email": "ada@example.com"})
    );
    assert_eq!(
        app.call("Who", Some(&token)).await.expect("answer"),
        "session_token user_ada"
    );
}

#[tokio::test]
async fn missing_expired_and_forged_tokens_are_unauthenticated_with_the_reason() {
    let app = app().await;
    let expired = app.emulator.session_token().expires_in(-60).sign();
    let forged = app
        .emulator
        .session_token()
        .signed_by(&SigningKey::test_key_n(1).with_kid(SigningKey::test_key().kid()))
        .sign();
    for (token, reason) in [
        (None, "session-token-missing"),
        (Some(expired.as_str()), "token-expired"),
        (Some(forged.as_str()), "token-invalid-signature"),
        (Some("not-a-token"), "token-invalid"),
    ] {
        let result = app.call("Who", token).await;
        let status = result.clone().expect_err("refused");
        assert_eq!(
            refusal(result),
            (Code::Unauthenticated, reason.to_owned()),
            "{token:?}"
        );
        assert_eq!(
            status.metadata().get("www-authenticate").unwrap(),
            r#"Bearer error="invalid_token""#
        );
    }
    let status = app.call("Who", Some(&expired)).await.unwrap_err();
    assert!(
        status.message().starts_with("token-expired: ") && status.message().contains("expired"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_session_without_the_permission_is_permission_denied_and_one_with_it_passes() {
    let app = app().await;
    let (code, reason) = refusal(app.call("Notes", Some(&app.session(&[]))).await);
    assert_eq!(
        (code, reason.as_str()),
        (Code::PermissionDenied, "missing-permission")
    );
    let status = app
        .call("Notes", Some(&app.session(&[])))
        .await
        .unwrap_err();
    assert!(status.message().contains("org:notes:read"), "{status:?}");
    assert_eq!(
        status.metadata().get("www-authenticate").unwrap(),
        r#"Bearer error="insufficient_scope""#
    );
    let reader = app.session(&["org:notes:read"]);
    assert_eq!(
        app.call("Notes", Some(&reader)).await.expect("answer"),
        "session_token user_ada"
    );
}

#[tokio::test]
async fn an_m2m_token_with_the_scope_is_let_through_and_one_without_it_is_missing_scope() {
    let app = app().await;
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let allowed = app.m2m(&app.machines.reporting, format);
        assert_eq!(
            app.call("Report", Some(&allowed)).await.expect("answer"),
            format!("m2m_token {}", app.machines.reporting),
            "{format:?}"
        );
        let stranger = app.m2m(&app.machines.stranger, format);
        assert_eq!(
            refusal(app.call("Report", Some(&stranger)).await),
            (Code::PermissionDenied, "missing-scope".to_owned()),
            "{format:?}"
        );
    }
    // A session is not a machine token: Report takes M2M tokens only.
    assert_eq!(
        refusal(app.call("Report", Some(&app.session(&[]))).await),
        (Code::Unauthenticated, "token-type-mismatch".to_owned())
    );
}

#[tokio::test]
async fn a_machine_token_where_a_session_is_needed_is_refused_by_the_right_status() {
    let app = app().await;
    let m2m = app.m2m(&app.machines.reporting, TokenFormat::Jwt);
    // Accepted by the method, but its check is for sessions: 7 session-required.
    assert_eq!(
        refusal(app.call("Admin", Some(&m2m)).await),
        (Code::PermissionDenied, "session-required".to_owned())
    );
    // Accepted by the layer, asked for a session by the method: the same.
    assert_eq!(
        refusal(app.call("Session", Some(&m2m)).await),
        (Code::PermissionDenied, "session-required".to_owned())
    );
    // Not accepted at all (the method takes the layer's types: sessions): 16.
    assert_eq!(
        refusal(app.call("Notes", Some(&m2m)).await),
        (Code::Unauthenticated, "token-type-mismatch".to_owned())
    );
    // Where any token is taken, the M2M token reaches the method.
    assert_eq!(
        app.call("Who", Some(&m2m)).await.expect("answer"),
        format!("m2m_token {}", app.machines.reporting)
    );
}

#[tokio::test]
async fn no_signing_key_is_unavailable_never_unauthenticated() {
    let app = app().await;
    // A cold verifier: nothing fetched yet, and the JWKS endpoint fails.
    app.emulator.set_fault(Fault::Status(500));
    let token = app.session(&["org:notes:read"]);
    let result = app.call("Notes", Some(&token)).await;
    let status = result.clone().unwrap_err();
    assert_eq!(
        refusal(result),
        (Code::Unavailable, "keys-unavailable".to_owned())
    );
    assert_eq!(status.metadata().get("retry-after").unwrap(), "5");
    assert!(status.metadata().get("www-authenticate").is_none());
}

#[tokio::test]
async fn the_backend_api_down_for_an_opaque_m2m_token_is_unavailable() {
    let app = app().await;
    let opaque = app.m2m(&app.machines.reporting, TokenFormat::Opaque);
    app.emulator.set_machine_verify_fault(Fault::Status(500));
    assert_eq!(
        refusal(app.call("Report", Some(&opaque)).await),
        (Code::Unavailable, "unexpected-error".to_owned())
    );
}

#[tokio::test]
async fn a_check_made_by_the_method_refuses_with_the_layers_status_and_encoded_message() {
    let app = app().await;
    let token = app.session(&["org:notes:export"]);
    assert_eq!(
        call(&app.grpc, "Export", Some(&token), "org:notes:export")
            .await
            .expect("answer"),
        "exported"
    );
    // A permission name with non-ASCII text and a `%`: percent-encoded on the wire, decoded by
    // tonic's client.
    let needed = "org:notes:exporté à 100%";
    let result = call(&app.grpc, "Export", Some(&token), needed).await;
    let status = result.clone().unwrap_err();
    assert_eq!(
        refusal(result),
        (Code::PermissionDenied, "missing-permission".to_owned())
    );
    assert!(status.message().contains(needed), "{}", status.message());
}

#[tokio::test]
async fn a_public_method_needs_no_token_and_sees_no_caller() {
    let app = app().await;
    assert_eq!(app.call("Health", None).await.expect("answer"), "serving");
    assert_eq!(
        app.call("Health", Some("not-a-token"))
            .await
            .expect("answer"),
        "serving"
    );
}

#[tokio::test]
async fn with_nothing_named_every_call_takes_the_fallback_rule() {
    let (emulator, machines) = emulator().await;
    // Nothing named: every call needs the layer's types (sessions).
    let layer = ClerkLayer::new(verifier(&emulator)).grpc(GrpcPolicy::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(
        Server::builder()
            .layer(layer)
            .add_service(Probe)
            .serve_with_incoming(incoming),
    );
    assert_eq!(
        refusal(call(&base, "Health", None, "").await),
        (Code::Unauthenticated, "session-token-missing".to_owned())
    );
    let m2m = emulator
        .create_m2m_token(
            &machines.reporting,
            NewM2mToken::new().format(TokenFormat::Jwt),
        )
        .unwrap()
        .token;
    assert_eq!(
        refusal(call(&base, "Who", Some(&m2m), "").await),
        (Code::Unauthenticated, "token-type-mismatch".to_owned())
    );
    let session = emulator.session_token().user("user_grace").sign();
    assert_eq!(
        call(&base, "Who", Some(&session), "")
            .await
            .expect("answer"),
        "session_token user_grace"
    );
}

/// A REST route.
async fn me(auth: ClerkAuth) -> Json<Value> {
    Json(json!({"user_id": auth.user_id()}))
}

/// REST and gRPC on one router and one port, served by `axum::serve` (HTTP/1.1 and HTTP/2).
async fn one_port() -> (EmulatorServer, String) {
    let (emulator, machines) = emulator().await;
    let clerk = ClerkLayer::new(verifier(&emulator));
    let grpc = tonic::service::Routes::new(Probe)
        .into_axum_router()
        .route_layer(clerk.clone().grpc(policy(&machines.service)));
    let app = Router::new()
        .route("/v1/me", get(me).post(me))
        .layer(clerk)
        .merge(grpc);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (emulator, base)
}

#[tokio::test]
async fn rest_and_grpc_share_one_port_each_refused_in_its_own_protocol() {
    let (emulator, base) = one_port().await;
    let token = emulator
        .session_token()
        .user("user_ada")
        .organization(Organization::new("org_1").permission("org:notes:read"))
        .sign();
    // gRPC over HTTP/2.
    assert_eq!(
        refusal(call(&base, "Notes", None, "").await),
        (Code::Unauthenticated, "session-token-missing".to_owned())
    );
    assert_eq!(
        call(&base, "Notes", Some(&token), "")
            .await
            .expect("answer"),
        "session_token user_ada"
    );
    // REST over HTTP/1.1, same listener: today's JSON 401, and 200.
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{base}/v1/me"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "REST keeps its JSON"
    );
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).expect("JSON");
    assert_eq!(body["reason"], "session-token-missing");
    let response = client
        .get(format!("{base}/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&response.bytes().await.unwrap()).unwrap(),
        json!({"user_id": "user_ada"})
    );
}

#[tokio::test]
async fn a_grpc_refusal_is_http_200_with_the_status_in_headers_and_no_body() {
    let (_emulator, base) = one_port().await;
    let response = reqwest::Client::new()
        .post(format!("{base}/probe.v1.Probe/Notes"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/grpc");
    assert_eq!(headers["grpc-status"], "16");
    assert_eq!(headers["x-clerk-auth-reason"], "session-token-missing");
    let message = headers["grpc-message"].to_str().unwrap();
    assert!(message.starts_with("session-token-missing: "), "{message}");
    assert!(
        response.bytes().await.unwrap().is_empty(),
        "trailers-only: no body"
    );
}

#[tokio::test]
async fn a_rest_extractor_answers_a_grpc_call_with_a_grpc_status_not_json() {
    let (_emulator, base) = one_port().await;
    // A gRPC call (a POST) that lands on the REST route's `ClerkAuth` extractor.
    let channel = Channel::from_shared(base).unwrap().connect().await.unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let result = client
        .unary(
            tonic::Request::new(String::new()),
            PathAndQuery::from_static("/v1/me"),
            ProstCodec::<String, String>::default(),
        )
        .await
        .map(tonic::Response::into_inner);
    assert_eq!(
        refusal(result),
        (Code::Unauthenticated, "session-token-missing".to_owned())
    );
}

#[tokio::test]
async fn a_call_with_another_content_type_is_judged_all_the_same() {
    let (_emulator, base) = one_port().await;
    // Not gRPC by its content type, but at a gRPC method's path: refused (with JSON), never
    // passed through to the service unverified.
    let response = reqwest::Client::new()
        .post(format!("{base}/probe.v1.Probe/Who"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).expect("JSON");
    assert_eq!(body["reason"], "session-token-missing");
}

#[tokio::test]
async fn a_method_without_the_layer_gets_internal_not_a_caller() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(
        Server::builder()
            .add_service(Probe)
            .serve_with_incoming(incoming),
    );
    assert_eq!(
        refusal(call(&base, "Who", Some("anything"), "").await),
        (Code::Internal, "clerk-layer-missing".to_owned())
    );
}

#[tokio::test]
async fn a_custom_rest_rejection_is_not_used_for_grpc_calls() {
    let (emulator, _) = emulator().await;
    let custom = ClerkLayer::new(verifier(&emulator))
        .rejection(|error| (error.status(), "custom refusal").into_response());
    let app = Router::new()
        .route("/v1/me", get(me).post(me))
        .layer(custom);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let rest = reqwest::get(format!("{base}/v1/me"))
        .await
        .expect("request");
    assert_eq!(rest.status(), 401);
    assert_eq!(rest.text().await.unwrap(), "custom refusal");
    let channel = Channel::from_shared(base).unwrap().connect().await.unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let result = client
        .unary(
            tonic::Request::new(String::new()),
            PathAndQuery::from_static("/v1/me"),
            ProstCodec::<String, String>::default(),
        )
        .await
        .map(tonic::Response::into_inner);
    assert_eq!(
        refusal(result),
        (Code::Unauthenticated, "session-token-missing".to_owned())
    );
}
