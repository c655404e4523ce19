//! Step 10, HTTP/2 cleartext beside HTTP/1.1 on the server's port: the real binary against a
//! well-behaved client (reqwest with prior knowledge) and against hostile ones written with
//! the `h2` crate as a raw client: more streams than `HTTP2_MAX_CONCURRENT_STREAMS`, a header
//! list over `MAX_HEADER_BYTES`, a silent or trickled preface, an idle connection, and a
//! rapid-reset flood (CVE-2023-44487) beside valid traffic, with the server's memory read from
//! `/proc`. Short limits are set through the variables, so the tests stay fast; each prints a
//! `figures:` line.

use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use h2::Reason;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::support::{clerk, ServerProcess, QUIET_LOG};

/// The server with these limits (and a quiet log).
async fn server(env: &[(&str, &str)]) -> (clerk_emulator::EmulatorServer, ServerProcess) {
    let clerk = clerk().await;
    let mut env = env.to_vec();
    env.push(("RUST_LOG", QUIET_LOG));
    let server = ServerProcess::start_with(&clerk.jwks_url(), &env);
    (clerk, server)
}

/// HTTP/2's connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty `SETTINGS` frame (length 0, type 4, no flags, stream 0).
const EMPTY_SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

/// A raw HTTP/2 client connection: its handle, and the task driving it (which ends with the
/// connection: `Ok` when the server closed it after a `GOAWAY` without error).
async fn h2_connect(
    addr: std::net::SocketAddr,
) -> (SendRequest<Bytes>, JoinHandle<Result<(), h2::Error>>) {
    let (send, connection) = h2_handshake(addr).await;
    (send, tokio::spawn(connection))
}

/// The same, the connection not yet driven: frames queue until it is spawned.
async fn h2_handshake(
    addr: std::net::SocketAddr,
) -> (SendRequest<Bytes>, h2::client::Connection<TcpStream, Bytes>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    h2::client::handshake(tcp)
        .await
        .expect("an HTTP/2 handshake")
}

fn request(method: &str, addr: std::net::SocketAddr, path: &str) -> http::request::Builder {
    http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
}

/// Sends a GET and reads the whole answer: its status.
async fn h2_get(send: &mut SendRequest<Bytes>, addr: std::net::SocketAddr, path: &str) -> u16 {
    let mut ready = send
        .clone()
        .ready()
        .await
        .expect("the connection takes a stream");
    let (response, _) = ready
        .send_request(request("GET", addr, path).body(()).unwrap(), true)
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), response)
        .await
        .expect("an answer within 5 s")
        .expect("an answer");
    let status = response.status().as_u16();
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    status
}

fn h2_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn h1_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Reads until the peer closes (or `limit` passes); when it closed.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 8192];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn http2_with_prior_knowledge_and_http1_are_served_on_one_port() {
    let (clerk, server) = server(&[]).await;
    let token = clerk.session_token().user("user_h2").sign();
    let h2 = h2_client();
    let h1 = h1_client();
    for (client, version) in [(&h2, http::Version::HTTP_2), (&h1, http::Version::HTTP_11)] {
        let health = client.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        assert_eq!(health.version(), version);
        let protected = client
            .get(server.url("/protected"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(protected.status(), 200, "{version:?}");
        assert_eq!(protected.version(), version);
        let refused = client.get(server.url("/protected")).send().await.unwrap();
        assert_eq!(refused.status(), 401, "{version:?}");
        // A body, read by the application.
        let created = client
            .post(server.url("/v1/notes"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"title": format!("{version:?}"), "body": "b"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201, "{version:?}");
        assert_eq!(created.version(), version);
    }
}

#[tokio::test]
async fn an_upgrade_to_h2c_is_answered_over_http1_and_the_connection_stays_http1() {
    let (_clerk, server) = server(&[]).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // curl's `--http2` request for an http:// URL (RFC 7540 §3.2).
    let upgrade = b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\
        connection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\n\
        http2-settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
    stream.write_all(upgrade).await.unwrap();
    let first = read_http1_response(&mut stream).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(!first.to_ascii_lowercase().contains("upgrade"), "{first}");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let second = read_http1_response(&mut stream).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
}

/// Reads one `Content-Length` HTTP/1.1 response: its head.
async fn read_http1_response(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(5), async {
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed mid-head");
            head.push(byte[0]);
        }
    })
    .await
    .expect("a response head within 5 s");
    let head = String::from_utf8_lossy(&head).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    head
}

/// A header block of literal fields (HPACK, RFC 7541 §6.2.2: without indexing, new name, no
/// Huffman coding), so that the decoder's table is never touched.
fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    fn integer(out: &mut Vec<u8>, mut n: usize) {
        // A 7-bit prefix, the string length's.
        if n < 127 {
            out.push(n as u8);
            return;
        }
        out.push(127);
        n -= 127;
        while n >= 128 {
            out.push((n % 128) as u8 | 0x80);
            n /= 128;
        }
        out.push(n as u8);
    }
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0x00);
        integer(&mut block, name.len());
        block.extend_from_slice(name.as_bytes());
        integer(&mut block, value.len());
        block.extend_from_slice(value.as_bytes());
    }
    block
}

/// An HTTP/2 frame: its 9-byte header, then `payload`.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut frame = vec![length[1], length[2], length[3], kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// Reads one frame: type, flags, stream, payload.
async fn read_frame(stream: &mut TcpStream) -> (u8, u8, u32, Vec<u8>) {
    let mut head = [0u8; 9];
    stream.read_exact(&mut head).await.expect("a frame");
    let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await.expect("a payload");
    (head[3], head[4], id, payload)
}

const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const GOAWAY: u8 = 7;
/// `REFUSED_STREAM`'s code.
const REFUSED: u32 = 7;

#[tokio::test]
async fn beyond_http2_max_concurrent_streams_new_streams_are_refused_and_the_open_ones_served() {
    const LIMIT: usize = 8;
    const OPENED: u32 = 20;
    let (clerk, server) = server(&[("HTTP2_MAX_CONCURRENT_STREAMS", "8")]).await;
    let token = clerk.session_token().user("user_h2_streams").sign();
    // A client no library would be: it acknowledges the server's SETTINGS
    // (MAX_CONCURRENT_STREAMS 8), then opens twenty streams anyway, each a note whose body
    // has not come yet, so that each stays open.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(PREFACE).await.unwrap();
    stream.write_all(&EMPTY_SETTINGS).await.unwrap();
    loop {
        let (kind, flags, _, _) = read_frame(&mut stream).await;
        if kind == SETTINGS && flags & 1 == 0 {
            break;
        }
    }
    stream.write_all(&frame(SETTINGS, 1, 0, &[])).await.unwrap();
    let authority = server.addr.to_string();
    let bearer = format!("Bearer {token}");
    let block = header_block(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", &authority),
        (":path", "/v1/notes"),
        ("authorization", &bearer),
        ("content-type", "application/json"),
    ]);
    let mut burst = Vec::new();
    for n in 0..OPENED {
        // END_HEADERS, not END_STREAM.
        burst.extend(frame(HEADERS, 0x4, 1 + 2 * n, &block));
    }
    stream.write_all(&burst).await.unwrap();
    // Refusals come at once; the open streams wait for their bodies.
    let mut refused = Vec::new();
    while let Ok(read) =
        tokio::time::timeout(Duration::from_millis(500), read_frame(&mut stream)).await
    {
        let (kind, _, id, payload) = read;
        assert_ne!(kind, GOAWAY, "the connection was ended");
        if kind == RST_STREAM {
            assert_eq!(
                u32::from_be_bytes(payload[..4].try_into().unwrap()),
                REFUSED
            );
            refused.push(id);
        }
        assert_ne!(kind, HEADERS, "a stream without its body was answered");
    }
    refused.sort();
    let expected: Vec<u32> = (LIMIT as u32..OPENED).map(|n| 1 + 2 * n).collect();
    assert_eq!(
        refused, expected,
        "the streams beyond the first eight are refused"
    );
    // The open ones get their bodies, and are answered.
    let started = Instant::now();
    let note = br#"{"title":"stream","body":"b"}"#;
    for n in 0..LIMIT as u32 {
        // DATA with END_STREAM.
        stream
            .write_all(&frame(0, 0x1, 1 + 2 * n, note))
            .await
            .unwrap();
    }
    let mut answered = std::collections::BTreeSet::new();
    while answered.len() < LIMIT {
        let (kind, _, id, _) =
            tokio::time::timeout(Duration::from_secs(5), read_frame(&mut stream))
                .await
                .expect("the open streams are answered within 5 s");
        assert_ne!(kind, GOAWAY);
        assert_ne!(kind, RST_STREAM, "stream {id} was reset");
        if kind == HEADERS {
            answered.insert(id);
        }
    }
    let answered_in = started.elapsed();
    // Each was served: eight notes.
    let page: serde_json::Value = h1_client()
        .get(server.url("/v1/notes?limit=100"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["items"].as_array().map(Vec::len),
        Some(LIMIT),
        "{page}"
    );
    // The connection goes on: a new stream on it is answered.
    let healthz = header_block(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", &authority),
        (":path", "/healthz"),
    ]);
    stream
        .write_all(&frame(HEADERS, 0x5, 1 + 2 * OPENED, &healthz))
        .await
        .unwrap();
    loop {
        let (kind, _, id, _) =
            tokio::time::timeout(Duration::from_secs(5), read_frame(&mut stream))
                .await
                .expect("an answer");
        assert_ne!(kind, GOAWAY);
        if kind == HEADERS && id == 1 + 2 * OPENED {
            break;
        }
    }
    println!(
        "figures: scenario=h2-concurrent-streams http2_max_concurrent_streams={LIMIT} opened={OPENED} \
         refused={} served={LIMIT} open_ones_answered_in_ms={}",
        refused.len(),
        answered_in.as_millis()
    );
}

#[tokio::test]
async fn an_http2_header_list_over_max_header_bytes_is_431_and_the_connection_goes_on() {
    let (_clerk, server) = server(&[("MAX_HEADER_BYTES", "8192")]).await;
    let (mut send, driver) = h2_connect(server.addr).await;
    // Over the limit: 431 on the stream.
    let mut ready = send.clone().ready().await.unwrap();
    let big = request("GET", server.addr, "/healthz")
        .header("x-big", "a".repeat(16 * 1024))
        .body(())
        .unwrap();
    let (response, _) = ready.send_request(big, true).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), response)
        .await
        .expect("an answer within 5 s");
    match answer {
        Ok(answer) => assert_eq!(answer.status(), 431),
        Err(err) => panic!("no 431 but {err}"),
    }
    // The same connection serves a request within the limit.
    let fine = request("GET", server.addr, "/healthz")
        .header("x-fine", "a".repeat(6 * 1024))
        .body(())
        .unwrap();
    let mut ready = send.clone().ready().await.unwrap();
    let (response, _) = ready.send_request(fine, true).unwrap();
    assert_eq!(response.await.unwrap().status(), 200);
    assert_eq!(h2_get(&mut send, server.addr, "/healthz").await, 200);
    assert!(!driver.is_finished());

    // A header list far over any limit (1 MiB): the connection is closed with an error, and
    // the server serves the next one.
    let (send, driver) = h2_connect(server.addr).await;
    let mut ready = send.ready().await.unwrap();
    let huge = request("GET", server.addr, "/healthz")
        .header("x-huge", "a".repeat(1024 * 1024))
        .body(())
        .unwrap();
    let (response, _) = ready.send_request(huge, true).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), response)
        .await
        .expect("an answer or an error within 5 s");
    match answer {
        Ok(answer) => assert_eq!(answer.status(), 431),
        Err(err) => assert!(err.is_go_away() || err.is_io(), "{err}"),
    }
    let ended = tokio::time::timeout(Duration::from_secs(5), driver).await;
    let reason = match &ended {
        Ok(Ok(Err(err))) => format!("{err}"),
        other => format!("{other:?}"),
    };
    let (mut send, _driver) = h2_connect(server.addr).await;
    assert_eq!(h2_get(&mut send, server.addr, "/healthz").await, 200);
    println!("figures: scenario=h2-header-list max_header_bytes=8192 16KiB=431 1MiB_connection_end={reason:?}");
}

#[tokio::test]
async fn a_silent_or_trickled_http2_preface_is_closed_after_the_header_read_timeout() {
    let (_clerk, server) = server(&[("HEADER_READ_TIMEOUT_MS", "400")]).await;
    // The preface and SETTINGS, then nothing: no request within the timeout.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    silent.write_all(PREFACE).await.unwrap();
    silent.write_all(&EMPTY_SETTINGS).await.unwrap();
    let after_settings = closed_within(&mut silent, Duration::from_secs(5))
        .await
        .expect("closed");
    assert!(
        after_settings >= Duration::from_millis(350) && after_settings < Duration::from_secs(2),
        "{after_settings:?}"
    );
    // The preface one byte every 50 ms: cut off at the timeout.
    let mut trickle = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let mut cut = None;
    for byte in PREFACE.iter().chain(EMPTY_SETTINGS.iter()).cycle() {
        if trickle.write_all(&[*byte]).await.is_err() {
            cut = Some(started.elapsed());
            break;
        }
        if closed_within(&mut trickle, Duration::from_millis(50))
            .await
            .is_some()
        {
            cut = Some(started.elapsed());
            break;
        }
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    let cut = cut.expect("a trickled preface is cut off");
    assert!(
        cut >= Duration::from_millis(350) && cut < Duration::from_millis(1500),
        "{cut:?}"
    );
    println!(
        "figures: scenario=h2-preface header_read_timeout_ms=400 silent_after_settings_closed_after_ms={} \
         trickled_closed_after_ms={}",
        after_settings.as_millis(),
        cut.as_millis()
    );
}

#[tokio::test]
async fn an_idle_http2_connection_is_sent_goaway_and_closed_after_the_keepalive_timeout() {
    let (_clerk, server) = server(&[
        ("HEADER_READ_TIMEOUT_MS", "300"),
        ("KEEPALIVE_TIMEOUT_MS", "1500"),
    ])
    .await;
    let (mut send, driver) = h2_connect(server.addr).await;
    assert_eq!(h2_get(&mut send, server.addr, "/healthz").await, 200);
    // Idle well past the header timeout: a request on it is still served.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(h2_get(&mut send, server.addr, "/healthz").await, 200);
    let idle = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(5), driver)
        .await
        .expect("an idle connection is closed")
        .unwrap();
    let closed = idle.elapsed();
    // A GOAWAY without error, then the close: the client's connection ends cleanly.
    assert!(ended.is_ok(), "{ended:?}");
    assert!(
        closed >= Duration::from_millis(1400) && closed < Duration::from_millis(3000),
        "{closed:?}"
    );
    // The client knows not to use it: a new stream is refused locally.
    assert!(send.ready().await.is_err());
    println!(
        "figures: scenario=h2-keep-alive header_read_timeout_ms=300 keepalive_timeout_ms=1500 \
         served_after_idle_ms=800 goaway_and_close_after_idle_ms={}",
        closed.as_millis()
    );
}

/// What a rapid-reset flood did.
#[derive(Debug, Default)]
struct Flood {
    /// Streams opened and reset at once.
    streams: u64,
    /// Connections it took.
    connections: u64,
    /// Connections the server told to go away with `ENHANCE_YOUR_CALM`.
    calmed: u64,
}

/// Opens streams and resets each at once (HEADERS then RST_STREAM CANCEL), as fast as the
/// client can, for `length`; on a new connection whenever the server ends one.
async fn rapid_reset(addr: std::net::SocketAddr, length: Duration) -> Flood {
    let mut flood = Flood::default();
    let started = Instant::now();
    while started.elapsed() < length {
        let Ok(tcp) = TcpStream::connect(addr).await else {
            continue;
        };
        let Ok((send, connection)) = h2::client::handshake(tcp).await else {
            continue;
        };
        flood.connections += 1;
        let driver = tokio::spawn(connection);
        loop {
            if started.elapsed() >= length {
                break;
            }
            let Ok(mut ready) = send.clone().ready().await else {
                break;
            };
            let healthz = request("GET", addr, "/healthz").body(()).unwrap();
            match ready.send_request(healthz, true) {
                Ok((response, mut stream)) => {
                    stream.send_reset(Reason::CANCEL);
                    drop(response);
                    flood.streams += 1;
                }
                Err(_) => break,
            }
            if flood.streams % 64 == 0 {
                tokio::task::yield_now().await;
            }
        }
        drop(send);
        match tokio::time::timeout(Duration::from_secs(2), driver).await {
            Ok(Ok(Err(err))) if err.reason() == Some(Reason::ENHANCE_YOUR_CALM) => {
                flood.calmed += 1;
            }
            Ok(_) => {}
            Err(_) => {}
        }
    }
    flood
}

/// A rapid-reset flood for `length` beside a valid request every 10 ms over HTTP/2 and over
/// HTTP/1.1: the flood's figures, the valid latencies, RSS before, after and at its peak.
async fn rapid_reset_beside_valid_traffic(length: Duration) {
    let (clerk, server) = server(&[]).await;
    let token = clerk.session_token().user("user_h2_flood").sign();
    let h2 = h2_client();
    let h1 = h1_client();
    // Warm up both protocols (and the allocator) before the first reading.
    for _ in 0..50 {
        for client in [&h2, &h1] {
            let reply = client
                .get(server.url("/protected"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200);
        }
    }
    let (rss_before, _) = server.rss_kib();
    let flooding = tokio::spawn(rapid_reset(server.addr, length));
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut failed = Vec::new();
    while started.elapsed() < length {
        for client in [&h2, &h1] {
            let sent = Instant::now();
            match client
                .get(server.url("/protected"))
                .bearer_auth(&token)
                .send()
                .await
            {
                Ok(reply) if reply.status() == 200 => latencies.push(sent.elapsed()),
                Ok(reply) => failed.push(format!("{}", reply.status())),
                Err(err) => failed.push(format!("{err}")),
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let flood = flooding.await.unwrap();
    let (rss_after, rss_peak) = server.rss_kib();
    // Still serving after the flood.
    let mut send = h2_connect(server.addr).await.0;
    assert_eq!(h2_get(&mut send, server.addr, "/healthz").await, 200);
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    println!(
        "figures: scenario=h2-rapid-reset seconds={} streams_reset={} per_second={:.0} \
         connections={} enhance_your_calm={} valid_ok={} valid_failed={} valid_p50_ms={:.2} \
         valid_p99_ms={:.2} valid_max_ms={:.2} rss_before_mib={:.1} rss_after_mib={:.1} \
         rss_peak_mib={:.1}",
        length.as_secs(),
        flood.streams,
        flood.streams as f64 / length.as_secs_f64(),
        flood.connections,
        flood.calmed,
        latencies.len(),
        failed.len(),
        p(0.5),
        p(0.99),
        p(1.0),
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        rss_peak as f64 / 1024.0,
    );
    assert!(failed.is_empty(), "valid requests failed: {failed:?}");
    assert!(flood.streams > 1000, "{flood:?}");
    assert!(
        flood.calmed > 0,
        "no connection was told to go away: {flood:?}"
    );
    assert!(
        rss_peak < rss_before + 32 * 1024,
        "RSS {rss_before} KiB before, peak {rss_peak} KiB"
    );
    assert!(latencies[latencies.len() - 1] < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rapid_reset_flood_is_told_to_go_away_memory_stays_bounded_and_others_are_served() {
    rapid_reset_beside_valid_traffic(Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "30 s; run with --run-ignored only (an optimised build)"]
async fn long_rapid_reset_flood_for_30_s() {
    rapid_reset_beside_valid_traffic(Duration::from_secs(30)).await;
}

#[tokio::test]
async fn max_connections_counts_http2_connections_with_http1_ones() {
    let (_clerk, server) = server(&[
        ("MAX_CONNECTIONS", "4"),
        ("HEADER_READ_TIMEOUT_MS", "30000"),
    ])
    .await;
    // Two HTTP/1.1 and two HTTP/2 connections, each having made a request, held.
    let mut held_h1 = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
            .await
            .unwrap();
        assert!(read_http1_response(&mut stream)
            .await
            .starts_with("HTTP/1.1 200"));
        held_h1.push(stream);
    }
    let mut held_h2 = Vec::new();
    for _ in 0..2 {
        let (mut send, driver) = h2_connect(server.addr).await;
        assert_eq!(h2_get(&mut send, server.addr, "/healthz").await, 200);
        held_h2.push((send, driver));
    }
    // A fifth, HTTP/2, waits in the backlog: no answer.
    let (send, waiting_driver) = h2_connect(server.addr).await;
    let mut ready = send.clone().ready().await.unwrap();
    let (waiting, _) = ready
        .send_request(
            request("GET", server.addr, "/healthz").body(()).unwrap(),
            true,
        )
        .unwrap();
    let mut waiting = Box::pin(waiting);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), waiting.as_mut())
            .await
            .is_err(),
        "served beyond MAX_CONNECTIONS"
    );
    // An HTTP/2 one closes: the waiting one is served.
    let started = Instant::now();
    let (closing, driver) = held_h2.pop().unwrap();
    drop(closing);
    driver.abort();
    let answer = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(!waiting_driver.is_finished());
    println!(
        "figures: scenario=h2-max-connections max_connections=4 held_http1=2 held_http2=2 \
         waiting_http2_served_after_a_close_ms={}",
        started.elapsed().as_millis()
    );
}

#[tokio::test]
async fn sigterm_lets_an_http2_stream_in_flight_finish_then_the_connection_goes_away() {
    let (clerk, mut server) = server(&[]).await;
    let token = clerk.session_token().user("user_h2_sigterm").sign();
    let (send, driver) = h2_connect(server.addr).await;
    let mut ready = send.clone().ready().await.unwrap();
    let note = request("POST", server.addr, "/v1/notes")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(())
        .unwrap();
    let (response, mut body) = ready.send_request(note, false).unwrap();
    // The stream is open (its body not sent) when the server is told to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.alive(), "exited with a stream in flight");
    body.send_data(Bytes::from_static(br#"{"title":"t","body":"b"}"#), true)
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), response)
        .await
        .expect("an answer")
        .expect("an answer, not a reset");
    assert_eq!(answer.status(), 201);
    // Then a GOAWAY without error and the close; the process exits cleanly.
    let ended = tokio::time::timeout(Duration::from_secs(5), driver)
        .await
        .expect("the connection ends")
        .unwrap();
    assert!(ended.is_ok(), "{ended:?}");
    let status = server.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}");
}
