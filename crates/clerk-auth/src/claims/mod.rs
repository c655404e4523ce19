//! Session token claims, v1 and v2, normalised into one [`SessionClaims`].
//!
//! Clerk has two session-token layouts (clerk-spec §1.3, §1.4): v1 carries the active
//! organization as flat `org_*` claims, v2 (`"v": 2`) packs it into an `o` object and encodes the
//! organization permissions as bitmasks (`o.per`, `o.fpm`, `fea`). [`SessionClaims`] reads both
//! the way Clerk's own SDK does (`jwtPayloadParser`, clerk-spec §1.5 and §1.6), so the rest of an
//! application sees one shape, and keeps the whole payload for custom claims.
//!
//! Claims that are present but malformed never make construction fail: the token's signature
//! and time claims were already verified. A malformed claim reads as absent here (except `act`,
//! see [`actor`](SessionClaims::actor)), and any [`has`](SessionClaims::has) check that depends
//! on it fails closed.

mod org_permissions;

use std::sync::OnceLock;

use serde_json::{Map, Value};

use org_permissions::decode_org_permissions;

/// The claims of a verified Clerk session token.
///
/// Built by the verifier from a payload whose signature, `sub`, `sid` and time claims it has
/// already checked. The accessors give the fields of Clerk's `auth` object (clerk-spec §4.9),
/// the same for v1 and v2 tokens; [`claims`](Self::claims) gives the full payload (Clerk's
/// `sessionClaims`), custom claims from a session-token template included.
///
/// ```
/// use clerk_auth::SessionClaims;
///
/// fn describe(claims: &SessionClaims) -> String {
///     match claims.org_id() {
///         Some(org) => format!("{} in {org}", claims.user_id()),
///         None => claims.user_id().to_owned(),
///     }
/// }
/// ```
#[derive(Clone)]
pub struct SessionClaims {
    /// The payload's JSON text, as verified (strictly: no duplicate member names, bounded
    /// depth), so that it always parses again.
    json: Vec<u8>,
    user_id: String,
    session_id: String,
    session_status: Option<SessionStatus>,
    /// Everything else, normalised on first use: verification itself needs none of it, and a
    /// cached token's claims are normalised once for all its requests.
    normalized: OnceLock<Normalized>,
}

impl std::fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionClaims")
            .field("user_id", &self.user_id)
            .field("session_id", &self.session_id)
            .field("session_status", &self.session_status)
            .field("claims", self.claims())
            .finish()
    }
}

#[derive(Debug, Clone)]
struct Normalized {
    payload: Map<String, Value>,
    org_role: Option<String>,
    org_permissions: Vec<String>,
    features: Result<Vec<Entitlement>, MalformedClaim>,
    plans: Result<Vec<Entitlement>, MalformedClaim>,
    factor_verification_age: Option<FactorVerificationAge>,
}

impl SessionClaims {
    /// Claims from a verified payload's JSON text and the fields verification read from it;
    /// the rest is normalised on first use.
    pub(crate) fn from_verified(
        json: Vec<u8>,
        user_id: String,
        session_id: String,
        status: Option<&str>,
    ) -> SessionClaims {
        SessionClaims {
            json,
            user_id,
            session_id,
            session_status: status.map(SessionStatus::from_claim),
            normalized: OnceLock::new(),
        }
    }

    /// Normalises a payload at once. Infallible: malformed optional claims read as absent.
    #[cfg(test)]
    pub(crate) fn from_payload(payload: Map<String, Value>) -> SessionClaims {
        let text = |name: &str| payload.get(name).and_then(Value::as_str).map(str::to_owned);
        let (user_id, session_id) = (
            text("sub").unwrap_or_default(),
            text("sid").unwrap_or_default(),
        );
        let status = text("sts");
        let claims = SessionClaims::from_verified(
            Value::Object(payload.clone()).to_string().into_bytes(),
            user_id,
            session_id,
            status.as_deref(),
        );
        let _ = claims.normalized.set(Normalized::from_payload(payload));
        claims
    }

    fn n(&self) -> &Normalized {
        self.normalized.get_or_init(|| {
            // The text was checked strictly when the token was verified, so it parses again.
            let payload =
                crate::json::parse_object(&self.json, "payload").unwrap_or_else(|rejection| {
                    tracing::error!(error = %rejection, "a verified payload failed to parse again");
                    Map::new()
                });
            Normalized::from_payload(payload)
        })
    }

    /// The user id (`sub`), e.g. `user_2NNEqL2nrIRdJ194ndJqAHwEfxC`.
    ///
    /// The verifier only builds claims whose `sub` is a non-empty string; should it ever be
    /// missing this is empty, and [`has`](Self::has) answers `false` to everything.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The session id (`sid`), e.g. `sess_2NNEqL2nrIRdJ194ndJqAHwEfxC`.
    ///
    /// The verifier only builds claims whose `sid` is a non-empty string (a token without one is
    /// a JWT-template token, not a session token).
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The issuer (`iss`): the instance's Frontend API URL, or the proxy URL.
    pub fn issuer(&self) -> Option<&str> {
        self.str_claim("iss")
    }

    /// The authorized party (`azp`): the origin of the browser request that minted the token.
    /// Absent on some tokens, e.g. those minted during a top-level navigation.
    pub fn authorized_party(&self) -> Option<&str> {
        self.str_claim("azp")
    }

    /// The expiry (`exp`), in Unix seconds.
    ///
    /// Saturates to the `i64` range and drops fractional seconds. The verifier requires `exp`;
    /// should it ever be missing this is 0, the epoch, long expired.
    pub fn expires_at(&self) -> i64 {
        self.seconds_claim("exp").unwrap_or_default()
    }

    /// The issue time (`iat`), in Unix seconds, saturating like [`expires_at`](Self::expires_at).
    pub fn issued_at(&self) -> Option<i64> {
        self.seconds_claim("iat")
    }

    /// The not-before time (`nbf`), in Unix seconds, saturating like
    /// [`expires_at`](Self::expires_at).
    pub fn not_before(&self) -> Option<i64> {
        self.seconds_claim("nbf")
    }

    /// The token id (`jti`).
    pub fn token_id(&self) -> Option<&str> {
        self.str_claim("jti")
    }

    /// The claims version: 2 when the token says `"v": 2`, otherwise 1 (as Clerk's SDK reads
    /// it, any other `v` is treated as v1).
    pub fn version(&self) -> u8 {
        if is_v2(&self.n().payload) {
            2
        } else {
            1
        }
    }

    /// The session status (`sts`), or `None` when the instance does not send it (or it is not
    /// a string).
    pub fn session_status(&self) -> Option<&SessionStatus> {
        self.session_status.as_ref()
    }

    /// Whether the session is pending (`sts` is `"pending"`): the user still has a task to
    /// complete, such as choosing an organization. Clerk treats such sessions as signed out by
    /// default.
    pub fn is_pending(&self) -> bool {
        self.session_status == Some(SessionStatus::Pending)
    }

    /// The actor (`act`) when the session is an impersonation or an agent acting for the user.
    ///
    /// Any `act` that is present and not `null` gives `Some`, so an impersonation is never
    /// hidden; if it is not an object, its fields all read as `None`.
    pub fn actor(&self) -> Option<Actor<'_>> {
        self.n()
            .payload
            .get("act")
            .filter(|act| !act.is_null())
            .map(|raw| Actor { raw })
    }

    /// The active organization's id: `o.id` in v2, `org_id` in v1. `None` when no organization is
    /// active.
    pub fn org_id(&self) -> Option<&str> {
        self.org_claim("id", "org_id")
    }

    /// The active organization's slug: `o.slg` in v2, `org_slug` in v1.
    pub fn org_slug(&self) -> Option<&str> {
        self.org_claim("slg", "org_slug")
    }

    /// The role in the active organization, e.g. `org:admin`.
    ///
    /// In v2 this is `"org:"` followed by `o.rol` (v2 tokens carry the role without its prefix).
    /// In v1 it is `org_role` unchanged, which in older tokens may be a bare `admin`;
    /// [`has`](Self::has) compares roles with and without the prefix alike.
    pub fn org_role(&self) -> Option<&str> {
        self.n().org_role.as_deref()
    }

    /// The permissions in the active organization, e.g. `org:invoices:read`.
    ///
    /// In v1 the `org_permissions` claim (its string entries); in v2 decoded from `o.per`,
    /// `o.fpm` and `fea` (clerk-spec §1.6). Clerk's system permissions (`org:sys_*`) are never
    /// in a token. Empty when no organization is active, and when the v2 claims are malformed.
    pub fn org_permissions(&self) -> &[String] {
        &self.n().org_permissions
    }

    /// The billing features of the user and of the active organization (`fea`), e.g.
    /// `o:dashboard` read as [`Entitlement`] `dashboard` with [`EntitlementScope::Org`].
    ///
    /// Empty when the claim is absent, and when it is malformed (an entry without a colon or a
    /// non-string claim); a feature check with [`has`](Self::has) then fails.
    pub fn features(&self) -> &[Entitlement] {
        self.n().features.as_deref().unwrap_or_default()
    }

    /// The billing plans of the user and of the active organization (`pla`), e.g. `u:free`.
    /// Read like [`features`](Self::features).
    pub fn plans(&self) -> &[Entitlement] {
        self.n().plans.as_deref().unwrap_or_default()
    }

    /// How long ago the session's factors were verified (`fva`), or `None` when the instance
    /// does not send it or the claim is malformed. A reverification check with
    /// [`has`](Self::has) fails in both cases.
    pub fn factor_verification_age(&self) -> Option<FactorVerificationAge> {
        self.n().factor_verification_age
    }

    /// Any claim of the payload by name, e.g. an `email` added by a session-token template.
    ///
    /// ```
    /// use clerk_auth::SessionClaims;
    ///
    /// fn email(claims: &SessionClaims) -> Option<&str> {
    ///     claims.claim("email").and_then(|email| email.as_str())
    /// }
    /// ```
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.n().payload.get(name)
    }

    /// The full payload, as verified: Clerk's `sessionClaims`.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.n().payload
    }

    /// The `fea` claim for [`has`](Self::has): `Err` when it is malformed.
    pub(crate) fn feature_entitlements(&self) -> Result<&[Entitlement], MalformedClaim> {
        self.n().features.as_deref().map_err(|malformed| *malformed)
    }

    /// The `pla` claim for [`has`](Self::has): `Err` when it is malformed.
    pub(crate) fn plan_entitlements(&self) -> Result<&[Entitlement], MalformedClaim> {
        self.n().plans.as_deref().map_err(|malformed| *malformed)
    }

    fn str_claim(&self, name: &str) -> Option<&str> {
        self.n().payload.get(name).and_then(Value::as_str)
    }

    fn seconds_claim(&self, name: &str) -> Option<i64> {
        match self.n().payload.get(name)? {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_u64().map(|_| i64::MAX))
                // `as` saturates at the i64 bounds and drops the fraction.
                .or_else(|| n.as_f64().map(|seconds| seconds as i64)),
            _ => None,
        }
    }

    fn org_claim(&self, v2_name: &str, v1_name: &str) -> Option<&str> {
        if is_v2(&self.n().payload) {
            self.n()
                .payload
                .get("o")
                .and_then(Value::as_object)
                .and_then(|org| org.get(v2_name))
                .and_then(Value::as_str)
        } else {
            self.str_claim(v1_name)
        }
    }
}

impl Normalized {
    fn from_payload(payload: Map<String, Value>) -> Normalized {
        let fea = scoped_parts(&payload, "fea");
        let (org_role, org_permissions) = if is_v2(&payload) {
            match payload.get("o").and_then(Value::as_object) {
                Some(org) => (
                    non_empty_str(org, "rol").map(|role| format!("org:{role}")),
                    decode_org_permissions(org, &fea),
                ),
                None => (None, Vec::new()),
            }
        } else {
            let role = payload.get("org_role").and_then(Value::as_str);
            (
                role.map(str::to_owned),
                string_array(payload.get("org_permissions")),
            )
        };
        let features = fea.map(|parts| parts.iter().filter_map(ScopedPart::entitlement).collect());
        let plans = scoped_parts(&payload, "pla")
            .map(|parts| parts.iter().filter_map(ScopedPart::entitlement).collect());
        let factor_verification_age = payload
            .get("fva")
            .and_then(FactorVerificationAge::from_claim);
        Normalized {
            payload,
            org_role,
            org_permissions,
            features,
            plans,
            factor_verification_age,
        }
    }
}

/// The session status (`sts`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SessionStatus {
    /// `active`: a signed-in session.
    Active,
    /// `pending`: the user still has a task to complete, e.g. choosing an organization.
    Pending,
    /// Any other status, as sent.
    Other(String),
}

impl SessionStatus {
    fn from_claim(status: &str) -> SessionStatus {
        match status {
            "active" => SessionStatus::Active,
            "pending" => SessionStatus::Pending,
            other => SessionStatus::Other(other.to_owned()),
        }
    }

    /// The status as Clerk spells it, e.g. `pending`.
    pub fn as_str(&self) -> &str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Pending => "pending",
            SessionStatus::Other(status) => status,
        }
    }
}

/// The actor claim (`act`) of an impersonated or agent session: who acts for the user.
///
/// A typed view over the raw claim, which [`raw`](Self::raw) gives whole.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    raw: &'a Value,
}

impl<'a> Actor<'a> {
    /// The actor's id (`act.sub`): the impersonating user, or the agent.
    pub fn subject(self) -> Option<&'a str> {
        self.field("sub")
    }

    /// Who issued the actor token (`act.iss`).
    pub fn issuer(self) -> Option<&'a str> {
        self.field("iss")
    }

    /// The actor's own session (`act.sid`).
    pub fn session_id(self) -> Option<&'a str> {
        self.field("sid")
    }

    /// The kind of actor (`act.type`), e.g. `agent`; absent for an impersonation.
    pub fn kind(self) -> Option<&'a str> {
        self.field("type")
    }

    /// The claim as sent.
    pub fn raw(self) -> &'a Value {
        self.raw
    }

    fn field(self, name: &str) -> Option<&'a str> {
        self.raw.get(name).and_then(Value::as_str)
    }
}

/// A billing feature or plan from the `fea` or `pla` claim, e.g. `o:dashboard`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entitlement {
    scope: EntitlementScope,
    name: String,
}

impl Entitlement {
    /// Whose entitlement this is: the user's, the active organization's, or both.
    pub fn scope(&self) -> EntitlementScope {
        self.scope
    }

    /// The feature or plan name, e.g. `dashboard`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Whose entitlement an [`Entitlement`] is, from its scope prefix in the claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntitlementScope {
    /// `o:`: the active organization's.
    Org,
    /// `u:`: the user's.
    User,
    /// `ou:` or `uo:`: both the user's and the active organization's.
    Both,
}

impl EntitlementScope {
    /// Whether the active organization has it (`o`, `ou`, `uo`).
    pub fn includes_org(self) -> bool {
        matches!(self, EntitlementScope::Org | EntitlementScope::Both)
    }

    /// Whether the user has it (`u`, `ou`, `uo`).
    pub fn includes_user(self) -> bool {
        matches!(self, EntitlementScope::User | EntitlementScope::Both)
    }

    fn from_claim(scope: &str) -> Option<EntitlementScope> {
        match scope {
            "o" => Some(EntitlementScope::Org),
            "u" => Some(EntitlementScope::User),
            "ou" | "uo" => Some(EntitlementScope::Both),
            _ => None,
        }
    }
}

/// How long ago the session's factors were verified (`fva`), in minutes.
///
/// Clerk sends `[first_factor_minutes, second_factor_minutes]`, with `-1` for a factor group
/// never verified or not enrolled. Only well-formed claims are represented: exactly two finite
/// numbers, each `-1` or at least 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FactorVerificationAge {
    first: f64,
    second: f64,
}

impl FactorVerificationAge {
    /// Minutes since the first factor (password, email code, ...) was verified, or `None` if
    /// it never was.
    pub fn first_factor_minutes(self) -> Option<f64> {
        (self.first != -1.0).then_some(self.first)
    }

    /// Minutes since the second factor (TOTP, backup code, ...) was verified, or `None` if
    /// the user has none.
    pub fn second_factor_minutes(self) -> Option<f64> {
        (self.second != -1.0).then_some(self.second)
    }

    fn from_claim(claim: &Value) -> Option<FactorVerificationAge> {
        if claim.is_null() {
            return None;
        }
        let valid = claim.as_array().and_then(|ages| match ages.as_slice() {
            [first, second] => Some(FactorVerificationAge {
                first: factor_age(first)?,
                second: factor_age(second)?,
            }),
            _ => None,
        });
        if valid.is_none() {
            tracing::debug!(
                claim = "fva",
                "malformed session claim; reverification checks fail"
            );
        }
        valid
    }
}

fn factor_age(age: &Value) -> Option<f64> {
    age.as_f64()
        .filter(|age| age.is_finite() && (*age == -1.0 || *age >= 0.0))
}

/// A `fea` or `pla` claim that is not a string of `scope:name` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MalformedClaim;

/// One `scope:name` entry of a `fea` or `pla` claim, whatever its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ScopedPart<'a> {
    scope: &'a str,
    name: &'a str,
}

impl ScopedPart<'_> {
    fn entitlement(&self) -> Option<Entitlement> {
        Some(Entitlement {
            scope: EntitlementScope::from_claim(self.scope)?,
            name: self.name.to_owned(),
        })
    }

    fn is_org(&self) -> bool {
        EntitlementScope::from_claim(self.scope).is_some_and(EntitlementScope::includes_org)
    }
}

/// Clerk's `splitByScope`: comma-separated entries, each trimmed and split at its first colon.
/// An entry without a colon makes the whole claim malformed (Clerk throws). Entries with an
/// unknown scope are kept here; callers ignore them as Clerk does.
fn split_by_scope(claim: &str) -> Result<Vec<ScopedPart<'_>>, MalformedClaim> {
    if claim.is_empty() {
        return Ok(Vec::new());
    }
    claim
        .split(',')
        .map(|part| {
            let (scope, name) = part.trim().split_once(':').ok_or(MalformedClaim)?;
            Ok(ScopedPart { scope, name })
        })
        .collect()
}

/// The entries of the `fea` or `pla` claim: none when absent or `null`, malformed when it is not
/// a string or [`split_by_scope`] refuses it.
fn scoped_parts<'a>(
    payload: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Vec<ScopedPart<'a>>, MalformedClaim> {
    let parts = match payload.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(claim)) => split_by_scope(claim),
        Some(_) => Err(MalformedClaim),
    };
    if parts.is_err() {
        tracing::debug!(
            claim = name,
            "malformed session claim; checks against it fail"
        );
    }
    parts
}

fn is_v2(payload: &Map<String, Value>) -> bool {
    payload.get("v").and_then(Value::as_f64) == Some(2.0)
}

fn non_empty_str<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    object
        .get(name)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
}

fn string_array(claim: Option<&Value>) -> Vec<String> {
    claim
        .and_then(Value::as_array)
        .map(|values| {
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Claims from `extra` laid over a minimal verified payload, for tests.
#[cfg(test)]
pub(crate) fn test_claims(extra: Value) -> SessionClaims {
    let mut payload = serde_json::json!({
        "sub": "user_123",
        "sid": "sess_123",
        "iss": "https://clerk.example.com",
        "azp": "https://example.com",
        "exp": 1_700_000_600,
        "iat": 1_700_000_000,
        "nbf": 1_699_999_990,
    });
    let (Value::Object(base), Value::Object(extra)) = (&mut payload, extra) else {
        panic!("claims must be JSON objects");
    };
    base.extend(extra);
    let Value::Object(payload) = payload else {
        unreachable!()
    };
    SessionClaims::from_payload(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::test_claims as claims;
    use serde_json::json;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    /// The fields of Clerk's auth object that must not depend on the token version.
    fn auth_object(claims: &SessionClaims) -> impl PartialEq + std::fmt::Debug + '_ {
        (
            claims.user_id(),
            claims.session_id(),
            claims.actor().map(|actor| actor.raw()),
            claims.session_status(),
            claims.org_id(),
            claims.org_role(),
            claims.org_slug(),
            claims.org_permissions(),
            claims.factor_verification_age(),
        )
    }

    #[test]
    fn v1_and_v2_produce_the_same_normalised_claims() {
        let v2 = claims(json!({
            "v": 2,
            "fea": "o:impersonation",
            "o": { "id": "org_xxxxxxx", "rol": "admin", "slg": "org_test", "per": "read,manage", "fpm": "3" },
        }));
        let v1 = claims(json!({
            "org_id": "org_xxxxxxx",
            "org_role": "org:admin",
            "org_slug": "org_test",
            "org_permissions": ["org:impersonation:read", "org:impersonation:manage"],
        }));
        assert_eq!(auth_object(&v1), auth_object(&v2));
        assert_eq!(v2.version(), 2);
        assert_eq!(v1.version(), 1);
    }

    #[test]
    fn v2_without_an_org_produces_nothing_org_related() {
        let v2 = claims(json!({ "v": 2, "fea": "u:impersonation,u:memberships" }));
        let v1 = claims(json!({}));
        assert_eq!(auth_object(&v1), auth_object(&v2));
        assert_eq!(v2.org_id(), None);
        assert_eq!(v2.org_role(), None);
        assert_eq!(v2.org_slug(), None);
        assert!(v2.org_permissions().is_empty());
    }

    #[test]
    fn v2_ignores_v1_org_claims() {
        let v2 = claims(json!({ "v": 2, "org_id": "org_1", "org_role": "org:admin" }));
        assert_eq!(v2.org_id(), None);
        assert_eq!(v2.org_role(), None);
    }

    #[test]
    fn v2_org_role_is_prefixed_with_org() {
        let claims = claims(json!({
            "v": 2,
            "o": { "id": "org_id", "rol": "admin", "slg": "org_slug" },
        }));
        assert_eq!(claims.org_role(), Some("org:admin"));
        assert_eq!(claims.org_slug(), Some("org_slug"));
    }

    #[test]
    fn v2_empty_role_is_no_role() {
        let claims = claims(json!({ "v": 2, "o": { "id": "org_id", "rol": "" } }));
        assert_eq!(claims.org_role(), None);
    }

    #[test]
    fn v1_org_role_is_unchanged() {
        assert_eq!(
            claims(json!({ "org_role": "admin" })).org_role(),
            Some("admin")
        );
        assert_eq!(
            claims(json!({ "org_role": "org:admin" })).org_role(),
            Some("org:admin")
        );
    }

    #[test]
    fn non_string_claim_values_read_as_absent_without_panicking() {
        let v2 = claims(json!({
            "v": 2,
            "fea": { "o": "a" },
            "pla": 7,
            "sts": 1,
            "o": { "id": 5, "slg": [], "rol": 123, "per": 3, "fpm": 1 },
        }));
        assert_eq!(v2.org_id(), None);
        assert_eq!(v2.org_slug(), None);
        assert_eq!(v2.org_role(), None);
        assert!(v2.org_permissions().is_empty());
        assert_eq!(v2.feature_entitlements(), Err(MalformedClaim));
        assert_eq!(v2.plan_entitlements(), Err(MalformedClaim));
        assert_eq!(v2.session_status(), None);

        let v1 = claims(json!({ "org_id": 1, "org_role": 123, "org_permissions": { "a": 1 } }));
        assert_eq!(v1.org_id(), None);
        assert_eq!(v1.org_role(), None);
        assert!(v1.org_permissions().is_empty());

        let mixed = claims(json!({ "org_permissions": ["org:a:read", 1, null, "org:b:read"] }));
        assert_eq!(
            mixed.org_permissions(),
            strings(&["org:a:read", "org:b:read"])
        );

        let not_an_object = claims(json!({ "v": 2, "o": "org_1" }));
        assert_eq!(not_an_object.org_id(), None);
    }

    #[test]
    fn split_by_scope_splits_by_scope() {
        let parts = split_by_scope("o:reservations,u:dashboard").unwrap();
        assert_eq!(
            parts,
            [
                ScopedPart {
                    scope: "o",
                    name: "reservations"
                },
                ScopedPart {
                    scope: "u",
                    name: "dashboard"
                },
            ]
        );
    }

    #[test]
    fn split_by_scope_gives_both_lists_for_multiple_scopes() {
        let claims =
            claims(json!({ "fea": "o:reservations,u:dashboard,ou:support-chat,uo:billing" }));
        let org: Vec<&str> = claims
            .features()
            .iter()
            .filter(|e| e.scope().includes_org())
            .map(Entitlement::name)
            .collect();
        let user: Vec<&str> = claims
            .features()
            .iter()
            .filter(|e| e.scope().includes_user())
            .map(Entitlement::name)
            .collect();
        assert_eq!(org, ["reservations", "support-chat", "billing"]);
        assert_eq!(user, ["dashboard", "support-chat", "billing"]);
    }

    #[test]
    fn split_by_scope_refuses_an_entry_without_a_colon() {
        assert_eq!(
            split_by_scope("reservations,dashboard"),
            Err(MalformedClaim)
        );
        assert_eq!(split_by_scope("o:a,"), Err(MalformedClaim));
        assert_eq!(split_by_scope(" "), Err(MalformedClaim));
    }

    #[test]
    fn split_by_scope_of_an_empty_claim_is_empty() {
        assert_eq!(split_by_scope(""), Ok(Vec::new()));
        assert!(claims(json!({ "fea": "" })).features().is_empty());
        assert_eq!(
            claims(json!({ "fea": null })).feature_entitlements(),
            Ok(&[][..])
        );
    }

    #[test]
    fn split_by_scope_trims_entries_and_splits_at_the_first_colon() {
        assert_eq!(
            split_by_scope(" o:a , u:b:c ").unwrap(),
            [
                ScopedPart {
                    scope: "o",
                    name: "a"
                },
                ScopedPart {
                    scope: "u",
                    name: "b:c"
                },
            ]
        );
    }

    #[test]
    fn entitlements_with_unknown_scopes_are_ignored() {
        let claims = claims(json!({ "pla": "x:gold,u:free,o:pro" }));
        assert_eq!(
            claims.plans(),
            [
                Entitlement {
                    scope: EntitlementScope::User,
                    name: "free".to_owned()
                },
                Entitlement {
                    scope: EntitlementScope::Org,
                    name: "pro".to_owned()
                },
            ]
        );
    }

    #[test]
    fn registered_claims_are_read() {
        let claims = claims(json!({ "jti": "abc" }));
        assert_eq!(claims.user_id(), "user_123");
        assert_eq!(claims.session_id(), "sess_123");
        assert_eq!(claims.issuer(), Some("https://clerk.example.com"));
        assert_eq!(claims.authorized_party(), Some("https://example.com"));
        assert_eq!(claims.expires_at(), 1_700_000_600);
        assert_eq!(claims.issued_at(), Some(1_700_000_000));
        assert_eq!(claims.not_before(), Some(1_699_999_990));
        assert_eq!(claims.token_id(), Some("abc"));
    }

    #[test]
    fn optional_registered_claims_may_be_absent() {
        let mut payload = Map::new();
        payload.insert("sub".to_owned(), json!("user_1"));
        payload.insert("sid".to_owned(), json!("sess_1"));
        payload.insert("exp".to_owned(), json!(10));
        let claims = SessionClaims::from_payload(payload);
        assert_eq!(claims.issuer(), None);
        assert_eq!(claims.authorized_party(), None);
        assert_eq!(claims.issued_at(), None);
        assert_eq!(claims.not_before(), None);
        assert_eq!(claims.token_id(), None);
        assert!(claims.actor().is_none());
        assert_eq!(claims.factor_verification_age(), None);
    }

    #[test]
    fn times_saturate_to_i64_seconds() {
        assert_eq!(claims(json!({ "exp": u64::MAX })).expires_at(), i64::MAX);
        assert_eq!(claims(json!({ "exp": 1e300 })).expires_at(), i64::MAX);
        assert_eq!(claims(json!({ "exp": -1e300 })).expires_at(), i64::MIN);
        assert_eq!(
            claims(json!({ "exp": 1_700_000_000.9 })).expires_at(),
            1_700_000_000
        );
        assert_eq!(claims(json!({ "iat": "1700000000" })).issued_at(), None);
    }

    #[test]
    fn version_is_2_only_for_the_number_2() {
        assert_eq!(claims(json!({ "v": 2 })).version(), 2);
        assert_eq!(claims(json!({ "v": 2.0 })).version(), 2);
        assert_eq!(claims(json!({ "v": "2" })).version(), 1);
        assert_eq!(claims(json!({ "v": 3 })).version(), 1);
        assert_eq!(claims(json!({})).version(), 1);
    }

    #[test]
    fn v_other_than_2_reads_v1_org_claims() {
        let claims = claims(json!({ "v": 3, "org_id": "org_1", "o": { "id": "org_2" } }));
        assert_eq!(claims.org_id(), Some("org_1"));
    }

    #[test]
    fn session_status_is_read() {
        let pending = claims(json!({ "sts": "pending" }));
        assert_eq!(pending.session_status(), Some(&SessionStatus::Pending));
        assert!(pending.is_pending());
        let active = claims(json!({ "sts": "active" }));
        assert_eq!(active.session_status(), Some(&SessionStatus::Active));
        assert!(!active.is_pending());
        let other = claims(json!({ "sts": "frozen" }));
        assert_eq!(
            other.session_status(),
            Some(&SessionStatus::Other("frozen".to_owned()))
        );
        assert_eq!(
            other.session_status().map(SessionStatus::as_str),
            Some("frozen")
        );
        assert_eq!(claims(json!({})).session_status(), None);
        assert!(!claims(json!({})).is_pending());
    }

    #[test]
    fn actor_is_a_typed_view_of_act() {
        let claims = claims(json!({
            "act": { "sub": "user_admin", "iss": "https://dashboard.clerk.com", "sid": "sess_admin", "type": "agent", "extra": 1 },
        }));
        let actor = claims.actor().unwrap();
        assert_eq!(actor.subject(), Some("user_admin"));
        assert_eq!(actor.issuer(), Some("https://dashboard.clerk.com"));
        assert_eq!(actor.session_id(), Some("sess_admin"));
        assert_eq!(actor.kind(), Some("agent"));
        assert_eq!(actor.raw()["extra"], 1);
    }

    #[test]
    fn a_malformed_actor_is_still_an_actor() {
        let malformed = claims(json!({ "act": "actor" }));
        let actor = malformed.actor().unwrap();
        assert_eq!(actor.subject(), None);
        assert_eq!(actor.raw(), "actor");
        assert!(claims(json!({ "act": null })).actor().is_none());
    }

    #[test]
    fn factor_verification_age_is_read() {
        let fva = claims(json!({ "fva": [3, -1] }))
            .factor_verification_age()
            .unwrap();
        assert_eq!(fva.first_factor_minutes(), Some(3.0));
        assert_eq!(fva.second_factor_minutes(), None);
        let fva = claims(json!({ "fva": [0.5, 0] }))
            .factor_verification_age()
            .unwrap();
        assert_eq!(fva.first_factor_minutes(), Some(0.5));
        assert_eq!(fva.second_factor_minutes(), Some(0.0));
    }

    #[test]
    fn malformed_factor_verification_age_reads_as_absent() {
        for fva in [
            json!(null),
            json!(["0", "0"]),
            json!([1]),
            json!([1, 2, 3]),
            json!([-0.5, 0]),
            json!([0, -2]),
            json!("1,2"),
            json!({ "0": 1, "1": 2 }),
        ] {
            assert_eq!(
                claims(json!({ "fva": fva })).factor_verification_age(),
                None,
                "{fva}"
            );
        }
    }

    #[test]
    fn custom_claims_are_kept() {
        let claims = claims(json!({ "email": "ada@example.com", "meta": { "tier": 2 } }));
        assert_eq!(claims.claim("email"), Some(&json!("ada@example.com")));
        assert_eq!(
            claims.claim("meta").and_then(|m| m.get("tier")),
            Some(&json!(2))
        );
        assert_eq!(claims.claim("missing"), None);
        assert_eq!(claims.claims()["sub"], "user_123");
        assert_eq!(claims.claims().len(), 9);
    }
}
