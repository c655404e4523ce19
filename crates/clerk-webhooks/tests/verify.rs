//! Every verification rule of clerk-spec §6 and security.md §8, one test each.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clerk_webhooks::{
    ConfigError, FixedClock, Webhook, WebhookError, DEFAULT_MAX_BODY_BYTES, MAX_ID_LEN,
    MAX_SIGNATURE_HEADER_LEN,
};
use http::{HeaderMap, HeaderName, HeaderValue};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET: &str = "whsec_dGhlIG90aGVyIHNlY3JldCwgMzIgYnl0ZXMgbG9uZyE=";
const NOW: i64 = 1_716_883_200;
const ID: &str = "msg_2hd0Wn3M4h4VY8JY8HNvRyCuFHv";
const BODY: &[u8] =
    br#"{"type":"user.deleted","object":"event","data":{"id":"user_1","deleted":true}}"#;

fn webhook() -> Webhook {
    Webhook::new(SECRET)
        .unwrap()
        .with_clock(FixedClock::at_secs(NOW))
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// Svix headers for `body`, signed by `signer` at `timestamp`.
fn signed(signer: &Webhook, id: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
    headers(&[
        ("svix-id", id),
        ("svix-timestamp", &timestamp.to_string()),
        ("svix-signature", &signer.sign(id, timestamp, body)),
    ])
}

fn valid() -> HeaderMap {
    signed(&webhook(), ID, NOW, BODY)
}

fn with(mut map: HeaderMap, name: &'static str, value: &str) -> HeaderMap {
    map.insert(name, HeaderValue::from_str(value).unwrap());
    map
}

fn without(mut map: HeaderMap, name: &str) -> HeaderMap {
    map.remove(name);
    map
}

/// The bare base64 of a valid signature (without `v1,`).
fn valid_signature() -> String {
    let header = webhook().sign(ID, NOW, BODY);
    header.strip_prefix("v1,").unwrap().to_owned()
}

fn refused(map: &HeaderMap, body: &[u8]) -> WebhookError {
    webhook()
        .verify(map, body)
        .expect_err("the delivery must be refused")
}

#[test]
fn valid_delivery_is_accepted() {
    webhook().verify(&valid(), BODY).unwrap();
}

#[test]
fn standard_webhooks_reference_vector_is_reproduced_and_verified() {
    let webhook = Webhook::new(SECRET)
        .unwrap()
        .with_clock(FixedClock::at_secs(1_614_265_330));
    let body = br#"{"test": 2432232314}"#;
    let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert_eq!(
        webhook.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
        signature
    );
    let map = headers(&[
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", signature),
    ]);
    webhook.verify(&map, body).unwrap();
}

#[test]
fn unbranded_headers_are_accepted_when_svix_ones_are_absent() {
    let map = headers(&[
        ("webhook-id", ID),
        ("webhook-timestamp", &NOW.to_string()),
        ("webhook-signature", &webhook().sign(ID, NOW, BODY)),
    ]);
    webhook().verify(&map, BODY).unwrap();
}

#[test]
fn svix_headers_take_precedence_over_unbranded_ones() {
    let bogus = [
        ("webhook-id", "msg_other"),
        ("webhook-timestamp", "1"),
        ("webhook-signature", "v1,AAAA"),
    ];
    let mut map = valid();
    for (name, value) in bogus {
        map.insert(name, HeaderValue::from_static(value));
    }
    webhook().verify(&map, BODY).unwrap();

    // Valid unbranded headers do not rescue a bad svix signature.
    let map = headers(&[
        ("svix-id", ID),
        ("svix-timestamp", &NOW.to_string()),
        ("svix-signature", "v1,AAAA"),
        ("webhook-id", ID),
        ("webhook-timestamp", &NOW.to_string()),
        ("webhook-signature", &webhook().sign(ID, NOW, BODY)),
    ]);
    assert!(matches!(
        refused(&map, BODY),
        WebhookError::NoMatchingSignature
    ));
}

#[test]
fn each_missing_header_is_named() {
    for name in ["svix-id", "svix-timestamp", "svix-signature"] {
        match refused(&without(valid(), name), BODY) {
            WebhookError::MissingHeaders(missing) => assert_eq!(missing, vec![name]),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn all_missing_headers_are_listed_in_the_message() {
    let err = refused(&HeaderMap::new(), BODY);
    assert!(matches!(&err, WebhookError::MissingHeaders(m) if m.len() == 3));
    assert_eq!(
        err.to_string(),
        "missing required webhook headers: svix-id, svix-timestamp, svix-signature"
    );

    let map = without(without(valid(), "svix-id"), "svix-signature");
    assert_eq!(
        refused(&map, BODY).to_string(),
        "missing required webhook headers: svix-id, svix-signature"
    );
}

#[test]
fn missing_unbranded_header_is_named_in_its_own_scheme() {
    let map = headers(&[("webhook-id", ID), ("webhook-timestamp", &NOW.to_string())]);
    match refused(&map, BODY) {
        WebhookError::MissingHeaders(missing) => assert_eq!(missing, vec!["webhook-signature"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn whitespace_only_headers_count_as_missing() {
    for name in ["svix-id", "svix-timestamp", "svix-signature"] {
        for blank in ["", " ", "\t", "  \t "] {
            match refused(&with(valid(), name, blank), BODY) {
                WebhookError::MissingHeaders(missing) => assert_eq!(missing, vec![name]),
                other => panic!("{name} = {blank:?}: {other:?}"),
            }
        }
    }
}

#[test]
fn surrounding_whitespace_is_trimmed() {
    let map = headers(&[
        ("svix-id", &format!("  {ID}\t")),
        ("svix-timestamp", &format!(" {NOW} ")),
        (
            "svix-signature",
            &format!("\t{} ", webhook().sign(ID, NOW, BODY)),
        ),
    ]);
    webhook().verify(&map, BODY).unwrap();
}

#[test]
fn a_header_sent_twice_is_refused() {
    for name in ["svix-id", "svix-timestamp", "svix-signature"] {
        let mut map = valid();
        let value = map[name].clone();
        map.append(HeaderName::from_static(name), value);
        assert!(matches!(
            refused(&map, BODY),
            WebhookError::DuplicateHeader(n) if n == name
        ));
    }
}

#[test]
fn a_header_with_non_ascii_bytes_is_refused() {
    let mut map = valid();
    map.insert(
        "svix-id",
        HeaderValue::from_bytes("msg_\u{e9}".as_bytes()).unwrap(),
    );
    assert!(matches!(
        refused(&map, BODY),
        WebhookError::InvalidHeader("svix-id")
    ));
}

#[test]
fn wrong_secret_is_refused() {
    let other = Webhook::new(OTHER_SECRET).unwrap();
    let map = signed(&other, ID, NOW, BODY);
    assert!(matches!(
        refused(&map, BODY),
        WebhookError::NoMatchingSignature
    ));
}

#[test]
fn tampered_body_is_refused() {
    let tampered = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("user_1", "user_2");
    assert!(matches!(
        refused(&valid(), tampered.as_bytes()),
        WebhookError::NoMatchingSignature
    ));
}

#[test]
fn trailing_newline_in_body_is_refused() {
    let mut body = BODY.to_vec();
    body.push(b'\n');
    assert!(matches!(
        refused(&valid(), &body),
        WebhookError::NoMatchingSignature
    ));
}

#[test]
fn reserialized_body_is_refused() {
    let value: serde_json::Value = serde_json::from_slice(BODY).unwrap();
    let pretty = serde_json::to_vec_pretty(&value).unwrap();
    assert!(matches!(
        refused(&valid(), &pretty),
        WebhookError::NoMatchingSignature
    ));
}

#[test]
fn changed_id_is_refused() {
    let map = with(valid(), "svix-id", "msg_2hd0Wn3M4h4VY8JY8HNvRyCuFHw");
    assert!(matches!(
        refused(&map, BODY),
        WebhookError::NoMatchingSignature
    ));
}

#[test]
fn changed_timestamp_is_refused() {
    let map = with(valid(), "svix-timestamp", &(NOW + 1).to_string());
    assert!(matches!(
        refused(&map, BODY),
        WebhookError::NoMatchingSignature
    ));
}

#[test]
fn timestamp_301_s_old_is_too_old() {
    let map = signed(&webhook(), ID, NOW - 301, BODY);
    assert!(matches!(refused(&map, BODY), WebhookError::TimestampTooOld));
}

#[test]
fn timestamp_301_s_ahead_is_too_new() {
    let map = signed(&webhook(), ID, NOW + 301, BODY);
    assert!(matches!(refused(&map, BODY), WebhookError::TimestampTooNew));
}

#[test]
fn timestamps_within_300_s_both_ways_are_accepted() {
    for offset in [-300, -299, -1, 0, 1, 299, 300] {
        let map = signed(&webhook(), ID, NOW + offset, BODY);
        webhook()
            .verify(&map, BODY)
            .unwrap_or_else(|e| panic!("offset {offset}: {e}"));
    }
}

#[test]
fn tolerance_is_configurable() {
    let strict = webhook().with_tolerance(Duration::from_secs(10));
    strict
        .verify(&signed(&strict, ID, NOW - 10, BODY), BODY)
        .unwrap();
    assert!(matches!(
        strict.verify(&signed(&strict, ID, NOW - 11, BODY), BODY),
        Err(WebhookError::TimestampTooOld)
    ));
    assert!(matches!(
        strict.verify(&signed(&strict, ID, NOW + 11, BODY), BODY),
        Err(WebhookError::TimestampTooNew)
    ));
}

#[test]
fn a_delivery_goes_stale_as_a_shared_clock_moves() {
    let clock = Arc::new(FixedClock::at_secs(NOW));
    let webhook = Webhook::new(SECRET).unwrap().with_clock(Arc::clone(&clock));
    let map = signed(&webhook, ID, NOW, BODY);
    webhook.verify(&map, BODY).unwrap();
    clock.advance(Duration::from_secs(300));
    webhook.verify(&map, BODY).unwrap();
    clock.advance(Duration::from_secs(1));
    assert!(matches!(
        webhook.verify(&map, BODY),
        Err(WebhookError::TimestampTooOld)
    ));
}

#[test]
fn the_clock_is_read_in_whole_seconds() {
    // 300.999 s after the timestamp is still within 300 s: the milliseconds are dropped.
    let clock = FixedClock::at_ms((NOW as u64 + 300) * 1000 + 999);
    let webhook = Webhook::new(SECRET).unwrap().with_clock(clock);
    webhook
        .verify(&signed(&webhook, ID, NOW, BODY), BODY)
        .unwrap();
}

#[test]
fn timestamp_is_checked_before_the_signature() {
    // A replay of a genuine delivery says "too old", not "no matching signature".
    let map = with(
        signed(&webhook(), ID, NOW - 3600, BODY),
        "svix-signature",
        "v1,AAAA",
    );
    assert!(matches!(refused(&map, BODY), WebhookError::TimestampTooOld));
}

#[test]
fn malformed_timestamps_are_refused() {
    let now = NOW.to_string();
    let cases = [
        "abc".to_owned(),
        format!("{now}.0"),
        format!("{now}.5"),
        format!("-{now}"),
        "-1".to_owned(),
        format!("+{now}"),
        "1.716883200e9".to_owned(),
        format!("0x{NOW:x}"),
        format!("{now}abc"),
        format!("{} {}", &now[..5], &now[5..]),
        "99999999999999999999999".to_owned(),
    ];
    for timestamp in cases {
        // Signed over the raw header text, so only the timestamp rule can refuse it.
        let map = headers(&[
            ("svix-id", ID),
            ("svix-timestamp", &timestamp),
            (
                "svix-signature",
                &webhook().sign(ID, NOW, BODY), // the best an attacker could send
            ),
        ]);
        assert!(
            matches!(refused(&map, BODY), WebhookError::InvalidTimestamp),
            "{timestamp:?}"
        );
    }
}

#[test]
fn timestamp_with_leading_zeros_is_signed_as_the_parsed_number() {
    // As in Clerk's SDK: the signed content uses parseInt(header), not the header text.
    let map = with(valid(), "svix-timestamp", &format!("000{NOW}"));
    webhook().verify(&map, BODY).unwrap();
}

#[test]
fn non_v1_signatures_are_refused() {
    let signature = valid_signature();
    let raw = STANDARD.decode(&signature).unwrap();
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let unpadded = signature.trim_end_matches('=').to_owned();
    let mut cases = vec![
        format!("v1a,{signature}"),
        format!("v2,{signature}"),
        format!("V1,{signature}"),
        format!("v0,{signature}"),
        format!(" v1 ,{signature}"),
        signature.clone(),
        format!(",{signature}"),
        "v1,".to_owned(),
        "v1".to_owned(),
        ",".to_owned(),
        format!("v1,{hex}"),
        format!("v1,{unpadded}"),
        format!("v1,{}", &signature[..43]),
        format!("v1,{signature}="),
        format!("v1,{signature},extra"),
        format!("v1:{signature}"),
        format!("v1={signature}"),
        format!("v1, {signature}"),
    ];
    let url_safe = signature.replace('+', "-").replace('/', "_");
    if url_safe != signature {
        cases.push(format!("v1,{url_safe}"));
    }
    for header in cases {
        let map = with(valid(), "svix-signature", &header);
        assert!(
            matches!(refused(&map, BODY), WebhookError::NoMatchingSignature),
            "{header:?}"
        );
    }
}

#[test]
fn signatures_are_separated_by_spaces_only() {
    let signature = valid_signature();
    for separator in ["\t", ",", ";"] {
        let map = with(
            valid(),
            "svix-signature",
            &format!("v1,AAAA{separator}v1,{signature}"),
        );
        assert!(
            matches!(refused(&map, BODY), WebhookError::NoMatchingSignature),
            "{separator:?}"
        );
    }
}

#[test]
fn one_valid_signature_among_several_is_accepted() {
    let signature = valid_signature();
    let other = Webhook::new(OTHER_SECRET).unwrap().sign(ID, NOW, BODY);
    let headers = [
        format!("v1a,{signature} v2,{signature} v1,AAAA {other} v1,{signature}"),
        format!("v1,{signature} v1,AAAA"),
        format!("v1,bogus  v1,{signature}"),
        format!("{other} v1,{signature}"),
    ];
    for header in headers {
        let map = with(valid(), "svix-signature", &header);
        webhook()
            .verify(&map, BODY)
            .unwrap_or_else(|e| panic!("{header}: {e}"));
    }
}

#[test]
fn rotation_accepts_a_signature_from_either_secret() {
    let rotated = Webhook::new(SECRET)
        .unwrap()
        .with_secret(OTHER_SECRET)
        .unwrap()
        .with_clock(FixedClock::at_secs(NOW));
    let old = Webhook::new(SECRET).unwrap();
    let new = Webhook::new(OTHER_SECRET).unwrap();
    rotated.verify(&signed(&old, ID, NOW, BODY), BODY).unwrap();
    rotated.verify(&signed(&new, ID, NOW, BODY), BODY).unwrap();

    // Signed during the rotation: one entry per secret, accepted by each single-secret verifier.
    let both = rotated.sign(ID, NOW, BODY);
    assert_eq!(
        both,
        format!("{} {}", old.sign(ID, NOW, BODY), new.sign(ID, NOW, BODY))
    );
    let map = with(valid(), "svix-signature", &both);
    old.clone()
        .with_clock(FixedClock::at_secs(NOW))
        .verify(&map, BODY)
        .unwrap();
    new.clone()
        .with_clock(FixedClock::at_secs(NOW))
        .verify(&map, BODY)
        .unwrap();

    let stranger = Webhook::new("whsec_c3RyYW5nZXI=").unwrap();
    assert!(matches!(
        rotated.verify(&signed(&stranger, ID, NOW, BODY), BODY),
        Err(WebhookError::NoMatchingSignature)
    ));
}

#[test]
fn secret_lists_are_split_on_commas_and_whitespace() {
    for list in [
        format!("{SECRET},{OTHER_SECRET}"),
        format!("{SECRET} {OTHER_SECRET}"),
        format!(" {SECRET} ,\n {OTHER_SECRET} , "),
    ] {
        let rotated = Webhook::from_secret_list(&list)
            .unwrap()
            .with_clock(FixedClock::at_secs(NOW));
        let new = Webhook::new(OTHER_SECRET).unwrap();
        rotated.verify(&signed(&new, ID, NOW, BODY), BODY).unwrap();
        rotated.verify(&valid(), BODY).unwrap();
    }
    assert_eq!(
        Webhook::from_secret_list(" , ").unwrap_err(),
        ConfigError::MissingSecret
    );
    assert_eq!(
        Webhook::from_secret_list(&format!("{SECRET},whsec_***")).unwrap_err(),
        ConfigError::SecretNotBase64
    );
}

#[test]
fn from_env_reads_the_signing_secret_variable() {
    // The only test of this binary that touches the variable.
    std::env::set_var(
        "CLERK_WEBHOOK_SIGNING_SECRET",
        format!("{OTHER_SECRET} {SECRET}"),
    );
    let webhook = Webhook::from_env()
        .unwrap()
        .with_clock(FixedClock::at_secs(NOW));
    webhook.verify(&valid(), BODY).unwrap();

    std::env::set_var("CLERK_WEBHOOK_SIGNING_SECRET", "   ");
    assert_eq!(Webhook::from_env().unwrap_err(), ConfigError::MissingSecret);
    std::env::remove_var("CLERK_WEBHOOK_SIGNING_SECRET");
    let err = Webhook::from_env().unwrap_err();
    assert_eq!(err, ConfigError::MissingSecret);
    assert!(err.to_string().contains("CLERK_WEBHOOK_SIGNING_SECRET"));
}

#[test]
fn the_whsec_prefix_is_optional() {
    let bare = Webhook::new(SECRET.strip_prefix("whsec_").unwrap())
        .unwrap()
        .with_clock(FixedClock::at_secs(NOW));
    bare.verify(&valid(), BODY).unwrap();
    assert_eq!(bare.sign(ID, NOW, BODY), webhook().sign(ID, NOW, BODY));
}

#[test]
fn base64_padding_of_the_secret_is_optional() {
    let padded = "whsec_c2VjcmV0IGtleQ==";
    let unpadded = "whsec_c2VjcmV0IGtleQ";
    assert_eq!(
        Webhook::new(padded).unwrap().sign(ID, NOW, BODY),
        Webhook::new(unpadded).unwrap().sign(ID, NOW, BODY)
    );
}

#[test]
fn empty_secret_is_refused() {
    for secret in ["", "whsec_", "   ", "whsec_=="] {
        let err = Webhook::new(secret).unwrap_err();
        assert!(
            matches!(err, ConfigError::EmptySecret | ConfigError::SecretNotBase64),
            "{secret:?}: {err:?}"
        );
    }
    assert_eq!(Webhook::new("").unwrap_err(), ConfigError::EmptySecret);
    assert_eq!(
        Webhook::new("whsec_").unwrap_err(),
        ConfigError::EmptySecret
    );
}

#[test]
fn non_base64_secret_is_refused_at_construction() {
    for secret in [
        "whsec_not base64!",
        "whsec_abc$def",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS-",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS_",
        "whsec_a",
        "sk_test_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ] {
        assert_eq!(
            Webhook::new(secret).unwrap_err(),
            ConfigError::SecretNotBase64,
            "{secret}"
        );
        let err = Webhook::new(SECRET)
            .unwrap()
            .with_secret(secret)
            .unwrap_err();
        assert_eq!(err, ConfigError::SecretNotBase64);
    }
}

#[test]
fn body_larger_than_the_limit_is_refused_before_anything_else() {
    let big = vec![b' '; DEFAULT_MAX_BODY_BYTES + 1];
    let map = signed(&webhook(), ID, NOW, &big);
    assert!(matches!(
        refused(&map, &big),
        WebhookError::BodyTooLarge { limit } if limit == DEFAULT_MAX_BODY_BYTES
    ));
    // Even with no headers at all: the size is the first check.
    assert!(matches!(
        refused(&HeaderMap::new(), &big),
        WebhookError::BodyTooLarge { .. }
    ));

    let exact = vec![b' '; DEFAULT_MAX_BODY_BYTES];
    webhook()
        .verify(&signed(&webhook(), ID, NOW, &exact), &exact)
        .unwrap();
}

#[test]
fn body_limit_is_configurable() {
    let small = webhook().with_max_body_bytes(BODY.len() - 1);
    assert!(matches!(
        small.verify(&valid(), BODY),
        Err(WebhookError::BodyTooLarge { limit }) if limit == BODY.len() - 1
    ));
    webhook()
        .with_max_body_bytes(BODY.len())
        .verify(&valid(), BODY)
        .unwrap();
}

#[test]
fn overlong_id_is_refused() {
    let long_id = "m".repeat(MAX_ID_LEN + 1);
    let map = signed(&webhook(), &long_id, NOW, BODY);
    assert!(matches!(
        refused(&map, BODY),
        WebhookError::HeaderTooLong {
            header: "svix-id",
            limit: MAX_ID_LEN
        }
    ));
    let longest = "m".repeat(MAX_ID_LEN);
    webhook()
        .verify(&signed(&webhook(), &longest, NOW, BODY), BODY)
        .unwrap();
}

#[test]
fn overlong_signature_header_is_refused() {
    let valid_entry = webhook().sign(ID, NOW, BODY);
    let filler = "v1,AAAA ".repeat(MAX_SIGNATURE_HEADER_LEN / 8);
    let map = with(valid(), "svix-signature", &format!("{filler}{valid_entry}"));
    assert!(matches!(
        refused(&map, BODY),
        WebhookError::HeaderTooLong {
            header: "svix-signature",
            limit: MAX_SIGNATURE_HEADER_LEN
        }
    ));
    let fits = "v1,AAAA ".repeat((MAX_SIGNATURE_HEADER_LEN - valid_entry.len()) / 8);
    let map = with(valid(), "svix-signature", &format!("{fits}{valid_entry}"));
    webhook().verify(&map, BODY).unwrap();
}

#[test]
fn non_utf8_body_is_signed_over_its_bytes() {
    let body = [0xff, 0xfe, b'{', 0x80];
    webhook()
        .verify(&signed(&webhook(), ID, NOW, &body), &body)
        .unwrap();
    assert!(matches!(
        webhook().verify_event(&signed(&webhook(), ID, NOW, &body), &body),
        Err(WebhookError::InvalidJson(_))
    ));
}

#[test]
fn verify_event_verifies_before_parsing() {
    let event = webhook().verify_event(&valid(), BODY).unwrap();
    assert_eq!(event.type_, "user.deleted");

    // A forged body is refused for its signature, never reported as a parse error.
    let forged = b"not json";
    assert!(matches!(
        webhook().verify_event(&valid(), forged),
        Err(WebhookError::NoMatchingSignature)
    ));
}

#[test]
fn errors_and_debug_output_never_contain_the_secret_or_a_signature() {
    let secret_b64 = SECRET.strip_prefix("whsec_").unwrap();
    let signature = valid_signature();
    let wrong_key = Webhook::new(OTHER_SECRET).unwrap();
    let errors = [
        refused(&HeaderMap::new(), BODY),
        refused(&with(valid(), "svix-timestamp", "x"), BODY),
        refused(&signed(&webhook(), ID, NOW - 999, BODY), BODY),
        refused(&signed(&webhook(), ID, NOW + 999, BODY), BODY),
        refused(&signed(&wrong_key, ID, NOW, BODY), BODY),
        refused(&valid(), &vec![b'x'; DEFAULT_MAX_BODY_BYTES + 1]),
        refused(&with(valid(), "svix-id", &"i".repeat(MAX_ID_LEN + 1)), BODY),
    ];
    for err in &errors {
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(secret_b64), "{text}");
            assert!(!text.contains(&signature), "{text}");
        }
    }
    for err in [
        Webhook::new("whsec_abc$def").unwrap_err(),
        Webhook::new("whsec_").unwrap_err(),
    ] {
        assert!(!err.to_string().contains("abc$def"));
    }
    let debug = format!("{:?}", webhook());
    assert!(!debug.contains(secret_b64), "{debug}");
    assert!(debug.contains("secrets: 1"), "{debug}");
}
