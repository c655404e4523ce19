//! `acceptsToken` without the Backend API: which tokens each setting takes, and the local
//! verification of M2M and OAuth JWTs (clerk-spec §5, microservices.md §C.1, §C.3), with a
//! fixed clock and real RSA signatures.

use std::sync::Arc;

use clerk_auth::{Accepts, Caller, FixedClock, Reason, TokenType, Verifier, VerifierBuilder};
use clerk_emulator::{SigningKey, TokenBuilder, CAT_M2M};
use serde_json::json;

/// The fixed "now": 2023-11-14T22:13:20Z.
const NOW: i64 = 1_700_000_000;

fn builder() -> VerifierBuilder {
    Verifier::builder()
        .jwt_key(SigningKey::test_key().public_key_pem())
        .clock(Arc::new(FixedClock::at_ms(NOW as u64 * 1000)))
}

/// An M2M JWT as Clerk mints them (the fixture `mockM2MJwtPayload`).
fn m2m() -> TokenBuilder {
    TokenBuilder::new(&SigningKey::test_key())
        .at(NOW)
        .header("typ", "JWT")
        .header("cat", CAT_M2M)
        .remove_claim("sid")
        .remove_claim("azp")
        .remove_claim("v")
        .remove_claim("fva")
        .user("mch_2xhFjEI5X2qWRvtV13BzSj8H6Dk")
        .claim("aud", json!(["mch_other"]))
        .claim("scopes", "mch_other mch_third")
        .jti("mt_f7f0ba8c3b4843ce7d85fcdd5e71853e")
        .claim("important_metadata", "Some useful data")
}

/// An OAuth access token JWT (the fixture `mockSignedOAuthAccessTokenJwt`).
fn oauth() -> TokenBuilder {
    TokenBuilder::new(&SigningKey::test_key())
        .at(NOW)
        .header("typ", "at+jwt")
        .remove_claim("sid")
        .remove_claim("v")
        .remove_claim("fva")
        .user("user_2xhFjEI5X2qWRvtV13BzSj8H6Dk")
        .jti("oat_0ef5a7a33d87ed87ee7954c845d80450")
        .claim("client_id", "client_2xhFjEI5X2qWRvtV13BzSj8H6Dk")
        .claim("scope", "read:foo write:bar")
}

fn session() -> String {
    TokenBuilder::new(&SigningKey::test_key()).at(NOW).sign()
}

fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn authenticate(verifier: &Verifier, token: &str, accepts: Accepts) -> Result<Caller, Reason> {
    run(verifier.authenticate(token, accepts)).map_err(|r| r.reason())
}

fn machine(caller: Result<Caller, Reason>) -> Arc<clerk_auth::MachineAuth> {
    match caller {
        Ok(Caller::Machine(machine)) => machine,
        other => panic!("expected a machine, got {other:?}"),
    }
}

#[test]
fn an_m2m_jwt_is_verified_locally_into_clerks_auth_object() {
    let verifier = builder().build().unwrap();
    let auth = machine(authenticate(&verifier, &m2m().sign(), Accepts::ANY));
    assert_eq!(auth.token_type(), TokenType::M2mToken);
    assert_eq!(auth.id(), "mt_f7f0ba8c3b4843ce7d85fcdd5e71853e");
    assert_eq!(auth.subject(), "mch_2xhFjEI5X2qWRvtV13BzSj8H6Dk");
    assert_eq!(auth.machine_id(), Some("mch_2xhFjEI5X2qWRvtV13BzSj8H6Dk"));
    assert_eq!(auth.scopes(), ["mch_other", "mch_third"]);
    let claims = auth.claims().expect("claims");
    assert_eq!(claims["important_metadata"], "Some useful data");
    assert_eq!(
        claims["aud"],
        json!(["mch_other"]),
        "aud stays in claims, as in Clerk"
    );
    for registered in ["iss", "sub", "exp", "nbf", "iat", "jti"] {
        assert!(!claims.contains_key(registered), "{registered} is left out");
    }
    assert_eq!(auth.user_id(), None);
    assert_eq!(auth.expiration_ms(), Some((NOW + 60) * 1000));
    assert!(run(verifier.authenticate(&m2m().sign(), Accepts::only(TokenType::M2mToken))).is_ok());
}

#[test]
fn m2m_scopes_fall_back_to_aud() {
    let verifier = builder().build().unwrap();
    let token = m2m().remove_claim("scopes").sign();
    let auth = machine(authenticate(&verifier, &token, Accepts::ANY));
    assert_eq!(auth.scopes(), ["mch_other"]);
}

#[test]
fn an_m2m_jwt_of_another_category_is_token_invalid() {
    let verifier = builder().build().unwrap();
    let token = m2m().header("cat", "cl_B7d4PD222AAA").sign();
    assert_eq!(
        authenticate(&verifier, &token, Accepts::ANY).unwrap_err(),
        Reason::TokenInvalid
    );
    let absent = m2m().remove_header("cat").sign();
    assert!(
        authenticate(&verifier, &absent, Accepts::ANY).is_ok(),
        "cat may be absent"
    );
}

#[test]
fn machine_jwt_failures_are_token_verification_failed_as_in_clerk() {
    let verifier = builder().build().unwrap();
    let expired = m2m().exp(NOW - 10).sign();
    let early = m2m().nbf(NOW + 60).sign();
    let forged = m2m().signed_by(&SigningKey::test_key_n(1)).sign();
    let typ = m2m().header("typ", "at+jwt").sign();
    let oauth_expired = oauth().exp(NOW - 10).sign();
    let oauth_typ_jwt_alg = oauth().header("alg", "HS256").sign();
    for token in [
        expired,
        early,
        forged,
        typ,
        oauth_expired,
        oauth_typ_jwt_alg,
    ] {
        assert_eq!(
            authenticate(&verifier, &token, Accepts::ANY).unwrap_err(),
            Reason::TokenVerificationFailed
        );
    }
}

#[test]
fn an_m2m_jwt_must_name_this_machine_when_its_id_is_configured() {
    let verifier = builder().machine_id("mch_other").build().unwrap();
    assert!(authenticate(&verifier, &m2m().sign(), Accepts::ANY).is_ok());
    let elsewhere = builder().machine_id("mch_me").build().unwrap();
    assert_eq!(
        authenticate(&elsewhere, &m2m().sign(), Accepts::ANY).unwrap_err(),
        Reason::TokenVerificationFailed
    );
}

#[test]
fn an_oauth_jwt_is_verified_locally_into_clerks_auth_object() {
    let verifier = builder().build().unwrap();
    let auth = machine(authenticate(&verifier, &oauth().sign(), Accepts::ANY));
    assert_eq!(auth.token_type(), TokenType::OAuthToken);
    assert_eq!(auth.id(), "oat_0ef5a7a33d87ed87ee7954c845d80450");
    assert_eq!(auth.user_id(), Some("user_2xhFjEI5X2qWRvtV13BzSj8H6Dk"));
    assert_eq!(auth.client_id(), Some("client_2xhFjEI5X2qWRvtV13BzSj8H6Dk"));
    assert_eq!(auth.scopes(), ["read:foo", "write:bar"]);
    assert!(!auth.has_scope("read") && auth.has_scope("read:foo"));
    let long_typ = oauth().header("typ", "application/at+jwt").sign();
    assert!(authenticate(&verifier, &long_typ, Accepts::ANY).is_ok());
    let scp = oauth().claim("scp", json!(["a", "b"])).sign();
    assert_eq!(
        machine(authenticate(&verifier, &scp, Accepts::ANY)).scopes(),
        ["a", "b"]
    );
}

#[test]
fn the_oauth_audience_rule_requires_aud_when_an_audience_is_configured() {
    let verifier = builder()
        .audience(["https://api.example.com"])
        .build()
        .unwrap();
    let missing = oauth().sign();
    let other = oauth().claim("aud", "https://other.example.com").sign();
    let empty = oauth()
        .claim("aud", json!(["https://api.example.com", ""]))
        .sign();
    for token in [missing, other, empty] {
        assert_eq!(
            authenticate(&verifier, &token, Accepts::ANY).unwrap_err(),
            Reason::TokenVerificationFailed
        );
    }
    let right = oauth()
        .claim("aud", json!(["x", "https://api.example.com"]))
        .sign();
    assert!(authenticate(&verifier, &right, Accepts::ANY).is_ok());
}

#[test]
fn each_accepts_setting_takes_its_types_and_refuses_the_others() {
    let verifier = builder().build().unwrap();
    let m2m = m2m().sign();
    let oauth = oauth().sign();
    let session = session();
    let only = Accepts::only;
    for (token, accepts, expected) in [
        (&session, Accepts::SESSION, Ok(TokenType::SessionToken)),
        (&session, Accepts::ANY, Ok(TokenType::SessionToken)),
        (
            &session,
            only(TokenType::ApiKey),
            Err(Reason::TokenTypeMismatch),
        ),
        (&m2m, Accepts::SESSION, Err(Reason::TokenTypeMismatch)),
        (
            &m2m,
            only(TokenType::OAuthToken),
            Err(Reason::TokenTypeMismatch),
        ),
        (
            &m2m,
            Accepts::of(&[TokenType::SessionToken, TokenType::OAuthToken]),
            Err(Reason::TokenTypeMismatch),
        ),
        (
            &m2m,
            Accepts::SESSION.or(TokenType::M2mToken),
            Ok(TokenType::M2mToken),
        ),
        (&oauth, Accepts::SESSION, Err(Reason::TokenTypeMismatch)),
        (
            &oauth,
            only(TokenType::OAuthToken),
            Ok(TokenType::OAuthToken),
        ),
        (&oauth, Accepts::of(&[]), Err(Reason::TokenTypeMismatch)),
    ] {
        let got = authenticate(&verifier, token, accepts).map(|c| c.token_type());
        assert_eq!(got, expected, "{accepts:?}");
    }
}

#[test]
fn with_the_session_token_alone_an_opaque_machine_token_is_a_malformed_jwt() {
    let verifier = builder().secret_key("sk_test_x").build().unwrap();
    for token in [
        "ak_LCWGdaM8mv8K4PC/57IICZQXAeWfCgF30DZaFXHoGn9=",
        "mt_0123",
        "oat_0123",
    ] {
        assert_eq!(
            authenticate(&verifier, token, Accepts::SESSION).unwrap_err(),
            Reason::TokenInvalid,
            "{token}"
        );
    }
    assert_eq!(
        authenticate(&verifier, "ak_x", Accepts::only(TokenType::M2mToken)).unwrap_err(),
        Reason::TokenTypeMismatch
    );
}

#[test]
fn opaque_machine_tokens_without_a_secret_key_are_refused_with_their_own_reason() {
    let verifier = builder().build().unwrap();
    assert!(!verifier.verifies_opaque_machine_tokens());
    assert_eq!(verifier.machine_stats(), None);
    for token in ["ak_x", "mt_x", "oat_x"] {
        assert_eq!(
            authenticate(&verifier, token, Accepts::ANY).unwrap_err(),
            Reason::MachineTokensDisabled
        );
    }
}

#[test]
fn a_cached_session_token_is_still_refused_where_only_machines_are_accepted() {
    let verifier = builder().build().unwrap();
    let token = session();
    assert!(run(verifier.verify(&token)).is_ok());
    assert_eq!(verifier.stats().cache_misses, 1);
    assert_eq!(
        authenticate(&verifier, &token, Accepts::only(TokenType::ApiKey)).unwrap_err(),
        Reason::TokenTypeMismatch
    );
    assert!(authenticate(&verifier, &token, Accepts::ANY).is_ok());
    assert_eq!(
        verifier.stats().cache_hits,
        2,
        "both answered from the cache"
    );
}

#[test]
fn machine_tokens_are_read_from_the_authorization_header_only() {
    let verifier = builder().build().unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::COOKIE,
        format!("__session={}", m2m().sign()).parse().unwrap(),
    );
    let machines = Accepts::only(TokenType::M2mToken);
    assert_eq!(
        run(verifier.authenticate_request(&headers, machines))
            .unwrap_err()
            .reason(),
        Reason::TokenMissing
    );
    assert_eq!(
        run(verifier.authenticate_request(&http::HeaderMap::new(), Accepts::ANY))
            .unwrap_err()
            .reason(),
        Reason::SessionTokenMissing
    );
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {}", m2m().sign()).parse().unwrap(),
    );
    assert!(run(verifier.authenticate_request(&headers, machines)).is_ok());
}

#[test]
fn a_list_of_the_session_token_alone_is_clerks_array_form() {
    // `["session_token"]` is not `"session_token"`: an opaque machine token is a type not in
    // the list (token-type-mismatch), where the string form takes it for a malformed JWT.
    let verifier = builder().build().unwrap();
    let list = Accepts::of(&[TokenType::SessionToken]);
    for token in [
        "ak_LCWGdaM8mv8K4PC/57IICZQXAeWfCgF30DZaFXHoGn9=",
        "mt_0123",
        "oat_0123",
    ] {
        assert_eq!(
            authenticate(&verifier, token, list).unwrap_err(),
            Reason::TokenTypeMismatch,
            "{token}"
        );
        assert_eq!(
            authenticate(&verifier, token, Accepts::SESSION).unwrap_err(),
            Reason::TokenInvalid,
            "{token}"
        );
    }
    assert!(authenticate(&verifier, &session(), list).is_ok());
}

#[test]
fn a_non_session_category_is_a_type_mismatch_on_the_session_path() {
    // authenticateRequest's hasNonSessionJwtCategory, before any verification: a JWT with
    // the M2M category but no machine subject, a JWT-template token, an unknown category,
    // forged or not.
    let verifier = builder().build().unwrap();
    let forged = SigningKey::test_key_n(1);
    let base = || TokenBuilder::new(&SigningKey::test_key()).at(NOW);
    for token in [
        base().header("cat", CAT_M2M).sign(),
        base().header("cat", "cl_B7d4PD222AAA").sign(),
        base().header("cat", "cl_unknown").sign(),
        base().header("cat", 1).sign(),
        base().header("cat", CAT_M2M).signed_by(&forged).sign(),
    ] {
        for accepts in [
            Accepts::SESSION,
            Accepts::ANY,
            Accepts::SESSION.or(TokenType::ApiKey),
        ] {
            assert_eq!(
                authenticate(&verifier, &token, accepts).unwrap_err(),
                Reason::TokenTypeMismatch,
                "{accepts:?}"
            );
        }
    }
    let ignore = base().header("cat", "cl_I7d4PD111III").sign();
    assert!(authenticate(&verifier, &ignore, Accepts::SESSION).is_ok());
    // `verify` is verifyToken: it takes an unknown category, but does not cache it, so that
    // `authenticate` (whose cache hits never look at the header again) refuses it.
    let cached = Verifier::builder()
        .jwt_key(SigningKey::test_key().public_key_pem())
        .clock(Arc::new(FixedClock::at_ms(NOW as u64 * 1000)))
        .build()
        .unwrap();
    let unknown = base().header("cat", "cl_unknown").sign();
    assert!(run(cached.verify(&unknown)).is_ok());
    assert_eq!(
        authenticate(&cached, &unknown, Accepts::SESSION).unwrap_err(),
        Reason::TokenTypeMismatch
    );
    assert_eq!(cached.stats().cache_hits, 0, "not cached");
    assert!(run(cached.verify(&unknown)).is_ok());
    assert_eq!(cached.stats().cache_hits, 0);
}

#[test]
fn a_jwt_with_an_empty_segment_is_no_machine_token() {
    // Clerk's JWT format test needs three non-empty base64url segments: an M2M-looking JWT
    // without a signature is no M2M JWT, so not an `m2m_token` at all.
    let verifier = builder().build().unwrap();
    let unsigned = m2m().signature_bytes(Vec::new()).sign();
    assert!(unsigned.ends_with('.'));
    assert_eq!(TokenType::of(&unsigned), TokenType::SessionToken);
    assert_eq!(
        authenticate(&verifier, &unsigned, Accepts::only(TokenType::M2mToken)).unwrap_err(),
        Reason::TokenTypeMismatch
    );
    let no_cat = m2m()
        .remove_header("cat")
        .signature_bytes(Vec::new())
        .sign();
    assert_eq!(
        authenticate(&verifier, &no_cat, Accepts::ANY).unwrap_err(),
        Reason::TokenInvalidSignature
    );
}

#[test]
fn the_oauth_audience_rule_refuses_an_aud_with_a_value_that_is_no_string() {
    let verifier = builder()
        .audience(["https://api.example.com"])
        .build()
        .unwrap();
    for aud in [
        json!(["https://api.example.com", 1]),
        json!([["https://api.example.com"]]),
    ] {
        let token = oauth().claim("aud", aud.clone()).sign();
        assert_eq!(
            authenticate(&verifier, &token, Accepts::ANY).unwrap_err(),
            Reason::TokenVerificationFailed,
            "{aud}"
        );
    }
}
