//! Svix / Standard Webhooks signature verification, exactly as Clerk's `verifyWebhook` does it
//! (clerk-spec §6; `standardwebhooks@1.1.1`), with bounded inputs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use clerk_types::{Clock, SystemClock};
use http::HeaderMap;
use ring::hmac;

use crate::error::{ConfigError, WebhookError};
use crate::event::Event;

/// The environment variable [`Webhook::from_env`] reads.
pub const SIGNING_SECRET_ENV: &str = "CLERK_WEBHOOK_SIGNING_SECRET";

/// How far a delivery's timestamp may be from now, both ways: 300 s, as in Svix and Clerk.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The default body limit: 1 MiB. Clerk's events are a few KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// The longest accepted message id (`svix-id`), in bytes. Svix ids are about 30 bytes.
pub const MAX_ID_LEN: usize = 256;

/// The longest accepted signature header, in bytes: room for dozens of `v1,<base64>` entries
/// (one is 47 bytes), far more than secret rotation ever produces.
pub const MAX_SIGNATURE_HEADER_LEN: usize = 4096;

const SECRET_PREFIX: &str = "whsec_";

/// Standard base64 for signing secrets: padding optional and non-canonical trailing bits
/// tolerated, so any secret Clerk's SDK accepts is accepted here too. Signatures are never
/// decoded, only compared as strings (see [`Webhook::verify`]).
const SECRET_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The three header names of one naming scheme.
struct HeaderNames {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
}

/// Svix's names, which Clerk sends.
const SVIX: HeaderNames = HeaderNames {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
};

/// The unbranded Standard Webhooks names, accepted when no `svix-*` header is present.
const UNBRANDED: HeaderNames = HeaderNames {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
};

/// Verifies Clerk webhook deliveries (Svix-signed) with one or more signing secrets.
///
/// Build it once at start-up and share it (it is cheap to clone); [`verify`](Self::verify)
/// does no allocation proportional to the body and never parses it.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use clerk_webhooks::Webhook;
///
/// let webhook = Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
/// let body = br#"{"type":"user.deleted","object":"event","data":{"id":"user_1","deleted":true}}"#;
/// let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("svix-id", "msg_1".parse()?);
/// headers.insert("svix-timestamp", now.to_string().parse()?);
/// headers.insert("svix-signature", webhook.sign("msg_1", now as i64, body).parse()?);
///
/// let event = webhook.verify_event(&headers, body)?;
/// assert_eq!(event.type_, "user.deleted");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Webhook {
    keys: Vec<hmac::Key>,
    tolerance_secs: i64,
    max_body_bytes: usize,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("secrets", &self.keys.len())
            .field("tolerance_secs", &self.tolerance_secs)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// A verifier for one signing secret, `whsec_<standard base64>` (the prefix is optional;
    /// surrounding whitespace is ignored).
    ///
    /// # Errors
    /// [`ConfigError::SecretNotBase64`] or [`ConfigError::EmptySecret`].
    pub fn new(secret: &str) -> Result<Webhook, ConfigError> {
        Ok(Webhook {
            keys: vec![parse_secret(secret)?],
            tolerance_secs: secs(DEFAULT_TOLERANCE),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            clock: Arc::new(SystemClock),
        })
    }

    /// Adds another secret, for rotation: a delivery verifies if a signature of *any* secret
    /// matches.
    ///
    /// # Errors
    /// As [`Webhook::new`].
    pub fn with_secret(mut self, secret: &str) -> Result<Webhook, ConfigError> {
        self.keys.push(parse_secret(secret)?);
        Ok(self)
    }

    /// A verifier for a list of secrets separated by commas or whitespace, e.g.
    /// `"whsec_new whsec_old"` during a rotation.
    ///
    /// # Errors
    /// [`ConfigError::MissingSecret`] for a blank list, else as [`Webhook::new`].
    pub fn from_secret_list(list: &str) -> Result<Webhook, ConfigError> {
        let mut secrets = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty());
        let first = secrets.next().ok_or(ConfigError::MissingSecret)?;
        secrets.try_fold(Webhook::new(first)?, Webhook::with_secret)
    }

    /// A verifier for the secret(s) in `CLERK_WEBHOOK_SIGNING_SECRET` (see
    /// [`from_secret_list`](Self::from_secret_list)).
    ///
    /// # Errors
    /// [`ConfigError::MissingSecret`] when the variable is unset or blank, else as
    /// [`Webhook::new`].
    pub fn from_env() -> Result<Webhook, ConfigError> {
        match std::env::var(SIGNING_SECRET_ENV) {
            Ok(list) => Webhook::from_secret_list(&list),
            Err(std::env::VarError::NotPresent) => Err(ConfigError::MissingSecret),
            Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::SecretNotBase64),
        }
    }

    /// How far the timestamp may be from now, both ways (default 300 s; whole seconds).
    pub fn with_tolerance(mut self, tolerance: Duration) -> Webhook {
        self.tolerance_secs = secs(tolerance);
        self
    }

    /// The largest body accepted, in bytes (default 1 MiB). A larger one is refused before
    /// any HMAC is computed.
    pub fn with_max_body_bytes(mut self, limit: usize) -> Webhook {
        self.max_body_bytes = limit;
        self
    }

    /// The clock for the timestamp check (default [`SystemClock`]). In tests, a
    /// [`FixedClock`](crate::FixedClock); give an `Arc` of it to move time while the verifier
    /// holds it.
    ///
    /// ```
    /// use clerk_webhooks::{FixedClock, Webhook};
    /// # fn main() -> Result<(), clerk_webhooks::ConfigError> {
    /// let webhook = Webhook::new("whsec_c2VjcmV0")?.with_clock(FixedClock::at_secs(1_700_000_000));
    /// # Ok(()) }
    /// ```
    pub fn with_clock(mut self, clock: impl Clock) -> Webhook {
        self.clock = Arc::new(clock);
        self
    }

    /// Verifies a delivery: its headers and its **raw** body, exactly as received (never a
    /// re-serialized JSON value).
    ///
    /// In order: the body size; the headers `svix-id`, `svix-timestamp`, `svix-signature`
    /// (or `webhook-*` when no `svix-*` header is present), trimmed, each present once, blank
    /// counting as missing; the timestamp, digits only, within the tolerance of now; then the
    /// signatures. The signed content is `{id}.{timestamp}.{body}`, where `timestamp` is the
    /// parsed number (so `"0017…"` signs as `"17…"`, as in Clerk's SDK). The header is a
    /// space-separated list of `version,signature`; only `v1` entries count, each compared in
    /// constant time, as a string, to base64(HMAC-SHA256) under every secret. Any match
    /// succeeds.
    ///
    /// The body is signed as bytes. For UTF-8 bodies (all of Clerk's) this is what Clerk's
    /// SDK does; a non-UTF-8 body, which Clerk's SDK would decode lossily first, has to be
    /// signed over its exact bytes here.
    ///
    /// # Errors
    /// A [`WebhookError`] naming the first rule broken; all are the sender's fault.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookError> {
        if body.len() > self.max_body_bytes {
            return Err(WebhookError::BodyTooLarge {
                limit: self.max_body_bytes,
            });
        }
        let delivery = Delivery::from_headers(headers)?;
        self.check_timestamp(delivery.timestamp)?;

        let candidates = || {
            delivery
                .signature
                .split(' ')
                .filter_map(|entry| entry.split_once(','))
                .filter(|(version, _)| *version == "v1")
                .map(|(_, signature)| signature.as_bytes())
        };
        if candidates().next().is_none() {
            return Err(WebhookError::NoMatchingSignature);
        }
        for key in &self.keys {
            let expected = signature(key, delivery.id, delivery.timestamp, body);
            if candidates().any(|candidate| constant_time_eq(candidate, expected.as_bytes())) {
                return Ok(());
            }
        }
        Err(WebhookError::NoMatchingSignature)
    }

    /// [`verify`](Self::verify)s a delivery, then parses its body as an [`Event`].
    ///
    /// # Errors
    /// As [`verify`](Self::verify), then as [`Event::from_slice`].
    pub fn verify_event(&self, headers: &HeaderMap, body: &[u8]) -> Result<Event, WebhookError> {
        self.verify(headers, body)?;
        Event::from_slice(body)
    }

    /// The `svix-signature` header value for a delivery: `v1,<base64>`, one entry per secret
    /// separated by spaces (as Svix sends during a rotation). For tests and for emulated
    /// deliveries; `timestamp` is in Unix seconds.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        self.keys
            .iter()
            .map(|key| format!("v1,{}", signature(key, id, timestamp, body)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn check_timestamp(&self, timestamp: i64) -> Result<(), WebhookError> {
        let now = i64::try_from(self.clock.now_ms() / 1000).unwrap_or(i64::MAX);
        if now.saturating_sub(timestamp) > self.tolerance_secs {
            return Err(WebhookError::TimestampTooOld);
        }
        if timestamp > now.saturating_add(self.tolerance_secs) {
            return Err(WebhookError::TimestampTooNew);
        }
        Ok(())
    }
}

/// The webhook headers of one request, read and bounded.
struct Delivery<'a> {
    id: &'a str,
    timestamp: i64,
    signature: &'a str,
}

impl<'a> Delivery<'a> {
    fn from_headers(headers: &'a HeaderMap) -> Result<Delivery<'a>, WebhookError> {
        // A header that is there but unreadable counts as present: its error is reported.
        let present = |name: &'static str| !matches!(header(headers, name), Ok(None));
        let names = if [SVIX.id, SVIX.timestamp, SVIX.signature]
            .into_iter()
            .all(|name| !present(name))
            && [UNBRANDED.id, UNBRANDED.timestamp, UNBRANDED.signature]
                .into_iter()
                .any(present)
        {
            &UNBRANDED
        } else {
            &SVIX
        };

        let id = header(headers, names.id)?;
        let timestamp = header(headers, names.timestamp)?;
        let signature = header(headers, names.signature)?;
        let (Some(id), Some(timestamp), Some(signature)) = (id, timestamp, signature) else {
            let missing = [
                (names.id, id),
                (names.timestamp, timestamp),
                (names.signature, signature),
            ]
            .into_iter()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name)
            .collect();
            return Err(WebhookError::MissingHeaders(missing));
        };

        for (name, value, limit) in [
            (names.id, id, MAX_ID_LEN),
            (names.signature, signature, MAX_SIGNATURE_HEADER_LEN),
        ] {
            if value.len() > limit {
                return Err(WebhookError::HeaderTooLong {
                    header: name,
                    limit,
                });
            }
        }
        Ok(Delivery {
            id,
            timestamp: parse_timestamp(timestamp)?,
            signature,
        })
    }
}

/// A header's trimmed value; `None` when absent or blank.
fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, WebhookError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(WebhookError::DuplicateHeader(name));
    }
    let value = value
        .to_str()
        .map_err(|_| WebhookError::InvalidHeader(name))?
        .trim();
    Ok((!value.is_empty()).then_some(value))
}

/// Unix seconds, digits only: no sign, no fraction, no exponent, no spaces inside.
fn parse_timestamp(text: &str) -> Result<i64, WebhookError> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebhookError::InvalidTimestamp);
    }
    text.parse().map_err(|_| WebhookError::InvalidTimestamp)
}

fn parse_secret(secret: &str) -> Result<hmac::Key, ConfigError> {
    let secret = secret.trim();
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = SECRET_BASE64
        .decode(encoded)
        .map_err(|_| ConfigError::SecretNotBase64)?;
    if key.is_empty() {
        return Err(ConfigError::EmptySecret);
    }
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &key))
}

/// base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), standard alphabet, padded.
fn signature(key: &hmac::Key, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut context = hmac::Context::with_key(key);
    context.update(id.as_bytes());
    context.update(b".");
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    STANDARD.encode(context.sign())
}

/// Equality whose time depends only on the lengths (public: a v1 signature is always 44
/// bytes), not on where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn timestamps_are_digits_only() {
        assert_eq!(parse_timestamp("0001700000000").ok(), Some(1_700_000_000));
        for bad in [
            "+1",
            "-1",
            "1.5",
            "1e9",
            "0x10",
            "1 2",
            "99999999999999999999",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
    }
}
