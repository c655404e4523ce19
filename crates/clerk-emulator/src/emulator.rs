//! The emulated Clerk instance: issuer, API keys and signing keys.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{json, Value};

use crate::compact::b64_standard;
use crate::ids;
use crate::key::{SigningKey, DEFAULT_KEY_BITS};
use crate::server::EmulatorServer;
use crate::token::{TokenBuilder, DEFAULT_ISSUER};

struct State {
    issuer: String,
    /// Set by [`Emulator::with_issuer`]: serving then leaves the issuer alone.
    issuer_explicit: bool,
    secret_key: String,
    /// Every key ever added, retired ones included, in insertion order.
    keys: Vec<SigningKey>,
    /// The kids served in the JWKS, in order.
    published: Vec<String>,
    /// The kid of the key new tokens are signed with.
    current: String,
}

impl State {
    fn key(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid() == kid)
    }

    fn keep(&mut self, key: &SigningKey) {
        match self.keys.iter_mut().find(|k| k.kid() == key.kid()) {
            Some(kept) => *kept = key.clone(),
            None => self.keys.push(key.clone()),
        }
        if !self.published.iter().any(|kid| kid == key.kid()) {
            self.published.push(key.kid().to_owned());
        }
    }
}

/// A local Clerk instance: an issuer, a secret key, a publishable key and RSA signing keys.
///
/// Cloning is cheap and clones share state, so a test can mint tokens from many tasks while the
/// keys rotate.
///
/// **Issuer.** Until the emulator is served, and unless set with [`Emulator::with_issuer`], the
/// issuer is [`DEFAULT_ISSUER`] (`https://clerk.emulator.invalid`). [`Emulator::serve`] then
/// sets it to the server's base URL, `http://127.0.0.1:<port>`, so that a verifier given the
/// JWKS URL `<base>/.well-known/jwks.json` derives the expected issuer `<base>`.
///
/// **Keys.** Keys are identified by kid. Every key added is kept, so tokens can be minted with
/// any of them, retired ones included; only published keys are served in the JWKS.
///
/// ```
/// use clerk_emulator::{Emulator, SigningKey};
/// let emulator = Emulator::with_key(SigningKey::generate(2048));
/// assert!(emulator.secret_key().starts_with("sk_test_"));
/// assert!(emulator.publishable_key().starts_with("pk_test_"));
/// let token = emulator.session_token().user("user_1").sign();
/// assert_eq!(emulator.jwks()["keys"].as_array().unwrap().len(), 1);
/// # let _ = token;
/// ```
#[derive(Clone)]
pub struct Emulator {
    state: Arc<RwLock<State>>,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.read();
        f.debug_struct("Emulator")
            .field("issuer", &state.issuer)
            .field("current_kid", &state.current)
            .field("published", &state.published)
            .finish_non_exhaustive()
    }
}

impl Default for Emulator {
    fn default() -> Self {
        Self::new()
    }
}

impl Emulator {
    /// An emulator with a freshly generated 2048-bit signing key (slow: prefer
    /// [`Emulator::with_key`] with a key shared across tests).
    pub fn new() -> Self {
        Self::with_key(SigningKey::generate(DEFAULT_KEY_BITS))
    }

    /// An emulator whose current (and only) signing key is `key`.
    pub fn with_key(key: SigningKey) -> Self {
        let state = State {
            issuer: DEFAULT_ISSUER.to_owned(),
            issuer_explicit: false,
            secret_key: format!("sk_test_{}", ids::alphanumeric(42)),
            published: vec![key.kid().to_owned()],
            current: key.kid().to_owned(),
            keys: vec![key],
        };
        Self {
            state: Arc::new(RwLock::new(state)),
        }
    }

    /// Starts a fresh emulator (new key) and serves it on `addr`; see [`Emulator::serve`].
    pub async fn start(addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<EmulatorServer> {
        Self::new().serve(addr).await
    }

    /// Serves this emulator's endpoints on `addr` (`127.0.0.1:0` for a free port). Unless the
    /// issuer was set explicitly, it becomes the server's base URL. Must be called within a
    /// Tokio runtime.
    pub async fn serve(
        &self,
        addr: impl tokio::net::ToSocketAddrs,
    ) -> std::io::Result<EmulatorServer> {
        EmulatorServer::bind(self.clone(), addr).await
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the issuer for good: serving will not replace it. Use it to make `iss` differ from
    /// the JWKS base URL, or to emulate a proxy.
    pub fn with_issuer(self, issuer: impl Into<String>) -> Self {
        {
            let mut state = self.write();
            state.issuer = issuer.into();
            state.issuer_explicit = true;
        }
        self
    }

    /// Sets the secret key that `GET /v1/jwks` requires.
    pub fn with_secret_key(self, secret_key: impl Into<String>) -> Self {
        self.write().secret_key = secret_key.into();
        self
    }

    /// Sets the issuer to a served base URL, unless it was set explicitly.
    pub(crate) fn served_at(&self, base_url: &str) {
        let mut state = self.write();
        if !state.issuer_explicit {
            state.issuer = base_url.to_owned();
        }
    }

    /// The issuer (`iss`) of minted tokens: the Frontend API URL of the instance.
    pub fn issuer(&self) -> String {
        self.read().issuer.clone()
    }

    /// The Frontend API host: the issuer without its scheme and path, e.g. `127.0.0.1:41234`.
    pub fn frontend_api(&self) -> String {
        let issuer = self.issuer();
        let host = issuer
            .split_once("://")
            .map_or(issuer.as_str(), |(_, rest)| rest);
        host.split('/').next().unwrap_or_default().to_owned()
    }

    /// The secret key, `sk_test_<random>`.
    pub fn secret_key(&self) -> String {
        self.read().secret_key.clone()
    }

    /// The publishable key, computed as Clerk does: `pk_test_` followed by the base64 (standard
    /// alphabet, no padding) of `<frontend api host>$`.
    ///
    /// ```
    /// use clerk_emulator::{Emulator, SigningKey};
    /// let emulator = Emulator::with_key(SigningKey::generate(2048)).with_issuer("https://clerk.clerk.dev");
    /// assert_eq!(emulator.publishable_key(), "pk_test_Y2xlcmsuY2xlcmsuZGV2JA");
    /// ```
    pub fn publishable_key(&self) -> String {
        let encoded = b64_standard(format!("{}$", self.frontend_api()));
        format!("pk_test_{}", encoded.trim_end_matches('='))
    }

    /// The key new tokens are signed with.
    pub fn current_key(&self) -> SigningKey {
        let state = self.read();
        state
            .key(&state.current)
            .cloned()
            .expect("the current kid always names a kept key")
    }

    /// A kept key (published or retired) by kid.
    pub fn key(&self, kid: &str) -> Option<SigningKey> {
        self.read().key(kid).cloned()
    }

    /// Every kept key, retired ones included, in the order they were added.
    pub fn keys(&self) -> Vec<SigningKey> {
        self.read().keys.clone()
    }

    /// The keys served in the JWKS, in order.
    pub fn published_keys(&self) -> Vec<SigningKey> {
        let state = self.read();
        state
            .published
            .iter()
            .filter_map(|kid| state.key(kid).cloned())
            .collect()
    }

    /// The JWKS document served by both JWKS endpoints: `{"keys": [<jwk>, ...]}`.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.published_keys().iter().map(SigningKey::jwk).collect();
        json!({ "keys": keys })
    }

    /// Keeps and publishes `key` (a key with the same kid is replaced); the current signing key
    /// does not change.
    pub fn add_key(&self, key: &SigningKey) {
        self.write().keep(key);
    }

    /// Keeps and publishes `key`, and makes it the current signing key: a key rotation.
    pub fn rotate_to(&self, key: &SigningKey) {
        let mut state = self.write();
        state.keep(key);
        state.current = key.kid().to_owned();
    }

    /// Makes a kept key the current signing key, without publishing it if it was retired.
    /// Returns `false` if no key has this kid.
    pub fn set_current(&self, kid: &str) -> bool {
        let mut state = self.write();
        if state.key(kid).is_none() {
            return false;
        }
        state.current = kid.to_owned();
        true
    }

    /// Removes a key from the JWKS. It stays kept: tokens can still be minted with it, and it
    /// stays current if it was. Returns `false` if it was not published.
    pub fn retire_key(&self, kid: &str) -> bool {
        let mut state = self.write();
        let before = state.published.len();
        state.published.retain(|k| k != kid);
        state.published.len() != before
    }

    /// Publishes a kept key again. Returns `false` if no key has this kid or it is published.
    pub fn publish_key(&self, kid: &str) -> bool {
        let mut state = self.write();
        if state.key(kid).is_none() || state.published.iter().any(|k| k == kid) {
            return false;
        }
        state.published.push(kid.to_owned());
        true
    }

    /// A default session token (see [`TokenBuilder`]) from this instance: signed with the
    /// current key, `iss` = [`Emulator::issuer`].
    pub fn session_token(&self) -> TokenBuilder {
        TokenBuilder::new(&self.current_key()).issuer(self.issuer())
    }
}
