//! The gateway over real HTTP on loopback, against the emulator: each endpoint as its proxy
//! family calls it, every credential type, the policies, refusals, revocations and signed
//! identities. (The same decisions through real nginx, Caddy, Traefik and Envoy are in
//! `proxies.rs`.)

use std::path::PathBuf;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_emulator::machines::{NewApiKey, NewM2mToken, NewOAuthToken};
use clerk_emulator::{
    Emulator, EmulatorServer, Fault, NewOrganization, NewUser, SigningKey, TokenFormat,
};
use clerk_gateway::{Config, Gateway, Settings};
use clerk_service::config::ClerkConfig;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;

/// A running emulator with a user (admin of `acme`, permissions `org:notes:read` and
/// `org:notes:write`), an API key and an M2M token.
struct Clerk {
    server: EmulatorServer,
    session_id: String,
    session: String,
    api_key: String,
    m2m: String,
    machine: String,
}

async fn clerk() -> Clerk {
    let key = tokio::task::spawn_blocking(|| SigningKey::generate(2048))
        .await
        .unwrap();
    let server = Emulator::with_key(key).serve("127.0.0.1:0").await.unwrap();
    let user = server
        .create_user(NewUser::new().email("grace@example.com"))
        .unwrap();
    server.define_role("org:admin", ["org:notes:read", "org:notes:write"]);
    server
        .create_organization(
            NewOrganization::new("Acme")
                .slug("acme")
                .created_by(&user.id),
        )
        .unwrap();
    let session = server.create_session(&user.id).unwrap();
    let token = server
        .session_token_in_org(&session, "acme")
        .unwrap()
        .sign();
    let api_key = server
        .create_api_key(NewApiKey::new(&user.id, "scripts").scopes(["notes:read"]))
        .unwrap()
        .secret;
    let target = server.create_machine("notes-api", &[]).unwrap();
    let caller = server
        .create_machine("reports", &[target.id.as_str()])
        .unwrap();
    let m2m = server
        .create_m2m_token(&caller.id, NewM2mToken::new())
        .unwrap()
        .token;
    Clerk {
        session_id: session.id.clone(),
        server,
        session: token,
        api_key,
        m2m,
        machine: caller.id,
    }
}

fn config(clerk: &Clerk) -> Config {
    Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        clerk: ClerkConfig {
            clerk_jwks_url: Some(clerk.server.jwks_url()),
            clerk_issuer: Some(clerk.server.issuer()),
            clerk_secret_key: Some(clerk.server.secret_key().into()),
            clerk_api_url: Some(clerk.server.api_url().to_owned()),
            ..ClerkConfig::default()
        },
        ..Config::default()
    }
}

async fn start(config: Config) -> Gateway {
    clerk_gateway::start(Settings::from_config(config).unwrap())
        .await
        .unwrap()
}

fn url(gateway: &Gateway, path: &str) -> String {
    format!("http://{}{path}", gateway.local_addr())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn ask(
    gateway: &Gateway,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, HeaderMap, String) {
    ask_with(gateway, path, token, &[]).await
}

async fn ask_with(
    gateway: &Gateway,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let mut request = client().get(url(gateway, path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
}

const IDENTITY: [&str; 9] = clerk_gateway::identity::HEADERS;

async fn headers_of_session(gateway: &Gateway, clerk: &Clerk) -> HeaderMap {
    let (status, headers, _) = ask(gateway, "/forward-auth", Some(&clerk.session)).await;
    assert_eq!(status, StatusCode::OK);
    headers
}

#[tokio::test]
async fn a_session_token_passes_with_the_full_identity_set_and_a_bounded_cache_life() {
    let clerk = clerk().await;
    let gateway = start(config(&clerk)).await;
    let (status, headers, body) = ask(&gateway, "/forward-auth", Some(&clerk.session)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for name in IDENTITY {
        assert!(headers.contains_key(name), "{name} is always sent");
    }
    assert!(header(&headers, "x-clerk-user-id").starts_with("user_"));
    assert_eq!(header(&headers, "x-clerk-session-id"), clerk.session_id);
    assert_eq!(header(&headers, "x-clerk-org-slug"), "acme");
    assert_eq!(header(&headers, "x-clerk-org-role"), "org:admin");
    assert_eq!(
        header(&headers, "x-clerk-org-permissions"),
        "org:notes:read,org:notes:write"
    );
    assert_eq!(header(&headers, "x-clerk-token-type"), "session_token");
    assert_eq!(header(&headers, "x-clerk-machine-id"), "");
    let cache = header(&headers, "cache-control");
    let max_age: i64 = cache
        .strip_prefix("private, max-age=")
        .unwrap_or_else(|| panic!("{cache}"))
        .parse()
        .unwrap();
    assert!((1..=60).contains(&max_age), "{cache}");
    // The emulator's tokens live 60 s: max-age follows the token's remaining life.
    let short = clerk.server.session_token().expires_in(7).sign();
    let (status, headers, _) = ask(&gateway, "/forward-auth", Some(&short)).await;
    assert_eq!(status, StatusCode::OK);
    let max_age: i64 = header(&headers, "cache-control")
        .trim_start_matches("private, max-age=")
        .parse()
        .unwrap();
    assert!(max_age <= 7, "{max_age}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_session_token_in_the_session_cookie_passes_but_a_machine_token_there_does_not() {
    let clerk = clerk().await;
    let gateway = start(config(&clerk)).await;
    let cookie = format!("__client_uat=1; __session={}", clerk.session);
    let (status, headers, _) =
        ask_with(&gateway, "/forward-auth", None, &[("cookie", &cookie)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "x-clerk-session-id"), clerk.session_id);
    // Machine tokens come from the Authorization header only, as in Clerk.
    let cookie = format!("__session={}", clerk.api_key);
    let (status, _, _) = ask_with(
        &gateway,
        "/forward-auth?accepts=api_key",
        None,
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    gateway.shutdown().await;
}

#[tokio::test]
async fn machine_credentials_pass_only_where_they_are_accepted() {
    let clerk = clerk().await;
    let gateway = start(config(&clerk)).await;
    let (status, headers, body) = ask(
        &gateway,
        "/forward-auth?accepts=api_key&scope=notes:read",
        Some(&clerk.api_key),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(header(&headers, "x-clerk-token-type"), "api_key");
    assert!(header(&headers, "x-clerk-user-id").starts_with("user_"));
    assert_eq!(header(&headers, "x-clerk-scopes"), "notes:read");
    assert_eq!(header(&headers, "x-clerk-session-id"), "");

    let (status, headers, body) = ask(
        &gateway,
        "/forward-auth?accepts=m2m_token",
        Some(&clerk.m2m),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(header(&headers, "x-clerk-token-type"), "m2m_token");
    assert_eq!(header(&headers, "x-clerk-machine-id"), clerk.machine);

    // OAuth access tokens, opaque and JWT, act for their user.
    let user = header(
        &headers_of_session(&gateway, &clerk).await,
        "x-clerk-user-id",
    )
    .to_owned();
    for format in [TokenFormat::Opaque, TokenFormat::Jwt] {
        let oauth = clerk
            .server
            .create_oauth_access_token(
                NewOAuthToken::new(&user)
                    .scopes(["notes:read"])
                    .format(format),
            )
            .unwrap()
            .token;
        let (status, headers, body) = ask(
            &gateway,
            "/forward-auth?accepts=oauth_token&scope=notes:read",
            Some(&oauth),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{format:?}: {body}");
        assert_eq!(header(&headers, "x-clerk-token-type"), "oauth_token");
        assert_eq!(header(&headers, "x-clerk-user-id"), user);
    }

    // Not accepted by default (session tokens only: Clerk reads it as a malformed session
    // token), nor with a scope the key lacks.
    let (status, headers, _) = ask(&gateway, "/forward-auth", Some(&clerk.api_key)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&headers, "x-clerk-auth-reason"), "token-invalid");
    let (status, headers, _) = ask(
        &gateway,
        "/forward-auth?accepts=api_key&scope=notes:write",
        Some(&clerk.api_key),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(header(&headers, "x-clerk-auth-reason"), "missing-scope");
    // A machine never meets a session requirement.
    let (status, headers, _) = ask(
        &gateway,
        "/forward-auth?accepts=any&permission=org:notes:read",
        Some(&clerk.m2m),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(header(&headers, "x-clerk-auth-reason"), "session-required");
    gateway.shutdown().await;
}

#[tokio::test]
async fn refusals_keep_their_status_except_through_nginx_where_it_is_tunnelled() {
    let clerk = clerk().await;
    let gateway = start(config(&clerk)).await;
    let expired = clerk.server.session_token().expires_in(-60).sign();
    let other = SigningKey::generate(2048);
    let forged = clerk.server.session_token().signed_by(&other).sign();
    for (token, status, reason) in [
        (None, 401, "session-token-missing"),
        (Some(expired.as_str()), 401, "token-expired"),
        (Some(forged.as_str()), 401, "token-invalid-signature"),
    ] {
        for endpoint in ["/forward-auth", "/auth-request", "/ext-authz/v1/notes"] {
            let (got, headers, body) = ask(&gateway, endpoint, token).await;
            assert_eq!(got.as_u16(), status, "{endpoint} {reason}: {body}");
            assert_eq!(
                header(&headers, "x-clerk-auth-reason"),
                reason,
                "{endpoint}"
            );
            assert_eq!(header(&headers, "x-clerk-auth-status"), status.to_string());
            assert_eq!(header(&headers, "cache-control"), "no-store");
            assert_eq!(
                header(&headers, "www-authenticate"),
                r#"Bearer error="invalid_token""#
            );
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["reason"], reason);
            assert!(!body.to_string().contains(token.unwrap_or("\u{0}")));
        }
    }
    let (status, headers, _) = ask(
        &gateway,
        "/auth-request?permission=org:notes:delete",
        Some(&clerk.session),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        header(&headers, "x-clerk-auth-reason"),
        "missing-permission"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn without_keys_the_answer_is_503_and_nginx_gets_a_403_that_says_so() {
    let clerk = clerk().await;
    clerk.server.set_fault(Fault::Status(500));
    let gateway = start(config(&clerk)).await;
    for (endpoint, status) in [
        ("/forward-auth", 503),
        ("/ext-authz/x", 503),
        ("/auth-request", 403),
    ] {
        let (got, headers, body) = ask(&gateway, endpoint, Some(&clerk.session)).await;
        assert_eq!(got.as_u16(), status, "{endpoint}: {body}");
        assert_eq!(header(&headers, "x-clerk-auth-status"), "503");
        assert_eq!(header(&headers, "x-clerk-auth-reason"), "keys-unavailable");
        assert_eq!(header(&headers, "retry-after"), "5");
        assert_eq!(header(&headers, "cache-control"), "no-store");
    }
    let (status, _, _) = ask(&gateway, "/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    clerk.server.set_fault(Fault::None);
    gateway.shutdown().await;
}

#[tokio::test]
async fn optional_lets_no_credential_through_as_anonymous_but_never_a_bad_one() {
    let clerk = clerk().await;
    let gateway = start(config(&clerk)).await;
    let (status, headers, _) = ask(&gateway, "/forward-auth?optional=true", None).await;
    assert_eq!(status, StatusCode::OK);
    for name in IDENTITY {
        assert_eq!(header(&headers, name), "", "{name} is empty when anonymous");
    }
    assert_eq!(header(&headers, "cache-control"), "private, no-store");
    let (status, _, _) = ask(&gateway, "/forward-auth?optional=true", Some("not-a-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    gateway.shutdown().await;
}

fn rules_file(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("{name}-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

const RULES: &str = r#"
[[rule]]
name = "health"
paths = ["/healthz"]
public = true

[[rule]]
name = "notes read"
hosts = ["api.example.com"]
paths = ["/v1/notes", "/v1/notes/**"]
methods = ["GET", "HEAD"]
accepts = ["session_token", "api_key"]
scopes = ["notes:read"]

[[rule]]
name = "notes write"
hosts = ["api.example.com"]
paths = ["/v1/notes", "/v1/notes/**"]
methods = ["POST", "PUT", "DELETE"]
permissions = ["org:notes:write"]

[[rule]]
name = "admin"
paths = ["/v1/admin/**"]
permissions = ["org:admin:manage"]
"#;

#[tokio::test]
async fn the_first_matching_rule_decides_by_method_host_and_path() {
    let clerk = clerk().await;
    let mut config = config(&clerk);
    config.gateway_rules = Some(rules_file("rules", RULES));
    let gateway = start(config).await;
    let traefik = |method: &'static str, path: &'static str| {
        [
            ("x-forwarded-method", method),
            ("x-forwarded-host", "api.example.com"),
            ("x-forwarded-uri", path),
        ]
    };
    let cases: [(&str, &str, Option<&str>, u16, &str); 8] = [
        ("GET", "/healthz", None, 200, ""),
        ("GET", "/v1/notes/7", Some(&clerk.session), 200, ""),
        ("GET", "/v1/notes", Some(&clerk.api_key), 200, ""),
        ("POST", "/v1/notes", Some(&clerk.session), 200, ""),
        (
            "POST",
            "/v1/notes",
            Some(&clerk.api_key),
            401,
            "token-invalid",
        ),
        (
            "GET",
            "/v1/admin/users",
            Some(&clerk.session),
            403,
            "missing-permission",
        ),
        (
            "GET",
            "/v2/other",
            Some(&clerk.session),
            403,
            "no-matching-rule",
        ),
        (
            "GET",
            "/v1/notes/../admin/x",
            Some(&clerk.session),
            403,
            "ambiguous-path",
        ),
    ];
    for (method, path, token, status, reason) in cases {
        let (got, headers, body) =
            ask_with(&gateway, "/forward-auth", token, &traefik(method, path)).await;
        assert_eq!(got.as_u16(), status, "{method} {path}: {body}");
        if !reason.is_empty() {
            assert_eq!(
                header(&headers, "x-clerk-auth-reason"),
                reason,
                "{method} {path}"
            );
        }
    }
    // nginx describes the same request its own way.
    let (status, _, _) = ask_with(
        &gateway,
        "/auth-request",
        Some(&clerk.session),
        &[
            ("x-original-method", "DELETE"),
            ("x-original-url", "https://api.example.com/v1/notes/7"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Envoy: the path after the prefix, the host from Host.
    let response = client()
        .delete(url(&gateway, "/ext-authz/v1/admin/x"))
        .bearer_auth(&clerk.session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // The query string narrows the rule.
    let (status, headers, _) = ask_with(
        &gateway,
        "/forward-auth?permission=org:notes:delete",
        Some(&clerk.session),
        &traefik("GET", "/v1/notes"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        header(&headers, "x-clerk-auth-reason"),
        "missing-permission"
    );
    // Rules that look at the method need the proxy to send it.
    let (status, headers, _) = ask_with(
        &gateway,
        "/forward-auth",
        Some(&clerk.session),
        &[("x-forwarded-uri", "/v1/notes")],
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        header(&headers, "x-clerk-auth-reason"),
        "original-request-unknown"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_misconfigured_policy_is_refused_and_nginx_gets_a_403_that_says_so() {
    let clerk = clerk().await;
    let gateway = start(config(&clerk)).await;
    let (status, headers, body) = ask(
        &gateway,
        "/forward-auth?permision=org:x",
        Some(&clerk.session),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(header(&headers, "x-clerk-auth-reason"), "invalid-policy");
    assert!(body.contains("permision"), "{body}");
    let (status, headers, _) = ask(
        &gateway,
        "/auth-request?permision=org:x",
        Some(&clerk.session),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(header(&headers, "x-clerk-auth-status"), "500");
    gateway.shutdown().await;
}

#[tokio::test]
async fn every_method_is_answered_and_a_body_is_never_needed() {
    let clerk = clerk().await;
    let gateway = start(config(&clerk)).await;
    for method in ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let response = client()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                url(&gateway, "/forward-auth"),
            )
            .bearer_auth(&clerk.session)
            .body(if method == "POST" {
                "x".repeat(100_000)
            } else {
                String::new()
            })
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        assert!(response.headers().contains_key("x-clerk-user-id"));
    }
    gateway.shutdown().await;
}

/// Revokes the session in the emulator, which delivers `session.revoked` (Svix-signed) to the
/// gateway's `/webhooks/clerk`.
async fn revoke(clerk: &Clerk, gateway: &Gateway) {
    clerk.server.set_webhook(url(gateway, "/webhooks/clerk"));
    clerk.server.revoke_session(&clerk.session_id).unwrap();
    assert!(clerk.server.wait_delivered(Duration::from_secs(10)).await);
}

#[tokio::test]
async fn a_revoked_session_is_refused_at_once() {
    let clerk = clerk().await;
    let mut config = config(&clerk);
    config.clerk_webhook_signing_secret = Some(clerk.server.webhook_secret().into());
    let gateway = start(config).await;
    let (status, _, _) = ask(&gateway, "/forward-auth", Some(&clerk.session)).await;
    assert_eq!(status, StatusCode::OK);
    revoke(&clerk, &gateway).await;
    let (status, headers, _) = ask(&gateway, "/forward-auth", Some(&clerk.session)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&headers, "x-clerk-auth-reason"), "session-revoked");
    // A delivery that is not signed with the secret changes nothing.
    let response = client()
        .post(url(&gateway, "/webhooks/clerk"))
        .header("svix-id", "msg_1")
        .header("svix-timestamp", clerk_emulator::unix_now().to_string())
        .header("svix-signature", "v1,AAAA")
        .body(r#"{"type":"user.deleted","object":"event","data":{"id":"user_x","object":"user","deleted":true},"timestamp":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    gateway.shutdown().await;
}

#[tokio::test]
async fn webhooks_without_a_secret_are_503() {
    let clerk = clerk().await;
    let gateway = start(config(&clerk)).await;
    let response = client()
        .post(url(&gateway, "/webhooks/clerk"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    gateway.shutdown().await;
}

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

#[tokio::test]
async fn instances_on_one_postgresql_share_revocations() {
    let url = std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| POSTGRES.to_owned());
    let clerk = clerk().await;
    let mut first = config(&clerk);
    first.clerk_webhook_signing_secret = Some(clerk.server.webhook_secret().into());
    first.database_url = Some(url.clone().into());
    let mut second = config(&clerk);
    second.database_url = Some(url.into());
    let first = start(first).await;
    let second = start(second).await;
    let (status, _, _) = ask(&second, "/forward-auth", Some(&clerk.session)).await;
    assert_eq!(status, StatusCode::OK);
    revoke(&clerk, &first).await;
    let mut refused = false;
    for _ in 0..50 {
        let (status, headers, _) = ask(&second, "/forward-auth", Some(&clerk.session)).await;
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(header(&headers, "x-clerk-auth-reason"), "session-revoked");
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the other instance learned of the revocation");
    // A third instance started later loads it from the table.
    let mut third = config(&clerk);
    third.database_url = Some(
        std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| POSTGRES.to_owned())
            .into(),
    );
    let third = start(third).await;
    let (status, _, _) = ask(&third, "/forward-auth", Some(&clerk.session)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for gateway in [first, second, third] {
        gateway.shutdown().await;
    }
}

fn signing_key_file(der: &[u8]) -> PathBuf {
    let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec()));
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("identity-{}.pem", std::process::id()));
    std::fs::write(&path, pem).unwrap();
    path
}

#[tokio::test]
async fn a_signed_identity_verifies_with_the_published_jwks() {
    use ring::signature::{EcdsaKeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
    let clerk = clerk().await;
    let rng = ring::rand::SystemRandom::new();
    let der = EcdsaKeyPair::generate_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .unwrap();
    let mut config = config(&clerk);
    config.gateway_signing_key = Some(signing_key_file(der.as_ref()));
    let gateway = start(config).await;
    let (status, headers, _) = ask_with(
        &gateway,
        "/forward-auth",
        Some(&clerk.session),
        &[("x-forwarded-host", "api.example.com")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token = header(&headers, "x-clerk-identity").to_owned();
    let jwks: Value = client()
        .get(url(&gateway, "/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = &jwks["keys"][0];
    assert_eq!(jwk["alg"], "ES256");
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut point = vec![4u8];
    for coordinate in ["x", "y"] {
        point.extend(
            URL_SAFE_NO_PAD
                .decode(jwk[coordinate].as_str().unwrap())
                .unwrap(),
        );
    }
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        .verify(
            signed.as_bytes(),
            &URL_SAFE_NO_PAD.decode(signature).unwrap(),
        )
        .expect("the identity is signed by the published key");
    let header_json: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(signed.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header_json["kid"], jwk["kid"]);
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(signed.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], "api.example.com");
    assert_eq!(claims["session_id"], clerk.session_id);
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 60);
    // Anonymous: the header is there, empty.
    let (_, headers, _) = ask(&gateway, "/forward-auth?optional=true", None).await;
    assert_eq!(header(&headers, "x-clerk-identity"), "");
    gateway.shutdown().await;
}

#[tokio::test]
async fn decisions_are_counted_without_tokens_in_the_labels() {
    let clerk = clerk().await;
    let gateway = start(config(&clerk)).await;
    ask(&gateway, "/forward-auth", Some(&clerk.session)).await;
    ask(&gateway, "/auth-request", None).await;
    let (status, _, metrics) = ask(&gateway, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.contains(
            r#"clerk_gateway_decisions_total{endpoint="forward-auth",outcome="allowed",reason=""} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"clerk_gateway_decisions_total{endpoint="auth-request",outcome="unauthorized",reason="session-token-missing"} 1"#
    ));
    assert!(!metrics.contains(&clerk.session[..40]));
    let (status, _, body) = ask(&gateway, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    gateway.shutdown().await;
}

fn gateway_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_clerk-gateway"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

#[test]
fn check_policy_explains_which_rule_decides() {
    let rules = rules_file("explain", RULES);
    let output = gateway_command()
        .args([
            "check-policy",
            "--method",
            "POST",
            "--host",
            "api.example.com",
        ])
        .args(["--uri", "/v1/notes/7?x=1"])
        .env("GATEWAY_RULES", &rules)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains(r#"rule 2 ("notes read"): no match: method POST"#),
        "{text}"
    );
    assert!(text.contains(r#"rule 3 ("notes write"): MATCH"#), "{text}");
    assert!(text.contains("permission org:notes:write"), "{text}");
}

#[test]
fn a_bad_rules_file_stops_the_start_naming_the_rule() {
    let rules = rules_file("bad", "[[rule]]\nname = \"notes\"\nmethods = [\"get\"]\n");
    let output = gateway_command()
        .env("GATEWAY_RULES", &rules)
        .env("CLERK_JWKS_URL", "http://127.0.0.1:9/.well-known/jwks.json")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains(r#"GATEWAY_RULES: "#) && text.contains(r#"rule 1 ("notes"): methods"#),
        "{text}"
    );
    let output = gateway_command()
        .env("DATABASE_URL", "sqlite://x.db")
        .env("CLERK_JWKS_URL", "http://127.0.0.1:9/.well-known/jwks.json")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("DATABASE_URL"));
}
