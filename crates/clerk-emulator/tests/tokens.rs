//! Keys, minted tokens and broken tokens, checked with `ring` as an independent verifier.

use std::collections::BTreeSet;

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use clerk_emulator::compact::{b64url, b64url_decode, noncanonical, pad};
use clerk_emulator::{
    ids, Algorithm, Compact, Emulator, KeyError, Organization, SigningKey, TokenBuilder,
    CAT_SESSION, DEFAULT_AZP, DEFAULT_ISSUER,
};
use ring::signature::{self as sig, RsaPublicKeyComponents};
use serde_json::{json, Value};

struct Decoded {
    header: Value,
    payload: Value,
    signing_input: String,
    signature: Vec<u8>,
}

fn decode(token: &str) -> Decoded {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS has 3 segments: {token}");
    for part in &parts {
        assert!(
            part.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "segment is not unpadded base64url: {part}"
        );
    }
    let json =
        |s: &str| -> Value { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap() };
    Decoded {
        header: json(parts[0]),
        payload: json(parts[1]),
        signing_input: format!("{}.{}", parts[0], parts[1]),
        signature: URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
    }
}

/// Verifies against the key's published JWK, as a verifier would: n and e from base64url.
fn verifies(
    jwk: &Value,
    params: &'static sig::RsaParameters,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    RsaPublicKeyComponents { n, e }
        .verify(params, message, signature)
        .is_ok()
}

fn verifies_rs256(jwk: &Value, token: &str) -> bool {
    let d = decode(token);
    verifies(
        jwk,
        &sig::RSA_PKCS1_2048_8192_SHA256,
        d.signing_input.as_bytes(),
        &d.signature,
    )
}

#[test]
fn jwk_has_clerks_shape() {
    let jwk = SigningKey::test_key().jwk();
    let fields: BTreeSet<&str> = jwk
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from(["alg", "e", "kid", "kty", "n", "use"])
    );
    assert_eq!(jwk["kid"], SigningKey::test_key().kid());
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["alg"], "RS256");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["e"], "AQAB");
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(jwk["n"].as_str().unwrap())
            .unwrap()
            .len(),
        256
    );
    assert_eq!(SigningKey::test_key().bits(), 2048);
}

#[test]
fn kid_looks_like_a_clerk_instance_id() {
    let key = SigningKey::test_key();
    // A loaded key gets a fresh random kid, as a generated one does.
    let loaded = SigningKey::from_pkcs8_der(key.pkcs8_der()).unwrap();
    for kid in [key.kid(), loaded.kid()] {
        let random = kid.strip_prefix("ins_").unwrap();
        assert_eq!(random.len(), ids::ID_LEN);
        assert!(random.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    assert_ne!(key.kid(), SigningKey::test_key_n(1).kid());
}

#[test]
fn public_key_pem_is_spki_with_64_column_lines() {
    let pem = SigningKey::test_key().public_key_pem();
    let lines: Vec<&str> = pem.lines().collect();
    assert_eq!(lines.first(), Some(&"-----BEGIN PUBLIC KEY-----"));
    assert_eq!(lines.last(), Some(&"-----END PUBLIC KEY-----"));
    assert!(pem.ends_with('\n'));
    let body = &lines[1..lines.len() - 1];
    assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64));
    assert!(body.last().unwrap().len() <= 64);

    // Clerk's SDK extracts the modulus textually from a 2048-bit SPKI PEM (clerk-spec §3.1):
    // the same text must give the JWK's `n`.
    let joined = body.concat();
    let n_b64 = joined
        .strip_prefix("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
        .unwrap()
        .strip_suffix("IDAQAB")
        .unwrap()
        .replace('+', "-")
        .replace('/', "_");
    assert_eq!(json!(n_b64), SigningKey::test_key().jwk()["n"]);
}

#[test]
fn pkcs8_round_trips() {
    let from_der = SigningKey::from_pkcs8_der(SigningKey::test_key().pkcs8_der()).unwrap();
    assert_eq!(from_der.modulus(), SigningKey::test_key().modulus());
    assert_ne!(from_der.kid(), SigningKey::test_key().kid());
    let from_pem = SigningKey::from_pkcs8_pem(&SigningKey::test_key().private_key_pem()).unwrap();
    assert_eq!(from_pem.exponent(), SigningKey::test_key().exponent());
    assert!(matches!(
        SigningKey::from_pkcs8_der(b"not a key"),
        Err(KeyError::InvalidPkcs8(_))
    ));
}

#[test]
fn with_kid_keeps_the_key_material() {
    let renamed = SigningKey::test_key().with_kid("ins_custom");
    assert_eq!(renamed.kid(), "ins_custom");
    assert_eq!(renamed.jwk()["n"], SigningKey::test_key().jwk()["n"]);
    let token = TokenBuilder::new(&renamed).sign();
    assert_eq!(decode(&token).header["kid"], "ins_custom");
    assert!(verifies_rs256(&SigningKey::test_key().jwk(), &token));
}

#[test]
fn default_token_looks_like_a_clerk_v2_session_token() {
    let token = TokenBuilder::new(&SigningKey::test_key()).sign();
    let d = decode(&token);
    assert_eq!(
        d.header,
        json!({"alg": "RS256", "cat": CAT_SESSION, "kid": SigningKey::test_key().kid(), "typ": "JWT"})
    );
    let p = d.payload.as_object().unwrap();
    let fields: BTreeSet<&str> = p.keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        BTreeSet::from(["azp", "exp", "fva", "iat", "iss", "jti", "nbf", "sid", "sts", "sub", "v"])
    );
    let now = clerk_emulator::unix_now();
    let iat = p["iat"].as_i64().unwrap();
    assert!((now - 5..=now).contains(&iat));
    assert_eq!(p["exp"].as_i64().unwrap(), iat + 60);
    assert_eq!(p["nbf"].as_i64().unwrap(), iat - 10);
    assert_eq!(p["azp"], DEFAULT_AZP);
    assert_eq!(p["iss"], DEFAULT_ISSUER);
    assert_eq!(p["fva"], json!([0, -1]));
    assert_eq!(p["sts"], "active");
    assert_eq!(p["v"], 2);
    assert_eq!(
        p["sub"].as_str().unwrap().len(),
        "user_".len() + ids::ID_LEN
    );
    assert!(p["sub"].as_str().unwrap().starts_with("user_"));
    assert!(p["sid"].as_str().unwrap().starts_with("sess_"));
    assert_eq!(p["jti"].as_str().unwrap().len(), 20);
    assert!(verifies_rs256(&SigningKey::test_key().jwk(), &token));
}

#[test]
fn each_token_gets_fresh_ids() {
    let a = decode(&TokenBuilder::new(&SigningKey::test_key()).sign()).payload;
    let b = decode(&TokenBuilder::new(&SigningKey::test_key()).sign()).payload;
    assert_ne!(a["sub"], b["sub"]);
    assert_ne!(a["sid"], b["sid"]);
    assert_ne!(a["jti"], b["jti"]);
}

#[test]
fn setters_are_what_the_token_says() {
    let builder = TokenBuilder::new(&SigningKey::test_key())
        .at(1_700_000_000)
        .user("user_abc")
        .session("sess_abc")
        .issuer("https://clerk.example.com")
        .azp("https://app.example.com")
        .expires_in(3600)
        .nbf(1_699_999_000)
        .jti("jti-1")
        .actor(json!({"sub": "user_admin", "type": "agent"}))
        .status("pending")
        .fva([5, -1])
        .plans("u:free,o:pro")
        .claim("email", "ada@example.com")
        .claim("metadata", json!({"tier": [1, 2]}))
        .remove_claim("azp")
        .header("crit", json!(["b64"]))
        .remove_header("cat");
    let d = decode(&builder.sign());
    assert_eq!(d.header, builder.header_value());
    assert_eq!(d.payload, builder.payload_value());
    assert_eq!(
        d.header,
        json!({"alg": "RS256", "crit": ["b64"], "kid": SigningKey::test_key().kid(), "typ": "JWT"})
    );
    let p = &d.payload;
    assert_eq!(p["sub"], "user_abc");
    assert_eq!(p["sid"], "sess_abc");
    assert_eq!(p["iss"], "https://clerk.example.com");
    assert!(p.get("azp").is_none());
    assert_eq!(p["iat"], 1_700_000_000);
    assert_eq!(p["exp"], 1_700_003_600);
    assert_eq!(p["nbf"], 1_699_999_000);
    assert_eq!(p["jti"], "jti-1");
    assert_eq!(p["act"], json!({"sub": "user_admin", "type": "agent"}));
    assert_eq!(p["sts"], "pending");
    assert_eq!(p["fva"], json!([5, -1]));
    assert_eq!(p["pla"], "u:free,o:pro");
    assert_eq!(p["email"], "ada@example.com");
    assert_eq!(p["metadata"], json!({"tier": [1, 2]}));
    assert!(verifies_rs256(
        &SigningKey::test_key().jwk(),
        &builder.sign()
    ));
}

#[test]
fn the_last_call_for_a_claim_wins() {
    let p = TokenBuilder::new(&SigningKey::test_key())
        .remove_claim("sub")
        .user("user_back")
        .claim("sid", 42)
        .session("sess_typed")
        .payload_value();
    assert_eq!(p["sub"], "user_back");
    assert_eq!(p["sid"], "sess_typed");
    let p = TokenBuilder::new(&SigningKey::test_key())
        .user("user_x")
        .claim("sub", json!(null))
        .payload_value();
    assert_eq!(p["sub"], Value::Null);
}

#[test]
fn v1_organization_is_flat() {
    let p = TokenBuilder::new(&SigningKey::test_key())
        .v1()
        .organization(
            Organization::new("org_1")
                .slug("acme")
                .role("org:admin")
                .permissions(["org:posts:read", "org:posts:delete"]),
        )
        .payload_value();
    assert!(p.get("v").is_none());
    assert!(p.get("o").is_none());
    assert!(p.get("fea").is_none());
    assert_eq!(p["org_id"], "org_1");
    assert_eq!(p["org_slug"], "acme");
    assert_eq!(p["org_role"], "org:admin");
    assert_eq!(
        p["org_permissions"],
        json!(["org:posts:read", "org:posts:delete"])
    );
}

#[test]
fn v1_role_is_written_as_given() {
    let p = TokenBuilder::new(&SigningKey::test_key())
        .v1()
        .organization(Organization::new("org_1").role("admin"))
        .payload_value();
    assert_eq!(p["org_role"], "admin");
    assert_eq!(p["org_permissions"], json!([]));
}

/// Decodes `o.per` + `o.fpm` + `fea` as clerk-spec §1.6 describes (fpm aligned with the full
/// `fea` list, which is what the emulator emits).
fn v2_permissions(p: &Value) -> BTreeSet<String> {
    let per: Vec<&str> = p["o"]["per"].as_str().unwrap().split(',').collect();
    let fpm: Vec<u128> = p["o"]["fpm"]
        .as_str()
        .unwrap()
        .split(',')
        .map(|m| m.parse().unwrap())
        .collect();
    let fea: Vec<&str> = p["fea"].as_str().unwrap().split(',').collect();
    assert_eq!(fpm.len(), fea.len(), "one mask per fea entry");
    let mut out = BTreeSet::new();
    for (entry, mask) in fea.iter().zip(&fpm) {
        let (scope, feature) = entry.split_once(':').unwrap();
        if !scope.contains('o') {
            continue;
        }
        for (i, name) in per.iter().enumerate() {
            if mask >> i & 1 == 1 {
                out.insert(format!("org:{feature}:{name}"));
            }
        }
    }
    out
}

#[test]
fn v2_organization_encodes_permissions_as_clerk_does() {
    let permissions = [
        "org:repositories:read",
        "org:repositories:create",
        "org:repositories:update",
        "org:projects:read",
        "org:projects:update",
        "org:projects:revoke",
    ];
    let p = TokenBuilder::new(&SigningKey::test_key())
        .organization(
            Organization::new("org_1")
                .slug("acme")
                .role("org:admin")
                .permissions(permissions)
                .feature("dashboard"),
        )
        .features(["u:gold"])
        .payload_value();
    assert_eq!(p["v"], 2);
    assert!(p.get("org_id").is_none());
    assert_eq!(
        p["o"],
        json!({
            "id": "org_1",
            "slg": "acme",
            "rol": "admin",
            "per": "read,create,update,revoke",
            "fpm": "7,13,0,0",
        })
    );
    assert_eq!(p["fea"], "o:repositories,o:projects,o:dashboard,u:gold");
    assert_eq!(
        v2_permissions(&p),
        permissions.iter().map(|s| s.to_string()).collect()
    );
}

#[test]
fn v2_without_organization_has_no_o() {
    let p = TokenBuilder::new(&SigningKey::test_key())
        .features(["u:gold"])
        .payload_value();
    assert!(p.get("o").is_none());
    assert_eq!(p["fea"], "u:gold");
    let p = TokenBuilder::new(&SigningKey::test_key()).payload_value();
    assert!(p.get("fea").is_none());
}

#[test]
fn explicit_claims_beat_the_organization() {
    let p = TokenBuilder::new(&SigningKey::test_key())
        .organization(Organization::new("org_1").permission("org:a:b"))
        .claim(
            "o",
            json!({"id": "org_raw", "per": "x", "fpm": "18014398509481984"}),
        )
        .remove_claim("fea")
        .payload_value();
    assert_eq!(
        p["o"],
        json!({"id": "org_raw", "per": "x", "fpm": "18014398509481984"})
    );
    assert!(p.get("fea").is_none());
}

#[test]
fn other_algorithms_sign_as_named() {
    let cases: [(Algorithm, &'static sig::RsaParameters); 4] = [
        (Algorithm::RS384, &sig::RSA_PKCS1_2048_8192_SHA384),
        (Algorithm::RS512, &sig::RSA_PKCS1_2048_8192_SHA512),
        (Algorithm::PS256, &sig::RSA_PSS_2048_8192_SHA256),
        (Algorithm::PS512, &sig::RSA_PSS_2048_8192_SHA512),
    ];
    for (algorithm, params) in cases {
        let token = TokenBuilder::new(&SigningKey::test_key())
            .algorithm(algorithm)
            .sign();
        let d = decode(&token);
        assert_eq!(d.header["alg"], algorithm.name());
        assert!(
            verifies(
                &SigningKey::test_key().jwk(),
                params,
                d.signing_input.as_bytes(),
                &d.signature
            ),
            "{algorithm}"
        );
        assert!(
            !verifies_rs256(&SigningKey::test_key().jwk(), &token),
            "{algorithm}"
        );
    }
}

#[test]
fn header_alg_can_lie_about_the_signature() {
    let token = TokenBuilder::new(&SigningKey::test_key())
        .header("alg", "none")
        .sign();
    assert_eq!(decode(&token).header["alg"], "none");
    assert!(verifies_rs256(&SigningKey::test_key().jwk(), &token));
}

#[test]
fn signed_by_another_key_keeps_the_header_kid() {
    let token = TokenBuilder::new(&SigningKey::test_key())
        .signed_by(&SigningKey::test_key_n(1))
        .sign();
    assert_eq!(decode(&token).header["kid"], SigningKey::test_key().kid());
    assert!(!verifies_rs256(&SigningKey::test_key().jwk(), &token));
    assert!(verifies_rs256(&SigningKey::test_key_n(1).jwk(), &token));
}

#[test]
fn key_switches_signer_and_kid() {
    let token = TokenBuilder::new(&SigningKey::test_key())
        .key(&SigningKey::test_key_n(1))
        .sign();
    assert_eq!(
        decode(&token).header["kid"],
        SigningKey::test_key_n(1).kid()
    );
    assert!(verifies_rs256(&SigningKey::test_key_n(1).jwk(), &token));
}

#[test]
fn arbitrary_signature_bytes() {
    let token = TokenBuilder::new(&SigningKey::test_key())
        .signature_bytes(vec![0; 256])
        .sign();
    assert_eq!(decode(&token).signature, vec![0; 256]);
    let token = TokenBuilder::new(&SigningKey::test_key())
        .signature_bytes(Vec::new())
        .sign();
    assert!(token.ends_with('.'));
}

#[test]
fn weak_keys_still_sign_rs256() {
    let weak = SigningKey::generate(1024);
    assert_eq!(weak.bits(), 1024);
    let token = TokenBuilder::new(&weak).sign();
    let d = decode(&token);
    assert_eq!(d.signature.len(), 128);
    assert!(verifies(
        &weak.jwk(),
        &sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        d.signing_input.as_bytes(),
        &d.signature
    ));
    assert!(matches!(
        weak.sign_with(Algorithm::PS256, b"x"),
        Err(KeyError::Unsupported { bits: 1024, .. })
    ));

    let small_e = SigningKey::generate_with_exponent(2048, 3);
    assert_eq!(small_e.jwk()["e"], "Aw");
    let token = TokenBuilder::new(&small_e)
        .algorithm(Algorithm::RS512)
        .sign();
    let d = decode(&token);
    assert!(verifies(
        &small_e.jwk(),
        &sig::RSA_PKCS1_2048_8192_SHA512,
        d.signing_input.as_bytes(),
        &d.signature
    ));
}

#[test]
fn compact_keeps_raw_json_text() {
    let header = r#"{"alg":"RS256","alg":"none","kid":"k"}"#;
    let payload = r#"  [1, {"sub": "user_1"}]  "#;
    let token = Compact::from_json(header, payload)
        .sign(&SigningKey::test_key())
        .to_string();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(URL_SAFE_NO_PAD.decode(parts[0]).unwrap(), header.as_bytes());
    assert_eq!(
        URL_SAFE_NO_PAD.decode(parts[1]).unwrap(),
        payload.as_bytes()
    );
    let d_sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let input = format!("{}.{}", parts[0], parts[1]);
    assert!(verifies(
        &SigningKey::test_key().jwk(),
        &sig::RSA_PKCS1_2048_8192_SHA256,
        input.as_bytes(),
        &d_sig
    ));

    let bom = Compact::from_bytes(b"\xEF\xBB\xBF{}", b"\xFF");
    assert_eq!(b64url_decode(&bom.header_b64).unwrap(), b"\xEF\xBB\xBF{}");
    assert_eq!(
        bom.to_string(),
        format!("{}.{}.", bom.header_b64, bom.payload_b64)
    );
}

#[test]
fn compact_mangling() {
    // Chosen so that every segment needs padding.
    let c = Compact::from_json("{\"a\":1}", "{\"b\":22}").with_signature(&[0xfb, 0xff]);
    assert_eq!(c.signature_b64, "-_8");

    let padded = c.clone().padded();
    assert_eq!(padded.header_b64, pad(&c.header_b64));
    assert!(padded.to_string().split('.').all(|s| s.ends_with('=')));
    assert_eq!(
        URL_SAFE.decode(&padded.signature_b64).unwrap(),
        vec![0xfb, 0xff]
    );

    let standard = c.clone().standard_alphabet();
    assert_eq!(standard.signature_b64, "+/8");
    assert_eq!(
        STANDARD.decode(pad(&standard.signature_b64)).unwrap(),
        vec![0xfb, 0xff]
    );

    assert_eq!(c.two_segments().split('.').count(), 2);
    assert_eq!(c.with_extra_segment("x").split('.').count(), 4);
    assert_eq!(Compact::parse(&c.to_string()), Some(c.clone()));
    assert_eq!(Compact::parse(&c.two_segments()), None);
    assert_eq!(Compact::parse(&c.with_extra_segment("")), None);

    let spaced = c.clone().map_segments(|s| format!(" {s}\n"));
    assert!(spaced.to_string().starts_with(' '));
}

#[test]
fn corrupted_signature_no_longer_verifies() {
    let token = TokenBuilder::new(&SigningKey::test_key()).compact();
    assert!(verifies_rs256(
        &SigningKey::test_key().jwk(),
        &token.to_string()
    ));
    let corrupted = token.clone().corrupt_signature();
    assert_ne!(corrupted.signature_b64, token.signature_b64);
    assert!(!verifies_rs256(
        &SigningKey::test_key().jwk(),
        &corrupted.to_string()
    ));
}

#[test]
fn noncanonical_segments_decode_leniently_only() {
    let seg = b64url(b"{\"a\":1}"); // 7 bytes: 10 characters, 4 unused bits
    let odd = noncanonical(&seg).unwrap();
    assert_ne!(odd, seg);
    assert!(b64url_decode(&odd).is_none(), "strict decoding rejects it");
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    assert_eq!(lenient.decode(&odd).unwrap(), b"{\"a\":1}");
    assert_eq!(noncanonical(&b64url(b"abc")), None);
}

#[test]
fn builder_json_text_can_be_edited_by_hand() {
    let builder = TokenBuilder::new(&SigningKey::test_key()).user("user_1");
    let payload = builder
        .payload_json()
        .replacen('{', r#"{"sub":"user_evil","#, 1);
    let token = Compact::from_json(&builder.header_json(), &payload).sign(&SigningKey::test_key());
    let text = String::from_utf8(b64url_decode(&token.payload_b64).unwrap()).unwrap();
    assert_eq!(text.matches("\"sub\"").count(), 2);
    assert!(verifies_rs256(
        &SigningKey::test_key().jwk(),
        &token.to_string()
    ));
}

#[test]
fn emulator_identity() {
    let emulator = Emulator::with_key(SigningKey::test_key());
    assert_eq!(emulator.issuer(), DEFAULT_ISSUER);
    assert_eq!(emulator.frontend_api(), "clerk.emulator.invalid");
    let pk = emulator.publishable_key();
    let decoded = STANDARD
        .decode(pad(pk.strip_prefix("pk_test_").unwrap()))
        .unwrap();
    assert_eq!(decoded, b"clerk.emulator.invalid$");
    let sk = emulator.secret_key();
    assert!(sk.starts_with("sk_test_"));
    assert!(sk.len() > 40);

    let emulator = emulator
        .with_issuer("https://clerk.clerk.dev")
        .with_secret_key("sk_test_fixed");
    assert_eq!(emulator.publishable_key(), "pk_test_Y2xlcmsuY2xlcmsuZGV2JA");
    assert_eq!(emulator.secret_key(), "sk_test_fixed");

    let p = decode(&emulator.session_token().sign()).payload;
    assert_eq!(p["iss"], "https://clerk.clerk.dev");
}

#[test]
fn emulator_key_rotation() {
    let first = SigningKey::test_key().with_kid("ins_first");
    let second = SigningKey::test_key_n(1).with_kid("ins_second");
    let emulator = Emulator::with_key(first.clone());
    let kids = |e: &Emulator| -> Vec<String> {
        e.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kids(&emulator), ["ins_first"]);
    assert_eq!(emulator.jwks()["keys"][0], first.jwk());

    emulator.add_key(&second);
    assert_eq!(kids(&emulator), ["ins_first", "ins_second"]);
    assert_eq!(emulator.current_key().kid(), "ins_first");

    assert!(emulator.set_current("ins_second"));
    assert!(!emulator.set_current("ins_nope"));
    let token = emulator.session_token().sign();
    assert_eq!(decode(&token).header["kid"], "ins_second");
    assert!(verifies_rs256(&second.jwk(), &token));

    assert!(emulator.retire_key("ins_first"));
    assert!(!emulator.retire_key("ins_first"));
    assert_eq!(kids(&emulator), ["ins_second"]);
    // Retired keys are kept for minting.
    let retired = emulator.key("ins_first").unwrap();
    let token = emulator.session_token().key(&retired).sign();
    assert!(verifies_rs256(&first.jwk(), &token));
    assert_eq!(emulator.keys().len(), 2);
    assert_eq!(emulator.published_keys().len(), 1);

    assert!(emulator.publish_key("ins_first"));
    assert!(!emulator.publish_key("ins_first"));
    assert_eq!(kids(&emulator), ["ins_second", "ins_first"]);

    let third = SigningKey::test_key().with_kid("ins_third");
    emulator.rotate_to(&third);
    assert_eq!(emulator.current_key().kid(), "ins_third");
    assert_eq!(kids(&emulator), ["ins_second", "ins_first", "ins_third"]);
}

#[test]
fn emulator_mints_from_many_threads_while_rotating() {
    let emulator = Emulator::with_key(SigningKey::test_key());
    std::thread::scope(|scope| {
        for i in 0..8 {
            let emulator = emulator.clone();
            scope.spawn(move || {
                for j in 0..20 {
                    if i == 0 && j % 5 == 0 {
                        let k = if j % 10 == 0 {
                            SigningKey::test_key()
                        } else {
                            SigningKey::test_key_n(1)
                        };
                        emulator.rotate_to(&k);
                    }
                    let token = emulator.session_token().sign();
                    let kid = decode(&token).header["kid"].as_str().unwrap().to_owned();
                    let jwk = emulator.key(&kid).unwrap().jwk();
                    assert!(verifies_rs256(&jwk, &token));
                }
            });
        }
    });
}

#[test]
fn random_ids() {
    let s = ids::alphanumeric(1000);
    assert_eq!(s.len(), 1000);
    assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
    // All 62 characters show up in 1000 draws with overwhelming probability.
    assert_eq!(s.bytes().collect::<BTreeSet<u8>>().len(), 62);
    assert!(ids::hex(40).bytes().all(|b| b.is_ascii_hexdigit()));
}
