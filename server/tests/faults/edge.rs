//! Step 6, the edge: the real binary against clients no well-behaved library would be, over
//! raw TCP: silent and trickling connections (slow-loris), idle keep-alive connections, huge
//! heads, bodies declared too large, two `Authorization` headers, more connections than
//! `MAX_CONNECTIONS`, and thousands of idle connections beside a valid request. Short limits
//! are set through the variables, so the tests stay fast; each prints a `figures:` line.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{clerk, ServerProcess, QUIET_LOG};

/// The server with these limits (and a quiet log).
async fn server(env: &[(&str, &str)]) -> (clerk_emulator::EmulatorServer, ServerProcess) {
    let clerk = clerk().await;
    let mut env = env.to_vec();
    env.push(("RUST_LOG", QUIET_LOG));
    let server = ServerProcess::start_with(&clerk.jwks_url(), &env);
    (clerk, server)
}

/// Reads until the peer closes (or `limit` passes); what was read, and when it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Option<Duration>) {
    let started = Instant::now();
    let mut read = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (read, Some(started.elapsed())),
            Ok(Ok(n)) => read.extend_from_slice(&buf[..n]),
            Err(_) => return (read, None),
        }
    }
}

/// Reads one response head (up to the blank line), within 5 s.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(5), async {
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
    })
    .await
    .expect("a response head within 5 s");
    String::from_utf8_lossy(&head).into_owned()
}

/// Reads one whole `Content-Length` response; its head.
async fn read_response(stream: &mut TcpStream) -> String {
    let head = read_head(stream).await;
    let length: usize = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.expect("the body");
    head
}

fn get(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n{extra}\r\n").into_bytes()
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_read_timeout() {
    let (_clerk, server) = server(&[("HEADER_READ_TIMEOUT_MS", "400")]).await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let (read, closed) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    let closed = closed.expect("a silent connection is closed");
    assert!(read.is_empty(), "{:?}", String::from_utf8_lossy(&read));
    assert!(
        closed >= Duration::from_millis(350),
        "closed after {closed:?}"
    );
    assert!(closed < Duration::from_secs(2), "closed after {closed:?}");
    println!(
        "figures: scenario=silent header_read_timeout_ms=400 closed_after_ms={}",
        closed.as_millis()
    );
}

#[tokio::test]
async fn a_trickled_head_is_closed_after_the_header_read_timeout_even_on_a_kept_alive_connection() {
    let (_clerk, server) = server(&[
        ("HEADER_READ_TIMEOUT_MS", "400"),
        ("KEEPALIVE_TIMEOUT_MS", "5000"),
    ])
    .await;
    // On a new connection: the request line, then one header byte every 100 ms.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nx-slow: ")
        .await
        .unwrap();
    let mut first = None;
    while started.elapsed() < Duration::from_secs(5) {
        if stream.write_all(b"a").await.is_err() {
            break;
        }
        let (_, closed) = read_until_closed(&mut stream, Duration::from_millis(100)).await;
        if closed.is_some() {
            first = Some(started.elapsed());
            break;
        }
    }
    let first = first.expect("a trickled head is cut off");
    assert!(first < Duration::from_millis(1500), "{first:?}");

    // On a kept-alive connection: a request, an idle second (longer than the header timeout,
    // shorter than the keep-alive one), then a trickled head, timed from its first byte.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&get("/healthz", "")).await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let first_byte = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nx-slow: ")
        .await
        .unwrap();
    let mut second = None;
    while first_byte.elapsed() < Duration::from_secs(5) {
        if stream.write_all(b"a").await.is_err() {
            break;
        }
        let (_, closed) = read_until_closed(&mut stream, Duration::from_millis(100)).await;
        if closed.is_some() {
            second = Some(first_byte.elapsed());
            break;
        }
    }
    let second = second.expect("a trickled second head is cut off");
    assert!(
        second >= Duration::from_millis(350) && second < Duration::from_millis(1500),
        "{second:?}"
    );
    println!(
        "figures: scenario=trickle header_read_timeout_ms=400 first_request_closed_after_ms={} \
         after_idle_closed_after_first_byte_ms={}",
        first.as_millis(),
        second.as_millis()
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_lives_until_the_keepalive_timeout_not_the_header_timeout() {
    let (_clerk, server) = server(&[
        ("HEADER_READ_TIMEOUT_MS", "300"),
        ("KEEPALIVE_TIMEOUT_MS", "1500"),
    ])
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&get("/healthz", "")).await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    let idle = Instant::now();
    // Open well past the header timeout: a second request on it is served.
    tokio::time::sleep(Duration::from_millis(800)).await;
    stream.write_all(&get("/healthz", "")).await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    let idle_again = Instant::now();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let closed = closed.expect("an idle connection is closed");
    assert!(
        closed >= Duration::from_millis(1400) && closed < Duration::from_millis(3000),
        "{closed:?}"
    );
    println!(
        "figures: scenario=keep-alive header_read_timeout_ms=300 keepalive_timeout_ms=1500 \
         served_after_idle_ms={} closed_after_idle_ms={}",
        (idle_again - idle).as_millis(),
        closed.as_millis()
    );
}

#[tokio::test]
async fn a_head_over_max_header_bytes_is_431_and_the_connection_closed() {
    let (_clerk, server) = server(&[("MAX_HEADER_BYTES", "8192")]).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let huge = format!("x-huge: {}\r\n", "a".repeat(100 * 1024));
    let _ = stream.write_all(&get("/healthz", &huge)).await;
    let (read, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let read = String::from_utf8_lossy(&read);
    assert!(read.starts_with("HTTP/1.1 431"), "{read}");
    assert!(closed.is_some(), "the connection is closed");
    // A head within the limit is served.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let fine = format!("x-fine: {}\r\n", "a".repeat(6 * 1024));
    stream.write_all(&get("/healthz", &fine)).await.unwrap();
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_declared_content_length_over_the_limit_is_413_at_once_without_100_continue() {
    let (clerk, server) = server(&[("MAX_BODY_BYTES", "65536")]).await;
    let token = clerk.session_token().user("user_edge").sign();
    let mut figures = Vec::new();
    for (path, auth) in [
        ("/v1/notes", format!("authorization: Bearer {token}\r\n")),
        ("/webhooks/clerk", String::new()),
    ] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let started = Instant::now();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: localhost\r\n{auth}content-type: application/json\r\n\
             expect: 100-continue\r\ncontent-length: 10000000000\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let answer = read_head(&mut stream).await;
        let latency = started.elapsed();
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        assert!(!answer.contains("100 Continue"), "{path}: {answer}");
        assert!(latency < Duration::from_secs(1), "{path}: {latency:?}");
        figures.push(format!("{path}={}us", latency.as_micros()));
    }
    println!("figures: scenario=content-length-413 {}", figures.join(" "));
}

#[tokio::test]
async fn two_authorization_headers_are_401_even_when_the_first_is_valid() {
    let (clerk, server) = server(&[]).await;
    let token = clerk.session_token().user("user_edge").sign();
    let forged = clerk
        .session_token()
        .user("user_admin")
        .signature_bytes(vec![1u8; 256])
        .sign();
    for pair in [
        (token.as_str(), forged.as_str()),
        (forged.as_str(), token.as_str()),
        (token.as_str(), token.as_str()),
    ] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let extra = format!(
            "authorization: Bearer {}\r\nauthorization: Bearer {}\r\n",
            pair.0, pair.1
        );
        stream.write_all(&get("/protected", &extra)).await.unwrap();
        let head = read_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    }
    // The reason, through a client.
    let reply = reqwest::Client::new()
        .get(server.url("/protected"))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {forged}"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["reason"], "multiple-authorization-headers");
}

#[tokio::test]
async fn beyond_max_connections_new_connections_wait_while_existing_ones_are_served() {
    let (_clerk, server) = server(&[
        ("MAX_CONNECTIONS", "20"),
        ("HEADER_READ_TIMEOUT_MS", "30000"),
    ])
    .await;
    // Twenty connections, each having made a request: the server holds them, idle.
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(&get("/healthz", "")).await.unwrap();
        assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    // The 21st is accepted by the kernel, not by the server: no answer.
    let mut waiting = TcpStream::connect(server.addr).await.unwrap();
    waiting.write_all(&get("/healthz", "")).await.unwrap();
    let (read, _) = read_until_closed(&mut waiting, Duration::from_millis(500)).await;
    assert!(
        read.is_empty(),
        "served beyond MAX_CONNECTIONS: {}",
        String::from_utf8_lossy(&read)
    );
    // The held ones are still served.
    held[0].write_all(&get("/healthz", "")).await.unwrap();
    assert!(read_response(&mut held[0])
        .await
        .starts_with("HTTP/1.1 200"));
    // One closes: the waiting one is served.
    let started = Instant::now();
    drop(held.pop());
    let head = read_head(&mut waiting).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    println!(
        "figures: scenario=max-connections max_connections=20 waiting_served_after_a_close_ms={}",
        started.elapsed().as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_idle_connections_do_not_stop_a_valid_request() {
    const IDLE: usize = 3000;
    // The test holds as many sockets as the server does.
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    assert!(
        limit as usize > IDLE + 200,
        "the open-file limit ({limit}) is too low for this test"
    );
    let (clerk, server) = server(&[("HEADER_READ_TIMEOUT_MS", "60000")]).await;
    let mut idle = Vec::with_capacity(IDLE);
    let connecting = Instant::now();
    for _ in 0..IDLE / 100 {
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..100 {
            batch.spawn(TcpStream::connect(server.addr));
        }
        while let Some(stream) = batch.join_next().await {
            idle.push(stream.unwrap().unwrap());
        }
    }
    let connected_in = connecting.elapsed();
    // Let the server accept them all.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let token = clerk.session_token().user("user_edge").sign();
    let client = reqwest::Client::new();
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let reply = client
            .get(server.url("/protected"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let (rss, _) = server.rss_kib();
    println!(
        "figures: scenario=idle-connections idle={IDLE} connected_in_ms={} protected_p50_ms={:.2} \
         protected_max_ms={:.2} rss_mib={}",
        connected_in.as_millis(),
        latencies[10].as_secs_f64() * 1000.0,
        latencies[19].as_secs_f64() * 1000.0,
        rss / 1024
    );
    assert!(latencies[19] < Duration::from_secs(1), "{latencies:?}");
    drop(idle);
}
