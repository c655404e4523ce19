//! A Clerk publishable key, and what it says about its instance.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
use base64::Engine as _;

/// A Clerk publishable key (`pk_test_…` / `pk_live_…`), parsed as Clerk's SDK does
/// (clerk-spec §3.4). It names a Clerk instance: its Frontend API host, and from that the
/// issuer of its session tokens, its public JWKS and the suffix of its cookie names.
///
/// ```
/// let key = clerk_types::PublishableKey::parse("pk_test_Y2xlcmsuY2xlcmsuZGV2JA")?;
/// assert_eq!(key.frontend_api(), "clerk.clerk.dev");
/// assert_eq!(key.issuer(), "https://clerk.clerk.dev");
/// assert!(!key.is_live());
/// # Ok::<(), clerk_types::PublishableKeyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishableKey {
    key: String,
    frontend_api: String,
    live: bool,
}

impl PublishableKey {
    /// Parses a publishable key: `pk_test_` or `pk_live_`, then the base64 (padding optional)
    /// of `<frontend api host>$`. Surrounding whitespace is ignored.
    ///
    /// # Errors
    /// A [`PublishableKeyError`] naming what does not fit.
    pub fn parse(key: &str) -> Result<Self, PublishableKeyError> {
        let key = key.trim();
        let mut parts = key.split('_');
        let (Some("pk"), Some(kind), Some(encoded), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(PublishableKeyError::Malformed);
        };
        let live = match kind {
            "live" => true,
            "test" => false,
            _ => return Err(PublishableKeyError::UnknownKind),
        };
        let encoded = encoded.trim_end_matches('=');
        let decoded = STANDARD
            .decode(encoded)
            .or_else(|_| STANDARD_NO_PAD.decode(encoded))
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(PublishableKeyError::NotBase64)?;
        let host = decoded
            .strip_suffix('$')
            .filter(|host| !host.contains('$') && host.contains('.'))
            .ok_or(PublishableKeyError::NoFrontendApiHost)?;
        Ok(PublishableKey {
            key: key.to_owned(),
            frontend_api: host.to_owned(),
            live,
        })
    }

    /// The Frontend API host, e.g. `clerk.example.com` or `foo-bar-13.clerk.accounts.dev`.
    pub fn frontend_api(&self) -> &str {
        &self.frontend_api
    }

    /// True for a production (`pk_live_`) key.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// The issuer Clerk puts in this instance's session tokens: `https://<frontend api>`.
    pub fn issuer(&self) -> String {
        format!("https://{}", self.frontend_api)
    }

    /// The instance's public JWKS: `https://<frontend api>/.well-known/jwks.json`.
    pub fn jwks_url(&self) -> String {
        format!("https://{}/.well-known/jwks.json", self.frontend_api)
    }

    /// The suffix Clerk appends to this instance's cookie names (`__session_<suffix>`):
    /// the first 8 characters of the base64url SHA-1 of the publishable key.
    pub fn cookie_suffix(&self) -> String {
        let digest =
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, self.key.as_bytes());
        let mut suffix = URL_SAFE.encode(digest.as_ref());
        suffix.truncate(8);
        suffix
    }
}

/// Why [`PublishableKey::parse`] refused a key. Messages never repeat the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishableKeyError {
    /// Not three `_`-separated parts starting with `pk`.
    Malformed,
    /// The second part is neither `test` nor `live`.
    UnknownKind,
    /// The third part is not base64 of UTF-8 text.
    NotBase64,
    /// The decoded text is not a host name with a dot, ending in a single `$`.
    NoFrontendApiHost,
}

impl fmt::Display for PublishableKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PublishableKeyError::Malformed => "a publishable key looks like pk_test_… or pk_live_…",
            PublishableKeyError::UnknownKind => {
                "a publishable key starts with pk_test_ or pk_live_"
            }
            PublishableKeyError::NotBase64 => "the publishable key's payload is not base64 text",
            PublishableKeyError::NoFrontendApiHost => {
                "the publishable key does not encode a Frontend API host ending in $"
            }
        })
    }
}

impl std::error::Error for PublishableKeyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishable_key_decodes_frontend_api() {
        let pk = PublishableKey::parse("pk_test_Y2xlcmsuY2xlcmsuZGV2JA").expect("valid");
        assert_eq!(pk.frontend_api(), "clerk.clerk.dev");
        assert!(!pk.is_live());
        assert_eq!(pk.issuer(), "https://clerk.clerk.dev");
        assert_eq!(
            pk.jwks_url(),
            "https://clerk.clerk.dev/.well-known/jwks.json"
        );
    }

    #[test]
    fn publishable_key_padding_and_whitespace_are_optional() {
        let padded = PublishableKey::parse("pk_live_Y2xlcmsuY2xlcmsuZGV2JA==").expect("padded");
        assert_eq!(padded.frontend_api(), "clerk.clerk.dev");
        assert!(padded.is_live());
        let spaced = PublishableKey::parse(" pk_live_Y2xlcmsuY2xlcmsuZGV2JA\n").expect("spaced");
        assert_eq!(
            spaced,
            PublishableKey::parse("pk_live_Y2xlcmsuY2xlcmsuZGV2JA").unwrap()
        );
    }

    #[test]
    fn cookie_suffix_matches_clerk_vectors() {
        let live = PublishableKey::parse("pk_live_Y2xlcmsuY2xlcmsuZGV2JA").expect("live");
        assert_eq!(live.cookie_suffix(), "1Z8AzTQD");
        let test = PublishableKey::parse("pk_test_Y2xlcmsuY2xlcmsuZGV2JA").expect("test");
        assert_eq!(test.cookie_suffix(), "QvfNY2dr");
    }

    #[test]
    fn malformed_publishable_keys_are_refused_with_the_reason() {
        let encode = |host: &str| format!("pk_test_{}", STANDARD.encode(host));
        for (key, reason) in [
            ("".to_owned(), PublishableKeyError::Malformed),
            ("pk_test".to_owned(), PublishableKeyError::Malformed),
            (
                "sk_test_Y2xlcmsuY2xlcmsuZGV2JA".to_owned(),
                PublishableKeyError::Malformed,
            ),
            (
                "pk_test_Y2xlcmsuY2xlcmsuZGV2JA_x".to_owned(),
                PublishableKeyError::Malformed,
            ),
            (
                "pk_prod_Y2xlcmsuY2xlcmsuZGV2JA".to_owned(),
                PublishableKeyError::UnknownKind,
            ),
            ("pk_test_!!!".to_owned(), PublishableKeyError::NotBase64),
            (
                format!("pk_test_{}", STANDARD.encode([0xff, 0xfe])),
                PublishableKeyError::NotBase64,
            ),
            (
                encode("clerk.$example.com$"),
                PublishableKeyError::NoFrontendApiHost,
            ),
            (encode("localhost$"), PublishableKeyError::NoFrontendApiHost),
            (
                encode("clerk.example.com"),
                PublishableKeyError::NoFrontendApiHost,
            ),
            (
                encode("clerk.example.com$x"),
                PublishableKeyError::NoFrontendApiHost,
            ),
        ] {
            assert_eq!(PublishableKey::parse(&key), Err(reason), "{key:?}");
        }
    }

    #[test]
    fn messages_never_repeat_the_key() {
        let key = "pk_prod_Y2xlcmsuY2xlcmsuZGV2JA";
        let error = PublishableKey::parse(key).unwrap_err();
        assert!(!error.to_string().contains("Y2xlcmsuY2xlcmsuZGV2JA"));
        assert_eq!(
            error.to_string(),
            "a publishable key starts with pk_test_ or pk_live_"
        );
    }
}
