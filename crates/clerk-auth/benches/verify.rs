//! The cost of verifying a realistic Clerk v2 session token, next to the bare RSA check.
//!
//! One group, four measurements of the same token bytes:
//!
//! - `rsa_verify_only`: ring's RSASSA-PKCS1-v1_5 SHA-256 check of the signing input, the
//!   floor for any verifier using this crypto library (key components re-read per call, as
//!   `RsaPublicKey::verify_rs256` does);
//! - `verify_fresh`: a full [`Verifier::verify`] with the verified-token cache off and a PEM key;
//! - `verify_cached`: the same with the cache on (every call a hit);
//! - `decode_only`: [`token::decode`], the form, base64url, JSON and header work.
//!
//! A second group, `verify_parts`, times pieces of `decode_only` (base64url of the three
//! segments, the strict JSON parse of the payload, a plain `serde_json` parse of the same bytes
//! for comparison) to show where the time between `rsa_verify_only` and `verify_fresh` goes.
//!
//! Run: `cargo bench -p clerk-auth --bench verify`; results and ratios go in `BENCHMARKS.md`.
#![allow(missing_docs)]

use std::hint::black_box;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_auth::{internals as token, Verifier};
use clerk_emulator::{Emulator, Organization, SigningKey, DEFAULT_AZP};
use criterion::{criterion_group, criterion_main, Criterion};
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};

const ISSUER: &str = "https://clerk.example.com";

fn bench(c: &mut Criterion) {
    let key = SigningKey::test_key();
    let emulator = Emulator::with_key(key.clone()).with_issuer(ISSUER);
    // A session token as Clerk mints it (claims v2, organization, azp, fva, a custom claim),
    // valid long enough for the whole run (same length of `exp` as a 60-second token).
    let token = emulator
        .session_token()
        .user("user_2NNEqL2nrIRdJ194ndJqAHwEfxC")
        .organization(
            Organization::new("org_2aBcDeFgHiJkLmNoPqRsTuVwXyZ")
                .slug("acme-inc")
                .role("org:admin")
                .permissions([
                    "org:posts:read",
                    "org:posts:write",
                    "org:posts:delete",
                    "org:billing:read",
                    "org:members:manage",
                ]),
        )
        .features(["u:reports"])
        .fva([12, -1])
        .claim("email", "ada.lovelace@example.com")
        .expires_in(3600)
        .sign();
    let build = |cache: usize| {
        Verifier::builder()
            .jwt_key(key.public_key_pem())
            .issuer(ISSUER)
            .authorized_parties([DEFAULT_AZP])
            .token_cache_capacity(cache)
            .build()
            .expect("verifier")
    };
    let fresh = build(0);
    let cached = build(1024);

    let (signing_input, signature_b64) = token.rsplit_once('.').expect("three segments");
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).expect("base64url");
    let (n, e) = (key.modulus().to_vec(), key.exponent().to_vec());
    let components = RsaPublicKeyComponents {
        n: &n[..],
        e: &e[..],
    };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        fresh.verify(&token).await.expect("the token verifies");
        cached.verify(&token).await.expect("the token verifies");
    });
    assert!(components
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            signing_input.as_bytes(),
            &signature
        )
        .is_ok());
    println!("token: {} bytes", token.len());

    let mut group = c.benchmark_group("verify");
    group.bench_function("rsa_verify_only", |b| {
        b.iter(|| {
            components
                .verify(
                    &RSA_PKCS1_2048_8192_SHA256,
                    black_box(signing_input.as_bytes()),
                    black_box(&signature),
                )
                .is_ok()
        })
    });
    group.bench_function("verify_fresh", |b| {
        b.to_async(&rt)
            .iter(|| async { fresh.verify(black_box(&token)).await.is_ok() })
    });
    group.bench_function("verify_cached", |b| {
        b.to_async(&rt)
            .iter(|| async { cached.verify(black_box(&token)).await.is_ok() })
    });
    group.bench_function("decode_only", |b| {
        b.iter(|| token::decode(black_box(&token)).is_ok())
    });
    group.finish();

    let segments: Vec<&str> = token.split('.').collect();
    let payload_json = URL_SAFE_NO_PAD.decode(segments[1]).expect("payload");
    let mut parts = c.benchmark_group("verify_parts");
    parts.bench_function("base64_three_segments", |b| {
        b.iter(|| {
            segments
                .iter()
                .map(|s| URL_SAFE_NO_PAD.decode(black_box(s)).map_or(0, |v| v.len()))
                .sum::<usize>()
        })
    });
    parts.bench_function("payload_strict_json", |b| {
        b.iter(|| token::parse_object(black_box(&payload_json), "payload").is_ok())
    });
    parts.bench_function("payload_serde_json_map", |b| {
        b.iter(|| {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(black_box(
                &payload_json,
            ))
            .is_ok()
        })
    });
    parts.finish();

    let stats = cached.stats();
    assert_eq!(
        stats.cache_misses, 1,
        "the cached verifier missed: {stats:?}"
    );
    assert_eq!(fresh.stats().cache_hits, 0);
}

criterion_group!(benches, bench);
criterion_main!(benches);
