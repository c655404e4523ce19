//! [`VerifierBuilder`]: the options of a [`Verifier`], from code or from variables.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use clerk_types::{Clock, PublishableKey, SystemClock};

use super::{
    Inner, Keys, TokenCache, Verifier, DEFAULT_API_URL, DEFAULT_CLOCK_SKEW,
    DEFAULT_TOKEN_CACHE_CAPACITY, MAX_TOKEN_CACHE_CAPACITY,
};
use crate::instance::KeySource;
use crate::jwks::{JwksCache, JwksOptions};
use crate::machine::{MachineOptions, Remote, RemoteConfig};

use crate::revocation::Revocations;
use crate::rsa::RsaPublicKey;

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
    background_refresh: Option<bool>,
    machine_secret_key: Option<String>,
    machine_options: MachineOptions,
    machine_id: Option<String>,
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
        builder.machine_secret_key = var("CLERK_MACHINE_SECRET_KEY");
        builder.machine_id = var("CLERK_MACHINE_ID");
        let machine = &mut builder.machine_options;
        if let Some(d) = duration("CLERK_MACHINE_TOKEN_CACHE_TTL_SECS", 1000)? {
            machine.cache_ttl = d;
        }
        if let Some(d) = duration("CLERK_MACHINE_TOKEN_NEGATIVE_TTL_SECS", 1000)? {
            machine.negative_ttl = d;
        }
        if let Some(d) = duration("CLERK_MACHINE_TOKEN_TIMEOUT_MS", 1)? {
            machine.timeout = d;
        }
        let whole = |name: &'static str, max: u64| -> Result<Option<u64>, ConfigError> {
            var(name)
                .map(|value| {
                    value
                        .trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n <= max)
                        .ok_or_else(|| {
                            config_error(
                                name,
                                format!("{value:?} is not a whole number from 0 to {max}"),
                            )
                        })
                })
                .transpose()
        };
        if let Some(n) = whole(
            "CLERK_MACHINE_TOKEN_CACHE_CAPACITY",
            MAX_TOKEN_CACHE_CAPACITY as u64,
        )? {
            machine.cache_capacity = n;
        }
        let positive = |name: &'static str| -> Result<Option<u32>, ConfigError> {
            match whole(name, u64::from(u32::MAX))? {
                Some(0) => Err(config_error(name, "it must be at least 1")),
                n => Ok(n.map(|n| n as u32)),
            }
        };
        if let Some(n) = positive("CLERK_MACHINE_VERIFY_RATE")? {
            machine.verify_rate = n;
        }
        if let Some(n) = positive("CLERK_MACHINE_VERIFY_BURST")? {
            machine.verify_burst = n;
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

    /// Whether the verifier loads its keys and keeps them fresh in a background task
    /// (default `true`; see [`JwksCache::refresh_in_background`]). Started by
    /// [`VerifierBuilder::build`] inside a Tokio runtime, else by the first verification. Off,
    /// keys are fetched by the verifications that need them. No effect with a PEM key.
    pub fn background_refresh(mut self, yes: bool) -> Self {
        self.background_refresh = Some(yes);
        self
    }

    /// The machine secret key (`CLERK_MACHINE_SECRET_KEY`, `ak_…`): authorises the Backend
    /// API verification of opaque M2M tokens instead of the secret key (then only tokens that
    /// may talk to that machine verify). API keys and OAuth tokens always use the secret key.
    pub fn machine_secret_key(mut self, key: impl Into<String>) -> Self {
        self.machine_secret_key = Some(key.into());
        self
    }

    /// How opaque machine tokens are cached and how many Backend API calls they may cost
    /// (`CLERK_MACHINE_TOKEN_CACHE_TTL_SECS`, `CLERK_MACHINE_TOKEN_NEGATIVE_TTL_SECS`,
    /// `CLERK_MACHINE_TOKEN_CACHE_CAPACITY`, `CLERK_MACHINE_VERIFY_RATE`,
    /// `CLERK_MACHINE_VERIFY_BURST`, `CLERK_MACHINE_TOKEN_TIMEOUT_MS`).
    pub fn machine_options(mut self, options: MachineOptions) -> Self {
        self.machine_options = options;
        self
    }

    /// This service's own machine id (`CLERK_MACHINE_ID`, `mch_…`): when set, an M2M JWT
    /// must name it in `aud`, so that a token issued to talk to another machine is refused
    /// here. Off by default, as Clerk's SDK (which cannot check it).
    pub fn machine_id(mut self, id: impl Into<String>) -> Self {
        self.machine_id = Some(id.into());
        self
    }

    /// Checks the configuration and builds the verifier. Never makes a network call itself;
    /// with [`background_refresh`](Self::background_refresh) (the default) inside a Tokio
    /// runtime, a background task starts loading the keys and keeps them fresh.
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
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let audience: Vec<String> = self
            .audience
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let remote = match &self.secret_key {
            None => {
                if self.machine_secret_key.is_some() {
                    return Err(config_error(
                        "CLERK_MACHINE_SECRET_KEY",
                        "it needs CLERK_SECRET_KEY as well (API keys and OAuth tokens are \
                         verified with the secret key)",
                    ));
                }
                None
            }
            Some(secret_key) => {
                let options = self.machine_options.clone();
                let client = match self.http_client.clone() {
                    Some(client) => client,
                    None => reqwest::Client::builder()
                        .timeout(options.timeout)
                        .connect_timeout(options.timeout)
                        .redirect(reqwest::redirect::Policy::none())
                        .build()
                        .map_err(|e| config_error("CLERK_API_URL", e.to_string()))?,
                };
                let api_url = self.api_url.as_deref().unwrap_or(DEFAULT_API_URL).trim();
                clerk_types::check_fetch_url(api_url)
                    .map_err(|e| config_error("CLERK_API_URL", e.to_string()))?;
                let remote = Remote::new(RemoteConfig {
                    api_url: api_url.to_owned(),
                    secret_key: secret_key.trim().to_owned(),
                    machine_secret_key: self
                        .machine_secret_key
                        .as_deref()
                        .map(|k| k.trim().to_owned()),
                    audience: audience.clone(),
                    options,
                    client,
                    clock: Arc::clone(&clock),
                })
                .ok_or_else(|| {
                    config_error(
                        if self.machine_secret_key.is_some() {
                            "CLERK_MACHINE_SECRET_KEY"
                        } else {
                            "CLERK_SECRET_KEY"
                        },
                        "a secret key must be printable ASCII (CLERK_SECRET_KEY, \
                         CLERK_MACHINE_SECRET_KEY)",
                    )
                })?;
                Some(remote)
            }
        };
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
                audience,
                clock_skew_ms: self.clock_skew.unwrap_or(DEFAULT_CLOCK_SKEW).as_millis() as f64,
                treat_pending_as_signed_out: self.treat_pending_as_signed_out.unwrap_or(true),
                cookie_suffix: publishable.as_ref().map(PublishableKey::cookie_suffix),
                clock,
                remote,
                machine_id: self.machine_id.map(|id| id.trim().to_owned()),
                cache: (capacity > 0).then(|| TokenCache::new(capacity)),
                revocations: Revocations::default(),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            }),
        };
        if self.background_refresh.unwrap_or(true) {
            if let Some(cache) = verifier.jwks() {
                cache.refresh_in_background();
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
