//! The server's JSON and query extractors, whose failures are [`ApiError`]s (axum's own
//! rejections answer in plain text; axum's documented pattern,
//! `examples/customize-extractor-error`). The JSON one reads the body itself to name the
//! field at fault (`serde_path_to_error`), so that a 422 has one shape whatever caused it.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// JSON in and out. As an extractor, its failures are [`ApiError`]s: no JSON content type
/// 415, too large 413, malformed JSON 400, and JSON of the wrong shape 422 with the field at
/// fault (`title`, or `$` for the body as a whole), in the same shape as a validation error.
/// The body must be a JSON object (every body of this API is one).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest(rejection.body_text())
                }
            })?;
        // Every body this API takes is a JSON object: serde would also read a struct from an
        // array of its fields, which no client means and the OpenAPI document does not allow.
        if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ApiError::invalid("$", "must be a JSON object"));
        }
        let not_json = |err: &serde_json::Error| {
            ApiError::BadRequest(format!("The body is not valid JSON: {err}."))
        };
        let mut deserializer = serde_json::Deserializer::from_slice(&body);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.is_data() {
                shape_error(&path, &inner)
            } else {
                // Syntax or an unexpected end: not JSON at all.
                not_json(&inner)
            }
        })?;
        // Trailing data after the value.
        deserializer.end().map_err(|err| not_json(&err))?;
        Ok(Json(value))
    }
}

/// A 422 for JSON of the wrong shape: the field serde names (its path, or the missing or
/// unknown field's name), and what is wrong without the position.
fn shape_error(path: &str, err: &serde_json::Error) -> ApiError {
    let message = err.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    let named = |marker: &str| {
        message
            .strip_prefix(marker)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    let field = match path {
        "." | "" => named("missing field `")
            .or_else(|| named("unknown field `"))
            .unwrap_or_else(|| "$".to_owned()),
        path => path.to_owned(),
    };
    ApiError::invalid(field, message)
}

/// `application/json`, or `application/<anything>+json`, as axum's own extractor accepts.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A query string. As an extractor, its failures are [`ApiError`]s: 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    axum::extract::Query<T>: FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(value))
    }
}

/// Formats Unix milliseconds as RFC 3339 in UTC with milliseconds, e.g.
/// `2026-01-02T03:04:05.678Z`; a time out of RFC 3339's range (years 0 to 9999) is clamped.
pub fn timestamp(ms: i64) -> String {
    let time = jiff::Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    });
    format!("{time:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(timestamp(1_767_225_599_999), "2025-12-31T23:59:59.999Z");
    }
}
