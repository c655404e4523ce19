//! `Webhook` and `WebhookEvent`: `clerk-webhooks` (Svix signature verification and Clerk's
//! typed events) for Python. Every check is `clerk-webhooks`'; this converts arguments and
//! results.

use std::time::Duration;

use clerk_webhooks::{Event, EventData, WebhookError};
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};
use serde_json::Value;

use crate::{header_map, json_to_py, object_to_py, Keep};

pyo3::create_exception!(
    _native,
    ClerkWebhookError,
    PyException,
    "A refused webhook delivery: `.reason` is clerk-webhooks' reason string (`missing-headers`, \
     `signature-mismatch`, `timestamp-too-old`, `body-too-large`, ...), `.status` the HTTP \
     status to answer (400, or 413 for a body over the limit), `.message` a sentence for humans \
     (never a secret or a signature)."
);

fn webhook_error(py: Python<'_>, err: &WebhookError) -> PyErr {
    let message = err.to_string();
    let exc = ClerkWebhookError::new_err(message.clone());
    let value = exc.value(py);
    let set = || -> PyResult<()> {
        value.setattr("reason", err.reason())?;
        value.setattr("status", err.status())?;
        value.setattr("message", message.as_str())?;
        Ok(())
    };
    match set() {
        Ok(()) => exc,
        Err(other) => other,
    }
}

fn config_error(err: clerk_webhooks::ConfigError) -> PyErr {
    PyValueError::new_err(err.to_string())
}

/// Verifies Clerk webhook deliveries (Svix-signed) with one or more signing secrets.
#[pyclass(frozen, module = "clerk_verifier._native")]
struct Webhook {
    inner: clerk_webhooks::Webhook,
    max_body_bytes: usize,
}

impl Webhook {
    fn configured(
        inner: clerk_webhooks::Webhook,
        tolerance_secs: Option<u64>,
        max_body_bytes: Option<usize>,
    ) -> Webhook {
        let mut inner = inner;
        if let Some(secs) = tolerance_secs {
            inner = inner.with_tolerance(Duration::from_secs(secs));
        }
        let max_body_bytes = max_body_bytes.unwrap_or(clerk_webhooks::DEFAULT_MAX_BODY_BYTES);
        Webhook {
            inner: inner.with_max_body_bytes(max_body_bytes),
            max_body_bytes,
        }
    }
}

#[pymethods]
impl Webhook {
    /// A verifier for `secret` (`whsec_…`), or for several separated by commas or spaces
    /// (during a rotation). `tolerance_secs` (default 300) bounds the timestamp's distance
    /// from now; `max_body_bytes` (default 1 MiB) the body.
    #[new]
    #[pyo3(signature = (secret, *, tolerance_secs = None, max_body_bytes = None))]
    fn new(
        secret: &str,
        tolerance_secs: Option<u64>,
        max_body_bytes: Option<usize>,
    ) -> PyResult<Webhook> {
        let inner = clerk_webhooks::Webhook::from_secret_list(secret).map_err(config_error)?;
        Ok(Webhook::configured(inner, tolerance_secs, max_body_bytes))
    }

    /// A verifier for the secret(s) in `CLERK_WEBHOOK_SIGNING_SECRET`.
    #[classmethod]
    #[pyo3(signature = (*, tolerance_secs = None, max_body_bytes = None))]
    fn from_env(
        _cls: &Bound<'_, PyType>,
        tolerance_secs: Option<u64>,
        max_body_bytes: Option<usize>,
    ) -> PyResult<Webhook> {
        let inner = clerk_webhooks::Webhook::from_env().map_err(config_error)?;
        Ok(Webhook::configured(inner, tolerance_secs, max_body_bytes))
    }

    /// Verifies a delivery (its headers and its raw body, exactly as received) and parses it:
    /// a `WebhookEvent`, or raises `ClerkWebhookError`.
    fn verify(
        &self,
        py: Python<'_>,
        headers: &Bound<'_, PyAny>,
        body: &[u8],
    ) -> PyResult<WebhookEvent> {
        let headers = header_map(headers, Keep::All)?;
        // The HMAC over up to `max_body_bytes` runs with the GIL released.
        let verified = py.detach(|| {
            let event = self.inner.verify_event(&headers, body)?;
            // `data` as sent: the typed parse keeps only what fits its types.
            let raw = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|mut value| value.get_mut("data").map(Value::take))
                .unwrap_or(Value::Null);
            Ok::<_, WebhookError>((event, raw))
        });
        match verified {
            Ok((event, data)) => Ok(WebhookEvent { event, data }),
            Err(err) => Err(webhook_error(py, &err)),
        }
    }

    /// The largest body accepted, in bytes: a server can stop reading a request past it.
    #[getter]
    fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}

/// A verified Clerk webhook event.
#[pyclass(frozen, module = "clerk_verifier._native")]
struct WebhookEvent {
    event: Event,
    data: Value,
}

#[pymethods]
impl WebhookEvent {
    /// The event type, e.g. `user.created`.
    #[getter(r#type)]
    fn type_(&self) -> &str {
        &self.event.type_
    }

    /// Always `event` today; empty when absent.
    #[getter]
    fn object(&self) -> &str {
        &self.event.object
    }

    /// When Clerk created the event, in milliseconds since the Unix epoch; 0 when absent.
    #[getter]
    fn timestamp(&self) -> i64 {
        self.event.timestamp
    }

    /// The Clerk instance (`ins_…`) the event belongs to, if given.
    #[getter]
    fn instance_id(&self) -> Option<&str> {
        self.event.instance_id.as_deref()
    }

    /// Request details, e.g. `{"http_request": {"client_ip", "user_agent"}}`, if given.
    #[getter]
    fn event_attributes<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.event
            .event_attributes
            .as_ref()
            .map(|value| json_to_py(py, value))
            .transpose()
    }

    /// The event's `data` as sent (a new dict on every access).
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.data)
    }

    /// Top-level fields of the event that are not the ones above, as sent.
    #[getter]
    fn extra<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        object_to_py(py, &self.event.extra)
    }

    /// The typed shape `clerk-webhooks` read `data` as: `user`, `session`, `organization`,
    /// `organization_membership`, `deleted` (a deleted user or organization), `unknown` (an
    /// event type with no typed shape) or `unparsed` (a known type whose data did not fit it;
    /// see `parse_error`).
    #[getter]
    fn kind(&self) -> &'static str {
        match &self.event.data {
            EventData::UserCreated(_) | EventData::UserUpdated(_) => "user",
            EventData::UserDeleted(_) | EventData::OrganizationDeleted(_) => "deleted",
            EventData::SessionCreated(_)
            | EventData::SessionEnded(_)
            | EventData::SessionRemoved(_)
            | EventData::SessionRevoked(_) => "session",
            EventData::OrganizationCreated(_) | EventData::OrganizationUpdated(_) => "organization",
            EventData::OrganizationMembershipCreated(_)
            | EventData::OrganizationMembershipUpdated(_)
            | EventData::OrganizationMembershipDeleted(_) => "organization_membership",
            EventData::Unparsed { .. } => "unparsed",
            _ => "unknown",
        }
    }

    /// The id of the object the event is about (`user_…`, `sess_…`, `org_…`, `orgmem_…`),
    /// for the typed kinds.
    #[getter]
    fn object_id(&self) -> Option<&str> {
        match &self.event.data {
            EventData::UserCreated(user) | EventData::UserUpdated(user) => Some(&user.id),
            EventData::UserDeleted(deleted) | EventData::OrganizationDeleted(deleted) => {
                Some(&deleted.id)
            }
            EventData::SessionCreated(session)
            | EventData::SessionEnded(session)
            | EventData::SessionRemoved(session)
            | EventData::SessionRevoked(session) => Some(&session.id),
            EventData::OrganizationCreated(org) | EventData::OrganizationUpdated(org) => {
                Some(&org.id)
            }
            EventData::OrganizationMembershipCreated(membership)
            | EventData::OrganizationMembershipUpdated(membership)
            | EventData::OrganizationMembershipDeleted(membership) => Some(&membership.id),
            _ => None,
        }
    }

    /// Why a known event type's data did not fit its typed shape (`kind == "unparsed"`).
    #[getter]
    fn parse_error(&self) -> Option<&str> {
        match &self.event.data {
            EventData::Unparsed { error, .. } => Some(error),
            _ => None,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "WebhookEvent(type={:?}, kind={:?}, object_id={:?})",
            self.event.type_,
            self.kind(),
            self.object_id()
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Webhook>()?;
    m.add_class::<WebhookEvent>()?;
    m.add("ClerkWebhookError", m.py().get_type::<ClerkWebhookError>())?;
    Ok(())
}
