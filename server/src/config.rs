//! The server's configuration: one struct, read from command-line flags with environment
//! variables as fallbacks (`--clerk-issuer` or `CLERK_ISSUER`, the flag winning).
//!
//! Everything is checked before the server starts; an error names the variable and what is
//! wrong with it (`CLERK_PUBLISHABLE_KEY: …`), and the binary exits with code 2.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};
pub use clerk_auth::ConfigError;
use clerk_webhooks::Webhook;
use http::HeaderValue;

/// The default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// The default database: an SQLite file under `./data/`, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/api.db?mode=rwc";
/// The default request timeout, in milliseconds.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// The default largest request body, in bytes (64 KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// The default log filter when `RUST_LOG` is not set.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// The configuration of the reference server. Every field is a flag and an environment
/// variable; see `api-server --help`.
///
/// Build one with [`Config::parse`] (flags and environment) or start from
/// [`Config::default`] (no environment at all, as tests do):
///
/// ```
/// let config = api_server::Config {
///     clerk_jwks_url: Some("http://127.0.0.1:9999/.well-known/jwks.json".into()),
///     ..api_server::Config::default()
/// };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Parser)]
#[command(
    name = "api-server",
    version,
    about = "The reference SaaS API protected by Clerk."
)]
pub struct Config {
    /// Start a local Clerk emulator in-process and print curl commands with valid tokens.
    /// No Clerk account and no network needed.
    #[arg(long)]
    pub dev: bool,

    /// `sk_test_…` / `sk_live_…`: keys from the Backend API (`GET {CLERK_API_URL}/v1/jwks`).
    #[arg(
        long,
        env = "CLERK_SECRET_KEY",
        value_name = "CLERK_SECRET_KEY",
        hide_env_values = true
    )]
    pub clerk_secret_key: Option<String>,

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
        value_name = "CLERK_AUTHORIZED_PARTIES"
    )]
    pub clerk_authorized_parties: Option<String>,

    /// Allowed clock skew in milliseconds (default 5000).
    #[arg(long, env = "CLERK_CLOCK_SKEW_MS", value_name = "CLERK_CLOCK_SKEW_MS")]
    pub clerk_clock_skew_ms: Option<String>,

    /// Seconds after which the JWKS is refreshed in the background (default 300).
    #[arg(
        long,
        env = "CLERK_JWKS_REFRESH_SECS",
        value_name = "CLERK_JWKS_REFRESH_SECS"
    )]
    pub clerk_jwks_refresh_secs: Option<String>,

    /// Seconds the last good keys keep serving while the JWKS endpoint fails (default 3600).
    #[arg(
        long,
        env = "CLERK_JWKS_MAX_STALENESS_SECS",
        value_name = "CLERK_JWKS_MAX_STALENESS_SECS"
    )]
    pub clerk_jwks_max_staleness_secs: Option<String>,

    /// Least milliseconds between two JWKS refetches caused by unknown kids (default 10000).
    #[arg(
        long,
        env = "CLERK_JWKS_UNKNOWN_KID_INTERVAL_MS",
        value_name = "CLERK_JWKS_UNKNOWN_KID_INTERVAL_MS"
    )]
    pub clerk_jwks_unknown_kid_interval_ms: Option<String>,

    /// Timeout of one JWKS fetch in milliseconds (default 5000).
    #[arg(
        long,
        env = "CLERK_JWKS_TIMEOUT_MS",
        value_name = "CLERK_JWKS_TIMEOUT_MS"
    )]
    pub clerk_jwks_timeout_ms: Option<String>,

    /// Verified tokens remembered, so that a token seen again skips the signature check
    /// (default 10000; `0` turns the cache off). Bounds the cache's memory.
    #[arg(
        long,
        env = "CLERK_TOKEN_CACHE_CAPACITY",
        value_name = "CLERK_TOKEN_CACHE_CAPACITY"
    )]
    pub clerk_token_cache_capacity: Option<String>,

    /// `whsec_…`: the signing secret of Clerk's webhooks (`POST /webhooks/clerk`); several,
    /// separated by commas, while rotating. Unset: the route answers 503.
    #[arg(
        long,
        env = "CLERK_WEBHOOK_SIGNING_SECRET",
        value_name = "CLERK_WEBHOOK_SIGNING_SECRET",
        hide_env_values = true
    )]
    pub clerk_webhook_signing_secret: Option<String>,

    /// `sqlite://…` or `postgres://…`; default an SQLite file, `sqlite://data/api.db?mode=rwc`.
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// The listen address.
    #[arg(long, env = "BIND", value_name = "BIND", default_value = DEFAULT_BIND)]
    pub bind: SocketAddr,

    /// Comma-separated origins allowed to call the API from a browser (CORS, credentials
    /// allowed); default none: no CORS headers at all.
    #[arg(
        long,
        env = "CORS_ALLOWED_ORIGINS",
        value_name = "CORS_ALLOWED_ORIGINS"
    )]
    pub cors_allowed_origins: Option<String>,

    /// A request that takes longer is answered 503.
    #[arg(
        long,
        env = "REQUEST_TIMEOUT_MS",
        value_name = "REQUEST_TIMEOUT_MS",
        default_value_t = DEFAULT_REQUEST_TIMEOUT_MS
    )]
    pub request_timeout_ms: u64,

    /// A larger request body is answered 413.
    #[arg(
        long,
        env = "MAX_BODY_BYTES",
        value_name = "MAX_BODY_BYTES",
        default_value_t = DEFAULT_MAX_BODY_BYTES
    )]
    pub max_body_bytes: usize,

    /// On SIGTERM or Ctrl-C, keep serving this many milliseconds with `/readyz` answering 503
    /// `draining` (so a load balancer takes the instance out of rotation), then stop accepting
    /// connections and finish the requests in flight. Default 0: stop accepting at once. A
    /// second signal ends the drain early.
    #[arg(
        long,
        env = "SHUTDOWN_DRAIN_MS",
        value_name = "SHUTDOWN_DRAIN_MS",
        default_value_t = 0
    )]
    pub shutdown_drain_ms: u64,

    /// `text` (human-readable) or `json` (one object per line).
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_name = "LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,

    /// Log filter, e.g. `info` or `api_server=debug,info` (default `info`).
    #[arg(long, env = "RUST_LOG", value_name = "RUST_LOG")]
    pub rust_log: Option<String>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    /// The defaults of every flag, without reading the environment.
    fn default() -> Self {
        Config {
            dev: false,
            clerk_secret_key: None,
            clerk_publishable_key: None,
            clerk_jwt_key: None,
            clerk_jwks_url: None,
            clerk_issuer: None,
            clerk_api_url: None,
            clerk_authorized_parties: None,
            clerk_clock_skew_ms: None,
            clerk_jwks_refresh_secs: None,
            clerk_jwks_max_staleness_secs: None,
            clerk_jwks_unknown_kid_interval_ms: None,
            clerk_jwks_timeout_ms: None,
            clerk_token_cache_capacity: None,
            clerk_webhook_signing_secret: None,
            database_url: None,
            bind: DEFAULT_BIND
                .parse()
                .expect("DEFAULT_BIND is a socket address"),
            cors_allowed_origins: None,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            shutdown_drain_ms: 0,
            log_format: LogFormat::Text,
            rust_log: None,
        }
    }
}

impl fmt::Debug for Config {
    /// Secrets and the database URL (which may hold a password) are not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |value: &Option<String>| value.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("dev", &self.dev)
            .field("clerk_secret_key", &redacted(&self.clerk_secret_key))
            .field("clerk_publishable_key", &self.clerk_publishable_key)
            .field(
                "clerk_jwt_key",
                &self.clerk_jwt_key.as_ref().map(|_| "<pem>"),
            )
            .field("clerk_jwks_url", &self.clerk_jwks_url)
            .field("clerk_issuer", &self.clerk_issuer)
            .field("clerk_api_url", &self.clerk_api_url)
            .field("clerk_authorized_parties", &self.clerk_authorized_parties)
            .field("clerk_clock_skew_ms", &self.clerk_clock_skew_ms)
            .field("clerk_jwks_refresh_secs", &self.clerk_jwks_refresh_secs)
            .field(
                "clerk_jwks_max_staleness_secs",
                &self.clerk_jwks_max_staleness_secs,
            )
            .field(
                "clerk_jwks_unknown_kid_interval_ms",
                &self.clerk_jwks_unknown_kid_interval_ms,
            )
            .field("clerk_jwks_timeout_ms", &self.clerk_jwks_timeout_ms)
            .field(
                "clerk_token_cache_capacity",
                &self.clerk_token_cache_capacity,
            )
            .field(
                "clerk_webhook_signing_secret",
                &redacted(&self.clerk_webhook_signing_secret),
            )
            .field("database_url", &redacted(&self.database_url))
            .field("bind", &self.bind)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("shutdown_drain_ms", &self.shutdown_drain_ms)
            .field("log_format", &self.log_format)
            .field("rust_log", &self.rust_log)
            .finish()
    }
}

impl Config {
    /// Checks what can be checked without building the verifier or connecting anywhere.
    /// The verifier's own checks (key formats, URLs) happen when it is built.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.cors_origins()?;
        self.database()?;
        if self.request_timeout_ms == 0 {
            return Err(error(
                "REQUEST_TIMEOUT_MS",
                "must be at least 1 millisecond",
            ));
        }
        if self.max_body_bytes == 0 {
            return Err(error("MAX_BODY_BYTES", "must be at least 1 byte"));
        }
        self.webhook()?;
        if let Some(filter) = non_empty(&self.rust_log) {
            tracing_subscriber::EnvFilter::try_new(filter)
                .map_err(|e| error("RUST_LOG", format!("not a valid log filter: {e}")))?;
        }
        Ok(())
    }

    /// The value of a `CLERK_*` variable by its name, for
    /// [`clerk_auth::VerifierBuilder::from_vars`].
    pub fn clerk_var(&self, name: &str) -> Option<String> {
        let value = match name {
            "CLERK_SECRET_KEY" => &self.clerk_secret_key,
            "CLERK_PUBLISHABLE_KEY" => &self.clerk_publishable_key,
            "CLERK_JWT_KEY" => &self.clerk_jwt_key,
            "CLERK_JWKS_URL" => &self.clerk_jwks_url,
            "CLERK_ISSUER" => &self.clerk_issuer,
            "CLERK_API_URL" => &self.clerk_api_url,
            "CLERK_AUTHORIZED_PARTIES" => &self.clerk_authorized_parties,
            "CLERK_CLOCK_SKEW_MS" => &self.clerk_clock_skew_ms,
            "CLERK_JWKS_REFRESH_SECS" => &self.clerk_jwks_refresh_secs,
            "CLERK_JWKS_MAX_STALENESS_SECS" => &self.clerk_jwks_max_staleness_secs,
            "CLERK_JWKS_UNKNOWN_KID_INTERVAL_MS" => &self.clerk_jwks_unknown_kid_interval_ms,
            "CLERK_JWKS_TIMEOUT_MS" => &self.clerk_jwks_timeout_ms,
            "CLERK_TOKEN_CACHE_CAPACITY" => &self.clerk_token_cache_capacity,
            _ => return None,
        };
        value.clone()
    }

    /// The origins of `CORS_ALLOWED_ORIGINS`, each `scheme://host[:port]` as a browser sends
    /// it in `Origin`.
    pub fn cors_origins(&self) -> Result<Vec<HeaderValue>, ConfigError> {
        let Some(list) = non_empty(&self.cors_allowed_origins) else {
            return Ok(Vec::new());
        };
        list.split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                if origin == "*" {
                    return Err(error(
                        "CORS_ALLOWED_ORIGINS",
                        "`*` cannot be combined with credentials: list the origins",
                    ));
                }
                let rest = origin
                    .strip_prefix("https://")
                    .or_else(|| origin.strip_prefix("http://"))
                    .ok_or_else(|| {
                        error(
                            "CORS_ALLOWED_ORIGINS",
                            format!("{origin:?} is not an origin: it must start with https:// or http://"),
                        )
                    })?;
                if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
                    return Err(error(
                        "CORS_ALLOWED_ORIGINS",
                        format!("{origin:?} is not an origin: scheme://host[:port], no path or trailing slash"),
                    ));
                }
                HeaderValue::from_str(origin).map_err(|_| {
                    error(
                        "CORS_ALLOWED_ORIGINS",
                        format!("{origin:?} is not a valid header value"),
                    )
                })
            })
            .collect()
    }

    /// The database to use.
    pub fn database(&self) -> Result<crate::db::DatabaseUrl, ConfigError> {
        let url = non_empty(&self.database_url).unwrap_or(DEFAULT_DATABASE_URL);
        crate::db::DatabaseUrl::parse(url).map_err(|message| error("DATABASE_URL", message))
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The Backend API client for `GET /v1/me?fresh=true`, from `CLERK_SECRET_KEY` and
    /// `CLERK_API_URL` (default `https://api.clerk.com`). `None` without a secret key: the
    /// route then answers 503. On the request path, so each attempt is short and retried once.
    pub fn backend(&self) -> Result<Option<clerk_backend::Client>, ConfigError> {
        let Some(secret_key) = non_empty(&self.clerk_secret_key) else {
            return Ok(None);
        };
        backend_client(secret_key, non_empty(&self.clerk_api_url)).map(Some)
    }

    /// The verifier of Clerk's webhooks, from `CLERK_WEBHOOK_SIGNING_SECRET`: one secret, or
    /// several separated by commas or spaces while a secret is being rotated (a delivery
    /// signed by any of them is accepted). The `whsec_` prefix is optional, as in Clerk's SDK.
    /// `None` when unset: `POST /webhooks/clerk` then answers 503.
    pub fn webhook(&self) -> Result<Option<Webhook>, ConfigError> {
        let Some(list) = non_empty(&self.clerk_webhook_signing_secret) else {
            return Ok(None);
        };
        let webhook = Webhook::from_secret_list(list).map_err(|err| {
            // The library's messages never contain the secret.
            let problem = match err {
                clerk_webhooks::ConfigError::MissingSecret => "no secret in the list".to_owned(),
                other => other.to_string(),
            };
            error(
                "CLERK_WEBHOOK_SIGNING_SECRET",
                format!(
                    "{problem}; copy the signing secret (whsec_…) from the Clerk dashboard → \
                     Webhooks, several separated by commas while rotating"
                ),
            )
        })?;
        Ok(Some(webhook.with_max_body_bytes(self.max_body_bytes)))
    }
}

/// How long one Backend API attempt may take on the request path.
pub const BACKEND_TIMEOUT: Duration = Duration::from_secs(4);
/// How many times a failed Backend API call is retried on the request path.
pub const BACKEND_RETRIES: u32 = 1;

/// A Backend API client for this secret key and API URL (default Clerk's).
pub fn backend_client(
    secret_key: &str,
    api_url: Option<&str>,
) -> Result<clerk_backend::Client, ConfigError> {
    let mut builder = clerk_backend::Client::builder()
        .secret_key(secret_key)
        .timeout(BACKEND_TIMEOUT)
        .max_retries(BACKEND_RETRIES);
    if let Some(api_url) = api_url {
        builder = builder.api_url(api_url);
    }
    builder.build().map_err(|err| {
        // The library's messages never hold the key; those about the URL say "API URL".
        let message = err.to_string();
        let variable = if message.contains("API URL") {
            "CLERK_API_URL"
        } else {
            "CLERK_SECRET_KEY"
        };
        error(variable, message)
    })
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn error(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("api-server").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = Config::default();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.request_timeout(), Duration::from_secs(10));
        assert_eq!(config.max_body_bytes, 65_536);
        assert!(config.cors_origins().unwrap().is_empty());
    }

    #[test]
    fn every_clerk_variable_is_a_flag() {
        let config = parse(&[
            "--clerk-jwks-url",
            "http://127.0.0.1:1/.well-known/jwks.json",
            "--clerk-issuer",
            "http://127.0.0.1:1",
            "--clerk-authorized-parties",
            "http://localhost:3000",
            "--clerk-clock-skew-ms",
            "1000",
            "--bind",
            "127.0.0.1:0",
        ])
        .unwrap();
        assert_eq!(
            config.clerk_var("CLERK_JWKS_URL").as_deref(),
            Some("http://127.0.0.1:1/.well-known/jwks.json")
        );
        assert_eq!(
            config.clerk_var("CLERK_CLOCK_SKEW_MS").as_deref(),
            Some("1000")
        );
        assert_eq!(config.bind.port(), 0);
    }

    #[test]
    fn cors_origins_must_be_origins() {
        let with = |origins: &str| Config {
            cors_allowed_origins: Some(origins.to_owned()),
            ..Config::default()
        };
        assert_eq!(
            with("https://app.example.com, http://localhost:3000")
                .cors_origins()
                .unwrap()
                .len(),
            2
        );
        for bad in [
            "*",
            "app.example.com",
            "https://app.example.com/",
            "https://",
        ] {
            let err = with(bad).validate().unwrap_err();
            assert_eq!(err.variable, "CORS_ALLOWED_ORIGINS", "{bad}");
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = Config {
            database_url: Some("mysql://localhost/db".into()),
            ..Config::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
        for bad in ["whsec_not base64!", "whsec_", "whsec_c2VjcmV0, %%%"] {
            let err = Config {
                clerk_webhook_signing_secret: Some(bad.into()),
                ..Config::default()
            }
            .validate()
            .unwrap_err();
            assert_eq!(err.variable, "CLERK_WEBHOOK_SIGNING_SECRET", "{bad}");
            assert!(
                !err.message.contains("c2VjcmV0"),
                "the secret is not echoed"
            );
        }
        let err = Config {
            request_timeout_ms: 0,
            ..Config::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.variable, "REQUEST_TIMEOUT_MS");
    }

    #[test]
    fn webhook_secrets_take_an_optional_prefix_and_a_rotation_list() {
        let with = |secret: &str| Config {
            clerk_webhook_signing_secret: Some(secret.to_owned()),
            ..Config::default()
        };
        assert!(Config::default().webhook().unwrap().is_none());
        assert!(with("  ").webhook().unwrap().is_none());
        for good in [
            "whsec_c2VjcmV0LWtleQ==",
            "c2VjcmV0LWtleQ==",
            "whsec_c2VjcmV0LWtleQ==,whsec_b2xkLWtleQ==",
            "whsec_c2VjcmV0LWtleQ== b2xkLWtleQ==",
        ] {
            assert!(with(good).webhook().unwrap().is_some(), "{good}");
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let config = Config {
            clerk_secret_key: Some("sk_test_secret".into()),
            database_url: Some("postgres://u:password@h/db".into()),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("sk_test_secret"));
        assert!(!shown.contains("password"));
    }
}
