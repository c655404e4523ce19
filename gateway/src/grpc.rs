//! Envoy's gRPC `ext_authz`: the `envoy.service.auth.v3.Authorization/Check` service, on the
//! gateway's own port (HTTP/2 with prior knowledge, as Envoy's gRPC clusters speak it).
//!
//! Each `CheckRequest` describes the client's request in `attributes.request.http`: its
//! method, host (`:authority`), path with the query, and headers (all of them unless the
//! filter's `allowed_headers` says otherwise; `header_map` instead with `encode_raw_headers`).
//! The decision is [`Gate::decide_original`]'s, the HTTP endpoints' own: the rules file
//! (`GATEWAY_RULES`), and in place of an auth URL's query string, the route's
//! `context_extensions`, in the query's words (`accepts`, `permission`, `role`, `feature`,
//! `plan`, `scope`, `reverification`, `optional`; see [`crate::policy`]). An unknown key is
//! refused as a misconfiguration, like an unknown query parameter.
//!
//! The answer is the HTTP endpoints' answer ([`Gate::respond`]), carried in a
//! `CheckResponse`:
//!
//! | decision | `status.code` | `http_response` |
//! |---|---|---|
//! | allowed | 0 `OK` | `ok_response`: every identity header and `X-Clerk-Identity` (with signing on), each overwriting the request's (`OVERWRITE_IF_EXISTS_OR_ADD`, empty values kept); `headers_to_remove`: every other `x-clerk-*` or `x_clerk_*` header the client sent |
//! | 401 | 16 `UNAUTHENTICATED` | `denied_response`: status 401, the HTTP endpoints' headers (`WWW-Authenticate`, `Cache-Control: no-store`, `Content-Type`, `X-Clerk-Auth-Status`, `X-Clerk-Auth-Reason`) and JSON body |
//! | 403 | 7 `PERMISSION_DENIED` | the same, status 403 |
//! | 503 | 14 `UNAVAILABLE` | the same, status 503, with `Retry-After` |
//! | 500 (misconfigured) | 13 `INTERNAL` | the same, status 500 |
//!
//! Unlike the HTTP service, whose 5xx Envoy takes for a failure of the service (its
//! `status_on_error`, without the gateway's headers and body), a gRPC denial reaches the client
//! as it is: a 503 keeps its `Retry-After` and its reason (`keys-unavailable`).

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::Router;
use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse, DeniedHttpResponse,
    HeaderAppendAction, HeaderValueOption, HttpResponse, HttpStatus, OkHttpResponse,
};
use envoy_types::pb::envoy::config::core::v3::HeaderValue as EnvoyHeader;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest;
use envoy_types::pb::google::rpc;

use crate::identity::{HEADERS, IDENTITY_HEADER};
use crate::original::{self, Family, Original};
use crate::policy::Policy;
use crate::{Decision, Gate, AUTH_REASON_HEADER};

/// The largest `CheckRequest` read: the headers of one request (Envoy's own limit is 60 KiB
/// by default) and no body (the snippet does not set `with_request_body`).
pub const MAX_CHECK_REQUEST_BYTES: usize = 256 * 1024;

/// The largest body of a refusal turned into a denied response (the gateway's are a few
/// hundred bytes of JSON).
const MAX_DENIED_BODY_BYTES: usize = 64 * 1024;

/// The `Authorization` service over a gate.
#[derive(Debug)]
pub struct CheckService {
    gate: Arc<Gate>,
}

impl CheckService {
    /// The service deciding with `gate`.
    pub fn new(gate: Arc<Gate>) -> CheckService {
        CheckService { gate }
    }
}

#[tonic::async_trait]
impl Authorization for CheckService {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        Ok(tonic::Response::new(
            check(&self.gate, request.get_ref()).await,
        ))
    }
}

/// The service's routes, to merge into the gateway's router.
pub fn routes(gate: Arc<Gate>) -> Router {
    let server = AuthorizationServer::new(CheckService::new(gate))
        .max_decoding_message_size(MAX_CHECK_REQUEST_BYTES);
    tonic::service::Routes::new(server).into_axum_router()
}

/// Decides about the request `request` describes, and answers Envoy.
pub async fn check(gate: &Gate, request: &CheckRequest) -> CheckResponse {
    let attributes = request.attributes.as_ref();
    let Some(http) = attributes
        .and_then(|attributes| attributes.request.as_ref())
        .and_then(|request| request.http.as_ref())
    else {
        let decision = misconfigured(
            "invalid-original-request",
            "The CheckRequest has no attributes.request.http: only Envoy's HTTP ext_authz \
             filter is served."
                .to_owned(),
        );
        return answer(gate, decision, None, &[]).await;
    };
    let (headers, sent) = request_headers(http);
    let described = read(http, &headers).and_then(|original| {
        let extensions = attributes.map(|attributes| &attributes.context_extensions);
        Ok((original, policy(extensions)?))
    });
    match described {
        Err(decision) => answer(gate, decision, None, &sent).await,
        Ok((original, policy)) => {
            let decision = gate.decide_original(&original, policy, &headers).await;
            answer(gate, decision, original.host.as_deref(), &sent).await
        }
    }
}

/// Counts the decision and turns the HTTP endpoints' answer to it into Envoy's.
async fn answer(
    gate: &Gate,
    decision: Decision,
    audience: Option<&str>,
    sent: &[String],
) -> CheckResponse {
    let (parts, body) = gate
        .answer(Family::ExtAuthzGrpc, decision, audience)
        .into_parts();
    if parts.status == StatusCode::OK {
        return allowed(&parts.headers, sent);
    }
    let body = axum::body::to_bytes(body, MAX_DENIED_BODY_BYTES)
        .await
        .unwrap_or_default();
    denied(parts.status, &parts.headers, &body)
}

fn misconfigured(reason: &'static str, message: String) -> Decision {
    Decision::Misconfigured { reason, message }
}

/// The client's request headers as the gateway reads credentials from them (pseudo-headers
/// left out; the host as `Host`), and the names of the `x-clerk-*` and `x_clerk_*` ones, in
/// lower case.
fn request_headers(http: &HttpRequest) -> (HeaderMap, Vec<String>) {
    let mut headers = HeaderMap::new();
    let mut sent = Vec::new();
    let mut add = |name: &str, value: &[u8]| {
        if name.starts_with(':') {
            return;
        }
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("x-clerk-") || lower.starts_with("x_clerk_") {
            sent.push(lower.clone());
        }
        // A name or value that is not a valid header cannot carry a credential either.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(lower.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    };
    match &http.header_map {
        // `encode_raw_headers`: each header as sent, repeated ones apart.
        Some(map) if !map.headers.is_empty() => {
            for EnvoyHeader {
                key,
                value,
                raw_value,
            } in &map.headers
            {
                let value = if raw_value.is_empty() {
                    value.as_bytes()
                } else {
                    raw_value
                };
                add(key, value);
            }
        }
        _ => {
            for (key, value) in &http.headers {
                add(key, value.as_bytes());
            }
        }
    }
    headers.remove(header::HOST);
    if !http.host.is_empty() {
        if let Ok(host) = HeaderValue::from_str(&http.host) {
            headers.insert(header::HOST, host);
        }
    }
    sent.sort();
    sent.dedup();
    (headers, sent)
}

/// The original request of a `CheckRequest`.
fn read(http: &HttpRequest, headers: &HeaderMap) -> Result<Original, Decision> {
    let invalid = |message: String| {
        misconfigured(
            "invalid-original-request",
            format!("The CheckRequest's description of the request: {message}."),
        )
    };
    let method = original::method(&http.method).ok_or_else(|| {
        invalid(format!(
            "method: {:?} is not a method (upper-case letters)",
            http.method
        ))
    })?;
    let path = if http.path.is_empty() {
        "/"
    } else {
        &http.path
    };
    Original::read(Family::ExtAuthzGrpc, &method, path, headers)
        .map_err(|err| invalid(err.to_string()))
}

/// The policy of the route's context extensions; `None` when there are none.
fn policy(
    extensions: Option<&std::collections::HashMap<String, String>>,
) -> Result<Option<Policy>, Decision> {
    let Some(extensions) = extensions.filter(|extensions| !extensions.is_empty()) else {
        return Ok(None);
    };
    // In the order of their names: the same policy whatever order the map gives.
    let mut pairs: Vec<(&String, &String)> = extensions.iter().collect();
    pairs.sort();
    Policy::from_pairs(pairs).map(Some).map_err(|err| {
        misconfigured(
            "invalid-policy",
            format!("The route's ext_authz context_extensions: {err}."),
        )
    })
}

fn overwrite(name: &str, value: &[u8], keep_empty_value: bool) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(EnvoyHeader {
            key: name.to_owned(),
            value: String::from_utf8_lossy(value).into_owned(),
            raw_value: Vec::new(),
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd.into(),
        keep_empty_value,
        ..HeaderValueOption::default()
    }
}

/// An allow: the identity headers onto the request, the client's other `x-clerk-*` off it.
fn allowed(headers: &HeaderMap, sent: &[String]) -> CheckResponse {
    let identity: Vec<HeaderValueOption> = HEADERS
        .iter()
        .chain([&IDENTITY_HEADER])
        .filter_map(|name| headers.get(*name).map(|value| (name, value)))
        .map(|(name, value)| overwrite(name, value.as_bytes(), true))
        .collect();
    let headers_to_remove: Vec<String> = sent
        .iter()
        .filter(|name| {
            !identity
                .iter()
                .any(|set| set.header.as_ref().is_some_and(|h| &h.key == *name))
        })
        .cloned()
        .collect();
    CheckResponse {
        status: Some(rpc::Status {
            code: tonic::Code::Ok.into(),
            ..rpc::Status::default()
        }),
        http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
            headers: identity,
            headers_to_remove,
            ..OkHttpResponse::default()
        })),
        ..CheckResponse::default()
    }
}

/// A refusal: the gRPC code of its HTTP status, and the HTTP endpoints' answer for the client.
fn denied(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> CheckResponse {
    let code = match status {
        StatusCode::UNAUTHORIZED => tonic::Code::Unauthenticated,
        StatusCode::FORBIDDEN => tonic::Code::PermissionDenied,
        StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        StatusCode::INTERNAL_SERVER_ERROR => tonic::Code::Internal,
        _ => tonic::Code::Unknown,
    };
    let reason = headers
        .get(AUTH_REASON_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    CheckResponse {
        status: Some(rpc::Status {
            code: code.into(),
            message: reason.to_owned(),
            ..rpc::Status::default()
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                code: i32::from(status.as_u16()),
            }),
            headers: headers
                .iter()
                .map(|(name, value)| overwrite(name.as_str(), value.as_bytes(), false))
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
        })),
        ..CheckResponse::default()
    }
}
