//! The verification rules, one test per case that Clerk's own suites list for `verifyJwt`,
//! the assertions and the keys (clerk-spec §8), plus this library's stricter rules.
//! A fixed clock makes every time boundary exact.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clerk_auth::{FixedClock, VerifierBuilder};
use clerk_auth::{Reason, Rejection, Verifier};
use clerk_emulator::{Algorithm, Compact, SigningKey, TokenBuilder, CAT_JWT_TEMPLATE, CAT_M2M};
use serde_json::json;

/// The fixed "now": 2023-11-14T22:13:20Z.
const NOW: i64 = 1_700_000_000;

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(SigningKey::test_key)
}

fn other_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::test_key_n(1))
}

fn builder() -> VerifierBuilder {
    Verifier::builder()
        .jwt_key(key().public_key_pem())
        .clock(Arc::new(FixedClock::at_ms(NOW as u64 * 1000)))
        .token_cache_capacity(0)
}

fn token() -> TokenBuilder {
    TokenBuilder::new(key()).at(NOW)
}

fn verify_with(
    verifier: &Verifier,
    token: &str,
) -> Result<Arc<clerk_auth::SessionClaims>, Rejection> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(verifier.verify(token))
}

fn verify(token: &str) -> Result<Arc<clerk_auth::SessionClaims>, Rejection> {
    verify_with(&builder().build().expect("builds"), token)
}

fn reason(result: Result<Arc<clerk_auth::SessionClaims>, Rejection>) -> Reason {
    result.expect_err("must be refused").reason()
}

fn at_ms(ms: u64) -> Verifier {
    builder()
        .clock(Arc::new(FixedClock::at_ms(ms)))
        .build()
        .expect("builds")
}

// ---- hasValidSignature ----

#[test]
fn verifies_with_a_pem_formatted_key() {
    let claims = verify(&token().user("user_pem").sign()).expect("valid");
    assert_eq!(claims.user_id(), "user_pem");
}

#[test]
fn verifies_with_a_jwk_formatted_key() {
    let (kid, jwk) = clerk_auth::internals::parse_jwk(&key().jwk()).expect("usable JWK");
    assert_eq!(kid, key().kid());
    let t = token().compact();
    assert!(jwk.verify_rs256(
        t.signing_input().as_bytes(),
        &clerk_emulator::compact::b64url_decode(&t.signature_b64).expect("b64")
    ));
}

#[test]
fn signature_by_the_wrong_key_is_invalid() {
    assert_eq!(
        reason(verify(&token().signed_by(other_key()).sign())),
        Reason::TokenInvalidSignature
    );
}

// ---- decodeJwt ----

#[test]
fn decodes_a_valid_jwt_into_claims() {
    let claims = verify(&token().user("user_1").session("sess_1").sign()).expect("valid");
    assert_eq!(
        (claims.user_id(), claims.session_id()),
        ("user_1", "sess_1")
    );
    assert_eq!(claims.expires_at(), NOW + 60);
}

#[test]
fn empty_invalid_and_numeric_strings_are_token_invalid() {
    for t in [
        "",
        "null",
        "undefined",
        "invalid-token",
        "42",
        "a.b",
        "a.b.c",
    ] {
        assert_eq!(reason(verify(t)), Reason::TokenInvalid, "{t:?}");
    }
}

#[test]
fn segments_that_are_not_valid_base64url_are_token_invalid() {
    let good = token().compact();
    for t in [
        good.clone().padded().to_string(),
        good.clone().standard_alphabet().to_string(),
        format!(
            "{}.{}!.{}",
            good.header_b64, good.payload_b64, good.signature_b64
        ),
    ] {
        assert_eq!(reason(verify(&t)), Reason::TokenInvalid, "{t}");
    }
}

#[test]
fn segments_that_do_not_decode_to_json_are_token_invalid() {
    let t = Compact::from_bytes(b"not json", b"{}")
        .sign(key())
        .to_string();
    assert_eq!(reason(verify(&t)), Reason::TokenInvalid);
    let t = Compact::from_json(&token().header_json(), "[]")
        .sign(key())
        .to_string();
    assert_eq!(reason(verify(&t)), Reason::TokenInvalid);
}

// ---- verifyJwt ----

#[test]
fn returns_the_claims_for_a_valid_key_issuer_and_azp() {
    let verifier = builder()
        .issuer("https://clerk.example.com")
        .authorized_parties(["https://app.example.com"])
        .build()
        .expect("builds");
    let t = token()
        .issuer("https://clerk.example.com")
        .azp("https://app.example.com")
        .sign();
    let claims = verify_with(&verifier, &t).expect("valid");
    assert_eq!(claims.issuer(), Some("https://clerk.example.com"));
    assert_eq!(claims.authorized_party(), Some("https://app.example.com"));
}

#[test]
fn authorized_parties_list_with_an_empty_string_still_matches() {
    let verifier = builder()
        .authorized_parties(["", "https://app.example.com"])
        .build()
        .expect("builds");
    verify_with(&verifier, &token().azp("https://app.example.com").sign()).expect("valid");
}

#[test]
fn failure_carries_a_reason_and_a_message_without_the_token() {
    let t = token().at(NOW - 3600).sign();
    let err = verify(&t).expect_err("expired");
    assert_eq!(err.reason(), Reason::TokenExpired);
    assert!(err.message().contains("expired"));
    assert!(!err.message().contains(&t));
    assert!(!err
        .to_string()
        .contains(t.split('.').nth(2).expect("signature")));
}

#[test]
fn default_header_type_jwt_is_accepted_and_absent_typ_too() {
    verify(&token().sign()).expect("typ JWT");
    verify(&token().remove_header("typ").sign()).expect("no typ");
}

#[test]
fn other_header_types_are_token_invalid() {
    for typ in [
        json!("at+jwt"),
        json!("application/at+jwt"),
        json!("jwt"),
        json!(null),
        json!(["JWT"]),
    ] {
        assert_eq!(
            reason(verify(&token().header("typ", typ.clone()).sign())),
            Reason::TokenInvalid,
            "{typ}"
        );
    }
}

#[test]
fn array_aud_including_the_audience_passes() {
    let verifier = builder().audience(["aud-1"]).build().expect("builds");
    verify_with(
        &verifier,
        &token().claim("aud", json!(["aud-0", "aud-1"])).sign(),
    )
    .expect("valid");
}

#[test]
fn array_aud_lacking_the_audience_is_refused() {
    let verifier = builder().audience(["aud-1"]).build().expect("builds");
    assert_eq!(
        reason(verify_with(
            &verifier,
            &token().claim("aud", json!(["aud-0", "aud-2"])).sign()
        )),
        Reason::TokenVerificationFailed
    );
}

#[test]
fn expired_with_zero_clock_skew_is_refused() {
    let verifier = builder()
        .clock_skew(Duration::ZERO)
        .build()
        .expect("builds");
    let t = token().exp(NOW - 1).sign();
    assert_eq!(reason(verify_with(&verifier, &t)), Reason::TokenExpired);
}

#[test]
fn recently_expired_is_accepted_with_the_default_skew() {
    verify(&token().exp(NOW - 4).sign()).expect("within 5 s");
}

#[test]
fn clock_skew_from_the_environment_must_be_a_number_and_zero_is_honoured() {
    let err = VerifierBuilder::from_vars(|name| match name {
        "CLERK_CLOCK_SKEW_MS" => Some("NaN".into()),
        _ => None,
    })
    .expect_err("NaN");
    assert_eq!(err.variable, "CLERK_CLOCK_SKEW_MS");
    let zero = VerifierBuilder::from_vars(|name| match name {
        "CLERK_CLOCK_SKEW_MS" => Some("0".into()),
        "CLERK_JWT_KEY" => Some(key().public_key_pem()),
        _ => None,
    })
    .expect("zero")
    .clock(Arc::new(FixedClock::at_ms(NOW as u64 * 1000)))
    .build()
    .expect("builds");
    assert_eq!(
        reason(verify_with(&zero, &token().exp(NOW - 1).sign())),
        Reason::TokenExpired
    );
}

// ---- assertions: audience ----

fn aud_case(audience: &[&str], aud: Option<serde_json::Value>) -> Result<(), Reason> {
    let verifier = builder()
        .audience(audience.iter().copied())
        .build()
        .expect("builds");
    let mut t = token();
    if let Some(aud) = aud {
        t = t.claim("aud", aud);
    }
    verify_with(&verifier, &t.sign())
        .map(|_| ())
        .map_err(|e| e.reason())
}

#[test]
fn audience_rules_match_clerk() {
    use json as j;
    let fail = Err(Reason::TokenVerificationFailed);
    // no error if aud is missing / audience is missing
    assert_eq!(aud_case(&["a"], None), Ok(()));
    assert_eq!(aud_case(&[], Some(j!("a"))), Ok(()));
    // no error if aud contains empty values / audience is empty or has empty values
    assert_eq!(aud_case(&["a"], Some(j!(""))), Ok(()));
    assert_eq!(aud_case(&["a"], Some(j!(["", null]))), Ok(()));
    assert_eq!(aud_case(&[""], Some(j!("b"))), Ok(()));
    // passes when they match / the list contains aud / two arrays intersect
    assert_eq!(aud_case(&["a"], Some(j!("a"))), Ok(()));
    assert_eq!(aud_case(&["x", "a"], Some(j!("a"))), Ok(()));
    assert_eq!(aud_case(&["x", "a"], Some(j!(["y", "a"]))), Ok(()));
    // throws on a mismatch
    assert_eq!(aud_case(&["a"], Some(j!("b"))), fail);
    // throws when audience is a substring of aud (string or array) and the reverse
    assert_eq!(aud_case(&["aud"], Some(j!("audience"))), fail);
    assert_eq!(aud_case(&["aud"], Some(j!(["audience"]))), fail);
    assert_eq!(aud_case(&["audience"], Some(j!("aud"))), fail);
    assert_eq!(aud_case(&["audience"], Some(j!(["aud"]))), fail);
    // throws when two arrays do not intersect
    assert_eq!(aud_case(&["a", "b"], Some(j!(["c", "d"]))), fail);
}

// ---- assertions: algorithm ----

#[test]
fn supported_algorithm_passes_and_missing_or_unsupported_fail() {
    verify(&token().sign()).expect("RS256");
    assert_eq!(
        reason(verify(&token().remove_header("alg").sign())),
        Reason::TokenInvalidAlgorithm
    );
    for alg in ["none", "HS256", "RS384", "RS512", "PS256", "ES256", "rs256"] {
        assert_eq!(
            reason(verify(&token().header("alg", alg).sign())),
            Reason::TokenInvalidAlgorithm,
            "{alg}"
        );
    }
    // Really signed with RS512 by the right key: still refused (RS256 only).
    let rs512 = token().algorithm(Algorithm::RS512).sign();
    assert_eq!(reason(verify(&rs512)), Reason::TokenInvalidAlgorithm);
}

// ---- assertions: sub ----

#[test]
fn sub_must_be_a_non_empty_string() {
    verify(&token().sign()).expect("present");
    for sub in [
        None,
        Some(json!(42)),
        Some(json!(null)),
        Some(json!("")),
        Some(json!(["user_1"])),
    ] {
        let t = match &sub {
            None => token().remove_claim("sub"),
            Some(v) => token().claim("sub", v.clone()),
        };
        assert_eq!(
            reason(verify(&t.sign())),
            Reason::TokenVerificationFailed,
            "{sub:?}"
        );
    }
}

// ---- assertions: azp ----

#[test]
fn azp_rules_match_clerk() {
    let parties = builder()
        .authorized_parties(["https://a.example", "https://b.example"])
        .build()
        .expect("builds");
    let none = builder().build().expect("builds");
    let empty = builder()
        .authorized_parties(Vec::<String>::new())
        .build()
        .expect("builds");
    // missing or empty azp with no parties configured: OK
    verify_with(&none, &token().remove_claim("azp").sign()).expect("no parties");
    verify_with(&none, &token().azp("").sign()).expect("no parties");
    // parties missing or empty: OK whatever azp
    verify_with(&empty, &token().azp("https://evil.example").sign()).expect("empty parties");
    // missing or empty azp with parties configured: refused
    for t in [
        token().remove_claim("azp"),
        token().azp(""),
        token().claim("azp", json!(7)),
    ] {
        assert_eq!(
            reason(verify_with(&parties, &t.sign())),
            Reason::TokenInvalidAuthorizedParties
        );
    }
    // not included (exact, case-sensitive, no normalisation): refused
    for azp in [
        "https://c.example",
        "https://A.example",
        "https://a.example/",
        "a.example",
    ] {
        assert_eq!(
            reason(verify_with(&parties, &token().azp(azp).sign())),
            Reason::TokenInvalidAuthorizedParties,
            "{azp}"
        );
    }
    // included: OK
    verify_with(&parties, &token().azp("https://b.example").sign()).expect("listed");
}

// ---- assertions: exp, nbf, iat ----

#[test]
fn exp_rules_match_clerk() {
    let now_ms = NOW as u64 * 1000;
    let t = |exp: i64| token().exp(exp).sign();
    // past: refused; past within skew: OK
    assert_eq!(reason(verify(&t(NOW - 6))), Reason::TokenExpired);
    verify(&t(NOW - 4)).expect("within skew");
    // exactly at now - skew: expired (Clerk compares with <=)
    assert_eq!(reason(verify(&t(NOW - 5))), Reason::TokenExpired);
    // exp == now with no skew: refused; with the default skew: OK
    let strict = builder()
        .clock_skew(Duration::ZERO)
        .build()
        .expect("builds");
    assert_eq!(reason(verify_with(&strict, &t(NOW))), Reason::TokenExpired);
    verify(&t(NOW)).expect("now, with skew");
    // future: OK
    verify(&t(NOW + 60)).expect("future");
    // one millisecond matters
    assert_eq!(
        reason(verify_with(&at_ms(now_ms + 1000), &t(NOW - 4))),
        Reason::TokenExpired
    );
    verify_with(&at_ms(now_ms + 999), &t(NOW - 4)).expect("1 ms before the boundary");
}

#[test]
fn nbf_rules_match_clerk() {
    let t = |nbf: i64| token().nbf(nbf).sign();
    verify(&token().remove_claim("nbf").sign()).expect("undefined");
    verify(&t(NOW - 60)).expect("past");
    verify(&t(NOW - 3)).expect("past within skew");
    verify(&t(NOW)).expect("now");
    let strict = builder()
        .clock_skew(Duration::ZERO)
        .build()
        .expect("builds");
    verify_with(&strict, &t(NOW)).expect("now, no skew");
    assert_eq!(reason(verify(&t(NOW + 6))), Reason::TokenNotActiveYet);
    verify(&t(NOW + 5)).expect("future within skew");
    assert_eq!(
        reason(verify_with(&strict, &t(NOW + 1))),
        Reason::TokenNotActiveYet
    );
}

#[test]
fn iat_rules_match_clerk() {
    let t = |iat: i64| token().iat(iat).sign();
    verify(&token().remove_claim("iat").sign()).expect("undefined");
    verify(&t(NOW - 60)).expect("past");
    verify(&t(NOW - 3)).expect("past within skew");
    verify(&t(NOW)).expect("now");
    let strict = builder()
        .clock_skew(Duration::ZERO)
        .build()
        .expect("builds");
    verify_with(&strict, &t(NOW)).expect("now, no skew");
    assert_eq!(reason(verify(&t(NOW + 6))), Reason::TokenIatInTheFuture);
    verify(&t(NOW + 5)).expect("future within skew");
    assert_eq!(
        reason(verify_with(&strict, &t(NOW + 1))),
        Reason::TokenIatInTheFuture
    );
}

#[test]
fn claim_checks_run_in_clerks_order() {
    let parties = builder()
        .issuer("https://clerk.example.com")
        .authorized_parties(["https://a.example"])
        .build()
        .expect("builds");
    let all_wrong = token()
        .claim("sub", json!(1))
        .azp("https://evil.example")
        .issuer("https://evil.example")
        .exp(NOW - 100)
        .nbf(NOW + 100)
        .iat(NOW + 100);
    assert_eq!(
        reason(verify_with(&parties, &all_wrong.clone().sign())),
        Reason::TokenVerificationFailed
    );
    let t = all_wrong.clone().user("user_1");
    assert_eq!(
        reason(verify_with(&parties, &t.sign())),
        Reason::TokenInvalidAuthorizedParties
    );
    let t = all_wrong.clone().user("user_1").azp("https://a.example");
    assert_eq!(
        reason(verify_with(&parties, &t.sign())),
        Reason::TokenInvalidIssuer
    );
    let t = t.issuer("https://clerk.example.com");
    assert_eq!(
        reason(verify_with(&parties, &t.clone().sign())),
        Reason::TokenExpired
    );
    let t = t.exp(NOW + 60);
    assert_eq!(
        reason(verify_with(&parties, &t.clone().sign())),
        Reason::TokenNotActiveYet
    );
    let t = t.nbf(NOW);
    assert_eq!(
        reason(verify_with(&parties, &t.clone().sign())),
        Reason::TokenIatInTheFuture
    );
    verify_with(&parties, &t.iat(NOW).sign()).expect("all fixed");
}

// ---- stricter than Clerk: time claim types ----

#[test]
fn time_claims_of_the_wrong_type_are_refused_never_treated_as_absent() {
    for name in ["exp", "nbf", "iat"] {
        for value in [
            json!("9999999999"),
            json!(null),
            json!(true),
            json!({}),
            json!([NOW + 60]),
        ] {
            let t = token().claim(name, value.clone()).sign();
            assert_eq!(
                reason(verify(&t)),
                Reason::TokenVerificationFailed,
                "{name}: {value}"
            );
        }
    }
    assert_eq!(
        reason(verify(&token().remove_claim("exp").sign())),
        Reason::TokenVerificationFailed
    );
}

#[test]
fn extreme_time_values_never_overflow() {
    verify(&token().claim("exp", json!(u64::MAX)).sign()).expect("far future");
    verify(&token().claim("exp", json!(1e300)).sign()).expect("1e300");
    verify(&token().claim("exp", json!((NOW + 30) as f64 + 0.5)).sign()).expect("float exp");
    for exp in [json!(0), json!(-1), json!(i64::MIN), json!(-1e300)] {
        assert_eq!(
            reason(verify(&token().claim("exp", exp.clone()).sign())),
            Reason::TokenExpired,
            "{exp}"
        );
    }
    for nbf in [json!(u64::MAX), json!(1e300)] {
        assert_eq!(
            reason(verify(&token().claim("nbf", nbf).sign())),
            Reason::TokenNotActiveYet
        );
    }
    verify(&token().claim("nbf", json!(i64::MIN)).sign()).expect("ancient nbf");
    assert_eq!(
        reason(verify(&token().claim("iat", json!(u64::MAX)).sign())),
        Reason::TokenIatInTheFuture
    );
}

// ---- verify.test.ts: session ----

#[test]
fn signature_error_comes_before_claims_errors() {
    let t = token()
        .at(NOW - 3600)
        .claim("sub", json!(1))
        .signed_by(other_key())
        .sign();
    assert_eq!(reason(verify(&t)), Reason::TokenInvalidSignature);
}

#[tokio::test]
async fn m2m_category_is_refused_before_key_resolution() {
    let server = clerk_emulator::Emulator::with_key(key().clone())
        .serve("127.0.0.1:0")
        .await
        .expect("serves");
    let verifier = Verifier::builder()
        .jwks_url(server.jwks_url())
        .background_refresh(false)
        .build()
        .expect("builds");
    let t = server
        .session_token()
        .header("cat", CAT_M2M)
        .header("kid", "unknown")
        .sign();
    let err = verifier.verify(&t).await.expect_err("m2m");
    assert_eq!(err.reason(), Reason::TokenInvalid);
    assert_eq!(server.jwks_requests(), 0, "no key was resolved");
}

// ---- stricter than Clerk: session-token shape ----

#[test]
fn a_token_without_sid_is_a_template_token_not_a_session_token() {
    assert_eq!(
        reason(verify(&token().remove_claim("sid").sign())),
        Reason::TokenTypeMismatch
    );
    assert_eq!(
        reason(verify(&token().session("").sign())),
        Reason::TokenTypeMismatch
    );
    assert_eq!(
        reason(verify(&token().header("cat", CAT_JWT_TEMPLATE).sign())),
        Reason::TokenTypeMismatch
    );
}

#[test]
fn pending_sessions_are_signed_out_by_default_and_configurable() {
    let pending = token().status("pending").sign();
    assert_eq!(reason(verify(&pending)), Reason::SessionPending);
    let lenient = builder()
        .treat_pending_as_signed_out(false)
        .build()
        .expect("builds");
    let claims = verify_with(&lenient, &pending).expect("accepted when configured");
    assert!(claims.is_pending());
}

#[test]
fn issuer_is_compared_exactly_when_configured() {
    let verifier = builder()
        .issuer("https://clerk.example.com")
        .build()
        .expect("builds");
    verify_with(
        &verifier,
        &token().issuer("https://clerk.example.com").sign(),
    )
    .expect("exact");
    for iss in [
        json!("https://clerk.example.com/"),
        json!("https://CLERK.example.com"),
        json!("http://clerk.example.com"),
        json!(null),
        json!(["https://clerk.example.com"]),
    ] {
        assert_eq!(
            reason(verify_with(
                &verifier,
                &token().claim("iss", iss.clone()).sign()
            )),
            Reason::TokenInvalidIssuer,
            "{iss}"
        );
    }
    assert_eq!(
        reason(verify_with(&verifier, &token().remove_claim("iss").sign())),
        Reason::TokenInvalidIssuer
    );
}

#[test]
fn issuer_is_derived_from_the_publishable_key() {
    let verifier = builder()
        .publishable_key("pk_test_Y2xlcmsuY2xlcmsuZGV2JA")
        .build()
        .expect("builds");
    assert_eq!(verifier.issuer(), Some("https://clerk.clerk.dev"));
    verify_with(&verifier, &token().issuer("https://clerk.clerk.dev").sign()).expect("own issuer");
    assert_eq!(
        reason(verify_with(
            &verifier,
            &token().issuer("https://other.clerk.accounts.dev").sign()
        )),
        Reason::TokenInvalidIssuer
    );
}

// ---- keys.test.ts: local (PEM) key ----

#[test]
fn an_empty_or_malformed_pem_is_a_configuration_error() {
    for pem in [
        "",
        "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----",
        "MIIBIjANBg",
    ] {
        let err = Verifier::builder()
            .jwt_key(pem)
            .build()
            .expect_err("bad PEM");
        assert_eq!(err.variable, "CLERK_JWT_KEY", "{pem:?}");
    }
    let err = Verifier::builder().build().expect_err("no key source");
    assert!(err.message.contains("CLERK_JWT_KEY"), "{err}");
}

#[test]
fn the_pem_key_verifies_whatever_the_kid() {
    for kid in [json!("ins_a"), json!("ins_b"), json!("local-x")] {
        verify(&token().header("kid", kid.clone()).sign()).expect("kid ignored with a PEM key");
    }
    verify(&token().remove_header("kid").sign()).expect("no kid");
}

#[test]
fn pem_keys_of_2048_to_8192_bits_are_accepted_and_smaller_ones_refused() {
    let big = SigningKey::generate(4096);
    let verifier = Verifier::builder()
        .jwt_key(big.public_key_pem())
        .clock(Arc::new(FixedClock::at_ms(NOW as u64 * 1000)))
        .build()
        .expect("4096-bit key");
    verify_with(&verifier, &TokenBuilder::new(&big).at(NOW).sign()).expect("verifies");
    let small = SigningKey::generate(1024);
    let err = Verifier::builder()
        .jwt_key(small.public_key_pem())
        .build()
        .expect_err("1024-bit key");
    assert!(err.message.contains("1024"), "{err}");
}

// ---- stricter than Clerk: header ----

#[test]
fn crit_header_is_refused_and_key_headers_are_never_used() {
    assert_eq!(
        reason(verify(&token().header("crit", json!(["exp"])).sign())),
        Reason::TokenInvalid
    );
    // A token signed by an attacker who embeds their own key: the embedded key is ignored.
    let attacker = other_key();
    for (name, value) in [
        ("jwk", attacker.jwk()),
        ("jku", json!("https://evil.example/jwks.json")),
        ("x5u", json!("https://evil.example/cert")),
        ("x5c", json!(["MIIB"])),
    ] {
        let t = token().header(name, value).signed_by(attacker).sign();
        assert_eq!(reason(verify(&t)), Reason::TokenInvalidSignature, "{name}");
    }
}

#[test]
fn signature_bytes_must_be_exactly_right() {
    let good = token().compact();
    let sig = clerk_emulator::compact::b64url_decode(&good.signature_b64).expect("b64");
    let mut flipped = sig.clone();
    flipped[100] ^= 1;
    let mut extra = sig.clone();
    extra.push(0);
    let mut leading = vec![0u8];
    leading.extend_from_slice(&sig);
    for (what, bytes) in [
        ("empty", vec![]),
        ("flipped bit", flipped),
        ("truncated", sig[..255].to_vec()),
        ("extra byte", extra),
        ("leading zero", leading),
        ("zero", vec![0u8; 256]),
        ("one", {
            let mut one = vec![0u8; 256];
            one[255] = 1;
            one
        }),
        ("all ones", vec![0xffu8; 256]),
    ] {
        let t = good.clone().with_signature(&bytes).to_string();
        assert_eq!(reason(verify(&t)), Reason::TokenInvalidSignature, "{what}");
    }
    let swapped = Compact::from_json(
        &token().header_json(),
        &token().user("user_other").payload_json(),
    )
    .with_signature(&sig)
    .to_string();
    assert_eq!(reason(verify(&swapped)), Reason::TokenInvalidSignature);
}

// ---- revocation ----

#[test]
fn a_revoked_session_is_refused_at_once_even_from_the_cache() {
    let verifier = builder().token_cache_capacity(100).build().expect("builds");
    let revoked = token().session("sess_revoked").sign();
    let other = token().session("sess_other").sign();
    verify_with(&verifier, &revoked).expect("valid before");
    verify_with(&verifier, &revoked).expect("cached");
    verify_with(&verifier, &other).expect("valid");
    verifier.revoke_session("sess_revoked");
    assert!(verifier.is_revoked("sess_revoked", "user_x"));
    let err = verify_with(&verifier, &revoked).expect_err("revoked");
    assert_eq!(err.reason(), Reason::SessionRevoked);
    assert!(!err.message().contains(&revoked));
    // A token of the same session minted later, never cached, is refused too.
    let later = token().session("sess_revoked").sign();
    assert_eq!(
        reason(verify_with(&verifier, &later)),
        Reason::SessionRevoked
    );
    // Other sessions are unaffected, cached or not.
    verify_with(&verifier, &other).expect("other session, cached");
    verify_with(&verifier, &token().session("sess_new").sign()).expect("other session, fresh");
    let stats = verifier.stats();
    assert_eq!(stats.cache_hits, 3, "{stats:?}");
}

#[test]
fn a_revoked_user_loses_every_session() {
    let verifier = builder().build().expect("builds");
    let a = token().user("user_gone").session("sess_a").sign();
    let b = token().user("user_gone").session("sess_b").sign();
    let keep = token().user("user_kept").sign();
    verify_with(&verifier, &a).expect("valid before");
    verifier.revoke_user("user_gone");
    for t in [&a, &b] {
        assert_eq!(reason(verify_with(&verifier, t)), Reason::SessionRevoked);
    }
    verify_with(&verifier, &keep).expect("another user");
}

#[test]
fn key_cache_tuning_comes_from_the_environment_and_is_checked() {
    let vars = |pairs: Vec<(&'static str, &'static str)>| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    for (name, bad) in [
        ("CLERK_JWKS_REFRESH_SECS", "soon"),
        ("CLERK_JWKS_MAX_STALENESS_SECS", "0"),
        ("CLERK_JWKS_UNKNOWN_KID_INTERVAL_MS", "-1"),
        ("CLERK_JWKS_TIMEOUT_MS", "1.5"),
    ] {
        let err = VerifierBuilder::from_vars(vars(vec![(name, bad)])).expect_err(name);
        assert_eq!(err.variable, name);
    }
    let verifier = VerifierBuilder::from_vars(vars(vec![
        ("CLERK_JWKS_URL", "http://127.0.0.1:9/.well-known/jwks.json"),
        ("CLERK_JWKS_REFRESH_SECS", "7"),
        ("CLERK_JWKS_MAX_STALENESS_SECS", "60"),
        ("CLERK_JWKS_UNKNOWN_KID_INTERVAL_MS", "250"),
        ("CLERK_JWKS_TIMEOUT_MS", "800"),
    ]))
    .expect("valid")
    .background_refresh(false)
    .build()
    .expect("builds");
    let options = verifier.jwks().expect("remote keys").options();
    assert_eq!(options.refresh_interval, Duration::from_secs(7));
    assert_eq!(options.max_staleness, Duration::from_secs(60));
    assert_eq!(options.unknown_kid_interval, Duration::from_millis(250));
    assert_eq!(options.timeout, Duration::from_millis(800));
}

#[test]
fn token_cache_capacity_comes_from_the_environment_zero_turns_it_off() {
    for bad in ["lots", "-1", "1.5", "10000001"] {
        let err = VerifierBuilder::from_vars(|name| match name {
            "CLERK_TOKEN_CACHE_CAPACITY" => Some(bad.into()),
            _ => None,
        })
        .expect_err(bad);
        assert_eq!(err.variable, "CLERK_TOKEN_CACHE_CAPACITY", "{bad}");
    }
    let with_capacity = |capacity: &'static str| {
        VerifierBuilder::from_vars(move |name| match name {
            "CLERK_TOKEN_CACHE_CAPACITY" => Some(capacity.into()),
            "CLERK_JWT_KEY" => Some(key().public_key_pem()),
            _ => None,
        })
        .expect("valid")
        .clock(Arc::new(FixedClock::at_ms(NOW as u64 * 1000)))
        .build()
        .expect("builds")
    };
    let t = token().sign();
    let off = with_capacity("0");
    for _ in 0..2 {
        verify_with(&off, &t).expect("valid");
    }
    assert_eq!((off.stats().cache_hits, off.stats().cache_misses), (0, 2));
    let one = with_capacity("1");
    for _ in 0..2 {
        verify_with(&one, &t).expect("valid");
    }
    assert_eq!((one.stats().cache_hits, one.stats().cache_misses), (1, 1));
}
