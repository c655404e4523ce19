//! Operations: health, readiness, metrics, request ids, OpenAPI and docs, CORS, limits,
//! timeouts and graceful shutdown.

use std::time::Duration;

use clerk_emulator::{unix_now, Fault};
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{clerk, on_both_databases, Db, TestApp};

on_both_databases!(
    readyz_is_ok_when_keys_and_database_are_usable,
    readyz_is_503_when_the_database_is_gone,
);

#[tokio::test]
async fn healthz_is_ok() {
    let app = TestApp::start(Db::Sqlite).await;
    let reply = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json, json!({"status": "ok"}));
}

async fn readyz_is_ok_when_keys_and_database_are_usable(db: Db) {
    let app = TestApp::start(db).await;
    let reply = wait_for_readyz(&app, 200).await;
    assert_eq!(reply.json["status"], "ok");
    assert_eq!(reply.json["keys"]["usable"], true);
    assert_eq!(reply.json["keys"]["keys"], 1);
    assert_eq!(reply.json["database"]["ok"], true);
}

async fn readyz_is_503_when_the_database_is_gone(db: Db) {
    let app = TestApp::start(db).await;
    wait_for_readyz(&app, 200).await;
    app.server().state().db().close().await;
    let reply = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.json["database"]["ok"], false);
    assert_eq!(
        reply.json["keys"]["usable"], true,
        "only the database is down"
    );
    let token = app.token("user_ada");
    assert_eq!(
        app.get("/protected", &token).await.status,
        200,
        "no database needed"
    );
    let notes = app.get("/v1/notes", &token).await;
    assert_eq!(notes.status, 500);
    assert_eq!(
        notes.json,
        json!({"error": "internal", "message": "Internal server error."})
    );
}

#[tokio::test]
async fn readyz_is_503_while_the_jwks_is_down_at_startup_then_recovers() {
    let clerk = clerk().await;
    clerk.set_fault(Fault::Status(500));
    let app = TestApp::start_with_clerk(clerk, Db::Sqlite, |_| {}).await;

    let reply = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.json["status"], "unavailable");
    assert_eq!(reply.json["keys"]["usable"], false);
    assert_eq!(reply.json["database"]["ok"], true, "only the keys are down");

    // Nobody sends traffic to an unready instance: it must load the keys by itself.
    app.clerk.set_fault(Fault::None);
    let reply = wait_for_readyz(&app, 200).await;
    assert_eq!(reply.json["keys"]["usable"], true);
    let token = app.token("user_ada");
    assert_eq!(app.get("/protected", &token).await.status, 200);
}

async fn wait_for_readyz(app: &TestApp, status: u16) -> crate::support::Reply {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let reply = app.call(Method::GET, "/readyz", None, None).await;
        if reply.status == status || tokio::time::Instant::now() > deadline {
            assert_eq!(reply.status, status, "{}", reply.text);
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of the sample named exactly `series` (name and labels).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

#[tokio::test]
async fn metrics_count_requests_auth_failures_and_key_fetches() {
    let app = TestApp::start(Db::Sqlite).await;
    let token = app.token("user_ada");
    assert_eq!(app.get("/protected", &token).await.status, 200);
    assert_eq!(app.get("/protected", &token).await.status, 200);
    let expired = app.clerk.session_token().at(unix_now() - 3600).sign();
    assert_eq!(app.get("/protected", &expired).await.status, 401);
    assert_eq!(
        app.call(Method::GET, "/v1/notes", None, None).await.status,
        401
    );
    let member = app.org_token("user_m", "org_acme", "org:member", &[]);
    assert_eq!(
        app.post("/v1/notes", &member, json!({"title": "x"}))
            .await
            .status,
        403
    );
    assert_eq!(app.get("/no/such/route", &token).await.status, 404);

    let reply = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(reply.status, 200);
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = &reply.text;
    let count =
        |series: &str| sample(text, series).unwrap_or_else(|| panic!("{series} in\n{text}"));
    assert_eq!(
        count(r#"http_requests_total{route="/protected",method="GET",status="200"}"#),
        2.0
    );
    assert_eq!(
        count(r#"http_requests_total{route="/protected",method="GET",status="401"}"#),
        1.0
    );
    assert_eq!(
        count(r#"http_requests_total{route="/v1/notes",method="POST",status="403"}"#),
        1.0
    );
    assert_eq!(
        count(r#"http_requests_total{route="unmatched",method="GET",status="404"}"#),
        1.0
    );
    assert_eq!(count(r#"auth_failures_total{reason="token-expired"}"#), 1.0);
    assert_eq!(
        count(r#"auth_failures_total{reason="session-token-missing"}"#),
        1.0
    );
    assert_eq!(
        count(r#"auth_failures_total{reason="missing-permission"}"#),
        1.0
    );
    assert_eq!(
        count(r#"auth_failures_total{reason="token-invalid-signature"}"#),
        0.0
    );
    assert_eq!(
        count(r#"http_request_duration_seconds_count{route="/protected",method="GET"}"#),
        3.0
    );
    assert_eq!(
        count(r#"http_request_duration_seconds_bucket{route="/protected",method="GET",le="+Inf"}"#),
        3.0
    );
    assert!(count("jwks_fetches_total") >= 1.0);
    assert_eq!(count("jwks_fetch_failures_total"), 0.0);
    assert!(
        count("token_cache_hits_total") >= 1.0,
        "the same token twice"
    );
    assert!(count("token_cache_misses_total") >= 3.0);
    for name in [
        "http_requests_total",
        "http_request_duration_seconds",
        "http_requests_in_flight",
        "auth_failures_total",
        "jwks_fetches_total",
        "jwks_fetch_failures_total",
        "token_cache_hits_total",
        "token_cache_misses_total",
        "webhook_deliveries_total",
    ] {
        assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
    }
    assert!(!text.contains(&token));
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::start(Db::Sqlite).await;
    let send = |id: Option<&'static str>| {
        let mut request = app.client.get(app.url("/healthz"));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        async move { crate::support::read(request.send().await.unwrap()).await }
    };
    let reply = send(Some("req-42")).await;
    assert_eq!(reply.header("x-request-id"), Some("req-42"));
    let generated = send(None).await;
    let id = generated.header("x-request-id").unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let replaced = send(Some("not acceptable; in logs")).await;
    assert_eq!(replaced.header("x-request-id").unwrap().len(), 36);
}

#[tokio::test]
async fn openapi_describes_every_route_and_the_bearer_scheme() {
    let app = TestApp::start(Db::Sqlite).await;
    let reply = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(reply.status, 200);
    let doc = reply.json;
    for (path, methods) in [
        ("/healthz", &["get"][..]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
        ("/protected", &["get"]),
        ("/v1/me", &["get"]),
        ("/v1/notes", &["get", "post"]),
        ("/v1/notes/{id}", &["get", "patch", "delete"]),
        ("/v1/admin/users", &["get"]),
        ("/webhooks/clerk", &["post"]),
    ] {
        for method in methods {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} is documented"
            );
        }
    }
    let scheme = &doc["components"]["securitySchemes"]["clerk"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(scheme["bearerFormat"], "JWT");
    assert_eq!(
        doc["paths"]["/v1/me"]["get"]["security"],
        json!([{"clerk": []}, {"clerk_api_key": []}, {"clerk_m2m_token": []}, {"clerk_oauth_token": []}])
    );
    assert_eq!(
        doc["paths"]["/v1/notes"]["get"]["security"],
        json!([{"clerk": []}, {"clerk_api_key": []}, {"clerk_oauth_token": []}])
    );
    assert_eq!(
        doc["paths"]["/protected"]["get"]["security"],
        json!([{"clerk": []}])
    );
    for machine in ["clerk_api_key", "clerk_m2m_token", "clerk_oauth_token"] {
        assert_eq!(
            doc["components"]["securitySchemes"][machine]["scheme"],
            "bearer"
        );
    }
    assert!(doc["paths"]["/healthz"]["get"]["security"].is_null());
    let create = &doc["paths"]["/v1/notes"]["post"]["responses"];
    for status in ["201", "400", "401", "403", "413", "422", "503"] {
        assert!(
            create[status].is_object(),
            "POST /v1/notes declares {status}"
        );
    }
    assert!(doc["paths"]["/v1/notes/{id}"]["delete"]["responses"]["403"].is_object());
    assert!(doc["paths"]["/protected"]["get"]["responses"]["401"].is_object());
    let admin = &doc["paths"]["/v1/admin/users"]["get"];
    assert_eq!(admin["security"], json!([{"clerk": []}]));
    assert!(admin["responses"]["403"].is_object());
    let webhook = &doc["paths"]["/webhooks/clerk"]["post"];
    assert!(
        webhook["security"].is_null(),
        "signed by Svix, not a session"
    );
    for status in ["200", "400", "413", "500", "503"] {
        assert!(
            webhook["responses"][status].is_object(),
            "POST /webhooks/clerk declares {status}"
        );
    }
}

#[tokio::test]
async fn docs_are_served_from_the_binary() {
    let app = TestApp::start(Db::Sqlite).await;
    let redirect = app.call(Method::GET, "/docs", None, None).await;
    assert!(redirect.status == 303 || redirect.status == 301 || redirect.status == 308);
    assert_eq!(redirect.header("location"), Some("/docs/"));
    let page = app.call(Method::GET, "/docs/", None, None).await;
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text.contains("swagger-ui"));
    assert!(!page.text.contains("://"), "no asset from another host");
    let init = app
        .call(Method::GET, "/docs/swagger-initializer.js", None, None)
        .await;
    assert!(init.text.contains("/openapi.json"));
    let bundle = app
        .call(Method::GET, "/docs/swagger-ui-bundle.js", None, None)
        .await;
    assert_eq!(bundle.status, 200);
    assert!(bundle.text.len() > 100_000);
}

#[tokio::test]
async fn unknown_routes_are_404_and_other_methods_405_in_json() {
    let app = TestApp::start(Db::Sqlite).await;
    let reply = app.call(Method::GET, "/nope", None, None).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json["error"], "not_found");
    let reply = app.call(Method::PUT, "/v1/notes", None, None).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.json["error"], "method_not_allowed");
    assert!(reply.header("allow").unwrap().contains("POST"));
}

async fn preflight(app: &TestApp, origin: &str) -> crate::support::Reply {
    let response = app
        .client
        .request(Method::OPTIONS, app.url("/v1/notes"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    crate::support::read(response).await
}

#[tokio::test]
async fn cors_allows_listed_origins_with_credentials() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.cors_allowed_origins = vec![
            "https://app.example.com".into(),
            " http://localhost:3000".into(),
        ];
    })
    .await;
    let reply = preflight(&app, "https://app.example.com").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        Some("true")
    );
    let methods = reply.header("access-control-allow-methods").unwrap();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );
    let headers = reply.header("access-control-allow-headers").unwrap();
    assert!(headers.contains("authorization"), "{headers}");

    let response = app
        .client
        .get(app.url("/protected"))
        .header("origin", "http://localhost:3000")
        .bearer_auth(app.token("user_ada"))
        .send()
        .await
        .unwrap();
    let reply = crate::support::read(response).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert!(reply.header("vary").unwrap().contains("origin"));
}

#[tokio::test]
async fn cors_refuses_other_origins() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.cors_allowed_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let reply = preflight(&app, "https://evil.example.com").await;
    // Without Access-Control-Allow-Origin the browser refuses, whatever else is sent.
    assert!(reply.header("access-control-allow-origin").is_none());
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[tokio::test]
async fn without_configured_origins_there_are_no_cors_headers() {
    let app = TestApp::start(Db::Sqlite).await;
    let reply = preflight(&app, "https://app.example.com").await;
    assert_ne!(reply.status, 500);
    assert!(reply
        .headers
        .keys()
        .all(|name| !name.as_str().starts_with("access-control-")));
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = TestApp::start(Db::Sqlite).await;
    let token = app.token("user_ada");
    let big = json!({"title": "big", "body": "x".repeat(140_000)});
    let reply = app.post("/v1/notes", &token, big).await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert_eq!(reply.json["error"], "payload_too_large");

    let app = TestApp::start_with(Db::Sqlite, |c| c.max_body_bytes = 100).await;
    let token = app.token("user_ada");
    let reply = app
        .post("/v1/notes", &token, json!({"title": "x".repeat(150)}))
        .await;
    assert_eq!(reply.status, 413);
}

/// Sends a POST whose body stops halfway; returns the stream and the rest of the body.
async fn stalled_post(app: &TestApp, token: &str) -> (TcpStream, &'static str) {
    let body = r#"{"title":"sent slowly","body":"in two parts"}"#;
    let (first, rest) = body.split_at(10);
    let mut stream = TcpStream::connect(app.server().local_addr()).await.unwrap();
    let head = format!(
        "POST /v1/notes HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{first}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    (stream, rest)
}

async fn read_all(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("the server answers in time")
        .expect("a readable answer");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_request_over_the_timeout_is_503_and_counted_under_its_route() {
    let app = TestApp::start_with(Db::Sqlite, |c| c.request_timeout_ms = 300).await;
    let token = app.token("user_ada");
    let (mut stream, _) = stalled_post(&app, &token).await;
    let answer = read_all(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains(r#""error":"timeout""#), "{answer}");
    assert_eq!(app.get("/v1/notes", &token).await.json["items"], json!([]));
    assert_eq!(in_flight(&app).await, 1.0, "the timed-out request is not");
    // Counted under its route, though its handler never finished.
    let metrics = app.call(Method::GET, "/metrics", None, None).await.text;
    assert_eq!(
        sample(
            &metrics,
            r#"http_requests_total{route="/v1/notes",method="POST",status="503"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
}

/// `http_requests_in_flight` as a scrape sees it: the scrape itself included.
async fn in_flight(app: &TestApp) -> f64 {
    let text = app.call(Method::GET, "/metrics", None, None).await.text;
    sample(&text, "http_requests_in_flight").unwrap_or_else(|| panic!("no gauge in\n{text}"))
}

/// Scrapes until `http_requests_in_flight` is `expected` (the server may not have read a
/// request sent on a raw connection yet); fails after 10 s.
async fn wait_for_in_flight(app: &TestApp, expected: f64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let value = in_flight(app).await;
        if value == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "http_requests_in_flight stays {value}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn in_flight_gauge_counts_requests_until_answered_or_abandoned() {
    let app = TestApp::start(Db::Sqlite).await;
    let token = app.token("user_ada");
    let metrics = app.call(Method::GET, "/metrics", None, None).await.text;
    assert!(metrics.contains(
        "# HELP http_requests_in_flight HTTP requests being handled, this scrape included.\n\
         # TYPE http_requests_in_flight gauge\n\
         http_requests_in_flight 1\n"
    ));
    assert_eq!(
        in_flight(&app).await,
        1.0,
        "an idle server: the scrape only"
    );

    // A POST whose body has not all arrived: its handler waits for the rest.
    let (mut stream, rest) = stalled_post(&app, &token).await;
    wait_for_in_flight(&app, 2.0).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(in_flight(&app).await, 2.0, "still waiting for its body");
    stream.write_all(rest.as_bytes()).await.unwrap();
    let answer = read_all(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(in_flight(&app).await, 1.0, "answered");

    // The client goes away halfway through its body.
    let (stream, _) = stalled_post(&app, &token).await;
    wait_for_in_flight(&app, 2.0).await;
    drop(stream);
    wait_for_in_flight(&app, 1.0).await;
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests() {
    let mut app = TestApp::start(Db::Sqlite).await;
    let token = app.token("user_ada");
    let addr = app.server().local_addr();
    let (mut stream, rest) = stalled_post(&app, &token).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let server = app.server.take().unwrap();
    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!stopping.is_finished(), "waits for the request in flight");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no new connection is accepted"
    );

    stream.write_all(rest.as_bytes()).await.unwrap();
    let answer = read_all(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("shutdown completes")
        .unwrap();
    app.stop().await;
}
