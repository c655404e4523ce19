//! Why a webhook was refused, and why a verifier could not be built.
//!
//! Messages never contain a signing secret or a signature: they are safe to log.

use std::fmt;

/// A delivery that did not verify, or whose body is not a Clerk event.
///
/// Every variant is the **sender's fault** (a forged, replayed, corrupted or oversized
/// request): configuration problems are caught when the [`Webhook`](crate::Webhook) is built
/// ([`ConfigError`]), so a running verifier never fails for a server-side reason. The one
/// caveat is the time check: [`TimestampTooOld`](WebhookError::TimestampTooOld) and
/// [`TimestampTooNew`](WebhookError::TimestampTooNew) also fire when *this* machine's clock is
/// off by more than the tolerance.
///
/// A suggested HTTP mapping: [`BodyTooLarge`](WebhookError::BodyTooLarge) → 413, everything else
/// → 400 (or 401). Svix retries any non-2xx answer, so a genuine delivery refused because of a
/// transient problem (such as a clock step) is delivered again later.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebhookError {
    /// One or more of the `svix-id`, `svix-timestamp`, `svix-signature` headers (or their
    /// `webhook-*` equivalents) is absent or blank; the list names every missing one.
    MissingHeaders(Vec<&'static str>),
    /// A webhook header was sent more than once.
    DuplicateHeader(&'static str),
    /// A webhook header holds bytes that are not visible ASCII.
    InvalidHeader(&'static str),
    /// A webhook header is longer than this library accepts
    /// ([`MAX_ID_LEN`](crate::MAX_ID_LEN), [`MAX_SIGNATURE_HEADER_LEN`](crate::MAX_SIGNATURE_HEADER_LEN)).
    HeaderTooLong {
        /// The header's name.
        header: &'static str,
        /// The largest accepted length, in bytes.
        limit: usize,
    },
    /// The timestamp header is not a non-negative decimal integer (digits only).
    InvalidTimestamp,
    /// The timestamp is more than the tolerance (default 300 s) in the past: a replay, or a
    /// delivery that waited too long.
    TimestampTooOld,
    /// The timestamp is more than the tolerance (default 300 s) in the future.
    TimestampTooNew,
    /// No `v1` signature in the signature header matches any configured secret.
    NoMatchingSignature,
    /// The body is larger than the configured limit (default 1 MiB); nothing was computed.
    BodyTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },
    /// The verified body is not valid JSON (or not UTF-8).
    InvalidJson(serde_json::Error),
    /// The verified body nests arrays and objects deeper than [`MAX_JSON_DEPTH`](crate::MAX_JSON_DEPTH).
    JsonTooDeep,
    /// The verified body is JSON, but not an event: not an object, or without a string `type`.
    NotAnEvent(&'static str),
}

impl WebhookError {
    /// A stable, machine-readable reason, for a response body and the logs:
    /// `missing-headers`, `invalid-headers`, `invalid-timestamp`, `timestamp-too-old`,
    /// `timestamp-too-new`, `signature-mismatch`, `body-too-large`, `not-an-event`.
    pub fn reason(&self) -> &'static str {
        match self {
            WebhookError::MissingHeaders(_) => "missing-headers",
            WebhookError::DuplicateHeader(_)
            | WebhookError::InvalidHeader(_)
            | WebhookError::HeaderTooLong { .. } => "invalid-headers",
            WebhookError::InvalidTimestamp => "invalid-timestamp",
            WebhookError::TimestampTooOld => "timestamp-too-old",
            WebhookError::TimestampTooNew => "timestamp-too-new",
            WebhookError::NoMatchingSignature => "signature-mismatch",
            WebhookError::BodyTooLarge { .. } => "body-too-large",
            WebhookError::InvalidJson(_)
            | WebhookError::JsonTooDeep
            | WebhookError::NotAnEvent(_) => "not-an-event",
        }
    }

    /// The HTTP status a webhook endpoint answers it with: 413 for a body over the limit, 400
    /// otherwise (the delivery does not verify, or is not an event; Svix retries it).
    pub fn status(&self) -> u16 {
        match self {
            WebhookError::BodyTooLarge { .. } => 413,
            _ => 400,
        }
    }
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookError::MissingHeaders(names) => {
                write!(f, "missing required webhook headers: {}", names.join(", "))
            }
            WebhookError::DuplicateHeader(name) => {
                write!(f, "webhook header {name} was sent more than once")
            }
            WebhookError::InvalidHeader(name) => {
                write!(f, "webhook header {name} is not visible ASCII")
            }
            WebhookError::HeaderTooLong { header, limit } => {
                write!(f, "webhook header {header} is longer than {limit} bytes")
            }
            WebhookError::InvalidTimestamp => {
                f.write_str("invalid webhook timestamp: not a decimal number of seconds")
            }
            WebhookError::TimestampTooOld => f.write_str("message timestamp too old"),
            WebhookError::TimestampTooNew => f.write_str("message timestamp too new"),
            WebhookError::NoMatchingSignature => f.write_str("no matching signature found"),
            WebhookError::BodyTooLarge { limit } => {
                write!(f, "webhook body is larger than {limit} bytes")
            }
            WebhookError::InvalidJson(err) => write!(f, "webhook body is not valid JSON: {err}"),
            WebhookError::JsonTooDeep => write!(
                f,
                "webhook body nests JSON deeper than {} levels",
                crate::MAX_JSON_DEPTH
            ),
            WebhookError::NotAnEvent(why) => write!(f, "webhook body is not an event: {why}"),
        }
    }
}

impl std::error::Error for WebhookError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WebhookError::InvalidJson(err) => Some(err),
            _ => None,
        }
    }
}

/// A signing secret (or the environment holding it) that cannot be used.
///
/// Always the server operator's fault, reported when the verifier is built, never per request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `CLERK_WEBHOOK_SIGNING_SECRET` is unset or blank.
    MissingSecret,
    /// The secret (after the optional `whsec_` prefix) decodes to no bytes.
    EmptySecret,
    /// The secret (after the optional `whsec_` prefix) is not standard base64.
    SecretNotBase64,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MissingSecret => write!(
                f,
                "{}: not set; copy the signing secret (whsec_…) from the Clerk dashboard → Webhooks",
                crate::SIGNING_SECRET_ENV
            ),
            ConfigError::EmptySecret => f.write_str("the webhook signing secret is empty"),
            ConfigError::SecretNotBase64 => f.write_str(
                "the webhook signing secret is not whsec_ followed by standard base64",
            ),
        }
    }
}

impl std::error::Error for ConfigError {}
