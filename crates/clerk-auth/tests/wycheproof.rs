//! Project Wycheproof vectors (C2SP/wycheproof, Apache-2.0) against the signature layer:
//! the JWS form and header rules of [`token::decode`], the JWK filter of [`keys::parse_jwk`] /
//! [`keys::parse_jwks`], and [`RsaPublicKey::verify_rs256`].
//!
//! The vectors live outside the repository, in `<workspace>/../shared/vectors/wycheproof/`
//! (the repository is checked out beside `shared/`, in CI too), or wherever `CLERK_VECTORS_DIR`
//! points. A missing directory fails the tests: they never pass on nothing.
//!
//! Every test asserts exact counts, so an emptied or truncated file cannot pass silently, and
//! every vector where our verdict differs from Wycheproof's is listed below with the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_auth::internals as keys;
use clerk_auth::internals as token;
use clerk_auth::{KeyError, RsaPublicKey};
use serde_json::Value;

/// Vectors whose expected result is "valid" but which a strict verifier may refuse: a
/// character outside the base64url alphabet is inserted where lenient decoders drop it
/// (see the README next to the vectors).
const EITHER: &[u64] = &[372, 373];

/// Vectors of `json_web_signature_test.json` where our verdict differs from Wycheproof's, and why.
const JWS_DEVIATIONS: &[(u64, &str)] = &[(
    259,
    "valid RS256 JWS with an empty payload segment; token::decode refuses an empty payload \
     segment as not a JWT (a JWT payload is a JSON object, never empty), so no session token \
     can look like this",
)];

/// Vectors of `json_web_key_test.json` where our verdict differs from Wycheproof's, and why.
const JWK_DEVIATIONS: &[(u64, &str)] = &[(
    7,
    "ROCA-vulnerable RSA key (CVE-2017-15361): a well-formed 2049-bit key with e = 65537 passes \
     the key policy (2048..=8192 bits, odd e >= 3) and the signature is genuine; keys.rs has no \
     ROCA fingerprint check",
)];

fn vectors_dir() -> PathBuf {
    let dir = match std::env::var_os("CLERK_VECTORS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        // CARGO_MANIFEST_DIR is <workspace>/crates/clerk-auth.
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/wycheproof"),
    };
    assert!(
        dir.is_dir(),
        "the Wycheproof vectors are missing: {} is not a directory. Check out the shared/ folder \
         beside the repository (as CI does), or set CLERK_VECTORS_DIR to the directory holding \
         json_web_signature_test.json.",
        dir.display()
    );
    dir
}

/// Loads a vector file and checks that `numberOfTests` matches the tests it holds.
fn load(name: &str) -> Value {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let file: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let declared = file["numberOfTests"].as_u64().expect("numberOfTests");
    let held: usize = groups(&file).iter().map(|g| tests(g).len()).sum();
    assert_eq!(
        held as u64, declared,
        "{name}: numberOfTests disagrees with the tests held"
    );
    file
}

fn groups(file: &Value) -> &Vec<Value> {
    file["testGroups"].as_array().expect("testGroups")
}

fn tests(group: &Value) -> &Vec<Value> {
    group["tests"].as_array().expect("tests")
}

fn tc_id(test: &Value) -> u64 {
    test["tcId"].as_u64().expect("tcId")
}

fn result(test: &Value) -> &str {
    test["result"].as_str().expect("result")
}

fn hex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd-length hex");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// A JWS split and checked by the signature layer; the signature is not verified yet.
struct Jws<'a> {
    header: token::Header,
    signing_input: &'a [u8],
    signature: Vec<u8>,
}

/// Splits a compact JWS with exactly the rules of [`token::decode`], except that the payload
/// need not be a JSON object (Wycheproof payloads are `foo`, not claims).
///
/// `token::decode` is reused whole: it is given the same header and signature segments around
/// the payload `e30` (`{}`), so its length cap, segment count, strict base64url (for header and
/// signature) and header rules (`cat`, `typ`, `crit`, `alg` exactly RS256, `kid`) all apply.
/// The real payload segment gets the remaining rules of `decode`: non-empty, strict base64url.
fn split_jws(jws: &str) -> Result<Jws<'_>, String> {
    if jws.len() > clerk_auth::MAX_TOKEN_LEN {
        return Err("longer than MAX_TOKEN_LEN".into());
    }
    let segments: Vec<&str> = jws.split('.').collect();
    let [h64, p64, s64] = segments[..] else {
        let err = token::decode(jws).expect_err("decode refuses anything but 3 segments");
        return Err(err.to_string());
    };
    let surrogate = format!("{h64}.e30.{s64}");
    let decoded = token::decode(&surrogate).map_err(|e| e.to_string())?;
    if p64.is_empty() {
        return Err("empty payload segment (decode: invalid JWT form)".into());
    }
    URL_SAFE_NO_PAD
        .decode(p64)
        .map_err(|_| "payload segment is not strict base64url".to_owned())?;
    Ok(Jws {
        header: decoded.header,
        signing_input: &jws.as_bytes()[..h64.len() + 1 + p64.len()],
        signature: decoded.signature,
    })
}

/// Where the verification key came from, as the verifier would use it.
#[derive(Clone, Copy)]
enum KeyUse<'a> {
    /// A configured PEM key: the token's `kid` is ignored.
    Pem,
    /// A JWKS key: the token must name it by `kid`.
    Jwks(&'a str),
}

/// Our verdict on a JWS with a key (or the reason the key was refused): `Ok` = accepted.
fn verdict(
    jws: &str,
    key: Result<&RsaPublicKey, &KeyError>,
    key_use: KeyUse<'_>,
) -> Result<(), String> {
    let split = split_jws(jws)?;
    let key = key.map_err(|e| format!("key refused: {e}"))?;
    if let KeyUse::Jwks(kid) = key_use {
        if split.header.kid.as_deref() != Some(kid) {
            return Err("kid does not name the key".into());
        }
    }
    if key.verify_rs256(split.signing_input, &split.signature) {
        Ok(())
    } else {
        Err("RS256 signature does not verify".into())
    }
}

/// The `alg` of a JWS header, read leniently (for classifying vectors, never for verifying).
fn header_alg(jws: &str) -> Option<String> {
    let h64: String = jws
        .split('.')
        .next()?
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let header: Value = serde_json::from_slice(&lenient.decode(h64).ok()?).ok()?;
    header["alg"].as_str().map(str::to_owned)
}

fn jwk_kid(jwk: &Value) -> &str {
    jwk["kid"].as_str().unwrap_or("")
}

#[derive(Default, Debug)]
struct JwsTally {
    valid_rs256: usize,
    valid_rs256_accepted: BTreeSet<u64>,
    valid_other_alg: BTreeMap<String, usize>,
    valid_other_alg_refused: usize,
    invalid: usize,
    invalid_refused: usize,
    either: BTreeMap<u64, bool>,
    deviations: BTreeMap<u64, String>,
}

#[test]
fn every_jws_vector_gives_its_expected_result_for_an_rs256_only_verifier() {
    let file = load("json_web_signature_test.json");
    let mut tally = JwsTally::default();
    let mut wrong = Vec::new();

    for group in groups(&file) {
        // Verify with the group's public JWK; HMAC groups only have the (oct) private one.
        let jwk = group.get("public").unwrap_or(&group["private"]);
        let key = keys::parse_jwk(jwk).map(|(_, key)| key);
        let kid = jwk_kid(jwk);
        for test in tests(group) {
            let id = tc_id(test);
            let Some(jws) = test["jws"].as_str() else {
                panic!("tcId {id}: jws is not a string");
            };
            let pem = verdict(jws, key.as_ref(), KeyUse::Pem);
            let jwks = verdict(jws, key.as_ref(), KeyUse::Jwks(kid));
            // A PEM key ignores kid, so it accepts at least what the JWKS path accepts.
            assert!(
                jwks.is_err() || pem.is_ok(),
                "tcId {id}: JWKS accepted, PEM refused"
            );
            let accepted = pem.is_ok() && jwks.is_ok();
            let why = pem
                .as_ref()
                .err()
                .or(jwks.as_ref().err())
                .cloned()
                .unwrap_or_default();
            let alg = header_alg(jws).unwrap_or_default();

            match result(test) {
                "valid" if EITHER.contains(&id) => {
                    tally.either.insert(id, accepted);
                }
                "valid" if alg == "RS256" => {
                    tally.valid_rs256 += 1;
                    if accepted {
                        tally.valid_rs256_accepted.insert(id);
                    } else if JWS_DEVIATIONS.iter().any(|(d, _)| *d == id) {
                        tally.deviations.insert(id, why);
                    } else {
                        wrong.push(format!(
                            "tcId {id} ({}): valid RS256 refused: {why}",
                            test["comment"]
                        ));
                    }
                }
                "valid" => {
                    *tally.valid_other_alg.entry(alg.clone()).or_default() += 1;
                    if accepted {
                        wrong.push(format!(
                            "tcId {id}: valid {alg} JWS accepted by an RS256-only verifier"
                        ));
                    } else {
                        tally.valid_other_alg_refused += 1;
                    }
                }
                "invalid" => {
                    tally.invalid += 1;
                    if accepted {
                        wrong.push(format!(
                            "tcId {id} ({}): invalid JWS accepted",
                            test["comment"]
                        ));
                    } else {
                        tally.invalid_refused += 1;
                    }
                }
                other => panic!("tcId {id}: unexpected result {other:?}"),
            }
        }
    }

    println!("json_web_signature_test.json: {tally:#?}");
    for (id, why) in JWS_DEVIATIONS {
        println!("json_web_signature_test.json tcId {id}: valid but refused: {why}");
    }
    assert!(
        wrong.is_empty(),
        "verdicts differ from Wycheproof:\n{}",
        wrong.join("\n")
    );
    // 401 = 46 valid + 355 invalid; of the 46 valid: 8 RS256, 36 other algorithms, 2 "either".
    assert_eq!(tally.valid_rs256, 8);
    assert_eq!(
        tally.valid_rs256_accepted,
        BTreeSet::from([33, 260, 261, 262, 263, 345, 349]),
        "accepted RS256 vectors"
    );
    assert_eq!(
        tally.deviations.keys().copied().collect::<Vec<_>>(),
        JWS_DEVIATIONS.iter().map(|(id, _)| *id).collect::<Vec<_>>()
    );
    assert_eq!(
        tally.valid_other_alg,
        BTreeMap::from([
            ("ES256".to_owned(), 2),
            ("ES512".to_owned(), 2),
            ("HS256".to_owned(), 8),
            ("PS256".to_owned(), 6),
            ("PS384".to_owned(), 6),
            ("PS512".to_owned(), 4),
            ("RS384".to_owned(), 4),
            ("RS512".to_owned(), 4),
        ])
    );
    assert_eq!(tally.valid_other_alg_refused, 36);
    assert_eq!((tally.invalid, tally.invalid_refused), (355, 355));
    // Our strict base64url refuses both "either" vectors (they are HS256 anyway).
    assert_eq!(tally.either, BTreeMap::from([(372, false), (373, false)]));
}

#[test]
fn the_jws_splitter_agrees_with_token_decode_on_json_payloads() {
    // The Wycheproof test above verifies with `split_jws`, not `token::decode`; on payloads
    // that are JSON objects the two must agree, or the vectors would test the wrong rules.
    use clerk_emulator::compact::{b64url, Compact};
    let payload = r#"{"sub":"user_1","exp":1}"#;
    let cases = [
        (r#"{"alg":"RS256","kid":"k","typ":"JWT"}"#, payload),
        (r#"{"alg":"RS256"}"#, payload),
        (r#"{"alg":"none"}"#, payload),
        (r#"{"alg":"RS256","typ":"at+jwt"}"#, payload),
        (r#"{"alg":"RS256","crit":["b64"]}"#, payload),
        (r#"{"alg":"RS256","cat":"cl_B7d4PD333AAA"}"#, payload),
        (r#"{"alg":"RS256","kid":7}"#, payload),
        (r#"{"alg":"RS256","alg":"RS256"}"#, payload),
        ("[]", payload),
    ];
    let mut tokens = Vec::new();
    for (header, payload) in cases {
        let compact = Compact::from_json(header, payload).with_signature(&[7; 256]);
        tokens.push(compact.to_string());
        tokens.push(compact.clone().padded().to_string());
        tokens.push(compact.clone().standard_alphabet().to_string());
        tokens.push(compact.two_segments());
        tokens.push(compact.with_extra_segment("e30"));
        tokens.push(format!("{}.{}.", compact.header_b64, compact.payload_b64));
        tokens.push(format!("{}..{}", compact.header_b64, compact.signature_b64));
        tokens.push(format!(
            "{}.{}.{}",
            compact.header_b64,
            compact.payload_b64,
            "A".repeat(clerk_auth::MAX_TOKEN_LEN)
        ));
    }
    tokens.push(format!(
        "{}.{}.AAAA",
        b64url(r#"{"alg":"RS256"}"#),
        b64url("[1]")
    ));
    for t in &tokens {
        let ours = split_jws(t);
        let decoded = token::decode(t);
        if let Ok(decoded) = &decoded {
            let ours = ours.as_ref().expect("decode accepted, splitter refused");
            assert_eq!(ours.header, decoded.header, "{t}");
            assert_eq!(ours.signing_input, decoded.signing_input, "{t}");
            assert_eq!(ours.signature, decoded.signature, "{t}");
        } else {
            // The only thing decode checks beyond the splitter: the payload is a JSON object.
            let payload = t
                .split('.')
                .nth(1)
                .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok());
            let json_object = payload
                .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
                .is_some_and(|v| v.is_object());
            assert!(
                ours.is_err() || !json_object,
                "splitter accepted what decode refused: {t}"
            );
        }
    }
}

#[derive(Default, Debug, PartialEq, Eq)]
struct RsaTally {
    valid: usize,
    invalid: usize,
    acceptable: usize,
    acceptable_accepted: usize,
}

#[test]
fn every_rsa_pkcs1_sha256_vector_gives_its_expected_result() {
    let files = [
        // (file, key sizes of its groups, valid, invalid, acceptable)
        (
            "rsa_signature_2048_sha256_test.json",
            vec![2048, 2048, 2048],
            9,
            249,
            1,
        ),
        (
            "rsa_signature_3072_sha256_test.json",
            vec![3072, 3072],
            8,
            250,
            1,
        ),
        ("rsa_signature_4096_sha256_test.json", vec![4096], 7, 250, 1),
    ];
    let mut wrong = Vec::new();
    for (name, sizes, valid, invalid, acceptable) in files {
        let file = load(name);
        let mut tally = RsaTally::default();
        let mut seen_sizes = Vec::new();
        let mut acceptable_verdicts = BTreeMap::new();
        for group in groups(&file) {
            let bits = group["keySize"].as_u64().expect("keySize") as usize;
            seen_sizes.push(bits);
            // Every way of loading the key must succeed and give the same key.
            let n = hex(group["publicKey"]["modulus"].as_str().expect("modulus"));
            let e = hex(group["publicKey"]["publicExponent"]
                .as_str()
                .expect("publicExponent"));
            let key = RsaPublicKey::from_components(&n, &e)
                .unwrap_or_else(|err| panic!("{name}: {bits}-bit key refused: {err}"));
            assert_eq!(key.bits(), bits, "{name}");
            let der = hex(group["publicKeyDer"].as_str().expect("publicKeyDer"));
            let pkcs1 = hex(group["publicKeyAsn"].as_str().expect("publicKeyAsn"));
            let pem = group["publicKeyPem"].as_str().expect("publicKeyPem");
            assert_eq!(
                RsaPublicKey::from_spki_der(&der).as_ref(),
                Ok(&key),
                "{name} SPKI"
            );
            assert_eq!(
                RsaPublicKey::from_pkcs1_der(&pkcs1).as_ref(),
                Ok(&key),
                "{name} PKCS#1"
            );
            assert_eq!(RsaPublicKey::from_pem(pem).as_ref(), Ok(&key), "{name} PEM");
            let (_, jwk_key) = keys::parse_jwk(&group["keyJwk"])
                .unwrap_or_else(|err| panic!("{name}: JWK refused: {err}"));
            assert_eq!(jwk_key, key, "{name} JWK");

            for test in tests(group) {
                let id = tc_id(test);
                let msg = hex(test["msg"].as_str().expect("msg"));
                let sig = hex(test["sig"].as_str().expect("sig"));
                let ok = key.verify_rs256(&msg, &sig);
                match result(test) {
                    "valid" => {
                        tally.valid += 1;
                        if !ok {
                            wrong.push(format!(
                                "{name} tcId {id} ({}): valid refused",
                                test["comment"]
                            ));
                        }
                    }
                    "invalid" => {
                        tally.invalid += 1;
                        if ok {
                            wrong.push(format!(
                                "{name} tcId {id} ({}): invalid accepted",
                                test["comment"]
                            ));
                        }
                    }
                    "acceptable" => {
                        tally.acceptable += 1;
                        tally.acceptable_accepted += usize::from(ok);
                        acceptable_verdicts.insert(id, (test["comment"].clone(), ok));
                    }
                    other => panic!("{name} tcId {id}: unexpected result {other:?}"),
                }
            }
        }
        println!(
            "{name}: {tally:?}; acceptable vectors (comment, accepted): {acceptable_verdicts:?}"
        );
        assert_eq!(seen_sizes, sizes, "{name}: key sizes of the groups");
        assert_eq!(
            (tally.valid, tally.invalid, tally.acceptable),
            (valid, invalid, acceptable),
            "{name}: vector counts"
        );
        // The one "acceptable" vector per file is a DigestInfo without the NULL parameter;
        // ring (strict EM comparison) refuses it.
        assert_eq!(
            tally.acceptable_accepted, 0,
            "{name}: {acceptable_verdicts:?}"
        );
    }
    assert!(
        wrong.is_empty(),
        "verdicts differ from Wycheproof:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_json_web_key_vector_gives_its_expected_result() {
    let file = load("json_web_key_test.json");
    let mut wrong = Vec::new();
    let mut accepted = BTreeSet::new();
    let mut deviations = BTreeMap::new();
    let (mut valid, mut invalid) = (0, 0);

    for group in groups(&file) {
        // A verifier only ever sees public keys: use `public` when there is one. Groups of
        // symmetric keys only have `private` (oct keys), which must be refused anyway.
        let keyset = group.get("public").unwrap_or(&group["private"]);
        // Private keys must never be usable: every group's private keyset is refused whole.
        let private = serde_json::to_vec(&group["private"]).expect("JSON");
        assert!(
            keys::parse_jwks(&private).is_err(),
            "{}: a keyset of private keys was accepted",
            group["comment"]
        );

        for test in tests(group) {
            let id = tc_id(test);
            let jws = test["jws"].as_str().expect("jws");
            let ours = if keyset.get("keys").is_some() {
                let set = keys::parse_jwks(&serde_json::to_vec(keyset).expect("JSON"));
                match (set, split_jws(jws)) {
                    (Err(err), _) => Err(format!("keyset refused: {err}")),
                    (Ok(_), Err(err)) => Err(err),
                    (Ok(set), Ok(split)) => {
                        match split.header.kid.as_deref().and_then(|k| set.get(k)) {
                            None => Err("no key with the token's kid".to_owned()),
                            Some(key) => verdict(jws, Ok(key), KeyUse::Pem),
                        }
                    }
                }
            } else {
                let key = keys::parse_jwk(keyset).map(|(_, key)| key);
                verdict(jws, key.as_ref(), KeyUse::Jwks(jwk_kid(keyset)))
            };
            let alg = header_alg(jws).unwrap_or_default();
            match (result(test), &ours) {
                ("valid", _) => valid += 1,
                ("invalid", _) => invalid += 1,
                (other, _) => panic!("tcId {id}: unexpected result {other:?}"),
            }
            match (result(test), ours) {
                ("valid", Ok(())) => {
                    accepted.insert(id);
                }
                ("valid", Err(why)) if alg == "RS256" => {
                    wrong.push(format!("tcId {id}: valid RS256 refused: {why}"));
                }
                ("valid", Err(_)) => {}
                ("invalid", Ok(())) if JWK_DEVIATIONS.iter().any(|(d, _)| *d == id) => {
                    deviations.insert(id, group["comment"].clone());
                }
                ("invalid", Ok(())) => {
                    wrong.push(format!(
                        "tcId {id} ({}): invalid accepted",
                        group["comment"]
                    ));
                }
                ("invalid", Err(_)) => {}
                _ => unreachable!(),
            }
        }
    }
    println!(
        "json_web_key_test.json: {valid} valid, {invalid} invalid; accepted {accepted:?}; \
         known deviations {deviations:?}"
    );
    assert!(
        wrong.is_empty(),
        "verdicts differ from Wycheproof:\n{}",
        wrong.join("\n")
    );
    assert_eq!((valid, invalid), (5, 21));
    // Of the 5 valid vectors only tcId 5 is RS256 (the others are HS256/384/512).
    assert_eq!(accepted, BTreeSet::from([5]));
    for (id, why) in JWK_DEVIATIONS {
        println!("json_web_key_test.json tcId {id}: invalid but accepted: {why}");
    }
    assert_eq!(
        deviations.keys().copied().collect::<Vec<_>>(),
        JWK_DEVIATIONS.iter().map(|(id, _)| *id).collect::<Vec<_>>()
    );
}

#[test]
fn a_jwks_with_a_duplicated_rsa_kid_is_refused_whole() {
    // Wycheproof's DuplicateKid vector uses oct keys, which we refuse anyway; the same attack
    // with usable RSA keys must be refused by the duplicate rule itself.
    let file = load("json_web_key_test.json");
    let rs256 = groups(&file)
        .iter()
        .find(|g| g["comment"] == "rs256" && g["public"]["keys"][0]["use"] == "sig")
        .expect("the rs256 group");
    let jwk = &rs256["public"]["keys"][0];
    let single = serde_json::json!({ "keys": [jwk] }).to_string();
    assert_eq!(
        keys::parse_jwks(single.as_bytes())
            .expect("one RSA key")
            .len(),
        1
    );
    let duplicated = serde_json::json!({ "keys": [jwk, jwk] }).to_string();
    let err = keys::parse_jwks(duplicated.as_bytes()).expect_err("duplicate kid");
    assert!(err.to_string().contains("two keys"), "{err}");
    // A usable key beside keys we skip (oct, EC, encryption) is kept: a mixed set is not
    // refused whole, but its other keys never verify anything.
    let mut enc = groups(&file)
        .iter()
        .find(|g| g["comment"] == "rs256" && g["public"]["keys"][0]["use"] == "enc")
        .expect("the encryption group")["public"]["keys"][0]
        .clone();
    enc["kid"] = "enc".into();
    let oct = serde_json::json!({ "kty": "oct", "kid": "hmac", "k": "AAAA" });
    let mixed = serde_json::json!({ "keys": [jwk, oct, enc] }).to_string();
    let set = keys::parse_jwks(mixed.as_bytes()).expect("the usable key is kept");
    assert_eq!(
        set.kids().collect::<Vec<_>>(),
        [jwk["kid"].as_str().expect("kid")]
    );
}
