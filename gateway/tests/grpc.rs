//! Envoy's gRPC `ext_authz` (`envoy.service.auth.v3.Authorization/Check`) on the gateway's
//! port, called by a real tonic client over HTTP/2, against the emulator: allows with the
//! identity headers, refusals with their gRPC code and the HTTP endpoints' own answer, the
//! rules and the routes' context extensions. (The same through a real Envoy is in
//! `proxies/`.)

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use clerk_emulator::machines::NewApiKey;
use clerk_emulator::{Emulator, EmulatorServer, Fault, Organization, SigningKey};
use clerk_gateway::{Config, Gateway, Settings};
use clerk_service::config::ClerkConfig;
use envoy_types::ext_authz::v3::pb::{
    CheckRequest, CheckResponse, DeniedHttpResponse, HeaderAppendAction, HeaderValueOption,
    HttpResponse, OkHttpResponse,
};
use envoy_types::pb::envoy::config::core::v3::{HeaderMap as EnvoyHeaders, HeaderValue};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use serde_json::Value;
use tonic::transport::Channel;

const HOST: &str = "api.example.com";

/// A route's context extensions.
type Extensions<'a> = &'a [(&'a str, &'a str)];

const RULES: &str = r#"
[[rule]]
name = "public"
paths = ["/public/**"]
public = true

[[rule]]
name = "admin"
hosts = ["api.example.com"]
paths = ["/admin/**"]
permissions = ["org:notes:delete"]

[[rule]]
name = "archive writes"
paths = ["/archive/**"]
methods = ["POST", "PUT", "DELETE"]
permissions = ["org:notes:delete"]

[default]
accepts = "any"
"#;

/// The emulator, a gateway in front of it, and a gRPC client of the gateway.
struct Stack {
    clerk: EmulatorServer,
    gateway: Gateway,
    client: AuthorizationClient<Channel>,
    /// An admin's session token (`org:notes:read`, `org:notes:delete`).
    admin: String,
    /// A member's (`org:notes:read` only).
    member: String,
    api_key: String,
}

#[derive(Default)]
struct Options {
    rules: bool,
    signing: bool,
    cold: bool,
}

fn file(name: &str, contents: &[u8]) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("grpc-{name}-{}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

impl Stack {
    async fn start(options: Options) -> Stack {
        let clerk = Emulator::with_key(SigningKey::test_key())
            .serve("127.0.0.1:0")
            .await
            .unwrap();
        let user = clerk
            .create_user(clerk_emulator::NewUser::new().email("grace@example.com"))
            .unwrap();
        let api_key = clerk
            .create_api_key(NewApiKey::new(&user.id, "scripts").scopes(["notes:read"]))
            .unwrap()
            .secret;
        let token = |role: &str, permissions: &[&str]| {
            clerk
                .session_token()
                .user(user.id.clone())
                .organization(
                    Organization::new("org_acme")
                        .slug("acme")
                        .role(role)
                        .permissions(permissions.iter().copied()),
                )
                .expires_in(600)
                .sign()
        };
        let admin = token("org:admin", &["org:notes:read", "org:notes:delete"]);
        let member = token("org:member", &["org:notes:read"]);
        if options.cold {
            clerk.set_fault(Fault::Status(503));
        }
        let signing_key = options.signing.then(|| {
            let rng = ring::rand::SystemRandom::new();
            let der = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
            let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
            file("identity.pem", pem.as_bytes())
        });
        let config = Config {
            bind: "127.0.0.1:0".parse().unwrap(),
            clerk: ClerkConfig {
                clerk_jwks_url: Some(clerk.jwks_url()),
                clerk_issuer: Some(clerk.issuer()),
                clerk_secret_key: Some(clerk.secret_key().into()),
                clerk_api_url: Some(clerk.api_url().to_owned()),
                ..ClerkConfig::default()
            },
            gateway_rules: options.rules.then(|| file("rules.toml", RULES.as_bytes())),
            gateway_signing_key: signing_key,
            ..Config::default()
        };
        let gateway = clerk_gateway::start(Settings::from_config(config).unwrap())
            .await
            .unwrap();
        let channel = Channel::from_shared(format!("http://{}", gateway.local_addr()))
            .unwrap()
            .timeout(Duration::from_secs(10))
            .connect()
            .await
            .unwrap();
        Stack {
            clerk,
            gateway,
            client: AuthorizationClient::new(channel),
            admin,
            member,
            api_key,
        }
    }

    async fn check(&self, request: CheckRequest) -> CheckResponse {
        self.client
            .clone()
            .check(request)
            .await
            .expect("Check answers every request with a CheckResponse")
            .into_inner()
    }

    /// The gRPC code and message of the answer about `method path` with `token`.
    async fn code(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        extensions: &[(&str, &str)],
    ) -> (i32, String) {
        let authorization = token.map(bearer);
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        let response = self
            .check(request(method, path, &headers, extensions))
            .await;
        let status = response.status.unwrap_or_default();
        (status.code, status.message)
    }

    /// The HTTP endpoints' answer about `GET /notes` (Traefik's `/forward-auth`), the policy
    /// on the auth URL's query.
    async fn forward_auth(
        &self,
        policy: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let query: Vec<String> = policy.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut request = reqwest::Client::new()
            .get(format!(
                "http://{}/forward-auth?{}",
                self.gateway.local_addr(),
                query.join("&")
            ))
            .header("x-forwarded-method", "GET")
            .header("x-forwarded-host", HOST)
            .header("x-forwarded-uri", "/notes");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }
}

/// A `CheckRequest` as Envoy sends it for `method host path` with these headers (the pseudo
/// headers too) and context extensions.
fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    extensions: &[(&str, &str)],
) -> CheckRequest {
    let mut map: HashMap<String, String> = headers
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    map.insert(":authority".into(), HOST.into());
    map.insert(":method".into(), method.into());
    map.insert(":path".into(), path.into());
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: method.into(),
                    host: HOST.into(),
                    path: path.into(),
                    scheme: "http".into(),
                    protocol: "HTTP/1.1".into(),
                    headers: map,
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            context_extensions: extensions
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            ..AttributeContext::default()
        }),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn ok_of(response: &CheckResponse) -> &OkHttpResponse {
    assert_eq!(
        response.status.as_ref().map(|s| s.code),
        Some(0),
        "{response:?}"
    );
    match &response.http_response {
        Some(HttpResponse::OkResponse(ok)) => ok,
        other => panic!("not an ok_response: {other:?}"),
    }
}

fn denied_of(response: &CheckResponse) -> (tonic::Code, &DeniedHttpResponse) {
    let code = response.status.as_ref().map_or(0, |s| s.code);
    match &response.http_response {
        Some(HttpResponse::DeniedResponse(denied)) => (tonic::Code::from(code), denied),
        other => panic!("not a denied_response: {other:?}"),
    }
}

/// The value of `name` among `headers`; sent twice fails the test.
fn value<'a>(headers: &'a [HeaderValueOption], name: &str) -> Option<&'a str> {
    let mut found = headers
        .iter()
        .filter_map(|option| option.header.as_ref())
        .filter(|header| header.key == name);
    let first = found.next().map(|header| header.value.as_str());
    assert!(found.next().is_none(), "{name} twice in {headers:?}");
    first
}

#[tokio::test]
async fn an_allowed_check_overwrites_the_full_identity_set_and_removes_other_clerk_headers() {
    let stack = Stack::start(Options::default()).await;
    let forged = [
        ("authorization", bearer(&stack.admin)),
        ("x-clerk-user-id", "forged".into()),
        ("x_clerk_user_id", "forged".into()),
        ("x-clerk-auth-status", "forged".into()),
        ("x-clerk-identity", "forged".into()),
        ("x-clerk-anything", "forged".into()),
    ];
    let headers: Vec<(&str, &str)> = forged.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let response = stack
        .check(request("GET", "/notes?page=2", &headers, &[]))
        .await;
    let ok = ok_of(&response);
    for name in clerk_gateway::identity::HEADERS {
        let option = ok
            .headers
            .iter()
            .find(|option| option.header.as_ref().unwrap().key == name)
            .unwrap_or_else(|| panic!("{name} is always set: {ok:?}"));
        assert_eq!(
            option.append_action,
            i32::from(HeaderAppendAction::OverwriteIfExistsOrAdd),
            "{name} overwrites the client's"
        );
        assert!(option.keep_empty_value, "{name} is set even when empty");
    }
    assert_eq!(value(&ok.headers, "x-clerk-org-id"), Some("org_acme"));
    assert_eq!(value(&ok.headers, "x-clerk-org-role"), Some("org:admin"));
    assert_eq!(
        value(&ok.headers, "x-clerk-org-permissions"),
        Some("org:notes:read,org:notes:delete")
    );
    assert_eq!(
        value(&ok.headers, "x-clerk-token-type"),
        Some("session_token")
    );
    assert_eq!(value(&ok.headers, "x-clerk-machine-id"), Some(""));
    assert!(value(&ok.headers, "x-clerk-user-id")
        .unwrap()
        .starts_with("user_"));
    // Signing is off: no X-Clerk-Identity of the gateway's, so the client's goes, with every
    // other x-clerk-* header and the underscore spelling; the ones set are not removed.
    assert_eq!(value(&ok.headers, "x-clerk-identity"), None);
    let mut removed = ok.headers_to_remove.clone();
    removed.sort();
    assert_eq!(
        removed,
        [
            "x-clerk-anything",
            "x-clerk-auth-status",
            "x-clerk-identity",
            "x_clerk_user_id"
        ]
    );
    // Nothing about the cache of an HTTP answer reaches the upstream request.
    assert_eq!(value(&ok.headers, "cache-control"), None);
    stack.gateway.shutdown().await;
}

#[tokio::test]
async fn an_api_key_a_cookie_and_raw_headers_are_read_like_the_http_endpoints_headers() {
    let stack = Stack::start(Options::default()).await;
    let extensions = [
        ("accepts", "session_token,api_key"),
        ("scope", "notes:read"),
    ];
    let response = stack
        .check(request(
            "GET",
            "/notes",
            &[("authorization", &bearer(&stack.api_key))],
            &extensions,
        ))
        .await;
    let ok = ok_of(&response);
    assert_eq!(value(&ok.headers, "x-clerk-token-type"), Some("api_key"));
    assert_eq!(value(&ok.headers, "x-clerk-scopes"), Some("notes:read"));
    // `encode_raw_headers`: the headers as a list, values as bytes, a cookie header twice.
    let mut raw = request("GET", "/notes", &[], &[]);
    let http = raw
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
        .unwrap();
    http.headers.clear();
    http.header_map = Some(EnvoyHeaders {
        headers: [
            (":authority", HOST.to_owned()),
            ("cookie", "theme=dark".to_owned()),
            ("cookie", format!("__session={}", stack.member)),
        ]
        .into_iter()
        .map(|(key, value)| HeaderValue {
            key: key.into(),
            raw_value: value.into_bytes(),
            ..HeaderValue::default()
        })
        .collect(),
    });
    let response = stack.check(raw).await;
    let ok = ok_of(&response);
    assert_eq!(value(&ok.headers, "x-clerk-org-role"), Some("org:member"));
    stack.gateway.shutdown().await;
}

#[tokio::test]
async fn refusals_carry_their_grpc_code_and_the_http_endpoints_status_headers_and_body() {
    let stack = Stack::start(Options::default()).await;
    let expired = stack.clerk.session_token().expires_in(-60).sign();
    let forged = stack
        .clerk
        .session_token()
        .signed_by(&SigningKey::test_key_n(1))
        .sign();
    type Case<'a> = (Option<&'a str>, Extensions<'a>, tonic::Code, u16, &'a str);
    let cases: [Case; 5] = [
        (
            None,
            &[],
            tonic::Code::Unauthenticated,
            401,
            "session-token-missing",
        ),
        (
            Some(&expired),
            &[],
            tonic::Code::Unauthenticated,
            401,
            "token-expired",
        ),
        (
            Some(&forged),
            &[],
            tonic::Code::Unauthenticated,
            401,
            "token-invalid-signature",
        ),
        (
            Some(&stack.member),
            &[("permission", "org:notes:delete")],
            tonic::Code::PermissionDenied,
            403,
            "missing-permission",
        ),
        (
            Some(&stack.admin),
            &[("permision", "org:notes:delete")],
            tonic::Code::Internal,
            500,
            "invalid-policy",
        ),
    ];
    for (token, extensions, code, status, reason) in cases {
        let authorization = token.map(bearer);
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        let response = stack
            .check(request("GET", "/notes", &headers, extensions))
            .await;
        let (got, denied) = denied_of(&response);
        assert_eq!(got, code, "{reason}: {response:?}");
        assert_eq!(response.status.as_ref().unwrap().message, reason);
        assert_eq!(
            denied.status.as_ref().map(|s| s.code),
            Some(i32::from(status))
        );
        let body: Value = serde_json::from_str(&denied.body).unwrap();
        assert_eq!(body["reason"], reason, "{body}");
        if let Some(token) = token {
            assert!(!denied.body.contains(token), "the token is never echoed");
        }
        if status == 500 {
            continue;
        }
        // The HTTP endpoints' answer to the same request: the same status, headers and body.
        let http = stack.forward_auth(extensions, &headers).await;
        assert_eq!(http.status().as_u16(), status, "{reason}");
        for name in [
            "www-authenticate",
            "cache-control",
            "content-type",
            "x-clerk-auth-status",
            "x-clerk-auth-reason",
        ] {
            let expected = http.headers().get(name).map(|v| v.to_str().unwrap());
            assert!(expected.is_some(), "{reason}: {name} over HTTP");
            assert_eq!(value(&denied.headers, name), expected, "{reason}: {name}");
        }
        assert_eq!(value(&denied.headers, "cache-control"), Some("no-store"));
        let http_body: Value = http.json().await.unwrap();
        assert_eq!(body, http_body, "{reason}");
    }
    stack.gateway.shutdown().await;
}

#[tokio::test]
async fn without_keys_the_check_is_unavailable_with_a_503_and_retry_after() {
    let stack = Stack::start(Options {
        cold: true,
        ..Options::default()
    })
    .await;
    let authorization = bearer(&stack.admin);
    let response = stack
        .check(request(
            "GET",
            "/notes",
            &[("authorization", &authorization)],
            &[],
        ))
        .await;
    let (code, denied) = denied_of(&response);
    assert_eq!(code, tonic::Code::Unavailable, "{response:?}");
    assert_eq!(denied.status.as_ref().map(|s| s.code), Some(503));
    assert_eq!(value(&denied.headers, "retry-after"), Some("5"));
    assert_eq!(value(&denied.headers, "cache-control"), Some("no-store"));
    assert_eq!(
        value(&denied.headers, "x-clerk-auth-reason"),
        Some("keys-unavailable")
    );
    assert_eq!(value(&denied.headers, "www-authenticate"), None);
    stack.clerk.set_fault(Fault::None);
    stack.gateway.shutdown().await;
}

/// `request` with another host.
fn at_host(mut request: CheckRequest, host: &str) -> CheckRequest {
    let http = request
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
        .unwrap();
    http.host = host.into();
    http.headers.insert(":authority".into(), host.into());
    request
}

#[tokio::test]
async fn the_rules_decide_by_the_checked_method_host_and_path_and_extensions_only_narrow_them() {
    let stack = Stack::start(Options {
        rules: true,
        ..Options::default()
    })
    .await;
    let (admin, member, api_key) = (
        Some(stack.admin.as_str()),
        Some(stack.member.as_str()),
        Some(stack.api_key.as_str()),
    );
    const ALLOWED: (i32, &str) = (0, "");
    const MISSING: (i32, &str) = (7, "missing-permission");
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Extensions<'a>,
        (i32, &'a str),
    );
    let cases: [Case; 12] = [
        // The permission rule on /admin/** (query or not), not elsewhere.
        ("GET", "/admin/x", member, &[], MISSING),
        ("GET", "/admin/x?y=1", member, &[], MISSING),
        ("GET", "/admin/x", admin, &[], ALLOWED),
        ("GET", "/notes", member, &[], ALLOWED),
        ("GET", "/notes", api_key, &[], ALLOWED),
        // On writes to /archive/** only: the checked method decides.
        ("GET", "/archive/x", member, &[], ALLOWED),
        ("POST", "/archive/x", member, &[], MISSING),
        // Public: no credential looked at.
        ("GET", "/public/x", None, &[], ALLOWED),
        // A path an upstream may read as another is refused before any rule.
        (
            "GET",
            "/public/../admin/x",
            None,
            &[],
            (7, "ambiguous-path"),
        ),
        // The route's extensions narrow the rule: a permission more, a type less...
        (
            "GET",
            "/notes",
            member,
            &[("permission", "org:notes:delete")],
            MISSING,
        ),
        (
            "GET",
            "/notes",
            api_key,
            &[("accepts", "session_token")],
            (16, "token-invalid"),
        ),
        // ...and never widen it: `optional` on a rule that is not optional.
        (
            "GET",
            "/admin/x",
            None,
            &[("optional", "true")],
            (16, "session-token-missing"),
        ),
    ];
    for (method, path, token, extensions, (code, reason)) in cases {
        assert_eq!(
            stack.code(method, path, token, extensions).await,
            (code, reason.to_owned()),
            "{method} {path} {extensions:?}"
        );
    }
    // The admin rule is for api.example.com: elsewhere the default (any credential) applies.
    let member = bearer(&stack.member);
    let response = stack
        .check(at_host(
            request("GET", "/admin/x", &[("authorization", &member)], &[]),
            "other.example.com",
        ))
        .await;
    ok_of(&response);
    stack.gateway.shutdown().await;
}

#[tokio::test]
async fn a_check_without_an_http_request_is_refused_as_misconfigured() {
    let stack = Stack::start(Options::default()).await;
    let response = stack.check(CheckRequest::default()).await;
    let (code, denied) = denied_of(&response);
    assert_eq!(code, tonic::Code::Internal);
    assert_eq!(denied.status.as_ref().map(|s| s.code), Some(500));
    assert_eq!(
        value(&denied.headers, "x-clerk-auth-reason"),
        Some("invalid-original-request")
    );
    let response = stack.check(request("get", "/notes", &[], &[])).await;
    assert_eq!(denied_reason(&response), "invalid-original-request");
    stack.gateway.shutdown().await;
}

fn denied_reason(response: &CheckResponse) -> String {
    let (_, denied) = denied_of(response);
    value(&denied.headers, "x-clerk-auth-reason")
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn with_signing_on_the_signed_identity_is_set_and_never_removed() {
    let stack = Stack::start(Options {
        signing: true,
        rules: true,
        ..Options::default()
    })
    .await;
    let admin = bearer(&stack.admin);
    let response = stack
        .check(request(
            "GET",
            "/notes",
            &[("authorization", &admin), ("x-clerk-identity", "forged")],
            &[],
        ))
        .await;
    let ok = ok_of(&response);
    let token = value(&ok.headers, "x-clerk-identity").unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], HOST, "the audience is the checked host");
    assert!(ok.headers_to_remove.is_empty(), "{ok:?}");
    // Anonymous: set, empty, so that a client's cannot stay.
    let response = stack
        .check(request(
            "GET",
            "/public/x",
            &[("x-clerk-identity", "forged")],
            &[],
        ))
        .await;
    let ok = ok_of(&response);
    assert_eq!(value(&ok.headers, "x-clerk-identity"), Some(""));
    assert_eq!(value(&ok.headers, "x-clerk-user-id"), Some(""));
    assert!(ok.headers_to_remove.is_empty(), "{ok:?}");
    stack.gateway.shutdown().await;
}

#[tokio::test]
async fn checks_are_counted_under_their_own_endpoint_label() {
    let stack = Stack::start(Options::default()).await;
    let admin = bearer(&stack.admin);
    stack
        .check(request("GET", "/notes", &[("authorization", &admin)], &[]))
        .await;
    stack.check(request("GET", "/notes", &[], &[])).await;
    let metrics = reqwest::get(format!("http://{}/metrics", stack.gateway.local_addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"clerk_gateway_decisions_total{endpoint="ext-authz-grpc",outcome="allowed",reason=""} 1"#,
        r#"clerk_gateway_decisions_total{endpoint="ext-authz-grpc",outcome="unauthorized",reason="session-token-missing"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
    assert!(!metrics.contains(&stack.admin[..40]));
    stack.gateway.shutdown().await;
}
