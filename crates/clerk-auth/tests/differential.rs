//! Differential test: our [`Verifier`] against Clerk's own `verifyToken` from `@clerk/backend`.
//!
//! Several hundred tokens, valid and broken in every way we know of, are minted with the
//! emulator and verified twice with the same PEM key (networkless, clerk-spec §3.1), the same
//! authorized parties, the same clock skew and the same pinned clock: once by Clerk's SDK under
//! Node (`tests/differential/verify.mjs`), once by us. Every case must get the same verdict and
//! reason from both, except where we are deliberately different: those cases carry a
//! [`Deviation`], assigned by the generator, never inferred from the results, which states what
//! Clerk does and what we do. A deviation that stops being one fails the test, as does a case
//! where Clerk no longer does what the generator expects.
//!
//! Needs Node.js (>= 20.9) and npm: `npm ci` runs in `tests/differential/` when its
//! `node_modules` is missing or holds another version of `@clerk/backend`. Without them the
//! test fails, it never skips. `DIFFERENTIAL_VERBOSE=1` prints every case with both messages.
//! The deviations are listed in `docs/clerk-compatibility.md`.

#[path = "common/node.rs"]
mod node;

use node::{
    abbreviate, differential_dir, ensure_clerk_installed, run, Expect, ALGORITHM,
    CLERK_BACKEND_VERSION, FAILED, INVALID, PARTY, SIGNATURE,
};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_auth::Verifier;
use clerk_auth::{Clock, FixedClock};
use clerk_emulator::compact::{b64url, noncanonical, pad, standard_alphabet};
use clerk_emulator::{
    Algorithm, Compact, Organization, SigningKey, TokenBuilder, CAT_IGNORE, CAT_JWT_TEMPLATE,
    CAT_M2M, CAT_SESSION,
};
use serde_json::{json, Value};

/// The authorized parties of both verifiers (unless a case says otherwise).
const PARTIES: [&str; 2] = ["http://localhost:3000", "https://app.example.com"];
/// The fixed seed of every random choice: the same cases on every run.
const SEED: u64 = 0x00C1_E4C0_FFEE_2026;
/// The least number of cases.
const MIN_CASES: usize = 300;
/// Our largest accepted token and deepest accepted JSON (see `clerk_auth::token`).
const MAX_TOKEN_LEN: usize = clerk_auth::MAX_TOKEN_LEN;
const MAX_JSON_DEPTH: usize = clerk_auth::MAX_JSON_DEPTH;
/// The largest time, in seconds, a JavaScript `Date` can hold (ECMA-262 TimeClip: 8.64e15 ms).
const JS_DATE_MAX_SECS: f64 = 8.64e12;

const EXPIRED: Expect = Expect::Reject("token-expired");
const NOT_ACTIVE: Expect = Expect::Reject("token-not-active-yet");
const IAT_FUTURE: Expect = Expect::Reject("token-iat-in-the-future");
const TYPE_MISMATCH: Expect = Expect::Reject("token-type-mismatch");
const PENDING: Expect = Expect::Reject("session-pending");

/// Where we knowingly differ from Clerk's `verifyToken` 3.25.0. Each variant is a token shape
/// with exactly one result on each side; the generator assigns it to cases built for it.
/// `docs/clerk-compatibility.md` has the same table with the reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Deviation {
    /// `=` padding on a segment (re-signed over the padded text). Clerk decodes base64url
    /// "loosely" and accepts; we accept only unpadded base64url (security.md §5.1).
    PaddedBase64,
    /// A member name twice in the header or payload, the last one making the token valid.
    /// `JSON.parse` keeps the last and Clerk accepts; we refuse duplicates so that no
    /// first-wins parser downstream can read another token than we did (security.md §5.5).
    DuplicateMember,
    /// A `crit` header (`["b64"]` with `b64: false`, or an unknown name). Clerk ignores it; we
    /// understand no extension, so we refuse (RFC 7515 §4.1.11, security.md §2.6).
    CritHeader,
    /// `sub` is the empty string. Clerk only requires a string; we require a non-empty user id
    /// (security.md §7.4).
    EmptySub,
    /// `sid` missing, empty or not a string. Clerk does not look at `sid`; we take such a token
    /// for a JWT-template token, not a session token (security.md §7.3).
    NoSessionId,
    /// Header `cat` of a JWT-template token (`cl_B7d4PD222AAA`). 3.25.0 refuses only the M2M
    /// category; we refuse every non-session category we know.
    TemplateCategory,
    /// `sts: "pending"`. `verifyToken` returns the payload (the signed-out treatment happens
    /// later, in `authenticateRequest`); we apply `treatPendingAsSignedOut` at verification.
    PendingSession,
    /// `alg` RS384 or RS512, correctly signed. Clerk knows both algorithms but its PEM-derived
    /// JWK says RS256, so WebCrypto's key import throws: `token-verification-failed` "Error
    /// verifying JWT signature. Error: JWK "alg" does not match the requested algorithm"; we
    /// allow RS256 only (security.md §0.1, §1.4).
    OtherRsaAlgorithm,
    /// A valid token longer than 8 KiB. Clerk has no size limit; we refuse before decoding
    /// (security.md §0.5, §5.7).
    OversizedToken,
    /// JSON nested deeper than 32 levels. `JSON.parse` has no practical limit; we bound the
    /// depth (security.md §5.7).
    DeepNesting,
    /// A UTF-8 byte-order mark before the payload JSON. `TextDecoder` strips it and Clerk
    /// accepts; we refuse (RFC 8259 §8.1, security.md §5.6).
    ByteOrderMark,
    /// Text that is not valid Unicode: invalid UTF-8 bytes (`TextDecoder` substitutes U+FFFD)
    /// or an unpaired surrogate escape (`JSON.parse` keeps it). Clerk accepts; we refuse
    /// (RFC 8259 §8.1 and §8.2, security.md §5.6).
    InvalidUnicode,
    /// A number beyond the range of a double (`1e400`). `JSON.parse` makes it `Infinity`, and
    /// an infinite time claim is an invalid `Date` that passes every comparison: Clerk accepts;
    /// we refuse the JSON (security.md §5.6).
    NumberOutOfRange,
    /// The payload is JSON but not an object (array, string, number, boolean). Clerk reads
    /// `sub` from it, finds none: `token-verification-failed`; we refuse a payload that is not
    /// an object (RFC 7519 §7.2 step 10, security.md §5.6).
    PayloadNotObject,
    /// The header is JSON but not an object (array, string, number). Clerk finds no `alg`:
    /// `token-invalid-algorithm`; we refuse a header that is not an object (security.md §5.6).
    HeaderNotObject,
    /// The header or the payload is the JSON `null`. Clerk crashes reading a field of it (a
    /// `TypeError` instead of a `TokenVerificationError`); we say `token-invalid`.
    NullJson,
    /// `kid` not a string, or longer than 256 bytes. With a PEM key Clerk never looks at the
    /// kid; we refuse a malformed kid whatever the key source (security.md §2.4).
    MalformedKid,
    /// `exp` below the range of a JavaScript `Date` (< -8.64e12 s, e.g. -1e300). The `Date` is
    /// invalid, the comparison is false, and Clerk accepts a token that expired before the
    /// Big Bang; we compare numbers: `token-expired` (security.md §6.6).
    ExpBeforeDateRange,
    /// `nbf` above the range of a JavaScript `Date` (> 8.64e12 s, e.g. 2^64). Clerk's
    /// comparison with an invalid `Date` is false and it accepts; we say
    /// `token-not-active-yet` (security.md §6.6).
    NbfAfterDateRange,
    /// `iat` above the range of a JavaScript `Date`. Clerk accepts; we say
    /// `token-iat-in-the-future` (security.md §6.6).
    IatAfterDateRange,
}

impl Deviation {
    /// What Clerk's `verifyToken` 3.25.0 does with the token.
    fn clerk(self) -> Expect {
        use Deviation::*;
        match self {
            OtherRsaAlgorithm => FAILED,
            PayloadNotObject => FAILED,
            HeaderNotObject => ALGORITHM,
            NullJson => Expect::Crash("TypeError"),
            PaddedBase64 | DuplicateMember | CritHeader | EmptySub | NoSessionId
            | TemplateCategory | PendingSession | OversizedToken | DeepNesting | ByteOrderMark
            | InvalidUnicode | NumberOutOfRange | MalformedKid | ExpBeforeDateRange
            | NbfAfterDateRange | IatAfterDateRange => Expect::Accept,
        }
    }

    /// What our verifier does with it.
    fn ours(self) -> Expect {
        use Deviation::*;
        match self {
            PaddedBase64 | DuplicateMember | CritHeader | OversizedToken | DeepNesting
            | ByteOrderMark | InvalidUnicode | NumberOutOfRange | PayloadNotObject
            | HeaderNotObject | NullJson | MalformedKid => INVALID,
            EmptySub => FAILED,
            NoSessionId | TemplateCategory => TYPE_MISMATCH,
            PendingSession => PENDING,
            OtherRsaAlgorithm => ALGORITHM,
            ExpBeforeDateRange => EXPIRED,
            NbfAfterDateRange => NOT_ACTIVE,
            IatAfterDateRange => IAT_FUTURE,
        }
    }
}

/// Verifier settings a case can change; both sides get the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Config {
    /// [`PARTIES`], and each side's default skew (Clerk's 5000 ms; not passed explicitly).
    Default,
    /// [`PARTIES`] and this skew, in milliseconds.
    Skew(u64),
    /// No authorized parties: `azp` is not checked.
    NoParties,
}

struct Case {
    id: String,
    category: &'static str,
    token: String,
    config: Config,
    /// What Clerk must say (the deviation's Clerk result when there is one).
    clerk: Expect,
    deviation: Option<Deviation>,
}

impl Case {
    /// What we must say.
    fn ours(&self) -> Expect {
        match self.deviation {
            Some(d) => d.ours(),
            None => self.clerk,
        }
    }
}

/// SplitMix64: a tiny, seeded, reproducible generator (no dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low + 1) as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn alphanumeric(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        (0..len)
            .map(|_| char::from(ALPHABET[self.below(ALPHABET.len() as u64) as usize]))
            .collect()
    }

    fn clerk_id(&mut self, prefix: &str) -> String {
        format!("{prefix}_{}", self.alphanumeric(27))
    }
}

struct Generator {
    key: SigningKey,
    other: SigningKey,
    now: i64,
    rng: Rng,
    cases: Vec<Case>,
}

impl Generator {
    /// A valid v2 session token minted now, with seeded ids and `azp` = the first party.
    fn base(&mut self) -> TokenBuilder {
        let user = self.rng.clerk_id("user");
        let session = self.rng.clerk_id("sess");
        let jti = format!("{:020x}", self.rng.next());
        TokenBuilder::new(&self.key)
            .at(self.now)
            .user(user)
            .session(session)
            .jti(jti)
            .azp(PARTIES[0])
    }

    /// The default header as JSON text, for tokens built from raw text.
    fn header_json(&self) -> String {
        json!({ "alg": "RS256", "cat": CAT_SESSION, "kid": self.key.kid(), "typ": "JWT" })
            .to_string()
    }

    /// The payload of a fresh valid token as JSON text.
    fn payload_json(&mut self) -> String {
        self.base().payload_json()
    }

    /// Signs raw header and payload text with the right key.
    fn raw(&self, header: &str, payload: &str) -> String {
        Compact::from_json(header, payload)
            .sign(&self.key)
            .to_string()
    }

    fn push(
        &mut self,
        category: &'static str,
        label: &str,
        token: String,
        config: Config,
        clerk: Expect,
        deviation: Option<Deviation>,
    ) {
        let id = format!("{category}/{:03}-{label}", self.cases.len());
        self.cases.push(Case {
            id,
            category,
            token,
            config,
            clerk,
            deviation,
        });
    }

    /// A case both verifiers must judge alike: `expect` is what Clerk says, and so must we.
    fn case(&mut self, category: &'static str, label: &str, token: String, expect: Expect) {
        self.push(category, label, token, Config::Default, expect, None);
    }

    fn case_with(
        &mut self,
        category: &'static str,
        label: &str,
        token: String,
        config: Config,
        expect: Expect,
    ) {
        self.push(category, label, token, config, expect, None);
    }

    /// A case where we knowingly differ: both results come from the deviation.
    fn deviation(&mut self, category: &'static str, label: &str, token: String, d: Deviation) {
        self.push(category, label, token, Config::Default, d.clerk(), Some(d));
    }
}

/// The permissions valid tokens draw from.
const FEATURES: [&str; 6] = [
    "posts", "billing", "members", "invoices", "repos", "reports",
];
const ACTIONS: [&str; 6] = ["read", "create", "update", "delete", "manage", "export"];
const ROLES: [&str; 5] = [
    "org:admin",
    "org:member",
    "org:billing_manager",
    "admin",
    "org:viewer",
];

fn random_organization(rng: &mut Rng) -> Organization {
    let mut org = Organization::new(rng.clerk_id("org"));
    if rng.chance(80) {
        org = org.slug(format!("acme-{}", rng.alphanumeric(6).to_lowercase()));
    }
    if rng.chance(90) {
        org = org.role(rng.pick(&ROLES));
    }
    for feature in FEATURES {
        for action in ACTIONS {
            if rng.chance(15) {
                org = org.permission(format!("org:{feature}:{action}"));
            }
        }
    }
    if rng.chance(20) {
        org = org.feature("impersonation");
    }
    org
}

/// Valid tokens in many shapes: claims v1 and v2, with and without an organization, actor,
/// features and plans, custom claims, header variations, times anywhere in a valid window.
fn valid_variations(g: &mut Generator, count: usize) {
    for i in 0..count {
        let mut t = g.base();
        let iat = g.now - g.rng.range(0, 50);
        let lifetime = g.rng.pick(&[60, 60, 60, 120, 3600, 86_400]);
        t = t.iat(iat).exp(iat + lifetime);
        if g.rng.chance(70) {
            t = t.nbf(iat - 10);
        } else {
            t = t.remove_claim("nbf");
        }
        let v1 = g.rng.chance(35);
        if v1 {
            t = t.v1();
        }
        let with_org = g.rng.chance(60);
        if with_org {
            let org = random_organization(&mut g.rng);
            t = t.organization(org);
        }
        if !v1 && g.rng.chance(30) {
            t = t.features(["u:dashboard"]);
        }
        if !v1 && g.rng.chance(30) {
            t = t.plans(g.rng.pick(&["u:free", "u:pro,o:team", "o:enterprise"]));
        }
        if g.rng.chance(15) {
            let admin = g.rng.clerk_id("user");
            let actor = if g.rng.chance(50) {
                json!({ "sub": admin, "iss": "https://dashboard.clerk.com", "sid": g.rng.clerk_id("sess") })
            } else {
                json!({ "sub": g.rng.clerk_id("agent"), "type": "agent" })
            };
            t = t.actor(actor);
        }
        if g.rng.chance(40) {
            let name = g.rng.alphanumeric(8).to_lowercase();
            t = t.claim("email", format!("{name}@example.com"));
        }
        if g.rng.chance(25) {
            let tier = g.rng.below(5);
            t = t.claim(
                "metadata",
                json!({ "tier": tier, "tags": ["beta", "ü", "日本"], "nested": { "ok": true, "n": null } }),
            );
        }
        if g.rng.chance(30) {
            t = t.fva([g.rng.range(0, 600), g.rng.pick(&[-1, 0, 5])]);
        } else if g.rng.chance(30) {
            t = t.remove_claim("fva");
        }
        if g.rng.chance(20) {
            t = t.remove_claim("sts");
        }
        if g.rng.chance(15) {
            t = t.remove_claim("jti");
        }
        if g.rng.chance(30) {
            t = t.azp(PARTIES[1]);
        }
        match g.rng.below(10) {
            0 => t = t.remove_header("typ"),
            1 => t = t.remove_header("cat"),
            2 => t = t.header("cat", CAT_IGNORE),
            3 => t = t.remove_header("kid"),
            4 => t = t.header("kid", g.rng.clerk_id("ins")),
            _ => {}
        }
        if g.rng.chance(20) {
            let iss = g.rng.pick(&[
                "https://clerk.example.com",
                "https://foo-bar-13.clerk.accounts.dev",
                "https://evil.example",
            ]);
            t = t.issuer(iss);
        }
        let version = if v1 { "v1" } else { "v2" };
        let org = if with_org { "org" } else { "no-org" };
        g.case(
            "valid",
            &format!("random-{i}-{version}-{org}"),
            t.sign(),
            Expect::Accept,
        );
    }
}

/// Random valid tokens, each with one defect whose reason is known.
fn invalid_variations(g: &mut Generator, count: usize) {
    for i in 0..count {
        let t = g.base();
        let defect = g.rng.below(8);
        let (label, token, expect) = match defect {
            0 => {
                let ago = g.rng.range(6, 100_000);
                ("expired", t.exp(g.now - ago).sign(), EXPIRED)
            }
            1 => ("wrong-key", t.signed_by(&g.other.clone()).sign(), SIGNATURE),
            2 => {
                let mut c = t.compact();
                let mut sig = URL_SAFE_NO_PAD
                    .decode(&c.signature_b64)
                    .expect("own signature");
                let bit = g.rng.below(sig.len() as u64 * 8) as usize;
                sig[bit / 8] ^= 1 << (bit % 8);
                c.signature_b64 = b64url(&sig);
                ("bit-flip", c.to_string(), SIGNATURE)
            }
            3 => {
                let azp = format!("https://{}.example", g.rng.alphanumeric(6).to_lowercase());
                ("azp-other", t.azp(azp).sign(), PARTY)
            }
            4 => {
                let ahead = g.rng.range(6, 100_000);
                ("nbf-future", t.nbf(g.now + ahead).sign(), NOT_ACTIVE)
            }
            5 => {
                let ahead = g.rng.range(6, 100_000);
                ("iat-future", t.iat(g.now + ahead).sign(), IAT_FUTURE)
            }
            6 => ("no-sub", t.remove_claim("sub").sign(), FAILED),
            _ => ("no-exp", t.remove_claim("exp").sign(), FAILED),
        };
        g.case("invalid-random", &format!("{i}-{label}"), token, expect);
    }
}

fn valid_shapes(g: &mut Generator) {
    let c = "valid";
    let t = g.base().sign();
    g.case(c, "default-v2", t, Expect::Accept);
    let t = g.base().v1().sign();
    g.case(c, "v1-no-org", t, Expect::Accept);
    let org = Organization::new("org_2abc")
        .slug("acme")
        .role("org:admin")
        .permissions(["org:posts:read", "org:posts:delete", "org:billing:manage"]);
    let t = g.base().v1().organization(org.clone()).sign();
    g.case(c, "v1-org", t, Expect::Accept);
    let t = g.base().organization(org.clone()).sign();
    g.case(c, "v2-org", t, Expect::Accept);
    let t = g
        .base()
        .organization(org)
        .features(["u:dashboard", "ou:support"])
        .plans("u:free,o:pro")
        .sign();
    g.case(c, "v2-org-features-plans", t, Expect::Accept);
    let t = g
        .base()
        .actor(json!({ "sub": "user_admin", "iss": "https://dashboard.clerk.com", "sid": "sess_admin" }))
        .sign();
    g.case(c, "actor-impersonation", t, Expect::Accept);
    let t = g
        .base()
        .actor(json!({ "sub": "agent_1", "type": "agent" }))
        .sign();
    g.case(c, "actor-agent", t, Expect::Accept);
    let t = g
        .base()
        .claim("email", "ada@example.com")
        .claim(
            "public_metadata",
            json!({ "plan": "pro", "seats": 3, "flags": [true, false, null] }),
        )
        .claim("unicode", "héllo \u{1F600} 日本語 \\ \" / \u{0}")
        .sign();
    g.case(c, "custom-claims", t, Expect::Accept);
    let t = g.base().claim("aud", "https://api.example.com").sign();
    g.case(c, "aud-string-no-audience-configured", t, Expect::Accept);
    let t = g.base().claim("aud", json!(["a", "b"])).sign();
    g.case(c, "aud-array-no-audience-configured", t, Expect::Accept);
    let t = g.base().azp(PARTIES[1]).sign();
    g.case(c, "azp-second-party", t, Expect::Accept);
    let t = g.base().remove_claim("iat").remove_claim("nbf").sign();
    g.case(c, "no-iat-no-nbf", t, Expect::Accept);
    let t = g.base().status("active").sign();
    g.case(c, "sts-active", t, Expect::Accept);
    let t = g.base().remove_claim("sts").sign();
    g.case(c, "sts-absent", t, Expect::Accept);
    for (label, sts) in [
        ("sts-other", json!("frozen")),
        ("sts-case", json!("Pending")),
        ("sts-null", Value::Null),
        ("sts-number", json!(1)),
    ] {
        let t = g.base().claim("sts", sts).sign();
        g.case(c, label, t, Expect::Accept);
    }
    let t = g.base().v1().claim("v", 3).sign();
    g.case(c, "v-3", t, Expect::Accept);
    let t = g.base().claim("sub", "  ").sign();
    g.case(c, "sub-whitespace", t, Expect::Accept);
    let t = g.base().claim("sub", "user_\u{e9}\u{1F600}").sign();
    g.case(c, "sub-unicode", t, Expect::Accept);
    // Legal JSON spellings (security.md §5.8).
    let header = format!(
        "{{ \"alg\" : \"RS256\" ,\n \"typ\":\"J\\u0057T\", \"kid\" : \"{}\", \"extra\": [1, {{\"x\": null}}] }}",
        g.key.kid()
    );
    let payload = format!(
        "\n{{ \"sub\" : \"user\\/1\", \"sid\":\"sess_1\", \"azp\": \"{}\", \"exp\" : {} , \"iat\": {}.0, \"n\": -0, \"e\": 1E2 }}\n",
        PARTIES[0].replace('/', "\\/"),
        g.now + 60,
        g.now
    );
    let t = g.raw(&header, &payload);
    g.case(c, "json-whitespace-and-escapes", t, Expect::Accept);
    let nested = format!(
        "{}{}",
        "[".repeat(MAX_JSON_DEPTH - 1),
        "]".repeat(MAX_JSON_DEPTH - 1)
    );
    let payload = g
        .payload_json()
        .replacen('{', &format!("{{\"deep\":{nested},"), 1);
    let t = g.raw(&g.header_json(), &payload);
    g.case(c, "nesting-at-our-limit", t, Expect::Accept);
    // Exactly at our size limit.
    let t = sized_token(g, MAX_TOKEN_LEN);
    g.case(c, "exactly-8192-bytes", t, Expect::Accept);
}

/// A valid token of exactly `len` bytes (a filler claim and a kid of the right lengths).
fn sized_token(g: &mut Generator, len: usize) -> String {
    let base = g.base();
    let signature_len = b64url(vec![0u8; g.key.bits() / 8]).len();
    for kid_len in 1..4 {
        for filler in 0..len {
            let t = base
                .clone()
                .header("kid", "k".repeat(kid_len))
                .claim("filler", "x".repeat(filler));
            let c = Compact::from_json(&t.header_json(), &t.payload_json());
            let total = c.signing_input().len() + 1 + signature_len;
            if total == len {
                return t.sign();
            }
            if total > len {
                break;
            }
        }
    }
    panic!("no token of exactly {len} bytes");
}

fn time_cases(g: &mut Generator) {
    let c = "time";
    let now = g.now;
    // Expiry, with Clerk's default 5 s skew (the clock is pinned on both sides, see `main`).
    for (label, exp, expect) in [
        ("exp-long-ago", now - 86_400, EXPIRED),
        ("exp-past-skew", now - 30, EXPIRED),
        ("exp-6s-ago", now - 6, EXPIRED),
        ("exp-at-skew-boundary", now - 5, EXPIRED),
        ("exp-4s-ago-within-skew", now - 4, Expect::Accept),
        ("exp-2s-ago-within-skew", now - 2, Expect::Accept),
        ("exp-now", now, Expect::Accept),
        ("exp-in-1h", now + 3600, Expect::Accept),
        ("exp-zero", 0, EXPIRED),
        ("exp-minus-1", -1, EXPIRED),
    ] {
        let t = g.base().exp(exp).sign();
        g.case(c, label, t, expect);
    }
    for (label, nbf, expect) in [
        ("nbf-past", now - 10, Expect::Accept),
        ("nbf-now", now, Expect::Accept),
        ("nbf-within-skew", now + 3, Expect::Accept),
        ("nbf-at-skew-boundary", now + 5, Expect::Accept),
        ("nbf-just-beyond-skew", now + 6, NOT_ACTIVE),
        ("nbf-far-future", now + 86_400, NOT_ACTIVE),
        ("nbf-zero", 0, Expect::Accept),
        ("nbf-negative", -1_000_000, Expect::Accept),
    ] {
        let t = g.base().nbf(nbf).sign();
        g.case(c, label, t, expect);
    }
    for (label, iat, expect) in [
        ("iat-past", now - 100, Expect::Accept),
        ("iat-within-skew", now + 3, Expect::Accept),
        ("iat-at-skew-boundary", now + 5, Expect::Accept),
        ("iat-just-beyond-skew", now + 6, IAT_FUTURE),
        ("iat-far-future", now + 86_400, IAT_FUTURE),
        ("iat-zero", 0, Expect::Accept),
        ("iat-negative", -5, Expect::Accept),
    ] {
        let t = g.base().iat(iat).sign();
        g.case(c, label, t, expect);
    }
    // Other skews: 0 (honoured by Clerk: at exp == now the token is expired) and 60 s.
    for (label, exp, skew, expect) in [
        ("skew0-exp-now", now, 0, EXPIRED),
        ("skew0-exp-in-1s", now + 1, 0, Expect::Accept),
        ("skew0-exp-1s-ago", now - 1, 0, EXPIRED),
        ("skew60-exp-59s-ago", now - 59, 60_000, Expect::Accept),
        ("skew60-exp-60s-ago", now - 60, 60_000, EXPIRED),
    ] {
        let t = g.base().exp(exp).sign();
        g.case_with(c, label, t, Config::Skew(skew), expect);
    }
    for (label, nbf, skew, expect) in [
        ("skew0-nbf-now", now, 0, Expect::Accept),
        ("skew0-nbf-in-1s", now + 1, 0, NOT_ACTIVE),
        ("skew60-nbf-in-60s", now + 60, 60_000, Expect::Accept),
        ("skew60-nbf-in-61s", now + 61, 60_000, NOT_ACTIVE),
    ] {
        let t = g.base().nbf(nbf).sign();
        g.case_with(c, label, t, Config::Skew(skew), expect);
    }
    let t = g.base().iat(now + 1).sign();
    g.case_with(c, "skew0-iat-in-1s", t, Config::Skew(0), IAT_FUTURE);

    // Types: a time claim that is present must be a number; `exp` must be present.
    let c = "time-types";
    let future = now + 3600;
    let wrong_types = [
        ("string", json!(future.to_string())),
        ("null", Value::Null),
        ("true", json!(true)),
        ("false", json!(false)),
        ("object", json!({ "v": future })),
        ("array", json!([future])),
        ("empty-string", json!("")),
        ("exponent-string", json!("1e10")),
    ];
    for (name, value) in wrong_types.clone() {
        let t = g.base().claim("exp", value).sign();
        g.case(c, &format!("exp-{name}"), t, FAILED);
    }
    for (name, value) in wrong_types.clone() {
        let t = g.base().claim("nbf", value).sign();
        g.case(c, &format!("nbf-{name}"), t, FAILED);
    }
    for (name, value) in wrong_types {
        let t = g.base().claim("iat", value).sign();
        g.case(c, &format!("iat-{name}"), t, FAILED);
    }
    let t = g.base().remove_claim("exp").sign();
    g.case(c, "exp-missing", t, FAILED);

    // Extreme and fractional values, well inside or outside every window.
    let c = "time-values";
    let two_64 = 18_446_744_073_709_551_616_f64;
    for (label, exp, expect) in [
        (
            "exp-float-future",
            json!(future as f64 + 0.5),
            Expect::Accept,
        ),
        ("exp-float-past", json!(now as f64 - 3600.5), EXPIRED),
        ("exp-1e300", json!(1e300), Expect::Accept),
        ("exp-2^64", json!(two_64), Expect::Accept),
        ("exp-u64-max", json!(u64::MAX), Expect::Accept),
        ("exp-i64-max", json!(i64::MAX), Expect::Accept),
        (
            "exp-2^53+1",
            json!(9_007_199_254_740_993_u64),
            Expect::Accept,
        ),
        ("exp-js-date-max", json!(JS_DATE_MAX_SECS), Expect::Accept),
        ("exp-js-date-min", json!(-JS_DATE_MAX_SECS), EXPIRED),
        ("exp-negative-float", json!(-1.5), EXPIRED),
        ("exp-negative-zero", json!(-0.0), EXPIRED),
    ] {
        let t = g.base().claim("exp", exp).sign();
        g.case(c, label, t, expect);
    }
    for (label, nbf, expect) in [
        ("nbf-float-past", json!(now as f64 - 0.25), Expect::Accept),
        ("nbf-float-future", json!(now as f64 + 3600.75), NOT_ACTIVE),
        ("nbf-js-date-max", json!(JS_DATE_MAX_SECS), NOT_ACTIVE),
        ("nbf-minus-1e300", json!(-1e300), Expect::Accept),
        ("nbf-i64-min", json!(i64::MIN), Expect::Accept),
    ] {
        let t = g.base().claim("nbf", nbf).sign();
        g.case(c, label, t, expect);
    }
    for (label, iat, expect) in [
        ("iat-float-past", json!(now as f64 - 10.5), Expect::Accept),
        ("iat-float-future", json!(now as f64 + 100.5), IAT_FUTURE),
        ("iat-js-date-max", json!(JS_DATE_MAX_SECS), IAT_FUTURE),
        ("iat-minus-1e300", json!(-1e300), Expect::Accept),
    ] {
        let t = g.base().claim("iat", iat).sign();
        g.case(c, label, t, expect);
    }
    // Fractional times are truncated to whole seconds, as Clerk's Date.setUTCSeconds does.
    let t = g.base().claim("exp", json!(now as f64 - 5.0 + 0.5)).sign();
    g.case(c, "exp-fraction-in-last-skew-second", t, EXPIRED);
    let t = g.base().claim("exp", json!(now as f64 - 5.0 + 1.5)).sign();
    g.case(c, "exp-fraction-before-last-skew-second", t, Expect::Accept);
    let t = g.base().claim("nbf", json!(now as f64 + 5.5)).sign();
    g.case(c, "nbf-fraction-past-skew", t, Expect::Accept);
    let t = g.base().claim("iat", json!(now as f64 + 5.5)).sign();
    g.case(c, "iat-fraction-past-skew", t, Expect::Accept);
    // Beyond the range of a JavaScript Date.
    for (label, exp) in [
        ("exp-minus-1e300", json!(-1e300)),
        ("exp-minus-2^64", json!(-two_64)),
        ("exp-just-below-js-date-min", json!(-JS_DATE_MAX_SECS - 1.0)),
        ("exp-i64-min", json!(i64::MIN)),
    ] {
        let t = g.base().claim("exp", exp).sign();
        g.deviation(c, label, t, Deviation::ExpBeforeDateRange);
    }
    for (label, nbf) in [
        ("nbf-2^64", json!(two_64)),
        ("nbf-1e300", json!(1e300)),
        ("nbf-just-above-js-date-max", json!(JS_DATE_MAX_SECS + 1.0)),
        ("nbf-u64-max", json!(u64::MAX)),
    ] {
        let t = g.base().claim("nbf", nbf).sign();
        g.deviation(c, label, t, Deviation::NbfAfterDateRange);
    }
    for (label, iat) in [("iat-2^64", json!(two_64)), ("iat-1e300", json!(1e300))] {
        let t = g.base().claim("iat", iat).sign();
        g.deviation(c, label, t, Deviation::IatAfterDateRange);
    }
    // Beyond the range of a double: Infinity in JavaScript, an error for us.
    for (label, claim, text) in [
        ("exp-1e400", "exp", "1e400"),
        ("nbf-minus-1e400", "nbf", "-1e400"),
        ("iat-minus-1e400", "iat", "-1e400"),
        ("custom-1e400", "big", "1e400"),
    ] {
        let payload = with_raw_member(&g.base().payload_value(), claim, text);
        let t = g.raw(&g.header_json(), &payload);
        g.deviation(c, label, t, Deviation::NumberOutOfRange);
    }
}

/// The payload's JSON text with `name` replaced by a member whose value is the raw `text`.
fn with_raw_member(payload: &Value, name: &str, text: &str) -> String {
    let mut map = payload.as_object().expect("an object").clone();
    map.remove(name);
    Value::Object(map)
        .to_string()
        .replacen('{', &format!("{{\"{name}\":{text},"), 1)
}

fn claim_cases(g: &mut Generator) {
    let c = "claims-sub";
    let t = g.base().remove_claim("sub").sign();
    g.case(c, "sub-missing", t, FAILED);
    for (label, sub) in [
        ("sub-number", json!(42)),
        ("sub-null", Value::Null),
        ("sub-true", json!(true)),
        ("sub-array", json!(["user_1"])),
        ("sub-object", json!({ "id": "user_1" })),
    ] {
        let t = g.base().claim("sub", sub).sign();
        g.case(c, label, t, FAILED);
    }
    let t = g.base().claim("sub", "").sign();
    g.deviation(c, "sub-empty", t, Deviation::EmptySub);

    let c = "claims-azp";
    let t = g.base().remove_claim("azp").sign();
    g.case(c, "azp-missing", t, PARTY);
    for (label, azp) in [
        ("azp-other-origin", json!("https://evil.example")),
        ("azp-case-differs", json!("http://LOCALHOST:3000")),
        ("azp-scheme-case-differs", json!("HTTP://localhost:3000")),
        ("azp-trailing-slash", json!("http://localhost:3000/")),
        ("azp-with-path", json!("http://localhost:3000/app")),
        ("azp-prefix", json!("http://localhost:300")),
        ("azp-superstring", json!("http://localhost:30000")),
        ("azp-https-instead-of-http", json!("https://localhost:3000")),
        ("azp-leading-space", json!(" http://localhost:3000")),
        ("azp-empty", json!("")),
        ("azp-null", Value::Null),
        ("azp-number", json!(3000)),
        ("azp-array-of-party", json!([PARTIES[0]])),
        ("azp-both-joined", json!(PARTIES.join(","))),
        (
            "azp-unicode-lookalike",
            json!("http://l\u{43e}calhost:3000"),
        ),
    ] {
        let t = g.base().claim("azp", azp).sign();
        g.case(c, label, t, PARTY);
    }
    for (label, azp) in [
        ("no-parties-azp-missing", None),
        ("no-parties-azp-other", Some("https://evil.example")),
    ] {
        let t = match azp {
            Some(azp) => g.base().azp(azp).sign(),
            None => g.base().remove_claim("azp").sign(),
        };
        g.case_with(c, label, t, Config::NoParties, Expect::Accept);
    }

    let c = "claims-iss";
    for (label, iss) in [
        ("iss-any-url", json!("https://evil.example")),
        ("iss-http", json!("http://clerk.example.com")),
        ("iss-number", json!(1)),
        ("iss-null", Value::Null),
        ("iss-empty", json!("")),
    ] {
        let t = g.base().claim("iss", iss).sign();
        g.case(c, label, t, Expect::Accept);
    }
    let t = g.base().remove_claim("iss").sign();
    g.case(c, "iss-missing", t, Expect::Accept);

    let c = "claims-session";
    let t = g.base().remove_claim("sid").sign();
    g.deviation(c, "sid-missing", t, Deviation::NoSessionId);
    for (label, sid) in [
        ("sid-empty", json!("")),
        ("sid-number", json!(7)),
        ("sid-null", Value::Null),
    ] {
        let t = g.base().claim("sid", sid).sign();
        g.deviation(c, label, t, Deviation::NoSessionId);
    }
    let t = g.base().status("pending").sign();
    g.deviation(c, "sts-pending", t, Deviation::PendingSession);
    let org = Organization::new("org_pending").role("org:member");
    let t = g.base().v1().organization(org).status("pending").sign();
    g.deviation(c, "sts-pending-v1-org", t, Deviation::PendingSession);
}

fn header_cases(g: &mut Generator) {
    let c = "alg";
    for (label, alg) in [
        ("alg-none", json!("none")),
        ("alg-None", json!("None")),
        ("alg-NONE", json!("NONE")),
        ("alg-lowercase", json!("rs256")),
        ("alg-trailing-space", json!("RS256 ")),
        ("alg-ES256", json!("ES256")),
        ("alg-EdDSA", json!("EdDSA")),
        ("alg-null", Value::Null),
        ("alg-array", json!(["RS256"])),
        ("alg-number", json!(256)),
        ("alg-empty", json!("")),
    ] {
        let t = g.base().header("alg", alg).sign();
        g.case(c, label, t, ALGORITHM);
    }
    let t = g.base().remove_header("alg").sign();
    g.case(c, "alg-missing", t, ALGORITHM);
    // alg none with an empty signature: the classic.
    let t = g
        .base()
        .header("alg", "none")
        .signature_bytes(Vec::new())
        .sign();
    g.case(c, "alg-none-empty-signature", t, ALGORITHM);
    // HMAC with the public key's PEM text as the secret (key confusion), and with an empty one.
    let pem = g.key.public_key_pem();
    for (label, secret) in [
        ("alg-HS256-pem-as-secret", pem.as_bytes().to_vec()),
        (
            "alg-HS256-pem-trimmed-as-secret",
            pem.trim_end().as_bytes().to_vec(),
        ),
        ("alg-HS256-empty-secret", Vec::new()),
    ] {
        let t = g.base().header("alg", "HS256");
        let c0 = Compact::from_json(&t.header_json(), &t.payload_json());
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
            c0.signing_input().as_bytes(),
        );
        let token = c0.with_signature(tag.as_ref()).to_string();
        g.case(c, label, token, ALGORITHM);
    }
    for (label, alg) in [("alg-HS384", "HS384"), ("alg-HS512", "HS512")] {
        let t = g.base().header("alg", alg).sign();
        g.case(c, label, t, ALGORITHM);
    }
    for (label, alg) in [
        ("alg-PS256", Algorithm::PS256),
        ("alg-PS384", Algorithm::PS384),
        ("alg-PS512", Algorithm::PS512),
    ] {
        let t = g.base().algorithm(alg).sign();
        g.case(c, label, t, ALGORITHM);
    }
    for (label, alg) in [
        ("alg-RS384", Algorithm::RS384),
        ("alg-RS512", Algorithm::RS512),
    ] {
        let t = g.base().algorithm(alg).sign();
        g.deviation(c, label, t, Deviation::OtherRsaAlgorithm);
    }
    // RS384 named, RS256 signature: still the import error at Clerk.
    let t = g.base().header("alg", "RS384").sign();
    g.deviation(
        c,
        "alg-RS384-header-RS256-signature",
        t,
        Deviation::OtherRsaAlgorithm,
    );

    let c = "typ";
    let t = g.base().remove_header("typ").sign();
    g.case(c, "typ-absent", t, Expect::Accept);
    for (label, typ) in [
        ("typ-at+jwt", json!("at+jwt")),
        ("typ-lowercase", json!("jwt")),
        ("typ-JOSE", json!("JOSE")),
        ("typ-application-jwt", json!("application/jwt")),
        ("typ-trailing-space", json!("JWT ")),
        ("typ-null", Value::Null),
        ("typ-number", json!(1)),
        ("typ-array", json!(["JWT"])),
        ("typ-empty", json!("")),
    ] {
        let t = g.base().header("typ", typ).sign();
        g.case(c, label, t, INVALID);
    }

    let c = "cat";
    let t = g.base().header("cat", CAT_SESSION).sign();
    g.case(c, "cat-session", t, Expect::Accept);
    let t = g.base().header("cat", CAT_IGNORE).sign();
    g.case(c, "cat-ignore", t, Expect::Accept);
    let t = g.base().remove_header("cat").sign();
    g.case(c, "cat-absent", t, Expect::Accept);
    let t = g.base().header("cat", "cl_Z9z9ZZ999ZZZ").sign();
    g.case(c, "cat-unknown", t, Expect::Accept);
    let t = g.base().header("cat", 1).sign();
    g.case(c, "cat-number", t, Expect::Accept);
    let t = g.base().header("cat", CAT_M2M).sign();
    g.case(c, "cat-m2m", t, INVALID);
    // The category is checked before anything else in the header.
    let t = g
        .base()
        .header("cat", CAT_M2M)
        .header("alg", "none")
        .header("typ", "at+jwt")
        .signature_bytes(Vec::new())
        .sign();
    g.case(c, "cat-m2m-alg-none-typ-wrong", t, INVALID);
    let t = g.base().header("cat", CAT_M2M).exp(g.now - 3600).sign();
    g.case(c, "cat-m2m-expired", t, INVALID);
    let t = g.base().header("cat", CAT_JWT_TEMPLATE).sign();
    g.deviation(c, "cat-template", t, Deviation::TemplateCategory);
    let t = g
        .base()
        .header("cat", CAT_JWT_TEMPLATE)
        .remove_claim("sid")
        .sign();
    g.deviation(c, "cat-template-no-sid", t, Deviation::NoSessionId);

    let c = "crit";
    let t = g
        .base()
        .header("crit", json!(["b64"]))
        .header("b64", false)
        .sign();
    g.deviation(c, "crit-b64", t, Deviation::CritHeader);
    let t = g.base().header("crit", json!(["exp"])).sign();
    g.deviation(c, "crit-unknown-name", t, Deviation::CritHeader);
    let t = g.base().header("crit", json!([])).sign();
    g.deviation(c, "crit-empty", t, Deviation::CritHeader);
    // Without crit, b64:false is just an unknown parameter: the signature is over base64url.
    let t = g.base().header("b64", false).sign();
    g.case(c, "b64-false-without-crit", t, Expect::Accept);
    let t = g.base().header("cty", "JWT").sign();
    g.case(c, "cty-jwt", t, Expect::Accept);

    let c = "kid";
    for (label, kid) in [
        (
            "kid-other-instance",
            json!("ins_2GIoQhbUpy0hX7B2cVkuTMinXoD"),
        ),
        ("kid-empty", json!("")),
        ("kid-path-traversal", json!("../../../../dev/null")),
        ("kid-sql", json!("' OR 1=1 --")),
        ("kid-nul", json!("ins_1\u{0}x")),
        ("kid-url", json!("https://evil.example/key")),
        ("kid-256-bytes", json!("k".repeat(256))),
    ] {
        let t = g.base().header("kid", kid).sign();
        g.case(c, label, t, Expect::Accept);
    }
    let t = g.base().remove_header("kid").sign();
    g.case(c, "kid-absent", t, Expect::Accept);
    for (label, kid) in [
        ("kid-257-bytes", json!("k".repeat(257))),
        ("kid-4000-bytes", json!("k".repeat(4000))),
        ("kid-number", json!(1)),
        ("kid-null", Value::Null),
        ("kid-object", json!({ "kid": "x" })),
        ("kid-array", json!(["ins_1"])),
    ] {
        let t = g.base().header("kid", kid).sign();
        g.deviation(c, label, t, Deviation::MalformedKid);
    }

    let c = "key-injection";
    let other_jwk = g.other.jwk();
    let other = g.other.clone();
    let t = g
        .base()
        .header("jwk", other_jwk.clone())
        .signed_by(&other)
        .sign();
    g.case(c, "jwk-attacker-key-signed-by-attacker", t, SIGNATURE);
    let t = g.base().key(&other).header("jwk", other_jwk.clone()).sign();
    g.case(c, "jwk-and-kid-of-attacker", t, SIGNATURE);
    let t = g.base().header("jwk", other_jwk.clone()).sign();
    g.case(c, "jwk-attacker-key-signed-by-us", t, Expect::Accept);
    let t = g
        .base()
        .header("jku", "https://evil.example/.well-known/jwks.json")
        .signed_by(&other)
        .sign();
    g.case(c, "jku-attacker", t, SIGNATURE);
    let t = g
        .base()
        .header("x5u", "http://169.254.169.254/latest/meta-data/")
        .signed_by(&other)
        .sign();
    g.case(c, "x5u-ssrf", t, SIGNATURE);
    let der = URL_SAFE_NO_PAD.encode(other.pkcs8_der());
    let t = g
        .base()
        .header("x5c", json!([der]))
        .signed_by(&other)
        .sign();
    g.case(c, "x5c-attacker", t, SIGNATURE);
    let t = g
        .base()
        .header("jwk", other_jwk)
        .header("jku", "https://evil.example/jwks")
        .header("x5c", json!(["AAAA"]))
        .sign();
    g.case(c, "all-key-headers-signed-by-us", t, Expect::Accept);
}

fn signature_cases(g: &mut Generator) {
    let c = "signature";
    let other = g.other.clone();
    let t = g.base().signed_by(&other).sign();
    g.case(c, "wrong-key-our-kid", t, SIGNATURE);
    let t = g.base().key(&other).sign();
    g.case(c, "wrong-key-its-own-kid", t, SIGNATURE);
    let t = g.base().signed_by(&other).exp(g.now - 3600).sign();
    g.case(c, "wrong-key-and-expired", t, SIGNATURE);
    let t = g
        .base()
        .signed_by(&other)
        .remove_claim("sub")
        .azp("https://evil.example")
        .sign();
    g.case(c, "wrong-key-and-bad-claims", t, SIGNATURE);
    let compact = g.base().compact();
    let sig = URL_SAFE_NO_PAD
        .decode(&compact.signature_b64)
        .expect("own signature");
    let with = |bytes: &[u8]| compact.clone().with_signature(bytes).to_string();
    let mut flipped_first = sig.clone();
    flipped_first[0] ^= 0x80;
    let mut flipped_middle = sig.clone();
    flipped_middle[128] ^= 0x10;
    let mut extra_zero = sig.clone();
    extra_zero.push(0);
    let mut leading_zero = vec![0u8];
    leading_zero.extend_from_slice(&sig);
    let s_plus_n = add_big_endian(&sig, g.key.modulus());
    let n = g.key.modulus().to_vec();
    let mut n_minus_1 = n.clone();
    *n_minus_1.last_mut().expect("modulus") -= 1;
    let mut one = vec![0u8; sig.len()];
    *one.last_mut().expect("signature") = 1;
    let cases: Vec<(&str, String)> = vec![
        (
            "bit-flip-last",
            compact.clone().corrupt_signature().to_string(),
        ),
        ("bit-flip-first", with(&flipped_first)),
        ("bit-flip-middle", with(&flipped_middle)),
        ("truncated-1-byte", with(&sig[..sig.len() - 1])),
        ("truncated-half", with(&sig[..sig.len() / 2])),
        ("truncated-to-1-byte", with(&sig[..1])),
        ("empty-segment", with(&[])),
        ("extra-byte", with(&extra_zero)),
        ("leading-zero-byte", with(&leading_zero)),
        ("s-plus-n", with(&s_plus_n)),
        ("equal-to-n", with(&n)),
        ("n-minus-1", with(&n_minus_1)),
        ("zero", with(&vec![0u8; sig.len()])),
        ("one", with(&one)),
        ("all-ff", with(&vec![0xffu8; sig.len()])),
        ("doubled", with(&[sig.as_slice(), sig.as_slice()].concat())),
    ];
    for (label, token) in cases {
        g.case(c, label, token, SIGNATURE);
    }
    // Signatures moved between tokens.
    let a = g.base().compact();
    let b = g.base().user("user_attacker").compact();
    let swapped = Compact {
        payload_b64: b.payload_b64.clone(),
        ..a.clone()
    };
    g.case(c, "payload-swapped", swapped.to_string(), SIGNATURE);
    let header_swapped = Compact {
        header_b64: g.base().remove_header("typ").compact().header_b64,
        ..a.clone()
    };
    g.case(c, "header-swapped", header_swapped.to_string(), SIGNATURE);
    let t = g
        .base()
        .header("alg", "none")
        .signature_bytes(sig.clone())
        .sign();
    g.case(c, "alg-none-signature-kept", t, ALGORITHM);
}

/// `a + b` for big-endian unsigned integers.
fn add_big_endian(a: &[u8], b: &[u8]) -> Vec<u8> {
    let len = a.len().max(b.len());
    let mut out = vec![0u8; len + 1];
    let mut carry = 0u16;
    for i in 0..len {
        let x = if i < a.len() { a[a.len() - 1 - i] } else { 0 };
        let y = if i < b.len() { b[b.len() - 1 - i] } else { 0 };
        let sum = u16::from(x) + u16::from(y) + carry;
        out[len - i] = sum as u8;
        carry = sum >> 8;
    }
    out[0] = carry as u8;
    if out[0] == 0 {
        out.remove(0);
    }
    out
}

fn form_cases(g: &mut Generator) {
    let c = "form";
    let good = g.base().compact();
    let token = good.to_string();
    for (label, t) in [
        ("empty-string", String::new()),
        ("one-dot", ".".to_owned()),
        ("two-dots", "..".to_owned()),
        ("three-dots", "...".to_owned()),
        ("garbage", "not a token".to_owned()),
        ("one-segment", good.header_b64.clone()),
        ("two-segments", good.two_segments()),
        ("four-segments", good.with_extra_segment("AAAA")),
        ("four-segments-empty-last", good.with_extra_segment("")),
        ("five-segments", format!("{token}.a.b")),
        ("leading-dot", format!(".{token}")),
        (
            "empty-header",
            format!(".{}.{}", good.payload_b64, good.signature_b64),
        ),
        (
            "empty-payload",
            format!("{}..{}", good.header_b64, good.signature_b64),
        ),
        ("bearer-prefix", format!("Bearer {token}")),
        ("quoted", format!("\"{token}\"")),
    ] {
        g.case(c, label, t, INVALID);
    }
    // A JSON-serialized JWS (security.md §1.7) is not a compact token.
    let json_jws = json!({ "protected": good.header_b64, "payload": good.payload_b64, "signature": good.signature_b64 }).to_string();
    g.case(c, "json-serialization", json_jws, INVALID);

    let c = "encoding";
    // Padding, re-signed over the padded text so that only the padding differs.
    let padded_all = {
        let mut p = g.base().compact();
        p.header_b64 = pad(&p.header_b64);
        p.payload_b64 = pad(&p.payload_b64);
        let p = Compact {
            signature_b64: String::new(),
            ..p
        }
        .sign(&g.key);
        Compact {
            signature_b64: pad(&p.signature_b64),
            ..p
        }
    };
    assert!(
        padded_all.to_string().contains('='),
        "the padded token has padding"
    );
    g.deviation(
        c,
        "padded-all-segments",
        padded_all.to_string(),
        Deviation::PaddedBase64,
    );
    let sig_padded = {
        let p = g.base().compact();
        Compact {
            signature_b64: pad(&p.signature_b64),
            ..p
        }
    };
    g.deviation(
        c,
        "padded-signature",
        sig_padded.to_string(),
        Deviation::PaddedBase64,
    );
    let sig_over_padded = {
        let p = g.base().compact();
        Compact {
            signature_b64: format!("{}=", p.signature_b64),
            ..p
        }
    };
    g.deviation(
        c,
        "signature-one-pad-char",
        sig_over_padded.to_string(),
        Deviation::PaddedBase64,
    );
    let payload_padded = {
        let mut t = g.base();
        let mut filler = String::new();
        // A payload whose base64url needs padding.
        loop {
            let p = t.clone().claim("f", filler.clone()).compact();
            if p.payload_b64.len() % 4 != 0 {
                t = t.claim("f", filler);
                break;
            }
            filler.push('x');
        }
        let p = t.compact();
        Compact {
            payload_b64: pad(&p.payload_b64),
            signature_b64: String::new(),
            ..p
        }
        .sign(&g.key)
    };
    g.deviation(
        c,
        "padded-payload",
        payload_padded.to_string(),
        Deviation::PaddedBase64,
    );

    // The standard alphabet: Clerk's decoder knows only `-` and `_`.
    let std_sig = {
        let mut p = g.base().compact();
        // Find a token whose signature has `-` or `_` (nearly all do).
        while !p.signature_b64.contains(['-', '_']) {
            p = g.base().compact();
        }
        Compact {
            signature_b64: standard_alphabet(&p.signature_b64),
            ..p
        }
    };
    g.case(
        c,
        "standard-alphabet-signature",
        std_sig.to_string(),
        INVALID,
    );
    let std_payload = {
        let mut t = g.base();
        let mut filler = String::from("?");
        loop {
            let p = t.clone().claim("f", filler.clone()).compact();
            if p.payload_b64.contains(['-', '_']) {
                t = t.claim("f", filler);
                break;
            }
            filler.push('?');
        }
        let p = t.compact();
        Compact {
            payload_b64: standard_alphabet(&p.payload_b64),
            signature_b64: String::new(),
            ..p
        }
        .sign(&g.key)
    };
    g.case(
        c,
        "standard-alphabet-payload-resigned",
        std_payload.to_string(),
        INVALID,
    );
    let both = Compact {
        signature_b64: pad(&std_sig.signature_b64),
        ..std_sig.clone()
    };
    g.case(
        c,
        "standard-alphabet-and-padding",
        both.to_string(),
        INVALID,
    );

    // Non-canonical trailing bits (the same bytes for a lenient decoder).
    let p = g.base().compact();
    let sig_nc = noncanonical(&p.signature_b64).expect("a 256-byte signature has unused bits");
    g.case(
        c,
        "noncanonical-signature",
        Compact {
            signature_b64: sig_nc,
            ..p
        }
        .to_string(),
        INVALID,
    );
    let mut t = g.base();
    let mut filler = String::new();
    let nc_payload = loop {
        let p = t.clone().claim("f", filler.clone()).compact();
        if let Some(nc) = noncanonical(&p.payload_b64) {
            t = t.claim("f", filler);
            break nc;
        }
        filler.push('x');
    };
    let p = Compact {
        payload_b64: nc_payload,
        signature_b64: String::new(),
        ..t.compact()
    }
    .sign(&g.key);
    g.case(c, "noncanonical-payload-resigned", p.to_string(), INVALID);

    // Whitespace and stray characters.
    let t = g.base().sign();
    let (h, rest) = t.split_once('.').expect("dots");
    let mid = t.len() / 2;
    for (label, bad) in [
        ("leading-space", format!(" {t}")),
        ("trailing-space", format!("{t} ")),
        ("trailing-newline", format!("{t}\n")),
        ("leading-tab", format!("\t{t}")),
        ("space-inside", format!("{} {}", &t[..mid], &t[mid..])),
        ("crlf-inside", format!("{}\r\n{}", &t[..mid], &t[mid..])),
        ("space-after-dot", format!("{h}. {rest}")),
        ("invalid-char-star", format!("{}*{}", &t[..mid], &t[mid..])),
        ("invalid-char-percent", format!("{}%3D", t)),
        ("non-ascii", format!("{}é{}", &t[..mid], &t[mid..])),
        ("equals-in-middle", format!("{}={}", &t[..mid], &t[mid..])),
    ] {
        g.case(c, label, bad, INVALID);
    }
    // A segment of length 1 mod 4 cannot be base64 at all (a 256-byte signature is 342
    // characters, 2 mod 4).
    let p = g.base().compact();
    g.case(c, "signature-length-1-mod-4", format!("{p}AAA"), INVALID);
}

fn json_cases(g: &mut Generator) {
    let c = "json";
    let header = g.header_json();
    let payload = g.payload_json();
    for (label, p) in [
        ("payload-not-json", "not json".to_owned()),
        ("payload-empty", String::new()),
        ("payload-trailing-garbage", format!("{payload} x")),
        ("payload-two-objects", format!("{payload}{payload}")),
        ("payload-nan", payload.replacen('{', "{\"n\":NaN,", 1)),
        (
            "payload-infinity",
            payload.replacen('{', "{\"n\":Infinity,", 1),
        ),
        ("payload-single-quotes", payload.replace('"', "'")),
        ("payload-comment", payload.replacen('{', "{/* c */", 1)),
        (
            "payload-unterminated",
            payload[..payload.len() - 1].to_owned(),
        ),
        (
            "payload-raw-control-char",
            payload.replacen("\"sub\":\"", "\"sub\":\"\n", 1),
        ),
        (
            "payload-bad-escape",
            payload.replacen("\"sub\":\"", "\"sub\":\"\\x", 1),
        ),
        (
            "payload-hex-number",
            payload.replacen('{', "{\"n\":0x10,", 1),
        ),
        (
            "payload-leading-zero",
            payload.replacen('{', "{\"n\":012,", 1),
        ),
    ] {
        let t = g.raw(&header, &p);
        g.case(c, label, t, INVALID);
    }
    let with_comma = format!("{},}}", &payload[..payload.len() - 1]);
    let t = g.raw(&header, &with_comma);
    g.case(c, "payload-trailing-comma", t, INVALID);
    for (label, h) in [
        ("header-not-json", "nope".to_owned()),
        ("header-empty-object-no-alg", "{}".to_owned()),
        ("header-trailing-garbage", format!("{header}]")),
    ] {
        let expect = if label == "header-empty-object-no-alg" {
            ALGORITHM
        } else {
            INVALID
        };
        let t = g.raw(&h, &payload);
        g.case(c, label, t, expect);
    }
    // An empty object payload: no sub.
    let t = g.raw(&header, "{}");
    g.case(c, "payload-empty-object", t, FAILED);
    // Not objects.
    for (label, p) in [
        ("payload-array", "[]".to_owned()),
        ("payload-array-of-claims", format!("[{payload}]")),
        ("payload-string", "\"user_1\"".to_owned()),
        ("payload-number", "1".to_owned()),
        ("payload-true", "true".to_owned()),
    ] {
        let t = g.raw(&header, &p);
        g.deviation(c, label, t, Deviation::PayloadNotObject);
    }
    for (label, h) in [
        ("header-array", format!("[{header}]")),
        ("header-string", "\"RS256\"".to_owned()),
        ("header-number", "256".to_owned()),
    ] {
        let t = g.raw(&h, &payload);
        g.deviation(c, label, t, Deviation::HeaderNotObject);
    }
    let t = g.raw(&header, "null");
    g.deviation(c, "payload-null", t, Deviation::NullJson);
    let t = g.raw("null", &payload);
    g.deviation(c, "header-null", t, Deviation::NullJson);

    // Duplicate member names; the last one makes the token valid for a last-wins parser.
    let now = g.now;
    let dup_cases = [
        (
            "dup-exp-expired-then-valid",
            format!("{{\"exp\":{},", now - 3600),
        ),
        ("dup-sub-number-then-string", "{\"sub\":1,".to_owned()),
        (
            "dup-azp-evil-then-good",
            "{\"azp\":\"https://evil.example\",".to_owned(),
        ),
        ("dup-sid-missing-then-present", "{\"sid\":null,".to_owned()),
    ];
    for (label, prefix) in dup_cases {
        let p = g.payload_json().replacen('{', &prefix, 1);
        let t = g.raw(&header, &p);
        g.deviation(c, label, t, Deviation::DuplicateMember);
    }
    let p = g
        .payload_json()
        .replacen('{', "{\"o\":{\"id\":\"org_evil\",\"id\":\"org_good\"},", 1);
    let t = g.raw(&header, &p);
    g.deviation(c, "dup-nested-member", t, Deviation::DuplicateMember);
    let h = header.replacen('{', "{\"alg\":\"none\",", 1);
    let t = g.raw(&h, &payload);
    g.deviation(c, "dup-alg-none-then-rs256", t, Deviation::DuplicateMember);
    let h = header.replacen('{', "{\"typ\":\"at+jwt\",", 1);
    let t = g.raw(&h, &payload);
    g.deviation(c, "dup-typ-wrong-then-jwt", t, Deviation::DuplicateMember);
    let h = header.replacen('{', &format!("{{\"cat\":\"{CAT_M2M}\","), 1);
    let t = g.raw(&h, &payload);
    g.deviation(c, "dup-cat-m2m-then-session", t, Deviation::DuplicateMember);

    // Nesting beyond our bound of 32 levels.
    for depth in [MAX_JSON_DEPTH, 100, 1000] {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let p = g
            .payload_json()
            .replacen('{', &format!("{{\"deep\":{nested},"), 1);
        let t = g.raw(&header, &p);
        g.deviation(
            c,
            &format!("nesting-{}", depth + 1),
            t,
            Deviation::DeepNesting,
        );
    }
    let nested_objects = format!("{}1{}", "{\"a\":".repeat(40), "}".repeat(40));
    let p = g
        .payload_json()
        .replacen('{', &format!("{{\"deep\":{nested_objects},"), 1);
    let t = g.raw(&header, &p);
    g.deviation(c, "nesting-objects-41", t, Deviation::DeepNesting);

    // Byte-order mark and invalid Unicode.
    let p = format!("\u{feff}{}", g.payload_json());
    let t = g.raw(&header, &p);
    g.deviation(c, "payload-bom", t, Deviation::ByteOrderMark);
    let mut bytes = g.payload_json().into_bytes();
    let at = bytes.windows(6).position(|w| w == b"\"user_").expect("sub") + 6;
    bytes.insert(at, 0xff);
    let t = Compact::from_bytes(header.as_bytes(), &bytes)
        .sign(&g.key)
        .to_string();
    g.deviation(
        c,
        "payload-invalid-utf8-in-sub",
        t,
        Deviation::InvalidUnicode,
    );
    let mut bytes = g.payload_json().into_bytes();
    bytes.splice(1..1, b"\"x\":\"\xc3\x28\",".iter().copied());
    let t = Compact::from_bytes(header.as_bytes(), &bytes)
        .sign(&g.key)
        .to_string();
    g.deviation(
        c,
        "payload-invalid-utf8-custom-claim",
        t,
        Deviation::InvalidUnicode,
    );
    let p = g.payload_json().replacen('{', "{\"name\":\"\\ud800\",", 1);
    let t = g.raw(&header, &p);
    g.deviation(
        c,
        "payload-lone-surrogate-escape",
        t,
        Deviation::InvalidUnicode,
    );
    let p = g
        .payload_json()
        .replacen('{', "{\"name\":\"\\udc00\\ud800\",", 1);
    let t = g.raw(&header, &p);
    g.deviation(
        c,
        "payload-reversed-surrogates",
        t,
        Deviation::InvalidUnicode,
    );
    let p = g
        .payload_json()
        .replacen('{', "{\"name\":\"\\ud83d\\ude00\",", 1);
    let t = g.raw(&header, &p);
    g.case(c, "payload-valid-surrogate-pair", t, Expect::Accept);
}

fn size_cases(g: &mut Generator) {
    let c = "size";
    let t = sized_token(g, MAX_TOKEN_LEN + 1);
    g.deviation(c, "8193-bytes", t, Deviation::OversizedToken);
    let t = g.base().claim("filler", "x".repeat(12_000)).sign();
    g.deviation(c, "16-kib", t, Deviation::OversizedToken);
    let org = Organization::new("org_big")
        .role("org:admin")
        .permissions((0..120).map(|i| format!("org:feature{}:permission_{}", i % 40, i)));
    let t = g.base().organization(org).sign();
    assert!(
        t.len() < MAX_TOKEN_LEN,
        "the many-permissions token fits ({})",
        t.len()
    );
    g.case(c, "many-permissions-under-limit", t, Expect::Accept);
    let t = g.base().claim("filler", "x".repeat(100_000)).sign();
    g.deviation(c, "130-kib", t, Deviation::OversizedToken);
}

/// Several defects at once: the first in Clerk's order wins, on both sides.
fn order_cases(g: &mut Generator) {
    let c = "order";
    let now = g.now;
    let other = g.other.clone();
    let cases: Vec<(&str, TokenBuilder, Expect)> = vec![
        (
            "typ-before-alg",
            g.base().header("typ", "at+jwt").header("alg", "none"),
            INVALID,
        ),
        (
            "alg-before-signature",
            g.base().header("alg", "HS256").signed_by(&other),
            ALGORITHM,
        ),
        (
            "signature-before-sub",
            g.base().signed_by(&other).remove_claim("sub"),
            SIGNATURE,
        ),
        (
            "sub-before-azp",
            g.base().remove_claim("sub").azp("https://evil.example"),
            FAILED,
        ),
        (
            "sub-before-exp",
            g.base().claim("sub", 1).exp(now - 3600),
            FAILED,
        ),
        (
            "azp-before-exp",
            g.base().azp("https://evil.example").exp(now - 3600),
            PARTY,
        ),
        (
            "azp-before-exp-type",
            g.base().remove_claim("azp").claim("exp", "soon"),
            PARTY,
        ),
        (
            "exp-before-nbf",
            g.base().exp(now - 3600).nbf(now + 3600),
            EXPIRED,
        ),
        (
            "exp-type-before-nbf",
            g.base().claim("exp", "x").nbf(now + 3600),
            FAILED,
        ),
        (
            "exp-before-iat",
            g.base().exp(now - 3600).iat(now + 3600),
            EXPIRED,
        ),
        (
            "nbf-before-iat",
            g.base().nbf(now + 3600).iat(now + 3600),
            NOT_ACTIVE,
        ),
        (
            "nbf-type-before-iat",
            g.base().claim("nbf", "x").iat(now + 3600),
            FAILED,
        ),
        (
            "exp-type-before-nbf-future",
            g.base().claim("exp", json!(null)).nbf(now + 3600),
            FAILED,
        ),
        (
            "nbf-type-with-valid-exp",
            g.base().claim("nbf", json!([])).exp(now + 60),
            FAILED,
        ),
        // Our own checks come after Clerk's, so Clerk's reason wins.
        (
            "expired-before-missing-sid",
            g.base().exp(now - 3600).remove_claim("sid"),
            EXPIRED,
        ),
        (
            "expired-before-pending",
            g.base().exp(now - 3600).status("pending"),
            EXPIRED,
        ),
        (
            "expired-template-category",
            g.base().exp(now - 3600).header("cat", CAT_JWT_TEMPLATE),
            EXPIRED,
        ),
        (
            "azp-before-missing-sid",
            g.base().azp("https://evil.example").remove_claim("sid"),
            PARTY,
        ),
        (
            "bad-signature-before-pending",
            g.base().signed_by(&other).status("pending"),
            SIGNATURE,
        ),
        (
            "nbf-future-before-pending",
            g.base().nbf(now + 3600).status("pending"),
            NOT_ACTIVE,
        ),
        (
            "iat-future-before-missing-sid",
            g.base().iat(now + 3600).remove_claim("sid"),
            IAT_FUTURE,
        ),
        (
            "bad-sub-before-missing-sid",
            g.base().claim("sub", 1).remove_claim("sid"),
            FAILED,
        ),
        (
            "m2m-before-bad-typ",
            g.base().header("cat", CAT_M2M).header("typ", "x"),
            INVALID,
        ),
        (
            "typ-before-bad-signature",
            g.base().header("typ", "x").signed_by(&other),
            INVALID,
        ),
    ];
    for (label, t, expect) in cases {
        g.case(c, label, t.sign(), expect);
    }
    let cases: Vec<(&str, TokenBuilder, Expect)> = vec![
        (
            "expired-before-nbf-type",
            g.base().exp(now - 3600).claim("nbf", "x"),
            EXPIRED,
        ),
        (
            "expired-before-iat-type",
            g.base().exp(now - 3600).claim("iat", json!(null)),
            EXPIRED,
        ),
        (
            "expired-before-nbf-and-iat-types",
            g.base().exp(now - 60).claim("nbf", true).claim("iat", "1"),
            EXPIRED,
        ),
        (
            "nbf-future-before-iat-type",
            g.base().nbf(now + 3600).claim("iat", "x"),
            NOT_ACTIVE,
        ),
        (
            "nbf-future-before-iat-object",
            g.base().nbf(now + 60).claim("iat", json!({})),
            NOT_ACTIVE,
        ),
    ];
    for (label, t, clerk) in cases {
        g.case(c, label, t.sign(), clerk);
    }
}

fn generate(key: SigningKey, other: SigningKey, now: i64) -> Vec<Case> {
    let mut g = Generator {
        key,
        other,
        now,
        rng: Rng(SEED),
        cases: Vec::new(),
    };
    valid_shapes(&mut g);
    time_cases(&mut g);
    claim_cases(&mut g);
    header_cases(&mut g);
    signature_cases(&mut g);
    form_cases(&mut g);
    json_cases(&mut g);
    size_cases(&mut g);
    order_cases(&mut g);
    valid_variations(&mut g, 120);
    invalid_variations(&mut g, 80);
    g.cases
}

/// Clerk's verdict on one case, as `verify.mjs` prints it.
#[derive(Debug)]
struct ClerkResult {
    ok: bool,
    reason: Option<String>,
    thrown: Option<String>,
    message: Option<String>,
    sub: Option<String>,
}

impl ClerkResult {
    fn from_json(value: &Value) -> ClerkResult {
        let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        ClerkResult {
            ok: value["ok"].as_bool().expect("ok is a boolean"),
            reason: text("reason"),
            thrown: text("thrown"),
            message: text("message"),
            sub: text("sub"),
        }
    }

    /// Whether this is the verdict `expect` describes.
    fn is(&self, expect: Expect) -> bool {
        match expect {
            Expect::Accept => self.ok,
            Expect::Reject(reason) => !self.ok && self.reason.as_deref() == Some(reason),
            Expect::Crash(error) => {
                !self.ok && self.reason.is_none() && self.thrown.as_deref() == Some(error)
            }
        }
    }
}

impl fmt::Display for ClerkResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.ok, &self.reason, &self.thrown) {
            (true, _, _) => write!(f, "accepted (sub {:?})", self.sub),
            (false, Some(reason), _) => write!(f, "{reason}"),
            (false, None, thrown) => write!(f, "throws {}", thrown.as_deref().unwrap_or("?")),
        }?;
        if let Some(message) = &self.message {
            write!(f, " \"{message}\"")?;
        }
        Ok(())
    }
}

fn run_clerk(dir: &Path, cases: &[Case], pem: &str, now_ms: u64) -> Vec<ClerkResult> {
    let input_cases: Vec<Value> = cases
        .iter()
        .map(|case| {
            let mut entry = json!({ "id": case.id, "token": case.token });
            match case.config {
                Config::Default => {}
                Config::Skew(ms) => entry["clockSkewInMs"] = json!(ms),
                Config::NoParties => entry["authorizedParties"] = json!([]),
            }
            entry
        })
        .collect();
    let input = json!({
        "jwtKey": pem,
        "authorizedParties": PARTIES,
        "nowMs": now_ms,
        "cases": input_cases,
    });
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("clerk-differential-{}.json", std::process::id()));
    std::fs::write(&path, input.to_string()).expect("write the case file");
    let output = run(
        Command::new("node")
            .arg("verify.mjs")
            .arg(&path)
            .current_dir(dir),
        "node verify.mjs",
    );
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "node verify.mjs failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> =
        serde_json::from_slice(&output.stdout).expect("verify.mjs prints a JSON array");
    assert_eq!(results.len(), cases.len(), "one result per case");
    results
        .iter()
        .zip(cases)
        .map(|(result, case)| {
            assert_eq!(result["id"], case.id.as_str(), "results come in case order");
            ClerkResult::from_json(result)
        })
        .collect()
}

/// Our verdict on one case.
struct OurResult {
    verdict: Result<String, (&'static str, String)>,
}

impl OurResult {
    fn is(&self, expect: Expect) -> bool {
        match (&self.verdict, expect) {
            (Ok(_), Expect::Accept) => true,
            (Err((reason, _)), Expect::Reject(expected)) => *reason == expected,
            _ => false,
        }
    }
}

impl fmt::Display for OurResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.verdict {
            Ok(sub) => write!(f, "accepted (sub {sub:?})"),
            Err((reason, message)) => write!(f, "{reason} \"{message}\""),
        }
    }
}

async fn run_ours(cases: &[Case], pem: &str, now_ms: u64) -> Vec<OurResult> {
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::at_ms(now_ms));
    let mut verifiers: HashMap<Config, Verifier> = HashMap::new();
    let mut results = Vec::with_capacity(cases.len());
    for case in cases {
        let verifier = verifiers.entry(case.config).or_insert_with(|| {
            let mut builder = Verifier::builder()
                .jwt_key(pem)
                .clock(Arc::clone(&clock))
                .token_cache_capacity(0)
                .background_refresh(false);
            builder = match case.config {
                Config::Default => builder.authorized_parties(PARTIES),
                Config::Skew(ms) => builder
                    .authorized_parties(PARTIES)
                    .clock_skew(Duration::from_millis(ms)),
                Config::NoParties => builder,
            };
            builder.build().expect("the verifier builds")
        });
        let verdict = match verifier.verify(&case.token).await {
            Ok(claims) => Ok(claims.user_id().to_owned()),
            Err(rejection) => Err((rejection.reason().as_str(), rejection.message().to_owned())),
        };
        results.push(OurResult { verdict });
    }
    results
}

#[derive(Default)]
struct Tally {
    cases: usize,
    clerk_accepts: usize,
    deviations: usize,
}

#[tokio::test(flavor = "current_thread")]
async fn our_verifier_agrees_with_clerks_verify_token() {
    let started = Instant::now();
    let dir = differential_dir();
    ensure_clerk_installed(&dir);

    let key = SigningKey::test_key();
    let other = SigningKey::test_key_n(1);
    let pem = key.public_key_pem();
    let now = clerk_emulator::unix_now();
    // Both verifiers see this instant (Clerk through Date.now, we through the clock): time
    // checks are exact, so boundaries can be tested without flakiness.
    let now_ms = u64::try_from(now).expect("after 1970") * 1000;

    let cases = generate(key, other, now);
    assert!(cases.len() >= MIN_CASES, "only {} cases", cases.len());
    let mut ids = std::collections::HashSet::new();
    for case in &cases {
        assert!(
            ids.insert(case.id.as_str()),
            "duplicate case id {}",
            case.id
        );
    }

    let clerk = run_clerk(&dir, &cases, &pem, now_ms);
    let ours = run_ours(&cases, &pem, now_ms).await;

    let verbose = std::env::var_os("DIFFERENTIAL_VERBOSE").is_some();
    let mut failures = Vec::new();
    let mut by_category: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut by_deviation: BTreeMap<Deviation, usize> = BTreeMap::new();
    for ((case, clerk), ours) in cases.iter().zip(&clerk).zip(&ours) {
        if verbose {
            println!("{}\n    clerk: {clerk}\n    ours:  {ours}", case.id);
        }
        let tally = by_category.entry(case.category).or_default();
        tally.cases += 1;
        tally.clerk_accepts += usize::from(clerk.ok);
        if let Some(d) = case.deviation {
            tally.deviations += 1;
            *by_deviation.entry(d).or_default() += 1;
        }
        let mut problems = Vec::new();
        if !clerk.is(case.clerk) {
            problems.push(match case.deviation {
                Some(d) => format!(
                    "Clerk no longer does what deviation {d:?} says ({})",
                    case.clerk
                ),
                None => format!(
                    "Clerk does not do what the generator expects ({})",
                    case.clerk
                ),
            });
        }
        if !ours.is(case.ours()) {
            problems.push(match case.deviation {
                Some(d) => format!("we do not do what deviation {d:?} says ({})", case.ours()),
                None => format!("we disagree with Clerk's expected {}", case.clerk),
            });
        }
        if case.deviation.is_none() {
            let same = match (&ours.verdict, clerk.ok) {
                (Ok(sub), true) => clerk.sub.as_deref() == Some(sub.as_str()),
                (Err((reason, _)), false) => clerk.reason.as_deref() == Some(*reason),
                _ => false,
            };
            if !same && problems.is_empty() {
                problems.push("the verdicts differ".to_owned());
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n    token: {}\n    clerk: {clerk}\n    ours:  {ours}",
                case.id,
                problems.join("; "),
                abbreviate(&case.token),
            ));
        }
    }

    println!("\nDifferential test against @clerk/backend {CLERK_BACKEND_VERSION} verifyToken");
    println!(
        "{:<16} {:>6} {:>14} {:>11}",
        "category", "cases", "clerk accepts", "deviations"
    );
    for (category, t) in &by_category {
        println!(
            "{category:<16} {:>6} {:>14} {:>11}",
            t.cases, t.clerk_accepts, t.deviations
        );
    }
    println!("{:<16} {:>6}", "total", cases.len());
    println!("\n{:<20} {:>5}  {:<28} ours", "deviation", "cases", "clerk");
    for (d, n) in &by_deviation {
        println!(
            "{:<20} {n:>5}  {:<28} {}",
            format!("{d:?}"),
            d.clerk().to_string(),
            d.ours()
        );
    }
    println!("\n{} cases in {:.1?}", cases.len(), started.elapsed());

    assert!(
        failures.is_empty(),
        "{} of {} cases disagree:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
