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

mod builder;
mod checks;
mod machine;
mod token_cache;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clerk_types::Clock;
use http::HeaderMap;

use crate::claims::SessionClaims;
use crate::error::{Reason, Rejection};
use crate::jwks::{JwksCache, JwksStats, JwksStatus};
use crate::request::{session_token, FoundToken};
use crate::revocation::Revocations;
use crate::rsa::RsaPublicKey;
use crate::token::{self, Field, CATEGORY_JWT_TEMPLATE};

pub use builder::{ConfigError, VerifierBuilder};
use checks::{check_times, template_token, REVOKED};
use token_cache::TokenCache;

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
    /// The Backend API client for opaque machine tokens (with a secret key only).
    remote: Option<crate::machine::Remote>,
    /// This service's machine id, required in an M2M JWT's `aud` when set.
    machine_id: Option<String>,
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
        // A token of another category (which `verify` takes, as Clerk's `verifyToken`) is not
        // cached: `authenticate` refuses it as a session token, and its cache hits must not
        // have to look at the header again.
        let session_category = decoded.header.cat.as_deref().is_none_or(|cat| {
            cat == crate::machine::CATEGORY_SESSION || cat == crate::machine::CATEGORY_IGNORE
        });
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
        if let Some(cache) = inner.cache.as_ref().filter(|_| session_category) {
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
        match self.find_token(headers)? {
            Some(found) => self.verify(&found.token).await,
            None => Err(Rejection::SESSION_TOKEN_MISSING),
        }
    }

    /// Refuses every token of this session from now on (`session-revoked`), including tokens
    /// verified before. Call it on Clerk's `session.revoked`, `session.ended` and
    /// `session.removed` events. See [`REVOCATION_TTL`](crate::REVOCATION_TTL) for how long a revocation is kept.
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

    /// Finds the session token of a request without verifying it (see [`crate::request`]): an
    /// error when the request has several `Authorization` headers.
    pub fn find_token<'a>(
        &self,
        headers: &'a HeaderMap,
    ) -> Result<Option<FoundToken<'a>>, Rejection> {
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
