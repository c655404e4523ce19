//! Where a session token comes from in an HTTP request, as Clerk's SDK reads it
//! (clerk-spec §4.1).
//!
//! 1. `Authorization`: the value is split on its first space. With no space, the whole value
//!    is the token (a bare JWT works, as in Clerk). With the scheme exactly `Bearer`
//!    (case-sensitive, as Clerk), the rest is the token. Any other scheme gives no header token.
//! 2. Otherwise the `__session` cookie, or `__session_<suffix>` (the instance-specific name
//!    derived from the publishable key), the suffixed one preferred when both are present.
//!
//! When a header token exists, cookies are not read at all.
//!
//! Stricter than Clerk's SDK: a request with more than one `Authorization` header is refused
//! (`multiple-authorization-headers`) rather than read by its first. A proxy in front may pick
//! another one than this library would, and the two would disagree on who is calling
//! (docs/clerk-compatibility.md).

use std::borrow::Cow;

use http::header::{AUTHORIZATION, COOKIE};
use http::HeaderMap;

use crate::error::Rejection;

/// The name of Clerk's session cookie.
pub const SESSION_COOKIE: &str = "__session";

/// Where a token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCarrier {
    /// The `Authorization` header.
    Header,
    /// The `__session` cookie (plain or suffixed).
    Cookie,
}

impl TokenCarrier {
    /// `header` or `cookie`, as Clerk's `tokenCarrier`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenCarrier::Header => "header",
            TokenCarrier::Cookie => "cookie",
        }
    }
}

/// A token found in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundToken<'a> {
    /// The token text (a cookie value is percent-decoded).
    pub token: Cow<'a, str>,
    /// Where it was found.
    pub carrier: TokenCarrier,
}

/// Finds the session token of a request: the `Authorization` header first, else the session
/// cookie. `cookie_suffix` is the instance's suffix (see
/// [`crate::PublishableKey::cookie_suffix`]), when known.
///
/// ```
/// use http::HeaderMap;
/// use clerk_auth::request::{session_token, TokenCarrier};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("cookie", "theme=dark; __session=eyJ.eyJ.sig".parse().unwrap());
/// let found = session_token(&headers, None).unwrap().unwrap();
/// assert_eq!(found.token, "eyJ.eyJ.sig");
/// assert_eq!(found.carrier, TokenCarrier::Cookie);
/// ```
///
/// # Errors
/// [`Rejection::MULTIPLE_AUTHORIZATION_HEADERS`] when the request has more than one
/// `Authorization` header.
pub fn session_token<'a>(
    headers: &'a HeaderMap,
    cookie_suffix: Option<&str>,
) -> Result<Option<FoundToken<'a>>, Rejection> {
    if let Some(token) = header_token(headers)? {
        return Ok(Some(FoundToken {
            token: Cow::Borrowed(token),
            carrier: TokenCarrier::Header,
        }));
    }
    let suffixed = cookie_suffix.map(|suffix| format!("{SESSION_COOKIE}_{suffix}"));
    let token = suffixed
        .as_deref()
        .and_then(|name| cookie(headers, name))
        .or_else(|| cookie(headers, SESSION_COOKIE));
    Ok(token.map(|token| FoundToken {
        token,
        carrier: TokenCarrier::Cookie,
    }))
}

/// The token of the `Authorization` header, read as Clerk does; an error when there are
/// several `Authorization` headers.
pub fn header_token(headers: &HeaderMap) -> Result<Option<&str>, Rejection> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::MULTIPLE_AUTHORIZATION_HEADERS);
    }
    let Ok(value) = value.to_str() else {
        return Ok(None);
    };
    let token = match value.split_once(' ') {
        None => value,
        Some(("Bearer", token)) => token,
        Some(_) => return Ok(None),
    };
    Ok((!token.is_empty()).then_some(token))
}

/// The value of the first cookie named `name` across all `Cookie` headers, percent-decoded
/// (a value that does not decode is returned as it is, as Clerk's cookie parser does).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cow<'a, str>> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key.trim() == name).then(|| value.trim())
        })
        .map(|value| {
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            percent_decode(value)
        })
}

fn percent_decode(value: &str) -> Cow<'_, str> {
    if !value.contains('%') {
        return Cow::Borrowed(value);
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => return Cow::Borrowed(value),
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(_) => Cow::Borrowed(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    fn found(h: &HeaderMap) -> Option<(String, TokenCarrier)> {
        session_token(h, Some("QvfNY2dr"))
            .expect("one Authorization header at most")
            .map(|f| (f.token.into_owned(), f.carrier))
    }

    #[test]
    fn two_authorization_headers_are_refused_whatever_they_hold() {
        for (first, second) in [
            ("Bearer valid.token.here", "Bearer forged.token.here"),
            ("Bearer a.b.c", "Basic dXNlcjpwYXNz"),
            ("Bearer a.b.c", "Bearer a.b.c"),
        ] {
            let h = headers(&[
                ("authorization", first),
                ("authorization", second),
                ("cookie", "__session=from.cookie.tok"),
            ]);
            let refused = session_token(&h, None).expect_err("two headers");
            assert_eq!(
                refused.reason(),
                crate::Reason::MultipleAuthorizationHeaders
            );
            assert_eq!(refused.reason().as_str(), "multiple-authorization-headers");
        }
    }

    #[test]
    fn bearer_header_gives_the_token() {
        let h = headers(&[("authorization", "Bearer abc.def.ghi")]);
        assert_eq!(
            found(&h),
            Some(("abc.def.ghi".into(), TokenCarrier::Header))
        );
    }

    #[test]
    fn header_without_scheme_is_the_token_itself() {
        let h = headers(&[("authorization", "abc.def.ghi")]);
        assert_eq!(
            found(&h),
            Some(("abc.def.ghi".into(), TokenCarrier::Header))
        );
    }

    #[test]
    fn other_schemes_fall_through_to_the_cookie() {
        for auth in ["bearer abc", "Basic dXNlcjpwYXNz", "BEARER abc", "Bearer "] {
            let h = headers(&[
                ("authorization", auth),
                ("cookie", "__session=from.cookie.tok"),
            ]);
            assert_eq!(
                found(&h),
                Some(("from.cookie.tok".into(), TokenCarrier::Cookie)),
                "{auth}"
            );
        }
    }

    #[test]
    fn header_wins_over_cookie() {
        let h = headers(&[
            ("cookie", "__session=from.cookie.tok"),
            ("authorization", "Bearer from.header.tok"),
        ]);
        assert_eq!(
            found(&h),
            Some(("from.header.tok".into(), TokenCarrier::Header))
        );
    }

    #[test]
    fn suffixed_cookie_is_preferred_and_plain_is_the_fallback() {
        let h = headers(&[(
            "cookie",
            "__session=plain.t.x; __session_QvfNY2dr=suffixed.t.x",
        )]);
        assert_eq!(found(&h).expect("found").0, "suffixed.t.x");
        let h = headers(&[("cookie", "__session_other=x.y.z; __session=plain.t.x")]);
        assert_eq!(found(&h).expect("found").0, "plain.t.x");
    }

    #[test]
    fn first_cookie_occurrence_wins_across_headers() {
        let h = headers(&[
            ("cookie", "a=1; __session=first.a.b"),
            ("cookie", "__session=second.a.b"),
        ]);
        assert_eq!(found(&h).expect("found").0, "first.a.b");
    }

    #[test]
    fn cookie_values_are_percent_decoded() {
        let h = headers(&[("cookie", "__session=a%2Eb.c")]);
        assert_eq!(found(&h).expect("found").0, "a.b.c");
        let h = headers(&[("cookie", "__session=bad%zz")]);
        assert_eq!(found(&h).expect("found").0, "bad%zz");
    }

    #[test]
    fn no_token_anywhere_is_none() {
        assert_eq!(
            found(&headers(&[("cookie", "__sessionx=a; session=b")])),
            None
        );
        assert_eq!(found(&HeaderMap::new()), None);
    }

    #[test]
    fn non_ascii_authorization_is_ignored_without_panic() {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xff\xfe").expect("opaque"),
        );
        assert_eq!(found(&h), None);
    }
}
