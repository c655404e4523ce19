//! `Emulator` (feature `testing`): the workspace's `clerk-emulator`, a local Clerk, served on
//! a loopback port by this module's runtime, for tests of apps that use the package.
//!
//! Nothing here is reachable from `Verifier`: a verifier trusts the emulator's keys only when
//! it is configured with the emulator's JWKS URL (or its PEM key), like any other instance.

use std::sync::Mutex;
use std::time::Duration;

use clerk_emulator::machines::{NewApiKey, NewM2mToken, NewOAuthToken};
use clerk_emulator::{EmulatorServer, Endpoint, Fault, Organization, SigningKey, TokenFormat};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde_json::{Map, Value};

use crate::{json_to_py, runtime};

/// A Python value (dict, list, str, number, bool, None) as JSON, through the `json` module.
fn to_json(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    let text = value
        .py()
        .import("json")?
        .call_method1("dumps", (value,))?
        .extract::<String>()?;
    serde_json::from_str(&text).map_err(|err| PyValueError::new_err(err.to_string()))
}

fn object(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Map<String, Value>> {
    match to_json(value)? {
        Value::Object(map) => Ok(map),
        _ => Err(PyValueError::new_err(format!("{what} must be a dict"))),
    }
}

fn backend_error(err: clerk_emulator::BackendError) -> PyErr {
    PyValueError::new_err(err.to_string())
}

fn format(jwt: bool) -> TokenFormat {
    if jwt {
        TokenFormat::Jwt
    } else {
        TokenFormat::Opaque
    }
}

/// A local Clerk instance served on `127.0.0.1` (JWKS, Backend API, machine tokens), with
/// its own signing key, minting session tokens and switchable faults. For tests only.
#[pyclass(frozen, subclass, module = "clerk_verifier._native")]
struct Emulator {
    emulator: clerk_emulator::Emulator,
    base_url: String,
    jwks_url: String,
    server: Mutex<Option<EmulatorServer>>,
}

impl Emulator {
    /// The running server, or an error once `close()` was called.
    fn with_server<T>(&self, f: impl FnOnce(&EmulatorServer) -> T) -> PyResult<T> {
        let server = self
            .server
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match server.as_ref() {
            Some(server) => Ok(f(server)),
            None => Err(PyRuntimeError::new_err("the emulator was closed")),
        }
    }
}

#[pymethods]
impl Emulator {
    /// Generates a signing key and starts serving on `127.0.0.1:port` (0: a free port).
    /// `issuer` fixes `iss` (default: the base URL); `secret_key` the Backend API's key.
    #[new]
    #[pyo3(signature = (*, port = 0, issuer = None, secret_key = None))]
    fn new(
        py: Python<'_>,
        port: u16,
        issuer: Option<String>,
        secret_key: Option<String>,
    ) -> PyResult<Emulator> {
        let server = py.detach(|| {
            let mut emulator = clerk_emulator::Emulator::new();
            if let Some(issuer) = issuer {
                emulator = emulator.with_issuer(issuer);
            }
            if let Some(secret_key) = secret_key {
                emulator = emulator.with_secret_key(secret_key);
            }
            // Loopback only: the emulator's keys are for tests.
            runtime().block_on(emulator.serve(("127.0.0.1", port)))
        });
        let server = server.map_err(|err| {
            PyRuntimeError::new_err(format!("the emulator cannot listen on port {port}: {err}"))
        })?;
        Ok(Emulator {
            emulator: server.emulator().clone(),
            base_url: server.base_url().to_owned(),
            jwks_url: server.jwks_url(),
            server: Mutex::new(Some(server)),
        })
    }

    /// `http://127.0.0.1:<port>`.
    #[getter]
    fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The public JWKS URL (`CLERK_JWKS_URL`).
    #[getter]
    fn jwks_url(&self) -> &str {
        &self.jwks_url
    }

    /// The Backend API URL (`CLERK_API_URL`).
    #[getter]
    fn api_url(&self) -> &str {
        &self.base_url
    }

    /// The issuer of its tokens (`CLERK_ISSUER`).
    #[getter]
    fn issuer(&self) -> String {
        self.emulator.issuer()
    }

    /// Its secret key, `sk_test_…` (`CLERK_SECRET_KEY`).
    #[getter]
    fn secret_key(&self) -> String {
        self.emulator.secret_key()
    }

    /// Its publishable key, `pk_test_…`.
    #[getter]
    fn publishable_key(&self) -> String {
        self.emulator.publishable_key()
    }

    /// The signing secret of its webhooks, `whsec_…` (`CLERK_WEBHOOK_SIGNING_SECRET`).
    #[getter]
    fn webhook_secret(&self) -> String {
        self.emulator.webhook_secret()
    }

    /// The kid of the key new tokens are signed with.
    #[getter]
    fn current_kid(&self) -> String {
        self.emulator.current_key().kid().to_owned()
    }

    /// The kids served in the JWKS, in order.
    #[getter]
    fn published_kids(&self) -> Vec<String> {
        self.emulator
            .published_keys()
            .iter()
            .map(|key| key.kid().to_owned())
            .collect()
    }

    /// The current key's public key as SPKI PEM (`CLERK_JWT_KEY`, networkless).
    #[getter]
    fn public_key_pem(&self) -> String {
        self.emulator.current_key().public_key_pem()
    }

    /// The JWKS document served, as a dict.
    fn jwks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.emulator.jwks())
    }

    /// The `CLERK_*` variables of an app verifying this instance's tokens (JWKS URL, issuer,
    /// Backend API URL and secret key, webhook signing secret).
    fn env<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let env = PyDict::new(py);
        env.set_item("CLERK_JWKS_URL", &self.jwks_url)?;
        env.set_item("CLERK_ISSUER", self.emulator.issuer())?;
        env.set_item("CLERK_API_URL", &self.base_url)?;
        env.set_item("CLERK_SECRET_KEY", self.emulator.secret_key())?;
        env.set_item(
            "CLERK_WEBHOOK_SIGNING_SECRET",
            self.emulator.webhook_secret(),
        )?;
        Ok(env)
    }

    /// A session token of this instance, signed with the current key (or the kept key
    /// `kid`). Defaults are Clerk's: claims v2, `exp` = now + 60, `nbf` = now - 10, `azp`
    /// `http://localhost:3000`, `sts` `active`, random `user_…` and `sess_…` ids.
    ///
    /// `org_*` set the active organization (`org_permissions` as `org:<feature>:<name>`),
    /// written in the v1 or v2 shape by `claims_version`. `expires_in` (seconds from now,
    /// negative: expired), `issued_at` (mint as if at this Unix time), `exp`, `nbf`, `iat`
    /// set the times. `claims` adds or replaces claims (a value of None removes one),
    /// `header` header fields; `bad_signature=True` gives a token whose signature does not
    /// verify.
    #[pyo3(signature = (
        *,
        user_id = None,
        session_id = None,
        org_id = None,
        org_role = None,
        org_slug = None,
        org_permissions = None,
        features = None,
        plans = None,
        claims_version = 2,
        expires_in = None,
        issued_at = None,
        exp = None,
        nbf = None,
        iat = None,
        azp = None,
        issuer = None,
        status = None,
        actor = None,
        claims = None,
        header = None,
        kid = None,
        bad_signature = false,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn session_token(
        &self,
        user_id: Option<String>,
        session_id: Option<String>,
        org_id: Option<String>,
        org_role: Option<String>,
        org_slug: Option<String>,
        org_permissions: Option<Vec<String>>,
        features: Option<Vec<String>>,
        plans: Option<String>,
        claims_version: u8,
        expires_in: Option<i64>,
        issued_at: Option<i64>,
        exp: Option<i64>,
        nbf: Option<i64>,
        iat: Option<i64>,
        azp: Option<String>,
        issuer: Option<String>,
        status: Option<String>,
        actor: Option<&Bound<'_, PyAny>>,
        claims: Option<&Bound<'_, PyAny>>,
        header: Option<&Bound<'_, PyAny>>,
        kid: Option<String>,
        bad_signature: bool,
    ) -> PyResult<String> {
        let mut token = self.emulator.session_token();
        if let Some(kid) = kid {
            let key = self
                .emulator
                .key(&kid)
                .ok_or_else(|| PyValueError::new_err(format!("no key with kid {kid:?}")))?;
            token = token.key(&key);
        }
        if let Some(at) = issued_at {
            token = token.at(at);
        }
        token = match claims_version {
            1 => token.v1(),
            2 => token.v2(),
            _ => return Err(PyValueError::new_err("claims_version is 1 or 2")),
        };
        if let Some(v) = user_id {
            token = token.user(v);
        }
        if let Some(v) = session_id {
            token = token.session(v);
        }
        match org_id {
            Some(id) => {
                let mut org = Organization::new(id);
                if let Some(slug) = org_slug {
                    org = org.slug(slug);
                }
                if let Some(role) = org_role {
                    org = org.role(role);
                }
                org = org.permissions(org_permissions.unwrap_or_default());
                token = token.organization(org);
            }
            None if org_role.is_some() || org_slug.is_some() || org_permissions.is_some() => {
                return Err(PyValueError::new_err(
                    "org_role, org_slug and org_permissions need org_id",
                ));
            }
            None => {}
        }
        if let Some(v) = features {
            token = token.features(v);
        }
        if let Some(v) = plans {
            token = token.plans(v);
        }
        if let Some(v) = expires_in {
            token = token.expires_in(v);
        }
        if let Some(v) = exp {
            token = token.exp(v);
        }
        if let Some(v) = nbf {
            token = token.nbf(v);
        }
        if let Some(v) = iat {
            token = token.iat(v);
        }
        if let Some(v) = azp {
            token = token.azp(v);
        }
        if let Some(v) = issuer {
            token = token.issuer(v);
        }
        if let Some(v) = status {
            token = token.status(v);
        }
        if let Some(v) = actor {
            token = token.actor(to_json(v)?);
        }
        if let Some(claims) = claims {
            for (name, value) in object(claims, "claims")? {
                token = match value {
                    Value::Null => token.remove_claim(&name),
                    value => token.claim(&name, value),
                };
            }
        }
        if let Some(header) = header {
            for (name, value) in object(header, "header")? {
                token = match value {
                    Value::Null => token.remove_header(&name),
                    value => token.header(&name, value),
                };
            }
        }
        if bad_signature {
            let length = self.emulator.current_key().bits() / 8;
            token = token.signature_bytes(vec![0x5a; length]);
        }
        let compact = token
            .try_compact()
            .map_err(|err| PyValueError::new_err(err.to_string()))?;
        Ok(compact.to_string())
    }

    /// A key rotation: generates a key, publishes it and signs new tokens with it (the old
    /// key stays published until `retire_key`). Returns the new kid.
    fn rotate(&self, py: Python<'_>) -> String {
        let key = py.detach(|| SigningKey::generate(clerk_emulator::DEFAULT_KEY_BITS));
        self.emulator.rotate_to(&key);
        key.kid().to_owned()
    }

    /// Generates a key and publishes it, without signing with it. Returns its kid.
    fn add_key(&self, py: Python<'_>) -> String {
        let key = py.detach(|| SigningKey::generate(clerk_emulator::DEFAULT_KEY_BITS));
        self.emulator.add_key(&key);
        key.kid().to_owned()
    }

    /// Removes a key from the JWKS (tokens can still be minted with it). `False` if it was
    /// not published.
    fn retire_key(&self, kid: &str) -> bool {
        self.emulator.retire_key(kid)
    }

    /// Publishes a retired key again. `False` if unknown or already published.
    fn publish_key(&self, kid: &str) -> bool {
        self.emulator.publish_key(kid)
    }

    /// Signs new tokens with this kept key. `False` if unknown.
    fn set_current(&self, kid: &str) -> bool {
        self.emulator.set_current(kid)
    }

    /// Makes an endpoint misbehave: `fault` is None (answer normally), `"status"` (answer
    /// with the HTTP status `value`), `"delay"` (answer normally after `value` seconds),
    /// `"hang"` (never answer), `"garbage"` (200, not JSON) or `"empty-keys"` (200,
    /// `{"keys": []}`). `endpoint`: `"jwks"` (both JWKS routes), `"backend"` (the Backend
    /// API routes) or `"machine-verify"` (the machine-token verify routes).
    #[pyo3(signature = (fault, value = None, *, endpoint = "jwks"))]
    fn set_fault(&self, fault: Option<&str>, value: Option<f64>, endpoint: &str) -> PyResult<()> {
        let fault =
            match (fault, value) {
                (None | Some("none"), None) => Fault::None,
                (Some("status"), Some(status)) if (100.0..=599.0).contains(&status) => {
                    Fault::Status(status as u16)
                }
                (Some("delay"), Some(secs)) if secs.is_finite() && secs >= 0.0 => {
                    Fault::Delay(Duration::from_secs_f64(secs))
                }
                (Some("hang"), None) => Fault::Hang,
                (Some("garbage"), None) => Fault::Garbage,
                (Some("empty-keys"), None) => Fault::EmptyKeys,
                _ => return Err(PyValueError::new_err(
                    "fault is None, \"status\" with a status, \"delay\" with seconds, \"hang\", \
                     \"garbage\" or \"empty-keys\"",
                )),
            };
        let endpoints: &[Endpoint] = match endpoint {
            "jwks" => &Endpoint::JWKS,
            "backend" => &[Endpoint::BackendApi],
            "machine-verify" => &Endpoint::MACHINE_VERIFY,
            _ => {
                return Err(PyValueError::new_err(
                    "endpoint is \"jwks\", \"backend\" or \"machine-verify\"",
                ))
            }
        };
        self.with_server(|server| {
            for endpoint in endpoints {
                server.set_endpoint_fault(*endpoint, fault.clone());
            }
        })
    }

    /// Requests received by the JWKS routes (faulted ones included).
    #[getter]
    fn jwks_requests(&self) -> PyResult<u64> {
        self.with_server(EmulatorServer::jwks_requests)
    }

    /// Requests received by the machine-token verify routes.
    #[getter]
    fn machine_verify_requests(&self) -> PyResult<u64> {
        self.with_server(EmulatorServer::machine_verify_requests)
    }

    /// Sets the request counters back to zero.
    fn reset_counters(&self) -> PyResult<()> {
        self.with_server(EmulatorServer::reset_counters)
    }

    /// Creates an API key for `subject` (`user_…` or `org_…`): Clerk's APIKey object as a
    /// dict, with its `secret` (the bearer token).
    #[pyo3(signature = (subject, *, name = "test-key", scopes = None, claims = None, expires_in = None))]
    fn create_api_key<'py>(
        &self,
        py: Python<'py>,
        subject: &str,
        name: &str,
        scopes: Option<Vec<String>>,
        claims: Option<&Bound<'_, PyAny>>,
        expires_in: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut key = NewApiKey::new(subject, name).scopes(scopes.unwrap_or_default());
        if let Some(claims) = claims {
            key = key.claims(to_json(claims)?);
        }
        if let Some(secs) = expires_in {
            key = key.seconds_until_expiration(secs);
        }
        let created = self.emulator.create_api_key(key).map_err(backend_error)?;
        json_to_py(py, &created.to_json())
    }

    /// Revokes an API key (by id, `ak_…`): verification refuses it from now on.
    fn revoke_api_key(&self, id: &str) -> PyResult<()> {
        self.emulator
            .revoke_api_key(id, None)
            .map(drop)
            .map_err(backend_error)
    }

    /// Creates a machine (`mch_…`) that may talk to the machines in `scopes`: a dict with its
    /// `id`, `name`, `secret_key` (`CLERK_MACHINE_SECRET_KEY`) and `scopes`.
    #[pyo3(signature = (name, *, scopes = None))]
    fn create_machine<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        scopes: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let scopes = scopes.unwrap_or_default();
        let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let machine = self
            .emulator
            .create_machine(name, &scopes)
            .map_err(backend_error)?;
        let dict = PyDict::new(py);
        dict.set_item("id", &machine.id)?;
        dict.set_item("name", &machine.name)?;
        dict.set_item("secret_key", &machine.secret_key)?;
        dict.set_item("scopes", &machine.scopes)?;
        Ok(dict)
    }

    /// Creates an M2M token for machine `machine_id` (`mt_…`, or a JWT with `jwt=True`):
    /// Clerk's M2M token object as a dict, with its `token`.
    #[pyo3(signature = (machine_id, *, jwt = false, expires_in = None, claims = None))]
    fn create_m2m_token<'py>(
        &self,
        py: Python<'py>,
        machine_id: &str,
        jwt: bool,
        expires_in: Option<i64>,
        claims: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut token = NewM2mToken::new().format(format(jwt));
        if let Some(secs) = expires_in {
            token = token.seconds_until_expiration(secs);
        }
        if let Some(claims) = claims {
            token = token.claims(to_json(claims)?);
        }
        let created = self
            .emulator
            .create_m2m_token(machine_id, token)
            .map_err(backend_error)?;
        json_to_py(py, &created.to_json())
    }

    /// Creates an OAuth access token for `subject` (`oat_…`, or a JWT with `jwt=True`): a
    /// dict with its `token`.
    #[pyo3(signature = (subject, *, scopes = None, jwt = false, expires_in = None))]
    fn create_oauth_access_token<'py>(
        &self,
        py: Python<'py>,
        subject: &str,
        scopes: Option<Vec<String>>,
        jwt: bool,
        expires_in: Option<i64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut token = NewOAuthToken::new(subject)
            .scopes(scopes.unwrap_or_default())
            .format(format(jwt));
        if let Some(secs) = expires_in {
            token = token.seconds_until_expiration(secs);
        }
        let created = self
            .emulator
            .create_oauth_access_token(token)
            .map_err(backend_error)?;
        let dict = PyDict::new(py);
        dict.set_item("id", &created.oauth_token.id)?;
        dict.set_item("token", &created.token)?;
        Ok(dict)
    }

    /// The headers of a webhook delivery of `body` signed with this instance's webhook
    /// secret (`svix-id`, `svix-timestamp`, `svix-signature`, `content-type`), to post to
    /// an app's webhook endpoint. `timestamp` defaults to now (Unix seconds).
    #[pyo3(signature = (body, *, msg_id = "msg_test", timestamp = None))]
    fn sign_webhook<'py>(
        &self,
        py: Python<'py>,
        body: &Bound<'_, PyAny>,
        msg_id: &str,
        timestamp: Option<i64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let body = match body.cast::<PyString>() {
            Ok(text) => text.to_str()?.to_owned(),
            Err(_) => String::from_utf8(body.extract::<Vec<u8>>()?)
                .map_err(|_| PyValueError::new_err("the body is not UTF-8"))?,
        };
        let timestamp = timestamp.unwrap_or_else(clerk_emulator::unix_now);
        let signed = self.emulator.sign_webhook(msg_id, timestamp, body);
        let dict = PyDict::new(py);
        for (name, value) in signed.headers() {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    /// Stops serving (idempotent). Its tokens stay verifiable by a verifier holding its keys.
    fn close(&self, py: Python<'_>) {
        let server = self
            .server
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(server) = server {
            py.detach(|| runtime().block_on(server.shutdown()));
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "Emulator(base_url={:?}, current_kid={:?})",
            self.base_url,
            self.emulator.current_key().kid()
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Emulator>()
}
