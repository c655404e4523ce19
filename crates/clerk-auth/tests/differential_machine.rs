//! Differential test of `acceptsToken`: our [`Verifier::authenticate_request`] against Clerk's
//! own `authenticateRequest(request, { acceptsToken })` from `@clerk/backend`.
//!
//! About 165 tokens (session tokens, M2M JWTs, OAuth access token JWTs, opaque-looking
//! machine tokens, valid and broken in the ways clerk-spec §5 and microservices.md §C
//! describe) are minted with the emulator, and each is sent as `Authorization: Bearer <token>`
//! under every `acceptsToken` setting of [`SETTINGS`] (`"any"`, each type alone, and lists),
//! plus requests with no token at all. Both sides get the same PEM key (networkless, no
//! Backend API), the same authorized parties, audience and clock skew, and the same pinned
//! instant: Clerk's SDK under Node (`tests/differential/authenticate.mjs`, with `Date.now`
//! pinned and `fetch` refusing every URL but the emulator's), and our verifier with a
//! [`FixedClock`].
//!
//! What Clerk must answer is derived by [`route`], a model of `authenticateRequest`'s routing
//! (src/tokens/request.ts of 3.25.0), from what each token is on Clerk's path (session or
//! machine). Clerk must give the verdict, reason and state `tokenType` the model predicts, and
//! we the same verdict and reason; for an accepted token both must give the same token type
//! and auth object fields (id, subject, scopes, claims, machine id, user id, org id, client
//! id, session id). Clerk must make no network request. The exceptions are where we are
//! deliberately different:
//! those cases carry a [`Deviation`], assigned by the generator, never inferred from the
//! results, which states what Clerk does and what we do. A deviation that stops being one
//! fails the test, and so does a case where Clerk no longer does what the model expects.
//!
//! That first test needs no network: opaque tokens (`ak_…`, `mt_…`, `oat_…`) are there only
//! where the verdict needs no Backend API (a type not accepted, or the session token alone).
//! The second one serves the emulator on loopback and points both SDKs at its Backend API
//! (Clerk's `apiUrl`, our `.secret_key(..).api_url(..)`): API keys, M2M and OAuth tokens
//! created there, valid, revoked, expired and unknown, the OAuth audience rule on its
//! answers, a secret key it refuses, and the JWT forms it mints. Each side must then ask the
//! Backend API exactly once per case that reaches it (Clerk's `fetch` is counted, ours by the
//! emulator, our cache being off), and not at all otherwise.
//!
//! Needs Node.js (>= 20.9) and npm, as `differential.rs` (`npm ci` runs in
//! `tests/differential/` when `@clerk/backend` is missing there). Without them the test
//! fails, it never skips. `DIFFERENTIAL_VERBOSE=1` prints every case with both messages.
//! The deviations are listed in `docs/clerk-compatibility.md`, section "Machine tokens".

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

use clerk_auth::{Accepts, Caller, Clock, FixedClock, MachineOptions, TokenType, Verifier};
use clerk_emulator::machines::{NewApiKey, NewM2mToken, NewOAuthToken};
use clerk_emulator::{
    Algorithm, Emulator, EmulatorServer, Organization, SigningKey, TokenBuilder, TokenFormat,
    CAT_IGNORE, CAT_JWT_TEMPLATE, CAT_M2M, CAT_SESSION,
};
use serde_json::{json, Value};

/// The instant both sides see: 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600;
/// The fixed seed of every id: the same tokens on every run.
const SEED: u64 = 0x00C1_E4C0_FFEE_0507;
/// The least number of cases.
const MIN_CASES: usize = 600;
/// The authorized parties of both sides (session tokens only: machine tokens have no `azp`
/// check in Clerk, nor in ours).
const PARTIES: [&str; 2] = ["http://localhost:3000", "https://app.example.com"];
/// The machine the M2M tokens are issued to talk to (their `aud`).
const TARGET_MACHINE: &str = "mch_2xhFjEI5X2qWRvtV13BzSj8H6Dk";
/// The audience of [`Config::Audience`]: an API and a machine id.
const AUDIENCE: [&str; 2] = ["https://api.example.com", TARGET_MACHINE];
/// Clerk's secret key for the emulated instance (authenticateRequest requires one).
const SECRET_KEY: &str = "sk_test_differentialMachineTokens0000000000000";
/// A secret key of no instance, for [`Config::WrongSecretKey`].
const WRONG_SECRET_KEY: &str = "sk_test_differentialMachineTokensWrong00000000";

const MISMATCH: Expect = Expect::Reject("token-type-mismatch");

/// Where we knowingly differ from Clerk's `authenticateRequest` 3.25.0. Each variant is a
/// request shape with exactly one result on each side; the generator (or [`route`]) assigns
/// it. `docs/clerk-compatibility.md` has the same list with the reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Deviation {
    /// No token, and the session token accepted (`"any"`, `session_token`, or a list with
    /// it). Clerk goes to its cookie flow, which for a development instance without a
    /// dev-browser token says `dev-browser-missing`; we read the `__session` cookie only and
    /// say `session-token-missing`.
    NoTokenCookieFlow,
    /// No token, one machine type alone: Clerk's reason is the sentence "No token in header";
    /// ours is `token-missing`, a reason in Clerk's style.
    NoTokenMachine,
    /// No token, a list of machine types without the session token: Clerk checks the type
    /// `session_token` against the list (`token-type-mismatch`); we say `token-missing`.
    NoTokenList,
    /// An expired session token. Clerk's header flow turns `token-expired` into its refresh
    /// flow's reason `session-token-expired-refresh-non-eligible-no-refresh-cookie`; we keep
    /// `verifyToken`'s reason (we never refresh: an API has no `__refresh` cookie).
    SessionExpired,
    /// A session token not yet valid (`nbf`): Clerk `session-token-nbf` (its handshake
    /// flow's reason), ours `token-not-active-yet` as `verifyToken`.
    SessionNotActiveYet,
    /// A session token issued in the future (`iat`): Clerk `session-token-iat-in-the-future`,
    /// ours `token-iat-in-the-future` as `verifyToken`.
    SessionIatInTheFuture,
    /// `sts: "pending"`: Clerk's state is signed in (its `toAuth()` is signed out); we refuse
    /// at verification with `session-pending` (as in `differential.rs`).
    PendingSession,
    /// A session token without `sid`: Clerk accepts; we take it for a JWT-template token
    /// (as in `differential.rs`).
    NoSessionId,
    /// A session token signed with RS384: Clerk's PEM-derived key says RS256 and WebCrypto
    /// throws (`token-verification-failed`); we allow RS256 only (as in `differential.rs`).
    OtherRsaAlgorithm,
    /// An audience is configured and `aud` is a number: Clerk's lenient rule (session tokens
    /// and M2M JWTs) checks only strings and string arrays, so the token passes; we refuse an
    /// `aud` that names no audience.
    AudienceNotString,
    /// An OAuth JWT whose `sub` is `""`: Clerk only requires a string; we require a
    /// non-empty subject (as for session tokens).
    EmptyOAuthSubject,
    /// An M2M JWT whose `scopes` claim is not a string (an array): Clerk calls
    /// `scopes.split(' ')` on it and `authenticateRequest` throws a `TypeError`; we fall back
    /// to `aud`, as for a missing `scopes`.
    M2mScopesNotString,
    /// Scopes given as a single string where Clerk expects an array (an OAuth `scp` string,
    /// or an M2M `aud` string read when `scopes` is absent): Clerk's `scopes` is that string
    /// itself, so `scopes.includes("read")` is a substring test; we split it on spaces.
    ScopesString,
    /// Scopes with empty entries (`"read  write"`, `""`): Clerk's `split(' ')` keeps empty
    /// strings as scopes; we drop them.
    EmptyScopeEntries,
    /// A `crit` header on a machine JWT: Clerk ignores it and accepts; we understand no
    /// extension and refuse (as for session tokens).
    MachineCritHeader,
}

impl Deviation {
    /// What Clerk's `authenticateRequest` 3.25.0 does.
    fn clerk(self) -> Expect {
        use Deviation::*;
        match self {
            NoTokenCookieFlow => Expect::Reject("dev-browser-missing"),
            NoTokenMachine => Expect::Reject("No token in header"),
            NoTokenList => MISMATCH,
            SessionExpired => {
                Expect::Reject("session-token-expired-refresh-non-eligible-no-refresh-cookie")
            }
            SessionNotActiveYet => Expect::Reject("session-token-nbf"),
            SessionIatInTheFuture => Expect::Reject("session-token-iat-in-the-future"),
            OtherRsaAlgorithm => FAILED,
            M2mScopesNotString => Expect::Crash("TypeError"),
            PendingSession | NoSessionId | AudienceNotString | EmptyOAuthSubject | ScopesString
            | EmptyScopeEntries | MachineCritHeader => Expect::Accept,
        }
    }

    /// What we do.
    fn ours(self) -> Expect {
        use Deviation::*;
        match self {
            NoTokenCookieFlow => Expect::Reject("session-token-missing"),
            NoTokenMachine | NoTokenList => Expect::Reject("token-missing"),
            SessionExpired => Expect::Reject("token-expired"),
            SessionNotActiveYet => Expect::Reject("token-not-active-yet"),
            SessionIatInTheFuture => Expect::Reject("token-iat-in-the-future"),
            PendingSession => Expect::Reject("session-pending"),
            NoSessionId => MISMATCH,
            OtherRsaAlgorithm => ALGORITHM,
            AudienceNotString | EmptyOAuthSubject => FAILED,
            MachineCritHeader => INVALID,
            M2mScopesNotString | ScopesString | EmptyScopeEntries => Expect::Accept,
        }
    }
}

/// Verifier settings a token is judged with; both sides get the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Config {
    /// [`PARTIES`], no audience, the default skew (5 s; not passed explicitly).
    Default,
    /// [`PARTIES`] and the audience [`AUDIENCE`].
    Audience,
    /// [`PARTIES`] and no clock skew.
    NoSkew,
    /// The default settings, and a secret key the Backend API does not know.
    WrongSecretKey,
}

/// An `acceptsToken` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    /// `"any"`.
    Any,
    /// One type, as a string.
    One(TokenType),
    /// An array of types.
    List(&'static [TokenType]),
}

use TokenType::{ApiKey, M2mToken, OAuthToken, SessionToken};

/// Every setting each token is sent under.
const SETTINGS: [Setting; 11] = [
    Setting::Any,
    Setting::One(SessionToken),
    Setting::One(ApiKey),
    Setting::One(M2mToken),
    Setting::One(OAuthToken),
    Setting::List(&[SessionToken, ApiKey]),
    Setting::List(&[M2mToken]),
    Setting::List(&[OAuthToken, ApiKey]),
    Setting::List(&[SessionToken]),
    Setting::List(&[SessionToken, M2mToken, OAuthToken]),
    Setting::List(&[]),
];

impl Setting {
    fn json(self) -> Value {
        match self {
            Setting::Any => json!("any"),
            Setting::One(t) => json!(t.as_str()),
            Setting::List(types) => Value::Array(types.iter().map(|t| json!(t.as_str())).collect()),
        }
    }

    fn accepts(self) -> Accepts {
        match self {
            Setting::Any => Accepts::ANY,
            Setting::One(t) => Accepts::only(t),
            Setting::List(types) => Accepts::of(types),
        }
    }

    fn label(self) -> String {
        match self {
            Setting::Any => "any".to_owned(),
            Setting::One(t) => t.as_str().to_owned(),
            Setting::List(types) => format!(
                "[{}]",
                types
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }
}

/// What a token is to Clerk's `authenticateRequest`: `isMachineToken` and
/// `getMachineTokenType` (src/tokens/machine.ts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Not a machine token: it goes down the session path.
    Session,
    /// A machine token by its prefix (`mt_`, `oat_`, `ak_`), verified by the Backend API.
    Opaque(TokenType),
    /// An M2M JWT (`sub` `mch_…`) or an OAuth JWT (`typ` `at+jwt`), verified locally.
    MachineJwt(TokenType),
}

/// The result on one of Clerk's paths: the same on both sides, or a deviation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Same(Expect),
    Deviates(Deviation),
    /// Decided by the Backend API: not a case of this test.
    NeedsBackend,
}

/// A token (or no token) and what it gets on each path.
struct Spec {
    category: &'static str,
    label: String,
    /// `None`: no `Authorization` header.
    token: Option<String>,
    config: Config,
    kind: Kind,
    /// The result of the session path (`verifyToken` inside `authenticateRequest`), when
    /// the token can take it.
    session: Option<Verdict>,
    /// The result of the machine path (`verifyMachineAuthToken`), for machine tokens.
    machine: Option<Verdict>,
    /// For a scopes deviation: Clerk's `scopes` value and ours.
    scopes: Option<(Value, Vec<&'static str>)>,
}

/// One request: a token under one setting.
struct Case {
    id: String,
    category: &'static str,
    spec: usize,
    setting: Setting,
    /// What Clerk must say (the deviation's Clerk result when there is one).
    clerk: Expect,
    /// Clerk's `tokenType` on the state (`None` for its "invalid token" state).
    clerk_type: Option<&'static str>,
    deviation: Option<Deviation>,
    /// Whether each side must ask the Backend API (once).
    backend: bool,
}

impl Case {
    fn ours(&self) -> Expect {
        match self.deviation {
            Some(d) => d.ours(),
            None => self.clerk,
        }
    }
}

/// Where [`route`] sends a request.
struct Routed {
    verdict: Verdict,
    /// Clerk's `tokenType` on the state.
    clerk_type: Option<&'static str>,
    /// Whether the Backend API is asked (an opaque token on the machine path).
    backend: bool,
}

/// Clerk's `authenticateRequest` routing (src/tokens/request.ts): which path a token takes
/// under a setting, and the state's `tokenType`. `None` when the Backend API decides and the
/// run has none.
fn route(spec: &Spec, setting: Setting) -> Option<Routed> {
    let found = match spec.kind {
        Kind::Session => SessionToken,
        Kind::Opaque(t) | Kind::MachineJwt(t) => t,
    };
    let session = || {
        let verdict = spec
            .session
            .expect("a session verdict for a session-path token");
        (verdict, Some(SessionToken.as_str()))
    };
    let machine = || {
        let verdict = spec.machine.expect("a machine verdict for a machine token");
        (verdict, Some(found.as_str()))
    };
    let mut backend = false;
    let routed = match (setting, &spec.token) {
        // No token: the types are checked as if it were a session token, then the cookie
        // flow runs, except for a single machine type.
        (Setting::List(types), None) if !types.contains(&SessionToken) => {
            (Verdict::Deviates(Deviation::NoTokenList), None)
        }
        (Setting::One(t), None) if t != SessionToken => (
            Verdict::Deviates(Deviation::NoTokenMachine),
            Some(t.as_str()),
        ),
        (_, None) => (
            Verdict::Deviates(Deviation::NoTokenCookieFlow),
            Some(SessionToken.as_str()),
        ),
        // A list: a type not in it is an "invalid token" state before anything else.
        (Setting::List(types), Some(_)) if !types.contains(&found) => {
            (Verdict::Same(MISMATCH), None)
        }
        (Setting::Any | Setting::List(_), Some(_)) => match spec.kind {
            Kind::Session => session(),
            _ => {
                backend = matches!(spec.kind, Kind::Opaque(_));
                machine()
            }
        },
        // The session token alone: a machine JWT is a mismatch, an opaque token a malformed
        // JWT.
        (Setting::One(SessionToken), Some(_)) => match spec.kind {
            Kind::MachineJwt(_) => (Verdict::Same(MISMATCH), Some(SessionToken.as_str())),
            _ => session(),
        },
        (Setting::One(t), Some(_)) => match spec.kind {
            Kind::Opaque(_) | Kind::MachineJwt(_) if found == t => {
                backend = matches!(spec.kind, Kind::Opaque(_));
                machine()
            }
            _ => (Verdict::Same(MISMATCH), Some(t.as_str())),
        },
    };
    let (verdict, clerk_type) = routed;
    (verdict != Verdict::NeedsBackend).then_some(Routed {
        verdict,
        clerk_type,
        backend,
    })
}

/// SplitMix64: a tiny, seeded, reproducible generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn alphanumeric(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        (0..len)
            .map(|_| char::from(ALPHABET[(self.next() % ALPHABET.len() as u64) as usize]))
            .collect()
    }

    fn clerk_id(&mut self, prefix: &str) -> String {
        format!("{prefix}_{}", self.alphanumeric(27))
    }

    fn hex32(&mut self) -> String {
        format!("{:016x}{:016x}", self.next(), self.next())
    }
}

struct Generator {
    key: SigningKey,
    other: SigningKey,
    rng: Rng,
    specs: Vec<Spec>,
}

impl Generator {
    /// A valid v2 session token minted at [`NOW`], with seeded ids and `azp` = a party.
    fn session(&mut self) -> TokenBuilder {
        let user = self.rng.clerk_id("user");
        let session = self.rng.clerk_id("sess");
        let jti = format!("{:020x}", self.rng.next() >> 4);
        TokenBuilder::new(&self.key)
            .at(NOW)
            .user(user)
            .session(session)
            .jti(jti)
            .azp(PARTIES[0])
    }

    /// An M2M JWT as Clerk mints them (the fixture `mockM2MJwtPayload`): header `typ` `JWT`
    /// and `cat` M2M; `sub` `mch_…`, `aud` [the target machine], `scopes` a space-separated
    /// string of machine ids, `jti` `mt_…`, and a custom claim.
    fn m2m(&mut self) -> TokenBuilder {
        let machine = self.rng.clerk_id("mch");
        let third = self.rng.clerk_id("mch");
        let jti = format!("mt_{}", self.rng.hex32());
        TokenBuilder::new(&self.key)
            .at(NOW)
            .header("typ", "JWT")
            .header("cat", CAT_M2M)
            .remove_claim("sid")
            .remove_claim("azp")
            .remove_claim("v")
            .remove_claim("fva")
            .remove_claim("sts")
            .user(machine)
            .claim("aud", json!([TARGET_MACHINE]))
            .claim("scopes", format!("{TARGET_MACHINE} {third}"))
            .jti(jti)
            .claim("important_metadata", "Some useful data")
    }

    /// An OAuth access token JWT (the fixture `mockSignedOAuthAccessTokenJwt`): header `typ`
    /// `at+jwt`, no `cat`; `sub` `user_…`, `client_id`, `scope` a string, `jti` `oat_…`,
    /// `azp` and `sid`.
    fn oauth(&mut self) -> TokenBuilder {
        let user = self.rng.clerk_id("user");
        let client = self.rng.clerk_id("client");
        let session = self.rng.clerk_id("sess");
        let jti = format!("oat_{}", self.rng.hex32());
        TokenBuilder::new(&self.key)
            .at(NOW)
            .header("typ", "at+jwt")
            .remove_header("cat")
            .remove_claim("v")
            .remove_claim("fva")
            .remove_claim("sts")
            .user(user)
            .session(session)
            .azp(PARTIES[0])
            .jti(jti)
            .claim("client_id", client)
            .claim("scope", "read:foo write:bar")
    }

    fn push(&mut self, spec: Spec) {
        self.specs.push(spec);
    }

    /// A token that is not a machine token to Clerk: it takes the session path.
    fn session_case(&mut self, category: &'static str, label: &str, token: String, v: Verdict) {
        self.session_with(category, label, token, Config::Default, v);
    }

    fn session_with(
        &mut self,
        category: &'static str,
        label: &str,
        token: String,
        config: Config,
        v: Verdict,
    ) {
        self.push(Spec {
            category,
            label: label.to_owned(),
            token: Some(token),
            config,
            kind: Kind::Session,
            session: Some(v),
            machine: None,
            scopes: None,
        });
    }

    /// A machine JWT of type `t`.
    fn machine_case(
        &mut self,
        category: &'static str,
        label: &str,
        token: String,
        t: TokenType,
        v: Verdict,
    ) {
        self.machine_with(category, label, token, Config::Default, t, v);
    }

    fn machine_with(
        &mut self,
        category: &'static str,
        label: &str,
        token: String,
        config: Config,
        t: TokenType,
        v: Verdict,
    ) {
        self.push(Spec {
            category,
            label: label.to_owned(),
            token: Some(token),
            config,
            kind: Kind::MachineJwt(t),
            session: None,
            machine: Some(v),
            scopes: None,
        });
    }

    /// A machine JWT whose scopes Clerk and we read differently.
    fn scopes_case(
        &mut self,
        label: &str,
        token: String,
        t: TokenType,
        d: Deviation,
        clerk: Value,
        ours: Vec<&'static str>,
    ) {
        self.push(Spec {
            category: "scopes",
            label: label.to_owned(),
            token: Some(token),
            config: Config::Default,
            kind: Kind::MachineJwt(t),
            session: None,
            machine: Some(Verdict::Deviates(d)),
            scopes: Some((clerk, ours)),
        });
    }

    /// An opaque token: a malformed JWT on the session path, a Backend API call on the
    /// machine path.
    fn opaque_case(&mut self, label: &str, token: String, t: TokenType) {
        self.push(Spec {
            category: "opaque",
            label: label.to_owned(),
            token: Some(token),
            config: Config::Default,
            kind: Kind::Opaque(t),
            session: Some(Verdict::Same(INVALID)),
            machine: Some(Verdict::NeedsBackend),
            scopes: None,
        });
    }
}

use Verdict::{Deviates, Same};

const ACCEPT: Verdict = Same(Expect::Accept);

fn session_tokens(g: &mut Generator) {
    let c = "session";
    let t = g.session().sign();
    g.session_case(c, "valid-v2", t, ACCEPT);
    let org = Organization::new(g.rng.clerk_id("org"))
        .slug("acme")
        .role("org:admin")
        .permission("org:posts:read");
    let t = g.session().v1().organization(org.clone()).sign();
    g.session_case(c, "valid-v1-org", t, ACCEPT);
    let t = g.session().organization(org).sign();
    g.session_case(c, "valid-v2-org", t, ACCEPT);
    let t = g.session().remove_header("cat").sign();
    g.session_case(c, "no-cat", t, ACCEPT);
    let t = g.session().remove_header("typ").sign();
    g.session_case(c, "no-typ", t, ACCEPT);
    let t = g.session().header("cat", CAT_IGNORE).sign();
    g.session_case(c, "cat-ignore", t, ACCEPT);
    let t = g.session().azp(PARTIES[1]).sign();
    g.session_case(c, "second-party", t, ACCEPT);
    // authenticateRequest refuses every non-session category before verifying
    // (hasNonSessionJwtCategory), so the template category is no deviation here.
    let t = g.session().header("cat", CAT_JWT_TEMPLATE).sign();
    g.session_case(c, "cat-template", t, Same(MISMATCH));
    let t = g.session().header("cat", CAT_M2M).sign();
    g.session_case(c, "cat-m2m-user-sub", t, Same(MISMATCH));
    let t = g.session().header("cat", "cl_unknown").sign();
    g.session_case(c, "cat-unknown", t, Same(MISMATCH));
    let t = g
        .session()
        .header("cat", CAT_M2M)
        .signed_by(&g.other.clone())
        .sign();
    g.session_case(c, "cat-m2m-forged", t, Same(MISMATCH));

    let c = "session-time";
    let t = g.session().exp(NOW - 60).sign();
    g.session_case(c, "expired", t, Deviates(Deviation::SessionExpired));
    let t = g
        .session()
        .iat(NOW - 120)
        .nbf(NOW - 120)
        .exp(NOW - 5)
        .sign();
    g.session_case(
        c,
        "exp-now-minus-skew",
        t,
        Deviates(Deviation::SessionExpired),
    );
    let t = g
        .session()
        .iat(NOW - 120)
        .nbf(NOW - 120)
        .exp(NOW - 4)
        .sign();
    g.session_case(c, "exp-inside-skew", t, ACCEPT);
    let t = g.session().nbf(NOW + 60).sign();
    g.session_case(c, "nbf-future", t, Deviates(Deviation::SessionNotActiveYet));
    let t = g.session().nbf(NOW + 5).sign();
    g.session_case(c, "nbf-inside-skew", t, ACCEPT);
    let t = g.session().iat(NOW + 60).exp(NOW + 120).sign();
    g.session_case(
        c,
        "iat-future",
        t,
        Deviates(Deviation::SessionIatInTheFuture),
    );
    let t = g.session().remove_claim("exp").sign();
    g.session_case(c, "no-exp", t, Same(FAILED));
    let t = g.session().claim("exp", "soon").sign();
    g.session_case(c, "exp-string", t, Same(FAILED));
    let t = g.session().exp(NOW).sign();
    g.session_with(
        c,
        "exp-now-no-skew",
        t,
        Config::NoSkew,
        Deviates(Deviation::SessionExpired),
    );
    let t = g.session().exp(NOW + 1).sign();
    g.session_with(c, "exp-next-second-no-skew", t, Config::NoSkew, ACCEPT);
    let t = g.session().nbf(NOW + 1).sign();
    g.session_with(
        c,
        "nbf-next-second-no-skew",
        t,
        Config::NoSkew,
        Deviates(Deviation::SessionNotActiveYet),
    );

    let c = "session-broken";
    let other = g.other.clone();
    let t = g.session().signed_by(&other).sign();
    g.session_case(c, "wrong-key", t, Same(SIGNATURE));
    let t = g.session().compact().corrupt_signature().to_string();
    g.session_case(c, "flipped-bit", t, Same(SIGNATURE));
    let t = g.session().exp(NOW - 60).signed_by(&other).sign();
    g.session_case(c, "expired-and-forged", t, Same(SIGNATURE));
    let t = g.session().remove_claim("azp").sign();
    g.session_case(c, "no-azp", t, Same(PARTY));
    let t = g.session().azp("https://evil.example.com").sign();
    g.session_case(c, "other-azp", t, Same(PARTY));
    let t = g.session().remove_claim("sub").sign();
    g.session_case(c, "no-sub", t, Same(FAILED));
    let t = g.session().claim("sub", 42).sign();
    g.session_case(c, "sub-number", t, Same(FAILED));
    let t = g.session().header("alg", "HS256").sign();
    g.session_case(c, "alg-hs256", t, Same(ALGORITHM));
    let t = g.session().header("alg", "none").sign();
    g.session_case(c, "alg-none", t, Same(ALGORITHM));
    let t = g.session().algorithm(Algorithm::RS384).sign();
    g.session_case(c, "rs384", t, Deviates(Deviation::OtherRsaAlgorithm));
    let t = g.session().header("typ", "JWS").sign();
    g.session_case(c, "typ-jws", t, Same(INVALID));
    // Not `at+jwt` exactly (Clerk compares case-sensitively): not an OAuth JWT, so a
    // session token with a wrong `typ`.
    let t = g.session().header("typ", "AT+JWT").sign();
    g.session_case(c, "typ-at+jwt-upper", t, Same(INVALID));
    let t = g.session().header("typ", "at+jwt ").sign();
    g.session_case(c, "typ-at+jwt-space", t, Same(INVALID));
    let t = g.session().status("pending").sign();
    g.session_case(c, "pending", t, Deviates(Deviation::PendingSession));
    let t = g.session().remove_claim("sid").sign();
    g.session_case(c, "no-sid", t, Deviates(Deviation::NoSessionId));
    g.session_case(c, "three-words", "not.a.jwt".to_owned(), Same(INVALID));
    g.session_case(c, "one-word", "garbage".to_owned(), Same(INVALID));
    // An M2M JWT with an empty signature segment fails Clerk's JWT format test
    // (`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`), so it is no machine token: its M2M
    // category is a mismatch on the session path, and without one the signature is wrong.
    let t = g.m2m().signature_bytes(Vec::new()).sign();
    g.session_case(c, "m2m-empty-signature", t, Same(MISMATCH));
    let t = g
        .m2m()
        .remove_header("cat")
        .signature_bytes(Vec::new())
        .sign();
    g.session_case(c, "m2m-no-cat-empty-signature", t, Same(SIGNATURE));

    // The lenient audience rule of verifyToken: checked only when both the option and the
    // token's `aud` are non-empty.
    let c = "session-aud";
    let a = Config::Audience;
    let t = g.session().sign();
    g.session_with(c, "absent", t, a, ACCEPT);
    let t = g.session().claim("aud", AUDIENCE[0]).sign();
    g.session_with(c, "configured", t, a, ACCEPT);
    let t = g.session().claim("aud", "https://other.example.com").sign();
    g.session_with(c, "other", t, a, Same(FAILED));
    let t = g
        .session()
        .claim("aud", json!(["https://other.example.com", AUDIENCE[0]]))
        .sign();
    g.session_with(c, "array-with-configured", t, a, ACCEPT);
    let t = g
        .session()
        .claim("aud", json!(["https://other.example.com"]))
        .sign();
    g.session_with(c, "array-other", t, a, Same(FAILED));
    let t = g.session().claim("aud", "").sign();
    g.session_with(c, "empty-string", t, a, ACCEPT);
    let t = g.session().claim("aud", json!([])).sign();
    g.session_with(c, "empty-array", t, a, ACCEPT);
    let t = g.session().claim("aud", json!(["", AUDIENCE[0]])).sign();
    g.session_with(c, "array-empty-and-configured", t, a, ACCEPT);
    let t = g.session().claim("aud", 123).sign();
    g.session_with(c, "number", t, a, Deviates(Deviation::AudienceNotString));
    let t = g.session().claim("aud", "https://other.example.com").sign();
    g.session_with(c, "other-no-audience", t, Config::Default, ACCEPT);
}

fn m2m_tokens(g: &mut Generator) {
    let c = "m2m";
    let m = M2mToken;
    let t = g.m2m().sign();
    g.machine_case(c, "valid", t, m, ACCEPT);
    let t = g.m2m().remove_header("cat").sign();
    g.machine_case(c, "no-cat", t, m, ACCEPT);
    let t = g.m2m().remove_header("typ").sign();
    g.machine_case(c, "no-typ", t, m, ACCEPT);
    let t = g.m2m().remove_header("kid").sign();
    g.machine_case(c, "no-kid", t, m, ACCEPT);
    let t = g.m2m().remove_claim("scopes").sign();
    g.machine_case(c, "scopes-from-aud", t, m, ACCEPT);
    let t = g.m2m().remove_claim("scopes").remove_claim("aud").sign();
    g.machine_case(c, "no-scopes-no-aud", t, m, ACCEPT);
    let t = g.m2m().claim("scopes", TARGET_MACHINE).sign();
    g.machine_case(c, "one-scope", t, m, ACCEPT);
    let t = g.m2m().remove_claim("jti").sign();
    g.machine_case(c, "no-jti", t, m, ACCEPT);
    let t = g
        .m2m()
        .claim("meta", json!({"team": "billing", "tier": [1, 2]}))
        .claim("flag", true)
        .sign();
    g.machine_case(c, "custom-claims", t, m, ACCEPT);
    let t = g
        .m2m()
        .remove_claim("important_metadata")
        .remove_claim("aud")
        .remove_claim("scopes")
        .sign();
    g.machine_case(c, "no-custom-claims", t, m, ACCEPT);
    let t = g.m2m().azp("https://evil.example.com").sign();
    g.machine_case(c, "foreign-azp", t, m, ACCEPT);
    let t = g.m2m().issuer("https://clerk.other.example.com").sign();
    g.machine_case(c, "other-iss", t, m, ACCEPT);
    let t = g.m2m().user("mch_").sign();
    g.machine_case(c, "bare-mch-prefix", t, m, ACCEPT);
    let sid = g.rng.clerk_id("sess");
    let t = g.m2m().session(sid).claim("sts", "active").sign();
    g.machine_case(c, "session-claims", t, m, ACCEPT);
    let t = g.m2m().remove_claim("nbf").remove_claim("iat").sign();
    g.machine_case(c, "no-nbf-no-iat", t, m, ACCEPT);

    let c = "m2m-time";
    let t = g.m2m().exp(NOW - 60).sign();
    g.machine_case(c, "expired", t, m, Same(FAILED));
    let t = g.m2m().iat(NOW - 120).nbf(NOW - 120).exp(NOW - 5).sign();
    g.machine_case(c, "exp-now-minus-skew", t, m, Same(FAILED));
    let t = g.m2m().iat(NOW - 120).nbf(NOW - 120).exp(NOW - 4).sign();
    g.machine_case(c, "exp-inside-skew", t, m, ACCEPT);
    let t = g.m2m().nbf(NOW + 60).sign();
    g.machine_case(c, "nbf-future", t, m, Same(FAILED));
    let t = g.m2m().nbf(NOW + 5).sign();
    g.machine_case(c, "nbf-inside-skew", t, m, ACCEPT);
    let t = g.m2m().nbf(NOW + 6).sign();
    g.machine_case(c, "nbf-past-skew", t, m, Same(FAILED));
    let t = g.m2m().iat(NOW + 60).exp(NOW + 120).sign();
    g.machine_case(c, "iat-future", t, m, Same(FAILED));
    let t = g.m2m().remove_claim("exp").sign();
    g.machine_case(c, "no-exp", t, m, Same(FAILED));
    let t = g.m2m().claim("exp", "soon").sign();
    g.machine_case(c, "exp-string", t, m, Same(FAILED));
    let t = g.m2m().claim("nbf", "now").sign();
    g.machine_case(c, "nbf-string", t, m, Same(FAILED));
    let t = g.m2m().exp(NOW).sign();
    g.machine_with(c, "exp-now-no-skew", t, Config::NoSkew, m, Same(FAILED));
    let t = g.m2m().exp(NOW + 1).sign();
    g.machine_with(c, "exp-next-second-no-skew", t, Config::NoSkew, m, ACCEPT);
    let t = g.m2m().nbf(NOW + 1).sign();
    g.machine_with(
        c,
        "nbf-next-second-no-skew",
        t,
        Config::NoSkew,
        m,
        Same(FAILED),
    );

    let c = "m2m-broken";
    let other = g.other.clone();
    let t = g.m2m().signed_by(&other).sign();
    g.machine_case(c, "wrong-key", t, m, Same(FAILED));
    let t = g.m2m().compact().corrupt_signature().to_string();
    g.machine_case(c, "flipped-bit", t, m, Same(FAILED));
    let t = g.m2m().exp(NOW - 60).signed_by(&other).sign();
    g.machine_case(c, "expired-and-forged", t, m, Same(FAILED));
    let t = g.m2m().header("cat", CAT_SESSION).sign();
    g.machine_case(c, "cat-session", t, m, Same(INVALID));
    let t = g.m2m().header("cat", CAT_IGNORE).sign();
    g.machine_case(c, "cat-ignore", t, m, Same(INVALID));
    let t = g.m2m().header("cat", CAT_JWT_TEMPLATE).sign();
    g.machine_case(c, "cat-template", t, m, Same(INVALID));
    let t = g.m2m().header("cat", "cl_b7d4pd333aaa").sign();
    g.machine_case(c, "cat-lowercase", t, m, Same(INVALID));
    let t = g.m2m().header("cat", CAT_SESSION).signed_by(&other).sign();
    g.machine_case(c, "cat-session-forged", t, m, Same(INVALID));
    // `sub` `mch_…` is read before `typ`: an M2M JWT whatever its `typ`, and then its `typ`
    // must be `JWT`.
    let t = g.m2m().header("typ", "at+jwt").sign();
    g.machine_case(c, "typ-at+jwt", t, m, Same(FAILED));
    let t = g.m2m().header("typ", "application/at+jwt").sign();
    g.machine_case(c, "typ-application-at+jwt", t, m, Same(FAILED));
    let t = g.m2m().header("typ", "jwt").sign();
    g.machine_case(c, "typ-lowercase", t, m, Same(FAILED));
    let t = g.m2m().header("typ", 1).sign();
    g.machine_case(c, "typ-number", t, m, Same(FAILED));
    let t = g.m2m().header("alg", "HS256").sign();
    g.machine_case(c, "alg-hs256", t, m, Same(FAILED));
    let t = g.m2m().header("alg", "none").sign();
    g.machine_case(c, "alg-none", t, m, Same(FAILED));
    let t = g.m2m().header("alg", "ES256").sign();
    g.machine_case(c, "alg-es256", t, m, Same(FAILED));
    let t = g.m2m().remove_header("alg").sign();
    g.machine_case(c, "no-alg", t, m, Same(FAILED));
    let t = g.m2m().algorithm(Algorithm::RS384).sign();
    g.machine_case(c, "rs384", t, m, Same(FAILED));
    let t = g.m2m().algorithm(Algorithm::RS512).sign();
    g.machine_case(c, "rs512", t, m, Same(FAILED));
    let t = g.m2m().header("crit", json!(["exp"])).sign();
    g.machine_case(c, "crit", t, m, Deviates(Deviation::MachineCritHeader));

    // The lenient audience rule applies to M2M JWTs too.
    let c = "m2m-aud";
    let a = Config::Audience;
    let t = g.m2m().sign();
    g.machine_with(c, "target-machine", t, a, m, ACCEPT);
    let t = g.m2m().claim("aud", json!(["mch_someoneElse"])).sign();
    g.machine_with(c, "other-machine", t, a, m, Same(FAILED));
    let t = g.m2m().remove_claim("aud").sign();
    g.machine_with(c, "absent", t, a, m, ACCEPT);
    let t = g.m2m().claim("aud", TARGET_MACHINE).sign();
    g.machine_with(c, "string", t, a, m, ACCEPT);
    let t = g.m2m().claim("aud", json!([])).sign();
    g.machine_with(c, "empty-array", t, a, m, ACCEPT);
    let t = g.m2m().claim("aud", json!(["", "mch_someoneElse"])).sign();
    g.machine_with(c, "empty-and-other", t, a, m, Same(FAILED));
    let t = g.m2m().claim("aud", 123).sign();
    g.machine_with(c, "number", t, a, m, Deviates(Deviation::AudienceNotString));
    let t = g.m2m().claim("aud", json!(["mch_someoneElse"])).sign();
    g.machine_case(c, "other-machine-no-audience", t, m, ACCEPT);
}

fn oauth_tokens(g: &mut Generator) {
    let c = "oauth";
    let o = OAuthToken;
    let t = g.oauth().sign();
    g.machine_case(c, "valid", t, o, ACCEPT);
    let t = g.oauth().header("typ", "application/at+jwt").sign();
    g.machine_case(c, "typ-application-at+jwt", t, o, ACCEPT);
    let t = g
        .oauth()
        .remove_claim("scope")
        .claim("scp", json!(["read", "write"]))
        .sign();
    g.machine_case(c, "scp-array", t, o, ACCEPT);
    let t = g.oauth().claim("scp", json!(["admin"])).sign();
    g.machine_case(c, "scp-over-scope", t, o, ACCEPT);
    let t = g.oauth().claim("scp", json!([])).sign();
    g.machine_case(c, "scp-empty-array", t, o, ACCEPT);
    let t = g.oauth().remove_claim("scope").sign();
    g.machine_case(c, "no-scopes", t, o, ACCEPT);
    let t = g.oauth().claim("scope", "profile").sign();
    g.machine_case(c, "one-scope", t, o, ACCEPT);
    let t = g.oauth().remove_claim("jti").sign();
    g.machine_case(c, "no-jti", t, o, ACCEPT);
    let t = g.oauth().remove_claim("client_id").sign();
    g.machine_case(c, "no-client-id", t, o, ACCEPT);
    let t = g.oauth().header("cat", CAT_M2M).sign();
    g.machine_case(c, "cat-m2m", t, o, ACCEPT);
    let t = g.oauth().header("cat", CAT_SESSION).sign();
    g.machine_case(c, "cat-session", t, o, ACCEPT);
    let t = g.oauth().azp("https://evil.example.com").sign();
    g.machine_case(c, "foreign-azp", t, o, ACCEPT);
    let t = g.oauth().remove_claim("azp").remove_claim("sid").sign();
    g.machine_case(c, "no-azp-no-sid", t, o, ACCEPT);
    let org = g.rng.clerk_id("org");
    let t = g.oauth().user(org).sign();
    g.machine_case(c, "org-subject", t, o, ACCEPT);
    let t = g
        .oauth()
        .claim(
            "act",
            json!({"sub": "user_actor", "iss": "https://idp.example.com"}),
        )
        .sign();
    g.machine_case(c, "actor", t, o, ACCEPT);

    let c = "oauth-broken";
    let other = g.other.clone();
    let t = g.oauth().exp(NOW - 60).sign();
    g.machine_case(c, "expired", t, o, Same(FAILED));
    let t = g.oauth().nbf(NOW + 60).sign();
    g.machine_case(c, "nbf-future", t, o, Same(FAILED));
    let t = g.oauth().iat(NOW + 60).exp(NOW + 120).sign();
    g.machine_case(c, "iat-future", t, o, Same(FAILED));
    let t = g.oauth().remove_claim("exp").sign();
    g.machine_case(c, "no-exp", t, o, Same(FAILED));
    let t = g.oauth().remove_claim("sub").sign();
    g.machine_case(c, "no-sub", t, o, Same(FAILED));
    let t = g.oauth().claim("sub", 7).sign();
    g.machine_case(c, "sub-number", t, o, Same(FAILED));
    let t = g.oauth().claim("sub", "").sign();
    g.machine_case(c, "sub-empty", t, o, Deviates(Deviation::EmptyOAuthSubject));
    let t = g.oauth().signed_by(&other).sign();
    g.machine_case(c, "wrong-key", t, o, Same(FAILED));
    let t = g.oauth().compact().corrupt_signature().to_string();
    g.machine_case(c, "flipped-bit", t, o, Same(FAILED));
    let t = g.oauth().header("alg", "HS256").sign();
    g.machine_case(c, "alg-hs256", t, o, Same(FAILED));
    let t = g.oauth().header("alg", "none").sign();
    g.machine_case(c, "alg-none", t, o, Same(FAILED));
    let t = g.oauth().algorithm(Algorithm::RS512).sign();
    g.machine_case(c, "rs512", t, o, Same(FAILED));
    let t = g.oauth().header("crit", json!(["exp"])).sign();
    g.machine_case(c, "crit", t, o, Deviates(Deviation::MachineCritHeader));
    // A machine's subject makes it an M2M JWT, whose `typ` must then be `JWT`.
    let machine = g.rng.clerk_id("mch");
    let t = g.oauth().user(machine).sign();
    g.machine_case(c, "machine-subject", t, M2mToken, Same(FAILED));

    // The OAuth audience rule (assertOAuthAudienceClaim): with an audience configured, `aud`
    // is required, every value a non-empty string, one of them configured.
    let c = "oauth-aud";
    let a = Config::Audience;
    let t = g.oauth().sign();
    g.machine_with(c, "absent", t, a, o, Same(FAILED));
    let t = g.oauth().claim("aud", AUDIENCE[0]).sign();
    g.machine_with(c, "configured", t, a, o, ACCEPT);
    let t = g
        .oauth()
        .claim("aud", json!(["https://other.example.com", AUDIENCE[0]]))
        .sign();
    g.machine_with(c, "array-with-configured", t, a, o, ACCEPT);
    let t = g.oauth().claim("aud", "https://other.example.com").sign();
    g.machine_with(c, "other", t, a, o, Same(FAILED));
    let t = g.oauth().claim("aud", "").sign();
    g.machine_with(c, "empty-string", t, a, o, Same(FAILED));
    let t = g.oauth().claim("aud", json!([])).sign();
    g.machine_with(c, "empty-array", t, a, o, Same(FAILED));
    let t = g.oauth().claim("aud", json!([AUDIENCE[0], ""])).sign();
    g.machine_with(c, "configured-and-empty", t, a, o, Same(FAILED));
    let t = g.oauth().claim("aud", json!([AUDIENCE[0], 1])).sign();
    g.machine_with(c, "configured-and-number", t, a, o, Same(FAILED));
    let t = g.oauth().claim("aud", 123).sign();
    g.machine_with(c, "number", t, a, o, Same(FAILED));
    let t = g.oauth().claim("aud", "https://other.example.com").sign();
    g.machine_case(c, "other-no-audience", t, o, ACCEPT);
}

fn scope_shapes(g: &mut Generator) {
    use Deviation::{EmptyScopeEntries, ScopesString};
    let t = g.oauth().claim("scp", "read write").sign();
    g.scopes_case(
        "oauth-scp-string",
        t,
        OAuthToken,
        ScopesString,
        json!("read write"),
        vec!["read", "write"],
    );
    let t = g
        .m2m()
        .remove_claim("scopes")
        .claim("aud", TARGET_MACHINE)
        .sign();
    g.scopes_case(
        "m2m-aud-string",
        t,
        M2mToken,
        ScopesString,
        json!(TARGET_MACHINE),
        vec![TARGET_MACHINE],
    );
    let t = g.oauth().claim("scope", "read  write").sign();
    g.scopes_case(
        "oauth-double-space",
        t,
        OAuthToken,
        EmptyScopeEntries,
        json!(["read", "", "write"]),
        vec!["read", "write"],
    );
    let t = g.oauth().claim("scope", "").sign();
    g.scopes_case(
        "oauth-empty-scope",
        t,
        OAuthToken,
        EmptyScopeEntries,
        json!([""]),
        vec![],
    );
    let t = g.m2m().claim("scopes", format!(" {TARGET_MACHINE}")).sign();
    g.scopes_case(
        "m2m-leading-space",
        t,
        M2mToken,
        EmptyScopeEntries,
        json!(["", TARGET_MACHINE]),
        vec![TARGET_MACHINE],
    );
    let t = g.m2m().claim("scopes", "").sign();
    g.scopes_case(
        "m2m-empty-scopes",
        t,
        M2mToken,
        EmptyScopeEntries,
        json!([""]),
        vec![],
    );
    let t = g.m2m().claim("scopes", json!([TARGET_MACHINE])).sign();
    g.machine_case(
        "scopes",
        "m2m-scopes-array",
        t,
        M2mToken,
        Deviates(Deviation::M2mScopesNotString),
    );
}

fn opaque_tokens(g: &mut Generator) {
    // The API key of Clerk's fixtures: not hex, with `/` and `=`.
    g.opaque_case(
        "ak-fixture",
        "ak_LCWGdaM8mv8K4PC/57IICZQXAeWfCgF30DZaFXHoGn9=".to_owned(),
        ApiKey,
    );
    let hex = g.rng.hex32();
    g.opaque_case("ak-hex", format!("ak_{hex}"), ApiKey);
    let hex = g.rng.hex32();
    g.opaque_case("mt-hex", format!("mt_{hex}"), M2mToken);
    let hex = g.rng.hex32();
    g.opaque_case("oat-hex", format!("oat_{hex}"), OAuthToken);
    g.opaque_case("ak-bare-prefix", "ak_".to_owned(), ApiKey);
    // Prefixes are case-sensitive, and 3.25.0 has no legacy `m2m_` prefix (the Python SDK
    // has): these are no machine tokens, so malformed session tokens.
    for (label, prefix) in [
        ("upper-ak", "AK_"),
        ("mixed-ak", "Ak_"),
        ("upper-mt", "MT_"),
        ("upper-oat", "OAT_"),
        ("legacy-m2m", "m2m_"),
        ("no-underscore", "ak"),
        ("secret-key", "sk_test_"),
    ] {
        let hex = g.rng.hex32();
        g.session_case("opaque", label, format!("{prefix}{hex}"), Same(INVALID));
    }
}

fn no_token(g: &mut Generator) {
    g.push(Spec {
        category: "no-token",
        label: "no-header".to_owned(),
        token: None,
        config: Config::Default,
        kind: Kind::Session,
        session: None,
        machine: None,
        scopes: None,
    });
}

fn generator(key: SigningKey, other: SigningKey) -> Generator {
    Generator {
        key,
        other,
        rng: Rng(SEED),
        specs: Vec::new(),
    }
}

/// The networkless corpus: every JWT shape, and opaque tokens where no Backend API decides.
fn generate(key: SigningKey, other: SigningKey) -> (Vec<Spec>, Vec<Case>) {
    let mut g = generator(key, other);
    session_tokens(&mut g);
    m2m_tokens(&mut g);
    oauth_tokens(&mut g);
    scope_shapes(&mut g);
    opaque_tokens(&mut g);
    no_token(&mut g);
    let cases = cases_of(&g.specs);
    (g.specs, cases)
}

/// Each spec under every setting that [`route`] can judge.
fn cases_of(specs: &[Spec]) -> Vec<Case> {
    let mut cases = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        for setting in SETTINGS {
            let Some(Routed {
                verdict,
                clerk_type,
                backend,
            }) = route(spec, setting)
            else {
                continue;
            };
            let (clerk, deviation) = match verdict {
                Same(expect) => (expect, None),
                Deviates(d) => (d.clerk(), Some(d)),
                Verdict::NeedsBackend => unreachable!("filtered by route"),
            };
            cases.push(Case {
                id: format!(
                    "{}/{:03}-{}@{}",
                    spec.category,
                    index,
                    spec.label,
                    setting.label()
                ),
                category: spec.category,
                spec: index,
                setting,
                clerk,
                clerk_type,
                deviation,
                backend,
            });
        }
    }
    cases
}

/// Clerk's state for one case, as `authenticate.mjs` prints it.
#[derive(Debug)]
struct ClerkResult {
    thrown: Option<String>,
    is_authenticated: bool,
    token_type: Option<String>,
    reason: Option<String>,
    message: Option<String>,
    fetches: u64,
    auth: Value,
}

impl ClerkResult {
    fn from_json(value: &Value) -> ClerkResult {
        let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        ClerkResult {
            thrown: text("thrown"),
            is_authenticated: value["isAuthenticated"].as_bool().unwrap_or(false),
            token_type: text("tokenType"),
            reason: text("reason"),
            message: text("message"),
            fetches: value["fetches"].as_u64().expect("fetches is a number"),
            auth: value["auth"].clone(),
        }
    }

    fn is(&self, expect: Expect) -> bool {
        match expect {
            Expect::Accept => self.thrown.is_none() && self.is_authenticated,
            Expect::Reject(reason) => {
                self.thrown.is_none()
                    && !self.is_authenticated
                    && self.reason.as_deref() == Some(reason)
            }
            Expect::Crash(error) => self.thrown.as_deref() == Some(error),
        }
    }
}

impl fmt::Display for ClerkResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(thrown) = &self.thrown {
            return write!(
                f,
                "throws {thrown} \"{}\"",
                self.message.as_deref().unwrap_or("")
            );
        }
        let token_type = self.token_type.as_deref().unwrap_or("null");
        if self.is_authenticated {
            write!(f, "accepted as {token_type} {}", self.auth)
        } else {
            write!(
                f,
                "{} (tokenType {token_type}) \"{}\"",
                self.reason.as_deref().unwrap_or("?"),
                self.message.as_deref().unwrap_or("")
            )
        }
    }
}

/// What both sides are configured with.
struct Env {
    /// The instance's public key (PEM): every JWT is verified with it, networkless.
    pem: String,
    publishable_key: String,
    secret_key: String,
    /// The emulator's Backend API, for the opaque tokens; `None`: no network at all.
    api_url: Option<String>,
    /// The instant both sides see.
    now_ms: u64,
    /// Names the case file.
    tag: &'static str,
}

fn run_clerk(dir: &Path, specs: &[Spec], cases: &[Case], env: &Env) -> Vec<ClerkResult> {
    let input_cases: Vec<Value> = cases
        .iter()
        .map(|case| {
            let spec = &specs[case.spec];
            let mut entry = json!({
                "id": case.id,
                "token": spec.token,
                "acceptsToken": case.setting.json(),
            });
            match spec.config {
                Config::Default => {}
                Config::Audience => entry["audience"] = json!(AUDIENCE),
                Config::NoSkew => entry["clockSkewInMs"] = json!(0),
                Config::WrongSecretKey => entry["secretKey"] = json!(WRONG_SECRET_KEY),
            }
            entry
        })
        .collect();
    let mut input = json!({
        "jwtKey": env.pem,
        "secretKey": env.secret_key,
        "publishableKey": env.publishable_key,
        "authorizedParties": PARTIES,
        "nowMs": env.now_ms,
        "cases": input_cases,
    });
    if let Some(api_url) = &env.api_url {
        input["apiUrl"] = json!(api_url);
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "clerk-differential-machine-{}-{}.json",
        env.tag,
        std::process::id()
    ));
    std::fs::write(&path, input.to_string()).expect("write the case file");
    let output = run(
        Command::new("node")
            .arg("authenticate.mjs")
            .arg(&path)
            .current_dir(dir),
        "node authenticate.mjs",
    );
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "node authenticate.mjs failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> =
        serde_json::from_slice(&output.stdout).expect("authenticate.mjs prints a JSON array");
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
    verdict: Result<Caller, (&'static str, String)>,
    /// The Backend API verify calls it made.
    backend_calls: u64,
}

impl OurResult {
    fn is(&self, expect: Expect) -> bool {
        match (&self.verdict, expect) {
            (Ok(_), Expect::Accept) => true,
            (Err((reason, _)), Expect::Reject(expected)) => *reason == expected,
            _ => false,
        }
    }

    /// Our auth object in the shape `authenticate.mjs` prints Clerk's.
    fn auth(&self) -> Option<Value> {
        let caller = self.verdict.as_ref().ok()?;
        Some(match caller {
            Caller::Session(claims) => json!({
                "tokenType": "session_token",
                "userId": claims.user_id(),
                "sessionId": claims.session_id(),
                "orgId": claims.org_id(),
            }),
            Caller::Machine(m) => json!({
                "tokenType": m.token_type().as_str(),
                "id": m.id(),
                "subject": m.subject(),
                "scopes": m.scopes(),
                "claims": m.claims(),
                "name": m.name(),
                "machineId": m.machine_id(),
                "userId": m.user_id(),
                "orgId": m.org_id(),
                "clientId": m.client_id(),
            }),
        })
    }
}

impl fmt::Display for OurResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.verdict {
            Ok(caller) => write!(
                f,
                "accepted as {} {}",
                caller.token_type(),
                self.auth().unwrap_or_default()
            ),
            Err((reason, message)) => write!(f, "{reason} \"{message}\""),
        }
    }
}

/// Runs every case through our verifier. With an emulator, opaque tokens are verified by its
/// Backend API, with no cache and no call budget (so that each case makes its own call, as
/// Clerk's SDK does), and the calls of each case are counted.
async fn run_ours(
    specs: &[Spec],
    cases: &[Case],
    env: &Env,
    emulator: Option<&EmulatorServer>,
) -> Vec<OurResult> {
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::at_ms(env.now_ms));
    let mut verifiers: HashMap<Config, Verifier> = HashMap::new();
    let mut results = Vec::with_capacity(cases.len());
    for case in cases {
        let spec = &specs[case.spec];
        let verifier = verifiers.entry(spec.config).or_insert_with(|| {
            let mut builder = Verifier::builder()
                .jwt_key(env.pem.as_str())
                .clock(Arc::clone(&clock))
                .authorized_parties(PARTIES)
                .token_cache_capacity(0)
                .background_refresh(false);
            if let Some(api_url) = &env.api_url {
                let secret_key = match spec.config {
                    Config::WrongSecretKey => WRONG_SECRET_KEY,
                    _ => env.secret_key.as_str(),
                };
                builder = builder
                    .secret_key(secret_key)
                    .api_url(api_url.as_str())
                    .machine_options(MachineOptions {
                        cache_capacity: 0,
                        verify_rate: 100_000,
                        verify_burst: 100_000,
                        ..MachineOptions::default()
                    });
            }
            let builder = match spec.config {
                Config::Default | Config::WrongSecretKey => builder,
                Config::Audience => builder.audience(AUDIENCE),
                Config::NoSkew => builder.clock_skew(Duration::ZERO),
            };
            builder.build().expect("the verifier builds")
        });
        let mut headers = http::HeaderMap::new();
        if let Some(token) = &spec.token {
            headers.insert(
                http::header::AUTHORIZATION,
                format!("Bearer {token}")
                    .parse()
                    .expect("a valid header value"),
            );
        }
        let calls_before = emulator.map_or(0, EmulatorServer::machine_verify_requests);
        let verdict = verifier
            .authenticate_request(&headers, case.setting.accepts())
            .await
            .map_err(|r| (r.reason().as_str(), r.message().to_owned()));
        let backend_calls =
            emulator.map_or(0, EmulatorServer::machine_verify_requests) - calls_before;
        results.push(OurResult {
            verdict,
            backend_calls,
        });
    }
    results
}

/// The fields both sides must agree on for an accepted token, as `(name, clerk, ours)`.
fn field_differences(
    clerk: &Value,
    ours: &Value,
    scopes: Option<&(Value, Vec<&'static str>)>,
) -> Vec<String> {
    let names: &[&str] = match ours["tokenType"].as_str() {
        Some("session_token") => &["tokenType", "userId", "sessionId", "orgId"],
        _ => &[
            "tokenType",
            "id",
            "subject",
            "scopes",
            "claims",
            "name",
            "machineId",
            "userId",
            "orgId",
            "clientId",
        ],
    };
    let mut problems = Vec::new();
    for name in names {
        let (c, o) = (&clerk[name], &ours[name]);
        match (*name, scopes) {
            ("scopes", Some((clerk_scopes, our_scopes))) => {
                if c != clerk_scopes {
                    problems.push(format!(
                        "Clerk's scopes are {c}, not {clerk_scopes} as the deviation says"
                    ));
                }
                if *o != json!(our_scopes) {
                    problems.push(format!(
                        "our scopes are {o}, not {} as the deviation says",
                        json!(our_scopes)
                    ));
                }
            }
            _ if c != o => problems.push(format!("{name}: Clerk {c}, ours {o}")),
            _ => {}
        }
    }
    problems
}

#[derive(Default)]
struct Tally {
    cases: usize,
    clerk_accepts: usize,
    deviations: usize,
}

/// Compares both sides case by case, prints the tables, and fails on any disagreement.
fn compare(title: &str, specs: &[Spec], cases: &[Case], clerk: &[ClerkResult], ours: &[OurResult]) {
    let verbose = std::env::var_os("DIFFERENTIAL_VERBOSE").is_some();
    let mut failures = Vec::new();
    let mut by_category: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut by_deviation: BTreeMap<Deviation, usize> = BTreeMap::new();
    let mut agreements = 0;
    for ((case, clerk), ours) in cases.iter().zip(clerk).zip(ours) {
        let spec = &specs[case.spec];
        if verbose {
            println!("{}\n    clerk: {clerk}\n    ours:  {ours}", case.id);
        }
        let tally = by_category.entry(case.category).or_default();
        tally.cases += 1;
        tally.clerk_accepts += usize::from(clerk.is_authenticated);
        if let Some(d) = case.deviation {
            tally.deviations += 1;
            *by_deviation.entry(d).or_default() += 1;
        }
        let mut problems = Vec::new();
        let calls = u64::from(case.backend);
        if clerk.fetches != calls {
            problems.push(format!(
                "Clerk made {} network requests, not {calls}",
                clerk.fetches
            ));
        }
        if ours.backend_calls != calls {
            problems.push(format!(
                "we made {} Backend API calls, not {calls}",
                ours.backend_calls
            ));
        }
        if !clerk.is(case.clerk) {
            problems.push(match case.deviation {
                Some(d) => format!(
                    "Clerk no longer does what deviation {d:?} says ({})",
                    case.clerk
                ),
                None => format!("Clerk does not do what the model expects ({})", case.clerk),
            });
        } else if clerk.thrown.is_none() && clerk.token_type.as_deref() != case.clerk_type {
            problems.push(format!(
                "Clerk's tokenType is {:?}, the model expects {:?}",
                clerk.token_type, case.clerk_type
            ));
        }
        if !ours.is(case.ours()) {
            problems.push(match case.deviation {
                Some(d) => format!("we do not do what deviation {d:?} says ({})", case.ours()),
                None => format!("we disagree with Clerk's expected {}", case.clerk),
            });
        }
        if let (true, Some(our_auth)) = (clerk.is_authenticated, ours.auth()) {
            if case.deviation.is_none() || spec.scopes.is_some() {
                problems.extend(field_differences(
                    &clerk.auth,
                    &our_auth,
                    spec.scopes.as_ref(),
                ));
            }
        }
        if case.deviation.is_none() && problems.is_empty() {
            agreements += 1;
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n    token: {}\n    clerk: {clerk}\n    ours:  {ours}",
                case.id,
                problems.join("; "),
                spec.token
                    .as_deref()
                    .map_or("(none)".to_owned(), abbreviate),
            ));
        }
    }

    println!(
        "\nDifferential test against @clerk/backend {CLERK_BACKEND_VERSION} \
         authenticateRequest({{ acceptsToken }}): {title}"
    );
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
    if !by_deviation.is_empty() {
        println!("\n{:<22} {:>5}  {:<62} ours", "deviation", "cases", "clerk");
    }
    for (d, n) in &by_deviation {
        println!(
            "{:<22} {n:>5}  {:<62} {}",
            format!("{d:?}"),
            d.clerk().to_string(),
            d.ours()
        );
    }
    println!(
        "\n{} tokens, {} cases: {agreements} agreements, {} deviations",
        specs.len(),
        cases.len(),
        by_deviation.values().sum::<usize>(),
    );

    assert!(
        failures.is_empty(),
        "{} of {} cases disagree:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

fn check_ids(cases: &[Case]) {
    let mut ids = std::collections::HashSet::new();
    for case in cases {
        assert!(
            ids.insert(case.id.as_str()),
            "duplicate case id {}",
            case.id
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn our_authenticate_request_agrees_with_clerks_accepts_token() {
    let started = Instant::now();
    let dir = differential_dir();
    ensure_clerk_installed(&dir);

    let key = SigningKey::test_key();
    let other = SigningKey::test_key_n(1);
    // The instance whose issuer the tokens carry (the emulator's default,
    // `https://clerk.emulator.invalid`), not served: authenticateRequest requires its
    // publishable key, and no case may reach a network.
    let emulator = Emulator::with_key(key.clone()).with_secret_key(SECRET_KEY);
    let issuer = emulator.issuer();
    assert_eq!(issuer, clerk_emulator::DEFAULT_ISSUER);
    let env = Env {
        pem: key.public_key_pem(),
        publishable_key: emulator.publishable_key(),
        secret_key: SECRET_KEY.to_owned(),
        api_url: None,
        now_ms: NOW as u64 * 1000,
        tag: "jwt",
    };

    let (specs, cases) = generate(key, other);
    assert!(cases.len() >= MIN_CASES, "only {} cases", cases.len());
    check_ids(&cases);
    for spec in &specs {
        let iss = spec.token.as_deref().and_then(|t| decode_claim(t, "iss"));
        assert!(
            iss.is_none() || iss.as_deref() == Some(&issuer) || spec.label == "other-iss",
            "{}: the tokens carry the instance's issuer",
            spec.label
        );
    }

    let clerk = run_clerk(&dir, &specs, &cases, &env);
    let ours = run_ours(&specs, &cases, &env, None).await;
    compare("JWTs, no network", &specs, &cases, &clerk, &ours);
    println!("in {:.1?}", started.elapsed());
}

/// Opaque API keys, M2M and OAuth tokens created on the emulator (valid, revoked, expired,
/// unknown), and the JWT forms it mints, against its Backend API: Clerk's SDK and ours are
/// both pointed at it (`apiUrl`; `.secret_key(..).api_url(..)`).
fn backend_tokens(g: &mut Generator, clerk: &EmulatorServer) {
    let verified = |g: &mut Generator,
                    label: &str,
                    token: String,
                    t: TokenType,
                    config: Config,
                    v: Verdict| {
        g.push(Spec {
            category: match t {
                ApiKey => "bapi-api-key",
                M2mToken => "bapi-m2m",
                _ => "bapi-oauth",
            },
            label: label.to_owned(),
            token: Some(token),
            config,
            kind: Kind::Opaque(t),
            session: Some(Same(INVALID)),
            machine: Some(v),
            scopes: None,
        })
    };
    let d = Config::Default;
    let user = g.rng.clerk_id("user");
    let key = clerk
        .create_api_key(
            NewApiKey::new(user.as_str(), "reports")
                .scopes(["notes:read", "notes:write"])
                .claims(json!({"team": "data", "tier": [1, 2]}))
                .created_by(user.as_str()),
        )
        .expect("an API key");
    verified(g, "user-key", key.secret, ApiKey, d, ACCEPT);
    let org = g.rng.clerk_id("org");
    let key = clerk
        .create_api_key(NewApiKey::new(org, "org-key").scopes(["notes:read"]))
        .expect("an API key");
    verified(g, "org-key", key.secret, ApiKey, d, ACCEPT);
    let machine = clerk.create_machine("importer", &[]).expect("a machine");
    let key = clerk
        .create_api_key(NewApiKey::new(machine.id.as_str(), "machine-key"))
        .expect("an API key");
    verified(g, "machine-key-no-scopes", key.secret, ApiKey, d, ACCEPT);
    let key = clerk
        .create_api_key(NewApiKey::new(user.as_str(), "revoked"))
        .expect("an API key");
    clerk
        .revoke_api_key(&key.api_key.id, Some("leaked"))
        .expect("revoked");
    verified(g, "revoked", key.secret, ApiKey, d, Same(INVALID));
    let key = clerk
        .create_api_key(NewApiKey::new(user.as_str(), "expired").seconds_until_expiration(-60))
        .expect("an API key");
    verified(g, "expired", key.secret, ApiKey, d, Same(INVALID));
    let unknown = format!("ak_{}", g.rng.hex32());
    verified(g, "unknown", unknown, ApiKey, d, Same(INVALID));
    let fixture = "ak_LCWGdaM8mv8K4PC/57IICZQXAeWfCgF30DZaFXHoGn9=".to_owned();
    verified(g, "unknown-fixture", fixture, ApiKey, d, Same(INVALID));

    let caller = clerk.create_machine("reports", &[]).expect("a machine");
    let callee = clerk.create_machine("notes", &[]).expect("a machine");
    let third = clerk.create_machine("billing", &[]).expect("a machine");
    clerk
        .add_machine_scope(&caller.id, &callee.id)
        .expect("a scope");
    clerk
        .add_machine_scope(&caller.id, &third.id)
        .expect("a scope");
    let m2m = clerk
        .create_m2m_token(&caller.id, NewM2mToken::new())
        .expect("an M2M token");
    verified(g, "valid", m2m.token, M2mToken, d, ACCEPT);
    let m2m = clerk
        .create_m2m_token(
            &caller.id,
            NewM2mToken::new().claims(json!({"job": "nightly", "n": 3})),
        )
        .expect("an M2M token");
    verified(g, "claims", m2m.token, M2mToken, d, ACCEPT);
    let lonely = clerk.create_machine("lonely", &[]).expect("a machine");
    let m2m = clerk
        .create_m2m_token(&lonely.id, NewM2mToken::new())
        .expect("an M2M token");
    verified(g, "no-scopes", m2m.token, M2mToken, d, ACCEPT);
    let m2m = clerk
        .create_m2m_token(&caller.id, NewM2mToken::new())
        .expect("an M2M token");
    clerk
        .revoke_m2m_token(&m2m.m2m_token.id, Some("rotated"))
        .expect("revoked");
    verified(g, "revoked", m2m.token, M2mToken, d, Same(INVALID));
    let m2m = clerk
        .create_m2m_token(&caller.id, NewM2mToken::new().seconds_until_expiration(-60))
        .expect("an M2M token");
    verified(g, "expired", m2m.token, M2mToken, d, Same(INVALID));
    let unknown = format!("mt_{}", g.rng.hex32());
    verified(g, "unknown", unknown, M2mToken, d, Same(INVALID));
    // The JWT form: verified locally, no Backend API call.
    let jwt = clerk
        .create_m2m_token(
            &caller.id,
            NewM2mToken::new()
                .format(TokenFormat::Jwt)
                .claims(json!({"job": "nightly"})),
        )
        .expect("an M2M JWT");
    g.machine_case("bapi-m2m", "emulator-jwt", jwt.token, M2mToken, ACCEPT);

    let oauth_user = g.rng.clerk_id("user");
    let client = g.rng.clerk_id("client");
    let oauth = |audience: &[&str]| {
        let mut token = NewOAuthToken::new(oauth_user.as_str())
            .client_id(client.as_str())
            .scopes(["notes:read", "profile"]);
        if !audience.is_empty() {
            token = token.audience(audience.iter().copied());
        }
        token
    };
    let a = Config::Audience;
    let token = clerk
        .create_oauth_access_token(oauth(&[]))
        .expect("an OAuth token");
    verified(g, "valid", token.token.clone(), OAuthToken, d, ACCEPT);
    // Clerk's OAuth audience rule, applied to the Backend API's answer.
    verified(
        g,
        "no-aud-with-audience",
        token.token,
        OAuthToken,
        a,
        Same(FAILED),
    );
    let token = clerk
        .create_oauth_access_token(oauth(&[AUDIENCE[0]]))
        .expect("an OAuth token");
    verified(g, "aud-configured", token.token, OAuthToken, a, ACCEPT);
    let token = clerk
        .create_oauth_access_token(oauth(&["https://other.example.com"]))
        .expect("an OAuth token");
    verified(
        g,
        "aud-other",
        token.token.clone(),
        OAuthToken,
        a,
        Same(FAILED),
    );
    verified(
        g,
        "aud-other-no-audience",
        token.token,
        OAuthToken,
        d,
        ACCEPT,
    );
    let token = clerk
        .create_oauth_access_token(oauth(&[]))
        .expect("an OAuth token");
    clerk
        .revoke_oauth_access_token(&token.oauth_token.id, None)
        .expect("revoked");
    verified(g, "revoked", token.token, OAuthToken, d, Same(INVALID));
    let token = clerk
        .create_oauth_access_token(oauth(&[]).seconds_until_expiration(-60))
        .expect("an OAuth token");
    verified(g, "expired", token.token, OAuthToken, d, Same(INVALID));
    let unknown = format!("oat_{}", g.rng.hex32());
    verified(g, "unknown", unknown, OAuthToken, d, Same(INVALID));
    let jwt = clerk
        .create_oauth_access_token(oauth(&[]).format(TokenFormat::Jwt))
        .expect("an OAuth JWT");
    g.machine_case("bapi-oauth", "emulator-jwt", jwt.token, OAuthToken, ACCEPT);

    // A secret key the Backend API refuses (401): `secret-key-invalid` on both (ours is
    // answered 503 over HTTP: the client is not at fault).
    let w = Config::WrongSecretKey;
    let invalid_key = Same(Expect::Reject("secret-key-invalid"));
    let key = clerk
        .create_api_key(NewApiKey::new(user.as_str(), "reports"))
        .expect("an API key");
    verified(g, "wrong-secret-key", key.secret, ApiKey, w, invalid_key);
    let m2m = clerk
        .create_m2m_token(&caller.id, NewM2mToken::new())
        .expect("an M2M token");
    verified(g, "wrong-secret-key", m2m.token, M2mToken, w, invalid_key);
    let token = clerk
        .create_oauth_access_token(oauth(&[]))
        .expect("an OAuth token");
    verified(
        g,
        "wrong-secret-key",
        token.token,
        OAuthToken,
        w,
        invalid_key,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_tokens_against_the_emulator_agree_with_clerks_accepts_token() {
    let started = Instant::now();
    let dir = differential_dir();
    ensure_clerk_installed(&dir);

    let key = SigningKey::test_key();
    let clerk = Emulator::with_key(key.clone())
        .with_secret_key(SECRET_KEY)
        .serve("127.0.0.1:0")
        .await
        .expect("the emulator serves");
    let mut g = generator(key.clone(), SigningKey::test_key_n(1));
    backend_tokens(&mut g, &clerk);
    let specs = g.specs;
    let cases = cases_of(&specs);
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    check_ids(&cases);
    // The emulator judges expiry by its wall clock: both sides are pinned to this instant,
    // after every token was created.
    let env = Env {
        pem: key.public_key_pem(),
        publishable_key: clerk.emulator().publishable_key(),
        secret_key: clerk.secret_key(),
        api_url: Some(clerk.api_url().to_owned()),
        now_ms: clerk_emulator::unix_now() as u64 * 1000,
        tag: "opaque",
    };
    assert!(env.publishable_key.starts_with("pk_test_"));

    let clerk_results = {
        let (dir, env_specs, env_cases) = (dir.clone(), &specs, &cases);
        // Node talks to the emulator, which runs on this runtime: not on a worker it blocks.
        tokio::task::block_in_place(|| run_clerk(&dir, env_specs, env_cases, &env))
    };
    let ours = run_ours(&specs, &cases, &env, Some(&clerk)).await;
    compare(
        "opaque tokens against the emulator's Backend API",
        &specs,
        &cases,
        &clerk_results,
        &ours,
    );
    println!("in {:.1?}", started.elapsed());
}

/// A string claim of a token's payload, read without verification.
fn decode_claim(token: &str, name: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get(name)?.as_str().map(str::to_owned)
}
