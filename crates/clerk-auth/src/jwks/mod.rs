//! The JWKS cache: keys fetched once, shared by every request, refreshed in the background.
//!
//! What it guarantees (DESIGN.md "Key cache"):
//! - **No network call per request** in steady state: a request that finds its `kid` in the
//!   cached set takes a read lock and nothing else.
//! - **Single flight**: however many requests need a fetch at once, one fetch is made; the
//!   others wait for it and use its result.
//! - **Background refresh**: a task of the cache's own ([`JwksCache::refresh_in_background`],
//!   which the verifier's builder starts) fetches the keys at once and refreshes them before
//!   they are due, retrying failures with back-off, so readiness recovers with no traffic
//!   (see `refresher.rs`). Without it, once the keys are older than
//!   [`JwksOptions::refresh_interval`] the next request starts a refresh in the background and
//!   goes on with the cached keys.
//! - **Stale if error**: while the endpoint fails, the last good keys keep serving for up to
//!   [`JwksOptions::max_staleness`]; after that, verification fails with `keys-unavailable`
//!   (an HTTP layer answers 503). Failed fetches are retried with exponential back-off.
//! - **No refetch storm**: an unknown `kid` triggers at most one refetch per
//!   [`JwksOptions::unknown_kid_interval`]; a `kid` that a fetch proved absent is remembered
//!   (negative cache) and refused without any fetch. An unknown `kid` that arrives while a
//!   fetch is under way waits for that fetch (it may be the rotation that brings the kid)
//!   instead of being refused, and starts none.
//! - **Bounded**: request timeout, response-size cap, a bounded number of keys and of
//!   remembered unknown kids. Keys are parsed once, when fetched.
//! - **Never fails at startup**: a cache starts empty; until keys load, lookups fail with
//!   `keys-unavailable`.
//!
//! One cache serves one key source (one Clerk instance), so keys are scoped per issuer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

pub(crate) mod document;
mod refresher;

use clerk_types::CLERK_API_VERSION;

use crate::error::{Reason, Rejection};
use crate::instance::KeySource;
use crate::rsa::{KeyError, RsaPublicKey};
use document::{parse_jwks, KeySet};

const USER_AGENT: &str = concat!("clerk-auth-rs/", env!("CARGO_PKG_VERSION"));

/// Most unknown kids remembered at once.
const MAX_NEGATIVE_KIDS: usize = 4096;

/// Tuning of a [`JwksCache`]. The defaults suit Clerk: its keys rotate rarely, a JWKS is
/// a few hundred bytes, and Clerk's own SDK keeps keys for 5 minutes.
#[derive(Debug, Clone)]
pub struct JwksOptions {
    /// After this long, the next lookup starts a background refresh. Default 5 minutes.
    pub refresh_interval: Duration,
    /// How long the last good keys keep serving after their fetch while refreshes fail.
    /// Default 1 hour.
    pub max_staleness: Duration,
    /// The least time between two refetches caused by unknown kids. Default 10 seconds.
    pub unknown_kid_interval: Duration,
    /// How long an unknown kid that a fetch proved absent is refused without any fetch.
    /// Default 5 minutes.
    pub negative_ttl: Duration,
    /// The first retry delay after a failed fetch; it doubles up to `max_retry_backoff`.
    /// Default 1 second.
    pub retry_backoff: Duration,
    /// The longest retry delay. Default 60 seconds.
    pub max_retry_backoff: Duration,
    /// Timeout of one fetch, connection included. Default 5 seconds.
    pub timeout: Duration,
    /// The largest JWKS response accepted. Default 256 KiB.
    pub max_response_bytes: usize,
}

impl Default for JwksOptions {
    fn default() -> Self {
        JwksOptions {
            refresh_interval: Duration::from_secs(300),
            max_staleness: Duration::from_secs(3600),
            unknown_kid_interval: Duration::from_secs(10),
            negative_ttl: Duration::from_secs(300),
            retry_backoff: Duration::from_secs(1),
            max_retry_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            max_response_bytes: 256 * 1024,
        }
    }
}

/// Counters of a cache, for metrics. Every field only grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JwksStats {
    /// Fetches started (successful or not).
    pub fetches: u64,
    /// Fetches that failed (network, status, timeout, size, parse).
    pub failures: u64,
    /// Fetches started because a token named a kid not in the cache.
    pub unknown_kid_refetches: u64,
    /// Lookups refused because of an unknown kid.
    pub kid_misses: u64,
}

/// The state of a cache, for readiness probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksStatus {
    /// Whether keys are usable now (loaded, and not older than the allowed staleness).
    pub usable: bool,
    /// How many keys are held.
    pub keys: usize,
    /// Time since the last successful fetch, if any.
    pub age: Option<Duration>,
    /// Whether the keys are older than the refresh interval (a refresh is due or failing).
    pub stale: bool,
    /// The last fetch error, if the last fetch failed.
    pub last_error: Option<String>,
}

#[derive(Debug, Clone)]
enum FetchError {
    SecretKeyInvalid(String),
    Other(String),
}

impl FetchError {
    fn message(&self) -> &str {
        match self {
            FetchError::SecretKeyInvalid(m) | FetchError::Other(m) => m,
        }
    }
}

#[derive(Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    /// When the current keys were fetched.
    fetched_at: Option<Instant>,
    /// When the last fetch (of any outcome) started.
    last_attempt: Option<Instant>,
    /// Fetches completed, of any outcome: lets waiters see that a fetch happened meanwhile.
    completed: u64,
    consecutive_failures: u32,
    last_error: Option<FetchError>,
    refreshing: bool,
    /// Kids proven absent by a fetch, with when they were.
    negative: HashMap<String, Instant>,
}

impl State {
    fn usable_keys(&self, now: Instant, max_staleness: Duration) -> Option<&Arc<KeySet>> {
        let fetched_at = self.fetched_at?;
        if now.saturating_duration_since(fetched_at) <= max_staleness {
            self.keys.as_ref()
        } else {
            None
        }
    }

    fn in_backoff(&self, now: Instant, options: &JwksOptions) -> bool {
        if self.consecutive_failures == 0 {
            return false;
        }
        let Some(last) = self.last_attempt else {
            return false;
        };
        now.saturating_duration_since(last) < self.retry_delay(options)
    }

    /// The least time from a failed fetch to the next: `retry_backoff` doubling with each
    /// consecutive failure, up to `max_retry_backoff`.
    fn retry_delay(&self, options: &JwksOptions) -> Duration {
        let shift = self.consecutive_failures.saturating_sub(1).min(16);
        options
            .retry_backoff
            .saturating_mul(1 << shift)
            .min(options.max_retry_backoff)
    }
}

/// A cache of one key source's JWKS. Cheap to share: wrap it in an [`Arc`].
pub struct JwksCache {
    source: KeySource,
    client: reqwest::Client,
    options: JwksOptions,
    state: RwLock<State>,
    fetch_lock: tokio::sync::Mutex<()>,
    /// Bumped whenever a fetch drops a kid: results verified with a retired key are stale.
    epoch: AtomicU64,
    fetches: AtomicU64,
    failures: AtomicU64,
    unknown_kid_refetches: AtomicU64,
    kid_misses: AtomicU64,
    /// The background refresher's task, once started ([`refresher`]).
    refresher: Mutex<Option<tokio::task::AbortHandle>>,
    /// Whether [`JwksCache::refresh_in_background`] asked for the refresher.
    refresher_wanted: AtomicBool,
    /// Whether it was started.
    refresher_running: AtomicBool,
}

impl Drop for JwksCache {
    fn drop(&mut self) {
        if let Some(task) = self
            .refresher
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("source", &self.source)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// A cache for `source`. Nothing is fetched until the first lookup or [`Self::refresh`].
    pub fn new(source: KeySource, options: JwksOptions) -> Result<Self, KeyError> {
        source.check_url().map_err(|e| KeyError(e.to_string()))?;
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| KeyError(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self::with_client(source, options, client))
    }

    /// A cache that fetches with the given HTTP client (custom CA, proxy, mTLS). The client
    /// is used for every fetch. Its own timeout applies; `options.timeout` is applied too.
    pub fn with_client(source: KeySource, options: JwksOptions, client: reqwest::Client) -> Self {
        JwksCache {
            source,
            client,
            options,
            state: RwLock::new(State::default()),
            fetch_lock: tokio::sync::Mutex::new(()),
            epoch: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            unknown_kid_refetches: AtomicU64::new(0),
            kid_misses: AtomicU64::new(0),
            refresher: Mutex::new(None),
            refresher_wanted: AtomicBool::new(false),
            refresher_running: AtomicBool::new(false),
        }
    }

    /// The key source.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The options.
    pub fn options(&self) -> &JwksOptions {
        &self.options
    }

    /// A counter bumped whenever a refresh retires a kid.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The counters.
    pub fn stats(&self) -> JwksStats {
        JwksStats {
            fetches: self.fetches.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            unknown_kid_refetches: self.unknown_kid_refetches.load(Ordering::Relaxed),
            kid_misses: self.kid_misses.load(Ordering::Relaxed),
        }
    }

    /// The state, for a readiness probe.
    pub fn status(&self) -> JwksStatus {
        let now = Instant::now();
        let state = self.read();
        let age = state.fetched_at.map(|at| now.saturating_duration_since(at));
        JwksStatus {
            usable: state.usable_keys(now, self.options.max_staleness).is_some(),
            keys: state.keys.as_ref().map_or(0, |k| k.len()),
            age,
            stale: age.is_none_or(|age| age > self.options.refresh_interval),
            last_error: state.last_error.as_ref().map(|e| e.message().to_owned()),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` inconsistent (every write is a
        // plain field assignment), so a poisoned lock is still safe to use.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The key named `kid`, fetching the JWKS if needed (see the module docs for when).
    pub async fn key(self: &Arc<Self>, kid: Option<&str>) -> Result<Arc<RsaPublicKey>, Rejection> {
        self.ensure_refresher();
        let now = Instant::now();
        let seen = {
            let state = self.read();
            if let Some(keys) = state.usable_keys(now, self.options.max_staleness) {
                let due = state.fetched_at.is_some_and(|at| {
                    now.saturating_duration_since(at) > self.options.refresh_interval
                });
                if due && !state.refreshing && !state.in_backoff(now, &self.options) {
                    drop(state);
                    self.spawn_refresh();
                    return self.lookup_or_miss(kid, now, false);
                }
                if let Some(key) = kid.and_then(|kid| keys.get(kid)) {
                    return Ok(key.clone());
                }
                // An unknown kid: refetch only if allowed.
                let remembered = kid.is_some_and(|kid| {
                    state.negative.get(kid).is_some_and(|at| {
                        now.saturating_duration_since(*at) < self.options.negative_ttl
                    })
                });
                let recent = state.last_attempt.is_some_and(|at| {
                    now.saturating_duration_since(at) < self.options.unknown_kid_interval
                });
                if kid.is_none() || remembered || recent || state.in_backoff(now, &self.options) {
                    // A fetch under way (the first token of a rotation started it) may bring
                    // this kid: wait for it rather than refuse what may be a valid token.
                    // The check is that fetch's lock being held; waiting starts no fetch.
                    let running =
                        kid.is_some() && !remembered && self.fetch_lock.try_lock().is_err();
                    drop(state);
                    if !running {
                        return Err(self.kid_miss(kid, now, recent));
                    }
                    None
                } else {
                    self.unknown_kid_refetches.fetch_add(1, Ordering::Relaxed);
                    Some(state.completed)
                }
            } else if state.in_backoff(now, &self.options) {
                return Err(unavailable(&self.source, state.last_error.as_ref()));
            } else {
                Some(state.completed)
            }
        };
        match seen {
            Some(seen) => self.fetch_once(seen).await,
            // Waits for the running fetch to finish; starts none.
            None => drop(self.fetch_lock.lock().await),
        }
        self.lookup_or_miss(kid, Instant::now(), true)
    }

    /// Looks `kid` up in the current keys; a miss is a kid mismatch when keys are usable and
    /// `keys-unavailable` otherwise.
    fn lookup_or_miss(
        &self,
        kid: Option<&str>,
        now: Instant,
        after_fetch: bool,
    ) -> Result<Arc<RsaPublicKey>, Rejection> {
        let state = self.read();
        match state.usable_keys(now, self.options.max_staleness) {
            Some(keys) => match kid.and_then(|kid| keys.get(kid)) {
                Some(key) => Ok(key.clone()),
                None => {
                    drop(state);
                    Err(self.kid_miss(kid, now, after_fetch))
                }
            },
            None => Err(unavailable(&self.source, state.last_error.as_ref())),
        }
    }

    /// Records a miss; `proven` means a fetch at most one interval old lacks the kid.
    fn kid_miss(&self, kid: Option<&str>, now: Instant, proven: bool) -> Rejection {
        self.kid_misses.fetch_add(1, Ordering::Relaxed);
        if let (Some(kid), true) = (kid, proven) {
            let mut state = self.write();
            if state.negative.len() >= MAX_NEGATIVE_KIDS && !state.negative.contains_key(kid) {
                // Full: start over rather than sweep 4,096 entries on every miss, which a
                // stream of random kids (each remembered for `negative_ttl`) would cost on
                // every forged token. The memory stays bounded and each request O(1); a
                // forgotten kid costs at most one fetch per `unknown_kid_interval` again.
                state.negative.clear();
            }
            state.negative.insert(kid.to_owned(), now);
        }
        match kid {
            Some(_) => Rejection::new(
                Reason::JwkKidMismatch,
                "Unable to find a signing key in the JWKS that matches the token's kid. \
                 The token may come from another Clerk instance, or the keys were rotated.",
            ),
            None => Rejection::new(
                Reason::JwkKidMismatch,
                "The token has no kid, so no key of the JWKS can be chosen.",
            ),
        }
    }

    fn spawn_refresh(self: &Arc<Self>) {
        {
            let mut state = self.write();
            if state.refreshing {
                return;
            }
            state.refreshing = true;
        }
        let cache = Arc::clone(self);
        let spawned = tokio::runtime::Handle::try_current().map(|handle| {
            handle.spawn(async move {
                let seen = cache.read().completed;
                cache.fetch_once(seen).await;
                cache.write().refreshing = false;
            })
        });
        if spawned.is_err() {
            self.write().refreshing = false;
        }
    }

    /// Fetches the JWKS now (single flight: if a fetch is already running, waits for it
    /// instead), and reports whether usable keys are held afterwards.
    pub async fn refresh(&self) -> Result<(), Rejection> {
        let seen = self.read().completed;
        self.fetch_once(seen).await;
        let state = self.read();
        match state.usable_keys(Instant::now(), self.options.max_staleness) {
            Some(_) if state.consecutive_failures == 0 => Ok(()),
            _ => Err(unavailable(&self.source, state.last_error.as_ref())),
        }
    }

    /// Runs one fetch unless another completed since `seen` (waiting for a running one).
    async fn fetch_once(&self, seen: u64) {
        let _guard = self.fetch_lock.lock().await;
        if self.read().completed != seen {
            return;
        }
        self.write().last_attempt = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let result = self.fetch().await;
        let mut state = self.write();
        state.completed += 1;
        match result {
            Ok(keys) => {
                let retired = state
                    .keys
                    .as_ref()
                    .is_some_and(|old| old.kids().any(|kid| keys.get(kid).is_none()));
                if retired {
                    self.epoch.fetch_add(1, Ordering::AcqRel);
                }
                state.negative.retain(|kid, _| keys.get(kid).is_none());
                state.keys = Some(Arc::new(keys));
                state.fetched_at = Some(Instant::now());
                state.consecutive_failures = 0;
                state.last_error = None;
            }
            Err(err) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(url = %self.source.url(), error = err.message(), "JWKS fetch failed");
                state.consecutive_failures = state.consecutive_failures.saturating_add(1);
                state.last_error = Some(err);
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, FetchError> {
        let url = self.source.url();
        let mut request = self.client.get(&url).header("Accept", "application/json");
        if let KeySource::BackendApi { secret_key, .. } = &self.source {
            request = request
                .bearer_auth(secret_key)
                .header("Clerk-API-Version", CLERK_API_VERSION);
        }
        let work = async {
            let mut response = request
                .send()
                .await
                .map_err(|e| FetchError::Other(format!("request failed: {}", without_url(&e))))?;
            let status = response.status();
            if response
                .content_length()
                .is_some_and(|len| len > self.options.max_response_bytes as u64)
            {
                return Err(FetchError::Other(format!(
                    "the response is larger than {} bytes",
                    self.options.max_response_bytes
                )));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| {
                FetchError::Other(format!("reading the response failed: {}", without_url(&e)))
            })? {
                if body.len() + chunk.len() > self.options.max_response_bytes {
                    return Err(FetchError::Other(format!(
                        "the response is larger than {} bytes",
                        self.options.max_response_bytes
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            if !status.is_success() {
                if clerk_error_code(&body).as_deref() == Some("clerk_key_invalid") {
                    return Err(FetchError::SecretKeyInvalid(
                        "Clerk's Backend API refused the secret key (clerk_key_invalid); \
                         check CLERK_SECRET_KEY"
                            .to_owned(),
                    ));
                }
                return Err(FetchError::Other(format!("the endpoint answered {status}")));
            }
            parse_jwks(&body).map_err(|e| FetchError::Other(e.to_string()))
        };
        match tokio::time::timeout(self.options.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Other(format!(
                "no answer within {} ms",
                self.options.timeout.as_millis()
            ))),
        }
    }
}

fn without_url(err: &reqwest::Error) -> String {
    // reqwest's messages can carry the URL; ours already names it, and a URL never carries
    // a secret here, but keep the message short.
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "bad response body"
    } else {
        "HTTP error"
    };
    kind.to_owned()
}

fn clerk_error_code(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value
        .get("errors")?
        .as_array()?
        .iter()
        .find_map(|e| e.get("code")?.as_str().map(str::to_owned))
}

fn unavailable(source: &KeySource, error: Option<&FetchError>) -> Rejection {
    match error {
        Some(FetchError::SecretKeyInvalid(message)) => {
            Rejection::with_message(Reason::SecretKeyInvalid, message.clone())
        }
        Some(FetchError::Other(message)) => Rejection::with_message(
            Reason::KeysUnavailable,
            format!(
                "No usable signing keys: loading the JWKS from {} failed ({message}).",
                source.url()
            ),
        ),
        None => Rejection::with_message(
            Reason::KeysUnavailable,
            format!(
                "No usable signing keys: the JWKS from {} is older than the allowed staleness.",
                source.url()
            ),
        ),
    }
}
