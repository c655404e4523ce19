//! The client's error type: a Clerk error response, a transport failure, an unreadable body,
//! or a configuration mistake. No variant ever holds the secret key.

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

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
    /// `https://` (plain `http://` is allowed on loopback only).
    Config(String),
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
            Self::Config(message) => write!(f, "Clerk Backend API client misconfigured: {message}"),
            Self::InvalidArgument(message) => write!(f, "invalid argument: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Http(error) => Some(error),
            Self::Decode(error) => Some(error),
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
