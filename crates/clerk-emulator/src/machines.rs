//! Machine authentication objects (clerk-spec §5): API keys, machines, machine-to-machine
//! (M2M) tokens and OAuth access tokens, the inputs that create them, and their JSON as the
//! Backend API's verify endpoints answer it.
//!
//! Each object is a snapshot taken when it was returned, `expired` included. Times are Unix
//! milliseconds, also for OAuth access tokens (see [`OAuthToken::to_json`]).

use serde_json::{json, Map, Value};

/// The lifetime of an M2M or OAuth access token created without
/// `seconds_until_expiration`: one hour, a Clerk machine's default token TTL.
pub const DEFAULT_TOKEN_TTL_SECS: i64 = 3600;

/// How an M2M or OAuth access token is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenFormat {
    /// A random string (`mt_…`, `oat_…`) that only the Backend API can verify; stored, so it
    /// can be listed and revoked.
    #[default]
    Opaque,
    /// A JWT signed with the instance's current signing key, verifiable with its JWKS.
    Jwt,
}

impl TokenFormat {
    /// `opaque` or `jwt`, as `token_format` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opaque => "opaque",
            Self::Jwt => "jwt",
        }
    }
}

/// An API key to create, as `POST /api_keys` takes it.
///
/// ```
/// use clerk_emulator::machines::NewApiKey;
/// let key = NewApiKey::new("user_2abc", "ci-pipeline")
///     .scopes(["read", "write"])
///     .claims(serde_json::json!({"team": "infra"}))
///     .seconds_until_expiration(3600);
/// # let _ = key;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewApiKey {
    /// Whom the key acts for: `user_…`, `org_…`, `mch_…` or `scim_…`.
    pub subject: String,
    /// A name of at least 3 characters, without surrounding whitespace.
    pub name: String,
    /// Clerk's `type` (3 to 25 characters), `api_key` by default.
    pub key_type: String,
    /// Up to 255 characters.
    pub description: Option<String>,
    /// Any JSON, returned as is on verification.
    pub claims: Option<Value>,
    /// Free-form permission strings.
    pub scopes: Vec<String>,
    /// The user who created the key (`user_…`).
    pub created_by: Option<String>,
    /// The key's lifetime; `None` never expires. The Backend API takes only a positive
    /// number; from Rust, `0` or a negative number gives a key that has already expired.
    pub seconds_until_expiration: Option<i64>,
}

impl NewApiKey {
    /// A key for this subject with this name, no scopes, no claims, never expiring.
    pub fn new(subject: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            name: name.into(),
            key_type: "api_key".to_owned(),
            description: None,
            claims: None,
            scopes: Vec::new(),
            created_by: None,
            seconds_until_expiration: None,
        }
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the claims.
    pub fn claims(mut self, claims: Value) -> Self {
        self.claims = Some(claims);
        self
    }

    /// Sets the scopes.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the creator, `user_…`.
    pub fn created_by(mut self, user_id: impl Into<String>) -> Self {
        self.created_by = Some(user_id.into());
        self
    }

    /// Sets the lifetime in seconds (`0` or negative: already expired).
    pub fn seconds_until_expiration(mut self, seconds: i64) -> Self {
        self.seconds_until_expiration = Some(seconds);
        self
    }
}

/// An API key (`ak_…`), as `POST /api_keys/verify` answers it (without its secret).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ApiKey {
    /// `ak_` and 32 hexadecimal digits.
    pub id: String,
    /// Clerk's `type`, `api_key` by default.
    pub key_type: String,
    /// `user_…`, `org_…`, `mch_…` or `scim_…`.
    pub subject: String,
    /// The key's name.
    pub name: String,
    /// The description.
    pub description: Option<String>,
    /// The claims given at creation (JSON `null` if none).
    pub claims: Value,
    /// The scopes.
    pub scopes: Vec<String>,
    /// Whether the key was revoked.
    pub revoked: bool,
    /// Why it was revoked.
    pub revocation_reason: Option<String>,
    /// Whether `expiration` had passed when the snapshot was taken.
    pub expired: bool,
    /// When the key expires (ms); `None` never.
    pub expiration: Option<i64>,
    /// The creator, `user_…`.
    pub created_by: Option<String>,
    /// The last successful verification (ms).
    pub last_used_at: Option<i64>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl ApiKey {
    /// Clerk's APIKey JSON (`"object": "api_key"`), as the verify and revoke endpoints answer.
    pub fn to_json(&self) -> Value {
        json!({
            "object": "api_key",
            "id": self.id,
            "type": self.key_type,
            "subject": self.subject,
            "name": self.name,
            "description": self.description,
            "claims": self.claims,
            "scopes": self.scopes,
            "revoked": self.revoked,
            "revocation_reason": self.revocation_reason,
            "expired": self.expired,
            "expiration": self.expiration,
            "created_by": self.created_by,
            "last_used_at": self.last_used_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// A new API key and its secret, which is shown only once.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CreatedApiKey {
    /// The key.
    pub api_key: ApiKey,
    /// The secret to send as a bearer token: `ak_` and the standard base64 of 32 random bytes,
    /// so it may contain `+`, `/` and `=` (like Clerk's `ak_LCWGdaM8…/57II…Gn9=`).
    pub secret: String,
}

impl CreatedApiKey {
    /// The answer of `POST /api_keys`: [`ApiKey::to_json`] with `secret`.
    pub fn to_json(&self) -> Value {
        with_field(self.api_key.to_json(), "secret", &self.secret)
    }
}

/// A machine (`mch_…`): a service that authenticates with its secret key and creates M2M
/// tokens for the machines in its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Machine {
    /// `mch_` and 27 alphanumerics.
    pub id: String,
    /// The machine's name.
    pub name: String,
    /// Its secret key (`CLERK_MACHINE_SECRET_KEY`), `ak_…` like an API key secret.
    pub secret_key: String,
    /// The ids of the machines it may talk to: the `scopes` (and JWT `aud`) of the M2M tokens
    /// it creates from now on.
    pub scopes: Vec<String>,
}

/// An M2M token to create, as `POST /m2m_tokens` takes it.
///
/// ```
/// use clerk_emulator::machines::{NewM2mToken, TokenFormat};
/// let token = NewM2mToken::new()
///     .format(TokenFormat::Jwt)
///     .seconds_until_expiration(300)
///     .claims(serde_json::json!({"job": "nightly"}));
/// # let _ = token;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct NewM2mToken {
    /// Opaque (the default, stored) or JWT (not stored).
    pub format: TokenFormat,
    /// The lifetime, [`DEFAULT_TOKEN_TTL_SECS`] by default. The Backend API takes only a
    /// positive number; from Rust, `0` or a negative number gives an expired token.
    pub seconds_until_expiration: Option<i64>,
    /// Custom claims: returned on verification, and at the top level of a JWT (which needs a
    /// JSON object; the registered claims win over custom ones of the same name).
    pub claims: Option<Value>,
    /// Opaque tokens only: return a live token of the machine with the same claims and scopes
    /// and at least this many seconds left, if there is one, instead of a new one. Must be
    /// less than the lifetime.
    pub min_remaining_ttl_seconds: Option<i64>,
}

impl NewM2mToken {
    /// An opaque token with the default lifetime and no claims.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the format.
    pub fn format(mut self, format: TokenFormat) -> Self {
        self.format = format;
        self
    }

    /// Sets the lifetime in seconds (`0` or negative: already expired).
    pub fn seconds_until_expiration(mut self, seconds: i64) -> Self {
        self.seconds_until_expiration = Some(seconds);
        self
    }

    /// Sets the custom claims.
    pub fn claims(mut self, claims: Value) -> Self {
        self.claims = Some(claims);
        self
    }

    /// Reuses a live opaque token with at least this many seconds left.
    pub fn min_remaining_ttl_seconds(mut self, seconds: i64) -> Self {
        self.min_remaining_ttl_seconds = Some(seconds);
        self
    }
}

/// An M2M token (`mt_…`), as `POST /m2m_tokens/verify` answers it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct M2mToken {
    /// `mt_` and 32 hexadecimal digits (a JWT's `jti`).
    pub id: String,
    /// The machine that created it, `mch_…`.
    pub subject: String,
    /// The custom claims (JSON `null` if none).
    pub claims: Value,
    /// The machine ids it may be sent to: its machine's scopes when it was created.
    pub scopes: Vec<String>,
    /// Opaque or JWT (not part of Clerk's JSON).
    pub format: TokenFormat,
    /// Whether it was revoked.
    pub revoked: bool,
    /// Why it was revoked.
    pub revocation_reason: Option<String>,
    /// Whether `expiration` had passed when the snapshot was taken.
    pub expired: bool,
    /// When it expires (ms).
    pub expiration: Option<i64>,
    /// The last successful verification (ms).
    pub last_used_at: Option<i64>,
    /// Creation time (ms; a JWT's `iat` × 1000).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl M2mToken {
    /// Clerk's M2MToken JSON (`"object": "machine_to_machine_token"`).
    pub fn to_json(&self) -> Value {
        json!({
            "object": "machine_to_machine_token",
            "id": self.id,
            "subject": self.subject,
            "claims": self.claims,
            "scopes": self.scopes,
            "revoked": self.revoked,
            "revocation_reason": self.revocation_reason,
            "expired": self.expired,
            "expiration": self.expiration,
            "last_used_at": self.last_used_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// A new M2M token and the token itself.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CreatedM2mToken {
    /// What the machine sends: `mt_` and 32 alphanumerics, or the JWT.
    pub token: String,
    /// The token's object.
    pub m2m_token: M2mToken,
}

impl CreatedM2mToken {
    /// The answer of `POST /m2m_tokens`: [`M2mToken::to_json`] with `token`.
    pub fn to_json(&self) -> Value {
        with_field(self.m2m_token.to_json(), "token", &self.token)
    }
}

/// An OAuth access token to issue, as Clerk's OAuth server issues them to an OAuth
/// application for a user (there is no Backend API route for this).
///
/// ```
/// use clerk_emulator::machines::{NewOAuthToken, TokenFormat};
/// let token = NewOAuthToken::new("user_2abc")
///     .client_id("client_2xyz")
///     .scopes(["read:foo", "write:bar"])
///     .format(TokenFormat::Jwt);
/// # let _ = token;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewOAuthToken {
    /// The user, `user_…`.
    pub subject: String,
    /// The OAuth application's client id; `client_<random>` by default.
    pub client_id: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// Opaque (`oat_…`, the default) or JWT (`typ: at+jwt`).
    pub format: TokenFormat,
    /// The lifetime, [`DEFAULT_TOKEN_TTL_SECS`] by default (`0` or negative: already
    /// expired).
    pub seconds_until_expiration: Option<i64>,
    /// The audience: `aud` of a JWT, and an `aud` array in the verify answer when not empty.
    pub audience: Vec<String>,
}

impl NewOAuthToken {
    /// An opaque token for this user, from a random client, with no scopes.
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            client_id: crate::ids::clerk_id("client"),
            scopes: Vec::new(),
            format: TokenFormat::Opaque,
            seconds_until_expiration: None,
            audience: Vec::new(),
        }
    }

    /// Sets the client id.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// Sets the scopes.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the format.
    pub fn format(mut self, format: TokenFormat) -> Self {
        self.format = format;
        self
    }

    /// Sets the lifetime in seconds (`0` or negative: already expired).
    pub fn seconds_until_expiration(mut self, seconds: i64) -> Self {
        self.seconds_until_expiration = Some(seconds);
        self
    }

    /// Sets the audience.
    pub fn audience<I, S>(mut self, audience: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audience = audience.into_iter().map(Into::into).collect();
        self
    }
}

/// An OAuth access token (`oat_…`), as `POST /oauth_applications/access_tokens/verify`
/// answers it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OAuthToken {
    /// `oat_` and 32 hexadecimal digits (a JWT's `jti`).
    pub id: String,
    /// The OAuth application's client id.
    pub client_id: String,
    /// The user, `user_…`.
    pub subject: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// The audience (empty: none).
    pub audience: Vec<String>,
    /// Opaque or JWT (not part of Clerk's JSON).
    pub format: TokenFormat,
    /// Whether it was revoked.
    pub revoked: bool,
    /// Why it was revoked.
    pub revocation_reason: Option<String>,
    /// Whether `expiration` had passed when the snapshot was taken.
    pub expired: bool,
    /// When it expires (ms).
    pub expiration: Option<i64>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

impl OAuthToken {
    /// Clerk's IdPOAuthAccessToken JSON (`"object": "clerk_idp_oauth_access_token"`), with
    /// `aud` only when there is an audience (the JS SDK reads it; the OpenAPI schema does not
    /// list it).
    ///
    /// Times are in **milliseconds**, as for every other Backend API object. The OpenAPI
    /// examples of this object show seconds, but the same placeholder value is given for
    /// fields documented as milliseconds elsewhere, and the JS SDK's object from a JWT holds
    /// milliseconds. Serve a body in seconds with [`Fault::Body`](crate::Fault::Body) to test
    /// a client against both.
    pub fn to_json(&self) -> Value {
        let mut value = json!({
            "object": "clerk_idp_oauth_access_token",
            "id": self.id,
            "client_id": self.client_id,
            "subject": self.subject,
            "scopes": self.scopes,
            "revoked": self.revoked,
            "revocation_reason": self.revocation_reason,
            "expired": self.expired,
            "expiration": self.expiration,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        });
        if !self.audience.is_empty() {
            value["aud"] = json!(self.audience);
        }
        value
    }
}

/// A new OAuth access token and the token itself.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CreatedOAuthToken {
    /// What the application sends: `oat_` and 32 alphanumerics, or the JWT.
    pub token: String,
    /// The token's object.
    pub oauth_token: OAuthToken,
}

fn with_field(mut value: Value, name: &str, field: &str) -> Value {
    if let Value::Object(map) = &mut value {
        map.insert(name.to_owned(), Value::String(field.to_owned()));
    }
    value
}

/// The custom claims of a JWT: an object, or nothing.
pub(crate) fn claims_map(claims: &Value) -> Option<Map<String, Value>> {
    match claims {
        Value::Null => Some(Map::new()),
        Value::Object(map) => Some(map.clone()),
        _ => None,
    }
}
