//! A cheap, deterministic stand-in for fuzzing that runs on stable Rust in CI.
//!
//! A realistic session token minted by the emulator is mutated a few thousand times (bit flips,
//! truncations, deletions, insertions of `.`, `=`, whitespace and other bytes, segment swaps,
//! base64 re-spellings, and re-encoded headers and claims with extreme values under the
//! original signature). Every mutation goes through [`token::decode`] and [`Verifier::verify`]
//! (token cache off, and on) and must not panic; a mutation may only be accepted when it
//! decodes to the same header JSON, payload JSON and signature bytes as the original.
//!
//! The coverage-guided fuzz targets live in `fuzz/` (see `fuzz/README.md`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_auth::internals as token;
use clerk_auth::FixedClock;
use clerk_auth::Verifier;
use clerk_emulator::compact::{b64url, noncanonical, pad, standard_alphabet};
use clerk_emulator::{Emulator, Organization, SigningKey, DEFAULT_AZP};
use serde_json::{json, Map, Value};

/// How many mutations are tried. About a second in a debug build.
const MUTATIONS: usize = 5000;

/// SplitMix64: deterministic, so a failure names a reproducible case number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }
}

/// Header JSON, payload JSON and signature bytes of a token that decodes.
type Parts = (Map<String, Value>, Map<String, Value>, Vec<u8>);

fn parts(token: &str) -> Option<Parts> {
    let decoded = token::decode(token).ok()?;
    let h64 = token.split('.').next()?;
    let header = token::parse_object(&URL_SAFE_NO_PAD.decode(h64).ok()?, "header").ok()?;
    Some((header, decoded.payload, decoded.signature))
}

/// Values that have broken JWT libraries: wrong types, overflowing and non-integer numbers.
const EXTREME_VALUES: &[&str] = &[
    "0",
    "-1",
    "1.5",
    "1e300",
    "-1e300",
    "1e400",
    "9007199254740993",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "99999999999999999999999999999999999999",
    "\"9999999999\"",
    "\"\"",
    "null",
    "true",
    "[]",
    "[1,2]",
    "{}",
    "{\"a\":{\"b\":{\"c\":[[[[[[[[[[]]]]]]]]]]}}}",
    "\"\\u0000\"",
    "\"\\ud800\"",
];

const CLAIMS: &[&str] = &[
    "exp", "nbf", "iat", "sub", "sid", "azp", "iss", "aud", "v", "o", "fea", "fva", "sts", "act",
    "pla", "email",
];

const HEADER_FIELDS: &[&str] = &["alg", "kid", "typ", "cat", "crit", "jwk", "jku", "b64"];

const INSERTIONS: &[&str] = &[
    ".", "=", "==", " ", "\t", "\n", "\r\n", "+", "/", "-", "_", "A", "0", "%2E", "\0", "\u{feff}",
    "é", "..",
];

/// One mutation of `original`, chosen by `rng`.
fn mutate(original: &str, rng: &mut Rng) -> String {
    let bytes = original.as_bytes();
    let segments: Vec<&str> = original.split('.').collect();
    let at = rng.below(bytes.len() + 1);
    match rng.below(12) {
        // Flip one of the low 7 bits of one byte (stays ASCII, hence a valid &str).
        0 | 1 => {
            let mut out = bytes.to_vec();
            let i = rng.below(out.len());
            out[i] ^= 1 << rng.below(7);
            String::from_utf8(out).expect("ASCII")
        }
        2 => original[..at].to_owned(),
        3 => {
            let end = (at + 1 + rng.below(8)).min(bytes.len());
            format!("{}{}", &original[..at], &original[end..])
        }
        4 | 5 => format!(
            "{}{}{}",
            &original[..at],
            rng.pick(INSERTIONS),
            &original[at..]
        ),
        // Rearrange whole segments.
        6 => {
            let pick = |rng: &mut Rng| segments[rng.below(segments.len())];
            let count = 1 + rng.below(5);
            (0..count).map(|_| pick(rng)).collect::<Vec<_>>().join(".")
        }
        // Re-spell one segment in another base64 flavour.
        7 => {
            let i = rng.below(3);
            let respelled = match rng.below(3) {
                0 => pad(segments[i]),
                1 => standard_alphabet(segments[i]),
                _ => noncanonical(segments[i]).unwrap_or_else(|| format!("{}=", segments[i])),
            };
            let mut out: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
            out[i] = respelled;
            out.join(".")
        }
        // Replace a claim with an extreme value, keeping the original signature.
        8 | 9 => {
            let payload = replace_member(segments[1], rng.pick(CLAIMS), rng.pick(EXTREME_VALUES));
            format!("{}.{}.{}", segments[0], payload, segments[2])
        }
        // Replace a header field, keeping the original signature.
        10 => {
            let value = match rng.below(3) {
                0 => rng.pick(EXTREME_VALUES),
                1 => rng.pick(&[
                    "\"none\"",
                    "\"HS256\"",
                    "\"RS512\"",
                    "\"rs256\"",
                    "\"RS256 \"",
                    "[\"b64\"]",
                    "false",
                ]),
                _ => "\"RS256\"",
            };
            let header = replace_member(segments[0], rng.pick(HEADER_FIELDS), value);
            format!("{}.{}.{}", header, segments[1], segments[2])
        }
        // Re-encode the same JSON differently (whitespace, duplicated member), same signature.
        _ => {
            let i = rng.below(2);
            let json = URL_SAFE_NO_PAD.decode(segments[i]).expect("segment");
            let json = String::from_utf8(json).expect("UTF-8");
            let rewritten = match rng.below(3) {
                0 => json.replacen(',', " ,\n", 1),
                1 => format!("\u{feff}{json}"),
                _ => json.replacen('{', "{\"exp\":1,", 1),
            };
            let mut out: Vec<String> = segments.iter().map(|s| (*s).to_owned()).collect();
            out[i] = b64url(rewritten);
            out.join(".")
        }
    }
}

/// A segment whose JSON object has `name` set to the raw JSON text `value` (appended last,
/// after removing an existing member of that name, so the text stays parseable).
fn replace_member(segment: &str, name: &str, value: &str) -> String {
    let json = URL_SAFE_NO_PAD.decode(segment).expect("segment");
    let mut object: Map<String, Value> = serde_json::from_slice(&json).expect("JSON object");
    object.remove(name);
    let body = serde_json::to_string(&object).expect("JSON");
    let inner = body.strip_suffix('}').expect("object");
    let sep = if object.is_empty() { "" } else { "," };
    b64url(format!("{inner}{sep}\"{name}\":{value}}}"))
}

#[test]
fn mutated_tokens_never_panic_and_are_accepted_only_when_they_mean_the_original() {
    let key = SigningKey::test_key();
    let emulator = Emulator::with_key(key.clone()).with_issuer("https://clerk.example.com");
    let now = 1_750_000_000;
    let original = emulator
        .session_token()
        .at(now)
        .user("user_2abcDEF")
        .organization(
            Organization::new("org_2xyz")
                .slug("acme")
                .role("org:admin")
                .permissions(["org:posts:read", "org:posts:write", "org:billing:read"]),
        )
        .fva([5, -1])
        .claim("email", "ada@example.com")
        .sign();
    let expected = parts(&original).expect("the original token decodes");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let build = |capacity: usize| {
        Verifier::builder()
            .jwt_key(key.public_key_pem())
            .issuer(emulator.issuer())
            .authorized_parties([DEFAULT_AZP])
            .clock(Arc::new(FixedClock::at_ms(now as u64 * 1000 + 500)))
            .token_cache_capacity(capacity)
            .build()
            .expect("verifier")
    };
    let fresh = build(0);
    let cached = build(1024);
    rt.block_on(async {
        fresh
            .verify(&original)
            .await
            .expect("the original verifies");
        cached
            .verify(&original)
            .await
            .expect("the original verifies");
    });

    let mut rng = Rng(0x00c1_e4c0_ffee);
    let (mut decoded, mut accepted, mut identical) = (0, 0, 0);
    for case in 0..MUTATIONS {
        let mutated = mutate(&original, &mut rng);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let decodes = token::decode(&mutated).is_ok();
            let (a, b) = rt
                .block_on(async { (fresh.verify(&mutated).await, cached.verify(&mutated).await) });
            (decodes, a.is_ok(), b.is_ok())
        }));
        let Ok((decodes, ok_fresh, ok_cached)) = outcome else {
            panic!("case {case}: panicked on input {mutated:?}");
        };
        assert_eq!(
            ok_fresh, ok_cached,
            "case {case}: the cache changed the verdict on {mutated:?}"
        );
        decoded += usize::from(decodes);
        if ok_fresh {
            accepted += 1;
            identical += usize::from(mutated == original);
            assert_eq!(
                parts(&mutated).as_ref(),
                Some(&expected),
                "case {case}: accepted a token that does not mean the original: {mutated:?}"
            );
        }
    }
    println!(
        "{MUTATIONS} mutations: {decoded} decoded, {accepted} accepted, {identical} of them \
         identical to the original"
    );
    // Strict base64url and JSON leave one spelling per token: every accepted mutation is the
    // original text itself (e.g. a truncation at the full length).
    assert_eq!(
        accepted, identical,
        "a different spelling of the token was accepted"
    );
    // The mutations must reach past the form checks, or this test proves little.
    assert!(
        decoded > MUTATIONS / 10,
        "only {decoded} of {MUTATIONS} mutations decoded"
    );
}

#[test]
fn extreme_claim_values_in_correctly_signed_tokens_never_panic() {
    // Re-signed, so these get past the signature to the claim checks.
    let key = SigningKey::test_key();
    let emulator = Emulator::with_key(key.clone()).with_issuer("https://clerk.example.com");
    let now: i64 = 1_750_000_000;
    let verifier = Verifier::builder()
        .jwt_key(key.public_key_pem())
        .issuer(emulator.issuer())
        .authorized_parties([DEFAULT_AZP])
        .clock(Arc::new(FixedClock::at_ms(now as u64 * 1000)))
        .token_cache_capacity(16)
        .build()
        .expect("verifier");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut accepted = Vec::new();
    for claim in CLAIMS {
        for raw in EXTREME_VALUES {
            let value: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
            let token = emulator.session_token().at(now).claim(claim, value).sign();
            let result = catch_unwind(AssertUnwindSafe(|| {
                rt.block_on(async {
                    let first = verifier.verify(&token).await.is_ok();
                    // A second time: a cache hit when the first passed.
                    let second = verifier.verify(&token).await.is_ok();
                    (first, second)
                })
            }));
            let Ok((first, second)) = result else {
                panic!("panicked on {claim} = {raw}");
            };
            assert_eq!(
                first, second,
                "{claim} = {raw}: the cache changed the verdict"
            );
            if first {
                accepted.push(format!("{claim}={raw}"));
            }
        }
    }
    println!("accepted claim values: {}", json!(accepted));
    let wrongly_accepted: Vec<&String> = accepted
        .iter()
        .filter(|a| {
            // Wrong `iss`/`azp`/`sub`/`sid`, or `exp` absent, in the past or not a number.
            let (claim, raw) = a.split_once('=').expect("claim=value");
            let number = raw.parse::<f64>().ok();
            match claim {
                "iss" | "azp" => true,
                "sub" | "sid" => !raw.starts_with('"') || raw == "\"\"",
                "exp" => number.is_none_or(|exp| exp * 1000.0 <= (now as f64) * 1000.0 - 5000.0),
                "nbf" | "iat" => number.is_none_or(|t| t * 1000.0 > (now as f64) * 1000.0 + 5000.0),
                _ => false,
            }
        })
        .collect();
    assert!(
        wrongly_accepted.is_empty(),
        "accepted: {wrongly_accepted:?}; all accepted: {accepted:?}"
    );
}
