//! The client: configuration, headers, one request with its retries, and the helpers the
//! resource modules (`users`, `organizations`, `sessions`) build their requests with. It names
//! no resource: each resource module adds its own accessor to [`Client`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use reqwest::{Method, Url};
use ring::rand::{SecureRandom, SystemRandom};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{ConfigError, Error};

/// The Backend API's base URL.
pub const DEFAULT_API_URL: &str = "https://api.clerk.com";
/// The default time one attempt may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default number of retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// The first backoff pause; each retry doubles it (with jitter), up to [`MAX_BACKOFF`].
pub const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// The longest backoff pause.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The longest `Retry-After` the client waits for; a longer one is returned as the error.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The environment variable holding the secret key.
pub const SECRET_KEY_ENV: &str = "CLERK_SECRET_KEY";
/// The environment variable holding the API URL.
pub const API_URL_ENV: &str = "CLERK_API_URL";

/// `User-Agent` of every request.
const CLIENT_USER_AGENT: &str = concat!("clerk-backend-rs/", env!("CARGO_PKG_VERSION"));

/// A Clerk Backend API client. Cheap to clone (clones share the connection pool).
///
/// Every request carries `Authorization: Bearer <secret key>`, `Clerk-API-Version`
/// ([`clerk_types::CLERK_API_VERSION`]) and `User-Agent: clerk-backend-rs/<version>`.
///
/// **Retries.** A request is tried again, up to [`ClientBuilder::max_retries`] times, after a
/// pause of [`BACKOFF_BASE`] doubled per retry, with jitter (half to all of it):
/// - `GET`, `PUT` and `DELETE`, which are idempotent: on 5xx answers, timeouts and any
///   connection failure;
/// - every method, `POST` and `PATCH` included: on 429 (a rate-limited request was not acted
///   on), waiting for `Retry-After` when it says so (up to [`MAX_RETRY_AFTER`]; longer, the
///   429 is returned at once), and when the connection could not be established (nothing
///   was sent);
/// - never on other 4xx answers.
///
/// `POST` and `PATCH` are not retried on 5xx or timeouts because the request may have taken
/// effect.
///
/// The secret key appears in no `Debug` output and no error message.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_url: Url,
    authorization: HeaderValue,
    timeout: Duration,
    max_retries: u32,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("api_url", &self.inner.api_url.as_str())
            .field("secret_key", &"[redacted]")
            .field("timeout", &self.inner.timeout)
            .field("max_retries", &self.inner.max_retries)
            .finish()
    }
}

/// Configures a [`Client`].
///
/// ```
/// use std::time::Duration;
/// let client = clerk_backend::Client::builder()
///     .secret_key("sk_test_...")
///     .api_url("https://api.clerk.com")
///     .timeout(Duration::from_secs(5))
///     .max_retries(2)
///     .build()?;
/// # Ok::<(), clerk_backend::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct ClientBuilder {
    secret_key: Option<String>,
    api_url: Option<String>,
    timeout: Option<Duration>,
    max_retries: Option<u32>,
    http_client: Option<reqwest::Client>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "[redacted]"),
            )
            .field("api_url", &self.api_url)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The instance's secret key, `sk_live_…` or `sk_test_…` (required).
    pub fn secret_key(mut self, secret_key: impl Into<String>) -> Self {
        self.secret_key = Some(secret_key.into());
        self
    }

    /// The API base URL (default [`DEFAULT_API_URL`]); requests go to `<api_url>/v1/…`. It
    /// must be `https://`, or `http://` on a loopback host (the emulator, tests).
    pub fn api_url(mut self, api_url: impl Into<String>) -> Self {
        self.api_url = Some(api_url.into());
        self
    }

    /// How long one attempt may take, connecting included (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many times a failed request may be retried (default [`DEFAULT_MAX_RETRIES`];
    /// 0 disables retries).
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = Some(max_retries);
        self
    }

    /// The HTTP client to use (proxies, custom CAs, connection pool shared with the rest of
    /// the application). The timeout set here still applies per request.
    pub fn http_client(mut self, http_client: reqwest::Client) -> Self {
        self.http_client = Some(http_client);
        self
    }

    /// Checks the configuration and builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] with a [`ConfigError`] when the secret key is missing, empty or not
    /// header-safe, or the API URL is invalid, plain `http://` on a non-loopback host, or has
    /// a query or a fragment.
    pub fn build(self) -> Result<Client, Error> {
        let secret_key = self.secret_key.ok_or(ConfigError::MissingSecretKey)?;
        let secret_key = secret_key.trim();
        if secret_key.is_empty() {
            return Err(ConfigError::EmptySecretKey.into());
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {secret_key}"))
            .ok()
            .filter(|_| secret_key.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or(ConfigError::InvalidSecretKey)?;
        authorization.set_sensitive(true);

        let given = self
            .api_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .unwrap_or(DEFAULT_API_URL);
        let mut api_url =
            clerk_types::check_fetch_url(given).map_err(ConfigError::InvalidApiUrl)?;
        if api_url.query().is_some() || api_url.fragment().is_some() {
            return Err(ConfigError::ApiUrlNotABase {
                url: given.to_owned(),
            }
            .into());
        }
        // `<base>/v1/...` whether or not the base ends with a slash.
        if let Ok(mut segments) = api_url.path_segments_mut() {
            segments.pop_if_empty();
        }

        let http = match self.http_client {
            Some(http) => http,
            None => reqwest::Client::builder()
                .build()
                .map_err(|e| ConfigError::HttpClient(e.to_string()))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                api_url,
                authorization,
                timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
                max_retries: self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            }),
        })
    }
}

/// What one attempt came to.
enum Outcome {
    Done(Result<Vec<u8>, Error>),
    /// Worth another try after this pause (`None`: the backoff pause).
    Retry(Error, Option<Duration>),
}

impl Client {
    /// A client with default settings for this secret key.
    ///
    /// # Errors
    /// As [`ClientBuilder::build`].
    pub fn new(secret_key: impl Into<String>) -> Result<Client, Error> {
        Client::builder().secret_key(secret_key).build()
    }

    /// A builder for other settings.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client from `CLERK_SECRET_KEY` and, if set and not blank, `CLERK_API_URL` (see
    /// [`Client::from_vars`]).
    ///
    /// # Errors
    /// As [`Client::from_vars`].
    pub fn from_env() -> Result<Client, Error> {
        Client::from_vars(|name| std::env::var(name).ok())
    }

    /// A client from the variables `lookup` gives: [`SECRET_KEY_ENV`] and, if set and not
    /// blank, [`API_URL_ENV`] (else [`DEFAULT_API_URL`]). [`Client::from_env`] looks them up
    /// in the process environment; tests and configuration layers pass their own lookup.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let vars = HashMap::from([
    ///     ("CLERK_SECRET_KEY", "sk_test_..."),
    ///     ("CLERK_API_URL", "http://127.0.0.1:4000"),
    /// ]);
    /// let client = clerk_backend::Client::from_vars(|name| vars.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(client.api_url(), "http://127.0.0.1:4000/");
    /// # Ok::<(), clerk_backend::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::MissingSecretKey`] when `CLERK_SECRET_KEY` is unset or blank, else as
    /// [`ClientBuilder::build`].
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Client, Error> {
        let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let secret_key = var(SECRET_KEY_ENV).ok_or(ConfigError::MissingSecretKey)?;
        let mut builder = Client::builder().secret_key(secret_key);
        if let Some(api_url) = var(API_URL_ENV) {
            builder = builder.api_url(api_url);
        }
        builder.build()
    }

    /// The API base URL requests go to.
    pub fn api_url(&self) -> &str {
        self.inner.api_url.as_str()
    }

    /// The instance's JWKS, `GET /v1/jwks`, as raw JSON (`{"keys": [...]}`). To verify
    /// tokens, use `clerk-auth`, which caches keys.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn jwks(&self) -> Result<Value, Error> {
        self.get(&["jwks"], &[]).await
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.inner.api_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.push("v1").extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, Error> {
        self.call(Method::GET, segments, query, None).await
    }

    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: &impl Serialize,
    ) -> Result<T, Error> {
        let body = serde_json::to_vec(body).map_err(Error::Decode)?;
        self.call(method, segments, &[], Some(body)).await
    }

    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<T, Error> {
        let url = self.url(segments, query);
        let bytes = self.with_retries(&method, &url, body.as_deref()).await?;
        let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"null".as_slice()
        } else {
            &bytes
        };
        serde_json::from_slice(bytes).map_err(Error::Decode)
    }

    async fn with_retries(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&[u8]>,
    ) -> Result<Vec<u8>, Error> {
        let mut retries = 0;
        loop {
            match self.attempt(method, url, body).await {
                Outcome::Done(result) => return result,
                Outcome::Retry(error, _) if retries >= self.inner.max_retries => return Err(error),
                Outcome::Retry(_, pause) => {
                    tokio::time::sleep(pause.unwrap_or_else(|| backoff(retries))).await;
                    retries += 1;
                }
            }
        }
    }

    async fn attempt(&self, method: &Method, url: &Url, body: Option<&[u8]>) -> Outcome {
        let idempotent = matches!(
            *method,
            Method::GET | Method::PUT | Method::DELETE | Method::HEAD
        );
        let mut request = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .timeout(self.inner.timeout)
            .header(AUTHORIZATION, self.inner.authorization.clone())
            .header("Clerk-API-Version", clerk_types::CLERK_API_VERSION)
            .header(USER_AGENT, CLIENT_USER_AGENT)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) if error.is_connect() || (idempotent && !error.is_builder()) => {
                return Outcome::Retry(Error::Http(error), None)
            }
            Err(error) => return Outcome::Done(Err(Error::Http(error))),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes.to_vec(),
            Err(error) if idempotent => return Outcome::Retry(Error::Http(error), None),
            Err(error) => return Outcome::Done(Err(Error::Http(error))),
        };
        if status.is_success() {
            return Outcome::Done(Ok(bytes));
        }
        let error = Error::from_response(status.as_u16(), &headers, &bytes);
        if status.as_u16() == 429 {
            return match error.retry_after() {
                Some(wait) if wait > MAX_RETRY_AFTER => Outcome::Done(Err(error)),
                wait => Outcome::Retry(error, wait),
            };
        }
        if status.is_server_error() && idempotent {
            return Outcome::Retry(error, None);
        }
        Outcome::Done(Err(error))
    }
}

/// An object id as a path segment; an empty one would address another endpoint.
pub(crate) fn segment(id: &str) -> Result<&str, Error> {
    if id.is_empty() {
        return Err(Error::InvalidArgument("an object id must not be empty"));
    }
    Ok(id)
}

/// Adds `name=value` to a query when the value is set.
pub(crate) fn push<T: ToString>(
    pairs: &mut Vec<(&'static str, String)>,
    name: &'static str,
    value: Option<T>,
) {
    if let Some(value) = value {
        pairs.push((name, value.to_string()));
    }
}

/// The pause before retry number `retry + 1`: [`BACKOFF_BASE`] × 2^retry, capped at
/// [`MAX_BACKOFF`], then a random half to all of it, so that clients failing together do
/// not retry together.
fn backoff(retry: u32) -> Duration {
    let full = BACKOFF_BASE
        .saturating_mul(1 << retry.min(16))
        .min(MAX_BACKOFF);
    let mut byte = [0u8; 1];
    // Without randomness, the full pause is still a correct backoff.
    let fraction = SystemRandom::new()
        .fill(&mut byte)
        .map_or(1.0, |()| 0.5 + f64::from(byte[0]) / 510.0);
    full.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        for retry in 0..20 {
            let full = BACKOFF_BASE
                .saturating_mul(1 << retry.min(16))
                .min(MAX_BACKOFF);
            let pause = backoff(retry);
            assert!(pause >= full / 2 && pause <= full, "{retry}: {pause:?}");
        }
    }

    #[test]
    fn urls_are_built_under_v1_with_encoded_segments() {
        let client = Client::builder()
            .secret_key("sk_test_x")
            .api_url("https://proxy.example.com/clerk/")
            .build()
            .unwrap();
        let url = client.url(
            &["users", "user_1/../x?y"],
            &[("user_id", "a&b".into()), ("user_id", "c".into())],
        );
        assert_eq!(
            url.as_str(),
            "https://proxy.example.com/clerk/v1/users/user_1%2F..%2Fx%3Fy?user_id=a%26b&user_id=c"
        );
        let client = Client::new("sk_test_x").unwrap();
        assert_eq!(
            client.url(&["jwks"], &[]).as_str(),
            "https://api.clerk.com/v1/jwks"
        );
    }
}
