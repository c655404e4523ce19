//! `--dev`: a local Clerk (the emulator) in the same process, and ready-made tokens.
//!
//! No Clerk account and no network: the emulator serves its JWKS on a loopback port, the
//! verifier is pointed at it, and the tokens printed at startup are signed by its key.

use std::net::SocketAddr;

use clerk_emulator::{Emulator, EmulatorServer, Organization, SigningKey};

/// How long the printed tokens stay valid.
pub const TOKEN_LIFETIME_SECS: i64 = 3600;

/// The emulator and the tokens minted from it.
#[derive(Debug)]
pub struct DevClerk {
    server: EmulatorServer,
    /// A signed-in user with an email claim, no organization.
    pub user_token: String,
    /// An admin of the organization `org_dev_acme`.
    pub admin_token: String,
}

impl DevClerk {
    /// Starts the emulator on a free loopback port (with a new 2048-bit key) and mints the
    /// tokens. `azp` is the first authorized party, if any are configured.
    pub async fn start(authorized_party: Option<&str>) -> std::io::Result<DevClerk> {
        let key = tokio::task::spawn_blocking(|| SigningKey::generate(2048))
            .await
            .map_err(std::io::Error::other)?;
        let server = Emulator::with_key(key).serve("127.0.0.1:0").await?;
        let token = |user: &str, email: &str| {
            let builder = server
                .session_token()
                .user(user)
                .claim("email", email)
                .expires_in(TOKEN_LIFETIME_SECS);
            match authorized_party {
                Some(azp) => builder.azp(azp),
                None => builder,
            }
        };
        let user_token = token("user_dev_ada", "ada@example.com").sign();
        let admin_token = token("user_dev_grace", "grace@example.com")
            .organization(
                Organization::new("org_dev_acme")
                    .slug("acme")
                    .role("org:admin")
                    .permissions(["org:notes:write", "org:notes:delete"]),
            )
            .sign();
        Ok(DevClerk {
            server,
            user_token,
            admin_token,
        })
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
        let host = if addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", addr.port())
        } else {
            addr.to_string()
        };
        let base = format!("http://{host}");
        format!(
            "\n\
             api-server is running in dev mode: a local Clerk emulator signs the tokens below\n\
             (JWKS {jwks}). Tokens are valid for 1 hour.\n\
             \n\
             A signed-in user (ada@example.com):\n\
             \n  curl -H \"Authorization: Bearer {user}\" {base}/protected\n\
             \n\
             An admin of organization org_dev_acme (grace@example.com), creating a note:\n\
             \n  curl -H \"Authorization: Bearer {admin}\" -H \"Content-Type: application/json\" \
             -d '{{\"title\":\"Hello\",\"body\":\"from the dev server\"}}' {base}/v1/notes\n\
             \n\
             API docs: {base}/docs   OpenAPI: {base}/openapi.json   Metrics: {base}/metrics\n",
            jwks = self.jwks_url(),
            user = self.user_token,
            admin = self.admin_token,
        )
    }

    /// Stops the emulator.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
