//! The gateway's configuration: the server's `CLERK_*`, connection and log settings (the same
//! clap structs, [`clerk_service::config`]) and the gateway's own, from flags or environment
//! variables, checked once into [`Settings`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use clerk_service::config::{
    naming_variable, non_empty_secret, secret, webhook, ClerkConfig, ClerkSettings, ConfigError,
    ConnectionConfig, LogFormat,
};
use clerk_webhooks::Webhook;
use secrecy::SecretString;

use crate::identity::Signer;
use crate::rules::Rules;

/// The default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8090";
/// The default `iss` of signed identities.
pub const DEFAULT_ISSUER: &str = "clerk-gateway";
/// The largest webhook body accepted, in bytes.
pub const MAX_WEBHOOK_BYTES: usize = 256 * 1024;

/// The forward-auth decision service. Every setting is a flag and an environment variable;
/// see `clerk-gateway --help`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "clerk-gateway",
    version,
    about = "Clerk authentication in front of services in any language: the forward-auth \
             decision for nginx, Traefik, Caddy and Envoy."
)]
pub struct Config {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Start a local Clerk emulator in-process and print valid credentials and an nginx
    /// snippet. No Clerk account and no network needed (a build with the `dev` feature).
    #[arg(long, global = true)]
    pub dev: bool,

    /// How Clerk's tokens are verified.
    #[command(flatten)]
    pub clerk: ClerkConfig,

    /// The limits of each connection and of their number.
    #[command(flatten)]
    pub connections: ConnectionConfig,

    /// `whsec_…`: the signing secret of Clerk's webhooks (`POST /webhooks/clerk`, for
    /// revocations); several, separated by commas, while rotating. Unset: the route answers
    /// 503.
    #[arg(
        long,
        env = "CLERK_WEBHOOK_SIGNING_SECRET",
        value_name = "CLERK_WEBHOOK_SIGNING_SECRET",
        hide_env_values = true,
        value_parser = secret()
    )]
    pub clerk_webhook_signing_secret: Option<SecretString>,

    /// `postgres://…`: share revocations with the other instances (optional; without it the
    /// gateway keeps no state).
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

    /// A TOML file of ordered rules (host, path glob, methods → accepted credentials and
    /// requirements). Without it, the policy comes from the auth URL's query string alone.
    #[arg(
        long,
        env = "GATEWAY_RULES",
        value_name = "GATEWAY_RULES",
        global = true
    )]
    pub gateway_rules: Option<PathBuf>,

    /// A PKCS#8 PEM private key (ES256 or Ed25519): each allowed request also gets
    /// `X-Clerk-Identity`, a JWT of at most 60 s, and the public key is served at
    /// `/.well-known/jwks.json`.
    #[arg(long, env = "GATEWAY_SIGNING_KEY", value_name = "GATEWAY_SIGNING_KEY")]
    pub gateway_signing_key: Option<PathBuf>,

    /// The `iss` of signed identities (default `clerk-gateway`).
    #[arg(
        long,
        env = "GATEWAY_ISSUER",
        value_name = "GATEWAY_ISSUER",
        default_value = DEFAULT_ISSUER
    )]
    pub gateway_issuer: String,

    /// `text` (human-readable) or `json` (one object per line).
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_name = "LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,

    /// Log filter, e.g. `info` or `clerk_gateway=debug,info` (default `info`).
    #[arg(long, env = "RUST_LOG", value_name = "RUST_LOG")]
    pub rust_log: Option<String>,
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve (the default).
    Serve,
    /// Print which rule of `GATEWAY_RULES` decides a request, and why the others do not.
    CheckPolicy {
        /// The original request's method.
        #[arg(long, default_value = "GET")]
        method: String,
        /// The original request's host.
        #[arg(long)]
        host: String,
        /// The original request's path (and query).
        #[arg(long)]
        uri: String,
    },
}

impl Default for Config {
    /// The defaults of every flag, without reading the environment.
    fn default() -> Self {
        Config {
            command: None,
            dev: false,
            clerk: ClerkConfig::default(),
            connections: ConnectionConfig::default(),
            clerk_webhook_signing_secret: None,
            database_url: None,
            bind: DEFAULT_BIND.parse().expect("DEFAULT_BIND is an address"),
            gateway_rules: None,
            gateway_signing_key: None,
            gateway_issuer: DEFAULT_ISSUER.to_owned(),
            log_format: LogFormat::Text,
            rust_log: None,
        }
    }
}

impl Config {
    /// The configuration from the command line and the environment; a bad value names its
    /// variable and the process exits with code 2.
    pub fn parse_or_exit() -> Config {
        match Config::try_parse() {
            Ok(config) => config,
            Err(err) => match naming_variable::<Config>(&err) {
                Some(message) => {
                    eprintln!("clerk-gateway: {message}");
                    std::process::exit(2);
                }
                None => err.exit(),
            },
        }
    }
}

/// The configuration, checked.
#[derive(Debug)]
pub struct Settings {
    /// `--dev`.
    pub dev: bool,
    /// The verifier's settings.
    pub clerk: ClerkSettings,
    /// The webhook verifier, if a signing secret is set.
    pub webhook: Option<Webhook>,
    /// The PostgreSQL URL for shared revocations.
    pub database_url: Option<String>,
    /// The listen address.
    pub bind: SocketAddr,
    /// The connection limits.
    pub limits: clerk_service::serve::Limits,
    /// The rules, if a file is set.
    pub rules: Option<Rules>,
    /// The identity signer, if a key is set.
    pub signer: Option<Signer>,
}

impl Settings {
    /// Checks `config` once: the verifier, the webhook secret, the database URL, the rules
    /// file and the signing key. Nothing is connected to.
    pub fn from_config(config: Config) -> Result<Settings, ConfigError> {
        #[cfg(not(feature = "dev"))]
        if config.dev {
            return Err(ConfigError::new(
                "--dev",
                "this clerk-gateway was built without the dev feature: configure a Clerk \
                 instance (CLERK_PUBLISHABLE_KEY, …)",
            ));
        }
        let clerk = config.clerk.check(config.dev)?;
        let webhook = webhook(config.clerk_webhook_signing_secret.as_ref())?
            .map(|webhook| webhook.with_max_body_bytes(MAX_WEBHOOK_BYTES));
        let database_url = match non_empty_secret(config.database_url.as_ref()) {
            None => None,
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Some(url.to_owned())
            }
            Some(_) => {
                return Err(ConfigError::new(
                    "DATABASE_URL",
                    "the gateway shares revocations through PostgreSQL only: postgres://…",
                ))
            }
        };
        let rules = config
            .gateway_rules
            .as_deref()
            .map(Rules::load)
            .transpose()
            .map_err(|e| ConfigError::new("GATEWAY_RULES", e.0))?;
        let signer = config
            .gateway_signing_key
            .as_deref()
            .map(|path| Signer::from_pem_file(path, &config.gateway_issuer))
            .transpose()
            .map_err(|e| ConfigError::new("GATEWAY_SIGNING_KEY", e))?;
        Ok(Settings {
            dev: config.dev,
            clerk,
            webhook,
            database_url,
            bind: config.bind,
            limits: config.connections.limits(),
            rules,
            signer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The variables in the first column of the README's configuration table.
    fn readme_variables() -> Vec<String> {
        let readme = include_str!("../README.md");
        let table = readme
            .split("| variable | default | meaning |")
            .nth(1)
            .expect("the README has a configuration table");
        table
            .lines()
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .filter_map(|line| line.split('`').nth(1))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_variable_in_the_readme_is_a_flag_and_an_environment_variable_and_back() {
        let command = Config::command();
        let documented = readme_variables();
        assert!(documented.len() >= 30, "{documented:?}");
        let arguments: Vec<&clap::Arg> = command.get_arguments().collect();
        for variable in &documented {
            let arg = arguments
                .iter()
                .find(|a| a.get_env().is_some_and(|env| env == variable.as_str()))
                .unwrap_or_else(|| panic!("{variable} is documented but is no variable"));
            assert_eq!(
                arg.get_long(),
                Some(variable.to_lowercase().replace('_', "-").as_str()),
                "{variable}'s flag"
            );
        }
        for arg in &arguments {
            if let Some(env) = arg.get_env() {
                let env = env.to_string_lossy();
                assert!(
                    documented.iter().any(|v| v == env.as_ref()),
                    "{env} is not in the README's table"
                );
            }
        }
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = Config::try_parse_from(["clerk-gateway"]).unwrap();
        assert_eq!(config.bind.to_string(), DEFAULT_BIND);
        assert_eq!(config.gateway_issuer, DEFAULT_ISSUER);
        assert_eq!(config.connections.max_connections, 10_000);
        let readme = include_str!("../README.md");
        assert!(readme.contains("| `BIND` | `127.0.0.1:8090` |"));
    }
}
