//! Scenario 1: Clerk's JWKS endpoint fails (5xx, hangs, garbage) after the keys loaded, and
//! is down at cold start.

use std::time::{Duration, Instant};

use clerk_emulator::{EmulatorServer, Fault};
use reqwest::StatusCode;

use crate::support::{clerk, client, eventually, ServerProcess};

/// Valid tokens per fault, each fresh (a user and `jti` never seen): never from the verified
/// token cache.
const VALID_PER_PHASE: usize = 20;

#[derive(Default, Debug)]
struct Tally {
    sent: u64,
    ok: u64,
    refused: u64,
}

/// A fresh valid token: its own user and `jti`, so the server must verify its signature.
fn fresh_token(clerk: &EmulatorServer, n: usize) -> String {
    clerk
        .session_token()
        .user(format!("user_fault_{n}"))
        .jti(format!("jti_fault_{n}"))
        .sign()
}

/// Tokens that must never let anyone in.
fn invalid_tokens(clerk: &EmulatorServer, n: usize) -> Vec<(&'static str, String)> {
    let builder = || clerk.session_token().user(format!("user_bad_{n}"));
    vec![
        (
            "bad signature",
            builder().signature_bytes(vec![7u8; 256]).sign(),
        ),
        ("expired", builder().expires_in(-120).sign()),
        (
            "unknown kid",
            builder().header("kid", format!("kid_unknown_{n}")).sign(),
        ),
        (
            "wrong issuer",
            builder().issuer("https://evil.example.com").sign(),
        ),
        ("not a token", "not.a.token".to_owned()),
    ]
}

async fn status(client: &reqwest::Client, url: &str, token: &str) -> StatusCode {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .status()
}

async fn readyz(client: &reqwest::Client, server: &ServerProcess) -> StatusCode {
    StatusCode::from_u16(server.readyz(client).await.0).unwrap()
}

/// Ends Clerk's outage and waits (at most 12 s) for the server to be ready again on its own;
/// how long that took.
async fn clerk_comes_back(
    clerk: &EmulatorServer,
    client: &reqwest::Client,
    server: &ServerProcess,
) -> Duration {
    clerk.set_fault(Fault::None);
    let recovery = Instant::now();
    assert!(
        server
            .wait_readyz(client, 200, Duration::from_secs(12))
            .await,
        "never ready after Clerk came back"
    );
    recovery.elapsed()
}

/// Valid fresh tokens get 200, invalid ones 401 (never 2xx, never a 5xx), `/readyz` 200.
async fn phase(
    name: &str,
    clerk: &EmulatorServer,
    server: &ServerProcess,
    client: &reqwest::Client,
    next: &mut usize,
    tally: &mut Tally,
) {
    let url = server.url("/protected");
    let valid: Vec<String> = (0..VALID_PER_PHASE)
        .map(|i| fresh_token(clerk, *next + i))
        .collect();
    *next += VALID_PER_PHASE;
    let handles: Vec<_> = valid
        .into_iter()
        .map(|token| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { status(&client, &url, &token).await })
        })
        .collect();
    for handle in handles {
        let answer = handle.await.unwrap();
        tally.sent += 1;
        assert_eq!(answer, StatusCode::OK, "{name}: a valid token refused");
        tally.ok += 1;
    }
    for (kind, token) in invalid_tokens(clerk, *next) {
        *next += 1;
        let answer = status(client, &url, &token).await;
        tally.sent += 1;
        assert_eq!(
            answer,
            StatusCode::UNAUTHORIZED,
            "{name}: {kind} token must be 401"
        );
        tally.refused += 1;
    }
    assert_eq!(
        readyz(client, server).await,
        StatusCode::OK,
        "{name}: /readyz while the cached keys are usable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_loaded_then_clerk_fails_valid_tokens_still_pass_invalid_still_refused() {
    let started = Instant::now();
    let clerk = clerk().await;
    let server = ServerProcess::start(&clerk.jwks_url());
    let client = client();
    // The first request loads the keys (rather than the background loader, a second later).
    let first = fresh_token(&clerk, 1_000_000);
    assert_eq!(
        status(&client, &server.url("/protected"), &first).await,
        StatusCode::OK
    );
    let loaded_at = Instant::now();
    assert_eq!(readyz(&client, &server).await, StatusCode::OK);
    let loaded_after = clerk.jwks_requests();
    let mut tally = Tally::default();
    let mut next = 0;
    let faults = [
        ("Status(500)", Fault::Status(500)),
        ("Hang", Fault::Hang),
        ("Garbage", Fault::Garbage),
    ];
    for (name, fault) in faults {
        clerk.set_fault(fault);
        phase(name, &clerk, &server, &client, &mut next, &mut tally).await;
    }
    clerk.set_fault(Fault::None);
    phase("recovered", &clerk, &server, &client, &mut next, &mut tally).await;
    let cached_phases_fetches = clerk.jwks_requests() - loaded_after;

    // The endpoint itself under fault: an unknown `kid` makes the server refetch (at most once
    // per 10 s since the last fetch; not configurable, so wait that out). Clerk hangs on it:
    // fresh valid tokens must not wait behind the hanging fetch.
    let url = server.url("/protected");
    let wait = Duration::from_millis(10_300).saturating_sub(loaded_at.elapsed());
    tokio::time::sleep(wait).await;
    clerk.set_fault(Fault::Hang);
    let before_refetch = clerk.jwks_requests();
    let unknown_kid = clerk
        .session_token()
        .user("user_unknown_kid")
        .header("kid", "kid_not_published")
        .sign();
    let refetching = {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move { status(&client, &url, &unknown_kid).await })
    };
    assert!(
        eventually(Duration::from_secs(3), || async {
            clerk.jwks_requests() > before_refetch
        })
        .await,
        "an unknown kid did not make the server refetch"
    );
    let mut slowest = Duration::ZERO;
    for i in 0..VALID_PER_PHASE {
        let token = fresh_token(&clerk, next + i);
        let sent_at = Instant::now();
        assert_eq!(
            status(&client, &url, &token).await,
            StatusCode::OK,
            "a valid token while a refetch hangs"
        );
        slowest = slowest.max(sent_at.elapsed());
        tally.sent += 1;
        tally.ok += 1;
    }
    next += VALID_PER_PHASE;
    assert!(
        slowest < Duration::from_millis(2500),
        "valid tokens waited behind the hanging fetch: {slowest:?}"
    );
    assert_eq!(readyz(&client, &server).await, StatusCode::OK);
    let jwks_fetches = clerk.jwks_requests();
    let last_token = fresh_token(&clerk, next);
    // The emulator's shutdown answers the hanging fetch (503): the unknown kid is refused.
    clerk.shutdown().await;
    let answer = refetching.await.unwrap();
    assert!(
        answer == StatusCode::UNAUTHORIZED || answer == StatusCode::SERVICE_UNAVAILABLE,
        "unknown kid: {answer}"
    );
    tally.sent += 1;
    tally.refused += 1;
    // Clerk gone entirely: the cached keys keep serving.
    assert_eq!(status(&client, &url, &last_token).await, StatusCode::OK);
    tally.sent += 1;
    tally.ok += 1;
    println!(
        "figures: scenario=clerk-fails-after-load requests={} ok={} refused={} \
         failed=0 jwks_fetches={jwks_fetches} (load: {loaded_after}, during the cached \
         phases: {cached_phases_fetches}, unknown-kid refetch into the hang: {}) \
         unknown_kid_status={} slowest_valid_during_hang_ms={} duration_ms={}",
        tally.sent,
        tally.ok,
        tally.refused,
        jwks_fetches - before_refetch,
        answer.as_u16(),
        slowest.as_millis(),
        started.elapsed().as_millis()
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_with_clerk_down_answers_503_then_recovers() {
    let started = Instant::now();
    let clerk = clerk().await;
    clerk.set_fault(Fault::Status(500));
    let server = ServerProcess::start(&clerk.jwks_url());
    let client = client();
    let url = server.url("/protected");
    let mut sent = 0u64;
    let mut unavailable = 0u64;

    // Down: a valid token is 503 with Retry-After, never 401; /readyz 503. Until the
    // background loader has failed at least twice.
    let down_until = Instant::now() + Duration::from_secs(3);
    let mut n = 0;
    while Instant::now() < down_until || clerk.jwks_requests() < 2 {
        assert!(started.elapsed() < Duration::from_secs(10), "no JWKS fetch");
        let token = fresh_token(&clerk, n);
        n += 1;
        let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
        sent += 1;
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "a valid token while Clerk is down"
        );
        assert!(
            response.headers().contains_key("retry-after"),
            "503 without Retry-After: {:?}",
            response.headers()
        );
        unavailable += 1;
        assert_eq!(
            readyz(&client, &server).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // An invalid token is not let in either (401 or 503, never 2xx).
    let forged = clerk.session_token().signature_bytes(vec![1u8; 256]).sign();
    let answer = status(&client, &url, &forged).await;
    assert!(
        answer == StatusCode::UNAUTHORIZED || answer == StatusCode::SERVICE_UNAVAILABLE,
        "{answer}"
    );
    sent += 1;
    let fetches_while_down = clerk.jwks_requests();

    // Clerk is back: ready again on its own (the background loader), then tokens pass.
    let recovered_in = clerk_comes_back(&clerk, &client, &server).await;
    let mut ok = 0u64;
    for i in 0..10 {
        let token = fresh_token(&clerk, n + i);
        assert_eq!(status(&client, &url, &token).await, StatusCode::OK);
        sent += 1;
        ok += 1;
    }
    println!(
        "figures: scenario=cold-start-clerk-down requests={sent} ok={ok} 503={unavailable} \
         failed=0 jwks_fetches_while_down={fetches_while_down} jwks_fetches={} \
         recovered_in_ms={} duration_ms={}",
        clerk.jwks_requests(),
        recovered_in.as_millis(),
        started.elapsed().as_millis()
    );
    drop(server);
    clerk.shutdown().await;
}

/// The server's maximum staleness in this test (`CLERK_JWKS_MAX_STALENESS_SECS`).
const MAX_STALENESS: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clerk_down_past_max_staleness_valid_tokens_get_503_then_recover() {
    let started = Instant::now();
    let clerk = clerk().await;
    let server = ServerProcess::start_with(
        &clerk.jwks_url(),
        &[
            ("CLERK_JWKS_REFRESH_SECS", "1"),
            ("CLERK_JWKS_MAX_STALENESS_SECS", "3"),
        ],
    );
    let client = client();
    let url = server.url("/protected");
    // Ready means the keys were fetched: the staleness clock starts at or before this.
    assert!(
        eventually(Duration::from_secs(10), || async {
            readyz(&client, &server).await == StatusCode::OK
        })
        .await
    );
    let mut n = 0;
    let mut next_token = || {
        n += 1;
        fresh_token(&clerk, 2_000_000 + n)
    };
    assert_eq!(status(&client, &url, &next_token()).await, StatusCode::OK);
    clerk.set_fault(Fault::Status(500));
    let fault_at = Instant::now();

    // Fresh valid tokens every 100 ms: 200 while the keys are within the staleness, then
    // 503 with Retry-After (never 401, never a 2xx once they are too old).
    let (mut ok, mut unavailable, mut last_ok, mut first_503) = (0u32, 0u32, None, None);
    while unavailable < 10 {
        assert!(
            fault_at.elapsed() < MAX_STALENESS + Duration::from_secs(5),
            "still 200 long past the maximum staleness"
        );
        let response = client
            .get(&url)
            .bearer_auth(next_token())
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::OK => {
                assert!(first_503.is_none(), "a 200 after a 503 while Clerk is down");
                ok += 1;
                last_ok = Some(fault_at.elapsed());
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(
                    response.headers().contains_key("retry-after"),
                    "503 without Retry-After"
                );
                unavailable += 1;
                first_503.get_or_insert(fault_at.elapsed());
            }
            other => panic!("a valid token got {other} while Clerk is down"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_503 = first_503.unwrap();
    assert!(
        first_503 >= MAX_STALENESS - Duration::from_millis(1500),
        "503 at {first_503:?}, before the keys were stale"
    );
    assert_eq!(
        readyz(&client, &server).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let forged = clerk.session_token().signature_bytes(vec![3u8; 256]).sign();
    let answer = status(&client, &url, &forged).await;
    assert!(
        answer == StatusCode::UNAUTHORIZED || answer == StatusCode::SERVICE_UNAVAILABLE,
        "{answer}"
    );

    // Clerk is back: the background refresh recovers with no traffic needed.
    let recovered_in = clerk_comes_back(&clerk, &client, &server).await;
    for _ in 0..5 {
        assert_eq!(status(&client, &url, &next_token()).await, StatusCode::OK);
    }
    println!(
        "figures: scenario=past-max-staleness max_staleness_s=3 ok_while_down={ok} \
         last_ok_ms={} first_503_ms={} 503={unavailable} recovered_in_ms={} jwks_fetches={} \
         duration_ms={}",
        last_ok.map_or(0, |d| d.as_millis()),
        first_503.as_millis(),
        recovered_in.as_millis(),
        clerk.jwks_requests(),
        started.elapsed().as_millis()
    );
}
