//! Scenario 3: SIGTERM with requests in flight. Every in-flight request completes with a
//! normal answer, new connections are refused, the process exits 0, and every note whose
//! creation was answered 201 is in the database after a restart.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::load::paced;
use crate::support::{clerk, client, eventually, ServerProcess, QUIET_LOG};

/// Requests in flight when SIGTERM arrives.
const IN_FLIGHT: usize = 50;

/// Loads the keys and verifies `token` once (`GET /v1/notes` 200) before a test proper.
async fn warm_up(server: &ServerProcess, token: &str) {
    let warm = client()
        .get(server.url("/v1/notes"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_refuses_new_ones_and_exits_0() {
    let started = Instant::now();
    let clerk = clerk().await;
    let mut server = ServerProcess::start(&clerk.jwks_url());
    let client = client();
    let token = clerk.session_token().user("user_shutdown").sign();
    warm_up(&server, &token).await;

    // Each request: the headers and half the body now, the other half after SIGTERM.
    let mut connections = Vec::new();
    for i in 0..IN_FLIGHT {
        let body = format!(r#"{{"title":"in flight {i:03}","body":"sent in two halves"}}"#);
        let (first, second) = body.as_bytes().split_at(body.len() / 2);
        let head = format!(
            "POST /v1/notes HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(first).await.unwrap();
        connections.push((stream, second.to_vec()));
    }
    // Wait until the server handles all of them (its `http_requests_in_flight` gauge counts
    // them, plus the scrape itself): every head read, every handler waiting for its body.
    let metrics = server.url("/metrics");
    let all_in_flight = eventually(Duration::from_secs(10), || {
        let (client, metrics) = (client.clone(), metrics.clone());
        async move { in_flight(&client, &metrics).await == Some(IN_FLIGHT as u64 + 1) }
    })
    .await;
    assert!(
        all_in_flight,
        "in flight: {:?}",
        in_flight(&client, &metrics).await
    );

    server.terminate();
    let signalled = Instant::now();
    // New connections are refused once the listener is closed.
    let mut refused = false;
    let mut reset = 0u32;
    while signalled.elapsed() < Duration::from_secs(3) {
        match TcpStream::connect(server.addr).await {
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            // Accepted by the kernel just before the listener closed, then reset: not
            // served either. Keep trying until connections are refused outright.
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {
                reset += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => panic!("connect after SIGTERM: {err}"),
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(refused, "new connections still accepted 3 s after SIGTERM");
    assert!(server.alive(), "exited with requests in flight");

    // Finish every in-flight request: each gets a complete, normal answer.
    let finishing: Vec<_> = connections
        .into_iter()
        .map(|(mut stream, rest)| {
            tokio::spawn(async move {
                stream
                    .write_all(&rest)
                    .await
                    .map_err(|e| format!("write: {e}"))?;
                let mut answer = Vec::new();
                tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
                    .await
                    .map_err(|_| "no answer in 10 s".to_owned())?
                    .map_err(|e| format!("read: {e}"))?;
                let text = String::from_utf8_lossy(&answer).into_owned();
                let status = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|code| code.parse::<u16>().ok())
                    .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
                Ok::<(u16, String), String>((status, text))
            })
        })
        .collect();
    let mut created = 0;
    for (i, task) in finishing.into_iter().enumerate() {
        let (status, text) = task
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(status, 201, "request {i}: {text}");
        assert!(
            text.contains("in flight"),
            "request {i}: a partial answer: {text}"
        );
        created += 1;
    }
    let status = server.wait_exit(Duration::from_secs(10)).await;
    let stopped_in = signalled.elapsed();
    assert!(status.success(), "exit status {status}");

    // Nothing lost: every answered creation is in the database.
    let server = server.restart();
    let page: serde_json::Value = client
        .get(server.url("/v1/notes?limit=100"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored = page["items"].as_array().expect("a note page").len();
    assert_eq!(stored, IN_FLIGHT, "{page}");
    println!(
        "figures: scenario=sigterm-in-flight requests={IN_FLIGHT} ok_201={created} failed=0 \
         refused_after_sigterm={refused} (connects reset first: {reset}) exit={status} stopped_in_ms={} notes_after_restart={stored} \
         jwks_fetches={} duration_ms={}",
        stopped_in.as_millis(),
        clerk.jwks_requests(),
        started.elapsed().as_millis()
    );
}

/// `http_requests_in_flight` from the server's `/metrics` (the scrape included).
async fn in_flight(client: &reqwest::Client, metrics: &str) -> Option<u64> {
    let text = client.get(metrics).send().await.ok()?.text().await.ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("http_requests_in_flight "))
        .and_then(|value| value.trim().parse().ok())
}

/// How one request of the load ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// A complete `201` with the note.
    Created,
    /// The connection was refused: the listener was closed, nothing was sent.
    Refused,
    /// Connected, then closed or reset without a byte of answer: the connection sat in the
    /// kernel's accept queue when the listener closed, and the server never read it.
    Unanswered,
    /// Anything else: a partial answer, another status, a timeout.
    Broken,
}

async fn create_note(addr: std::net::SocketAddr, token: &str, i: u64) -> Ending {
    let body = format!(r#"{{"title":"load {i:05}","body":"sent under load"}}"#);
    let request = format!(
        "POST /v1/notes HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => return Ending::Refused,
        Err(_) => return Ending::Broken,
    };
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    match read {
        Err(_) => Ending::Broken,
        Ok(_) if answer.is_empty() => Ending::Unanswered,
        Ok(_) => {
            let text = String::from_utf8_lossy(&answer);
            if text.starts_with("HTTP/1.1 201") && text.contains(&format!("load {i:05}")) {
                Ending::Created
            } else {
                Ending::Broken
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_every_request_it_accepted_in_full() {
    let started = Instant::now();
    let clerk = clerk().await;
    let mut server = ServerProcess::start_with(&clerk.jwks_url(), &[("RUST_LOG", QUIET_LOG)]);
    let token = clerk.session_token().user("user_shutdown_load").sign();
    warm_up(&server, &token).await;

    // 200 note creations per second, each on its own connection, for 2.5 s; SIGTERM at 1 s.
    let endings = Arc::new(Mutex::new(Vec::new()));
    let load = {
        let (addr, token, endings) = (server.addr, token.clone(), endings.clone());
        tokio::spawn(paced(200, Duration::from_millis(2500), 16, move |i| {
            let (token, endings) = (token.clone(), endings.clone());
            async move {
                let ending = create_note(addr, &token, i).await;
                endings.lock().unwrap().push(ending);
            }
        }))
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.terminate();
    let signalled = Instant::now();
    let status = server.wait_exit(Duration::from_secs(10)).await;
    let stopped_in = signalled.elapsed();
    let sent = load.await.unwrap();

    let endings = endings.lock().unwrap().clone();
    let count = |kind: Ending| endings.iter().filter(|e| **e == kind).count();
    let (created, refused, unanswered, broken) = (
        count(Ending::Created),
        count(Ending::Refused),
        count(Ending::Unanswered),
        count(Ending::Broken),
    );
    // Nothing lost and nothing extra: the database holds exactly the notes answered 201.
    let server = server.restart();
    let pool = crate::support::database(server.database_url()).await;
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notes")
        .fetch_one(&pool)
        .await
        .unwrap();
    let figures = format!(
        "figures: scenario=sigterm-under-load sent={sent} created_201={created} \
         refused={refused} unanswered={unanswered} broken={broken} exit={status} \
         stopped_in_ms={} notes_after_restart={stored} duration_ms={}",
        stopped_in.as_millis(),
        started.elapsed().as_millis()
    );
    println!("{figures}");
    assert!(status.success(), "{figures}");
    assert_eq!(
        broken, 0,
        "a request accepted and not answered in full: {figures}"
    );
    assert_eq!(stored, created as i64, "{figures}");
    // About 200 in the second before SIGTERM; far fewer only on a badly overloaded machine.
    assert!(created >= 50, "the load ran before SIGTERM: {figures}");
    assert!(
        refused > 0,
        "new connections refused after SIGTERM: {figures}"
    );
    // The accept-queue race: a connection completed by the kernel in the instant the
    // listener closes is reset unread. It cannot be avoided by the process (a load balancer
    // stops sending before SIGTERM); it is counted, and must stay rare.
    assert!(unanswered <= 3, "{figures}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_drain_period_keeps_serving_with_readyz_503_until_a_second_signal() {
    let started = Instant::now();
    let clerk = clerk().await;
    let mut server =
        ServerProcess::start_with(&clerk.jwks_url(), &[("SHUTDOWN_DRAIN_MS", "10000")]);
    let client = client();
    let token = clerk.session_token().user("user_drain").sign();
    let protected = || {
        client
            .get(server.url("/protected"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(protected().await.unwrap().status(), 200);
    assert_eq!(server.readyz(&client).await.0, 200);

    server.terminate();
    let signalled = Instant::now();
    // Draining: out of rotation, still serving, new connections included.
    assert!(
        server
            .wait_readyz(&client, 503, Duration::from_secs(5))
            .await,
        "/readyz never said draining"
    );
    let (_, body) = server.readyz(&client).await;
    assert_eq!(body["status"], "draining", "{body}");
    let mut served = 0;
    while signalled.elapsed() < Duration::from_millis(1500) {
        let fresh = reqwest::Client::new();
        let response = fresh
            .get(server.url("/protected"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("a new connection during the drain is served");
        assert_eq!(response.status(), 200);
        served += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(server.alive(), "exited during the drain");

    // A second signal ends the drain early: the process exits long before the 10 s.
    server.terminate();
    let second = Instant::now();
    let status = server.wait_exit(Duration::from_secs(5)).await;
    assert!(status.success(), "exit status {status}");
    println!(
        "figures: scenario=sigterm-drain drain_ms=10000 served_while_draining={served} \
         readyz_while_draining=503 exit_after_second_signal_ms={} duration_ms={}",
        second.elapsed().as_millis(),
        started.elapsed().as_millis()
    );
}
