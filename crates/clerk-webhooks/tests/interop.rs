//! Interop with an independent implementation: the `standardwebhooks` npm package (pinned in
//! `tests/interop/package-lock.json`), the library Clerk's own `verifyWebhook` calls
//! (clerk-spec §6).
//!
//! 1. `standardwebhooks` signs deliveries (bodies with unicode, real Clerk events, empty and
//!    large bodies; several secrets, ids and timestamps around now); this crate must produce the
//!    same signature header byte for byte, accept every delivery, and refuse each of its
//!    tampered variants for the right reason.
//! 2. This crate signs; `standardwebhooks` verifies. Tampered variants, malformed headers and
//!    out-of-tolerance timestamps are verified by both, and both must give the same verdict
//!    (and the same kind of refusal), except the documented [`Deviation`]s where this crate is
//!    deliberately stricter. A deviation that stops being one fails the test.
//!
//! Secret rotation is covered both ways: a header carrying signatures under two secrets is
//! accepted by a verifier holding either one.
//!
//! Needs Node.js and npm: `npm ci` runs in `tests/interop/` when its `node_modules` lacks the
//! pinned `standardwebhooks`. Without them the test fails, it never skips.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clerk_webhooks::Clock as _;
use clerk_webhooks::{SystemClock, Webhook, WebhookError};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};

const STANDARDWEBHOOKS_VERSION: &str = "1.1.1";

/// One delivery: what is signed, and with which secrets (two during a rotation).
#[derive(Debug, Clone)]
struct Delivery {
    secrets: Vec<String>,
    id: String,
    timestamp: i64,
    body: String,
}

/// A `whsec_` secret of `len` pseudo-random bytes.
fn secret(seed: u8, len: usize, prefixed: bool) -> String {
    let bytes: Vec<u8> = (0..len)
        .map(|i| {
            seed.wrapping_mul(31)
                .wrapping_add((i as u8).wrapping_mul(167))
                ^ 0x5a
        })
        .collect();
    let encoded = STANDARD.encode(bytes);
    if prefixed {
        format!("whsec_{encoded}")
    } else {
        encoded
    }
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn deliveries(now: i64) -> Vec<Delivery> {
    let bodies: Vec<String> = vec![
        r#"{"type":"user.created","data":{"id":"user_1"}}"#.into(),
        fixture("user.created"),
        fixture("user.updated"),
        fixture("user.deleted"),
        fixture("session.revoked"),
        fixture("organization.created"),
        fixture("organizationMembership.created"),
        fixture("email.created"),
        r#"{"data":{"first_name":"Zoë","last_name":"Çelik — 日本語 🚀"}}"#.into(),
        "{\"name\":\"e\u{301}\u{301} \u{1F469}\u{200D}\u{1F4BB} \u{645}\u{631}\u{62D}\u{628}\u{627}\"}".into(),
        "{\"sep\":\"\u{2028}\u{2029}\",\"nul\":\"\u{0}\",\"bom\":\"\u{feff}\"}".into(),
        "{\"escaped\":\"\\u00e9\\ud83d\\ude80\\n\"}".into(),
        String::new(),
        "not json at all".into(),
        "{\n  \"pretty\": true,\r\n  \"crlf\": \"yes\"\n}\n".into(),
        format!(r#"{{"big":"{}"}}"#, "ab\u{e9}".repeat(70_000)),
        "   ".into(),
        r#"{"test": 2432232314}"#.into(),
        "[1,2,3]".into(),
        "{\"emoji\":\"\u{1F1EB}\u{1F1F7}\u{1F3F3}\u{FE0F}\u{200D}\u{1F308}\"}".into(),
    ];
    let ids = [
        "msg_2hd0Wn3M4h4VY8JY8HNvRyCuFHv",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "evt_2024-05-28T08:00:00Z#1",
        "a",
        "msg.with.dots.1716883200",
        "0b7e2a1c-5d4f-4a8e-9b6c-3f2d1e0a9b8c",
    ];
    let mut out: Vec<Delivery> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let seed = u8::try_from(i).unwrap();
            let key_len = [32, 24, 16, 64, 1, 100, 33][i % 7];
            Delivery {
                secrets: vec![secret(seed, key_len, i % 3 != 2)],
                id: ids[i % ids.len()].to_owned(),
                timestamp: now + [0, 0, -200, 0, 200, 0, -1][i % 7],
                body,
            }
        })
        .collect();
    out.push(Delivery {
        secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
        id: "m".repeat(256),
        timestamp: now,
        body: fixture("user.created"),
    });
    // Rotations: two and three secrets at once.
    out.push(Delivery {
        secrets: vec![secret(200, 32, true), secret(201, 32, true)],
        id: "msg_rotation_2".into(),
        timestamp: now,
        body: fixture("organizationMembership.created"),
    });
    out.push(Delivery {
        secrets: vec![
            secret(202, 32, true),
            secret(203, 24, false),
            secret(204, 48, true),
        ],
        id: "msg_rotation_3".into(),
        timestamp: now,
        body: r#"{"type":"user.updated","data":{"id":"user_ü"}}"#.into(),
    });
    out
}

fn webhook(secrets: &[String]) -> Webhook {
    let (first, rest) = secrets.split_first().unwrap();
    rest.iter().fold(Webhook::new(first).unwrap(), |w, s| {
        w.with_secret(s).unwrap()
    })
}

fn header_map(pairs: &[(&str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// A refusal, in words both implementations can be mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accepted,
    MissingHeaders,
    InvalidTimestamp,
    TooOld,
    TooNew,
    NoMatchingSignature,
    HeaderTooLong,
}

impl Verdict {
    fn of_ours(result: Result<(), WebhookError>) -> Verdict {
        match result {
            Ok(()) => Verdict::Accepted,
            Err(WebhookError::MissingHeaders(_)) => Verdict::MissingHeaders,
            Err(WebhookError::InvalidTimestamp) => Verdict::InvalidTimestamp,
            Err(WebhookError::TimestampTooOld) => Verdict::TooOld,
            Err(WebhookError::TimestampTooNew) => Verdict::TooNew,
            Err(WebhookError::NoMatchingSignature) => Verdict::NoMatchingSignature,
            Err(WebhookError::HeaderTooLong { .. }) => Verdict::HeaderTooLong,
            Err(other) => panic!("unexpected refusal: {other:?}"),
        }
    }

    fn of_node(value: &Value) -> Verdict {
        if value["ok"] == true {
            return Verdict::Accepted;
        }
        match value["error"].as_str().unwrap_or_default() {
            "Missing required headers" => Verdict::MissingHeaders,
            "Invalid Signature Headers" => Verdict::InvalidTimestamp,
            "Message timestamp too old" => Verdict::TooOld,
            "Message timestamp too new" => Verdict::TooNew,
            "No matching signature found" => Verdict::NoMatchingSignature,
            other => panic!("unexpected standardwebhooks error: {other}"),
        }
    }
}

/// Where this crate is deliberately stricter than `standardwebhooks`: both verdicts are pinned.
#[derive(Debug, Clone, Copy)]
struct Deviation {
    node: Verdict,
    why: &'static str,
}

/// A delivery verified by both implementations, with one secret each.
struct Case {
    label: String,
    secret: String,
    /// Unbranded header names: `standardwebhooks` reads only these; ours reads them too when
    /// no `svix-*` header is present.
    headers: Vec<(&'static str, String)>,
    body: String,
    expected: Verdict,
    deviation: Option<Deviation>,
}

impl Case {
    fn new(
        label: impl Into<String>,
        secret: &str,
        (id, timestamp, signature): (&str, &str, &str),
        body: &str,
        expected: Verdict,
    ) -> Case {
        Case {
            label: label.into(),
            secret: secret.to_owned(),
            headers: vec![
                ("webhook-id", id.to_owned()),
                ("webhook-timestamp", timestamp.to_owned()),
                ("webhook-signature", signature.to_owned()),
            ],
            body: body.to_owned(),
            expected,
            deviation: None,
        }
    }

    fn deviating(mut self, node: Verdict, why: &'static str) -> Case {
        self.deviation = Some(Deviation { node, why });
        self
    }
}

/// Deliveries signed by this crate, and their variants, for both verifiers.
fn cases(deliveries: &[Delivery], now: i64) -> Vec<Case> {
    use Verdict::*;
    let mut cases = Vec::new();
    for (n, d) in deliveries.iter().enumerate() {
        let ours = webhook(&d.secrets);
        let signature = ours.sign(&d.id, d.timestamp, d.body.as_bytes());
        let ts = d.timestamp.to_string();
        let label = |what: &str| format!("delivery {n} ({}): {what}", d.id);

        for (k, secret) in d.secrets.iter().enumerate() {
            cases.push(Case::new(
                label(&format!("signed by us, verified with secret {k}")),
                secret,
                (&d.id, &ts, &signature),
                &d.body,
                Accepted,
            ));
        }
        let secret = &d.secrets[0];
        let mut tampered_body = d.body.clone();
        tampered_body.push('\n');
        cases.push(Case::new(
            label("trailing newline"),
            secret,
            (&d.id, &ts, &signature),
            &tampered_body,
            NoMatchingSignature,
        ));
        if let Some(first) = d.body.chars().next() {
            let flipped = if first == 'x' { 'y' } else { 'x' };
            let tampered = format!("{flipped}{}", &d.body[first.len_utf8()..]);
            cases.push(Case::new(
                label("first character changed"),
                secret,
                (&d.id, &ts, &signature),
                &tampered,
                NoMatchingSignature,
            ));
        }
        cases.push(Case::new(
            label("id changed"),
            secret,
            (&altered(&d.id), &ts, &signature),
            &d.body,
            NoMatchingSignature,
        ));
        cases.push(Case::new(
            label("timestamp changed"),
            secret,
            (&d.id, &(d.timestamp - 1).to_string(), &signature),
            &d.body,
            NoMatchingSignature,
        ));
        cases.push(Case::new(
            label("v1a label"),
            secret,
            (&d.id, &ts, &signature.replace("v1,", "v1a,")),
            &d.body,
            NoMatchingSignature,
        ));
        cases.push(Case::new(
            label("wrong secret"),
            &secret_of_another(d),
            (&d.id, &ts, &signature),
            &d.body,
            NoMatchingSignature,
        ));
    }

    // Header and timestamp rules, on one delivery.
    let d = &deliveries[0];
    let secret = &d.secrets[0];
    let ours = webhook(&d.secrets);
    let sign_at = |ts: i64| ours.sign(&d.id, ts, d.body.as_bytes());
    let valid = sign_at(now);
    let bare = valid.strip_prefix("v1,").unwrap().to_owned();
    let now_s = now.to_string();
    let hex: String = STANDARD
        .decode(&bare)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let head = |label: &str, id: &str, ts: &str, sig: &str, expected| {
        Case::new(label, secret, (id, ts, sig), &d.body, expected)
    };
    cases.extend([
        head(
            "360 s old",
            &d.id,
            &(now - 360).to_string(),
            &sign_at(now - 360),
            TooOld,
        ),
        head(
            "360 s ahead",
            &d.id,
            &(now + 360).to_string(),
            &sign_at(now + 360),
            TooNew,
        ),
        head(
            "200 s old",
            &d.id,
            &(now - 200).to_string(),
            &sign_at(now - 200),
            Accepted,
        ),
        head(
            "200 s ahead",
            &d.id,
            &(now + 200).to_string(),
            &sign_at(now + 200),
            Accepted,
        ),
        head(
            "timestamp not a number",
            &d.id,
            "soon",
            &valid,
            InvalidTimestamp,
        ),
        head(
            "leading zeros",
            &d.id,
            &format!("00{now_s}"),
            &valid,
            Accepted,
        ),
        head(
            "v2 label",
            &d.id,
            &now_s,
            &format!("v2,{bare}"),
            NoMatchingSignature,
        ),
        head("no version", &d.id, &now_s, &bare, NoMatchingSignature),
        head("empty v1", &d.id, &now_s, "v1,", NoMatchingSignature),
        head(
            "hex signature",
            &d.id,
            &now_s,
            &format!("v1,{hex}"),
            NoMatchingSignature,
        ),
        head(
            "truncated",
            &d.id,
            &now_s,
            &valid[..valid.len() - 2],
            NoMatchingSignature,
        ),
        head(
            "one valid among several",
            &d.id,
            &now_s,
            &format!("v1a,{bare} v1,AAAA {valid} v2,x"),
            Accepted,
        ),
        head(
            "tab separated",
            &d.id,
            &now_s,
            &format!("v1,AAAA\t{valid}"),
            NoMatchingSignature,
        ),
        head(
            "float timestamp",
            &d.id,
            &format!("{now_s}.5"),
            &valid,
            InvalidTimestamp,
        )
        .deviating(
            Accepted,
            "parseInt(\"<now>.5\") is <now>: standardwebhooks signs over the parsed number; \
             we accept digits only",
        ),
        head(
            "plus sign",
            &d.id,
            &format!("+{now_s}"),
            &valid,
            InvalidTimestamp,
        )
        .deviating(
            Accepted,
            "parseInt accepts a leading +; we accept digits only",
        ),
        head(
            "trailing garbage",
            &d.id,
            &format!("{now_s}abc"),
            &valid,
            InvalidTimestamp,
        )
        .deviating(Accepted, "parseInt stops at the first non-digit; we refuse"),
        head("negative", &d.id, "-5", &valid, InvalidTimestamp).deviating(
            TooOld,
            "parseInt reads -5 (too old); we refuse a sign outright",
        ),
        head(
            "extra field after the signature",
            &d.id,
            &now_s,
            &format!("{valid},extra"),
            NoMatchingSignature,
        )
        .deviating(
            Accepted,
            "standardwebhooks destructures split(\",\") and ignores a third field; we \
                 compare everything after the first comma",
        ),
    ]);
    let long_id = "m".repeat(257);
    cases.push(
        head(
            "id of 257 bytes",
            &long_id,
            &now_s,
            &ours.sign(&long_id, now, d.body.as_bytes()),
            HeaderTooLong,
        )
        .deviating(
            Accepted,
            "we bound the id at 256 bytes (Svix ids are about 30)",
        ),
    );
    for missing in 0..3 {
        let mut case = head("missing header", &d.id, &now_s, &valid, MissingHeaders);
        case.label = format!("missing {}", case.headers[missing].0);
        case.headers.remove(missing);
        cases.push(case);
    }
    cases
}

/// The same text with its last character changed (ids are ASCII).
fn altered(text: &str) -> String {
    let (head, last) = text.split_at(text.len() - 1);
    format!("{head}{}", if last == "x" { "y" } else { "x" })
}

/// A secret none of the delivery's secrets is.
fn secret_of_another(d: &Delivery) -> String {
    let other = secret(250, 32, true);
    assert!(!d.secrets.contains(&other));
    other
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

fn run(command: &mut Command, what: &str) -> std::process::Output {
    match command.output() {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "the interop test needs Node.js and npm on PATH to run the standardwebhooks package \
             ({what}: {err}). Install them (e.g. `apt-get install nodejs npm`) and run again."
        ),
        Err(err) => panic!("{what} could not start: {err}"),
    }
}

/// Installs `standardwebhooks` from the lock file unless the pinned version is already there.
fn ensure_installed(dir: &Path) {
    let installed = std::fs::read_to_string(dir.join("node_modules/standardwebhooks/package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|pkg| pkg["version"].as_str().map(str::to_owned));
    if installed.as_deref() == Some(STANDARDWEBHOOKS_VERSION) {
        return;
    }
    eprintln!(
        "interop: installing standardwebhooks {STANDARDWEBHOOKS_VERSION} (npm ci in {})",
        dir.display()
    );
    let output = run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir),
        "npm ci",
    );
    assert!(
        output.status.success(),
        "npm ci failed in {}:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `interop.mjs` once: Node signs `to_sign` and verifies `to_verify`.
fn node(to_sign: &[Delivery], to_verify: &[Case]) -> (Vec<String>, Vec<Value>) {
    let dir = interop_dir();
    let input = json!({
        "sign": to_sign.iter().map(|d| json!({
            "secrets": d.secrets, "id": d.id, "timestamp": d.timestamp, "body": d.body,
        })).collect::<Vec<_>>(),
        "verify": to_verify.iter().map(|c| json!({
            "secret": c.secret,
            "headers": c.headers.iter()
                .map(|(name, value)| ((*name).to_owned(), json!(value)))
                .collect::<serde_json::Map<_, _>>(),
            "body": c.body,
        })).collect::<Vec<_>>(),
    });
    let mut child = Command::new("node")
        .arg("interop.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("the interop test needs Node.js on PATH (node interop.mjs: {err})")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(&input).unwrap())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "node interop.mjs failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    let signatures = result["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    let verdicts = result["verdicts"].as_array().unwrap().clone();
    (signatures, verdicts)
}

#[test]
fn interop_with_standardwebhooks_both_ways() {
    ensure_installed(&interop_dir());
    let now = i64::try_from(SystemClock.now_ms() / 1000).unwrap();
    let deliveries = deliveries(now);
    assert!(deliveries.len() >= 20);
    let cases = cases(&deliveries, now);
    let (signatures, verdicts) = node(&deliveries, &cases);
    assert_eq!(signatures.len(), deliveries.len());
    assert_eq!(verdicts.len(), cases.len());

    // 1. Signed by standardwebhooks, verified here.
    let mut refusals = 0;
    for (d, signature) in deliveries.iter().zip(&signatures) {
        let ours = webhook(&d.secrets);
        let body = d.body.as_bytes();
        assert_eq!(
            signature,
            &ours.sign(&d.id, d.timestamp, body),
            "{}: standardwebhooks and we sign differently",
            d.id
        );
        let svix = |id: &str, ts: i64, sig: &str| {
            header_map(&[
                ("svix-id", id.to_owned()),
                ("svix-timestamp", ts.to_string()),
                ("svix-signature", sig.to_owned()),
            ])
        };
        let headers = svix(&d.id, d.timestamp, signature);
        ours.verify(&headers, body)
            .unwrap_or_else(|e| panic!("{}: {e}", d.id));
        for secret in &d.secrets {
            webhook(std::slice::from_ref(secret))
                .verify(&headers, body)
                .unwrap_or_else(|e| panic!("{}: one secret of the rotation: {e}", d.id));
        }

        let mut longer = body.to_vec();
        longer.push(b'\n');
        let mut flipped = body.to_vec();
        if let Some(byte) = flipped.last_mut() {
            *byte ^= 0x01;
        }
        let truncated = signature
            .split(' ')
            .map(|entry| &entry[..entry.len() - 1])
            .collect::<Vec<_>>()
            .join(" ");
        let mut tampered: Vec<(&str, HeaderMap, &[u8])> = vec![
            ("trailing newline", headers.clone(), &longer),
            ("last byte flipped", headers.clone(), &flipped),
            ("body replaced", headers.clone(), b"{}"),
            (
                "id changed",
                svix(&altered(&d.id), d.timestamp, signature),
                body,
            ),
            (
                "timestamp changed",
                svix(&d.id, d.timestamp + 1, signature),
                body,
            ),
            (
                "v1a label",
                svix(&d.id, d.timestamp, &signature.replace("v1,", "v1a,")),
                body,
            ),
            (
                "every signature truncated",
                svix(&d.id, d.timestamp, &truncated),
                body,
            ),
        ];
        // An empty body has no last byte to flip, "{}" is no change to "{}".
        tampered.retain(|(_, h, b)| h != &headers || *b != body);
        for (what, headers, body) in tampered {
            assert!(
                matches!(
                    ours.verify(&headers, body),
                    Err(WebhookError::NoMatchingSignature)
                ),
                "{}: {what} must be refused",
                d.id
            );
            refusals += 1;
        }
        let stranger = Webhook::new(&secret_of_another(d)).unwrap();
        assert!(matches!(
            stranger.verify(&svix(&d.id, d.timestamp, signature), body),
            Err(WebhookError::NoMatchingSignature)
        ));
    }

    // 2. Signed here (or built here), verified by both.
    let mut deviations = Vec::new();
    for (case, node_verdict) in cases.iter().zip(&verdicts) {
        let node_verdict = Verdict::of_node(node_verdict);
        let headers: Vec<(&str, String)> = case.headers.clone();
        let ours = Verdict::of_ours(
            Webhook::new(&case.secret)
                .unwrap()
                .verify(&header_map(&headers), case.body.as_bytes()),
        );
        assert_eq!(ours, case.expected, "{}: our verdict", case.label);
        let expected_node = case.deviation.map_or(case.expected, |d| d.node);
        assert_eq!(
            node_verdict,
            expected_node,
            "{}: standardwebhooks' verdict{}",
            case.label,
            case.deviation
                .map(|d| format!(" (expected deviation: {})", d.why))
                .unwrap_or_default()
        );
        if let Some(deviation) = case.deviation {
            deviations.push(format!("{}: {}", case.label, deviation.why));
        }
    }

    eprintln!(
        "interop: standardwebhooks {STANDARDWEBHOOKS_VERSION}: {} deliveries signed by it and \
         verified here ({refusals} tampered variants refused); {} cases verified by both, \
         {} deliberate deviations:\n  {}",
        deliveries.len(),
        cases.len(),
        deviations.len(),
        deviations.join("\n  ")
    );
}
