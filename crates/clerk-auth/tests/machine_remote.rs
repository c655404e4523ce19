//! Opaque machine tokens against the emulator's Backend API over HTTP: the three verify
//! endpoints, the cache (by digest, TTL, negative TTL, single flight), the call budget and
//! failing closed (microservices.md §C.1, §C.2).

use std::sync::Arc;
use std::time::Duration;

use clerk_auth::{Accepts, Caller, MachineAuth, MachineOptions, Reason, TokenType, Verifier};
use clerk_emulator::machines::{NewApiKey, NewM2mToken, NewOAuthToken};
use clerk_emulator::{Emulator, EmulatorServer, Fault, SigningKey, TokenFormat};
use serde_json::json;

async fn emulator() -> EmulatorServer {
    Emulator::with_key(SigningKey::test_key())
        .serve("127.0.0.1:0")
        .await
        .expect("emulator")
}

fn verifier(clerk: &EmulatorServer, options: MachineOptions) -> Verifier {
    Verifier::builder()
        .jwks_url(clerk.jwks_url())
        .secret_key(clerk.secret_key())
        .api_url(clerk.api_url())
        .machine_options(options)
        .build()
        .expect("verifier")
}

async fn machine(verifier: &Verifier, token: &str) -> Result<Arc<MachineAuth>, Reason> {
    match verifier.authenticate(token, Accepts::ANY).await {
        Ok(Caller::Machine(machine)) => Ok(machine),
        Ok(Caller::Session(_)) => panic!("a machine token verified as a session"),
        Err(rejection) => {
            assert!(!rejection.message().contains(token), "no token in messages");
            Err(rejection.reason())
        }
    }
}

fn api_key(clerk: &EmulatorServer, subject: &str, scopes: &[&str]) -> String {
    clerk
        .create_api_key(NewApiKey::new(subject, "reports").scopes(scopes.iter().copied()))
        .expect("an API key")
        .secret
}

#[tokio::test]
async fn api_keys_m2m_and_oauth_tokens_verify_into_clerks_auth_objects() {
    let clerk = emulator().await;
    let v = verifier(&clerk, MachineOptions::default());
    assert!(v.verifies_opaque_machine_tokens());

    let key = clerk
        .create_api_key(
            NewApiKey::new("user_2xhFjEI5X2qWRvtV13BzSj8H6Dk", "reports")
                .scopes(["notes:read"])
                .claims(json!({"team": "data"})),
        )
        .unwrap();
    let auth = machine(&v, &key.secret).await.unwrap();
    assert_eq!(auth.token_type(), TokenType::ApiKey);
    assert_eq!(auth.id(), key.api_key.id);
    assert_eq!(auth.user_id(), Some("user_2xhFjEI5X2qWRvtV13BzSj8H6Dk"));
    assert_eq!(auth.org_id(), None);
    assert_eq!(auth.name(), Some("reports"));
    assert_eq!(auth.scopes(), ["notes:read"]);
    assert_eq!(auth.claims().unwrap()["team"], "data");
    let org = machine(&v, &api_key(&clerk, "org_acme", &[]))
        .await
        .unwrap();
    assert_eq!((org.org_id(), org.user_id()), (Some("org_acme"), None));

    let caller = clerk.create_machine("reports", &[]).unwrap();
    let callee = clerk.create_machine("notes", &[]).unwrap();
    clerk.add_machine_scope(&caller.id, &callee.id).unwrap();
    let m2m = clerk
        .create_m2m_token(&caller.id, NewM2mToken::new())
        .unwrap();
    let auth = machine(&v, &m2m.token).await.unwrap();
    assert_eq!(auth.token_type(), TokenType::M2mToken);
    assert_eq!(auth.machine_id(), Some(caller.id.as_str()));
    assert_eq!(auth.scopes(), std::slice::from_ref(&callee.id));
    assert!(auth.expiration_ms().is_some());

    let oauth = clerk
        .create_oauth_access_token(
            NewOAuthToken::new("user_ada")
                .client_id("client_app")
                .scopes(["notes:read", "notes:write"]),
        )
        .unwrap();
    let auth = machine(&v, &oauth.token).await.unwrap();
    assert_eq!(auth.token_type(), TokenType::OAuthToken);
    assert_eq!(
        (auth.user_id(), auth.client_id()),
        (Some("user_ada"), Some("client_app"))
    );
    assert!(auth.has_scope("notes:write"));
    assert_eq!(clerk.machine_verify_requests(), 4);
}

#[tokio::test]
async fn the_jwt_forms_the_emulator_mints_verify_locally_with_no_backend_api_call() {
    let clerk = emulator().await;
    let v = verifier(&clerk, MachineOptions::default());
    let caller = clerk.create_machine("reports", &[]).unwrap();
    let jwt = clerk
        .create_m2m_token(&caller.id, NewM2mToken::new().format(TokenFormat::Jwt))
        .unwrap();
    assert_eq!(
        machine(&v, &jwt.token).await.unwrap().machine_id(),
        Some(caller.id.as_str())
    );
    let oauth = clerk
        .create_oauth_access_token(NewOAuthToken::new("user_ada").format(TokenFormat::Jwt))
        .unwrap();
    assert_eq!(
        machine(&v, &oauth.token).await.unwrap().user_id(),
        Some("user_ada")
    );
    assert_eq!(clerk.machine_verify_requests(), 0);
}

#[tokio::test]
async fn a_verified_token_is_cached_until_its_ttl_so_a_revocation_is_seen_that_late() {
    let clerk = emulator().await;
    let ttl = Duration::from_millis(400);
    let v = verifier(
        &clerk,
        MachineOptions {
            cache_ttl: ttl,
            ..MachineOptions::default()
        },
    );
    let key = clerk
        .create_api_key(NewApiKey::new("user_ada", "key"))
        .unwrap();
    for _ in 0..5 {
        machine(&v, &key.secret).await.unwrap();
    }
    assert_eq!(
        clerk.machine_verify_requests(),
        1,
        "one call for five requests"
    );
    clerk.revoke_api_key(&key.api_key.id, None).unwrap();
    assert!(
        machine(&v, &key.secret).await.is_ok(),
        "cached: the revocation is not seen yet"
    );
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    assert_eq!(
        machine(&v, &key.secret).await.unwrap_err(),
        Reason::TokenInvalid
    );
    assert_eq!(clerk.machine_verify_requests(), 2);
    let stats = v.machine_stats().unwrap();
    assert_eq!((stats.backend_calls, stats.cache_hits), (2, 5));
}

#[tokio::test]
async fn an_unknown_expired_or_revoked_token_is_token_invalid_and_remembered_briefly() {
    let clerk = emulator().await;
    let v = verifier(&clerk, MachineOptions::default());
    let expired = clerk
        .create_api_key(NewApiKey::new("user_ada", "old").seconds_until_expiration(0))
        .unwrap();
    let revoked = clerk
        .create_api_key(NewApiKey::new("user_ada", "gone"))
        .unwrap();
    clerk
        .revoke_api_key(&revoked.api_key.id, Some("leaked"))
        .unwrap();
    for token in [
        "ak_unknown",
        expired.secret.as_str(),
        revoked.secret.as_str(),
        "mt_unknown",
        "oat_unknown",
    ] {
        assert_eq!(
            machine(&v, token).await.unwrap_err(),
            Reason::TokenInvalid,
            "{token}"
        );
        assert_eq!(
            machine(&v, token).await.unwrap_err(),
            Reason::TokenInvalid,
            "{token}"
        );
    }
    assert_eq!(
        clerk.machine_verify_requests(),
        5,
        "the second of each came from the cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_uncached_token_make_one_call() {
    let clerk = emulator().await;
    clerk.set_machine_verify_fault(Fault::Delay(Duration::from_millis(200)));
    let v = verifier(&clerk, MachineOptions::default());
    let secret = api_key(&clerk, "user_ada", &[]);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (v, secret) = (v.clone(), secret.clone());
            tokio::spawn(async move { machine(&v, &secret).await.map(|_| ()) })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(clerk.machine_verify_requests(), 1);
}

#[tokio::test]
async fn cache_misses_beyond_the_budget_are_refused_without_a_call_and_cached_tokens_keep_working()
{
    let clerk = emulator().await;
    let options = MachineOptions {
        verify_rate: 1,
        verify_burst: 3,
        ..MachineOptions::default()
    };
    let v = verifier(&clerk, options);
    let good = api_key(&clerk, "user_ada", &[]);
    machine(&v, &good).await.unwrap();
    let mut throttled = 0;
    for i in 0..20 {
        match machine(&v, &format!("ak_made_up_{i}")).await.unwrap_err() {
            Reason::MachineTokenVerificationThrottled => throttled += 1,
            other => assert_eq!(other, Reason::TokenInvalid),
        }
    }
    let calls = clerk.machine_verify_requests();
    assert!(
        calls <= 4,
        "{calls} calls: the burst of 3, at most one refilled"
    );
    assert!(throttled >= 17, "{throttled}");
    assert!(
        Reason::MachineTokenVerificationThrottled.is_unavailable(),
        "a 503, not a 401"
    );
    assert!(
        machine(&v, &good).await.is_ok(),
        "a cached key is not throttled"
    );
    assert_eq!(v.machine_stats().unwrap().throttled, throttled);
}

#[tokio::test]
async fn the_backend_api_failing_is_unavailable_never_a_401_and_not_cached() {
    let clerk = emulator().await;
    let v = verifier(
        &clerk,
        MachineOptions {
            timeout: Duration::from_millis(300),
            ..MachineOptions::default()
        },
    );
    let secret = api_key(&clerk, "user_ada", &[]);
    for fault in [
        Fault::Status(500),
        Fault::Status(429),
        Fault::Garbage,
        Fault::Hang,
    ] {
        clerk.set_machine_verify_fault(fault.clone());
        let reason = machine(&v, &secret).await.unwrap_err();
        assert_eq!(reason, Reason::UnexpectedError, "{fault:?}");
        assert!(reason.is_unavailable());
    }
    clerk.set_machine_verify_fault(Fault::None);
    assert!(
        machine(&v, &secret).await.is_ok(),
        "the failures were not cached"
    );
}

#[tokio::test]
async fn a_401_for_our_own_key_is_secret_key_invalid_and_unavailable() {
    let clerk = emulator().await;
    let v = Verifier::builder()
        .jwks_url(clerk.jwks_url())
        .secret_key("sk_test_not_the_instances")
        .api_url(clerk.api_url())
        .build()
        .unwrap();
    let reason = machine(&v, &api_key(&clerk, "user_ada", &[]))
        .await
        .unwrap_err();
    assert_eq!(reason, Reason::SecretKeyInvalid);
    assert!(reason.is_unavailable());
}

#[tokio::test]
async fn with_a_machine_secret_key_only_tokens_that_may_talk_to_that_machine_verify() {
    let clerk = emulator().await;
    let notes = clerk.create_machine("notes", &[]).unwrap();
    let reports = clerk.create_machine("reports", &[]).unwrap();
    let stranger = clerk.create_machine("stranger", &[]).unwrap();
    clerk.add_machine_scope(&reports.id, &notes.id).unwrap();
    let v = Verifier::builder()
        .jwks_url(clerk.jwks_url())
        .secret_key(clerk.secret_key())
        .machine_secret_key(notes.secret_key.clone())
        .api_url(clerk.api_url())
        .build()
        .unwrap();
    let allowed = clerk
        .create_m2m_token(&reports.id, NewM2mToken::new())
        .unwrap();
    assert!(machine(&v, &allowed.token).await.is_ok());
    let other = clerk
        .create_m2m_token(&stranger.id, NewM2mToken::new())
        .unwrap();
    assert_eq!(
        machine(&v, &other.token).await.unwrap_err(),
        Reason::TokenInvalid
    );
    // API keys are still verified with the instance's secret key.
    assert!(machine(&v, &api_key(&clerk, "user_ada", &[])).await.is_ok());
}

#[test]
fn a_machine_secret_key_without_a_secret_key_is_a_configuration_error() {
    let err = Verifier::builder()
        .jwks_url("http://127.0.0.1:1/.well-known/jwks.json")
        .machine_secret_key("ak_x")
        .build()
        .unwrap_err();
    assert_eq!(err.variable, "CLERK_MACHINE_SECRET_KEY");
}

#[tokio::test]
async fn an_oversized_opaque_token_is_refused_without_a_call() {
    let clerk = emulator().await;
    let v = verifier(&clerk, MachineOptions::default());
    let long = format!("ak_{}", "a".repeat(clerk_auth::MAX_TOKEN_LEN));
    assert_eq!(machine(&v, &long).await.unwrap_err(), Reason::TokenInvalid);
    assert_eq!(clerk.machine_verify_requests(), 0);
}
