//! Where a Clerk instance's keys live: [`KeySource`], from a JWKS URL, Clerk's Backend API
//! (secret key) or the Frontend API host derived from a publishable key.

use std::fmt;

use clerk_types::{check_fetch_url, UrlError};

/// Where a remote key set is fetched from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS URL fetched without credentials (the Frontend API's
    /// `/.well-known/jwks.json`, a proxy, the emulator).
    JwksUrl(String),
    /// Clerk's Backend API, `GET {api_url}/v1/jwks`, authenticated with the secret key.
    BackendApi {
        /// The Backend API base URL, e.g. `https://api.clerk.com`.
        api_url: String,
        /// The instance's secret key (`sk_test_…` / `sk_live_…`).
        secret_key: String,
    },
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::JwksUrl(url) => f.debug_tuple("JwksUrl").field(url).finish(),
            KeySource::BackendApi { api_url, .. } => f
                .debug_struct("BackendApi")
                .field("api_url", api_url)
                .field("secret_key", &"<redacted>")
                .finish(),
        }
    }
}

impl KeySource {
    /// The URL the keys are fetched from.
    pub fn url(&self) -> String {
        match self {
            KeySource::JwksUrl(url) => url.clone(),
            KeySource::BackendApi { api_url, .. } => {
                format!("{}/v1/jwks", api_url.trim_end_matches('/'))
            }
        }
    }

    /// Checks the URL: `https://`, or `http://` on a loopback host (127.0.0.0/8, `::1`,
    /// `localhost`) for development and tests.
    pub fn check_url(&self) -> Result<(), UrlError> {
        check_fetch_url(&self.url()).map(drop)
    }

    /// The issuer implied by a JWKS URL of the form `<base>/.well-known/jwks.json`.
    pub fn implied_issuer(&self) -> Option<String> {
        match self {
            KeySource::JwksUrl(url) => url
                .strip_suffix("/.well-known/jwks.json")
                .filter(|base| !base.is_empty())
                .map(str::to_owned),
            KeySource::BackendApi { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_is_implied_by_a_well_known_jwks_url() {
        let src = KeySource::JwksUrl("http://127.0.0.1:9/.well-known/jwks.json".into());
        assert_eq!(src.implied_issuer().as_deref(), Some("http://127.0.0.1:9"));
        let other = KeySource::JwksUrl("https://proxy.example.com/keys".into());
        assert_eq!(other.implied_issuer(), None);
    }

    #[test]
    fn backend_api_source_never_shows_the_secret() {
        let src = KeySource::BackendApi {
            api_url: "https://api.clerk.com/".into(),
            secret_key: "sk_test_secret".into(),
        };
        assert_eq!(src.url(), "https://api.clerk.com/v1/jwks");
        assert!(!format!("{src:?}").contains("sk_test_secret"));
    }
}
