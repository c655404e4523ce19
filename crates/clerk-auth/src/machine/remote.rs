//! Opaque machine tokens (`ak_…`, `mt_…`, `oat_…`), verified by Clerk's Backend API and
//! cached, which no Clerk SDK does (microservices.md §C.4).
//!
//! - The cache is keyed by a SHA-256 of the token, never the token itself, and bounded in
//!   entries. A verified token is remembered for `min(cache_ttl, its own expiration)`; an
//!   unknown one (404) for `negative_ttl`. Concurrent requests with the same uncached token
//!   make one call (moka's `try_get_with` runs one initialiser per key and shares its result).
//! - Cache misses are budgeted: a token bucket of `verify_rate` per second with bursts of
//!   `verify_burst`; beyond it a miss is refused with `machine-token-verification-throttled`
//!   (503) and makes no call, so that a flood of made-up tokens cannot become a flood on the
//!   Backend API (each call is billed and rate limited). Cached tokens and session tokens are
//!   not affected.
//! - Fails closed: the Backend API unreachable, slow, answering 5xx or 429 is
//!   `unexpected-error`; answering 401 for this service's own key is `secret-key-invalid`,
//!   logged as a configuration error. Both are "unavailable" (503), never 401 and never
//!   accepted, and neither is cached.
//! - Defence in depth: a 200 whose `object` is not the expected one, that says `revoked` or
//!   `expired`, whose expiration has passed, or `{"active": false}`, is `token-invalid`.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clerk_types::{Clock, CLERK_API_VERSION};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::HeaderValue;
use moka::future::Cache;
use moka::Expiry;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Form, MachineAuth, MachineOptions, MachineStats, TokenType};
use crate::error::{Reason, Rejection};
use crate::json::parse_object;

/// The largest verify response read, in bytes: the objects are a few hundred bytes, their
/// `claims` at most a few KiB.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The client of the three verify endpoints, with the cache and the call budget.
pub(crate) struct Remote {
    client: reqwest::Client,
    api_url: String,
    secret_key: HeaderValue,
    machine_secret_key: Option<HeaderValue>,
    audience: Vec<String>,
    clock: Arc<dyn Clock>,
    cache: Option<Cache<[u8; 32], Verdict>>,
    limiter: DefaultDirectRateLimiter,
    options: MachineOptions,
    hits: AtomicU64,
    calls: AtomicU64,
    throttled: AtomicU64,
}

/// What the Backend API said of a token, as cached.
#[derive(Clone)]
enum Verdict {
    Verified(Arc<MachineAuth>),
    /// Unknown, revoked or expired (404), or refused on our side of the answer.
    Refused(Rejection),
}

/// The parts of [`Remote::new`].
pub(crate) struct RemoteConfig {
    pub(crate) api_url: String,
    pub(crate) secret_key: String,
    pub(crate) machine_secret_key: Option<String>,
    pub(crate) audience: Vec<String>,
    pub(crate) options: MachineOptions,
    pub(crate) client: reqwest::Client,
    pub(crate) clock: Arc<dyn Clock>,
}

/// Each verdict's lifetime: a verified token until `min(ttl, its expiration)`, a refused one
/// for the negative TTL.
struct Lifetimes {
    ttl: Duration,
    negative_ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl Expiry<[u8; 32], Verdict> for Lifetimes {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        verdict: &Verdict,
        _now: Instant,
    ) -> Option<Duration> {
        Some(match verdict {
            Verdict::Verified(auth) => match auth.expiration_ms {
                Some(expiration) => {
                    let left = expiration.saturating_sub(self.clock.now_ms() as i64);
                    self.ttl
                        .min(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
                }
                None => self.ttl,
            },
            Verdict::Refused(_) => self.negative_ttl,
        })
    }
}

fn bearer(key: &str) -> Result<HeaderValue, ()> {
    let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(drop)?;
    value.set_sensitive(true);
    Ok(value)
}

impl Remote {
    /// `None` when a key cannot be a header value (the builder reports it).
    pub(crate) fn new(config: RemoteConfig) -> Option<Remote> {
        let RemoteConfig {
            api_url,
            secret_key,
            machine_secret_key,
            audience,
            options,
            client,
            clock,
        } = config;
        let cache = (options.cache_capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(options.cache_capacity)
                .expire_after(Lifetimes {
                    ttl: options.cache_ttl,
                    negative_ttl: options.negative_ttl,
                    clock: Arc::clone(&clock),
                })
                .build()
        });
        let rate = NonZeroU32::new(options.verify_rate.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(options.verify_burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Some(Remote {
            client,
            api_url: api_url.trim_end_matches('/').to_owned(),
            secret_key: bearer(&secret_key).ok()?,
            machine_secret_key: match machine_secret_key {
                Some(key) => Some(bearer(&key).ok()?),
                None => None,
            },
            audience,
            clock,
            cache,
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            options,
            hits: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        })
    }

    pub(crate) fn stats(&self) -> MachineStats {
        MachineStats {
            cache_hits: self.hits.load(Ordering::Relaxed),
            backend_calls: self.calls.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
        }
    }

    /// Verifies an opaque token of `form` (an opaque form).
    pub(crate) async fn verify(
        &self,
        token: &str,
        form: Form,
    ) -> Result<Arc<MachineAuth>, Rejection> {
        let verdict = match &self.cache {
            None => self.call(token, form).await?,
            Some(cache) => {
                let key = digest(token);
                match cache.get(&key).await {
                    Some(verdict) => {
                        self.hits.fetch_add(1, Ordering::Relaxed);
                        verdict
                    }
                    None => cache
                        .try_get_with(key, self.call(token, form))
                        .await
                        .map_err(|shared| (*shared).clone())?,
                }
            }
        };
        match verdict {
            Verdict::Verified(auth) => {
                self.check_live(&auth)?;
                Ok(auth)
            }
            Verdict::Refused(rejection) => Err(rejection),
        }
    }

    /// A cached verdict outliving the token's own expiration is refused all the same.
    fn check_live(&self, auth: &MachineAuth) -> Result<(), Rejection> {
        match auth.expiration_ms {
            Some(expiration) if expiration <= self.clock.now_ms() as i64 => Err(Rejection::new(
                Reason::TokenInvalid,
                "The machine token has expired.",
            )),
            _ => Ok(()),
        }
    }

    /// One call to the Backend API, within the budget.
    async fn call(&self, token: &str, form: Form) -> Result<Verdict, Rejection> {
        if self.limiter.check().is_err() {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return Err(Rejection::new(
                Reason::MachineTokenVerificationThrottled,
                "Too many machine tokens to verify with Clerk's Backend API at once: this one \
                 was not looked up. Try again shortly.",
            ));
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let endpoint = Endpoint::of(form);
        let authorization = match (form, &self.machine_secret_key) {
            (Form::M2mOpaque, Some(machine)) => machine,
            _ => &self.secret_key,
        };
        let url = format!("{}{}", self.api_url, endpoint.path);
        let mut body = Map::new();
        body.insert(endpoint.field.to_owned(), Value::String(token.to_owned()));
        let request = self
            .client
            .post(&url)
            .header(http::header::AUTHORIZATION, authorization.clone())
            .header("Clerk-API-Version", CLERK_API_VERSION)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Value::Object(body).to_string());
        let work = async {
            let mut response = request
                .send()
                .await
                .map_err(|err| unreachable(&url, &err))?;
            let status = response.status().as_u16();
            let json = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(';').next().map(str::trim) == Some("application/json"));
            let mut bytes: Vec<u8> = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|err| unreachable(&url, &err))?
            {
                if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(unexpected(format!(
                        "Clerk's Backend API answered {url} with more than {MAX_RESPONSE_BYTES} bytes."
                    )));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok((status, json, bytes))
        };
        let (status, json, bytes) = match tokio::time::timeout(self.options.timeout, work).await {
            Ok(answer) => answer?,
            Err(_) => {
                return Err(unexpected(format!(
                    "Clerk's Backend API did not answer {url} within {} ms.",
                    self.options.timeout.as_millis()
                )))
            }
        };
        match status {
            200 if json => {
                read_answer(endpoint, &bytes, self.clock.now_ms() as i64, &self.audience)
                    .map(|auth| Verdict::Verified(Arc::new(auth)))
                    .or_else(|err| {
                        if err.reason() == Reason::UnexpectedError {
                            Err(err)
                        } else {
                            Ok(Verdict::Refused(err))
                        }
                    })
            }
            200 => Err(unexpected(format!(
                "Clerk's Backend API answered {url} with a body that is not JSON."
            ))),
            404 => Ok(Verdict::Refused(Rejection::new(
                Reason::TokenInvalid,
                endpoint.not_found,
            ))),
            // A token the API cannot even read (a malformed secret): refused like an unknown one.
            400 | 422 => Ok(Verdict::Refused(Rejection::new(
                Reason::TokenInvalid,
                endpoint.not_found,
            ))),
            401 => {
                tracing::error!(
                    url = %url,
                    "Clerk's Backend API refused this service's secret key (401) while verifying \
                     a machine token: check CLERK_SECRET_KEY (or CLERK_MACHINE_SECRET_KEY for M2M \
                     tokens). Machine tokens are refused with 503 until it is fixed."
                );
                Err(Rejection::new(
                    Reason::SecretKeyInvalid,
                    "Clerk's Backend API refused this service's secret key while verifying a \
                     machine token.",
                ))
            }
            status => Err(unexpected(format!(
                "Clerk's Backend API answered {url} with status {status}."
            ))),
        }
    }
}

/// The machine auth object of a verify endpoint's 200 answer, at `now_ms`, with the OAuth
/// audience rule for `audience`.
pub(crate) fn read_answer(
    endpoint: Endpoint,
    bytes: &[u8],
    now_ms: i64,
    audience: &[String],
) -> Result<MachineAuth, Rejection> {
    let malformed = |detail: &dyn std::fmt::Display| {
        unexpected(format!(
            "Clerk's Backend API answered {} with an object this library cannot read ({detail}).",
            endpoint.path
        ))
    };
    let object = parse_object(bytes, "response").map_err(|err| malformed(&err.message()))?;
    let answer: Answer =
        serde_json::from_value(Value::Object(object)).map_err(|e| malformed(&e))?;
    if answer.active == Some(false) {
        return Err(Rejection::new(
            Reason::TokenInvalid,
            "The token is not active.",
        ));
    }
    if answer.object.as_deref() != Some(endpoint.object) {
        return Err(Rejection::with_message(
            Reason::TokenInvalid,
            format!(
                "Clerk's Backend API did not answer with an {} object.",
                endpoint.object
            ),
        ));
    }
    if answer.revoked {
        return Err(Rejection::new(
            Reason::TokenInvalid,
            "The token was revoked.",
        ));
    }
    let expiration_ms = answer.expiration.map(to_ms);
    if answer.expired || expiration_ms.is_some_and(|e| e <= now_ms) {
        return Err(Rejection::new(
            Reason::TokenInvalid,
            "The machine token has expired.",
        ));
    }
    let (Some(id), Some(subject)) = (answer.id, answer.subject) else {
        return Err(malformed(&"no id or subject"));
    };
    if endpoint.token_type == TokenType::OAuthToken && !audience.is_empty() {
        // Clerk's assertOAuthAudienceClaim: a non-empty list of non-empty strings, sharing a
        // value with the configured audience.
        let shared = answer.aud.as_ref().is_some_and(|aud| {
            !aud.is_empty()
                && aud.iter().all(|a| !a.is_empty())
                && aud.iter().any(|a| audience.contains(a))
        });
        if !shared {
            return Err(Rejection::new(
                Reason::TokenVerificationFailed,
                "Invalid OAuth access token audience (aud): it does not include the configured \
                     audience.",
            ));
        }
    }
    Ok(MachineAuth {
        token_type: endpoint.token_type,
        id,
        subject,
        scopes: answer.scopes.unwrap_or_default(),
        claims: answer.claims,
        name: answer.name,
        client_id: answer.client_id,
        expiration_ms,
    })
}

/// The fields of the three verify answers this library reads (microservices.md §C.2);
/// unknown fields are ignored, known ones must have their types.
#[derive(Deserialize)]
struct Answer {
    object: Option<String>,
    id: Option<String>,
    subject: Option<String>,
    scopes: Option<Vec<String>>,
    claims: Option<Map<String, Value>>,
    name: Option<String>,
    client_id: Option<String>,
    #[serde(default)]
    revoked: bool,
    #[serde(default)]
    expired: bool,
    expiration: Option<i64>,
    aud: Option<Vec<String>>,
    active: Option<bool>,
}

/// Clerk's examples give M2M and API-key times in milliseconds and OAuth ones in seconds
/// (§C.2): a time below 10^11 (the year 5138 in seconds, 1973 in milliseconds) is seconds.
fn to_ms(time: i64) -> i64 {
    if time.abs() < 100_000_000_000 {
        time.saturating_mul(1000)
    } else {
        time
    }
}

/// One of the three verify endpoints.
#[derive(Clone, Copy)]
pub(crate) struct Endpoint {
    path: &'static str,
    field: &'static str,
    object: &'static str,
    token_type: TokenType,
    not_found: &'static str,
}

impl Endpoint {
    pub(crate) fn of(form: Form) -> Endpoint {
        match form {
            Form::M2mOpaque | Form::M2mJwt => Endpoint {
                path: "/m2m_tokens/verify",
                field: "token",
                object: "machine_to_machine_token",
                token_type: TokenType::M2mToken,
                not_found: "Machine token not found",
            },
            Form::OAuthOpaque | Form::OAuthJwt => Endpoint {
                path: "/oauth_applications/access_tokens/verify",
                field: "access_token",
                object: "clerk_idp_oauth_access_token",
                token_type: TokenType::OAuthToken,
                not_found: "OAuth token not found",
            },
            Form::ApiKey | Form::Session => Endpoint {
                path: "/api_keys/verify",
                field: "secret",
                object: "api_key",
                token_type: TokenType::ApiKey,
                not_found: "API key not found",
            },
        }
    }
}

/// Reads a verify endpoint's 200 answer for a token of `token_type`, as the verifier does
/// (fuzzing and tests).
pub fn parse_verify_answer(
    token_type: TokenType,
    body: &[u8],
    now_ms: i64,
) -> Result<MachineAuth, Rejection> {
    let form = match token_type {
        TokenType::M2mToken => Form::M2mOpaque,
        TokenType::OAuthToken => Form::OAuthOpaque,
        _ => Form::ApiKey,
    };
    read_answer(Endpoint::of(form), body, now_ms, &[])
}

fn digest(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut key = [0; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

fn unexpected(message: String) -> Rejection {
    Rejection::with_message(Reason::UnexpectedError, message)
}

fn unreachable(url: &str, err: &reqwest::Error) -> Rejection {
    // reqwest's own message can carry the URL and nothing else secret; name the kind only.
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    unexpected(format!(
        "Verifying a machine token with Clerk's Backend API ({url}) {kind}."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_seconds_and_milliseconds_are_both_read() {
        assert_eq!(to_ms(1_716_883_200), 1_716_883_200_000);
        assert_eq!(to_ms(1_716_883_200_000), 1_716_883_200_000);
    }

    const NOW_MS: i64 = 1_716_883_200_000;

    fn api_key(extra: &str) -> Vec<u8> {
        format!(
            r#"{{"object":"api_key","id":"ak_3beecc9c60adb5f9b850e91a8ee1e992","type":"api_key",
            "subject":"org_2xhFjEI5X2qWRvtV13BzSj8H6Dk","name":"MY_SERVICE_API_KEY",
            "description":null,"claims":{{"foo":"bar"}},"scopes":["read","write"],
            "revoked":false,"revocation_reason":null,"expired":false,"expiration":null,
            "created_by":null,"last_used_at":1716883200,"created_at":1716883200,
            "updated_at":1716883200{extra}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_verified_api_key_becomes_clerks_auth_object() {
        let auth = parse_verify_answer(TokenType::ApiKey, &api_key(""), NOW_MS).unwrap();
        assert_eq!(auth.token_type(), TokenType::ApiKey);
        assert_eq!(auth.id(), "ak_3beecc9c60adb5f9b850e91a8ee1e992");
        assert_eq!(auth.org_id(), Some("org_2xhFjEI5X2qWRvtV13BzSj8H6Dk"));
        assert_eq!(auth.user_id(), None);
        assert_eq!(auth.name(), Some("MY_SERVICE_API_KEY"));
        assert_eq!(auth.scopes(), ["read", "write"]);
        assert_eq!(auth.claims().unwrap()["foo"], "bar");
        assert_eq!(auth.expiration_ms(), None);
    }

    #[test]
    fn a_200_that_says_no_is_token_invalid() {
        let refused = |body: Vec<u8>, token_type| {
            parse_verify_answer(token_type, &body, NOW_MS)
                .unwrap_err()
                .reason()
        };
        let revoked = String::from_utf8(api_key(""))
            .unwrap()
            .replace(r#""revoked":false"#, r#""revoked":true"#);
        let expired = String::from_utf8(api_key(""))
            .unwrap()
            .replace(r#""expired":false"#, r#""expired":true"#);
        let past = String::from_utf8(api_key(""))
            .unwrap()
            .replace(r#""expiration":null"#, r#""expiration":1716883199999"#);
        for body in [revoked, expired, past] {
            assert_eq!(
                refused(body.into_bytes(), TokenType::ApiKey),
                Reason::TokenInvalid
            );
        }
        assert_eq!(
            refused(api_key(""), TokenType::M2mToken),
            Reason::TokenInvalid,
            "another object"
        );
        assert_eq!(
            refused(br#"{"active":false}"#.to_vec(), TokenType::OAuthToken),
            Reason::TokenInvalid
        );
    }

    #[test]
    fn an_unreadable_200_is_the_backend_apis_fault() {
        for body in [
            &b"[]"[..],
            b"{",
            br#"{"object":"api_key","scopes":"read"}"#,
            br#"{"a":1,"a":2}"#,
        ] {
            assert_eq!(
                parse_verify_answer(TokenType::ApiKey, body, NOW_MS)
                    .unwrap_err()
                    .reason(),
                Reason::UnexpectedError,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let no_subject = br#"{"object":"api_key","id":"ak_1"}"#;
        assert_eq!(
            parse_verify_answer(TokenType::ApiKey, no_subject, NOW_MS)
                .unwrap_err()
                .reason(),
            Reason::UnexpectedError
        );
    }

    #[test]
    fn an_opaque_oauth_token_meets_clerks_oauth_audience_rule() {
        let audience = ["https://api.example.com".to_owned()];
        let read = |aud: &str| {
            let body = format!(
                r#"{{"object":"clerk_idp_oauth_access_token",
                "id":"oat_0ef5a7a33d87ed87ee7954c845d80450",
                "client_id":"client_2xhFjEI5X2qWRvtV13BzSj8H6Dk",
                "subject":"user_2xhFjEI5X2qWRvtV13BzSj8H6Dk","scopes":["read"],
                "revoked":false,"revocation_reason":null,"expired":false,"expiration":null,
                "created_at":1716883200,"updated_at":1716883200{aud}}}"#
            );
            read_answer(
                Endpoint::of(Form::OAuthOpaque),
                body.as_bytes(),
                NOW_MS,
                &audience,
            )
            .map(|auth| auth.id().to_owned())
            .map_err(|rejection| rejection.reason())
        };
        assert!(read(r#","aud":["x","https://api.example.com"]"#).is_ok());
        for aud in [
            "",
            r#","aud":[]"#,
            r#","aud":["x"]"#,
            // One empty value fails the whole claim, as in Clerk.
            r#","aud":["https://api.example.com",""]"#,
        ] {
            assert_eq!(read(aud), Err(Reason::TokenVerificationFailed), "{aud}");
        }
    }

    #[test]
    fn the_cache_key_is_a_digest_not_the_token() {
        let key = digest("ak_secret");
        assert_ne!(&key[..9], b"ak_secret");
        assert_eq!(key, digest("ak_secret"));
        assert_ne!(key, digest("ak_secreT"));
    }
}
