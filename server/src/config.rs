//! The server's configuration: one clap struct, read from command-line flags with environment
//! variables as fallbacks (`--clerk-issuer` or `CLERK_ISSUER`, the flag winning), parsed once
//! into types.
//!
//! [`Config`] is what the command line and the environment say, each value already of its
//! type (numbers, lists, addresses, secrets); [`Settings::from_config`] checks what depends on
//! several values (a key source, the CORS origins, the webhook secret, the database URL, the
//! verifier's own rules) once, and hands typed settings to the code that starts things. An
//! error names the variable and what is wrong with it (`CLERK_PUBLISHABLE_KEY: …`), and the
//! binary exits with code 2.

use std::net::SocketAddr;
use std::time::Duration;

use clap::builder::RangedU64ValueParser;
use clap::Parser;
use clerk_service::config::{
    interval, naming_variable, non_empty, non_empty_secret, positive, secret, webhook,
};
pub use clerk_service::config::{
    ClerkConfig, ClerkSettings, ConfigError, ConnectionConfig, LogFormat, DEFAULT_LOG_FILTER,
};
use clerk_webhooks::Webhook;
use http::HeaderValue;
use secrecy::SecretString;

use crate::db::DatabaseUrl;

/// The default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// The default database: an SQLite file under `./data/`, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/api.db?mode=rwc";
/// The default request timeout, in milliseconds.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// The default largest request body, in bytes (128 KiB): the largest valid note in any JSON
/// encoding fits (10,000 characters of body and 200 of title, each escaped as a `\uXXXX`
/// surrogate pair, 12 bytes: about 122 KB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 128 * 1024;
/// How long one Backend API attempt may take on the request path.
pub const BACKEND_TIMEOUT: Duration = Duration::from_secs(4);
/// How many times a failed Backend API call is retried on the request path.
pub const BACKEND_RETRIES: u32 = 1;

/// The configuration of the reference server. Every field is a flag and an environment
/// variable; see `api-server --help`.
///
/// Build one with [`Config::parse`] (flags and environment) or start from
/// [`Config::default`] (no environment at all, as tests do), then check it with
/// [`Settings::from_config`]:
///
/// ```
/// let config = api_server::Config {
///     clerk: api_server::config::ClerkConfig {
///         clerk_jwks_url: Some("http://127.0.0.1:9999/.well-known/jwks.json".into()),
///         ..Default::default()
///     },
///     ..api_server::Config::default()
/// };
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// assert!(api_server::Settings::from_config(config).is_ok());
/// # });
/// ```
#[derive(Debug, Clone, Parser)]
#[command(
    name = "api-server",
    version,
    about = "The reference SaaS API protected by Clerk."
)]
pub struct Config {
    /// Start a local Clerk emulator in-process and print curl commands with valid tokens.
    /// No Clerk account and no network needed (a build with the `dev` feature, the default).
    #[arg(long)]
    pub dev: bool,

    /// How Clerk's session tokens are verified.
    #[command(flatten)]
    pub clerk: ClerkConfig,

    /// `whsec_…`: the signing secret of Clerk's webhooks (`POST /webhooks/clerk`); several,
    /// separated by commas, while rotating. Unset: the route answers 503.
    #[arg(
        long,
        env = "CLERK_WEBHOOK_SIGNING_SECRET",
        value_name = "CLERK_WEBHOOK_SIGNING_SECRET",
        hide_env_values = true,
        value_parser = secret()
    )]
    pub clerk_webhook_signing_secret: Option<SecretString>,

    /// `sqlite://…` or `postgres://…`; default an SQLite file, `sqlite://data/api.db?mode=rwc`.
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        hide_env_values = true,
        value_parser = secret()
    )]
    pub database_url: Option<SecretString>,

    /// The listen address.
    #[arg(long, env = "BIND", value_name = "BIND", default_value = DEFAULT_BIND)]
    pub bind: SocketAddr,

    /// Comma-separated origins allowed to call the API from a browser (CORS, credentials
    /// allowed); default none: no CORS headers at all.
    #[arg(
        long,
        env = "CORS_ALLOWED_ORIGINS",
        value_name = "CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,

    /// A request that takes longer is answered 503.
    #[arg(
        long,
        env = "REQUEST_TIMEOUT_MS",
        value_name = "REQUEST_TIMEOUT_MS",
        default_value_t = DEFAULT_REQUEST_TIMEOUT_MS,
        value_parser = positive()
    )]
    pub request_timeout_ms: u64,

    /// The limits of each connection and of their number.
    #[command(flatten)]
    pub connections: ConnectionConfig,

    /// A larger request body is answered 413.
    #[arg(
        long,
        env = "MAX_BODY_BYTES",
        value_name = "MAX_BODY_BYTES",
        default_value_t = DEFAULT_MAX_BODY_BYTES,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_body_bytes: usize,

    /// `GET /v1/me?fresh=true` calls Clerk's Backend API, which Clerk rate-limits: per user, at
    /// most one call per this interval once the burst is spent (`1s`, `500ms`, `1m`; default
    /// `1s`). Over it: 429 with `Retry-After`, and the stored profile is not touched.
    #[arg(
        long,
        env = "FRESH_PROFILE_RATE",
        value_name = "FRESH_PROFILE_RATE",
        default_value = "1s",
        value_parser = interval
    )]
    pub fresh_profile_rate: Duration,

    /// How many `fresh=true` calls a user may make at once before `FRESH_PROFILE_RATE`
    /// applies (default 3).
    #[arg(
        long,
        env = "FRESH_PROFILE_BURST",
        value_name = "FRESH_PROFILE_BURST",
        default_value_t = 3,
        value_parser = RangedU64ValueParser::<u32>::new().range(1..=1000)
    )]
    pub fresh_profile_burst: u32,

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

impl Default for Config {
    /// The defaults of every flag, without reading the environment.
    fn default() -> Self {
        Config {
            dev: false,
            clerk: ClerkConfig::default(),
            clerk_webhook_signing_secret: None,
            database_url: None,
            bind: DEFAULT_BIND
                .parse()
                .expect("DEFAULT_BIND is a socket address"),
            cors_allowed_origins: Vec::new(),
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            connections: ConnectionConfig::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            fresh_profile_rate: Duration::from_secs(1),
            fresh_profile_burst: 3,
            shutdown_drain_ms: 0,
            log_format: LogFormat::Text,
            rust_log: None,
        }
    }
}

impl Config {
    /// The configuration from the command line and the environment. An error is printed as
    /// clap prints it, except that a bad value names its environment variable first
    /// (`CLERK_CLOCK_SKEW_MS: invalid value "soon": …`), since that is how most deployments set
    /// it; the process then exits with code 2 (0 for `--help` and `--version`).
    pub fn parse_or_exit() -> Config {
        match Config::try_parse() {
            Ok(config) => config,
            Err(err) => match naming_variable::<Config>(&err) {
                Some(message) => {
                    eprintln!("api-server: {message}");
                    std::process::exit(2);
                }
                None => err.exit(),
            },
        }
    }
}

/// The configuration, checked: what [`crate::start`] starts the server with.
#[derive(Debug)]
pub struct Settings {
    /// `--dev`: a local Clerk emulator in the process.
    pub dev: bool,
    /// The verifier, built from `CLERK_*` (with `--dev`, only its tuning is used: the keys are
    /// the emulator's).
    pub clerk: ClerkSettings,
    /// The verifier of Clerk's webhooks, if a signing secret is set.
    pub webhook: Option<Webhook>,
    /// The Backend API client of `GET /v1/me?fresh=true`, if a secret key is set.
    pub backend: Option<clerk_backend::Client>,
    /// The database.
    pub database: DatabaseUrl,
    /// The listen address.
    pub bind: SocketAddr,
    /// The limits of each connection and of their number.
    pub limits: clerk_service::serve::Limits,
    /// The HTTP layer's settings.
    pub http: crate::http::Options,
    /// How long to keep serving after a shutdown signal.
    pub shutdown_drain: Duration,
}

impl Settings {
    /// Checks `config` once and builds what it describes: the verifier (so its key format,
    /// URL and issuer rules are checked now; inside a Tokio runtime its keys start loading),
    /// the webhook verifier, the Backend API client, the database URL and the CORS origins.
    /// Nothing is connected to.
    pub fn from_config(config: Config) -> Result<Settings, ConfigError> {
        #[cfg(not(feature = "dev"))]
        if config.dev {
            return Err(ConfigError::new(
                "--dev",
                "this api-server was built without the dev feature (no emulator, no dev \
                 console): configure a Clerk instance (CLERK_PUBLISHABLE_KEY, …), or build with \
                 the default features to use --dev",
            ));
        }
        let clerk = config.clerk.check(config.dev)?;
        let http = crate::http::Options {
            request_timeout: Duration::from_millis(config.request_timeout_ms),
            max_body_bytes: config.max_body_bytes,
            cors_origins: cors_origins(&config.cors_allowed_origins)?,
            fresh_profile_rate: config.fresh_profile_rate,
            fresh_profile_burst: config.fresh_profile_burst,
        };
        let webhook = webhook(config.clerk_webhook_signing_secret.as_ref())?
            .map(|webhook| webhook.with_max_body_bytes(config.max_body_bytes));
        let backend = match non_empty_secret(clerk.config().clerk_secret_key.as_ref()) {
            Some(secret_key) => Some(backend_client(
                secret_key,
                non_empty(clerk.config().clerk_api_url.as_deref()),
            )?),
            None => None,
        };
        let database =
            non_empty_secret(config.database_url.as_ref()).unwrap_or(DEFAULT_DATABASE_URL);
        let database = DatabaseUrl::parse(database)
            .map_err(|message| ConfigError::new("DATABASE_URL", message))?;
        if let Some(filter) = non_empty(config.rust_log.as_deref()) {
            tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| {
                ConfigError::new("RUST_LOG", format!("not a valid log filter: {e}"))
            })?;
        }
        Ok(Settings {
            dev: config.dev,
            clerk,
            webhook,
            backend,
            database,
            bind: config.bind,
            limits: config.connections.limits(),
            http,
            shutdown_drain: Duration::from_millis(config.shutdown_drain_ms),
        })
    }
}

/// The origins of `CORS_ALLOWED_ORIGINS`, each `scheme://host[:port]` as a browser sends it in
/// `Origin`.
fn cors_origins(list: &[String]) -> Result<Vec<HeaderValue>, ConfigError> {
    let invalid = |message: String| ConfigError::new("CORS_ALLOWED_ORIGINS", message);
    list.iter()
        .map(|origin| origin.trim())
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            if origin == "*" {
                return Err(invalid(
                    "`*` cannot be combined with credentials: list the origins".to_owned(),
                ));
            }
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .ok_or_else(|| {
                    invalid(format!(
                        "{origin:?} is not an origin: it must start with https:// or http://"
                    ))
                })?;
            if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
                return Err(invalid(format!(
                    "{origin:?} is not an origin: scheme://host[:port], no path or trailing slash"
                )));
            }
            HeaderValue::from_str(origin)
                .map_err(|_| invalid(format!("{origin:?} is not a valid header value")))
        })
        .collect()
}

/// A Backend API client for this secret key and API URL (default Clerk's), with the request
/// path's short timeout and one retry.
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
    builder.build().map_err(|err| match err {
        clerk_backend::Error::Config(config) => ConfigError::new(
            config.setting().env_var().unwrap_or("CLERK_API_URL"),
            config.to_string(),
        ),
        other => ConfigError::new("CLERK_API_URL", other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("api-server").chain(args.iter().copied()))
    }

    const JWKS: &str = "http://127.0.0.1:1/.well-known/jwks.json";

    fn with_jwks(edit: impl FnOnce(&mut Config)) -> Config {
        let mut config = Config::default();
        config.clerk.clerk_jwks_url = Some(JWKS.to_owned());
        edit(&mut config);
        config
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = Config::default();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.request_timeout_ms, 10_000);
        assert_eq!(config.max_body_bytes, 131_072);
        assert!(config.cors_allowed_origins.is_empty());
        assert_eq!(
            parse(&[]).unwrap().request_timeout_ms,
            config.request_timeout_ms
        );
    }

    #[test]
    fn clerk_flags_are_parsed_into_their_types() {
        let config = parse(&[
            "--clerk-jwks-url",
            JWKS,
            "--clerk-authorized-parties",
            "http://localhost:3000, https://app.example.com",
            "--clerk-clock-skew-ms",
            "1000",
            "--clerk-token-cache-capacity",
            "0",
            "--bind",
            "127.0.0.1:0",
        ])
        .unwrap();
        assert_eq!(config.clerk.clerk_jwks_url.as_deref(), Some(JWKS));
        assert_eq!(
            config.clerk.clerk_authorized_parties,
            ["http://localhost:3000", " https://app.example.com"]
        );
        assert_eq!(config.clerk.clerk_clock_skew_ms, Some(1000));
        assert_eq!(config.clerk.clerk_token_cache_capacity, Some(0));
        assert_eq!(config.bind.port(), 0);
        for bad in [
            &["--clerk-clock-skew-ms", "soon"][..],
            &["--clerk-jwks-refresh-secs", "0"],
            &["--clerk-token-cache-capacity=-1"],
            &["--clerk-token-cache-capacity", "10000001"],
            &["--request-timeout-ms", "0"],
            &["--max-body-bytes", "0"],
        ] {
            let err = parse(bad).expect_err("refused");
            let message =
                naming_variable::<Config>(&err).unwrap_or_else(|| panic!("{bad:?}: {err}"));
            let flag = bad[0].trim_start_matches("--").split('=').next().unwrap();
            let variable = flag.to_uppercase().replace('-', "_");
            assert!(
                message.starts_with(&format!("{variable}: invalid value")),
                "{message}"
            );
        }
    }

    #[tokio::test]
    async fn cors_origins_must_be_origins() {
        let with = |origins: &str| {
            with_jwks(|c| c.cors_allowed_origins = origins.split(',').map(str::to_owned).collect())
        };
        let settings =
            Settings::from_config(with("https://app.example.com, http://localhost:3000")).unwrap();
        assert_eq!(settings.http.cors_origins.len(), 2);
        for bad in [
            "*",
            "app.example.com",
            "https://app.example.com/",
            "https://",
        ] {
            let err = Settings::from_config(with(bad)).unwrap_err();
            assert_eq!(err.variable, "CORS_ALLOWED_ORIGINS", "{bad}");
        }
    }

    #[tokio::test]
    async fn bad_values_name_their_variable() {
        let err = Settings::from_config(with_jwks(|c| {
            c.database_url = Some("mysql://localhost/db".into())
        }))
        .unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
        for bad in ["whsec_not base64!", "whsec_", "whsec_c2VjcmV0, %%%"] {
            let err = Settings::from_config(with_jwks(|c| {
                c.clerk_webhook_signing_secret = Some(bad.into())
            }))
            .unwrap_err();
            assert_eq!(err.variable, "CLERK_WEBHOOK_SIGNING_SECRET", "{bad}");
            assert!(
                !err.message.contains("c2VjcmV0"),
                "the secret is not echoed"
            );
        }
        let err = Settings::from_config(Config::default()).unwrap_err();
        assert_eq!(err.variable, "CLERK_PUBLISHABLE_KEY");
        let err = Settings::from_config(with_jwks(|c| {
            c.clerk.clerk_secret_key = Some("sk_test_x".into());
            c.clerk.clerk_api_url = Some("http://api.example.com".into());
        }))
        .unwrap_err();
        assert_eq!(err.variable, "CLERK_API_URL");
        let err = Settings::from_config(with_jwks(|c| c.rust_log = Some("=[".into()))).unwrap_err();
        assert_eq!(err.variable, "RUST_LOG");
    }

    #[tokio::test]
    async fn webhook_secrets_take_an_optional_prefix_and_a_rotation_list() {
        let with = |secret: &str| {
            Settings::from_config(with_jwks(|c| {
                c.clerk_webhook_signing_secret = Some(secret.into())
            }))
            .unwrap()
            .webhook
        };
        assert!(with("  ").is_none());
        for good in [
            "whsec_c2VjcmV0LWtleQ==",
            "c2VjcmV0LWtleQ==",
            "whsec_c2VjcmV0LWtleQ==,whsec_b2xkLWtleQ==",
            "whsec_c2VjcmV0LWtleQ== b2xkLWtleQ==",
        ] {
            assert!(with(good).is_some(), "{good}");
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let mut config = with_jwks(|c| c.database_url = Some("postgres://u:password@h/db".into()));
        config.clerk.clerk_secret_key = Some("sk_test_secret".into());
        config.clerk_webhook_signing_secret = Some("whsec_c2VjcmV0LWtleQ==".into());
        let shown = format!("{config:?}");
        assert!(!shown.contains("sk_test_secret"), "{shown}");
        assert!(!shown.contains("password"), "{shown}");
        assert!(!shown.contains("c2VjcmV0LWtleQ"), "{shown}");
    }

    /// The variables named in the first column of the README's configuration tables (those
    /// whose first column is headed `variable`).
    fn readme_variables() -> std::collections::BTreeSet<String> {
        let readme = include_str!("../../README.md");
        let mut in_table = false;
        readme
            .lines()
            .filter_map(|line| {
                let Some(cell) = line.strip_prefix('|').and_then(|l| l.split('|').next()) else {
                    in_table = false;
                    return None;
                };
                if cell.trim() == "variable" {
                    in_table = true;
                }
                in_table.then_some(cell)
            })
            .flat_map(|cell| cell.split('`').skip(1).step_by(2))
            .filter(|name| {
                name.len() > 2
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_variable_in_the_readme_is_a_flag_and_an_environment_variable_and_back() {
        let command = Config::command();
        let arguments: Vec<&clap::Arg> = command.get_arguments().collect();
        let documented = readme_variables();
        assert!(
            documented.len() >= 20,
            "the README's tables: {documented:?}"
        );
        for variable in &documented {
            let arg = arguments
                .iter()
                .find(|arg| arg.get_env().is_some_and(|env| env == variable.as_str()))
                .unwrap_or_else(|| {
                    panic!("{variable} is documented but is no environment variable")
                });
            let long = arg
                .get_long()
                .unwrap_or_else(|| panic!("{variable} has no flag"));
            assert_eq!(
                long,
                variable.to_lowercase().replace('_', "-"),
                "{variable}'s flag"
            );
        }
        for arg in &arguments {
            if let Some(env) = arg.get_env() {
                let env = env.to_string_lossy();
                assert!(
                    documented.contains(env.as_ref()),
                    "{env} is not in the README's tables"
                );
            }
        }
    }

    #[test]
    fn every_variable_reaches_its_field_through_the_flag() {
        // One value per variable, each different from its default, given as a flag: the
        // field it lands in must then differ from the default's.
        let defaults = format!("{:?}", Config::default());
        for variable in readme_variables() {
            let value = match variable.as_str() {
                "BIND" => "127.0.0.1:9",
                "LOG_FORMAT" => "json",
                "RUST_LOG" => "debug",
                "MAX_HEADER_BYTES" => "4096",
                "HTTP2_WINDOW_BYTES" => "70000",
                v if v.starts_with("HTTP2_") => "7",
                "CLERK_MACHINE_VERIFY_RATE" => "7",
                v if v.ends_with("_RATE") => "2s",
                v if v.ends_with("_MS") || v.ends_with("_SECS") || v.ends_with("_BYTES") => "7",
                v if v.ends_with("_CAPACITY")
                    || v.ends_with("_BURST")
                    || v.ends_with("_CONNECTIONS") =>
                {
                    "7"
                }
                _ => "x",
            };
            let flag = format!("--{}", variable.to_lowercase().replace('_', "-"));
            let config = parse(&[&flag, value]).unwrap_or_else(|err| panic!("{variable}: {err}"));
            assert_ne!(
                format!("{config:?}"),
                defaults,
                "{variable} changed nothing"
            );
        }
    }
}
