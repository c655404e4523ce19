//! The configuration both binaries read: the `CLERK_*` settings of the verifier
//! ([`ClerkConfig`]), the connection limits ([`ConnectionConfig`]), the log format, and the
//! checks that turn them into typed settings. Each binary flattens these clap structs into its
//! own, so the same variable means the same thing to the server and to the gateway.

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use clap::builder::{RangedU64ValueParser, ValueParser};
use clap::{CommandFactory, ValueEnum};
use clerk_auth::{JwksOptions, MachineOptions, VerifierBuilder, MAX_TOKEN_CACHE_CAPACITY};
use clerk_webhooks::Webhook;
use secrecy::{ExposeSecret, SecretString};

use crate::serve::Limits;

/// The default time a request head may take, from a connection's opening or a request's
/// first byte, in milliseconds.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// The default time a keep-alive connection may idle between requests, in milliseconds:
/// nginx's 75 s, above the 60 s idle timeout of the common load balancers (AWS ALB, Google
/// Cloud, Azure), so that a balancer in front always closes an idle connection first: were
/// the server to close it first, the balancer could send a request on a connection just being
/// closed, and answer its client 502.
pub const DEFAULT_KEEPALIVE_TIMEOUT_MS: u64 = 75_000;
/// The default largest request head, in bytes.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// The default most connections at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The default most streams open at once on an HTTP/2 connection: nginx's 128, above the
/// 100 RFC 9113 §6.5.2 asks a server not to go below.
pub const DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS: u32 = 128;
/// The default HTTP/2 flow-control window of a stream and of a connection, in bytes: twice the
/// server's default largest body, so that one fits without waiting for a `WINDOW_UPDATE`,
/// while a connection holds at most this much unread request data.
pub const DEFAULT_HTTP2_WINDOW_BYTES: u32 = 256 * 1024;
/// The default HTTP/2 streams a client may reset before the server accepts them (the `h2`
/// crate's 20), beyond which the connection is told to go away.
pub const DEFAULT_HTTP2_MAX_PENDING_RESET_STREAMS: usize = 20;
/// The default HTTP/2 streams the server may reset for a client's errors on one connection
/// (hyper's 1024), beyond which the connection is told to go away.
pub const DEFAULT_HTTP2_MAX_LOCAL_RESET_STREAMS: usize = 1024;
/// The default log filter when `RUST_LOG` is not set.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// The limits of each connection and of their number: `HEADER_READ_TIMEOUT_MS`,
/// `KEEPALIVE_TIMEOUT_MS`, `MAX_HEADER_BYTES`, `MAX_CONNECTIONS`, and HTTP/2's
/// `HTTP2_MAX_CONCURRENT_STREAMS`, `HTTP2_WINDOW_BYTES`, `HTTP2_MAX_PENDING_RESET_STREAMS`,
/// `HTTP2_MAX_LOCAL_RESET_STREAMS`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionConfig {
    /// A request head (request line and headers) must arrive within this many milliseconds,
    /// counted from the connection's opening and from the first byte of each later request;
    /// else the connection is closed (slow clients, slow-loris attacks).
    #[arg(
        long,
        env = "HEADER_READ_TIMEOUT_MS",
        value_name = "HEADER_READ_TIMEOUT_MS",
        default_value_t = DEFAULT_HEADER_READ_TIMEOUT_MS,
        value_parser = positive()
    )]
    pub header_read_timeout_ms: u64,

    /// A keep-alive connection idle this many milliseconds between a response and the next
    /// request is closed (default 75000, above load balancers' 60 s).
    #[arg(
        long,
        env = "KEEPALIVE_TIMEOUT_MS",
        value_name = "KEEPALIVE_TIMEOUT_MS",
        default_value_t = DEFAULT_KEEPALIVE_TIMEOUT_MS,
        value_parser = positive()
    )]
    pub keepalive_timeout_ms: u64,

    /// A request head larger than this many bytes is answered 431 and the connection closed.
    #[arg(
        long,
        env = "MAX_HEADER_BYTES",
        value_name = "MAX_HEADER_BYTES",
        default_value_t = DEFAULT_MAX_HEADER_BYTES,
        value_parser = RangedU64ValueParser::<usize>::new().range(1024..=1024 * 1024)
    )]
    pub max_header_bytes: usize,

    /// The most connections served at once; beyond, new connections wait in the kernel's
    /// backlog until some close.
    #[arg(
        long,
        env = "MAX_CONNECTIONS",
        value_name = "MAX_CONNECTIONS",
        default_value_t = DEFAULT_MAX_CONNECTIONS,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..=10_000_000)
    )]
    pub max_connections: usize,

    /// HTTP/2: the most streams open at once on a connection; beyond, a new stream is refused
    /// (`REFUSED_STREAM`, which a client may retry).
    #[arg(
        long,
        env = "HTTP2_MAX_CONCURRENT_STREAMS",
        value_name = "HTTP2_MAX_CONCURRENT_STREAMS",
        default_value_t = DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS,
        value_parser = RangedU64ValueParser::<u32>::new().range(1..=100_000)
    )]
    pub http2_max_concurrent_streams: u32,

    /// HTTP/2: the flow-control window of each stream and each connection, in bytes: the
    /// request body a client may send before the server has read it.
    #[arg(
        long,
        env = "HTTP2_WINDOW_BYTES",
        value_name = "HTTP2_WINDOW_BYTES",
        default_value_t = DEFAULT_HTTP2_WINDOW_BYTES,
        value_parser = RangedU64ValueParser::<u32>::new().range(65_535..=(1 << 31) - 1)
    )]
    pub http2_window_bytes: u32,

    /// HTTP/2: the streams a client may reset before the server has accepted them (the
    /// rapid-reset attack) before its connection is told to go away (`ENHANCE_YOUR_CALM`).
    #[arg(
        long,
        env = "HTTP2_MAX_PENDING_RESET_STREAMS",
        value_name = "HTTP2_MAX_PENDING_RESET_STREAMS",
        default_value_t = DEFAULT_HTTP2_MAX_PENDING_RESET_STREAMS,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..=100_000)
    )]
    pub http2_max_pending_reset_streams: usize,

    /// HTTP/2: the streams the server may reset for a client's errors on one connection
    /// before the connection is told to go away (`ENHANCE_YOUR_CALM`).
    #[arg(
        long,
        env = "HTTP2_MAX_LOCAL_RESET_STREAMS",
        value_name = "HTTP2_MAX_LOCAL_RESET_STREAMS",
        default_value_t = DEFAULT_HTTP2_MAX_LOCAL_RESET_STREAMS,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..=100_000)
    )]
    pub http2_max_local_reset_streams: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            header_read_timeout_ms: DEFAULT_HEADER_READ_TIMEOUT_MS,
            keepalive_timeout_ms: DEFAULT_KEEPALIVE_TIMEOUT_MS,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            http2_max_concurrent_streams: DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS,
            http2_window_bytes: DEFAULT_HTTP2_WINDOW_BYTES,
            http2_max_pending_reset_streams: DEFAULT_HTTP2_MAX_PENDING_RESET_STREAMS,
            http2_max_local_reset_streams: DEFAULT_HTTP2_MAX_LOCAL_RESET_STREAMS,
        }
    }
}

impl ConnectionConfig {
    /// The limits these settings describe.
    pub fn limits(&self) -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            keepalive_timeout: Duration::from_millis(self.keepalive_timeout_ms),
            max_header_bytes: self.max_header_bytes,
            max_connections: self.max_connections,
            http2_max_concurrent_streams: self.http2_max_concurrent_streams,
            http2_window_bytes: self.http2_window_bytes,
            http2_max_pending_reset_streams: self.http2_max_pending_reset_streams,
            http2_max_local_reset_streams: self.http2_max_local_reset_streams,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The `CLERK_*` settings of the verifier, each of its type, fed to [`VerifierBuilder`]'s
/// methods. See [`clerk_auth::VerifierBuilder::from_vars`] for what each does.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClerkConfig {
    /// `sk_test_…` / `sk_live_…`: keys from the Backend API (`GET {CLERK_API_URL}/v1/jwks`),
    /// the Backend API verification of opaque machine tokens, and the server's Backend API
    /// client (`GET /v1/me?fresh=true`).
    #[arg(
        long,
        env = "CLERK_SECRET_KEY",
        value_name = "CLERK_SECRET_KEY",
        hide_env_values = true,
        value_parser = secret()
    )]
    pub clerk_secret_key: Option<SecretString>,

    /// `pk_test_…` / `pk_live_…`: gives the expected issuer and the cookie suffix; alone,
    /// keys come from the Frontend API's public JWKS.
    #[arg(
        long,
        env = "CLERK_PUBLISHABLE_KEY",
        value_name = "CLERK_PUBLISHABLE_KEY"
    )]
    pub clerk_publishable_key: Option<String>,

    /// PEM public key: networkless verification, no JWKS fetch at all.
    #[arg(long, env = "CLERK_JWT_KEY", value_name = "CLERK_JWT_KEY")]
    pub clerk_jwt_key: Option<String>,

    /// An explicit JWKS URL (a proxy, the emulator); `https://` except on a loopback host.
    #[arg(long, env = "CLERK_JWKS_URL", value_name = "CLERK_JWKS_URL")]
    pub clerk_jwks_url: Option<String>,

    /// The exact expected `iss` (needed behind a Clerk proxy).
    #[arg(long, env = "CLERK_ISSUER", value_name = "CLERK_ISSUER")]
    pub clerk_issuer: Option<String>,

    /// The Backend API base URL (default `https://api.clerk.com`).
    #[arg(long, env = "CLERK_API_URL", value_name = "CLERK_API_URL")]
    pub clerk_api_url: Option<String>,

    /// Comma-separated origins allowed in `azp`; when set, a token without `azp` is refused.
    #[arg(
        long,
        env = "CLERK_AUTHORIZED_PARTIES",
        value_name = "CLERK_AUTHORIZED_PARTIES",
        value_delimiter = ','
    )]
    pub clerk_authorized_parties: Vec<String>,

    /// Allowed clock skew in milliseconds (default 5000).
    #[arg(long, env = "CLERK_CLOCK_SKEW_MS", value_name = "CLERK_CLOCK_SKEW_MS")]
    pub clerk_clock_skew_ms: Option<u64>,

    /// Seconds after which the JWKS is refreshed (in the background, before it is due;
    /// default 300).
    #[arg(
        long,
        env = "CLERK_JWKS_REFRESH_SECS",
        value_name = "CLERK_JWKS_REFRESH_SECS",
        value_parser = positive()
    )]
    pub clerk_jwks_refresh_secs: Option<u64>,

    /// Seconds the last good keys keep serving while the JWKS endpoint fails (default 3600).
    #[arg(
        long,
        env = "CLERK_JWKS_MAX_STALENESS_SECS",
        value_name = "CLERK_JWKS_MAX_STALENESS_SECS",
        value_parser = positive()
    )]
    pub clerk_jwks_max_staleness_secs: Option<u64>,

    /// Least milliseconds between two JWKS refetches caused by unknown kids (default 10000).
    #[arg(
        long,
        env = "CLERK_JWKS_UNKNOWN_KID_INTERVAL_MS",
        value_name = "CLERK_JWKS_UNKNOWN_KID_INTERVAL_MS",
        value_parser = positive()
    )]
    pub clerk_jwks_unknown_kid_interval_ms: Option<u64>,

    /// Timeout of one JWKS fetch in milliseconds (default 5000).
    #[arg(
        long,
        env = "CLERK_JWKS_TIMEOUT_MS",
        value_name = "CLERK_JWKS_TIMEOUT_MS",
        value_parser = positive()
    )]
    pub clerk_jwks_timeout_ms: Option<u64>,

    /// Verified tokens remembered, so that a token seen again skips the signature check
    /// (default 10000; `0` turns the cache off). Bounds the cache's memory.
    #[arg(
        long,
        env = "CLERK_TOKEN_CACHE_CAPACITY",
        value_name = "CLERK_TOKEN_CACHE_CAPACITY",
        value_parser = RangedU64ValueParser::<usize>::new().range(0..=MAX_TOKEN_CACHE_CAPACITY as u64)
    )]
    pub clerk_token_cache_capacity: Option<usize>,

    /// `ak_…`: the machine secret key that authorises the Backend API verification of
    /// opaque M2M tokens instead of `CLERK_SECRET_KEY` (which it needs beside it).
    #[arg(
        long,
        env = "CLERK_MACHINE_SECRET_KEY",
        value_name = "CLERK_MACHINE_SECRET_KEY",
        hide_env_values = true,
        value_parser = secret()
    )]
    pub clerk_machine_secret_key: Option<SecretString>,

    /// This service's machine id (`mch_…`): when set, an M2M JWT must name it in `aud`.
    #[arg(long, env = "CLERK_MACHINE_ID", value_name = "CLERK_MACHINE_ID")]
    pub clerk_machine_id: Option<String>,

    /// Seconds a verified opaque machine token (API key, M2M, OAuth) is remembered, never past
    /// its own expiration (default 60): a revocation in Clerk is seen at most this late.
    #[arg(
        long,
        env = "CLERK_MACHINE_TOKEN_CACHE_TTL_SECS",
        value_name = "CLERK_MACHINE_TOKEN_CACHE_TTL_SECS",
        value_parser = positive()
    )]
    pub clerk_machine_token_cache_ttl_secs: Option<u64>,

    /// Seconds an opaque machine token Clerk does not know is remembered as unknown
    /// (default 10).
    #[arg(
        long,
        env = "CLERK_MACHINE_TOKEN_NEGATIVE_TTL_SECS",
        value_name = "CLERK_MACHINE_TOKEN_NEGATIVE_TTL_SECS",
        value_parser = positive()
    )]
    pub clerk_machine_token_negative_ttl_secs: Option<u64>,

    /// Machine-token verdicts remembered (default 10000; `0` turns the cache off).
    #[arg(
        long,
        env = "CLERK_MACHINE_TOKEN_CACHE_CAPACITY",
        value_name = "CLERK_MACHINE_TOKEN_CACHE_CAPACITY",
        value_parser = RangedU64ValueParser::<u64>::new().range(0..=MAX_TOKEN_CACHE_CAPACITY as u64)
    )]
    pub clerk_machine_token_cache_capacity: Option<u64>,

    /// Backend API verifications of uncached machine tokens allowed per second (default
    /// 20); beyond it and the burst, such requests get 503 with `Retry-After`.
    #[arg(
        long,
        env = "CLERK_MACHINE_VERIFY_RATE",
        value_name = "CLERK_MACHINE_VERIFY_RATE",
        value_parser = RangedU64ValueParser::<u32>::new().range(1..=u64::from(u32::MAX))
    )]
    pub clerk_machine_verify_rate: Option<u32>,

    /// The burst of Backend API verifications above `CLERK_MACHINE_VERIFY_RATE` (default 100).
    #[arg(
        long,
        env = "CLERK_MACHINE_VERIFY_BURST",
        value_name = "CLERK_MACHINE_VERIFY_BURST",
        value_parser = RangedU64ValueParser::<u32>::new().range(1..=u64::from(u32::MAX))
    )]
    pub clerk_machine_verify_burst: Option<u32>,

    /// Timeout of one Backend API verification in milliseconds (default 5000).
    #[arg(
        long,
        env = "CLERK_MACHINE_TOKEN_TIMEOUT_MS",
        value_name = "CLERK_MACHINE_TOKEN_TIMEOUT_MS",
        value_parser = positive()
    )]
    pub clerk_machine_token_timeout_ms: Option<u64>,
}

/// A value parser for a secret: kept out of `Debug` and logs.
pub fn secret() -> ValueParser {
    ValueParser::new(|value: &str| Ok::<_, std::convert::Infallible>(SecretString::from(value)))
}

/// An interval: a whole number and a unit, `ms`, `s`, `m` or `h` (`500ms`, `1s`); at least
/// 1 ms.
pub fn interval(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let digits = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| "a whole number and a unit: 500ms, 1s, 1m or 1h".to_owned())?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err("the unit is ms, s, m or h (500ms, 1s, 1m, 1h)".to_owned()),
    };
    match number.checked_mul(unit_ms) {
        Some(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err("at least 1 ms, and at most a few centuries".to_owned()),
    }
}

/// A value parser for a whole number of at least 1.
pub fn positive() -> RangedU64ValueParser<u64> {
    RangedU64ValueParser::<u64>::new().range(1..)
}

/// `VAR: invalid value "…": why` for an invalid value of an argument with a variable.
pub fn naming_variable<C: CommandFactory>(err: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        err.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let ContextValue::String(arg) = err.get(ContextKind::InvalidArg)? else {
        return None;
    };
    let long = arg.strip_prefix("--")?.split([' ', '=']).next()?;
    let command = C::command();
    let variable = command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))?
        .get_env()?
        .to_string_lossy()
        .into_owned();
    let value = match err.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) => format!(" {value:?}"),
        _ => String::new(),
    };
    let why = err
        .source()
        .map(|cause| format!(": {cause}"))
        .unwrap_or_default();
    Some(format!("{variable}: invalid value{value}{why}"))
}

/// A setting that is wrong, naming its variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable (or flag) at fault, e.g. `CLERK_PUBLISHABLE_KEY`.
    pub variable: &'static str,
    /// What is wrong with it; never the value of a secret.
    pub message: String,
}

impl ConfigError {
    /// An error of `variable`.
    pub fn new(variable: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            variable,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl From<clerk_auth::ConfigError> for ConfigError {
    fn from(err: clerk_auth::ConfigError) -> Self {
        ConfigError::new(err.variable, err.message)
    }
}

/// The verifier's settings, checked.
#[derive(Debug)]
pub struct ClerkSettings {
    /// The verifier built from the configured key source; `None` when none is set (allowed
    /// with `--dev` only).
    pub verifier: Option<clerk_auth::Verifier>,
    /// The key-source variables that are set (ignored with `--dev`, which says so).
    pub key_sources: Vec<&'static str>,
    config: ClerkConfig,
}

impl ClerkSettings {
    /// A verifier builder with every setting but the key source and the issuer (for `--dev`,
    /// pointed at the emulator).
    pub fn tuning(&self) -> VerifierBuilder {
        tuning(&self.config)
    }

    /// The settings as given.
    pub fn config(&self) -> &ClerkConfig {
        &self.config
    }

    /// The first authorized party, if any (the `azp` of `--dev`'s tokens).
    pub fn first_authorized_party(&self) -> Option<&str> {
        self.config
            .clerk_authorized_parties
            .iter()
            .map(|p| p.trim())
            .find(|p| !p.is_empty())
    }
}

/// The key-source variables, in the order the verifier takes the first that is set.
const KEY_SOURCES: [&str; 4] = [
    "CLERK_JWT_KEY",
    "CLERK_JWKS_URL",
    "CLERK_SECRET_KEY",
    "CLERK_PUBLISHABLE_KEY",
];

impl ClerkConfig {
    /// Checks these settings and builds the verifier they describe (so its key format, URL
    /// and issuer rules are checked now; inside a Tokio runtime its keys start loading).
    /// With `emulated` (`--dev`) no verifier is built: the emulator is the key source, and
    /// only the tuning is used.
    pub fn check(self, emulated: bool) -> Result<ClerkSettings, ConfigError> {
        clerk_settings(self, emulated)
    }
}

fn clerk_settings(config: ClerkConfig, dev: bool) -> Result<ClerkSettings, ConfigError> {
    let sources = [
        non_empty(config.clerk_jwt_key.as_deref()).is_some(),
        non_empty(config.clerk_jwks_url.as_deref()).is_some(),
        non_empty_secret(config.clerk_secret_key.as_ref()).is_some(),
        non_empty(config.clerk_publishable_key.as_deref()).is_some(),
    ];
    let key_sources: Vec<&'static str> = KEY_SOURCES
        .into_iter()
        .zip(sources)
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
    let verifier = if dev {
        // The emulator is the key source (see `crate::dev`); the tuning, already typed, cannot
        // be wrong.
        None
    } else if key_sources.is_empty() {
        return Err(ConfigError::new(
            "CLERK_PUBLISHABLE_KEY",
            "no key source: set CLERK_PUBLISHABLE_KEY (pk_test_…), CLERK_SECRET_KEY, \
             CLERK_JWT_KEY or CLERK_JWKS_URL, or run with --dev for a local Clerk emulator",
        ));
    } else {
        let mut builder = tuning(&config);
        if let Some(pem) = non_empty(config.clerk_jwt_key.as_deref()) {
            builder = builder.jwt_key(pem);
        }
        if let Some(url) = non_empty(config.clerk_jwks_url.as_deref()) {
            builder = builder.jwks_url(url);
        }
        if let Some(secret_key) = non_empty_secret(config.clerk_secret_key.as_ref()) {
            builder = builder.secret_key(secret_key);
        }
        if let Some(api_url) = non_empty(config.clerk_api_url.as_deref()) {
            builder = builder.api_url(api_url);
        }
        if let Some(key) = non_empty(config.clerk_publishable_key.as_deref()) {
            builder = builder.publishable_key(key);
        }
        if let Some(issuer) = non_empty(config.clerk_issuer.as_deref()) {
            builder = builder.issuer(issuer);
        }
        Some(builder.build()?)
    };
    Ok(ClerkSettings {
        verifier,
        key_sources,
        config,
    })
}

/// Every `CLERK_*` setting but the key source and the issuer.
fn tuning(config: &ClerkConfig) -> VerifierBuilder {
    let mut options = JwksOptions::default();
    if let Some(secs) = config.clerk_jwks_refresh_secs {
        options.refresh_interval = Duration::from_secs(secs);
    }
    if let Some(secs) = config.clerk_jwks_max_staleness_secs {
        options.max_staleness = Duration::from_secs(secs);
    }
    if let Some(ms) = config.clerk_jwks_unknown_kid_interval_ms {
        options.unknown_kid_interval = Duration::from_millis(ms);
    }
    if let Some(ms) = config.clerk_jwks_timeout_ms {
        options.timeout = Duration::from_millis(ms);
    }
    let mut builder = clerk_auth::Verifier::builder()
        .jwks_options(options)
        .authorized_parties(
            config
                .clerk_authorized_parties
                .iter()
                .map(|p| p.trim())
                .filter(|p| !p.is_empty()),
        );
    if let Some(ms) = config.clerk_clock_skew_ms {
        builder = builder.clock_skew(Duration::from_millis(ms));
    }
    if let Some(capacity) = config.clerk_token_cache_capacity {
        builder = builder.token_cache_capacity(capacity);
    }
    let mut machine = MachineOptions::default();
    if let Some(secs) = config.clerk_machine_token_cache_ttl_secs {
        machine.cache_ttl = Duration::from_secs(secs);
    }
    if let Some(secs) = config.clerk_machine_token_negative_ttl_secs {
        machine.negative_ttl = Duration::from_secs(secs);
    }
    if let Some(capacity) = config.clerk_machine_token_cache_capacity {
        machine.cache_capacity = capacity;
    }
    if let Some(rate) = config.clerk_machine_verify_rate {
        machine.verify_rate = rate;
    }
    if let Some(burst) = config.clerk_machine_verify_burst {
        machine.verify_burst = burst;
    }
    if let Some(ms) = config.clerk_machine_token_timeout_ms {
        machine.timeout = Duration::from_millis(ms);
    }
    builder = builder.machine_options(machine);
    if let Some(id) = non_empty(config.clerk_machine_id.as_deref()) {
        builder = builder.machine_id(id);
    }
    if let Some(key) = non_empty_secret(config.clerk_machine_secret_key.as_ref()) {
        builder = builder.machine_secret_key(key);
    }
    builder
}

/// The verifier of Clerk's webhooks, from `CLERK_WEBHOOK_SIGNING_SECRET`: one secret, or
/// several separated by commas or spaces while a secret is being rotated (a delivery signed by
/// any of them is accepted). The `whsec_` prefix is optional, as in Clerk's SDK. `None` when
/// unset: `POST /webhooks/clerk` then answers 503.
pub fn webhook(secret: Option<&SecretString>) -> Result<Option<Webhook>, ConfigError> {
    let Some(list) = non_empty_secret(secret) else {
        return Ok(None);
    };
    let webhook = Webhook::from_secret_list(list).map_err(|err| {
        // The library's messages never contain the secret.
        let problem = match err {
            clerk_webhooks::ConfigError::MissingSecret => "no secret in the list".to_owned(),
            other => other.to_string(),
        };
        ConfigError::new(
            "CLERK_WEBHOOK_SIGNING_SECRET",
            format!(
                "{problem}; copy the signing secret (whsec_…) from the Clerk dashboard → \
                 Webhooks, several separated by commas while rotating"
            ),
        )
    })?;
    Ok(Some(webhook))
}

/// The trimmed value, if not empty.
pub fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// The trimmed secret, if not empty.
pub fn non_empty_secret(value: Option<&SecretString>) -> Option<&str> {
    non_empty(value.map(ExposeSecret::expose_secret))
}
