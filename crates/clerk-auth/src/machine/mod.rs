//! Machine credentials: API keys, M2M tokens and OAuth access tokens, accepted as Clerk's
//! `authenticateRequest({ acceptsToken })` accepts them (clerk-spec §5).
//!
//! - [`TokenType`] names the four kinds of token and [`TokenType::of`] recognises one as Clerk
//!   does: the prefixes `mt_`, `oat_` and `ak_`, an M2M JWT by its `sub` (`mch_…`), an OAuth JWT
//!   by its `typ` (`at+jwt`); everything else is a session token.
//! - [`Accepts`] is `acceptsToken`: the session token alone (the default), one machine type,
//!   a set of types, or any.
//! - [`Caller`] is the result: a session's claims or a [`MachineAuth`].
//!
//! The JWT forms are verified locally with the session tokens' keys; the opaque forms by
//! Clerk's Backend API, with a cache of the answers (see [`MachineOptions`]).

mod remote;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::claims::SessionClaims;
use crate::token::{machine_jwt_kind, HeaderRules};

pub use remote::parse_verify_answer;
pub(crate) use remote::{Remote, RemoteConfig};

/// A kind of token, spelled as Clerk's `tokenType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// `session_token`: a Clerk session JWT.
    SessionToken,
    /// `api_key`: an `ak_…` API key, verified by the Backend API.
    ApiKey,
    /// `m2m_token`: an `mt_…` token (Backend API) or an M2M JWT (local).
    M2mToken,
    /// `oauth_token`: an `oat_…` token (Backend API) or an `at+jwt` JWT (local).
    OAuthToken,
}

impl TokenType {
    /// Every type.
    pub const ALL: [TokenType; 4] = [
        TokenType::SessionToken,
        TokenType::ApiKey,
        TokenType::M2mToken,
        TokenType::OAuthToken,
    ];

    /// The type as Clerk spells it, e.g. `api_key`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenType::SessionToken => "session_token",
            TokenType::ApiKey => "api_key",
            TokenType::M2mToken => "m2m_token",
            TokenType::OAuthToken => "oauth_token",
        }
    }

    /// The type named `name` as Clerk spells it.
    pub fn from_name(name: &str) -> Option<TokenType> {
        TokenType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// What a token is, by Clerk's detection order: `mt_` or an M2M JWT, then `oat_` or an
    /// OAuth JWT, then `ak_`; anything else is taken for a session token. Prefixes are
    /// case-sensitive. Only the form is looked at: nothing is verified.
    pub fn of(token: &str) -> TokenType {
        Form::of(token).token_type()
    }

    const fn bit(self) -> u8 {
        match self {
            TokenType::SessionToken => 1,
            TokenType::ApiKey => 2,
            TokenType::M2mToken => 4,
            TokenType::OAuthToken => 8,
        }
    }
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token's form: which type, and whether it is verified locally or by the Backend API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Session,
    ApiKey,
    M2mOpaque,
    M2mJwt,
    OAuthOpaque,
    OAuthJwt,
}

impl Form {
    pub(crate) fn of(token: &str) -> Form {
        let jwt = match is_jwt_format(token) {
            true => machine_jwt_kind(token),
            false => None,
        };
        if token.starts_with("mt_") {
            Form::M2mOpaque
        } else if jwt == Some(HeaderRules::M2m) {
            Form::M2mJwt
        } else if token.starts_with("oat_") {
            Form::OAuthOpaque
        } else if jwt == Some(HeaderRules::OAuth) {
            Form::OAuthJwt
        } else if token.starts_with("ak_") {
            Form::ApiKey
        } else {
            Form::Session
        }
    }

    pub(crate) fn token_type(self) -> TokenType {
        match self {
            Form::Session => TokenType::SessionToken,
            Form::ApiKey => TokenType::ApiKey,
            Form::M2mOpaque | Form::M2mJwt => TokenType::M2mToken,
            Form::OAuthOpaque | Form::OAuthJwt => TokenType::OAuthToken,
        }
    }
}

/// Clerk's JWT format test (`isJwtFormat`, `^[a-zA-Z0-9\-_]+\.[a-zA-Z0-9\-_]+\.[a-zA-Z0-9\-_]+$`):
/// only a token of this form can be a machine JWT. A JWT with an empty segment (no
/// signature) or padding is none, and goes down the session path.
fn is_jwt_format(token: &str) -> bool {
    let base64url = |segment: &str| {
        !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let mut segments = token.split('.');
    matches!(
        (segments.next(), segments.next(), segments.next(), segments.next()),
        (Some(h), Some(p), Some(s), None) if base64url(h) && base64url(p) && base64url(s)
    )
}

/// The `cat` of a session token (handshake tokens carry it too).
pub(crate) const CATEGORY_SESSION: &str = "cl_B7d4PD111AAA";
/// The `cat` of instances that stamp one value on every class of token: no class
/// information.
pub(crate) const CATEGORY_IGNORE: &str = "cl_I7d4PD111III";

/// Clerk's `hasNonSessionJwtCategory`, which `authenticateRequest` applies to every token on
/// the session path before verifying it (SEC-340): the token decodes (three segments, JSON
/// header and payload) and its header has a `cat` other than the session token's or the
/// "ignore" tag: a JWT-template token, the M2M category on a token that is no M2M JWT, an
/// unknown category. `verifyToken` (and [`crate::Verifier::verify`]) refuses only the M2M
/// category; `authenticateRequest` refuses them all, as a `token-type-mismatch`.
pub(crate) fn has_non_session_category(token: &str) -> bool {
    fn json(segment: &str) -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).ok()?).ok()
    }
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return false;
    };
    let non_session = match json(header) {
        Some(Value::Object(header)) => match header.get("cat") {
            None => false,
            Some(Value::String(cat)) => cat != CATEGORY_SESSION && cat != CATEGORY_IGNORE,
            Some(_) => true,
        },
        _ => false,
    };
    // The rest must decode too, as in Clerk; read only in this rare case.
    non_session && json(payload).is_some() && URL_SAFE_NO_PAD.decode(signature).is_ok()
}

/// Which types of token a route accepts: Clerk's `acceptsToken`. The default is the session
/// token alone, so that machine credentials are refused wherever they were not asked for.
///
/// As Clerk's option, it remembers its form: one type ([`Accepts::only`], Clerk's string), a
/// list ([`Accepts::of`], [`Accepts::or`]: Clerk's array, even of one type) or
/// [`Accepts::ANY`]. Clerk answers some tokens differently under the three: with
/// `"session_token"` an opaque machine token is a malformed JWT (`token-invalid`), with
/// `["session_token"]` a type not in the list (`token-type-mismatch`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Accepts {
    bits: u8,
    shape: Shape,
}

/// The form `acceptsToken` was given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Shape {
    /// One type, as a string.
    One,
    /// An array of types.
    List,
    /// `"any"`.
    Any,
}

impl Accepts {
    /// `session_token`: the default.
    pub const SESSION: Accepts = Accepts::only(TokenType::SessionToken);
    /// `"any"`: every type.
    pub const ANY: Accepts = Accepts {
        bits: 15,
        shape: Shape::Any,
    };

    /// One type (Clerk's string form).
    pub const fn only(token_type: TokenType) -> Accepts {
        Accepts {
            bits: token_type.bit(),
            shape: Shape::One,
        }
    }

    /// A set of types (Clerk's array form), even of one type. An empty list accepts nothing.
    pub fn of(types: &[TokenType]) -> Accepts {
        Accepts {
            bits: types.iter().fold(0, |bits, t| bits | t.bit()),
            shape: Shape::List,
        }
    }

    /// Also accept `token_type`: a list of the types accepted so far and this one (`"any"`
    /// stays `"any"`).
    pub const fn or(self, token_type: TokenType) -> Accepts {
        Accepts {
            bits: self.bits | token_type.bit(),
            shape: match self.shape {
                Shape::Any => Shape::Any,
                Shape::One | Shape::List => Shape::List,
            },
        }
    }

    /// Whether tokens of `token_type` are accepted.
    pub const fn accepts(self, token_type: TokenType) -> bool {
        self.bits & token_type.bit() != 0
    }

    /// Whether any machine type is accepted.
    pub const fn accepts_machines(self) -> bool {
        self.bits & !TokenType::SessionToken.bit() != 0
    }

    /// The type accepted when it was given alone ([`Accepts::only`]; not a list of one type,
    /// not `"any"`).
    pub fn single(self) -> Option<TokenType> {
        match self.shape {
            Shape::One => self.types().next(),
            Shape::List | Shape::Any => None,
        }
    }

    /// The types accepted, in Clerk's order.
    pub fn types(self) -> impl Iterator<Item = TokenType> {
        TokenType::ALL.into_iter().filter(move |t| self.accepts(*t))
    }
}

impl Default for Accepts {
    fn default() -> Accepts {
        Accepts::SESSION
    }
}

impl fmt::Debug for Accepts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.shape, self.single()) {
            (Shape::Any, _) => f.write_str("Accepts(any)"),
            (Shape::One, Some(one)) => f.debug_tuple("Accepts").field(&one.as_str()).finish(),
            _ => f
                .debug_tuple("Accepts")
                .field(&self.types().map(TokenType::as_str).collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// A verified machine credential: Clerk's machine auth object (`tokenType`, `id`, `subject`,
/// `scopes`, `claims` and the fields of each type).
///
/// As in Clerk, a machine has no session, organization role or permissions: [`Check`]s
/// (`has()`) do not apply to it; its grants are its [`scopes`](MachineAuth::scopes).
///
/// [`Check`]: crate::Check
#[derive(Debug, Clone, PartialEq)]
pub struct MachineAuth {
    pub(crate) token_type: TokenType,
    pub(crate) id: String,
    pub(crate) subject: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) claims: Option<Map<String, Value>>,
    pub(crate) name: Option<String>,
    pub(crate) client_id: Option<String>,
    /// Milliseconds since the epoch; `None` for a credential that never expires.
    pub(crate) expiration_ms: Option<i64>,
}

impl MachineAuth {
    /// `api_key`, `m2m_token` or `oauth_token`.
    pub fn token_type(&self) -> TokenType {
        self.token_type
    }

    /// The credential's id: `ak_…`, `mt_…`, `oat_…` (for a JWT, its `jti`, or empty).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Who the credential acts for: a user (`user_…`), an organization (`org_…`) or a
    /// machine (`mch_…`).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The scopes granted. For an API key or an OAuth token, permission strings (for example
    /// `notes:read`); for an M2M token, the ids of the machines it may talk to.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether `scope` is among [`scopes`](MachineAuth::scopes) (exactly).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The custom claims: an API key's or M2M token's `claims`; for an M2M JWT, every claim
    /// but `iss`, `sub`, `exp`, `nbf`, `iat` and `jti`, as Clerk's SDK gives them.
    pub fn claims(&self) -> Option<&Map<String, Value>> {
        self.claims.as_ref()
    }

    /// An API key's name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The user the credential acts for: an API key whose subject is a user, or the user who
    /// authorised an OAuth token.
    pub fn user_id(&self) -> Option<&str> {
        match self.token_type {
            TokenType::ApiKey => Some(&*self.subject).filter(|s| s.starts_with("user_")),
            TokenType::OAuthToken => Some(&*self.subject),
            _ => None,
        }
    }

    /// The organization an API key acts for, when its subject is one.
    pub fn org_id(&self) -> Option<&str> {
        match self.token_type {
            TokenType::ApiKey => Some(&*self.subject).filter(|s| s.starts_with("org_")),
            _ => None,
        }
    }

    /// The machine an M2M token was issued to (its subject).
    pub fn machine_id(&self) -> Option<&str> {
        (self.token_type == TokenType::M2mToken).then_some(&*self.subject)
    }

    /// The OAuth application an OAuth token was issued to.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// When the credential expires, in milliseconds since the Unix epoch; `None` if never.
    pub fn expiration_ms(&self) -> Option<i64> {
        self.expiration_ms
    }
}

/// Who is calling: a signed-in user's session, or a machine credential.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A session token's verified claims.
    Session(Arc<SessionClaims>),
    /// A verified API key, M2M token or OAuth access token.
    Machine(Arc<MachineAuth>),
}

impl Caller {
    /// The type of the token that authenticated the call.
    pub fn token_type(&self) -> TokenType {
        match self {
            Caller::Session(_) => TokenType::SessionToken,
            Caller::Machine(machine) => machine.token_type,
        }
    }

    /// The session's claims, for a session token.
    pub fn session(&self) -> Option<&Arc<SessionClaims>> {
        match self {
            Caller::Session(claims) => Some(claims),
            Caller::Machine(_) => None,
        }
    }

    /// The machine credential, for a machine token.
    pub fn machine(&self) -> Option<&Arc<MachineAuth>> {
        match self {
            Caller::Session(_) => None,
            Caller::Machine(machine) => Some(machine),
        }
    }
}

/// The default time a verified opaque machine token is remembered: 60 s (never past its own
/// expiration). A revocation in Clerk is seen at most this late: Clerk sends no webhook for
/// it.
pub const DEFAULT_MACHINE_TOKEN_CACHE_TTL: Duration = Duration::from_secs(60);
/// The default time an unknown, revoked or expired opaque token is remembered as such: 10 s.
pub const DEFAULT_MACHINE_TOKEN_NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// The default number of machine-token verdicts remembered.
pub const DEFAULT_MACHINE_TOKEN_CACHE_CAPACITY: u64 = 10_000;
/// The default budget of Backend API verifications: 20 per second, with bursts of 100.
/// Clerk's own rate limit is 1000 requests per 10 s in production, 100 in development.
pub const DEFAULT_MACHINE_VERIFY_RATE: u32 = 20;
/// The default burst of Backend API verifications beyond [`DEFAULT_MACHINE_VERIFY_RATE`].
pub const DEFAULT_MACHINE_VERIFY_BURST: u32 = 100;

/// How opaque machine tokens are verified and cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineOptions {
    /// How long a verified token is remembered (never past its own expiration).
    pub cache_ttl: Duration,
    /// How long a token Clerk does not know (404) is remembered as unknown.
    pub negative_ttl: Duration,
    /// How many verdicts are remembered (`0` turns the cache off).
    pub cache_capacity: u64,
    /// Backend API verifications allowed per second, beyond which cache misses are refused
    /// with `machine-token-verification-throttled` (503) so that a flood of made-up tokens
    /// cannot become a flood on Clerk's Backend API.
    pub verify_rate: u32,
    /// The burst of verifications allowed above the rate.
    pub verify_burst: u32,
    /// The timeout of one Backend API call.
    pub timeout: Duration,
}

impl Default for MachineOptions {
    fn default() -> MachineOptions {
        MachineOptions {
            cache_ttl: DEFAULT_MACHINE_TOKEN_CACHE_TTL,
            negative_ttl: DEFAULT_MACHINE_TOKEN_NEGATIVE_TTL,
            cache_capacity: DEFAULT_MACHINE_TOKEN_CACHE_CAPACITY,
            verify_rate: DEFAULT_MACHINE_VERIFY_RATE,
            verify_burst: DEFAULT_MACHINE_VERIFY_BURST,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Counters of the opaque machine-token path. Every field only grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineStats {
    /// Verifications answered from the cache (verified or known unknown).
    pub cache_hits: u64,
    /// Backend API verify calls made.
    pub backend_calls: u64,
    /// Cache misses refused because the verification budget was spent.
    pub throttled: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(header: &str, payload: &str) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn tokens_are_recognised_in_clerks_order() {
        let m2m_jwt = jwt(r#"{"alg":"RS256","typ":"at+jwt"}"#, r#"{"sub":"mch_1"}"#);
        let oauth_jwt = jwt(r#"{"alg":"RS256","typ":"at+jwt"}"#, r#"{"sub":"user_1"}"#);
        let oauth_jwt_long = jwt(
            r#"{"alg":"RS256","typ":"application/at+jwt"}"#,
            r#"{"sub":"user_1"}"#,
        );
        let session = jwt(r#"{"alg":"RS256","typ":"JWT"}"#, r#"{"sub":"user_1"}"#);
        for (token, expected) in [
            ("mt_0123", TokenType::M2mToken),
            (m2m_jwt.as_str(), TokenType::M2mToken),
            ("oat_0123", TokenType::OAuthToken),
            (oauth_jwt.as_str(), TokenType::OAuthToken),
            (oauth_jwt_long.as_str(), TokenType::OAuthToken),
            (
                "ak_LCWGdaM8mv8K4PC/57IICZQXAeWfCgF30DZaFXHoGn9=",
                TokenType::ApiKey,
            ),
            (session.as_str(), TokenType::SessionToken),
            ("AK_0123", TokenType::SessionToken),
            ("m2m_0123", TokenType::SessionToken),
            ("not.a.jwt", TokenType::SessionToken),
            ("", TokenType::SessionToken),
        ] {
            assert_eq!(TokenType::of(token), expected, "{token}");
        }
    }

    #[test]
    fn accepts_says_single_only_for_one_listed_type() {
        assert_eq!(Accepts::SESSION.single(), Some(TokenType::SessionToken));
        assert_eq!(Accepts::default(), Accepts::SESSION);
        let keys = Accepts::only(TokenType::ApiKey);
        assert_eq!(keys.single(), Some(TokenType::ApiKey));
        assert!(keys.accepts_machines() && !keys.accepts(TokenType::SessionToken));
        assert_eq!(Accepts::ANY.single(), None);
        assert!(TokenType::ALL.iter().all(|t| Accepts::ANY.accepts(*t)));
        let two = Accepts::SESSION.or(TokenType::OAuthToken);
        assert_eq!(two.single(), None);
        assert_eq!(
            two.types().collect::<Vec<_>>(),
            [TokenType::SessionToken, TokenType::OAuthToken]
        );
        assert_eq!(Accepts::of(&[]).types().count(), 0);
        // A list of one type is Clerk's array form, not its string form.
        let list = Accepts::of(&[TokenType::SessionToken]);
        assert_eq!(list.single(), None);
        assert_ne!(list, Accepts::SESSION);
        assert!(list.accepts(TokenType::SessionToken) && !list.accepts_machines());
        assert_eq!(Accepts::ANY.or(TokenType::ApiKey), Accepts::ANY);
        assert_eq!(
            format!("{:?}", Accepts::SESSION),
            r#"Accepts("session_token")"#
        );
        assert_eq!(format!("{list:?}"), r#"Accepts(["session_token"])"#);
        assert_eq!(
            format!("{two:?}"),
            r#"Accepts(["session_token", "oauth_token"])"#
        );
    }

    #[test]
    fn type_names_are_clerks() {
        for t in TokenType::ALL {
            assert_eq!(TokenType::from_name(t.as_str()), Some(t));
        }
        assert_eq!(TokenType::from_name("any"), None);
    }
}
