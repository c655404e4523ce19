//! Scenario 2: hostile input against the real binary. Each request gets a 4xx (never a 5xx,
//! never a dropped connection), the process stays up, nothing is written.

use std::time::Instant;

use clerk_emulator::{unix_now, webhook_signature};
use reqwest::StatusCode;

use crate::support::{clerk, client, raw, ServerProcess, WEBHOOK_SECRET};

/// An HTTP/1.1 request with these header lines (each without CRLF) and body.
fn request(method: &[u8], path: &[u8], headers: &[Vec<u8>], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 1024);
    out.extend_from_slice(method);
    out.push(b' ');
    out.extend_from_slice(path);
    out.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for header in headers {
        out.extend_from_slice(header);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn header(name: &str, value: impl AsRef<[u8]>) -> Vec<u8> {
    let mut out = format!("{name}: ").into_bytes();
    out.extend_from_slice(value.as_ref());
    out
}

/// A JSON body with `depth` nested arrays in `extra` (and in `title` when `in_title`).
fn nested(depth: usize, in_title: bool) -> Vec<u8> {
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    if in_title {
        format!(r#"{{"title":{deep},"body":"x"}}"#).into_bytes()
    } else {
        format!(r#"{{"title":"t","body":"x","extra":{deep}}}"#).into_bytes()
    }
}

/// Svix headers signing `body` with the server's secret.
fn signed(body: &[u8], msg_id: &str) -> Vec<Vec<u8>> {
    let timestamp = unix_now();
    let signature = webhook_signature(WEBHOOK_SECRET, msg_id, timestamp, body).unwrap();
    vec![
        header("svix-id", msg_id),
        header("svix-timestamp", timestamp.to_string()),
        header("svix-signature", signature),
        header("content-type", "application/json"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_4xx_and_change_nothing() {
    let started = Instant::now();
    let clerk = clerk().await;
    let mut server = ServerProcess::start(&clerk.jwks_url());
    let client = client();
    let token = clerk.session_token().user("user_bad_input").sign();
    let bearer = format!("Bearer {token}");

    // One note, so "unchanged" is a count of 1.
    let created = client
        .post(server.url("/v1/notes"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "baseline", "body": "kept"}))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    let notes_url = server.url("/v1/notes?limit=100");
    let count = || async {
        let page: serde_json::Value = client
            .get(&notes_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["items"].as_array().expect("a note page").len()
    };
    let before = count().await;
    assert_eq!(before, 1);

    let auth = header("authorization", &bearer);
    let json = header("content-type", "application/json");
    let two_mib = {
        let mut body = br#"{"title":"big","body":""#.to_vec();
        body.resize(2 * 1024 * 1024 - 2, b'a');
        body.extend_from_slice(b"\"}");
        body
    };
    let nine_kib_token = format!(
        "{}.{}.{}",
        "e".repeat(1024),
        "p".repeat(7 * 1024),
        "s".repeat(1024)
    );
    let webhook_nested = nested(10_000, false);

    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "64 KiB Authorization header",
            request(
                b"GET",
                b"/protected",
                &[header(
                    "authorization",
                    format!("Bearer {}", "a".repeat(64 * 1024)),
                )],
                b"",
            ),
        ),
        (
            "1 MiB cookie",
            request(
                b"GET",
                b"/protected",
                &[header(
                    "cookie",
                    format!("__session={}", "c".repeat(1024 * 1024)),
                )],
                b"",
            ),
        ),
        (
            "9 KiB token",
            request(
                b"GET",
                b"/protected",
                &[header("authorization", format!("Bearer {nine_kib_token}"))],
                b"",
            ),
        ),
        (
            "9 KiB token on POST /v1/notes",
            request(
                b"POST",
                b"/v1/notes",
                &[
                    header("authorization", format!("Bearer {nine_kib_token}")),
                    json.clone(),
                    header("content-length", "27"),
                ],
                br#"{"title":"t","body":"nine"}"#,
            ),
        ),
        (
            "2 MiB body on POST /v1/notes (Content-Length)",
            request(
                b"POST",
                b"/v1/notes",
                &[
                    auth.clone(),
                    json.clone(),
                    header("content-length", two_mib.len().to_string()),
                ],
                &two_mib,
            ),
        ),
        ("2 MiB body on POST /v1/notes (chunked)", {
            let mut body = format!("{:x}\r\n", two_mib.len()).into_bytes();
            body.extend_from_slice(&two_mib);
            body.extend_from_slice(b"\r\n0\r\n\r\n");
            request(
                b"POST",
                b"/v1/notes",
                &[
                    auth.clone(),
                    json.clone(),
                    header("transfer-encoding", "chunked"),
                ],
                &body,
            )
        }),
        ("2 MiB body on POST /webhooks/clerk (signed)", {
            let mut headers = signed(&two_mib, "msg_big");
            headers.push(header("content-length", two_mib.len().to_string()));
            request(b"POST", b"/webhooks/clerk", &headers, &two_mib)
        }),
        (
            "JSON nested 10,000 deep in a note (extra field)",
            request(
                b"POST",
                b"/v1/notes",
                &[
                    auth.clone(),
                    json.clone(),
                    header("content-length", nested(10_000, false).len().to_string()),
                ],
                &nested(10_000, false),
            ),
        ),
        (
            "JSON nested 10,000 deep in a note (title)",
            request(
                b"POST",
                b"/v1/notes",
                &[
                    auth.clone(),
                    json.clone(),
                    header("content-length", nested(10_000, true).len().to_string()),
                ],
                &nested(10_000, true),
            ),
        ),
        ("JSON nested 10,000 deep in a signed webhook", {
            let mut headers = signed(&webhook_nested, "msg_nested");
            headers.push(header("content-length", webhook_nested.len().to_string()));
            request(b"POST", b"/webhooks/clerk", &headers, &webhook_nested)
        }),
        ("JSON nested 10,000 deep in an unsigned webhook", {
            request(
                b"POST",
                b"/webhooks/clerk",
                &[
                    json.clone(),
                    header("content-length", webhook_nested.len().to_string()),
                ],
                &webhook_nested,
            )
        }),
        (
            "non-UTF-8 bytes in the Authorization header",
            request(
                b"GET",
                b"/protected",
                &[header("authorization", b"Bearer \xff\xfe\xfd\x80")],
                b"",
            ),
        ),
        (
            "non-UTF-8 bytes in the cookie",
            request(
                b"GET",
                b"/v1/me",
                &[header("cookie", b"__session=\xc3\x28\xa0\xa1")],
                b"",
            ),
        ),
        (
            "non-UTF-8 bytes in a header name",
            request(b"GET", b"/healthz", &[b"x-\xff\xfe: 1".to_vec()], b""),
        ),
        (
            "non-UTF-8 bytes in the path",
            request(
                b"GET",
                b"/v1/notes/\xff\xfe",
                std::slice::from_ref(&auth),
                b"",
            ),
        ),
        (
            "unknown method",
            request(b"BREW", b"/v1/notes", std::slice::from_ref(&auth), b""),
        ),
        (
            "DELETE on /healthz",
            request(b"DELETE", b"/healthz", &[], b""),
        ),
        (
            "path traversal",
            request(b"GET", b"/../../../etc/passwd", &[], b""),
        ),
        (
            "percent-encoded garbage path",
            request(
                b"GET",
                b"/v1/notes/%00%ff%zz",
                std::slice::from_ref(&auth),
                b"",
            ),
        ),
        (
            "100 KiB path",
            request(
                b"GET",
                format!("/{}", "a".repeat(100 * 1024)).as_bytes(),
                &[],
                b"",
            ),
        ),
        (
            "not HTTP at all",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec(),
        ),
        (
            "negative Content-Length",
            request(
                b"POST",
                b"/v1/notes",
                &[auth.clone(), json.clone(), header("content-length", "-1")],
                b"{}",
            ),
        ),
        (
            "conflicting Content-Length",
            request(
                b"POST",
                b"/v1/notes",
                &[
                    auth.clone(),
                    json.clone(),
                    header("content-length", "2"),
                    header("content-length", "40"),
                ],
                b"{}",
            ),
        ),
        (
            "a note that is not JSON",
            request(
                b"POST",
                b"/v1/notes",
                &[auth.clone(), json.clone(), header("content-length", "5")],
                b"\xff\xfe{[\"",
            ),
        ),
    ];
    // Tokens in 10,000 headers would be a header-count attack: also refused.
    cases.push((
        "10,000 headers",
        request(
            b"GET",
            b"/healthz",
            &(0..10_000)
                .map(|i| header(&format!("x-h{i}"), "1"))
                .collect::<Vec<_>>(),
            b"",
        ),
    ));

    let mut sent = 0u64;
    let mut statuses = Vec::new();
    for (name, bytes) in cases {
        let answer = raw(server.addr, bytes).await;
        sent += 1;
        let status = answer.unwrap_or_else(|e| panic!("{name}: no answer: {e}"));
        assert!(
            (400..500).contains(&status),
            "{name}: expected a 4xx, got {status}"
        );
        statuses.push(format!("{name}={status}"));
        assert!(server.alive(), "{name}: the server died");
        let health = client.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK, "{name}: /healthz after");
    }
    let after = count().await;
    assert_eq!(after, before, "a hostile request wrote a note");
    let (_, ready) = server.readyz(&client).await;
    assert_eq!(ready["status"], "ok", "{ready}");
    println!(
        "figures: scenario=bad-input requests={sent} answered_4xx={sent} 5xx=0 failed=0 \
         notes_before={before} notes_after={after} jwks_fetches={} duration_ms={}",
        clerk.jwks_requests(),
        started.elapsed().as_millis()
    );
    println!("statuses: {}", statuses.join(", "));
}
