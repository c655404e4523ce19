//! `--dev`: a local Clerk (the emulator) in the same process, with ready-made credentials: a
//! session token of an organization admin, an API key with scopes and an M2M token. No Clerk
//! account and no network. Behind the `dev` cargo feature (on by default).

use std::net::SocketAddr;

use clerk_auth::{Verifier, VerifierBuilder};
use clerk_emulator::machines::{NewApiKey, NewM2mToken};
use clerk_emulator::{Emulator, EmulatorServer, NewOrganization, NewUser, SigningKey};
use clerk_webhooks::Webhook;

/// How long the printed credentials stay valid.
pub const LIFETIME_SECS: i64 = 3600;

/// The emulator and its credentials.
pub struct DevClerk {
    server: EmulatorServer,
    /// A session token of Grace, admin of the organization `acme`.
    pub session_token: String,
    /// An API key of Grace, with the scopes `notes:read` and `notes:write`.
    pub api_key: String,
    /// An M2M token of the machine `reports`.
    pub m2m_token: String,
}

impl std::fmt::Debug for DevClerk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevClerk").finish_non_exhaustive()
    }
}

impl DevClerk {
    /// Starts the emulator on a loopback port and mints the credentials.
    pub async fn start() -> std::io::Result<DevClerk> {
        let key = tokio::task::spawn_blocking(|| SigningKey::generate(2048))
            .await
            .map_err(std::io::Error::other)?;
        let server = Emulator::with_key(key).serve("127.0.0.1:0").await?;
        let grace = server
            .create_user(
                NewUser::new()
                    .email("grace@example.com")
                    .first_name("Grace"),
            )
            .map_err(std::io::Error::other)?;
        server.define_role("org:admin", ["org:notes:read", "org:notes:write"]);
        server
            .create_organization(
                NewOrganization::new("Acme")
                    .slug("acme")
                    .created_by(&grace.id),
            )
            .map_err(std::io::Error::other)?;
        let session = server
            .create_session(&grace.id)
            .map_err(std::io::Error::other)?;
        let session_token = server
            .session_token_in_org(&session, "acme")
            .map_err(std::io::Error::other)?
            .expires_in(LIFETIME_SECS)
            .sign();
        let api_key = server
            .create_api_key(
                NewApiKey::new(&grace.id, "grace-scripts").scopes(["notes:read", "notes:write"]),
            )
            .map_err(std::io::Error::other)?
            .secret;
        let notes = server
            .create_machine("notes-api", &[])
            .map_err(std::io::Error::other)?;
        let reports = server
            .create_machine("reports", &[notes.id.as_str()])
            .map_err(std::io::Error::other)?;
        let m2m_token = server
            .create_m2m_token(
                &reports.id,
                NewM2mToken::new().seconds_until_expiration(LIFETIME_SECS),
            )
            .map_err(std::io::Error::other)?
            .token;
        Ok(DevClerk {
            server,
            session_token,
            api_key,
            m2m_token,
        })
    }

    /// The verifier, pointed at the emulator (keys, issuer, Backend API), with `tuning`.
    pub fn verifier(&self, tuning: VerifierBuilder) -> Result<Verifier, clerk_auth::ConfigError> {
        tuning
            .jwks_url(self.server.jwks_url())
            .issuer(self.server.issuer())
            .secret_key(self.server.secret_key())
            .api_url(self.server.api_url())
            .build()
    }

    /// The verifier of the emulator's webhooks.
    pub fn webhook(&self) -> Webhook {
        Webhook::new(&self.server.webhook_secret())
            .expect("the emulator's secret is valid")
            .with_max_body_bytes(crate::config::MAX_WEBHOOK_BYTES)
    }

    /// The emulator.
    pub fn emulator(&self) -> &EmulatorServer {
        &self.server
    }

    /// What `--dev` prints: the credentials, curl commands and an nginx snippet.
    pub fn banner(&self, addr: SocketAddr) -> String {
        let base = if addr.ip().is_unspecified() {
            format!("http://127.0.0.1:{}", addr.port())
        } else {
            format!("http://{addr}")
        };
        format!(
            "\n\
             clerk-gateway is running in dev mode: a local Clerk emulator signs the credentials\n\
             below (valid for 1 hour).\n\n\
             SESSION_TOKEN={session}\n\
             API_KEY={api_key}\n\
             M2M_TOKEN={m2m}\n\n\
             Ask it as a proxy would:\n\
             curl -i {base}/forward-auth -H \"Authorization: Bearer $SESSION_TOKEN\"\n\
             curl -i '{base}/forward-auth?permission=org:notes:write' -H \"Authorization: Bearer $SESSION_TOKEN\"\n\
             curl -i '{base}/forward-auth?accepts=api_key&scope=notes:read' -H \"Authorization: Bearer $API_KEY\"\n\
             curl -i '{base}/forward-auth?accepts=m2m_token' -H \"Authorization: Bearer $M2M_TOKEN\"\n\
             curl -i {base}/forward-auth                        # 401 session-token-missing\n\n\
             An nginx server block that protects an upstream on 127.0.0.1:9000 with it:\n\n\
             {nginx}",
            session = self.session_token,
            api_key = self.api_key,
            m2m = self.m2m_token,
            nginx = nginx_snippet(base.trim_start_matches("http://"), "127.0.0.1:9000"),
        )
    }

    /// Stops the emulator.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// The shipped nginx configuration (`deploy/nginx.conf`) for a gateway at `gateway` and an
/// upstream at `upstream` (both `host:port`).
pub fn nginx_snippet(gateway: &str, upstream: &str) -> String {
    include_str!("../deploy/nginx.conf")
        .replace("127.0.0.1:8090", gateway)
        .replace("127.0.0.1:9000", upstream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nginx_snippet_names_the_gateway_and_the_upstream_it_is_given() {
        let snippet = nginx_snippet("127.0.0.1:41234", "app.internal:8000");
        assert!(snippet.contains("server 127.0.0.1:41234;"), "{snippet}");
        assert!(snippet.contains("server app.internal:8000;"), "{snippet}");
        assert!(!snippet.contains(":8090"), "{snippet}");
        assert!(!snippet.contains(":9000"), "{snippet}");
    }
}
