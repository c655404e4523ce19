//! `clerk_webhooks::Webhook::verify` (and `verify_event`) on attacker-controlled headers and
//! body, with fixed secrets and a fixed clock.
//!
//! Input layout:
//!
//! - byte 0: bits 0..=5 send `svix-id`, `svix-timestamp`, `svix-signature`, `webhook-id`,
//!   `webhook-timestamp`, `webhook-signature`; bit 6 sends the first of them twice; bit 7 gives
//!   the verifier a 64-byte body limit (otherwise the default 1 MiB);
//! - byte 1: bit 0 replaces the `svix-timestamp` value by `NOW + offset`, bit 1 the
//!   `webhook-timestamp` value; bit 2 has the target add the correct `v1,<signature>` entry
//!   (computed here with `ring`) for the id, timestamp and body the verifier will read, to the
//!   signature header it will read; bit 3 puts that entry first instead of last; bit 4 makes it
//!   with the second secret instead of the first; bit 5 gives the verifier both secrets
//!   (rotation) instead of the first only;
//! - bytes 2..4: `offset`, seconds, i16 big-endian;
//! - then the six header values and the body, separated by `\0` (the body is everything after
//!   the sixth `\0`). A value that is not a valid `HeaderValue` is not sent.
//!
//! The outcome is checked against an independent model of the documented rules, computed
//! from the header list the target built (not from the `HeaderMap`):
//! accepted ⇔ body within the limit, the three headers of the scheme in use each sent once,
//! visible ASCII, non-blank after trimming, id ≤ `MAX_ID_LEN`, signature header ≤
//! `MAX_SIGNATURE_HEADER_LEN`, timestamp digits only and within 300 s of now both ways, and a
//! space-separated entry equal to `v1,` + base64(HMAC-SHA256(secret, "{id}.{ts}.{body}")) for
//! one of the verifier's secrets. In particular an accepted delivery always carries the HMAC
//! computed here, and a refusal names the first rule broken (body, headers, time, signature).
#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clerk_webhooks::{
    Event, FixedClock, Webhook, WebhookError, DEFAULT_TOLERANCE, MAX_ID_LEN,
    MAX_SIGNATURE_HEADER_LEN,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use ring::hmac;

const SECRETS: [&str; 2] = [
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "whsec_dGhlIG90aGVyIHNlY3JldCwgMzIgYnl0ZXMgbG9uZyE=",
];
const NOW: i64 = 1_716_883_200;
const SMALL_BODY_LIMIT: usize = 64;
const DEFAULT_BODY_LIMIT: usize = clerk_webhooks::DEFAULT_MAX_BODY_BYTES;

/// The six header names, in input order: one scheme's id, timestamp, signature, then the other's.
const NAMES: [&str; 6] = [
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// The verifiers, indexed by `rotation as usize * 2 + small_limit as usize`.
fn verifiers() -> &'static [Webhook; 4] {
    static VERIFIERS: OnceLock<[Webhook; 4]> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        let one = Webhook::new(SECRETS[0])
            .unwrap()
            .with_clock(FixedClock::at_secs(NOW));
        let both = Webhook::from_secret_list(&SECRETS.join(" "))
            .unwrap()
            .with_clock(FixedClock::at_secs(NOW));
        [
            one.clone(),
            one.with_max_body_bytes(SMALL_BODY_LIMIT),
            both.clone(),
            both.with_max_body_bytes(SMALL_BODY_LIMIT),
        ]
    })
}

/// The secrets' HMAC keys, decoded here (not by the crate).
fn all_keys() -> &'static [hmac::Key; 2] {
    static KEYS: OnceLock<[hmac::Key; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        SECRETS.map(|secret| {
            let raw = STANDARD
                .decode(secret.strip_prefix("whsec_").unwrap())
                .unwrap();
            hmac::Key::new(hmac::HMAC_SHA256, &raw)
        })
    })
}

/// base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
fn expected_signature(key: &hmac::Key, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut message = format!("{id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    STANDARD.encode(hmac::sign(key, &message))
}

/// How one header reads: absent (or blank), unusable (sent twice, not visible ASCII), or its
/// trimmed text.
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Absent,
    Unusable,
    Text(String),
}

fn slot(sent: &[(usize, Vec<u8>)], name: usize) -> Slot {
    let mut values = sent.iter().filter(|(n, _)| *n == name).map(|(_, v)| v);
    let (Some(value), None) = (values.next(), values.next()) else {
        return if sent.iter().any(|(n, _)| *n == name) {
            Slot::Unusable
        } else {
            Slot::Absent
        };
    };
    if !value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        return Slot::Unusable;
    }
    let text = std::str::from_utf8(value).unwrap();
    let trimmed = text.trim_matches(|c| c == ' ' || c == '\t');
    if trimmed.is_empty() {
        Slot::Absent
    } else {
        Slot::Text(trimmed.to_owned())
    }
}

/// The first index (0 = svix, 3 = webhook) of the header scheme the verifier reads: svix,
/// unless no svix header is there and some webhook one is.
fn scheme(sent: &[(usize, Vec<u8>)]) -> usize {
    let absent =
        |range: std::ops::Range<usize>| range.into_iter().all(|n| slot(sent, n) == Slot::Absent);
    if absent(0..3) && !absent(3..6) {
        3
    } else {
        0
    }
}

/// A digits-only timestamp that fits an i64.
fn timestamp(text: &str) -> Option<i64> {
    text.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse().ok())
        .flatten()
}

/// Why the model refuses a delivery: the first rule broken, in the documented order.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Refusal {
    BodyTooLarge,
    Headers,
    TooOld,
    TooNew,
    NoMatch,
}

fn category(err: &WebhookError) -> Refusal {
    match err {
        WebhookError::BodyTooLarge { .. } => Refusal::BodyTooLarge,
        WebhookError::MissingHeaders(_)
        | WebhookError::DuplicateHeader(_)
        | WebhookError::InvalidHeader(_)
        | WebhookError::HeaderTooLong { .. }
        | WebhookError::InvalidTimestamp => Refusal::Headers,
        WebhookError::TimestampTooOld => Refusal::TooOld,
        WebhookError::TimestampTooNew => Refusal::TooNew,
        WebhookError::NoMatchingSignature => Refusal::NoMatch,
        other => panic!("verify returned a body error: {other:?}"),
    }
}

fn model(
    sent: &[(usize, Vec<u8>)],
    body: &[u8],
    limit: usize,
    keys: &[hmac::Key],
) -> Result<(), Refusal> {
    if body.len() > limit {
        return Err(Refusal::BodyTooLarge);
    }
    let first = scheme(sent);
    let [Slot::Text(id), Slot::Text(ts), Slot::Text(signatures)] =
        [0, 1, 2].map(|i| slot(sent, first + i))
    else {
        return Err(Refusal::Headers);
    };
    if id.len() > MAX_ID_LEN || signatures.len() > MAX_SIGNATURE_HEADER_LEN {
        return Err(Refusal::Headers);
    }
    let ts = timestamp(&ts).ok_or(Refusal::Headers)?;
    let tolerance = DEFAULT_TOLERANCE.as_secs() as i64;
    if NOW - ts > tolerance {
        return Err(Refusal::TooOld);
    }
    if ts - NOW > tolerance {
        return Err(Refusal::TooNew);
    }
    let matches = keys.iter().any(|key| {
        let entry = format!("v1,{}", expected_signature(key, &id, ts, body));
        signatures.split(' ').any(|candidate| candidate == entry)
    });
    if matches {
        Ok(())
    } else {
        Err(Refusal::NoMatch)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&[present, mode, hi, lo], rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let offset = i64::from(i16::from_be_bytes([hi, lo]));
    let mut parts = rest.splitn(7, |&b| b == 0);
    let mut values: Vec<Vec<u8>> = (0..6)
        .map(|_| parts.next().unwrap_or_default().to_vec())
        .collect();
    let body = parts.next().unwrap_or_default();
    let small_limit = present & 0x80 != 0;
    let rotation = mode & 0x20 != 0;
    let limit = if small_limit {
        SMALL_BODY_LIMIT
    } else {
        DEFAULT_BODY_LIMIT
    };
    let webhook = &verifiers()[usize::from(rotation) * 2 + usize::from(small_limit)];
    let keys = &all_keys()[..if rotation { 2 } else { 1 }];

    for (bit, index) in [(0, 1), (1, 4)] {
        if mode & (1 << bit) != 0 {
            values[index] = (NOW + offset).to_string().into_bytes();
        }
    }
    let build = |values: &[Vec<u8>]| -> Vec<(usize, Vec<u8>)> {
        (0..6)
            .filter(|&n| present & (1 << n) != 0)
            .filter(|&n| HeaderValue::from_bytes(&values[n]).is_ok())
            .map(|n| (n, values[n].clone()))
            .collect()
    };
    let mut sent = build(&values);

    if mode & 0x04 != 0 {
        // Sign what the verifier will read, as a sender holding the secret would.
        let first = scheme(&sent);
        let id = match slot(&sent, first) {
            Slot::Text(id) => id,
            _ => String::new(),
        };
        let ts = match slot(&sent, first + 1) {
            Slot::Text(ts) => timestamp(&ts).unwrap_or(0),
            _ => 0,
        };
        let key = &all_keys()[usize::from(mode & 0x10 != 0)];
        let entry = format!("v1,{}", expected_signature(key, &id, ts, body));
        let header: &[u8] = &values[first + 2];
        values[first + 2] = if mode & 0x08 != 0 {
            [entry.as_bytes(), b" ".as_slice(), header].concat()
        } else {
            [header, b" ".as_slice(), entry.as_bytes()].concat()
        };
        sent = build(&values);
    }
    if present & 0x40 != 0 {
        if let Some(first) = sent.first().cloned() {
            sent.push(first);
        }
    }

    let mut headers = HeaderMap::new();
    for (name, value) in &sent {
        headers.append(
            HeaderName::from_static(NAMES[*name]),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }

    let expected = model(&sent, body, limit, keys);
    let verified = webhook.verify(&headers, body);
    assert_eq!(
        verified.as_ref().map(|_| ()).map_err(category),
        expected,
        "verify gave {verified:?}"
    );

    // verify_event: the same refusal, or the body parsed exactly as Event::from_slice does.
    match (webhook.verify_event(&headers, body), verified) {
        (Err(err), Err(_)) => assert_eq!(Err(category(&err)), expected),
        (event, Ok(())) => match (event, Event::from_slice(body)) {
            (Ok(event), Ok(parsed)) => assert_eq!(event, parsed),
            (Err(err), Err(parsed)) => assert_eq!(err.to_string(), parsed.to_string()),
            (event, parsed) => panic!("verify_event {event:?} but from_slice {parsed:?}"),
        },
        (Ok(event), Err(err)) => panic!("verify refused ({err}) but verify_event gave {event:?}"),
    }
});
