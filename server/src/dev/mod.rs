//! `--dev`: a local Clerk (the emulator) in the same process, with users, an organization
//! and ready-made tokens.
//!
//! No Clerk account and no network: the emulator serves its JWKS on a loopback port and the
//! verifier is pointed at it; once the server listens, the emulator delivers its webhooks
//! (Svix-signed, with a secret new at each start) to the server's `/webhooks/clerk`, and the
//! users and organization created then reach the local tables as they would from Clerk.
//!
//! The dev console (`GET /dev/console`, [`console`]) drives the same emulator from a browser;
//! its routes are mounted only in this mode.
//!
//! All of it is behind the `dev` cargo feature (on by default): a server built with
//! `--no-default-features` has no emulator, no `rsa` and no console, and answers `--dev`
//! with a configuration error.

pub mod console;
pub mod tokens;

use std::net::SocketAddr;

use axum::Router;
use clerk_auth::{Verifier, VerifierBuilder};
use clerk_emulator::machines::{NewApiKey, NewM2mToken};
use clerk_emulator::{Emulator, EmulatorServer, NewOrganization, NewUser, SigningKey};
use clerk_webhooks::Webhook;

use crate::config::{ClerkSettings, ConfigError};
use crate::http::AppState;
use crate::StartError;
use tokens::{sign, TOKEN_LIFETIME_SECS};

/// With `dev`, starts the emulator and takes over the webhook verifier and the Backend API
/// client from the configuration (saying what it ignores); without, changes nothing.
pub async fn take_over(
    dev: bool,
    clerk: &ClerkSettings,
    webhook: Option<Webhook>,
    backend: Option<clerk_backend::Client>,
    max_body_bytes: usize,
) -> Result<
    (
        Option<DevClerk>,
        Option<Webhook>,
        Option<clerk_backend::Client>,
    ),
    StartError,
> {
    if !dev {
        return Ok((None, webhook, backend));
    }
    let dev = DevClerk::start(clerk.first_authorized_party())
        .await
        .map_err(StartError::Emulator)?;
    if !clerk.key_sources.is_empty() {
        tracing::warn!(ignored = ?clerk.key_sources, "--dev: using the local emulator's keys instead");
    }
    if webhook.is_some() {
        tracing::warn!("--dev: using the local emulator's webhook signing secret instead");
    }
    let webhook = dev.webhook(max_body_bytes);
    let backend = dev.backend()?;
    Ok((Some(dev), Some(webhook), Some(backend)))
}

/// The slug of the dev organization.
pub const ORGANIZATION_SLUG: &str = "acme";

/// The emulator and the tokens minted from it.
#[derive(Debug)]
pub struct DevClerk {
    server: EmulatorServer,
    authorized_party: Option<String>,
    /// A signed-in user (Ada) with an email claim, no organization; set by
    /// [`DevClerk::connect`].
    pub user_token: String,
    /// An admin of the organization `acme` (Grace); set by [`DevClerk::connect`].
    pub admin_token: String,
    /// Ada's API key, with the scopes `notes:read` and `notes:write`; set by
    /// [`DevClerk::connect`].
    pub api_key: String,
    /// An opaque M2M token of the machine `reports`; set by [`DevClerk::connect`].
    pub m2m_token: String,
}

impl DevClerk {
    /// Starts the emulator on a free loopback port (with a new 2048-bit key). `azp` is the
    /// first authorized party, if any are configured.
    pub async fn start(authorized_party: Option<&str>) -> std::io::Result<DevClerk> {
        let key = tokio::task::spawn_blocking(|| SigningKey::generate(2048))
            .await
            .map_err(std::io::Error::other)?;
        let server = Emulator::with_key(key).serve("127.0.0.1:0").await?;
        Ok(DevClerk {
            server,
            authorized_party: authorized_party.map(str::to_owned),
            user_token: String::new(),
            admin_token: String::new(),
            api_key: String::new(),
            m2m_token: String::new(),
        })
    }

    /// Points the emulator's webhooks at the server listening on `addr`, then creates the dev
    /// users (Ada; Grace, the admin of organization `acme`, with Ada a member), their
    /// sessions, and a token for each.
    pub fn connect(&mut self, addr: SocketAddr) -> std::io::Result<()> {
        let clerk = &self.server;
        clerk.set_webhook(format!("{}/webhooks/clerk", base_url(addr)));
        let ada = clerk
            .create_user(
                NewUser::new()
                    .email("ada@example.com")
                    .first_name("Ada")
                    .last_name("Lovelace")
                    .public_metadata(serde_json::json!({"plan": "free"})),
            )
            .map_err(std::io::Error::other)?;
        let grace = clerk
            .create_user(
                NewUser::new()
                    .email("grace@example.com")
                    .first_name("Grace")
                    .last_name("Hopper"),
            )
            .map_err(std::io::Error::other)?;
        clerk
            .create_organization(
                NewOrganization::new("Acme")
                    .slug(ORGANIZATION_SLUG)
                    .created_by(&grace.id),
            )
            .map_err(std::io::Error::other)?;
        clerk
            .add_membership(ORGANIZATION_SLUG, &ada.id, "org:member")
            .map_err(std::io::Error::other)?;
        let ada_session = clerk
            .create_session(&ada.id)
            .map_err(std::io::Error::other)?;
        let grace_session = clerk
            .create_session(&grace.id)
            .map_err(std::io::Error::other)?;
        let azp = self.authorized_party.as_deref();
        let user_token = sign(
            clerk.session_token_for(&ada_session),
            Some("ada@example.com"),
            azp,
        );
        let admin_token = sign(
            clerk
                .session_token_in_org(&grace_session, ORGANIZATION_SLUG)
                .map_err(std::io::Error::other)?,
            Some("grace@example.com"),
            azp,
        );
        let api_key = clerk
            .create_api_key(
                NewApiKey::new(&ada.id, "ada-scripts")
                    .description("Ada's scripts (dev)")
                    .scopes(["notes:read", "notes:write"]),
            )
            .map_err(std::io::Error::other)?;
        let notes = clerk
            .create_machine("notes-api", &[])
            .map_err(std::io::Error::other)?;
        let reports = clerk
            .create_machine("reports", &[notes.id.as_str()])
            .map_err(std::io::Error::other)?;
        let m2m = clerk
            .create_m2m_token(
                &reports.id,
                NewM2mToken::new().seconds_until_expiration(TOKEN_LIFETIME_SECS),
            )
            .map_err(std::io::Error::other)?;
        self.user_token = user_token;
        self.admin_token = admin_token;
        self.api_key = api_key.secret;
        self.m2m_token = m2m.token;
        Ok(())
    }

    /// The verifier of the emulator's webhooks.
    pub fn webhook(&self, max_body_bytes: usize) -> Webhook {
        Webhook::new(&self.server.webhook_secret())
            .expect("the emulator's secret is valid")
            .with_max_body_bytes(max_body_bytes)
    }

    /// A Backend API client for the emulator (its secret key and API URL).
    pub fn backend(&self) -> Result<clerk_backend::Client, ConfigError> {
        crate::config::backend_client(&self.server.secret_key(), Some(self.server.api_url()))
    }

    /// A verifier with the configured `tuning`, pointed at this emulator's keys and issuer.
    pub fn verifier(&self, tuning: VerifierBuilder) -> Result<Verifier, ConfigError> {
        Ok(tuning
            .jwks_url(self.jwks_url())
            .issuer(self.issuer())
            .secret_key(self.server.secret_key())
            .api_url(self.server.api_url())
            .build()?)
    }

    /// The dev console's routes (`/dev/console`, `/dev/api/…`), driving this emulator and
    /// minting tokens as [`DevClerk::connect`] does.
    pub fn console_routes(&self, state: AppState) -> Router<AppState> {
        console::router(
            state,
            console::Console::new(
                self.server.emulator().clone(),
                self.authorized_party.clone(),
            ),
        )
    }

    /// The emulator.
    pub fn emulator(&self) -> &Emulator {
        &self.server
    }

    /// The emulator's JWKS URL.
    pub fn jwks_url(&self) -> String {
        self.server.jwks_url()
    }

    /// The emulator's issuer (`iss` of its tokens).
    pub fn issuer(&self) -> String {
        self.server.issuer()
    }

    /// What to print once the server listens on `addr`.
    pub fn banner(&self, addr: SocketAddr) -> String {
        let base = base_url(addr);
        format!(
            "\n\
             api-server is running in dev mode: a local Clerk emulator signs the tokens below\n\
             (JWKS {jwks}) and delivers its webhooks to {base}/webhooks/clerk.\n\
             Tokens are valid for 1 hour.\n\
             \n\
             A signed-in user (ada@example.com):\n\
             \n  curl -H \"Authorization: Bearer {user}\" {base}/protected\n\
             \n\
             Her profile, as webhooks stored it, or fresh from the (emulated) Backend API:\n\
             \n  curl -H \"Authorization: Bearer {user}\" \"{base}/v1/me?fresh=true\"\n\
             \n\
             An admin of organization acme (grace@example.com), creating a note:\n\
             \n  curl -H \"Authorization: Bearer {admin}\" -H \"Content-Type: application/json\" \
             -d '{{\"title\":\"Hello\",\"body\":\"from the dev server\"}}' {base}/v1/notes\n\
             \n\
             The same admin, listing the organization's users (synced by webhooks):\n\
             \n  curl -H \"Authorization: Bearer {admin}\" {base}/v1/admin/users\n\
             \n\
             Ada's API key (scopes notes:read and notes:write), listing her notes from a script:\n\
             \n  curl -H \"Authorization: Bearer {api_key}\" {base}/v1/notes\n\
             \n\
             An M2M token of the machine \"reports\" (verified by the emulated Backend API):\n\
             \n  curl -H \"Authorization: Bearer {m2m}\" {base}/v1/me\n\
             \n\
             The dev console (users, organizations, sign-in with the __session cookie,\n\
             metadata edits and revocations arriving by webhook):\n\
             \n  open {base}/dev/console\n\
             \n\
             API docs: {base}/docs   OpenAPI: {base}/openapi.json   Metrics: {base}/metrics\n",
            jwks = self.jwks_url(),
            user = self.user_token,
            admin = self.admin_token,
            api_key = self.api_key,
            m2m = self.m2m_token,
        )
    }

    /// Stops the emulator.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// `http://host:port`, with a loopback host for an unspecified address.
fn base_url(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://127.0.0.1:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}
