//! The shipped proxy configurations (`gateway/deploy/`), tested through the real proxies:
//! nginx and Caddy (Debian's packages), Traefik and Envoy (their PyPI wheels; Envoy with the
//! HTTP and with the gRPC ext_authz service), each started on loopback from its snippet with
//! the gateway in process behind a recording relay and a recording upstream.
//! `gateway/tests/proxies/install.sh` installs the proxies (scripts/test runs it); a missing
//! one fails these tests.
//!
//! For each proxy: valid credentials pass with their identity; missing, expired, forged and
//! revoked ones and a failed permission are refused with the right status; forged identity
//! headers never reach the upstream; no keys is a 503; a WebSocket upgrade is authenticated;
//! a request body never reaches the gateway. For Envoy, also: a gateway that does not answer
//! is a 503; with gRPC, a route's context extensions narrow its policy, and the gateway alone
//! keeps forged identity headers from the upstream when the snippet's strip filter is gone.

mod harness;
mod proxy;
mod relay;
mod upstream;

use futures_util::{SinkExt as _, StreamExt as _};
use harness::{forged_headers, many_permissions, Stack, Start, HOST};
use proxy::Kind;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, Message};

/// The tests every proxy runs, in a module per proxy, with a proxy's own tests after `;`.
macro_rules! proxy_tests {
    ($($module:ident => $kind:expr $(; { $($own:item)* })?),* $(,)?) => {$(
        mod $module {
            use super::*;

            $($($own)*)?

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn valid_credentials_reach_the_upstream_with_their_identity() {
                valid_credentials($kind).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn missing_expired_forged_revoked_and_unpermitted_credentials_are_refused() {
                refused_credentials($kind).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn forged_identity_headers_never_reach_the_upstream() {
                forged_identity_headers($kind).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_gateway_without_keys_gives_the_client_503() {
                keys_unavailable($kind).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_websocket_upgrade_is_authenticated() {
                websocket($kind).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_request_body_is_never_sent_to_the_gateway() {
                request_body($kind).await;
            }
        }
    )*};
}

proxy_tests! {
    nginx => Kind::Nginx,
    caddy => Kind::Caddy,
    traefik => Kind::Traefik,
    envoy => Kind::Envoy; {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_gateway_that_does_not_answer_gives_the_client_503() {
            gateway_unreachable(Kind::Envoy).await;
        }
    },
    envoy_grpc => Kind::EnvoyGrpc; {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_gateway_that_does_not_answer_gives_the_client_503() {
            gateway_unreachable(Kind::EnvoyGrpc).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_routes_context_extensions_narrow_its_policy() {
            context_extensions().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn forged_identity_headers_are_removed_by_the_gateway_without_the_strip_filter() {
            let stack = Stack::start_edited(
                Kind::EnvoyGrpc,
                "forged-unstripped",
                Start::Warm,
                without_strip_filter,
            )
            .await;
            forged_identity_headers_through(&stack).await;
        }
    },
}

/// What the upstream must see for one credential.
struct Expected<'a> {
    user_id: &'a str,
    session_id: &'a str,
    org_id: &'a str,
    org_slug: &'a str,
    org_role: &'a str,
    org_permissions: String,
    token_type: &'a str,
    machine_id: &'a str,
    scopes: &'a str,
}

async fn valid_credentials(kind: Kind) {
    let stack = Stack::start(kind, "valid", Start::Warm).await;
    let p = &stack.people;
    let session = Expected {
        user_id: &p.ada,
        session_id: &p.ada_session,
        org_id: &p.org,
        org_slug: "acme",
        org_role: "org:admin",
        org_permissions: "org:notes:read,org:notes:delete".to_owned(),
        token_type: "session_token",
        machine_id: "",
        scopes: "",
    };
    let cases: [(&str, reqwest::RequestBuilder, Expected); 5] = [
        (
            "/notes/session",
            stack.get("/notes/session").bearer_auth(&p.ada_token),
            session,
        ),
        (
            "/notes/cookie",
            stack
                .get("/notes/cookie")
                .header("cookie", format!("theme=dark; __session={}", p.ada_token)),
            Expected {
                user_id: &p.ada,
                session_id: &p.ada_session,
                org_id: &p.org,
                org_slug: "acme",
                org_role: "org:admin",
                org_permissions: "org:notes:read,org:notes:delete".to_owned(),
                token_type: "session_token",
                machine_id: "",
                scopes: "",
            },
        ),
        (
            "/notes/many-permissions",
            stack
                .get("/notes/many-permissions")
                .bearer_auth(&p.carol_token),
            Expected {
                user_id: &p.carol,
                session_id: &p.carol_session,
                org_id: &p.org,
                org_slug: "acme",
                org_role: "org:auditor",
                org_permissions: many_permissions().join(","),
                token_type: "session_token",
                machine_id: "",
                scopes: "",
            },
        ),
        (
            "/notes/api-key",
            stack.get("/notes/api-key").bearer_auth(&p.api_key),
            Expected {
                user_id: &p.ada,
                session_id: "",
                org_id: "",
                org_slug: "",
                org_role: "",
                org_permissions: String::new(),
                token_type: "api_key",
                machine_id: "",
                scopes: "notes:read notes:write",
            },
        ),
        (
            "/notes/m2m",
            stack.get("/notes/m2m").bearer_auth(&p.m2m_token),
            Expected {
                user_id: "",
                session_id: "",
                org_id: "",
                org_slug: "",
                org_role: "",
                org_permissions: String::new(),
                token_type: "m2m_token",
                machine_id: &p.machine,
                scopes: &p.machine_scope,
            },
        ),
    ];
    for (path, request, expected) in cases {
        let reply = stack.send(request).await;
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        assert!(reply.answered_by_upstream(), "{path}: {reply:?}");
        let seen = stack.upstream.only(path);
        let headers = [
            ("x-clerk-user-id", expected.user_id.to_owned()),
            ("x-clerk-session-id", expected.session_id.to_owned()),
            ("x-clerk-org-id", expected.org_id.to_owned()),
            ("x-clerk-org-slug", expected.org_slug.to_owned()),
            ("x-clerk-org-role", expected.org_role.to_owned()),
            ("x-clerk-org-permissions", expected.org_permissions.clone()),
            ("x-clerk-token-type", expected.token_type.to_owned()),
            ("x-clerk-machine-id", expected.machine_id.to_owned()),
            ("x-clerk-scopes", expected.scopes.to_owned()),
        ];
        for (name, value) in headers {
            assert_eq!(seen.header(name), value, "{path}: {name} at the upstream");
        }
        let claims = stack.identity_claims(&seen.header("x-clerk-identity"));
        assert_eq!(claims["aud"], HOST, "{path}: {claims}");
        assert_eq!(
            claims["token_type"], expected.token_type,
            "{path}: {claims}"
        );
        assert_eq!(
            claims["user_id"],
            seen.header("x-clerk-user-id"),
            "{path}: {claims}"
        );
        for refusal in ["x-clerk-auth-status", "x-clerk-auth-reason"] {
            assert_eq!(
                seen.header(refusal),
                "",
                "{path}: {refusal} at the upstream"
            );
        }
    }
    // The root path and a query string reach the gateway and the upstream as sent.
    for path_and_query in ["/", "/notes/search?q=a%20b&page=2"] {
        let reply = stack
            .send(stack.get(path_and_query).bearer_auth(&p.api_key))
            .await;
        assert_eq!(reply.status, 200, "{path_and_query}: {reply:?}");
        let path = path_and_query.split('?').next().unwrap();
        let seen = stack.upstream.only(path);
        assert_eq!(seen.uri.to_string(), path_and_query);
        assert_eq!(seen.header("x-clerk-token-type"), "api_key");
    }
}

async fn refused_credentials(kind: Kind) {
    let stack = Stack::start(kind, "refused", Start::Warm).await;
    let p = &stack.people;
    let expired = stack
        .clerk
        .session_token()
        .user(p.ada.clone())
        .session(p.ada_session.clone())
        .at(clerk_emulator::unix_now() - 3600)
        .expires_in(60)
        .sign();
    let forged = stack
        .clerk
        .session_token()
        .user(p.ada.clone())
        .session(p.ada_session.clone())
        .signed_by(&clerk_emulator::SigningKey::test_key_n(1))
        .sign();
    let cases = [
        ("/notes/missing", None, 401, "session-token-missing"),
        // A client's query string is never taken for the auth URL's policy.
        (
            "/notes/optional?optional=true&accepts=any",
            None,
            401,
            "session-token-missing",
        ),
        (
            "/notes/expired",
            Some(expired.as_str()),
            401,
            "token-expired",
        ),
        (
            "/notes/forged",
            Some(forged.as_str()),
            401,
            "token-invalid-signature",
        ),
        ("/notes/garbage", Some("not-a-token"), 401, ""),
        // The admin rule asks for org:notes:delete, which Bob's role lacks.
        (
            "/admin/bob",
            Some(p.bob_token.as_str()),
            403,
            "missing-permission",
        ),
    ];
    for (path, token, status, reason) in cases {
        let mut request = stack.get(path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let reply = stack.send(request).await;
        assert_refused(&reply, path, status, reason);
        let path = path.split('?').next().unwrap();
        assert!(
            stack.upstream.seen(path).is_empty(),
            "{path} reached the upstream"
        );
    }
    // The permission rule is on /admin only: Bob passes elsewhere, Ada (who has it) there.
    for (path, token) in [("/notes/bob", &p.bob_token), ("/admin/ada", &p.ada_token)] {
        let reply = stack.send(stack.get(path).bearer_auth(token)).await;
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        assert!(reply.answered_by_upstream(), "{path}: {reply:?}");
    }
    // The archive rule is on writes only: the proxy tells the gateway the original method.
    let reply = stack
        .send(stack.get("/archive/read").bearer_auth(&p.bob_token))
        .await;
    assert_eq!(reply.status, 200, "a GET of the archive: {reply:?}");
    let reply = stack
        .send(
            stack
                .post("/archive/write")
                .bearer_auth(&p.bob_token)
                .body("x"),
        )
        .await;
    assert_refused(&reply, "a POST to the archive", 403, "missing-permission");
    assert!(stack.upstream.seen("/archive/write").is_empty());
    // Revoked: Bob's token passes (and is cached), then the session.revoked webhook reaches
    // the gateway, and the same token is refused at once.
    let reply = stack
        .send(
            stack
                .get("/notes/before-revocation")
                .bearer_auth(&p.bob_token),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    stack.revoke(&p.bob_session).await;
    let reply = stack
        .send(stack.get("/notes/revoked").bearer_auth(&p.bob_token))
        .await;
    assert_refused(&reply, "/notes/revoked", 401, "session-revoked");
    assert!(stack.upstream.seen("/notes/revoked").is_empty());
    let reply = stack
        .send(stack.get("/notes/not-revoked").bearer_auth(&p.ada_token))
        .await;
    assert_eq!(reply.status, 200, "another session still passes: {reply:?}");
}

fn assert_refused(reply: &harness::Reply, path: &str, status: u16, reason: &str) {
    assert_eq!(reply.status, status, "{path}: {reply:?}");
    assert!(!reply.answered_by_upstream(), "{path}: {reply:?}");
    if !reason.is_empty() {
        assert_eq!(reply.reason(), reason, "{path}: {reply:?}");
    }
    assert_eq!(
        reply.header("cache-control"),
        Some("no-store"),
        "{path}: {reply:?}"
    );
    let challenge = match status {
        401 => Some(r#"Bearer error="invalid_token""#),
        403 => Some(r#"Bearer error="insufficient_scope""#),
        _ => None,
    };
    if let Some(challenge) = challenge {
        let values: Vec<_> = reply.headers.get_all("www-authenticate").iter().collect();
        assert_eq!(values, [challenge], "{path}: {reply:?}");
    }
}

async fn forged_identity_headers(kind: Kind) {
    forged_identity_headers_through(&Stack::start(kind, "forged", Start::Warm).await).await;
}

async fn forged_identity_headers_through(stack: &Stack) {
    let p = &stack.people;
    // Allowed: the gateway's identity replaces the forged one.
    let reply = stack
        .send(
            stack
                .get("/notes/forged-headers")
                .bearer_auth(&p.bob_token)
                .headers(forged_headers()),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = stack.upstream.only("/notes/forged-headers");
    assert_eq!(seen.header("x-clerk-user-id"), p.bob);
    assert_eq!(seen.header("x-clerk-org-role"), "org:member");
    stack.identity_claims(&seen.header("x-clerk-identity"));
    assert_no_forged_value(&seen, "an allowed request");
    // Anonymous (a public rule): nothing of the client's identity gets through either.
    let reply = stack
        .send(
            stack
                .get("/public/forged-headers")
                .headers(forged_headers()),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = stack.upstream.only("/public/forged-headers");
    for name in clerk_gateway::identity::HEADERS {
        assert_eq!(seen.header(name), "", "{name} on an anonymous request");
    }
    assert_eq!(seen.header("x-clerk-identity"), "");
    assert_no_forged_value(&seen, "an anonymous request");
}

/// No header with the forged value, in any spelling, reached the upstream.
fn assert_no_forged_value(seen: &upstream::Seen, what: &str) {
    let forged: Vec<_> = seen
        .headers
        .iter()
        .filter(|(_, value)| value.as_bytes() == b"forged")
        .collect();
    assert!(
        forged.is_empty(),
        "forged headers reached the upstream on {what}: {forged:?}"
    );
    let underscored: Vec<_> = seen
        .headers
        .keys()
        .filter(|name| name.as_str().starts_with("x_clerk_"))
        .collect();
    assert!(
        underscored.is_empty(),
        "underscore spellings reached the upstream on {what}: {underscored:?}"
    );
}

/// Envoy's gRPC snippet without its `header_mutation` filter: the client's `x-clerk-*`
/// headers reach the gateway, which alone must keep them from the upstream.
fn without_strip_filter(config: String) -> String {
    let start = config
        .find("                  - name: envoy.filters.http.header_mutation")
        .expect("the snippet has the header_mutation filter");
    let end = config
        .find("                  - name: envoy.filters.http.ext_authz")
        .expect("the snippet has the ext_authz filter");
    assert!(start < end, "header_mutation runs before ext_authz");
    format!("{}{}", &config[..start], &config[end..])
}

async fn gateway_unreachable(kind: Kind) {
    let stack = Stack::start(kind, "unreachable", Start::Warm).await;
    let token = &stack.people.ada_token;
    let reply = stack
        .send(stack.get("/notes/before").bearer_auth(token))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    stack.relay.cut();
    let reply = stack
        .send(stack.get("/notes/unreachable").bearer_auth(token))
        .await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(!reply.answered_by_upstream(), "{reply:?}");
    // The snippet's local reply, for a failure of the service only.
    assert_eq!(reply.reason(), "auth-unavailable", "{reply:?}");
    assert_eq!(reply.header("retry-after"), Some("5"), "{reply:?}");
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{reply:?}");
    assert!(stack.upstream.seen("/notes/unreachable").is_empty());
}

/// The gRPC snippet's `/internal/` route takes M2M tokens only (its context extensions),
/// whatever the rules' default accepts.
async fn context_extensions() {
    let stack = Stack::start(Kind::EnvoyGrpc, "context-extensions", Start::Warm).await;
    let p = &stack.people;
    let reply = stack
        .send(stack.get("/internal/jobs").bearer_auth(&p.m2m_token))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = stack.upstream.only("/internal/jobs");
    assert_eq!(seen.header("x-clerk-token-type"), "m2m_token");
    assert_eq!(seen.header("x-clerk-machine-id"), p.machine);
    for (path, token) in [
        ("/internal/session", Some(&p.ada_token)),
        ("/internal/api-key", Some(&p.api_key)),
        ("/internal/none", None),
    ] {
        let mut request = stack.get(path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let reply = stack.send(request).await;
        assert_refused(&reply, path, 401, "");
        assert!(
            stack.upstream.seen(path).is_empty(),
            "{path} reached the upstream"
        );
    }
    // Elsewhere the rules' default (any credential) applies.
    let reply = stack
        .send(stack.get("/notes/session").bearer_auth(&p.ada_token))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

async fn keys_unavailable(kind: Kind) {
    let stack = Stack::start(kind, "no-keys", Start::Cold).await;
    let token = &stack.people.ada_token;
    let reply = stack
        .send(stack.get("/notes/no-keys").bearer_auth(token))
        .await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(!reply.answered_by_upstream(), "{reply:?}");
    // Envoy replaces a failing HTTP authorization service's answer with its own (the
    // snippet's local reply); the others, and Envoy's gRPC ext_authz, pass the gateway's on.
    let reason = match kind {
        Kind::Envoy => "auth-unavailable",
        _ => "keys-unavailable",
    };
    assert_eq!(reply.reason(), reason, "{reply:?}");
    assert_eq!(reply.header("retry-after"), Some("5"), "{reply:?}");
    assert_eq!(reply.header("cache-control"), Some("no-store"), "{reply:?}");
    assert!(stack.upstream.seen("/notes/no-keys").is_empty());
    // Once the keys load, the same token passes: the 503 was the keys'.
    stack.clerk.set_fault(clerk_emulator::Fault::None);
    stack.wait_gateway_ready().await;
    let reply = stack
        .send(stack.get("/notes/keys-back").bearer_auth(token))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

async fn websocket(kind: Kind) {
    let stack = Stack::start(kind, "websocket", Start::Warm).await;
    let connect = |token: Option<String>| {
        let addr = stack.proxy.addr();
        async move {
            let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
            request.headers_mut().insert("host", HOST.parse().unwrap());
            if let Some(token) = token {
                request
                    .headers_mut()
                    .insert("authorization", format!("Bearer {token}").parse().unwrap());
            }
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            tokio_tungstenite::client_async(request, stream).await
        }
    };
    match connect(None).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401, "{response:?}")
        }
        other => panic!("an upgrade without a token: {other:?}"),
    }
    assert!(
        stack.upstream.seen("/ws").is_empty(),
        "an unauthenticated upgrade reached the upstream"
    );
    let (mut socket, response) = connect(Some(stack.people.ada_token.clone()))
        .await
        .unwrap_or_else(|err| panic!("an upgrade with a token: {err:?}\n{}", stack.proxy.logs()));
    assert_eq!(response.status(), 101);
    socket.send(Message::text("hello")).await.unwrap();
    let echo = socket.next().await.unwrap().unwrap();
    assert_eq!(echo, Message::text("echo: hello"));
    socket.close(None).await.unwrap();
    let seen = stack.upstream.only("/ws");
    assert_eq!(seen.header("x-clerk-user-id"), stack.people.ada);
    assert_eq!(seen.header("x-clerk-token-type"), "session_token");
}

async fn request_body(kind: Kind) {
    let stack = Stack::start(kind, "body", Start::Warm).await;
    let marker = "BODY-NEVER-AT-THE-GATEWAY-";
    let body = marker.repeat(256 * 1024 / marker.len());
    let path = "/notes/upload-with-a-body";
    let reply = stack
        .send(
            stack
                .post(path)
                .bearer_auth(&stack.people.ada_token)
                .header("content-type", "text/plain")
                .body(body.clone()),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = stack.upstream.only(path);
    assert_eq!(seen.method, "POST");
    assert_eq!(
        seen.body.len(),
        body.len(),
        "the upstream got the whole body"
    );
    let sent = stack.relay.sent();
    assert!(
        sent.contains(path),
        "the gateway was asked about {path}:\n{sent}"
    );
    assert!(!sent.contains(marker), "the body reached the gateway");
    for line in sent.lines() {
        let line = line.to_ascii_lowercase();
        if let Some(length) = line.strip_prefix("content-length:") {
            assert_eq!(
                length.trim(),
                "0",
                "the gateway was announced a body: {line}"
            );
        }
        assert!(
            !line.starts_with("transfer-encoding:"),
            "the gateway was sent a chunked body: {line}"
        );
    }
}
