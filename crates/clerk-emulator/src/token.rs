//! Minting session tokens in Clerk's shapes (claims v1 and v2), with every field overridable.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::compact::Compact;
use crate::ids;
use crate::key::{Algorithm, KeyError, SigningKey};

/// The issuer of tokens minted without an emulator (see [`crate::Emulator`] for the issuer of an
/// emulator). The `.invalid` top-level domain never resolves (RFC 2606).
pub const DEFAULT_ISSUER: &str = "https://clerk.emulator.invalid";

/// The default `azp`: the origin of a typical local frontend.
pub const DEFAULT_AZP: &str = "http://localhost:3000";

/// Header `cat` of a session token (handshake tokens carry it too).
pub const CAT_SESSION: &str = "cl_B7d4PD111AAA";
/// Header `cat` of a JWT-template token.
pub const CAT_JWT_TEMPLATE: &str = "cl_B7d4PD222AAA";
/// Header `cat` of an M2M token: a session verifier must refuse it.
pub const CAT_M2M: &str = "cl_B7d4PD333AAA";
/// Header `cat` carrying no class information.
pub const CAT_IGNORE: &str = "cl_I7d4PD111III";

/// Seconds between `iat` and `exp` in a default token, as in Clerk's session tokens.
pub const DEFAULT_LIFETIME_SECS: i64 = 60;
/// Seconds `nbf` lies before `iat` in a default token, as in Clerk's session tokens.
pub const DEFAULT_NBF_LEEWAY_SECS: i64 = 10;

/// The session-token claims version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClaimsVersion {
    /// No `v` claim; organization as flat `org_id`, `org_slug`, `org_role`, `org_permissions`.
    V1,
    /// `"v": 2`; organization as `o: {id, slg, rol, per, fpm}` with features in `fea`.
    #[default]
    V2,
}

/// The active organization of a session, rendered in the v1 or the v2 shape when the token is
/// built.
///
/// Permissions are given in their v1 spelling, `org:<feature>:<permission>`. In v2 they are
/// encoded the way Clerk encodes them: the features go to `fea` (as `o:<feature>`), the distinct
/// permission names to `o.per`, and one decimal bitmask per `fea` entry to `o.fpm` (bit *i* grants
/// the *i*-th name of `per`).
///
/// ```
/// use clerk_emulator::Organization;
/// let org = Organization::new("org_1")
///     .slug("acme")
///     .role("org:admin")
///     .permissions(["org:posts:read", "org:posts:delete", "org:billing:read"]);
/// let (o, fea) = org.v2_claims();
/// assert_eq!(o["rol"], "admin");
/// assert_eq!(o["per"], "read,delete");
/// assert_eq!(o["fpm"], "3,1");
/// assert_eq!(fea, ["o:posts", "o:billing"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    id: String,
    slug: Option<String>,
    role: Option<String>,
    permissions: Vec<String>,
    features: Vec<String>,
}

impl Organization {
    /// An organization with this id (`org_…`) and nothing else.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            slug: None,
            role: None,
            permissions: Vec::new(),
            features: Vec::new(),
        }
    }

    /// Sets the slug (`org_slug` / `o.slg`).
    pub fn slug(mut self, slug: impl Into<String>) -> Self {
        self.slug = Some(slug.into());
        self
    }

    /// Sets the role, e.g. `org:admin`. v1 writes it as given (so a legacy bare `admin` is
    /// possible); v2 writes it without its `org:` prefix.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// Adds one permission, `org:<feature>:<permission>`.
    pub fn permission(mut self, permission: impl Into<String>) -> Self {
        self.permissions.push(permission.into());
        self
    }

    /// Adds permissions, each `org:<feature>:<permission>`.
    pub fn permissions<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.permissions
            .extend(permissions.into_iter().map(Into::into));
        self
    }

    /// Adds an organization feature that grants no permission (v2 only: `o:<feature>` in `fea`
    /// with a zero mask).
    pub fn feature(mut self, feature: impl Into<String>) -> Self {
        self.features.push(feature.into());
        self
    }

    /// The v1 claims: `org_id`, `org_slug` (if set), `org_role` (if set), `org_permissions`.
    pub fn v1_claims(&self) -> Map<String, Value> {
        let mut claims = Map::new();
        claims.insert("org_id".into(), json!(self.id));
        if let Some(slug) = &self.slug {
            claims.insert("org_slug".into(), json!(slug));
        }
        if let Some(role) = &self.role {
            claims.insert("org_role".into(), json!(role));
        }
        claims.insert("org_permissions".into(), json!(self.permissions));
        claims
    }

    /// The v2 `o` claim and this organization's `fea` entries (`o:<feature>`), whose order
    /// matches the masks in `o.fpm`.
    ///
    /// Permissions not of the form `org:<feature>:<permission>` cannot be expressed in v2 and
    /// are left out. `per` and `fpm` are left out when there is no permission.
    ///
    /// # Panics
    /// If there are more than 128 distinct permission names.
    pub fn v2_claims(&self) -> (Value, Vec<String>) {
        let mut features: Vec<&str> = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        let mut grants: Vec<(usize, usize)> = Vec::new();
        for permission in &self.permissions {
            let mut parts = permission.splitn(3, ':');
            let (Some("org"), Some(feature), Some(name)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            grants.push((index_of(&mut features, feature), index_of(&mut names, name)));
        }
        for feature in &self.features {
            index_of(&mut features, feature);
        }
        assert!(names.len() <= 128, "at most 128 distinct permission names");
        let mut masks = vec![0u128; features.len()];
        for (feature, name) in grants {
            masks[feature] |= 1 << name;
        }

        let mut o = Map::new();
        o.insert("id".into(), json!(self.id));
        if let Some(slug) = &self.slug {
            o.insert("slg".into(), json!(slug));
        }
        if let Some(role) = &self.role {
            let role = role.strip_prefix("org:").unwrap_or(role);
            o.insert("rol".into(), json!(role));
        }
        if !names.is_empty() {
            o.insert("per".into(), json!(names.join(",")));
            let fpm: Vec<String> = masks.iter().map(u128::to_string).collect();
            o.insert("fpm".into(), json!(fpm.join(",")));
        }
        let fea = features.iter().map(|f| format!("o:{f}")).collect();
        (Value::Object(o), fea)
    }
}

fn index_of<'a>(list: &mut Vec<&'a str>, item: &'a str) -> usize {
    match list.iter().position(|x| *x == item) {
        Some(i) => i,
        None => {
            list.push(item);
            list.len() - 1
        }
    }
}

#[derive(Debug, Clone)]
enum Signer {
    /// The builder's key, with the builder's algorithm.
    Key,
    /// Another key, with the builder's algorithm; the header keeps its `kid`.
    Other(SigningKey),
    /// These exact signature bytes.
    Bytes(Vec<u8>),
}

/// The seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Builds a session token. The defaults look like a real Clerk v2 session token:
///
/// - header `{"alg":"RS256","cat":"cl_B7d4PD111AAA","kid":<key kid>,"typ":"JWT"}`;
/// - payload `azp` = [`DEFAULT_AZP`], `exp` = now + 60, `fva` = `[0,-1]`, `iat` = now,
///   `iss` = [`DEFAULT_ISSUER`] (or the emulator's issuer), `jti` = 20 random hex digits,
///   `nbf` = now - 10, `sid` = `sess_<random>`, `sts` = `"active"`, `sub` = `user_<random>`,
///   `v` = 2.
///
/// Every header field and claim can be replaced or removed, and the signature can be made
/// wrong in several ways. The last call for a given field wins.
///
/// ```
/// use clerk_emulator::{Organization, SigningKey, TokenBuilder};
/// let key = SigningKey::test_key();
/// let token = TokenBuilder::new(&key)
///     .user("user_123")
///     .organization(Organization::new("org_1").role("org:admin"))
///     .claim("email", "ada@example.com")
///     .expires_in(3600)
///     .sign();
/// assert_eq!(token.split('.').count(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct TokenBuilder {
    key: SigningKey,
    algorithm: Algorithm,
    signer: Signer,
    now: i64,
    version: ClaimsVersion,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    organization: Option<Organization>,
    features: Vec<String>,
    overrides: BTreeMap<String, Option<Value>>,
}

impl TokenBuilder {
    /// A default session token (see the type's documentation) signed by `key`.
    pub fn new(key: &SigningKey) -> Self {
        let mut header = Map::new();
        header.insert("alg".into(), json!(Algorithm::RS256.name()));
        header.insert("cat".into(), json!(CAT_SESSION));
        header.insert("kid".into(), json!(key.kid()));
        header.insert("typ".into(), json!("JWT"));

        let mut claims = Map::new();
        claims.insert("azp".into(), json!(DEFAULT_AZP));
        claims.insert("fva".into(), json!([0, -1]));
        claims.insert("iss".into(), json!(DEFAULT_ISSUER));
        claims.insert("jti".into(), json!(ids::hex(20)));
        claims.insert("sid".into(), json!(ids::clerk_id("sess")));
        claims.insert("sts".into(), json!("active"));
        claims.insert("sub".into(), json!(ids::clerk_id("user")));
        claims.insert("v".into(), json!(2));

        Self {
            key: key.clone(),
            algorithm: Algorithm::RS256,
            signer: Signer::Key,
            now: 0,
            version: ClaimsVersion::V2,
            header,
            claims,
            organization: None,
            features: Vec::new(),
            overrides: BTreeMap::new(),
        }
        .at(unix_now())
    }

    fn set(mut self, name: &str, value: Value) -> Self {
        self.overrides.remove(name);
        self.claims.insert(name.to_owned(), value);
        self
    }

    /// Mints as if the time were `unix_secs`: `iat` = t, `nbf` = t - 10, `exp` = t + 60.
    /// Call it before the other time setters, which it overwrites.
    pub fn at(mut self, unix_secs: i64) -> Self {
        self.now = unix_secs;
        self.iat(unix_secs)
            .nbf(unix_secs - DEFAULT_NBF_LEEWAY_SECS)
            .exp(unix_secs + DEFAULT_LIFETIME_SECS)
    }

    /// The time the token is minted at (now, unless set with [`TokenBuilder::at`]).
    pub fn minted_at(&self) -> i64 {
        self.now
    }

    /// Sets the signing key and the header's `kid` to that key's kid.
    pub fn key(mut self, key: &SigningKey) -> Self {
        self.key = key.clone();
        self.header("kid", Value::String(key.kid().to_owned()))
    }

    /// Signs with `key` while the header keeps its `kid`: a signature that does not verify
    /// with the key the header names.
    pub fn signed_by(mut self, key: &SigningKey) -> Self {
        self.signer = Signer::Other(key.clone());
        self
    }

    /// Uses these exact bytes as the signature (empty for an empty signature segment).
    pub fn signature_bytes(mut self, signature: impl Into<Vec<u8>>) -> Self {
        self.signer = Signer::Bytes(signature.into());
        self
    }

    /// Sets the signing algorithm and the header's `alg` to its name.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self.header("alg", Value::String(algorithm.name().to_owned()))
    }

    /// Sets any header field (`kid`, `typ`, `alg`, `cat`, `crit`, `jwk`, ...). Changing `alg`
    /// this way does not change how the token is signed (see [`TokenBuilder::algorithm`]).
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a header field.
    pub fn remove_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Sets `sub`, the user id.
    pub fn user(self, user_id: impl Into<String>) -> Self {
        self.set("sub", Value::String(user_id.into()))
    }

    /// Sets `sid`, the session id.
    pub fn session(self, session_id: impl Into<String>) -> Self {
        self.set("sid", Value::String(session_id.into()))
    }

    /// Sets `iss`.
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        self.set("iss", Value::String(issuer.into()))
    }

    /// Sets `azp`, the authorized party (the origin of the frontend).
    pub fn azp(self, azp: impl Into<String>) -> Self {
        self.set("azp", Value::String(azp.into()))
    }

    /// Sets `exp` to `seconds` after the minting time (negative: already expired).
    pub fn expires_in(self, seconds: i64) -> Self {
        let exp = self.now + seconds;
        self.exp(exp)
    }

    /// Sets `exp`, in Unix seconds.
    pub fn exp(self, unix_secs: i64) -> Self {
        self.set("exp", json!(unix_secs))
    }

    /// Sets `iat`, in Unix seconds.
    pub fn iat(self, unix_secs: i64) -> Self {
        self.set("iat", json!(unix_secs))
    }

    /// Sets `nbf`, in Unix seconds.
    pub fn nbf(self, unix_secs: i64) -> Self {
        self.set("nbf", json!(unix_secs))
    }

    /// Sets `jti`.
    pub fn jti(self, jti: impl Into<String>) -> Self {
        self.set("jti", Value::String(jti.into()))
    }

    /// Claims v1: no `v` claim, organization in the flat `org_*` shape.
    pub fn v1(mut self) -> Self {
        self.version = ClaimsVersion::V1;
        self.overrides.remove("v");
        self.claims.remove("v");
        self
    }

    /// Claims v2 (the default): `"v": 2`, organization in the `o` shape.
    pub fn v2(mut self) -> Self {
        self.version = ClaimsVersion::V2;
        self.set("v", json!(2))
    }

    /// Sets the active organization, rendered in the shape of the claims version.
    /// Explicit [`TokenBuilder::claim`] calls for `o`, `fea` or `org_*` take precedence.
    pub fn organization(mut self, organization: Organization) -> Self {
        self.organization = Some(organization);
        self
    }

    /// Adds raw `fea` entries (`u:<feature>`, `o:<feature>`, `ou:…`), after the organization's
    /// own features. Each gets a zero mask in `o.fpm`, so `fpm` keeps one mask per `fea` entry,
    /// as Clerk emits it.
    pub fn features<I, S>(mut self, entries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.features.extend(entries.into_iter().map(Into::into));
        self
    }

    /// Sets `pla`, the plans, e.g. `u:free,o:pro`.
    pub fn plans(self, plans: impl Into<String>) -> Self {
        self.set("pla", Value::String(plans.into()))
    }

    /// Sets `act`, the actor (impersonation), e.g. `{"sub": "user_admin"}`.
    pub fn actor(self, actor: Value) -> Self {
        self.set("act", actor)
    }

    /// Sets `sts`, the session status (`active` or `pending`).
    pub fn status(self, status: impl Into<String>) -> Self {
        self.set("sts", Value::String(status.into()))
    }

    /// Sets `fva`, the minutes since the first and second factor verifications (-1: never).
    pub fn fva(self, fva: [i64; 2]) -> Self {
        self.set("fva", json!(fva))
    }

    /// Sets any claim to any JSON value, taking precedence over everything else.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.overrides.insert(name.to_owned(), Some(value.into()));
        self
    }

    /// Removes a claim, taking precedence over everything else.
    pub fn remove_claim(mut self, name: &str) -> Self {
        self.overrides.insert(name.to_owned(), None);
        self
    }

    /// The header as it will be encoded.
    pub fn header_value(&self) -> Value {
        Value::Object(self.header.clone())
    }

    /// The payload as it will be encoded.
    pub fn payload_value(&self) -> Value {
        let mut claims = self.claims.clone();
        let mut fea: Vec<String> = Vec::new();
        match (&self.organization, self.version) {
            (Some(org), ClaimsVersion::V1) => claims.extend(org.v1_claims()),
            (Some(org), ClaimsVersion::V2) => {
                let (mut o, org_fea) = org.v2_claims();
                fea = org_fea;
                // One mask per `fea` entry: the raw entries added by `features()` grant nothing.
                if let Some(Value::String(fpm)) = o.get_mut("fpm") {
                    fpm.push_str(&",0".repeat(self.features.len()));
                }
                claims.insert("o".into(), o);
            }
            (None, _) => {}
        }
        fea.extend(self.features.iter().cloned());
        if !fea.is_empty() {
            claims.insert("fea".into(), Value::String(fea.join(",")));
        }
        for (name, value) in &self.overrides {
            match value {
                Some(value) => claims.insert(name.clone(), value.clone()),
                None => claims.remove(name),
            };
        }
        Value::Object(claims)
    }

    /// The header as JSON text, e.g. to edit it by hand and pass it to [`Compact::from_json`].
    pub fn header_json(&self) -> String {
        self.header_value().to_string()
    }

    /// The payload as JSON text.
    pub fn payload_json(&self) -> String {
        self.payload_value().to_string()
    }

    /// The token's three segments, signed as configured.
    pub fn try_compact(&self) -> Result<Compact, KeyError> {
        let compact = Compact::from_json(&self.header_json(), &self.payload_json());
        match &self.signer {
            Signer::Key => compact.sign_with(&self.key, self.algorithm),
            Signer::Other(key) => compact.sign_with(key, self.algorithm),
            Signer::Bytes(bytes) => Ok(compact.with_signature(bytes)),
        }
    }

    /// The token's three segments, signed as configured.
    ///
    /// # Panics
    /// If the key cannot sign with the chosen algorithm (see [`SigningKey::sign_with`]).
    pub fn compact(&self) -> Compact {
        self.try_compact()
            .unwrap_or_else(|e| panic!("cannot sign the token: {e}"))
    }

    /// The compact JWS, `header.payload.signature`.
    ///
    /// # Panics
    /// If the key cannot sign with the chosen algorithm (see [`SigningKey::sign_with`]).
    pub fn sign(&self) -> String {
        self.compact().to_string()
    }
}
