//! `clerk_verifier._native`: `clerk-auth`'s verifier as a Python extension module.
//!
//! Thin on purpose: every decision (which token, which key, which claims, which reason) is
//! `clerk-auth`'s. This module converts arguments and results, and decides only *where* a
//! verification runs:
//!
//! * A verification is first polled once on the calling thread. A verified-token cache hit,
//!   or any verification with a PEM key, completes there: a plain synchronous call.
//! * When it cannot complete (a key must be fetched), the same future is handed to a tokio
//!   runtime owned by this module, and the caller either waits for it with the GIL released
//!   (`verify`) or gets a `Pending` to wait on from a worker thread (what the Python
//!   package's `verify_async` does, so the event loop never blocks).
//!
//! Every call enters the module's runtime, so `clerk-auth`'s background key refresh (which
//! spawns on the current runtime) runs as it does in a Rust service.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use clerk_auth::{
    Accepts, Caller, Check, MachineAuth, Rejection, Reverification, SessionClaims, TokenType,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use pyo3::exceptions::{PyException, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyType};
use serde_json::Value;
use tokio::task::JoinHandle;

#[cfg(feature = "testing")]
mod emulator;
mod webhook;

pyo3::create_exception!(
    _native,
    ClerkAuthError,
    PyException,
    "A refused token: `.reason` is Clerk's reason string, `.status` the HTTP status it maps to \
     (401, or 503 when no key could be had), `.message` a sentence for humans."
);

/// The module's runtime: one worker thread runs key fetches and background refreshes.
///
/// One per process: after `fork()` (gunicorn with `--preload`, multiprocessing's `fork`
/// context) the child has none of the parent's threads, so the parent's runtime would never
/// run a task again. A child notices the new process id and starts its own runtime; the
/// parent's copy is left alone (never dropped: its threads do not exist here to be joined).
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: Mutex<Option<(u32, &'static tokio::runtime::Runtime)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut current = RUNTIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match *current {
        Some((owner, rt)) if owner == pid => rt,
        _ => {
            let rt: &'static tokio::runtime::Runtime = Box::leak(Box::new(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("clerk-verifier")
                    .enable_all()
                    .build()
                    .expect("cannot start the clerk-verifier runtime"),
            ));
            *current = Some((pid, rt));
            rt
        }
    }
}

type Verification<T> = Pin<Box<dyn Future<Output = Result<T, Rejection>> + Send>>;

/// What one synchronous poll of a verification gave.
enum Started<T> {
    Done(Result<T, Rejection>),
    Waiting(JoinHandle<Result<T, Rejection>>),
}

/// Polls `fut` once on this thread (inside the runtime, so it can spawn and set timers); when
/// it is not finished, moves it to the runtime, where it runs to completion.
fn start<T: Send + 'static>(mut fut: Verification<T>) -> Started<T> {
    let rt = runtime();
    let _guard = rt.enter();
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(result) => Started::Done(result),
        // Polled again by the runtime, with its own waker.
        Poll::Pending => Started::Waiting(rt.spawn(fut)),
    }
}

/// Waits for a verification moved to the runtime, with the GIL released.
fn wait<T: Send + 'static>(
    py: Python<'_>,
    handle: JoinHandle<Result<T, Rejection>>,
) -> PyResult<Result<T, Rejection>> {
    py.detach(|| runtime().block_on(handle))
        .map_err(|err| PyRuntimeError::new_err(format!("the verification task failed: {err}")))
}

fn rejection_error(py: Python<'_>, rejection: &Rejection) -> PyErr {
    let reason = rejection.reason();
    let status: u16 = if reason.is_unavailable() { 503 } else { 401 };
    let err = ClerkAuthError::new_err(rejection.message().to_owned());
    let value = err.value(py);
    let set = || -> PyResult<()> {
        value.setattr("reason", reason.as_str())?;
        value.setattr("status", status)?;
        value.setattr("message", rejection.message())?;
        Ok(())
    };
    match set() {
        Ok(()) => err,
        Err(other) => other,
    }
}

fn config_error(err: clerk_auth::ConfigError) -> PyErr {
    PyValueError::new_err(err.to_string())
}

/// Which headers [`header_map`] keeps.
#[derive(Clone, Copy)]
pub(crate) enum Keep {
    /// Every header (a webhook's signature covers `svix-*`/`webhook-*` headers).
    All,
    /// `Authorization` and `Cookie`: all that finding a session token reads
    /// (`clerk_auth::request`). The others are not converted at all, so a request with many
    /// headers costs no more than one with two.
    Credentials,
}

impl Keep {
    fn keeps(self, name: &[u8]) -> bool {
        match self {
            Keep::All => true,
            Keep::Credentials => {
                name.eq_ignore_ascii_case(b"authorization") || name.eq_ignore_ascii_case(b"cookie")
            }
        }
    }
}

/// A header name or value given as `str` or as `bytes`, as its bytes (a `str` as UTF-8).
fn header_part<'a>(part: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    if let Ok(bytes) = part.cast::<PyBytes>() {
        return Ok(bytes.as_bytes());
    }
    match part.cast::<PyString>() {
        Ok(text) => Ok(text.to_str()?.as_bytes()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "a header name or value must be str or bytes, not {}",
            part.get_type().name()?
        ))),
    }
}

/// A `headers` argument as a `HeaderMap`: a mapping (its `items()`, so Starlette's `Headers`
/// keeps repeated headers) or an iterable of `(name, value)` pairs, each `str` or `bytes`: an
/// ASGI scope's `scope["headers"]` is read as it is, with nothing decoded in Python. Headers
/// that are not valid HTTP are left out, as a server would have refused them.
pub(crate) fn header_map(headers: &Bound<'_, PyAny>, keep: Keep) -> PyResult<HeaderMap> {
    // A list (an ASGI scope's) is taken as it is without asking for `items`: a failed
    // attribute lookup raises and clears an AttributeError, which would cost more than the
    // rest of a cached verification.
    let pairs = if headers.is_instance_of::<PyList>() || !headers.hasattr("items")? {
        headers.clone()
    } else {
        headers.call_method0("items")?
    };
    let mut map = HeaderMap::new();
    for pair in pairs.try_iter()? {
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair?.extract()?;
        let name = header_part(&name)?;
        if !keep.keeps(name) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(header_part(&value)?),
        ) {
            map.append(name, value);
        }
    }
    Ok(map)
}

pub(crate) fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => object_to_py(py, map)?.into_any(),
    })
}

pub(crate) fn object_to_py<'py>(
    py: Python<'py>,
    map: &serde_json::Map<String, Value>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in map {
        dict.set_item(key, json_to_py(py, value)?)?;
    }
    Ok(dict)
}

/// A token type by Clerk's name.
fn token_type(name: &str) -> PyResult<TokenType> {
    TokenType::from_name(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown token type {name:?} (session_token, api_key, m2m_token or oauth_token)"
        ))
    })
}

/// `accepts_token`: `"any"`, one type, or a list of types, as in Clerk's SDKs.
fn accepts(arg: Option<&Bound<'_, PyAny>>) -> PyResult<Accepts> {
    let Some(arg) = arg.filter(|arg| !arg.is_none()) else {
        return Ok(Accepts::SESSION);
    };
    if let Ok(name) = arg.extract::<String>() {
        if name == "any" {
            return Ok(Accepts::ANY);
        }
        return Ok(Accepts::only(token_type(&name)?));
    }
    let names: Vec<String> = arg.extract().map_err(|_| {
        PyTypeError::new_err("accepts_token is \"any\", a token type or a list of token types")
    })?;
    let types = names
        .iter()
        .map(|name| token_type(name))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(Accepts::of(&types))
}

/// A session token's verifier, configured like `clerk_auth::VerifierBuilder`. Subclassed in
/// Python by `clerk_verifier.Verifier` (which adds the `async` methods).
#[pyclass(frozen, subclass, module = "clerk_verifier._native")]
struct Verifier {
    options: Options,
    /// The process that built `inner`, and `inner`.
    inner: Mutex<(u32, clerk_auth::Verifier)>,
}

/// The options a verifier was built with, kept to build it again in a child after `fork()`.
#[derive(Clone)]
struct Options {
    env: Option<HashMap<String, String>>,
    jwt_key: Option<String>,
    jwks_url: Option<String>,
    secret_key: Option<String>,
    api_url: Option<String>,
    publishable_key: Option<String>,
    issuer: Option<String>,
    authorized_parties: Option<Vec<String>>,
    audience: Option<Vec<String>>,
    clock_skew_ms: Option<u64>,
    treat_pending_as_signed_out: Option<bool>,
    token_cache_capacity: Option<usize>,
    background_refresh: Option<bool>,
    machine_secret_key: Option<String>,
    machine_id: Option<String>,
    jwks_refresh_secs: Option<u64>,
    jwks_max_staleness_secs: Option<u64>,
    jwks_unknown_kid_interval_ms: Option<u64>,
    jwks_timeout_ms: Option<u64>,
}

impl Options {
    fn build(&self) -> Result<clerk_auth::Verifier, clerk_auth::ConfigError> {
        let o = self.clone();
        // `env=True`: the `CLERK_*` variables first, then the options given here. The key
        // cache's options are given to `from_vars` as the variables they stand for, so that
        // they are read (and checked) by clerk-auth alone, and override the environment's.
        let mut vars = o.env.clone().unwrap_or_default();
        for (name, value) in [
            ("CLERK_JWKS_REFRESH_SECS", o.jwks_refresh_secs),
            ("CLERK_JWKS_MAX_STALENESS_SECS", o.jwks_max_staleness_secs),
            (
                "CLERK_JWKS_UNKNOWN_KID_INTERVAL_MS",
                o.jwks_unknown_kid_interval_ms,
            ),
            ("CLERK_JWKS_TIMEOUT_MS", o.jwks_timeout_ms),
        ] {
            if let Some(value) = value {
                vars.insert(name.to_owned(), value.to_string());
            }
        }
        let mut builder = clerk_auth::VerifierBuilder::from_vars(|name| vars.get(name).cloned())?;
        if let Some(v) = o.jwt_key {
            builder = builder.jwt_key(v);
        }
        if let Some(v) = o.jwks_url {
            builder = builder.jwks_url(v);
        }
        if let Some(v) = o.secret_key {
            builder = builder.secret_key(v);
        }
        if let Some(v) = o.api_url {
            builder = builder.api_url(v);
        }
        if let Some(v) = o.publishable_key {
            builder = builder.publishable_key(v);
        }
        if let Some(v) = o.issuer {
            builder = builder.issuer(v);
        }
        if let Some(v) = o.authorized_parties {
            builder = builder.authorized_parties(v);
        }
        if let Some(v) = o.audience {
            builder = builder.audience(v);
        }
        if let Some(v) = o.clock_skew_ms {
            builder = builder.clock_skew(Duration::from_millis(v));
        }
        if let Some(v) = o.treat_pending_as_signed_out {
            builder = builder.treat_pending_as_signed_out(v);
        }
        if let Some(v) = o.token_cache_capacity {
            builder = builder.token_cache_capacity(v);
        }
        if let Some(v) = o.background_refresh {
            builder = builder.background_refresh(v);
        }
        if let Some(v) = o.machine_secret_key {
            builder = builder.machine_secret_key(v);
        }
        if let Some(v) = o.machine_id {
            builder = builder.machine_id(v);
        }
        // Inside the runtime: the builder may start a key prefetch and a background refresh.
        let _guard = runtime().enter();
        builder.build()
    }
}

impl Verifier {
    /// The verifier of this process. In a child after `fork()`, the parent's may be waiting
    /// for a key fetch that ran on a thread the child does not have: the child builds its
    /// own (with its own key cache) from the same options, once.
    fn current(&self) -> PyResult<clerk_auth::Verifier> {
        let pid = std::process::id();
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if inner.0 != pid {
            *inner = (pid, self.options.build().map_err(config_error)?);
        }
        Ok(inner.1.clone())
    }

    fn session<'py>(
        &self,
        py: Python<'py>,
        fut: Verification<Arc<SessionClaims>>,
    ) -> PyResult<Auth> {
        let result = match start(fut) {
            Started::Done(result) => result,
            Started::Waiting(handle) => wait(py, handle)?,
        };
        result
            .map(|claims| Auth { claims })
            .map_err(|rejection| rejection_error(py, &rejection))
    }

    fn verify_future(&self, token: String) -> PyResult<Verification<Arc<SessionClaims>>> {
        let verifier = self.current()?;
        Ok(Box::pin(async move { verifier.verify(&token).await }))
    }

    fn request_future(&self, headers: HeaderMap) -> PyResult<Verification<Arc<SessionClaims>>> {
        let verifier = self.current()?;
        Ok(Box::pin(
            async move { verifier.verify_request(&headers).await },
        ))
    }

    fn pending_or_auth(
        &self,
        py: Python<'_>,
        fut: Verification<Arc<SessionClaims>>,
    ) -> PyResult<Py<PyAny>> {
        match start(fut) {
            Started::Done(Ok(claims)) => Ok(Py::new(py, Auth { claims })?.into_any()),
            Started::Done(Err(rejection)) => Err(rejection_error(py, &rejection)),
            Started::Waiting(handle) => Ok(Py::new(
                py,
                Pending {
                    handle: Mutex::new(Some(PendingHandle::Session(handle))),
                },
            )?
            .into_any()),
        }
    }
}

#[pymethods]
impl Verifier {
    #[new]
    #[pyo3(signature = (
        *,
        env = false,
        jwt_key = None,
        jwks_url = None,
        secret_key = None,
        api_url = None,
        publishable_key = None,
        issuer = None,
        authorized_parties = None,
        audience = None,
        clock_skew_ms = None,
        treat_pending_as_signed_out = None,
        token_cache_capacity = None,
        background_refresh = None,
        machine_secret_key = None,
        machine_id = None,
        jwks_refresh_secs = None,
        jwks_max_staleness_secs = None,
        jwks_unknown_kid_interval_ms = None,
        jwks_timeout_ms = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        env: bool,
        jwt_key: Option<String>,
        jwks_url: Option<String>,
        secret_key: Option<String>,
        api_url: Option<String>,
        publishable_key: Option<String>,
        issuer: Option<String>,
        authorized_parties: Option<Vec<String>>,
        audience: Option<Vec<String>>,
        clock_skew_ms: Option<u64>,
        treat_pending_as_signed_out: Option<bool>,
        token_cache_capacity: Option<usize>,
        background_refresh: Option<bool>,
        machine_secret_key: Option<String>,
        machine_id: Option<String>,
        jwks_refresh_secs: Option<u64>,
        jwks_max_staleness_secs: Option<u64>,
        jwks_unknown_kid_interval_ms: Option<u64>,
        jwks_timeout_ms: Option<u64>,
    ) -> PyResult<Verifier> {
        let options = Options {
            // A snapshot: a verifier rebuilt after fork() has the configuration it had.
            env: env.then(|| {
                std::env::vars()
                    .filter(|(name, _)| name.starts_with("CLERK_"))
                    .collect()
            }),
            jwt_key,
            jwks_url,
            secret_key,
            api_url,
            publishable_key,
            issuer,
            authorized_parties,
            audience,
            clock_skew_ms,
            treat_pending_as_signed_out,
            token_cache_capacity,
            background_refresh,
            machine_secret_key,
            machine_id,
            jwks_refresh_secs,
            jwks_max_staleness_secs,
            jwks_unknown_kid_interval_ms,
            jwks_timeout_ms,
        };
        let inner = options.build().map_err(config_error)?;
        Ok(Verifier {
            options,
            inner: Mutex::new((std::process::id(), inner)),
        })
    }

    /// A verifier from the `CLERK_*` environment variables, as `clerk_auth::Verifier::from_env`
    /// (an instance of `cls`, so subclasses get their own type).
    #[classmethod]
    fn from_env<'py>(cls: &Bound<'py, PyType>) -> PyResult<Bound<'py, PyAny>> {
        let kwargs = PyDict::new(cls.py());
        kwargs.set_item("env", true)?;
        cls.call((), Some(&kwargs))
    }

    /// Verifies a session token; waits (GIL released) when a key must be fetched.
    fn verify(&self, py: Python<'_>, token: String) -> PyResult<Auth> {
        let fut = self.verify_future(token)?;
        self.session(py, fut)
    }

    /// Finds the request's session token (Bearer header, else the `__session` cookie) and
    /// verifies it.
    fn verify_request(&self, py: Python<'_>, headers: &Bound<'_, PyAny>) -> PyResult<Auth> {
        let fut = self.request_future(header_map(headers, Keep::Credentials)?)?;
        self.session(py, fut)
    }

    /// As `verify`, but never waits: an `Auth`, or a `Pending` when a key must be fetched.
    fn start_verify(&self, py: Python<'_>, token: String) -> PyResult<Py<PyAny>> {
        let fut = self.verify_future(token)?;
        self.pending_or_auth(py, fut)
    }

    /// As `verify_request`, but never waits: an `Auth`, or a `Pending`.
    fn start_verify_request(
        &self,
        py: Python<'_>,
        headers: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let fut = self.request_future(header_map(headers, Keep::Credentials)?)?;
        self.pending_or_auth(py, fut)
    }

    /// Authenticates a session token or a machine token (API key, M2M token, OAuth access
    /// token) of the types in `accepts_token`: an `Auth` for a session, a `MachineAuth` for a
    /// machine. Waits (GIL released) when a key or the Backend API must be asked.
    #[pyo3(signature = (token, accepts_token = None))]
    fn authenticate(
        &self,
        py: Python<'_>,
        token: String,
        accepts_token: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let accepts = accepts(accepts_token)?;
        let verifier = self.current()?;
        let fut: Verification<Caller> =
            Box::pin(async move { verifier.authenticate(&token, accepts).await });
        let result = match start(fut) {
            Started::Done(result) => result,
            Started::Waiting(handle) => wait(py, handle)?,
        };
        caller_to_py(py, result)
    }

    /// As `authenticate`, but never waits: an `Auth`, a `MachineAuth` or a `Pending`.
    #[pyo3(signature = (token, accepts_token = None))]
    fn start_authenticate(
        &self,
        py: Python<'_>,
        token: String,
        accepts_token: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let accepts = accepts(accepts_token)?;
        let verifier = self.current()?;
        let fut: Verification<Caller> =
            Box::pin(async move { verifier.authenticate(&token, accepts).await });
        match start(fut) {
            Started::Done(result) => caller_to_py(py, result),
            Started::Waiting(handle) => Ok(Py::new(
                py,
                Pending {
                    handle: Mutex::new(Some(PendingHandle::Caller(handle))),
                },
            )?
            .into_any()),
        }
    }

    /// Loads the keys now (a no-op with a PEM key); raises `ClerkAuthError` when none can be had.
    fn prefetch(&self, py: Python<'_>) -> PyResult<()> {
        let verifier = self.current()?;
        let fut: Verification<()> = Box::pin(async move { verifier.prefetch().await });
        let result = match start(fut) {
            Started::Done(result) => result,
            Started::Waiting(handle) => wait(py, handle)?,
        };
        result.map_err(|rejection| rejection_error(py, &rejection))
    }

    /// Refuses every token of this session from now on (`session-revoked`).
    fn revoke_session(&self, session_id: &str) -> PyResult<()> {
        self.current()?.revoke_session(session_id);
        Ok(())
    }

    /// Refuses every token of this user from now on (`session-revoked`).
    fn revoke_user(&self, user_id: &str) -> PyResult<()> {
        self.current()?.revoke_user(user_id);
        Ok(())
    }

    /// The expected issuer, when known.
    #[getter]
    fn issuer(&self) -> PyResult<Option<String>> {
        Ok(self.current()?.issuer().map(str::to_owned))
    }

    /// Whether a key is at hand (always with a PEM key): for a readiness probe.
    #[getter]
    fn keys_usable(&self) -> PyResult<bool> {
        Ok(self.current()?.key_status().usable)
    }

    /// The counters: `cache_hits`, `cache_misses`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.current()?.stats();
        let dict = PyDict::new(py);
        dict.set_item("cache_hits", stats.cache_hits)?;
        dict.set_item("cache_misses", stats.cache_misses)?;
        Ok(dict)
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok(format!("{:?}", self.current()?))
    }
}

fn caller_to_py(py: Python<'_>, result: Result<Caller, Rejection>) -> PyResult<Py<PyAny>> {
    match result {
        Ok(Caller::Session(claims)) => Ok(Py::new(py, Auth { claims })?.into_any()),
        Ok(Caller::Machine(machine)) => Ok(Py::new(py, Machine { machine })?.into_any()),
        Err(rejection) => Err(rejection_error(py, &rejection)),
    }
}

enum PendingHandle {
    Session(JoinHandle<Result<Arc<SessionClaims>, Rejection>>),
    Caller(JoinHandle<Result<Caller, Rejection>>),
}

/// A verification waiting for a key: `wait()` blocks (GIL released) until it is decided.
/// Call it from a worker thread (`anyio.to_thread.run_sync(pending.wait)`), not the event loop.
#[pyclass(frozen, module = "clerk_verifier._native")]
struct Pending {
    handle: Mutex<Option<PendingHandle>>,
}

#[pymethods]
impl Pending {
    /// The `Auth` (or `MachineAuth`), or raises `ClerkAuthError`. Once only.
    fn wait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let handle = self
            .handle
            .lock()
            .map_err(|_| PyRuntimeError::new_err("a previous wait() panicked"))?
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("wait() was already called"))?;
        match handle {
            PendingHandle::Session(handle) => match wait(py, handle)? {
                Ok(claims) => Ok(Py::new(py, Auth { claims })?.into_any()),
                Err(rejection) => Err(rejection_error(py, &rejection)),
            },
            PendingHandle::Caller(handle) => {
                let result = wait(py, handle)?;
                caller_to_py(py, result)
            }
        }
    }
}

/// A verified session: the claims of a session token.
#[pyclass(frozen, module = "clerk_verifier._native")]
struct Auth {
    claims: Arc<SessionClaims>,
}

fn check(
    role: Option<String>,
    permission: Option<String>,
    feature: Option<String>,
    plan: Option<String>,
    reverification: Option<String>,
) -> PyResult<Check> {
    let mut check: Option<Check> = None;
    if let Some(role) = role {
        check = Some(match check {
            Some(c) => c.and_role(role),
            None => Check::role(role),
        });
    }
    if let Some(permission) = permission {
        check = Some(match check {
            Some(c) => c.and_permission(permission),
            None => Check::permission(permission),
        });
    }
    if let Some(feature) = feature {
        check = Some(match check {
            Some(c) => c.and_feature(feature),
            None => Check::feature(feature),
        });
    }
    if let Some(plan) = plan {
        check = Some(match check {
            Some(c) => c.and_plan(plan),
            None => Check::plan(plan),
        });
    }
    if let Some(preset) = reverification {
        let preset: Reverification =
            preset
                .parse()
                .map_err(|err: clerk_auth::ParseReverificationError| {
                    PyValueError::new_err(err.to_string())
                })?;
        check = Some(match check {
            Some(c) => c.and_reverification(preset),
            None => Check::reverification(preset),
        });
    }
    check.ok_or_else(|| {
        PyTypeError::new_err(
            "has() needs at least one of role, permission, feature, plan, reverification",
        )
    })
}

#[pymethods]
impl Auth {
    /// The user's id (`sub`).
    #[getter]
    fn user_id(&self) -> &str {
        self.claims.user_id()
    }

    /// The session's id (`sid`).
    #[getter]
    fn session_id(&self) -> &str {
        self.claims.session_id()
    }

    /// The active organization's id, if any.
    #[getter]
    fn org_id(&self) -> Option<&str> {
        self.claims.org_id()
    }

    /// The user's role in the active organization, if any.
    #[getter]
    fn org_role(&self) -> Option<&str> {
        self.claims.org_role()
    }

    /// The active organization's slug, if any.
    #[getter]
    fn org_slug(&self) -> Option<&str> {
        self.claims.org_slug()
    }

    /// The user's permissions in the active organization.
    #[getter]
    fn org_permissions(&self) -> Vec<String> {
        self.claims.org_permissions().to_vec()
    }

    /// The token's expiry, in seconds since the epoch.
    #[getter]
    fn expires_at(&self) -> i64 {
        self.claims.expires_at()
    }

    /// `sts == "pending"`: the user has a session task to finish.
    #[getter]
    fn is_pending(&self) -> bool {
        self.claims.is_pending()
    }

    /// Always `"session_token"`.
    #[getter]
    fn token_type(&self) -> &'static str {
        TokenType::SessionToken.as_str()
    }

    /// Every claim of the token, as a new dict.
    #[getter]
    fn claims<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        object_to_py(py, self.claims.claims())
    }

    /// Clerk's `has()`: every condition given must hold.
    #[pyo3(signature = (*, role = None, permission = None, feature = None, plan = None, reverification = None))]
    fn has(
        &self,
        role: Option<String>,
        permission: Option<String>,
        feature: Option<String>,
        plan: Option<String>,
        reverification: Option<String>,
    ) -> PyResult<bool> {
        Ok(self
            .claims
            .has(&check(role, permission, feature, plan, reverification)?))
    }

    /// As `has()`, but the first condition not met, as `(reason, message)` (reason:
    /// `missing-role`, `missing-permission`, `missing-feature`, `missing-plan`,
    /// `reverification-required`), or `None` when all hold.
    #[pyo3(signature = (*, role = None, permission = None, feature = None, plan = None, reverification = None))]
    fn unmet(
        &self,
        role: Option<String>,
        permission: Option<String>,
        feature: Option<String>,
        plan: Option<String>,
        reverification: Option<String>,
    ) -> PyResult<Option<(&'static str, String)>> {
        let check = check(role, permission, feature, plan, reverification)?;
        Ok(check
            .first_unmet(&self.claims)
            .map(|unmet| (unmet.reason(), unmet.to_string())))
    }

    fn __repr__(&self) -> String {
        format!(
            "Auth(user_id={:?}, session_id={:?}, org_id={:?})",
            self.claims.user_id(),
            self.claims.session_id(),
            self.claims.org_id()
        )
    }
}

/// A verified machine credential: an API key, an M2M token or an OAuth access token.
#[pyclass(frozen, name = "MachineAuth", module = "clerk_verifier._native")]
struct Machine {
    machine: Arc<MachineAuth>,
}

#[pymethods]
impl Machine {
    /// `api_key`, `m2m_token` or `oauth_token`.
    #[getter]
    fn token_type(&self) -> &'static str {
        self.machine.token_type().as_str()
    }

    /// The credential's id.
    #[getter]
    fn id(&self) -> &str {
        self.machine.id()
    }

    /// Whom the credential is for (a user, an organization or a machine id).
    #[getter]
    fn subject(&self) -> &str {
        self.machine.subject()
    }

    /// The granted scopes.
    #[getter]
    fn scopes(&self) -> Vec<String> {
        self.machine.scopes().to_vec()
    }

    /// The user the credential is for, if any.
    #[getter]
    fn user_id(&self) -> Option<&str> {
        self.machine.user_id()
    }

    /// The organization the credential is for, if any.
    #[getter]
    fn org_id(&self) -> Option<&str> {
        self.machine.org_id()
    }

    /// The machine the credential is for, if any.
    #[getter]
    fn machine_id(&self) -> Option<&str> {
        self.machine.machine_id()
    }

    /// The credential's name, if any.
    #[getter]
    fn name(&self) -> Option<&str> {
        self.machine.name()
    }

    /// Custom claims, if any.
    #[getter]
    fn claims<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.machine
            .claims()
            .map(|claims| object_to_py(py, claims))
            .transpose()
    }

    /// Whether the credential has this scope.
    fn has_scope(&self, scope: &str) -> bool {
        self.machine.has_scope(scope)
    }

    fn __repr__(&self) -> String {
        format!(
            "MachineAuth(token_type={:?}, id={:?}, subject={:?})",
            self.machine.token_type().as_str(),
            self.machine.id(),
            self.machine.subject()
        )
    }
}

/// The extension module.
#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Verifier>()?;
    m.add_class::<Auth>()?;
    m.add_class::<Machine>()?;
    m.add_class::<Pending>()?;
    m.add("ClerkAuthError", m.py().get_type::<ClerkAuthError>())?;
    webhook::register(m)?;
    #[cfg(feature = "testing")]
    emulator::register(m)?;
    Ok(())
}
