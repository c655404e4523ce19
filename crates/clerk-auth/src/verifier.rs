//! The [`Verifier`]: configuration (issuer, authorized parties, clock skew) plus a key source,
//! turning a token into [`SessionClaims`] or a [`Rejection`].
//!
//! Check order, as Clerk's `verifyToken` (clerk-spec §2), with this library's stricter rules
//! marked *ours*:
//!
//! 1. size (*ours*: 8 KiB), form, strict base64url and JSON (*ours*), category (`cat` of an M2M
//!    token), `typ`, `crit` (*ours*), `alg` — checked before the key is looked up (*ours*, so a
//!    forged header never causes a JWKS fetch);
//! 2. the key: the PEM key, or the JWKS key named by `kid`;
//! 3. the RS256 signature, before any claim;
//! 4. claims: `sub`, `aud`, `azp`, `iss`, `exp`, `nbf`, `iat`;
//! 5. *ours*: `sid` present (a token without it is a JWT-template token), `sts` not `pending`.
//!
//! A token that passed once is kept in a bounded cache keyed by its exact text; a later
//! request with the same token skips decoding and the RSA check, but its time claims are
//! checked again against the clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hashbrown::HashTable;
use http::HeaderMap;
use serde_json::Value;

use crate::claims::SessionClaims;
use crate::error::{Reason, Rejection};
use crate::jwks::{JwksCache, JwksOptions, JwksStats, JwksStatus};
use crate::keys::{KeySource, PublishableKey, RsaPublicKey};
use crate::request::{session_token, FoundToken};
use crate::revocation::Revocations;
use crate::token::{self, Field, SessionPayload, CATEGORY_JWT_TEMPLATE};

/// Clerk's default clock skew: 5 seconds.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_millis(5000);
/// The default Backend API base URL.
pub const DEFAULT_API_URL: &str = "https://api.clerk.com";
/// The default number of verified tokens remembered.
pub const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 10_000;

/// The largest verified-token cache [`VerifierBuilder::from_vars`] accepts from
/// `CLERK_TOKEN_CACHE_CAPACITY`: ten million entries (several GiB), far past any sensible
/// setting, so that a typo cannot ask for unbounded memory.
pub const MAX_TOKEN_CACHE_CAPACITY: usize = 10_000_000;

/// A source of the current time, in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A configuration error, naming the environment variable (or option) at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable or option, e.g. `CLERK_PUBLISHABLE_KEY`.
    pub variable: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

fn config_error(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

/// Counters of a verifier, for metrics. Every field only grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifierStats {
    /// Verifications answered from the verified-token cache.
    pub cache_hits: u64,
    /// Verifications that had to decode and check a signature.
    pub cache_misses: u64,
    /// The key cache's counters (zero with a PEM key).
    pub jwks: JwksStats,
}

enum Keys {
    Static(Arc<RsaPublicKey>),
    Remote(Arc<JwksCache>),
}

/// Verifies Clerk session tokens. Cheap to clone (an [`Arc`] inside); build one per Clerk
/// instance and share it.
///
/// ```no_run
/// # async fn run(token: &str) -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = clerk_auth::Verifier::from_env()?;
/// let session = verifier.verify(token).await?;
/// println!("{}", session.user_id());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Keys,
    issuer: Option<String>,
    authorized_parties: Vec<String>,
    audience: Vec<String>,
    clock_skew_ms: f64,
    treat_pending_as_signed_out: bool,
    cookie_suffix: Option<String>,
    clock: Arc<dyn Clock>,
    cache: Option<TokenCache>,
    revocations: Revocations,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = match &self.inner.keys {
            Keys::Static(_) => "pem".to_owned(),
            Keys::Remote(cache) => format!("{:?}", cache.source()),
        };
        f.debug_struct("Verifier")
            .field("keys", &keys)
            .field("issuer", &self.inner.issuer)
            .field("authorized_parties", &self.inner.authorized_parties)
            .field("clock_skew_ms", &self.inner.clock_skew_ms)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A builder with Clerk's defaults.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// A verifier configured from the environment: `CLERK_JWT_KEY`, `CLERK_JWKS_URL`,
    /// `CLERK_SECRET_KEY`, `CLERK_PUBLISHABLE_KEY`, `CLERK_ISSUER`, `CLERK_API_URL`,
    /// `CLERK_AUTHORIZED_PARTIES` (comma-separated) and `CLERK_CLOCK_SKEW_MS`.
    /// See [`VerifierBuilder::from_vars`] for how they combine.
    pub fn from_env() -> Result<Verifier, ConfigError> {
        VerifierBuilder::from_vars(|name| std::env::var(name).ok())?.build()
    }

    /// Verifies a session token.
    ///
    /// Returns the session's claims, or a [`Rejection`] whose reason is spelled as Clerk's.
    /// Fails with `keys-unavailable` (not a client error) when no key can be had.
    pub async fn verify(&self, token: &str) -> Result<Arc<SessionClaims>, Rejection> {
        match self.lookup(token)? {
            Lookup::Hit(claims) => Ok(claims),
            // Boxed: the slow path's state (a JWKS fetch among it) would otherwise make every
            // verification's future, cache hits included, a kilobyte to set up and move.
            Lookup::Miss {
                epoch,
                revocation_generation,
            } => Box::pin(self.verify_fresh(token, epoch, revocation_generation)).await,
        }
    }

    /// The checks that need no signature: the length, then the verified-token cache.
    fn lookup(&self, token: &str) -> Result<Lookup, Rejection> {
        let inner = &*self.inner;
        if token.len() > token::MAX_TOKEN_LEN {
            return Err(Rejection::new(
                Reason::TokenInvalid,
                "The token is longer than the 8192 bytes allowed.",
            ));
        }
        let epoch = match &inner.keys {
            Keys::Static(_) => 0,
            Keys::Remote(cache) => cache.epoch(),
        };
        // Read before any revocation check, so a revocation racing with this verification
        // leaves a cache entry that the next hit re-checks.
        let revocation_generation = inner.revocations.generation();
        if let Some(cache) = &inner.cache {
            let now_ms = inner.clock.now_ms() as f64;
            if let Some(hit) = cache.get(token, epoch, &inner.revocations) {
                inner.hits.fetch_add(1, Ordering::Relaxed);
                let hit = hit?;
                check_times(&hit.times, now_ms, inner.clock_skew_ms)?;
                return Ok(Lookup::Hit(hit.claims));
            }
        }
        inner.misses.fetch_add(1, Ordering::Relaxed);
        Ok(Lookup::Miss {
            epoch,
            revocation_generation,
        })
    }

    /// A verification from scratch: signature, claims, then into the cache.
    async fn verify_fresh(
        &self,
        token: &str,
        epoch: u64,
        revocation_generation: u64,
    ) -> Result<Arc<SessionClaims>, Rejection> {
        let inner = &*self.inner;
        let decoded = token::decode_session(token)?;
        let key = match &inner.keys {
            Keys::Static(key) => Arc::clone(key),
            Keys::Remote(cache) => cache.key(decoded.header.kid.as_deref()).await?,
        };
        if !key.verify_rs256(decoded.signing_input, &decoded.signature) {
            return Err(Rejection::new(
                Reason::TokenInvalidSignature,
                "JWT signature is invalid.",
            ));
        }
        let now_ms = inner.clock.now_ms() as f64;
        let times = self.check_claims(&decoded.payload, now_ms)?;
        if decoded.header.cat.as_deref() == Some(CATEGORY_JWT_TEMPLATE) {
            return Err(template_token());
        }
        let payload = decoded.payload;
        let text = |field: Field| match field {
            Field::Str(text) => text,
            _ => String::new(),
        };
        let claims = Arc::new(SessionClaims::from_verified(
            payload.json,
            text(payload.sub),
            text(payload.sid),
            payload.sts.as_str(),
        ));
        if inner.treat_pending_as_signed_out && claims.is_pending() {
            return Err(Rejection::new(
                Reason::SessionPending,
                "The session is pending: the user has a task to finish (such as choosing an \
                 organization) and is treated as signed out.",
            ));
        }
        if inner
            .revocations
            .is_revoked(claims.session_id(), claims.user_id())
        {
            return Err(REVOKED);
        }
        if let Some(cache) = &inner.cache {
            cache.insert(
                token,
                Arc::clone(&claims),
                times,
                (epoch, revocation_generation),
                now_ms,
                inner.clock_skew_ms,
            );
        }
        Ok(claims)
    }

    /// Finds the session token of a request (see [`crate::request`]) and verifies it.
    /// A request without any token fails with `session-token-missing`.
    pub async fn verify_request(
        &self,
        headers: &HeaderMap,
    ) -> Result<Arc<SessionClaims>, Rejection> {
        match self.find_token(headers) {
            Some(found) => self.verify(&found.token).await,
            None => Err(crate::error::SESSION_TOKEN_MISSING),
        }
    }

    /// Refuses every token of this session from now on (`session-revoked`), including tokens
    /// verified before. Call it on Clerk's `session.revoked`, `session.ended` and
    /// `session.removed` events. See [`crate::revocation`].
    pub fn revoke_session(&self, session_id: &str) {
        self.inner.revocations.revoke_session(session_id);
    }

    /// Refuses every token of this user from now on (`session-revoked`); for `user.deleted`.
    pub fn revoke_user(&self, user_id: &str) {
        self.inner.revocations.revoke_user(user_id);
    }

    /// Whether this session, or its user, was revoked.
    pub fn is_revoked(&self, session_id: &str, user_id: &str) -> bool {
        self.inner.revocations.is_revoked(session_id, user_id)
    }

    /// Finds the session token of a request without verifying it.
    pub fn find_token<'a>(&self, headers: &'a HeaderMap) -> Option<FoundToken<'a>> {
        session_token(headers, self.inner.cookie_suffix.as_deref())
    }

    /// The expected issuer, when known.
    pub fn issuer(&self) -> Option<&str> {
        self.inner.issuer.as_deref()
    }

    /// The key cache, when keys come from a JWKS.
    pub fn jwks(&self) -> Option<&Arc<JwksCache>> {
        match &self.inner.keys {
            Keys::Static(_) => None,
            Keys::Remote(cache) => Some(cache),
        }
    }

    /// The key state for a readiness probe; always usable with a PEM key.
    pub fn key_status(&self) -> JwksStatus {
        match &self.inner.keys {
            Keys::Static(_) => JwksStatus {
                usable: true,
                keys: 1,
                age: None,
                stale: false,
                last_error: None,
            },
            Keys::Remote(cache) => cache.status(),
        }
    }

    /// Loads the keys now (a no-op with a PEM key). Useful at startup to fail fast in a
    /// readiness check; verification works without it.
    pub async fn prefetch(&self) -> Result<(), Rejection> {
        match &self.inner.keys {
            Keys::Static(_) => Ok(()),
            Keys::Remote(cache) => cache.refresh().await,
        }
    }

    /// The counters.
    pub fn stats(&self) -> VerifierStats {
        VerifierStats {
            cache_hits: self.inner.hits.load(Ordering::Relaxed),
            cache_misses: self.inner.misses.load(Ordering::Relaxed),
            jwks: self.jwks().map(|c| c.stats()).unwrap_or_default(),
        }
    }

    fn check_claims(&self, payload: &SessionPayload, now_ms: f64) -> Result<Times, Rejection> {
        let inner = &*self.inner;
        match &payload.sub {
            Field::Str(sub) if !sub.is_empty() => {}
            _ => {
                return Err(Rejection::new(
                    Reason::TokenVerificationFailed,
                    "Subject claim (sub) is required and must be a non-empty string.",
                ))
            }
        }
        if !inner.audience.is_empty() {
            check_audience(payload.aud.as_ref(), &inner.audience)?;
        }
        if !inner.authorized_parties.is_empty() {
            let ok = matches!(&payload.azp, Field::Str(azp)
                if !azp.is_empty() && inner.authorized_parties.iter().any(|p| p == azp));
            if !ok {
                return Err(Rejection::new(
                    Reason::TokenInvalidAuthorizedParties,
                    "Invalid JWT Authorized party claim (azp): it must be one of the configured \
                     authorized parties (CLERK_AUTHORIZED_PARTIES).",
                ));
            }
        }
        if let Some(issuer) = &inner.issuer {
            if payload.iss.as_str() != Some(issuer.as_str()) {
                return Err(Rejection::with_message(
                    Reason::TokenInvalidIssuer,
                    format!("Invalid JWT issuer claim (iss): expected {issuer:?}."),
                ));
            }
        }
        // Each time claim is checked whole (type, then time) before the next, as Clerk does.
        let skew = inner.clock_skew_ms;
        let exp = match payload.exp {
            Field::Num(exp) => exp,
            _ => {
                return Err(Rejection::new(
                    Reason::TokenVerificationFailed,
                    "Invalid JWT expiry date claim (exp): it is required and must be a number.",
                ))
            }
        };
        check_exp(exp, now_ms, skew)?;
        let nbf = optional_number(&payload.nbf, "nbf", "not before")?;
        check_nbf(nbf, now_ms, skew)?;
        let iat = optional_number(&payload.iat, "iat", "issued at")?;
        check_iat(iat, now_ms, skew)?;
        let times = Times { exp, nbf, iat };
        match &payload.sid {
            Field::Str(sid) if !sid.is_empty() => Ok(times),
            _ => Err(template_token()),
        }
    }
}

const REVOKED: Rejection = Rejection::new(
    Reason::SessionRevoked,
    "The session was revoked or ended (or its user deleted); sign in again.",
);

fn template_token() -> Rejection {
    Rejection::new(
        Reason::TokenTypeMismatch,
        "This is not a session token: it has no session id (sid), as JWT-template tokens do.",
    )
}

fn optional_number(
    field: &Field,
    name: &'static str,
    what: &'static str,
) -> Result<Option<f64>, Rejection> {
    match field {
        Field::Absent => Ok(None),
        Field::Num(n) => Ok(Some(*n)),
        Field::Str(_) | Field::Other => Err(Rejection::with_message(
            Reason::TokenVerificationFailed,
            format!("Invalid JWT {what} claim ({name}): it must be a number."),
        )),
    }
}

fn check_audience(aud: Option<&Value>, audience: &[String]) -> Result<(), Rejection> {
    let values: Vec<&Value> = match aud {
        None => return Ok(()),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(value) => vec![value],
    };
    let mut values = values
        .into_iter()
        .filter(|v| !v.is_null() && v.as_str() != Some(""))
        .peekable();
    // As Clerk: a token whose `aud` is absent or holds only empty values is not checked.
    if values.peek().is_none() {
        return Ok(());
    }
    if values.any(|v| v.as_str().is_some_and(|v| audience.iter().any(|a| a == v))) {
        return Ok(());
    }
    Err(Rejection::new(
        Reason::TokenVerificationFailed,
        "Invalid JWT audience claim (aud): it does not include the configured audience.",
    ))
}

/// The time claims of a verified token, kept to re-check cache hits.
#[derive(Debug, Clone, Copy)]
struct Times {
    exp: f64,
    nbf: Option<f64>,
    iat: Option<f64>,
}

/// Clerk's rules, in milliseconds: expired when `exp*1000 <= now - skew`; early when
/// `nbf*1000 > now + skew`; issued in the future when `iat*1000 > now + skew`. As in Clerk
/// (JavaScript's `Date.setUTCSeconds`), a fractional time is truncated to whole seconds.
/// Floating point never overflows, so extreme values (2^64, 1e300, negative) are ordinary
/// comparisons; unlike JavaScript, no value is out of range.
fn check_times(times: &Times, now_ms: f64, skew_ms: f64) -> Result<(), Rejection> {
    check_exp(times.exp, now_ms, skew_ms)?;
    check_nbf(times.nbf, now_ms, skew_ms)?;
    check_iat(times.iat, now_ms, skew_ms)
}

fn check_exp(exp: f64, now_ms: f64, skew_ms: f64) -> Result<(), Rejection> {
    if exp.trunc() * 1000.0 <= now_ms - skew_ms {
        return Err(Rejection::with_message(
            Reason::TokenExpired,
            format!(
                "JWT is expired. Expiry date: {}, current date: {} (Unix seconds).",
                Seconds(exp),
                Seconds(now_ms / 1000.0)
            ),
        ));
    }
    Ok(())
}

fn check_nbf(nbf: Option<f64>, now_ms: f64, skew_ms: f64) -> Result<(), Rejection> {
    match nbf {
        Some(nbf) if nbf.trunc() * 1000.0 > now_ms + skew_ms => Err(Rejection::with_message(
            Reason::TokenNotActiveYet,
            format!(
                "JWT cannot be used prior to not-before date claim (nbf). Not before: {}, \
                 current date: {} (Unix seconds).",
                Seconds(nbf),
                Seconds(now_ms / 1000.0)
            ),
        )),
        _ => Ok(()),
    }
}

fn check_iat(iat: Option<f64>, now_ms: f64, skew_ms: f64) -> Result<(), Rejection> {
    match iat {
        Some(iat) if iat.trunc() * 1000.0 > now_ms + skew_ms => Err(Rejection::with_message(
            Reason::TokenIatInTheFuture,
            format!(
                "JWT issued at date claim (iat) is in the future. Issued at: {}, current date: \
                 {} (Unix seconds). Check that the server clock is in sync.",
                Seconds(iat),
                Seconds(now_ms / 1000.0)
            ),
        )),
        _ => Ok(()),
    }
}

/// Unix seconds for a message: whole seconds, or scientific notation when absurdly large.
struct Seconds(f64);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.abs() < 1e15 {
            write!(f, "{}", self.0.trunc())
        } else {
            write!(f, "{:e}", self.0)
        }
    }
}

/// What [`Verifier::lookup`] found.
enum Lookup {
    /// A cached verification, still valid.
    Hit(Arc<SessionClaims>),
    /// Not in the cache (or the cache is off): verify from scratch with these.
    Miss {
        epoch: u64,
        revocation_generation: u64,
    },
}

/// A bounded map from exact token text to verified claims, in shards to keep locks short.
struct TokenCache {
    shards: Box<[Mutex<HashTable<Entry>>]>,
    per_shard: usize,
    hasher: foldhash::fast::RandomState,
}

struct Entry {
    hash: u64,
    token: Box<str>,
    claims: Arc<SessionClaims>,
    times: Times,
    /// The key epoch the signature was checked in.
    epoch: u64,
    /// The revocation generation the session was last checked against.
    revocation_generation: u64,
}

struct Hit {
    claims: Arc<SessionClaims>,
    times: Times,
}

const SHARDS: usize = 16;

impl TokenCache {
    fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        TokenCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashTable::new())).collect(),
            per_shard,
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn shard(&self, hash: u64) -> std::sync::MutexGuard<'_, HashTable<Entry>> {
        // Entries are inserted whole; a panic elsewhere cannot leave one half-written.
        self.shards[(hash >> 59) as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The cached verification of `token`: `None` on a miss (or a key retired since), an
    /// error when its session was revoked since it was cached.
    fn get(
        &self,
        token: &str,
        epoch: u64,
        revocations: &Revocations,
    ) -> Option<Result<Hit, Rejection>> {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(token);
        let mut shard = self.shard(hash);
        let mut entry = shard
            .find_entry(hash, |e| e.hash == hash && &*e.token == token)
            .ok()?;
        if entry.get().epoch != epoch {
            return None;
        }
        let generation = revocations.generation();
        let cached = entry.get_mut();
        if cached.revocation_generation != generation {
            if revocations.is_revoked(cached.claims.session_id(), cached.claims.user_id()) {
                entry.remove();
                return Some(Err(REVOKED));
            }
            cached.revocation_generation = generation;
        }
        Some(Ok(Hit {
            claims: Arc::clone(&cached.claims),
            times: cached.times,
        }))
    }

    fn insert(
        &self,
        token: &str,
        claims: Arc<SessionClaims>,
        times: Times,
        (epoch, revocation_generation): (u64, u64),
        now_ms: f64,
        skew_ms: f64,
    ) {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(token);
        let mut shard = self.shard(hash);
        if let Ok(existing) = shard.find_entry(hash, |e| e.hash == hash && &*e.token == token) {
            existing.remove();
        }
        if shard.len() >= self.per_shard {
            shard.retain(|e| e.times.exp * 1000.0 > now_ms - skew_ms);
        }
        if shard.len() >= self.per_shard {
            // Still full of live tokens: drop an eighth, in table order (which the random
            // hasher makes arbitrary).
            let mut drop = (self.per_shard / 8).max(1);
            shard.retain(|_| {
                if drop > 0 {
                    drop -= 1;
                    false
                } else {
                    true
                }
            });
        }
        shard.insert_unique(
            hash,
            Entry {
                hash,
                token: token.into(),
                claims,
                times,
                epoch,
                revocation_generation,
            },
            |e| e.hash,
        );
    }
}

/// Builds a [`Verifier`]. Every option has Clerk's default.
#[derive(Default)]
pub struct VerifierBuilder {
    jwt_key: Option<String>,
    jwks_url: Option<String>,
    secret_key: Option<String>,
    api_url: Option<String>,
    publishable_key: Option<String>,
    issuer: Option<String>,
    authorized_parties: Vec<String>,
    audience: Vec<String>,
    clock_skew: Option<Duration>,
    treat_pending_as_signed_out: Option<bool>,
    jwks_options: JwksOptions,
    token_cache_capacity: Option<usize>,
    clock: Option<Arc<dyn Clock>>,
    http_client: Option<reqwest::Client>,
    prefetch: Option<bool>,
}

impl std::fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("jwks_url", &self.jwks_url)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    /// A builder from variables looked up by name (the environment, a config file…).
    /// Empty values count as unset.
    ///
    /// Key source, the first that is set: `CLERK_JWT_KEY` (PEM, networkless),
    /// `CLERK_JWKS_URL`, `CLERK_SECRET_KEY` (Backend API JWKS at `CLERK_API_URL`),
    /// `CLERK_PUBLISHABLE_KEY` (the Frontend API's public JWKS).
    ///
    /// Expected issuer, the first that is known: `CLERK_ISSUER`, the publishable key's
    /// Frontend API URL, the base of a `<base>/.well-known/jwks.json` JWKS URL.
    ///
    /// The key cache ([`JwksOptions`]): `CLERK_JWKS_REFRESH_SECS` (default 300),
    /// `CLERK_JWKS_MAX_STALENESS_SECS` (3600), `CLERK_JWKS_UNKNOWN_KID_INTERVAL_MS` (10000),
    /// `CLERK_JWKS_TIMEOUT_MS` (5000). The verified-token cache:
    /// `CLERK_TOKEN_CACHE_CAPACITY` (entries, default 10000; `0` turns it off).
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut builder = VerifierBuilder {
            jwt_key: var("CLERK_JWT_KEY"),
            jwks_url: var("CLERK_JWKS_URL"),
            secret_key: var("CLERK_SECRET_KEY"),
            api_url: var("CLERK_API_URL"),
            publishable_key: var("CLERK_PUBLISHABLE_KEY"),
            issuer: var("CLERK_ISSUER"),
            ..VerifierBuilder::default()
        };
        if let Some(parties) = var("CLERK_AUTHORIZED_PARTIES") {
            builder.authorized_parties = split_list(&parties);
        }
        let duration = |name: &'static str, unit: u64| -> Result<Option<Duration>, ConfigError> {
            var(name)
                .map(|value| {
                    value
                        .trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .map(|n| Duration::from_millis(n.saturating_mul(unit)))
                        .ok_or_else(|| {
                            config_error(name, format!("{value:?} is not a positive whole number"))
                        })
                })
                .transpose()
        };
        let options = &mut builder.jwks_options;
        if let Some(d) = duration("CLERK_JWKS_REFRESH_SECS", 1000)? {
            options.refresh_interval = d;
        }
        if let Some(d) = duration("CLERK_JWKS_MAX_STALENESS_SECS", 1000)? {
            options.max_staleness = d;
        }
        if let Some(d) = duration("CLERK_JWKS_UNKNOWN_KID_INTERVAL_MS", 1)? {
            options.unknown_kid_interval = d;
        }
        if let Some(d) = duration("CLERK_JWKS_TIMEOUT_MS", 1)? {
            options.timeout = d;
        }
        if let Some(capacity) = var("CLERK_TOKEN_CACHE_CAPACITY") {
            let entries: usize = capacity
                .trim()
                .parse()
                .ok()
                .filter(|n| *n <= MAX_TOKEN_CACHE_CAPACITY)
                .ok_or_else(|| {
                    config_error(
                        "CLERK_TOKEN_CACHE_CAPACITY",
                        format!(
                            "{capacity:?} is not a whole number of entries from 0 to {MAX_TOKEN_CACHE_CAPACITY}"
                        ),
                    )
                })?;
            builder.token_cache_capacity = Some(entries);
        }
        if let Some(skew) = var("CLERK_CLOCK_SKEW_MS") {
            let ms: u64 = skew.trim().parse().map_err(|_| {
                config_error(
                    "CLERK_CLOCK_SKEW_MS",
                    format!("{skew:?} is not a whole number of milliseconds"),
                )
            })?;
            builder.clock_skew = Some(Duration::from_millis(ms));
        }
        Ok(builder)
    }

    /// Verify with this PEM public key (`CLERK_JWT_KEY`): no network at all; `kid` is ignored.
    pub fn jwt_key(mut self, pem: impl Into<String>) -> Self {
        self.jwt_key = Some(pem.into());
        self
    }

    /// Fetch keys from this JWKS URL (`CLERK_JWKS_URL`). It must be `https://`, except on a
    /// loopback host.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Fetch keys from the Backend API with this secret key (`CLERK_SECRET_KEY`).
    pub fn secret_key(mut self, secret_key: impl Into<String>) -> Self {
        self.secret_key = Some(secret_key.into());
        self
    }

    /// The Backend API base URL (`CLERK_API_URL`, default `https://api.clerk.com`).
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = Some(url.into());
        self
    }

    /// The publishable key (`CLERK_PUBLISHABLE_KEY`): gives the expected issuer, the cookie
    /// suffix, and, when no other key source is set, the Frontend API JWKS.
    pub fn publishable_key(mut self, key: impl Into<String>) -> Self {
        self.publishable_key = Some(key.into());
        self
    }

    /// The exact expected `iss` (`CLERK_ISSUER`); needed behind a Clerk proxy.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The origins allowed in `azp` (`CLERK_AUTHORIZED_PARTIES`). When set, a token whose
    /// `azp` is missing or not listed is refused, as Clerk does since `@clerk/backend` 3.11.
    pub fn authorized_parties<I, S>(mut self, parties: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authorized_parties = parties.into_iter().map(Into::into).collect();
        self
    }

    /// Accepted audiences: when set, a token with an `aud` must name one of them (a token
    /// without `aud` passes, as in Clerk).
    pub fn audience<I, S>(mut self, audience: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audience = audience.into_iter().map(Into::into).collect();
        self
    }

    /// The allowed clock skew (`CLERK_CLOCK_SKEW_MS`, default 5 seconds).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = Some(skew);
        self
    }

    /// Whether a `pending` session is refused with `session-pending` (default `true`, as
    /// Clerk's `treatPendingAsSignedOut`).
    pub fn treat_pending_as_signed_out(mut self, yes: bool) -> Self {
        self.treat_pending_as_signed_out = Some(yes);
        self
    }

    /// Tuning of the JWKS cache.
    pub fn jwks_options(mut self, options: JwksOptions) -> Self {
        self.jwks_options = options;
        self
    }

    /// How many verified tokens to remember (default 10,000; 0 turns the cache off).
    pub fn token_cache_capacity(mut self, capacity: usize) -> Self {
        self.token_cache_capacity = Some(capacity);
        self
    }

    /// The clock (tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The HTTP client for JWKS fetches (custom CA, proxy, mTLS).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Whether [`VerifierBuilder::build`] starts loading the keys in the background when
    /// called inside a Tokio runtime (default `true`).
    pub fn prefetch(mut self, yes: bool) -> Self {
        self.prefetch = Some(yes);
        self
    }

    /// Checks the configuration and builds the verifier. Never makes a network call; with
    /// `prefetch` (the default) inside a Tokio runtime, a background task starts loading keys.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        let publishable = self
            .publishable_key
            .as_deref()
            .map(|pk| {
                PublishableKey::parse(pk)
                    .map_err(|e| config_error("CLERK_PUBLISHABLE_KEY", e.to_string()))
            })
            .transpose()?;
        let keys = if let Some(pem) = &self.jwt_key {
            let key = RsaPublicKey::from_pem(pem)
                .map_err(|e| config_error("CLERK_JWT_KEY", e.to_string()))?;
            Keys::Static(Arc::new(key))
        } else {
            let (source, variable) = if let Some(url) = &self.jwks_url {
                (KeySource::JwksUrl(url.trim().to_owned()), "CLERK_JWKS_URL")
            } else if let Some(secret_key) = &self.secret_key {
                if !(secret_key.starts_with("sk_")
                    || secret_key.starts_with("test_")
                    || secret_key.starts_with("live_"))
                {
                    return Err(config_error(
                        "CLERK_SECRET_KEY",
                        "a secret key looks like sk_test_… or sk_live_…",
                    ));
                }
                let api_url = self.api_url.as_deref().unwrap_or(DEFAULT_API_URL);
                (
                    KeySource::BackendApi {
                        api_url: api_url.trim().trim_end_matches('/').to_owned(),
                        secret_key: secret_key.trim().to_owned(),
                    },
                    "CLERK_API_URL",
                )
            } else if let Some(pk) = &publishable {
                (KeySource::JwksUrl(pk.jwks_url()), "CLERK_PUBLISHABLE_KEY")
            } else {
                return Err(config_error(
                    "CLERK_JWT_KEY",
                    "no key source: set CLERK_JWT_KEY (PEM public key), CLERK_JWKS_URL, \
                     CLERK_SECRET_KEY or CLERK_PUBLISHABLE_KEY",
                ));
            };
            source
                .check_url()
                .map_err(|e| config_error(variable, e.to_string()))?;
            let cache = match self.http_client.clone() {
                Some(client) => JwksCache::with_client(source, self.jwks_options.clone(), client),
                None => JwksCache::new(source, self.jwks_options.clone())
                    .map_err(|e| config_error(variable, e.to_string()))?,
            };
            Keys::Remote(Arc::new(cache))
        };

        let issuer = self
            .issuer
            .map(|i| i.trim().to_owned())
            .or_else(|| publishable.as_ref().map(PublishableKey::issuer))
            .or_else(|| match &keys {
                Keys::Remote(cache) => cache.source().implied_issuer(),
                Keys::Static(_) => None,
            });
        let capacity = self
            .token_cache_capacity
            .unwrap_or(DEFAULT_TOKEN_CACHE_CAPACITY);
        let verifier = Verifier {
            inner: Arc::new(Inner {
                keys,
                issuer,
                authorized_parties: self
                    .authorized_parties
                    .into_iter()
                    .filter(|p| !p.is_empty())
                    .collect(),
                audience: self
                    .audience
                    .into_iter()
                    .filter(|a| !a.is_empty())
                    .collect(),
                clock_skew_ms: self.clock_skew.unwrap_or(DEFAULT_CLOCK_SKEW).as_millis() as f64,
                treat_pending_as_signed_out: self.treat_pending_as_signed_out.unwrap_or(true),
                cookie_suffix: publishable.as_ref().map(PublishableKey::cookie_suffix),
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                cache: (capacity > 0).then(|| TokenCache::new(capacity)),
                revocations: Revocations::default(),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            }),
        };
        if self.prefetch.unwrap_or(true) {
            if let (Some(cache), Ok(handle)) =
                (verifier.jwks(), tokio::runtime::Handle::try_current())
            {
                let cache = Arc::clone(cache);
                handle.spawn(async move {
                    let _ = cache.refresh().await;
                });
            }
        }
        Ok(verifier)
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
