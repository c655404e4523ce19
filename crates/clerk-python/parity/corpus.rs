//! The parity corpus: tokens of every shape, each with the verdict `clerk-auth` gives it.
//!
//! ```sh
//! cargo run -p clerk-python --example parity-corpus -- corpus.json
//! ```
//!
//! Mints valid and broken session tokens, machine tokens and request headers with the
//! emulator, verifies each with `clerk-auth` (a verifier built for the case, from the case's
//! configuration), and writes them as JSON: `{"issuer", "jwt_key", "jwks", "configs", "cases":
//! [{"name", "config", "method", "token" | "headers", "accepts_token", "expect"}]}`, where
//! `expect` is `{"ok": true, "claims": {...}, "has": [...]}` or `{"ok": false, "reason",
//! "status"}`. The Python package's test (`tests/test_parity.py`) verifies every case through
//! the package, against the same keys (`jwt_key`, or `jwks` served on a loopback port), and
//! requires the same verdict, reason and claims.
//!
//! Times are minutes from every boundary (tokens valid for an hour, expired an hour ago,
//! within a 10-minute skew by 20 s), so the verdicts still hold when the corpus is checked
//! minutes later.

use std::net::TcpListener;

use clerk_auth::{Accepts, Caller, Check, Rejection, SessionClaims, TokenType, Verifier};
use clerk_emulator::compact::{pad, standard_alphabet};
use clerk_emulator::machines::{NewM2mToken, NewOAuthToken};
use clerk_emulator::{
    unix_now, Algorithm, Compact, Emulator, Organization, SigningKey, TokenBuilder, TokenFormat,
    CAT_JWT_TEMPLATE, CAT_M2M,
};
use serde_json::{json, Map, Value};

const ISSUER: &str = "https://clerk.parity.invalid";
const PARTIES: [&str; 2] = ["http://localhost:3000", "https://app.example.com"];
const HOUR: i64 = 3600;

/// The authorization checks recorded for every verified session.
fn checks() -> Vec<(&'static str, &'static str, Check)> {
    vec![
        ("role", "org:admin", Check::role("org:admin")),
        ("role", "org:member", Check::role("org:member")),
        (
            "permission",
            "org:invoices:read",
            Check::permission("org:invoices:read"),
        ),
        (
            "permission",
            "org:invoices:write",
            Check::permission("org:invoices:write"),
        ),
        ("feature", "analytics", Check::feature("analytics")),
        ("plan", "pro", Check::plan("pro")),
    ]
}

/// How a case is verified.
enum Method {
    /// `verify(token)`.
    Verify(String),
    /// `authenticate(token, accepts_token)`.
    Authenticate(String, Value),
    /// `verify_request(headers)`.
    Request(Vec<(String, String)>),
}

struct Case {
    name: String,
    config: &'static str,
    method: Method,
}

/// The configurations, by name: what the Python side builds its `Verifier` from.
fn configs() -> Value {
    let parties = json!(PARTIES);
    json!({
        "jwks": {"key": "jwks", "issuer": ISSUER, "authorized_parties": parties},
        "pem": {"key": "pem", "issuer": ISSUER, "authorized_parties": parties},
        "pem-no-parties": {"key": "pem", "issuer": ISSUER},
        "pem-pending-allowed": {"key": "pem", "issuer": ISSUER, "authorized_parties": parties,
                                "treat_pending_as_signed_out": false},
        "pem-skew-10min": {"key": "pem", "issuer": ISSUER, "authorized_parties": parties,
                           "clock_skew_ms": 600_000},
        "pem-audience": {"key": "pem", "issuer": ISSUER, "authorized_parties": parties,
                         "audience": ["https://api.example.com"]},
        "jwks-down": {"key": "down", "issuer": ISSUER, "authorized_parties": parties},
    })
}

fn verifier(config: &Value, jwks_url: &str, down_url: &str, pem: &str) -> Verifier {
    let mut builder = Verifier::builder().background_refresh(false);
    builder = match config["key"].as_str() {
        Some("pem") => builder.jwt_key(pem),
        Some("jwks") => builder.jwks_url(jwks_url),
        _ => builder.jwks_url(down_url),
    };
    if let Some(issuer) = config["issuer"].as_str() {
        builder = builder.issuer(issuer);
    }
    if let Some(parties) = config["authorized_parties"].as_array() {
        builder = builder.authorized_parties(parties.iter().filter_map(Value::as_str));
    }
    if let Some(audience) = config["audience"].as_array() {
        builder = builder.audience(audience.iter().filter_map(Value::as_str));
    }
    if let Some(ms) = config["clock_skew_ms"].as_u64() {
        builder = builder.clock_skew(std::time::Duration::from_millis(ms));
    }
    if let Some(yes) = config["treat_pending_as_signed_out"].as_bool() {
        builder = builder.treat_pending_as_signed_out(yes);
    }
    builder.build().expect("the parity verifier builds")
}

fn accepts(value: &Value) -> Accepts {
    match value {
        Value::Null => Accepts::SESSION,
        Value::String(name) if name == "any" => Accepts::ANY,
        Value::String(name) => Accepts::only(TokenType::from_name(name).expect("a token type")),
        Value::Array(names) => Accepts::of(
            &names
                .iter()
                .map(|n| TokenType::from_name(n.as_str().unwrap()).expect("a token type"))
                .collect::<Vec<_>>(),
        ),
        _ => unreachable!("accepts_token is null, a name or a list"),
    }
}

fn session_expect(claims: &SessionClaims) -> Value {
    let has: Vec<Value> = checks()
        .into_iter()
        .map(|(kind, value, check)| json!([kind, value, claims.has(&check)]))
        .collect();
    json!({
        "ok": true,
        "claims": {
            "token_type": "session_token",
            "user_id": claims.user_id(),
            "session_id": claims.session_id(),
            "org_id": claims.org_id(),
            "org_role": claims.org_role(),
            "org_slug": claims.org_slug(),
            "org_permissions": claims.org_permissions(),
            "is_pending": claims.is_pending(),
            "expires_at": claims.expires_at(),
        },
        "has": has,
    })
}

fn rejection_expect(rejection: &Rejection) -> Value {
    let reason = rejection.reason();
    json!({
        "ok": false,
        "reason": reason.as_str(),
        "status": if reason.is_unavailable() { 503 } else { 401 },
    })
}

async fn verdict(verifier: &Verifier, method: &Method) -> Value {
    match method {
        Method::Verify(token) => match verifier.verify(token).await {
            Ok(claims) => session_expect(&claims),
            Err(rejection) => rejection_expect(&rejection),
        },
        Method::Request(headers) => {
            let mut map = http::HeaderMap::new();
            for (name, value) in headers {
                map.append(
                    http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    http::HeaderValue::from_str(value).unwrap(),
                );
            }
            match verifier.verify_request(&map).await {
                Ok(claims) => session_expect(&claims),
                Err(rejection) => rejection_expect(&rejection),
            }
        }
        Method::Authenticate(token, accepts_token) => {
            match verifier.authenticate(token, accepts(accepts_token)).await {
                Ok(Caller::Session(claims)) => session_expect(&claims),
                Ok(Caller::Machine(machine)) => json!({
                    "ok": true,
                    "claims": {
                        "token_type": machine.token_type().as_str(),
                        "id": machine.id(),
                        "subject": machine.subject(),
                        "scopes": machine.scopes(),
                    },
                }),
                Err(rejection) => rejection_expect(&rejection),
            }
        }
    }
}

/// A JWT from raw header and payload JSON, signed with `key` (RS256).
fn raw(header: &str, payload: &str, key: &SigningKey) -> String {
    Compact::from_json(header, payload).sign(key).to_string()
}

fn generate(emulator: &Emulator, other: &SigningKey) -> Vec<Case> {
    let key = emulator.current_key();
    let kid = key.kid().to_owned();
    let now = unix_now();
    // Valid for an hour unless a case says otherwise.
    let base = || emulator.session_token().expires_in(HOUR);
    let mut cases = Vec::new();
    let mut add = |name: &str, config: &'static str, method: Method| {
        cases.push(Case {
            name: name.to_owned(),
            config,
            method,
        })
    };
    let verify = |t: String| Method::Verify(t);
    let tok = |b: TokenBuilder| b.sign();

    // Valid sessions, with and without organizations, in both claim versions.
    for config in ["jwks", "pem"] {
        add("valid", config, verify(tok(base())));
        add(
            "v1 organization",
            config,
            verify(tok(base().v1().organization(
                Organization::new("org_1")
                    .slug("acme")
                    .role("org:admin")
                    .permissions(["org:invoices:read", "org:reports:read"]),
            ))),
        );
        add(
            "v2 organization",
            config,
            verify(tok(base().v2().organization(
                Organization::new("org_2")
                    .slug("beta")
                    .role("org:member")
                    .permissions(["org:invoices:read", "org:invoices:write"])
                    .feature("analytics"),
            ))),
        );
    }
    add(
        "v2 features and plans",
        "pem",
        verify(tok(base()
            .features(["u:analytics", "u:export"])
            .plans("u:pro"))),
    );
    add(
        "v2 legacy bare role",
        "pem",
        verify(tok(base()
            .v1()
            .organization(Organization::new("org_3").role("admin")))),
    );

    // Time claims.
    add("expired", "pem", verify(tok(base().exp(now - HOUR))));
    add("expired, jwks", "jwks", verify(tok(base().exp(now - HOUR))));
    add(
        "expired 20 s ago, 10 min skew",
        "pem-skew-10min",
        verify(tok(base().exp(now - 20))),
    );
    add(
        "nbf in the future",
        "pem",
        verify(tok(base().nbf(now + HOUR))),
    );
    add(
        "iat in the future",
        "pem",
        verify(tok(base().iat(now + HOUR))),
    );
    add(
        "exp not a number",
        "pem",
        verify(tok(base().claim("exp", "tomorrow"))),
    );
    add(
        "exp missing",
        "pem",
        verify(tok(base().remove_claim("exp"))),
    );

    // Signatures and algorithms.
    add(
        "bad signature bytes",
        "jwks",
        verify(tok(base().signature_bytes(vec![7u8; 256]))),
    );
    add(
        "signed by another key",
        "jwks",
        verify(tok(base().signed_by(other))),
    );
    add(
        "signed by another key, pem",
        "pem",
        verify(tok(base().signed_by(other))),
    );
    add(
        "corrupted signature",
        "pem",
        verify(base().compact().corrupt_signature().to_string()),
    );
    add(
        "RS384",
        "pem",
        verify(tok(base().algorithm(Algorithm::RS384))),
    );
    add(
        "PS256",
        "jwks",
        verify(tok(base().algorithm(Algorithm::PS256))),
    );
    let payload = base().payload_json();
    add(
        "alg none, no signature",
        "pem",
        verify(format!(
            "{}.",
            Compact::from_json(
                &format!(r#"{{"alg":"none","kid":"{kid}","typ":"JWT"}}"#),
                &payload
            )
            .signing_input()
        )),
    );
    add(
        "alg HS256",
        "pem",
        verify(
            Compact::from_json(
                &format!(r#"{{"alg":"HS256","kid":"{kid}","typ":"JWT"}}"#),
                &payload,
            )
            .with_signature(&[1u8; 32])
            .to_string(),
        ),
    );
    add(
        "alg missing",
        "pem",
        verify(raw(
            &format!(r#"{{"kid":"{kid}","typ":"JWT"}}"#),
            &payload,
            &key,
        )),
    );

    // Key ids.
    add(
        "unknown kid",
        "jwks",
        verify(tok(base().header("kid", "ins_unknown000000000000000000"))),
    );
    add(
        "unknown kid, pem",
        "pem",
        verify(tok(base().header("kid", "ins_unknown000000000000000000"))),
    );
    add(
        "kid missing",
        "jwks",
        verify(tok(base().remove_header("kid"))),
    );
    add("kid a number", "pem", verify(tok(base().header("kid", 42))));
    add("keys unavailable", "jwks-down", verify(tok(base())));

    // Issuer, authorized parties, audience.
    add(
        "wrong issuer",
        "pem",
        verify(tok(base().issuer("https://evil.example"))),
    );
    add(
        "issuer missing",
        "pem",
        verify(tok(base().remove_claim("iss"))),
    );
    add(
        "azp not authorized",
        "pem",
        verify(tok(base().azp("https://evil.example"))),
    );
    add(
        "azp of another authorized party",
        "pem",
        verify(tok(base().azp("https://app.example.com"))),
    );
    add(
        "azp missing",
        "pem",
        verify(tok(base().remove_claim("azp"))),
    );
    add(
        "any azp, no parties configured",
        "pem-no-parties",
        verify(tok(base().azp("https://evil.example"))),
    );
    add(
        "audience matches",
        "pem-audience",
        verify(tok(base().claim("aud", "https://api.example.com"))),
    );
    add(
        "audience differs",
        "pem-audience",
        verify(tok(base().claim("aud", "https://other.example.com"))),
    );

    // Session status, subject, session id, category.
    add("sts pending", "pem", verify(tok(base().status("pending"))));
    add(
        "sts pending, allowed",
        "pem-pending-allowed",
        verify(tok(base().status("pending"))),
    );
    add(
        "sub missing",
        "pem",
        verify(tok(base().remove_claim("sub"))),
    );
    add("sub empty", "pem", verify(tok(base().claim("sub", ""))));
    add(
        "sid missing (a JWT-template token)",
        "pem",
        verify(tok(base().remove_claim("sid"))),
    );
    add(
        "JWT-template category",
        "pem",
        verify(tok(base().header("cat", CAT_JWT_TEMPLATE))),
    );
    add(
        "M2M category on a session token",
        "pem",
        verify(tok(base().header("cat", CAT_M2M))),
    );
    add(
        "typ at+jwt",
        "pem",
        verify(tok(base().header("typ", "at+jwt"))),
    );
    add(
        "crit header",
        "pem",
        verify(tok(base().header("crit", json!(["exp"])))),
    );

    // Encodings and shapes.
    add("garbage", "pem", verify("not-a-jwt".to_owned()));
    add("empty", "pem", verify(String::new()));
    add(
        "two segments",
        "pem",
        verify(base().compact().two_segments()),
    );
    add(
        "four segments",
        "pem",
        verify(base().compact().with_extra_segment("e30")),
    );
    add(
        "padded base64",
        "pem",
        verify(base().compact().map_segments(pad).to_string()),
    );
    add(
        "standard alphabet",
        "pem",
        verify(base().compact().map_segments(standard_alphabet).to_string()),
    );
    add(
        "oversized (9 KiB claim)",
        "pem",
        verify(tok(base().claim("blob", "x".repeat(9 * 1024)))),
    );
    let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
    add(
        "payload nested 40 deep",
        "pem",
        verify(raw(
            &format!(r#"{{"alg":"RS256","kid":"{kid}","typ":"JWT"}}"#),
            &payload.replacen('{', &format!(r#"{{"deep":{deep},"#), 1),
            &key,
        )),
    );
    add(
        "payload not an object",
        "pem",
        verify(raw(
            &format!(r#"{{"alg":"RS256","kid":"{kid}","typ":"JWT"}}"#),
            "[1,2,3]",
            &key,
        )),
    );
    add(
        "header not an object",
        "pem",
        verify(raw("\"RS256\"", &payload, &key)),
    );
    add(
        "duplicate sub",
        "pem",
        verify(raw(
            &format!(r#"{{"alg":"RS256","kid":"{kid}","typ":"JWT"}}"#),
            &payload.replacen('{', r#"{"sub":"user_first","#, 1),
            &key,
        )),
    );

    // Requests: header, cookie, none.
    add(
        "request: bearer header",
        "pem",
        Method::Request(vec![(
            "authorization".into(),
            format!("Bearer {}", tok(base())),
        )]),
    );
    add(
        "request: __session cookie",
        "pem",
        Method::Request(vec![(
            "cookie".into(),
            format!("theme=dark; __session={}", tok(base())),
        )]),
    );
    add(
        "request: no token",
        "pem",
        Method::Request(vec![("accept".into(), "*/*".into())]),
    );
    add(
        "request: two authorization headers",
        "pem",
        Method::Request(vec![
            ("authorization".into(), format!("Bearer {}", tok(base()))),
            ("authorization".into(), format!("Bearer {}", tok(base()))),
        ]),
    );

    // Machine tokens (offline: JWT forms, and opaque forms without a secret key).
    let machine = emulator
        .create_machine("parity-orders", &[])
        .expect("a machine");
    let m2m = |token: NewM2mToken| {
        emulator
            .create_m2m_token(&machine.id, token.format(TokenFormat::Jwt))
            .expect("an M2M JWT")
            .token
    };
    let authenticate = |t: String, a: Value| Method::Authenticate(t, a);
    add(
        "M2M JWT, accepted",
        "jwks",
        authenticate(m2m(NewM2mToken::new()), json!(["m2m_token"])),
    );
    add(
        "M2M JWT, any",
        "pem",
        authenticate(m2m(NewM2mToken::new()), json!("any")),
    );
    add(
        "M2M JWT, session only",
        "jwks",
        authenticate(m2m(NewM2mToken::new()), Value::Null),
    );
    add("M2M JWT, verify", "jwks", verify(m2m(NewM2mToken::new())));
    add(
        "M2M JWT expired",
        "pem",
        authenticate(
            m2m(NewM2mToken::new().seconds_until_expiration(-HOUR)),
            json!("m2m_token"),
        ),
    );
    let oauth = emulator
        .create_oauth_access_token(
            NewOAuthToken::new("user_oauth")
                .scopes(["read"])
                .format(TokenFormat::Jwt),
        )
        .expect("an OAuth JWT")
        .token;
    add(
        "OAuth JWT, accepted",
        "pem",
        authenticate(oauth.clone(), json!(["oauth_token"])),
    );
    add(
        "OAuth JWT, not accepted",
        "pem",
        authenticate(oauth, json!(["api_key", "m2m_token"])),
    );
    add(
        "opaque API key, no secret key",
        "pem",
        authenticate("ak_parity000000000000000000000000".into(), json!("api_key")),
    );
    add(
        "opaque API key, session only",
        "pem",
        authenticate("ak_parity000000000000000000000000".into(), Value::Null),
    );
    add(
        "opaque M2M token, no secret key",
        "pem",
        authenticate("mt_parity000000000000000000000000".into(), json!("any")),
    );
    add(
        "session token, machine types only",
        "pem",
        authenticate(tok(base()), json!(["api_key", "m2m_token"])),
    );
    add(
        "session token, any",
        "jwks",
        authenticate(tok(base()), json!("any")),
    );
    add(
        "session token, session and API keys",
        "pem",
        authenticate(tok(base()), json!(["session_token", "api_key"])),
    );
    cases
}

fn method_json(method: &Method) -> Map<String, Value> {
    let mut out = Map::new();
    match method {
        Method::Verify(token) => {
            out.insert("method".into(), json!("verify"));
            out.insert("token".into(), json!(token));
        }
        Method::Authenticate(token, accepts) => {
            out.insert("method".into(), json!("authenticate"));
            out.insert("token".into(), json!(token));
            out.insert("accepts_token".into(), accepts.clone());
        }
        Method::Request(headers) => {
            out.insert("method".into(), json!("verify_request"));
            out.insert("headers".into(), json!(headers));
        }
    }
    out
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: parity-corpus OUTPUT.json");
    let server = Emulator::with_key(SigningKey::test_key())
        .with_issuer(ISSUER)
        .serve("127.0.0.1:0")
        .await
        .expect("the emulator serves");
    // A port nothing listens on, for the outage configuration.
    let down_url = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        )
    };
    let pem = server.current_key().public_key_pem();
    let configs = configs();
    let cases = generate(server.emulator(), &SigningKey::test_key_n(2));

    let mut out = Vec::new();
    for case in &cases {
        let config = &configs[case.config];
        // A verifier per case: no case's verdict depends on an earlier one's cache.
        let verifier = verifier(config, &server.jwks_url(), &down_url, &pem);
        let mut entry = method_json(&case.method);
        entry.insert("name".into(), json!(case.name));
        entry.insert("config".into(), json!(case.config));
        entry.insert("expect".into(), verdict(&verifier, &case.method).await);
        out.push(Value::Object(entry));
    }
    let corpus = json!({
        "issuer": ISSUER,
        "jwt_key": pem,
        "jwks": server.jwks(),
        "configs": configs,
        "cases": out,
    });
    std::fs::write(&path, serde_json::to_string_pretty(&corpus).unwrap())
        .expect("the corpus is written");
    let accepted = out.iter().filter(|c| c["expect"]["ok"] == true).count();
    println!(
        "{} cases ({accepted} accepted, {} refused) written to {path}",
        out.len(),
        out.len() - accepted
    );
}
