//! The URL policy for anything fetched from Clerk (a JWKS, the Backend API): `https://`, or
//! plain `http://` on a loopback host only, for the emulator and tests.

use std::fmt;

use url::{Host, Url};

/// Checks that `url` may be fetched: `https://`, or `http://` on a loopback host
/// (`127.0.0.0/8`, `::1` or `localhost`). Returns the parsed URL.
///
/// ```
/// use clerk_types::{check_fetch_url, UrlError};
///
/// assert!(check_fetch_url("https://api.clerk.com").is_ok());
/// assert!(check_fetch_url("http://127.0.0.1:4000").is_ok());
/// assert!(matches!(
///     check_fetch_url("http://api.clerk.com"),
///     Err(UrlError::PlainHttp { .. })
/// ));
/// ```
///
/// # Errors
/// [`UrlError::NotAUrl`], [`UrlError::PlainHttp`] or [`UrlError::UnsupportedScheme`].
pub fn check_fetch_url(url: &str) -> Result<Url, UrlError> {
    let parsed = Url::parse(url).map_err(|error| UrlError::NotAUrl {
        url: url.to_owned(),
        error,
    })?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err(UrlError::PlainHttp {
            url: url.to_owned(),
        }),
        scheme => Err(UrlError::UnsupportedScheme {
            url: url.to_owned(),
            scheme: scheme.to_owned(),
        }),
    }
}

/// Whether the URL's host is a loopback address, or exactly `localhost` (not a name that
/// merely starts with it).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Why [`check_fetch_url`] refused a URL. Each variant holds the URL as given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// Not an absolute URL.
    NotAUrl {
        /// The text given.
        url: String,
        /// Why it does not parse.
        error: url::ParseError,
    },
    /// Plain `http://` on a host that is not loopback.
    PlainHttp {
        /// The URL given.
        url: String,
    },
    /// A scheme other than `https` and `http`.
    UnsupportedScheme {
        /// The URL given.
        url: String,
        /// Its scheme, e.g. `ftp`.
        scheme: String,
    },
}

impl UrlError {
    /// The URL that was refused, as given.
    pub fn url(&self) -> &str {
        match self {
            UrlError::NotAUrl { url, .. }
            | UrlError::PlainHttp { url }
            | UrlError::UnsupportedScheme { url, .. } => url,
        }
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::NotAUrl { url, error } => write!(f, "invalid URL {url:?}: {error}"),
            UrlError::PlainHttp { url } => write!(
                f,
                "{url:?} must use https:// (plain http is allowed only on a loopback host)"
            ),
            UrlError::UnsupportedScheme { url, scheme } => {
                write!(f, "{url:?} has unsupported scheme {scheme:?}")
            }
        }
    }
}

impl std::error::Error for UrlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UrlError::NotAUrl { error, .. } => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_except_on_loopback() {
        for ok in [
            "https://clerk.example.com/.well-known/jwks.json",
            "https://api.clerk.com",
            "http://127.0.0.1:8080/.well-known/jwks.json",
            "http://127.3.4.5/jwks",
            "http://localhost:3000/jwks",
            "http://LOCALHOST:3000/jwks",
            "http://[::1]:3000/jwks",
        ] {
            assert!(check_fetch_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://clerk.example.com/.well-known/jwks.json",
            "http://10.0.0.1/jwks",
            "http://localhost.evil.example/jwks",
            "http://[::2]/jwks",
        ] {
            assert_eq!(
                check_fetch_url(bad),
                Err(UrlError::PlainHttp { url: bad.into() }),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_schemes_and_non_urls_are_refused() {
        assert_eq!(
            check_fetch_url("ftp://127.0.0.1/jwks"),
            Err(UrlError::UnsupportedScheme {
                url: "ftp://127.0.0.1/jwks".into(),
                scheme: "ftp".into(),
            })
        );
        let error = check_fetch_url("not a url").unwrap_err();
        assert!(matches!(error, UrlError::NotAUrl { .. }), "{error:?}");
        assert_eq!(error.url(), "not a url");
        assert!(std::error::Error::source(&error).is_some());
    }

    #[test]
    fn the_parsed_url_is_returned() {
        let url = check_fetch_url("https://proxy.example.com/clerk/").unwrap();
        assert_eq!(url.host_str(), Some("proxy.example.com"));
        assert_eq!(url.path(), "/clerk/");
    }

    #[test]
    fn messages_name_the_url_and_the_rule() {
        let plain = check_fetch_url("http://api.clerk.com").unwrap_err();
        assert_eq!(
            plain.to_string(),
            "\"http://api.clerk.com\" must use https:// (plain http is allowed only on a loopback host)"
        );
        let ftp = check_fetch_url("ftp://x.example").unwrap_err();
        assert_eq!(
            ftp.to_string(),
            "\"ftp://x.example\" has unsupported scheme \"ftp\""
        );
        let junk = check_fetch_url("::").unwrap_err();
        assert!(
            junk.to_string().starts_with("invalid URL \"::\": "),
            "{junk}"
        );
    }
}
