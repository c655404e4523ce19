//! The JWKS cache against a real HTTP server on loopback (the emulator), counting fetches.

use std::time::{Duration, Instant};

use clerk_auth::JwksOptions;
use clerk_auth::{Reason, Verifier};
use clerk_emulator::{Compact, Emulator, EmulatorServer, Fault, SigningKey};

async fn server() -> EmulatorServer {
    Emulator::with_key(SigningKey::test_key())
        .serve("127.0.0.1:0")
        .await
        .expect("emulator serves")
}

/// Options with short intervals so the tests run in well under a second each.
fn quick() -> JwksOptions {
    JwksOptions {
        refresh_interval: Duration::from_secs(60),
        max_staleness: Duration::from_secs(600),
        unknown_kid_interval: Duration::from_millis(300),
        negative_ttl: Duration::from_secs(60),
        retry_backoff: Duration::from_millis(50),
        max_retry_backoff: Duration::from_millis(200),
        timeout: Duration::from_millis(400),
        max_response_bytes: 64 * 1024,
    }
}

fn verifier(server: &EmulatorServer, options: JwksOptions) -> Verifier {
    Verifier::builder()
        .jwks_url(server.jwks_url())
        .jwks_options(options)
        .background_refresh(false)
        .build()
        .expect("verifier builds")
}

/// A token with a kid the JWKS does not have; its signature is never reached.
fn unknown_kid_token(kid: &str) -> String {
    Compact::from_json(
        &format!(r#"{{"alg":"RS256","kid":"{kid}","typ":"JWT"}}"#),
        r#"{"sub":"user_forged","sid":"sess_forged","exp":9999999999}"#,
    )
    .with_signature(&[7u8; 256])
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_cold_verifications_make_one_fetch() {
    let server = server().await;
    let verifier = verifier(&server, quick());
    let tokens: Vec<String> = (0..50)
        .map(|i| server.session_token().user(format!("user_{i}")).sign())
        .collect();
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let verifier = verifier.clone();
            let token = tokens[i % tokens.len()].clone();
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("valid token verifies");
    }
    assert_eq!(server.jwks_requests(), 1);
    assert_eq!(verifier.stats().jwks.fetches, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_prefetch_and_concurrent_requests_share_one_fetch() {
    let server = server().await;
    let verifier = Verifier::builder()
        .jwks_url(server.jwks_url())
        .jwks_options(quick())
        .build()
        .expect("builds");
    let token = server.session_token().sign();
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let verifier = verifier.clone();
            let token = token.clone();
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("verifies");
    }
    assert_eq!(server.jwks_requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_unknown_kids_cause_at_most_one_fetch_per_interval() {
    let server = server().await;
    let options = quick();
    let interval = options.unknown_kid_interval;
    let verifier = verifier(&server, options);
    let valid = server.session_token().sign();
    verifier.verify(&valid).await.expect("warm");
    assert_eq!(server.jwks_requests(), 1);

    let started = Instant::now();
    let mut next = 0u64;
    let mut rejected = 0;
    // 10,000 forged tokens, each with a new random kid, sent 100 at a time.
    for _ in 0..100 {
        let batch: Vec<_> = (0..100)
            .map(|_| {
                next += 1;
                let verifier = verifier.clone();
                let token = unknown_kid_token(&format!("ins_forged_{next:016x}"));
                tokio::spawn(async move { verifier.verify(&token).await })
            })
            .collect();
        for task in batch {
            let err = task.await.expect("task").expect_err("forged token refused");
            assert_eq!(err.reason(), Reason::JwkKidMismatch);
            rejected += 1;
        }
        // Valid traffic goes on during the flood.
        verifier
            .verify(&valid)
            .await
            .expect("valid token still verifies");
    }
    let elapsed = started.elapsed();
    assert_eq!(rejected, 10_000);
    let allowed = 1 + 1 + (elapsed.as_millis() / interval.as_millis()) as u64;
    let fetches = server.jwks_requests();
    assert!(
        fetches <= allowed,
        "{fetches} fetches in {elapsed:?} with a {interval:?} interval (at most {allowed} allowed)"
    );
    assert!(verifier.stats().jwks.kid_misses >= 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kid_proven_absent_is_refused_without_refetching() {
    let server = server().await;
    let verifier = verifier(&server, quick());
    verifier
        .verify(&server.session_token().sign())
        .await
        .expect("warm");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let forged = unknown_kid_token("ins_bogus");
    assert_eq!(
        verifier
            .verify(&forged)
            .await
            .expect_err("unknown")
            .reason(),
        Reason::JwkKidMismatch
    );
    assert_eq!(
        server.jwks_requests(),
        2,
        "one refetch for the first sighting"
    );
    // Well past the unknown-kid interval, the same kid is still known to be absent.
    tokio::time::sleep(Duration::from_millis(350)).await;
    for _ in 0..100 {
        verifier.verify(&forged).await.expect_err("unknown");
    }
    assert_eq!(server.jwks_requests(), 2, "negative cache: no more fetches");
}

async fn endpoint_fault_keeps_serving_cached_keys(fault: Fault) {
    let server = server().await;
    let options = JwksOptions {
        refresh_interval: Duration::from_millis(100),
        ..quick()
    };
    let verifier = verifier(&server, options);
    verifier
        .verify(&server.session_token().sign())
        .await
        .expect("warm");
    server.set_fault(fault.clone());
    let until = Instant::now() + Duration::from_millis(1500);
    let mut verified = 0;
    while Instant::now() < until {
        // A new token each time: no help from the verified-token cache.
        let token = server.session_token().sign();
        verifier
            .verify(&token)
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: valid token refused: {e}"));
        verified += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(verified > 10);
    let stats = verifier.stats().jwks;
    assert!(
        stats.fetches >= 2,
        "{fault:?}: a background refresh was tried"
    );
    assert!(stats.failures >= 1, "{fault:?}: and it failed: {stats:?}");
    let status = verifier.key_status();
    assert!(status.usable && status.stale, "{status:?}");
    assert!(status.last_error.is_some());

    // Recovery is automatic.
    server.set_fault(Fault::None);
    tokio::time::sleep(Duration::from_millis(700)).await;
    verifier
        .verify(&server.session_token().sign())
        .await
        .expect("still fine");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(verifier.key_status().last_error.is_none(), "{fault:?}");
}

#[tokio::test]
async fn endpoint_answering_500_keeps_serving_cached_keys() {
    endpoint_fault_keeps_serving_cached_keys(Fault::Status(500)).await;
}

#[tokio::test]
async fn hanging_endpoint_keeps_serving_cached_keys() {
    endpoint_fault_keeps_serving_cached_keys(Fault::Hang).await;
}

#[tokio::test]
async fn endpoint_sending_garbage_keeps_serving_cached_keys() {
    endpoint_fault_keeps_serving_cached_keys(Fault::Garbage).await;
}

#[tokio::test]
async fn endpoint_sending_no_keys_keeps_serving_cached_keys() {
    endpoint_fault_keeps_serving_cached_keys(Fault::EmptyKeys).await;
}

#[tokio::test]
async fn endpoint_sending_an_oversized_body_keeps_serving_cached_keys() {
    endpoint_fault_keeps_serving_cached_keys(Fault::Oversized(1 << 20)).await;
}

#[tokio::test]
async fn keys_unavailable_until_the_first_load_then_recovers() {
    let server = server().await;
    server.set_fault(Fault::Status(503));
    // Building never fails because the endpoint is down.
    let verifier = verifier(&server, quick());
    let token = server.session_token().sign();
    let err = verifier.verify(&token).await.expect_err("no keys yet");
    assert_eq!(err.reason(), Reason::KeysUnavailable);
    assert!(err.reason().is_unavailable());
    assert!(err.message().contains("503"), "{}", err.message());
    assert!(!err.message().contains(&token));
    // During the back-off, requests fail fast without a fetch.
    let before = server.jwks_requests();
    verifier.verify(&token).await.expect_err("still no keys");
    assert_eq!(server.jwks_requests(), before);
    assert!(!verifier.key_status().usable);

    server.set_fault(Fault::None);
    tokio::time::sleep(Duration::from_millis(250)).await;
    verifier.verify(&token).await.expect("recovered");
    assert!(verifier.key_status().usable);
}

#[tokio::test]
async fn a_hanging_endpoint_at_startup_times_out_as_keys_unavailable() {
    let server = server().await;
    server.set_fault(Fault::Hang);
    let verifier = verifier(&server, quick());
    let started = Instant::now();
    let err = verifier
        .verify(&server.session_token().sign())
        .await
        .expect_err("no keys");
    assert_eq!(err.reason(), Reason::KeysUnavailable);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn keys_older_than_max_staleness_are_unavailable_until_recovery() {
    let server = server().await;
    let options = JwksOptions {
        refresh_interval: Duration::from_millis(50),
        max_staleness: Duration::from_millis(300),
        ..quick()
    };
    let verifier = verifier(&server, options);
    verifier
        .verify(&server.session_token().sign())
        .await
        .expect("warm");
    server.set_fault(Fault::Status(500));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let err = verifier
        .verify(&server.session_token().sign())
        .await
        .expect_err("too stale");
    assert_eq!(err.reason(), Reason::KeysUnavailable);
    // A token verified earlier is not an exception: the cache serves nothing stale either.
    server.set_fault(Fault::None);
    tokio::time::sleep(Duration::from_millis(250)).await;
    verifier
        .verify(&server.session_token().sign())
        .await
        .expect("recovered");
}

#[tokio::test]
async fn rotation_new_kid_is_accepted_after_one_refetch_and_old_key_works_until_retired() {
    let server = server().await;
    let verifier = verifier(&server, quick());
    let old_kid = server.current_key().kid().to_owned();
    let old_token = server.session_token().sign();
    verifier.verify(&old_token).await.expect("old key");
    assert_eq!(server.jwks_requests(), 1);

    tokio::time::sleep(Duration::from_millis(350)).await;
    server.rotate_to(&SigningKey::test_key_n(1));
    let new_token = server.session_token().sign();
    verifier
        .verify(&new_token)
        .await
        .expect("new key after refetch");
    assert_eq!(server.jwks_requests(), 2, "exactly one refetch");
    // Both keys are published: tokens of either verify.
    let old_fresh = server
        .session_token()
        .key(&server.key(&old_kid).expect("kept"))
        .sign();
    verifier
        .verify(&old_fresh)
        .await
        .expect("old key still published");
    verifier
        .verify(&server.session_token().sign())
        .await
        .expect("new key");
    assert_eq!(server.jwks_requests(), 2);

    server.retire_key(&old_kid);
    verifier.prefetch().await.expect("refresh");
    let err = verifier.verify(&old_fresh).await.expect_err("retired key");
    assert_eq!(err.reason(), Reason::JwkKidMismatch);
    // The verified-token cache does not outlive the key either.
    let err = verifier
        .verify(&old_token)
        .await
        .expect_err("retired key, cached token");
    assert_eq!(err.reason(), Reason::JwkKidMismatch);
    verifier
        .verify(&new_token)
        .await
        .expect("new key unaffected");
}

#[tokio::test]
async fn backend_api_jwks_is_fetched_with_the_secret_key() {
    let server = server().await;
    let verifier = Verifier::builder()
        .secret_key(server.secret_key())
        .api_url(server.api_url())
        .issuer(server.issuer())
        .jwks_options(quick())
        .background_refresh(false)
        .build()
        .expect("builds");
    verifier
        .verify(&server.session_token().sign())
        .await
        .expect("verifies");
    assert_eq!(server.backend_jwks_requests(), 1);
    assert_eq!(server.well_known_jwks_requests(), 0);
}

#[tokio::test]
async fn a_refused_secret_key_is_reported_as_secret_key_invalid() {
    let server = server().await;
    let verifier = Verifier::builder()
        .secret_key("sk_test_wrong")
        .api_url(server.api_url())
        .jwks_options(quick())
        .background_refresh(false)
        .build()
        .expect("builds");
    let err = verifier
        .verify(&server.session_token().sign())
        .await
        .expect_err("refused key");
    assert_eq!(err.reason(), Reason::SecretKeyInvalid);
    assert!(err.reason().is_unavailable());
    assert!(!err.message().contains("sk_test_wrong"));
}

#[tokio::test]
async fn caches_are_scoped_per_instance() {
    let first = server().await;
    let second = Emulator::with_key(SigningKey::test_key_n(3))
        .serve("127.0.0.1:0")
        .await
        .expect("emulator serves");
    let a = verifier(&first, quick());
    let b = verifier(&second, quick());
    let token_a = first.session_token().sign();
    a.verify(&token_a).await.expect("own instance");
    // B knows neither A's key nor A's issuer.
    let err = b.verify(&token_a).await.expect_err("other instance");
    assert_eq!(err.reason(), Reason::JwkKidMismatch);
    // Even with the same kid, B's key is B's.
    let same_kid = second
        .session_token()
        .key(&SigningKey::test_key_n(1).with_kid(second.current_key().kid()))
        .sign();
    assert_eq!(
        b.verify(&same_kid).await.expect_err("wrong key").reason(),
        Reason::TokenInvalidSignature
    );
}

#[test]
fn plain_http_jwks_off_loopback_is_refused_when_building() {
    let err = Verifier::builder()
        .jwks_url("http://clerk.example.com/.well-known/jwks.json")
        .build()
        .expect_err("http off loopback");
    assert_eq!(err.variable, "CLERK_JWKS_URL");
    assert!(err.message.contains("https"), "{err}");
}

#[tokio::test]
async fn issuer_is_derived_from_the_jwks_url() {
    let server = server().await;
    let verifier = verifier(&server, quick());
    assert_eq!(verifier.issuer(), Some(server.issuer().as_str()));
    let foreign = server.session_token().issuer("https://evil.example").sign();
    assert_eq!(
        verifier
            .verify(&foreign)
            .await
            .expect_err("issuer")
            .reason(),
        Reason::TokenInvalidIssuer
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_token_cache_skips_the_signature_but_not_the_clock() {
    let server = server().await;
    let verifier = verifier(&server, quick());
    let token = server.session_token().sign();
    for _ in 0..10 {
        verifier.verify(&token).await.expect("valid");
    }
    let stats = verifier.stats();
    assert_eq!((stats.cache_misses, stats.cache_hits), (1, 9));
    // An expired token that was cached is refused by the clock check on the hit.
    let short = server.session_token().expires_in(-3).sign(); // still within the 5 s skew
    verifier.verify(&short).await.expect("within skew");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let err = verifier.verify(&short).await.expect_err("expired since");
    assert_eq!(err.reason(), Reason::TokenExpired);
    assert_eq!(verifier.stats().cache_hits, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_new_key_arriving_during_its_fetch_wait_for_it_instead_of_being_refused() {
    let server = server().await;
    let verifier = verifier(&server, quick());
    verifier
        .verify(&server.session_token().sign())
        .await
        .expect("the first key loads");
    tokio::time::sleep(quick().unknown_kid_interval + Duration::from_millis(50)).await;
    // Clerk rotates; its JWKS answers slowly, so the tokens below arrive while the fetch the
    // first of them started is still under way.
    server
        .emulator()
        .rotate_to(&SigningKey::test_key_n(2).with_kid("ins_rotated"));
    server.set_fault(Fault::Delay(Duration::from_millis(200)));
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let verifier = verifier.clone();
            let token = server.session_token().user(format!("user_new_{i}")).sign();
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("a new-key token verifies");
    }
    assert_eq!(server.jwks_requests(), 2, "one fetch for the rotation");
}

/// Waits until `done` holds (checked every 20 ms) or `limit` passes; whether it held.
async fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresher_makes_keys_usable_with_no_traffic_once_the_endpoint_recovers() {
    let server = server().await;
    server.set_fault(Fault::Status(503));
    let verifier = Verifier::builder()
        .jwks_url(server.jwks_url())
        .jwks_options(quick())
        .build()
        .expect("builds");
    assert!(eventually(Duration::from_secs(2), || server.jwks_requests() >= 2).await);
    assert!(!verifier.key_status().usable);
    server.set_fault(Fault::None);
    // No verification is made: the refresher alone must load the keys.
    assert!(
        eventually(Duration::from_secs(2), || verifier.key_status().usable).await,
        "never usable: {:?}",
        verifier.key_status()
    );
    assert_eq!(verifier.stats().cache_misses, 0, "no verification was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresher_refreshes_keys_before_they_are_due() {
    let server = server().await;
    let options = JwksOptions {
        refresh_interval: Duration::from_millis(250),
        ..quick()
    };
    let verifier = Verifier::builder()
        .jwks_url(server.jwks_url())
        .jwks_options(options)
        .build()
        .expect("builds");
    assert!(eventually(Duration::from_secs(3), || server.jwks_requests() >= 4).await);
    let status = verifier.key_status();
    assert!(status.usable && !status.stale, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_verifier_stops_its_refresher() {
    let server = server().await;
    let options = JwksOptions {
        refresh_interval: Duration::from_millis(100),
        ..quick()
    };
    let verifier = Verifier::builder()
        .jwks_url(server.jwks_url())
        .jwks_options(options)
        .build()
        .expect("builds");
    assert!(eventually(Duration::from_secs(2), || server.jwks_requests() >= 2).await);
    drop(verifier);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after_drop = server.jwks_requests();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.jwks_requests(), after_drop);
}

#[test]
fn a_verifier_built_outside_a_runtime_starts_its_refresher_at_its_first_verification() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(server());
    let options = JwksOptions {
        refresh_interval: Duration::from_millis(200),
        ..quick()
    };
    // No runtime here: nothing can start yet.
    let verifier = Verifier::builder()
        .jwks_url(server.jwks_url())
        .jwks_options(options)
        .build()
        .expect("builds");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.jwks_requests(), 0);
    runtime.block_on(async {
        verifier
            .verify(&server.session_token().sign())
            .await
            .expect("verifies");
        assert!(eventually(Duration::from_secs(3), || server.jwks_requests() >= 3).await);
    });
}
