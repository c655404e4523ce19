//! The original request: what the client asked the proxy for, as each proxy family tells the
//! gateway.
//!
//! | endpoint | method | host | path and query |
//! |---|---|---|---|
//! | `/forward-auth` (Traefik, Caddy) | `X-Forwarded-Method`, else `X-Original-Method` | `X-Forwarded-Host`, else the host of `X-Original-URL` | `X-Forwarded-Uri`, else `X-Original-URI`, else `X-Original-URL`'s |
//! | `/auth-request` (nginx, ingress-nginx) | `X-Original-Method`, else `X-Forwarded-Method` | `X-Forwarded-Host`, else the host of `X-Original-URL` | `X-Original-URI`, else `X-Original-URL`'s, else `X-Forwarded-Uri` |
//! | `/ext-authz/…` (Envoy HTTP) | the request's own | `Host` (Envoy sends the original) | the path after the prefix |
//! | `Authorization/Check` (Envoy gRPC) | `attributes.request.http.method` | `.host` (`:authority`) | `.path` |
//!
//! The `Host` header of a forward-auth call names the gateway, not the upstream (Caddy and
//! nginx send the auth service's host), so the first two families never fall back to it.
//! Nothing here is trusted for identity: only for choosing the policy, which the proxy, not
//! the client, is configured to send (each shipped snippet overwrites these headers).

use std::fmt;

use http::{HeaderMap, Method};

/// The proxy family an endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `/forward-auth`: Traefik, Caddy and any proxy that relays the answer as it is.
    ForwardAuth,
    /// `/auth-request`: nginx `auth_request` and ingress-nginx (only 2xx, 401 and 403).
    AuthRequest,
    /// `/ext-authz/`: Envoy's HTTP `ext_authz` (only 200 allows).
    ExtAuthz,
    /// `envoy.service.auth.v3.Authorization/Check`: Envoy's gRPC `ext_authz`.
    ExtAuthzGrpc,
}

impl Family {
    /// The endpoint's name, as metrics label it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Family::ForwardAuth => "forward-auth",
            Family::AuthRequest => "auth-request",
            Family::ExtAuthz => "ext-authz",
            Family::ExtAuthzGrpc => "ext-authz-grpc",
        }
    }
}

/// The path prefix of the Envoy endpoint; the original path follows it.
pub const EXT_AUTHZ_PREFIX: &str = "/ext-authz";

/// The original request, as far as the proxy told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    /// The method, if the proxy sent it.
    pub method: Option<Method>,
    /// The host, lower-case and without a port, if the proxy sent it.
    pub host: Option<String>,
    /// The path (without the query), if the proxy sent it.
    pub path: Option<String>,
}

/// Why the original request cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalError {
    /// The header at fault.
    pub header: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl fmt::Display for OriginalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.header, self.problem)
    }
}

impl Original {
    /// Reads the original request that `family`'s proxy describes in `headers`; `method` and
    /// `path_and_query` are the gateway's own request line's (for Envoy's gRPC family, the
    /// `CheckRequest`'s method and path, with its host in `headers` as `Host`).
    pub fn read(
        family: Family,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
    ) -> Result<Original, OriginalError> {
        let url = header(headers, "x-original-url")?
            .map(|url| split_url(url).ok_or(bad("x-original-url", "not an absolute URL")))
            .transpose()?;
        let url_host = url.as_ref().map(|(host, _)| *host);
        let url_path = url.as_ref().map(|(_, path)| *path);
        let forwarded_host = header(headers, "x-forwarded-host")?.or(url_host);
        let (method, host, path) = match family {
            Family::ForwardAuth => (
                first_method(headers, ["x-forwarded-method", "x-original-method"])?,
                forwarded_host,
                header(headers, "x-forwarded-uri")?
                    .or(header(headers, "x-original-uri")?)
                    .or(url_path),
            ),
            Family::AuthRequest => (
                first_method(headers, ["x-original-method", "x-forwarded-method"])?,
                forwarded_host,
                header(headers, "x-original-uri")?
                    .or(url_path)
                    .or(header(headers, "x-forwarded-uri")?),
            ),
            Family::ExtAuthz | Family::ExtAuthzGrpc => {
                let rest = match family {
                    Family::ExtAuthz => path_and_query
                        .strip_prefix(EXT_AUTHZ_PREFIX)
                        .unwrap_or(path_and_query),
                    _ => path_and_query,
                };
                let rest = if rest.is_empty() { "/" } else { rest };
                (Some(method.clone()), header(headers, "host")?, Some(rest))
            }
        };
        let path = path
            .map(|uri| uri.split(['?', '#']).next().unwrap_or_default())
            .map(|path| {
                if path.starts_with('/') {
                    Ok(path.to_owned())
                } else {
                    Err(bad("x-forwarded-uri", "the path must start with /"))
                }
            })
            .transpose()?;
        Ok(Original {
            method,
            host: host.map(normalise_host).transpose()?,
            path,
        })
    }

    /// The original request for a test or `check-policy`.
    pub fn new(method: Method, host: &str, path: &str) -> Result<Original, OriginalError> {
        Ok(Original {
            method: Some(method),
            host: Some(normalise_host(host)?),
            path: Some(path.split(['?', '#']).next().unwrap_or_default().to_owned()),
        })
    }
}

/// The query string of the original request, as a forward-auth proxy forwarded it
/// (`X-Forwarded-Uri`, `X-Original-URI` or `X-Original-URL`, in the order the family reads
/// them); `None` without one. Envoy's families have none apart from the gateway's own
/// request line (HTTP) or the `CheckRequest` (gRPC).
pub fn original_query(family: Family, headers: &HeaderMap) -> Option<&str> {
    let value = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let uri = match family {
        Family::ForwardAuth => value("x-forwarded-uri")
            .or_else(|| value("x-original-uri"))
            .or_else(|| value("x-original-url")),
        Family::AuthRequest => value("x-original-uri")
            .or_else(|| value("x-original-url"))
            .or_else(|| value("x-forwarded-uri")),
        Family::ExtAuthz | Family::ExtAuthzGrpc => None,
    }?;
    let query = uri.split_once('?')?.1;
    Some(query.split('#').next().unwrap_or_default())
}

fn bad(header: &'static str, problem: &'static str) -> OriginalError {
    OriginalError { header, problem }
}

/// A header's value, trimmed; `None` when absent or empty; an error when sent twice or not
/// text (a proxy sends each once).
fn header<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
) -> Result<Option<&'a str>, OriginalError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(bad(name, "sent more than once"));
    }
    let value = value
        .to_str()
        .map_err(|_| bad(name, "not visible ASCII"))?
        .trim();
    Ok((!value.is_empty()).then_some(value))
}

fn first_method(
    headers: &HeaderMap,
    names: [&'static str; 2],
) -> Result<Option<Method>, OriginalError> {
    for name in names {
        if let Some(value) = header(headers, name)? {
            return method(value)
                .map(Some)
                .ok_or(bad(name, "not a method (upper-case letters)"));
        }
    }
    Ok(None)
}

/// A method as a proxy names it: a token of upper-case letters (RFC 9110 allows more; no
/// proxy sends more, and a rule names methods in upper case).
pub fn method(value: &str) -> Option<Method> {
    if value.is_empty() || value.len() > 32 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Method::from_bytes(value.as_bytes()).ok()
}

/// `scheme://host[:port]/path?query` → (`host[:port]`, `/path?query`).
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix("wss://"))
        .or_else(|| url.strip_prefix("ws://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, path) = rest.split_at(end);
    if host.is_empty() {
        return None;
    }
    Some((host, if path.is_empty() { "/" } else { path }))
}

/// `API.Example.com:443` → `api.example.com`; `[::1]:8080` → `[::1]`.
fn normalise_host(host: &str) -> Result<String, OriginalError> {
    let problem = bad("x-forwarded-host", "not a host name");
    let host = host.trim();
    let name = if host.starts_with('[') {
        let end = host.find(']').ok_or(problem.clone())?;
        &host[..=end]
    } else {
        host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        })
    };
    if name.is_empty()
        || name.len() > 253
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:_".contains(&b))
    {
        return Err(problem);
    }
    Ok(name.to_ascii_lowercase())
}

/// Why a path cannot be matched against rules safely: one that an upstream may read as
/// another path (dot segments, encoded slashes or dots, backslashes, empty segments). Such a
/// path could slip past a rule for `/admin/**` and still reach `/admin`; it is refused
/// instead of guessed at.
pub fn ambiguous(path: &str) -> Option<&'static str> {
    if path.contains('\\') || path.contains('\0') {
        return Some("a backslash or NUL in the path");
    }
    if path.contains("//") {
        return Some("an empty segment (//) in the path");
    }
    let lower = path.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%00"]
        .iter()
        .any(|e| lower.contains(e))
    {
        return Some("an encoded dot, slash, backslash or NUL in the path");
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Some("a . or .. segment in the path");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn each_family_reads_its_proxys_headers() {
        let traefik = headers(&[
            ("x-forwarded-method", "POST"),
            ("x-forwarded-host", "API.example.com:443"),
            ("x-forwarded-uri", "/v1/notes?x=1"),
            ("host", "gateway:8090"),
        ]);
        let original =
            Original::read(Family::ForwardAuth, &Method::GET, "/forward-auth", &traefik).unwrap();
        assert_eq!(original.method, Some(Method::POST));
        assert_eq!(original.host.as_deref(), Some("api.example.com"));
        assert_eq!(original.path.as_deref(), Some("/v1/notes"));

        let nginx = headers(&[
            ("x-original-method", "DELETE"),
            ("x-original-url", "https://api.example.com/v1/notes/7?y"),
        ]);
        let original =
            Original::read(Family::AuthRequest, &Method::GET, "/auth-request", &nginx).unwrap();
        assert_eq!(original.method, Some(Method::DELETE));
        assert_eq!(original.host.as_deref(), Some("api.example.com"));
        assert_eq!(original.path.as_deref(), Some("/v1/notes/7"));

        let envoy = headers(&[("host", "api.example.com")]);
        let original = Original::read(
            Family::ExtAuthz,
            &Method::PUT,
            "/ext-authz/v1/notes?z",
            &envoy,
        )
        .unwrap();
        assert_eq!(original.method, Some(Method::PUT));
        assert_eq!(original.path.as_deref(), Some("/v1/notes"));

        // gRPC: the CheckRequest's path is the original one, whatever it starts with.
        let original = Original::read(
            Family::ExtAuthzGrpc,
            &Method::GET,
            "/ext-authz/v1/notes?z",
            &envoy,
        )
        .unwrap();
        assert_eq!(original.path.as_deref(), Some("/ext-authz/v1/notes"));
        assert_eq!(original.host.as_deref(), Some("api.example.com"));
    }

    #[test]
    fn a_method_is_upper_case_letters() {
        assert_eq!(method("PATCH"), Some(Method::PATCH));
        for bad in ["", "get", "GE T", "G3T", &"A".repeat(33)] {
            assert_eq!(method(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_gateways_own_host_is_never_taken_for_the_upstreams() {
        let original = Original::read(
            Family::ForwardAuth,
            &Method::GET,
            "/forward-auth",
            &headers(&[("host", "gateway")]),
        )
        .unwrap();
        assert_eq!(original.host, None);
        assert_eq!(original.method, None);
        assert_eq!(original.path, None);
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            &[("x-forwarded-method", "get")][..],
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-method", "POST"),
            ],
            &[("x-original-url", "/relative")],
            &[("x-forwarded-uri", "relative")],
            &[("x-forwarded-host", "bad host")],
        ] {
            assert!(
                Original::read(
                    Family::ForwardAuth,
                    &Method::GET,
                    "/forward-auth",
                    &headers(bad)
                )
                .is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_original_query_is_read_from_the_header_the_family_reads() {
        let caddy = headers(&[("x-forwarded-uri", "/notes?optional=true&x=1")]);
        assert_eq!(
            original_query(Family::ForwardAuth, &caddy),
            Some("optional=true&x=1")
        );
        let nginx = headers(&[
            ("x-original-uri", "/a?from=uri"),
            ("x-forwarded-uri", "/a?from=forwarded"),
        ]);
        assert_eq!(
            original_query(Family::AuthRequest, &nginx),
            Some("from=uri")
        );
        assert_eq!(
            original_query(Family::ForwardAuth, &nginx),
            Some("from=forwarded")
        );
        let url = headers(&[("x-original-url", "https://api.example.com/a?b=c#frag")]);
        assert_eq!(original_query(Family::AuthRequest, &url), Some("b=c"));
        assert_eq!(
            original_query(Family::ForwardAuth, &headers(&[("x-forwarded-uri", "/a")])),
            None
        );
        assert_eq!(original_query(Family::ExtAuthz, &caddy), None);
    }

    #[test]
    fn paths_an_upstream_could_read_otherwise_are_ambiguous() {
        for path in [
            "/public/../admin",
            "/./admin",
            "/public/%2e%2e/admin",
            "/a%2Fb",
            "/a\\b",
            "//admin",
        ] {
            assert!(ambiguous(path).is_some(), "{path}");
        }
        for path in ["/", "/v1/notes", "/v1/notes/7", "/a.b/c..d", "/%20x"] {
            assert_eq!(ambiguous(path), None, "{path}");
        }
    }
}
