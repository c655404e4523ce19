//! The gateway's port over HTTP/2 cleartext with prior knowledge beside HTTP/1.1: the same
//! answers either way, and over HTTP/2 the host of an `ext_authz` check comes from
//! `:authority` (an HTTP/2 request has no `Host` header).

use std::path::PathBuf;
use std::time::Duration;

use clerk_emulator::{Emulator, EmulatorServer, SigningKey};
use clerk_gateway::{Config, Gateway, Settings};
use clerk_service::config::ClerkConfig;

async fn clerk() -> EmulatorServer {
    Emulator::with_key(SigningKey::test_key())
        .serve("127.0.0.1:0")
        .await
        .unwrap()
}

async fn start(clerk: &EmulatorServer, rules: Option<PathBuf>) -> Gateway {
    let config = Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        clerk: ClerkConfig {
            clerk_jwks_url: Some(clerk.jwks_url()),
            clerk_issuer: Some(clerk.issuer()),
            ..ClerkConfig::default()
        },
        gateway_rules: rules,
        ..Config::default()
    };
    clerk_gateway::start(Settings::from_config(config).unwrap())
        .await
        .unwrap()
}

fn client(http2: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
    let builder = if http2 {
        builder.http2_prior_knowledge()
    } else {
        builder.http1_only()
    };
    builder.build().unwrap()
}

#[tokio::test]
async fn the_gateway_answers_http2_with_prior_knowledge_and_http1_on_one_port() {
    let clerk = clerk().await;
    let gateway = start(&clerk, None).await;
    let token = clerk.session_token().user("user_h2").sign();
    for (http2, version) in [
        (true, http::Version::HTTP_2),
        (false, http::Version::HTTP_11),
    ] {
        let client = client(http2);
        let health = client
            .get(format!("http://{}/healthz", gateway.local_addr()))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        assert_eq!(health.version(), version);
        let allowed = client
            .get(format!("http://{}/forward-auth", gateway.local_addr()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(allowed.status(), 200, "{version:?}");
        assert_eq!(allowed.version(), version);
        assert_eq!(allowed.headers()["x-clerk-user-id"], "user_h2");
        let refused = client
            .get(format!("http://{}/forward-auth", gateway.local_addr()))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401, "{version:?}");
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn over_http2_an_ext_authz_host_rule_matches_the_authority() {
    let clerk = clerk().await;
    let rules = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("h2-rules-{}.toml", std::process::id()));
    std::fs::write(
        &rules,
        r#"
[[rule]]
name = "api"
hosts = ["api.example.com"]
paths = ["/v1/**"]
"#,
    )
    .unwrap();
    let gateway = start(&clerk, Some(rules)).await;
    let token = clerk.session_token().user("user_h2").sign();
    let tcp = tokio::net::TcpStream::connect(gateway.local_addr())
        .await
        .unwrap();
    let (send, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    for (authority, status) in [("api.example.com", 200), ("other.example.com", 403)] {
        // `:authority` only: HTTP/2 clients send no `Host`.
        let request = http::Request::get(format!("http://{authority}/ext-authz/v1/notes"))
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .unwrap();
        assert!(!request.headers().contains_key("host"));
        let mut ready = send.clone().ready().await.unwrap();
        let (response, _) = ready.send_request(request, true).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), status, "{authority}");
    }
    gateway.shutdown().await;
}
