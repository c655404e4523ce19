//! The client's error type: a Clerk error response, a transport failure, an unreadable body,
//! or a configuration mistake. No variant ever holds the secret key.

use std::fmt;
use std::time::Duration;

use clerk_types::UrlError;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

use crate::client::{API_URL_ENV, SECRET_KEY_ENV};

/// One entry of a Clerk error response's `errors` array.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ApiError {
    /// A stable machine-readable code, e.g. `resource_not_found`, `form_param_invalid`,
    /// `clerk_key_invalid`; empty when absent.
    pub code: String,
    /// A short message; empty when absent.
    pub message: String,
    /// A longer explanation.
    pub long_message: Option<String>,
    /// Details, e.g. `{"param_name": "email_address"}`.
    pub meta: Map<String, Value>,
}

impl ApiError {
    /// Reads one entry leniently: missing or wrongly typed fields read as empty.
    fn from_value(value: &Value) -> Self {
        let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        Self {
            code: text("code").unwrap_or_default(),
            message: text("message").unwrap_or_default(),
            long_message: text("long_message"),
            meta: value
                .get("meta")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// `meta.param_name`: the request parameter at fault, for validation errors.
    pub fn param_name(&self) -> Option<&str> {
        self.meta.get("param_name").and_then(Value::as_str)
    }
}

/// Why a Backend API call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Clerk answered with a non-2xx status (after any retries).
    Api {
        /// The HTTP status, e.g. 404, 422, 429.
        status: u16,
        /// The body's `errors`; empty when the body is not Clerk's error shape.
        errors: Vec<ApiError>,
        /// The body's `clerk_trace_id`, else the `cf-ray` header: quote it to Clerk support.
        clerk_trace_id: Option<String>,
        /// The `Retry-After` header (whole seconds), on 429 and some 503 answers.
        retry_after: Option<Duration>,
    },
    /// No HTTP answer: connection refused or reset, DNS, TLS, or the timeout.
    Http(reqwest::Error),
    /// A 2xx answer whose body is not the expected JSON.
    Decode(serde_json::Error),
    /// The client is misconfigured: no or malformed secret key, or an API URL that is not
    /// `https://` (plain `http://` is allowed on loopback only). [`ConfigError::setting`] says
    /// which setting is at fault.
    Config(ConfigError),
    /// An argument cannot be sent, e.g. an empty object id.
    InvalidArgument(&'static str),
}

impl Error {
    pub(crate) fn from_response(status: u16, headers: &HeaderMap, body: &[u8]) -> Self {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let errors = parsed
            .as_ref()
            .and_then(|v| v.get("errors"))
            .and_then(Value::as_array)
            .map(|list| list.iter().map(ApiError::from_value).collect())
            .unwrap_or_default();
        let clerk_trace_id = parsed
            .as_ref()
            .and_then(|v| v.get("clerk_trace_id"))
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .or_else(|| {
                headers
                    .get("cf-ray")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            });
        Self::Api {
            status,
            errors,
            clerk_trace_id,
            retry_after: retry_after(headers),
        }
    }

    /// The HTTP status of an [`Error::Api`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            Self::Http(error) => error.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// The `errors` of an [`Error::Api`] (empty for other variants).
    pub fn api_errors(&self) -> &[ApiError] {
        match self {
            Self::Api { errors, .. } => errors,
            _ => &[],
        }
    }

    /// The code of the first API error, e.g. `resource_not_found`.
    pub fn code(&self) -> Option<&str> {
        self.api_errors().first().map(|e| e.code.as_str())
    }

    /// The trace id of an [`Error::Api`].
    pub fn clerk_trace_id(&self) -> Option<&str> {
        match self {
            Self::Api { clerk_trace_id, .. } => clerk_trace_id.as_deref(),
            _ => None,
        }
    }

    /// The `Retry-After` of an [`Error::Api`].
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether Clerk answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether the request timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Http(error) if error.is_timeout())
    }
}

/// `Retry-After` in whole seconds (Clerk's form); an HTTP date is not honoured.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api {
                status,
                errors,
                clerk_trace_id,
                ..
            } => {
                write!(f, "Clerk Backend API answered HTTP {status}")?;
                if let Some(first) = errors.first() {
                    write!(f, ": {}", first.code)?;
                    let text = first.long_message.as_deref().unwrap_or(&first.message);
                    if !text.is_empty() {
                        write!(f, " ({text})")?;
                    }
                }
                if let Some(trace) = clerk_trace_id {
                    write!(f, " [trace id {trace}]")?;
                }
                Ok(())
            }
            Self::Http(error) => write!(f, "Clerk Backend API request failed: {error}"),
            Self::Decode(error) => write!(f, "Clerk Backend API answer not understood: {error}"),
            Self::Config(error) => write!(f, "Clerk Backend API client misconfigured: {error}"),
            Self::InvalidArgument(message) => write!(f, "invalid argument: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Http(error) => Some(error),
            Self::Decode(error) => Some(error),
            Self::Config(error) => Some(error),
            _ => None,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Self {
        Self::Config(error)
    }
}

/// What is wrong with a client's configuration, and which setting it is about
/// ([`ConfigError::setting`]). No variant holds the secret key, and no message shows it.
///
/// ```
/// use clerk_backend::{Client, Error, Setting};
///
/// let error = Client::builder()
///     .secret_key("sk_test_...")
///     .api_url("http://api.clerk.com")
///     .build()
///     .unwrap_err();
/// let Error::Config(config) = error else { unreachable!() };
/// assert_eq!(config.setting(), Setting::ApiUrl);
/// assert_eq!(config.setting().env_var(), Some("CLERK_API_URL"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No secret key was given (for [`Client::from_env`](crate::Client::from_env):
    /// `CLERK_SECRET_KEY` is unset or blank).
    MissingSecretKey,
    /// The secret key is empty once surrounding whitespace is trimmed.
    EmptySecretKey,
    /// The secret key holds characters that cannot go in an `Authorization` header
    /// (spaces or control characters inside it, non-ASCII).
    InvalidSecretKey,
    /// The API URL breaks the URL policy: not a URL, plain `http://` on a host that is not
    /// loopback, or another scheme.
    InvalidApiUrl(UrlError),
    /// The API URL has a query or a fragment; it must be a base URL that `/v1/…` can follow.
    ApiUrlNotABase {
        /// The URL given.
        url: String,
    },
    /// The HTTP client could not be built (TLS set-up).
    HttpClient(String),
}

/// The setting a [`ConfigError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// [`ClientBuilder::secret_key`](crate::ClientBuilder::secret_key), `CLERK_SECRET_KEY`.
    SecretKey,
    /// [`ClientBuilder::api_url`](crate::ClientBuilder::api_url), `CLERK_API_URL`.
    ApiUrl,
    /// The HTTP client the builder makes when none is given
    /// ([`ClientBuilder::http_client`](crate::ClientBuilder::http_client)).
    HttpClient,
}

impl Setting {
    /// The environment variable [`Client::from_env`](crate::Client::from_env) reads this
    /// setting from: [`SECRET_KEY_ENV`](crate::SECRET_KEY_ENV) or
    /// [`API_URL_ENV`](crate::API_URL_ENV); `None` for the HTTP client.
    pub fn env_var(self) -> Option<&'static str> {
        match self {
            Setting::SecretKey => Some(SECRET_KEY_ENV),
            Setting::ApiUrl => Some(API_URL_ENV),
            Setting::HttpClient => None,
        }
    }
}

impl ConfigError {
    /// The setting at fault.
    pub fn setting(&self) -> Setting {
        match self {
            ConfigError::MissingSecretKey
            | ConfigError::EmptySecretKey
            | ConfigError::InvalidSecretKey => Setting::SecretKey,
            ConfigError::InvalidApiUrl(_) | ConfigError::ApiUrlNotABase { .. } => Setting::ApiUrl,
            ConfigError::HttpClient(_) => Setting::HttpClient,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MissingSecretKey => write!(
                f,
                "no secret key was given: set {SECRET_KEY_ENV} to the sk_test_… or sk_live_… key \
                 from the Clerk dashboard (API keys)"
            ),
            ConfigError::EmptySecretKey => f.write_str("the secret key is empty"),
            ConfigError::InvalidSecretKey => {
                f.write_str("the secret key contains characters not allowed in a header")
            }
            ConfigError::InvalidApiUrl(error) => write!(f, "API URL: {error}"),
            ConfigError::ApiUrlNotABase { url } => {
                write!(f, "the API URL {url:?} must not have a query or a fragment")
            }
            ConfigError::HttpClient(error) => write!(f, "cannot build the HTTP client: {error}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::InvalidApiUrl(error) => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn trace_id_comes_from_the_body_else_cf_ray() {
        let mut headers = HeaderMap::new();
        headers.insert("cf-ray", HeaderValue::from_static("8a1b2c3d4e5f-AMS"));
        let body = br#"{"errors":[{"code":"resource_not_found","message":"not found","long_message":"Resource not found","meta":{}}],"clerk_trace_id":"abc"}"#;
        let error = Error::from_response(404, &headers, body);
        assert_eq!(error.clerk_trace_id(), Some("abc"));
        assert_eq!(error.code(), Some("resource_not_found"));
        assert!(error.is_not_found());
        assert_eq!(
            error.to_string(),
            "Clerk Backend API answered HTTP 404: resource_not_found (Resource not found) [trace id abc]"
        );

        let error = Error::from_response(502, &headers, b"<html>Bad gateway</html>");
        assert_eq!(error.clerk_trace_id(), Some("8a1b2c3d4e5f-AMS"));
        assert!(error.api_errors().is_empty());
    }

    #[test]
    fn odd_error_entries_read_leniently() {
        let body = br#"{"errors":[{"code":7,"meta":{"param_name":"limit"}},"x"]}"#;
        let error = Error::from_response(422, &HeaderMap::new(), body);
        let errors = error.api_errors();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].code, "");
        assert_eq!(errors[0].param_name(), Some("limit"));
        assert_eq!(error.clerk_trace_id(), None);
    }

    #[test]
    fn each_config_error_names_its_setting_and_variable() {
        let url_error = clerk_types::check_fetch_url("http://api.clerk.com").unwrap_err();
        for (error, setting, variable, message) in [
            (
                ConfigError::MissingSecretKey,
                Setting::SecretKey,
                Some("CLERK_SECRET_KEY"),
                "no secret key was given: set CLERK_SECRET_KEY to the sk_test_… or sk_live_… key \
                 from the Clerk dashboard (API keys)",
            ),
            (
                ConfigError::EmptySecretKey,
                Setting::SecretKey,
                Some("CLERK_SECRET_KEY"),
                "the secret key is empty",
            ),
            (
                ConfigError::InvalidSecretKey,
                Setting::SecretKey,
                Some("CLERK_SECRET_KEY"),
                "the secret key contains characters not allowed in a header",
            ),
            (
                ConfigError::InvalidApiUrl(url_error),
                Setting::ApiUrl,
                Some("CLERK_API_URL"),
                "API URL: \"http://api.clerk.com\" must use https:// (plain http is allowed \
                 only on a loopback host)",
            ),
            (
                ConfigError::ApiUrlNotABase {
                    url: "https://api.clerk.com/?a=1".into(),
                },
                Setting::ApiUrl,
                Some("CLERK_API_URL"),
                "the API URL \"https://api.clerk.com/?a=1\" must not have a query or a fragment",
            ),
            (
                ConfigError::HttpClient("no TLS backend".into()),
                Setting::HttpClient,
                None,
                "cannot build the HTTP client: no TLS backend",
            ),
        ] {
            assert_eq!(error.setting(), setting, "{error:?}");
            assert_eq!(error.setting().env_var(), variable, "{error:?}");
            assert_eq!(error.to_string(), message);
            let wrapped = Error::from(error.clone());
            assert_eq!(
                wrapped.to_string(),
                format!("Clerk Backend API client misconfigured: {message}")
            );
            assert!(std::error::Error::source(&wrapped).is_some());
        }
    }

    #[test]
    fn retry_after_is_whole_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
