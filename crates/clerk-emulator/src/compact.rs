//! The JWS compact serialization, segment by segment, for building valid and deliberately
//! broken tokens.
//!
//! [`Compact`] holds the three base64url segments as plain strings. Start from raw JSON text
//! (duplicate keys, deep nesting, non-objects, anything), sign it or not, then mangle the
//! segments:
//!
//! ```
//! use clerk_emulator::{Compact, SigningKey};
//! let key = SigningKey::test_key();
//!
//! // A correctly signed token whose payload has a duplicate `sub`.
//! let token = Compact::from_json(
//!     r#"{"alg":"RS256","typ":"JWT"}"#,
//!     r#"{"sub":"user_1","sub":"user_2","exp":4102444800}"#,
//! )
//! .sign(&key)
//! .to_string();
//! assert_eq!(token.split('.').count(), 3);
//!
//! // The same with `=` padding and the standard alphabet, then two segments only.
//! let c = Compact::from_json(r#"{"alg":"RS256"}"#, r#"{"a":1}"#).sign(&key);
//! let padded = c.clone().padded().standard_alphabet().to_string();
//! let two = c.two_segments();
//! assert_eq!(two.split('.').count(), 2);
//! # let _ = padded;
//! ```

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

use crate::key::{Algorithm, KeyError, SigningKey};

/// Encodes bytes as unpadded base64url, the encoding of every JWS segment.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url (strictly: no padding, no whitespace).
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// The same segment with `=` padding added up to a multiple of 4 characters.
///
/// A segment whose length is already a multiple of 4 needs no padding and comes back unchanged.
pub fn pad(segment: &str) -> String {
    let mut out = segment.to_owned();
    while out.len() % 4 != 0 {
        out.push('=');
    }
    out
}

/// The same segment in the standard base64 alphabet (`+` and `/` instead of `-` and `_`).
///
/// Only segments that contain `-` or `_` change.
pub fn standard_alphabet(segment: &str) -> String {
    segment.replace('-', "+").replace('_', "/")
}

/// The same bytes in a non-canonical spelling: the unused low bits of the last character set to
/// 1. Lenient decoders accept it and decode the same bytes; strict ones reject it.
///
/// `None` when the segment's length is a multiple of 4 (no unused bits) or it is not base64url.
///
/// ```
/// use clerk_emulator::compact::{b64url, noncanonical};
/// let seg = b64url(b"ab"); // "YWI": the last character carries 2 unused bits
/// assert_eq!(noncanonical(&seg).as_deref(), Some("YWL"));
/// ```
pub fn noncanonical(segment: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let unused_bits = match segment.len() % 4 {
        2 => 4,
        3 => 2,
        _ => return None,
    };
    let last = *segment.as_bytes().last()?;
    let value = ALPHABET.iter().position(|&c| c == last)?;
    let changed = value | ((1 << unused_bits) - 1);
    let mut out = segment[..segment.len() - 1].to_owned();
    out.push(char::from(ALPHABET[changed]));
    Some(out)
}

/// The three base64url segments of a compact JWS: `header.payload.signature`.
///
/// The fields are public: edit them freely to build any malformed token. [`fmt::Display`] joins
/// them with dots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compact {
    /// The protected header segment.
    pub header_b64: String,
    /// The payload segment.
    pub payload_b64: String,
    /// The signature segment (empty until signed).
    pub signature_b64: String,
}

impl Compact {
    /// Encodes a raw header text and a raw payload text, taken as is (they need not be valid
    /// JSON). The signature is empty until [`Compact::sign`] or [`Compact::with_signature`].
    pub fn from_json(header_json: &str, payload_json: &str) -> Self {
        Self::from_bytes(header_json.as_bytes(), payload_json.as_bytes())
    }

    /// Like [`Compact::from_json`], for arbitrary bytes (invalid UTF-8, a byte-order mark, ...).
    pub fn from_bytes(header: &[u8], payload: &[u8]) -> Self {
        Self {
            header_b64: b64url(header),
            payload_b64: b64url(payload),
            signature_b64: String::new(),
        }
    }

    /// Splits a token into its segments; `None` unless it has exactly 3.
    pub fn parse(token: &str) -> Option<Self> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            header_b64: h.to_owned(),
            payload_b64: p.to_owned(),
            signature_b64: s.to_owned(),
        })
    }

    /// The bytes a JWS signature covers: `header_b64 + "." + payload_b64`, as currently spelled.
    pub fn signing_input(&self) -> String {
        format!("{}.{}", self.header_b64, self.payload_b64)
    }

    /// Signs the current signing input with RS256 and sets the signature segment.
    pub fn sign(self, key: &SigningKey) -> Self {
        let signature = key.sign(self.signing_input().as_bytes());
        self.with_signature(&signature)
    }

    /// Signs the current signing input with any algorithm (whatever the header says).
    pub fn sign_with(self, key: &SigningKey, algorithm: Algorithm) -> Result<Self, KeyError> {
        let signature = key.sign_with(algorithm, self.signing_input().as_bytes())?;
        Ok(self.with_signature(&signature))
    }

    /// Sets the signature segment to the base64url encoding of arbitrary bytes (empty is allowed).
    pub fn with_signature(mut self, signature: &[u8]) -> Self {
        self.signature_b64 = b64url(signature);
        self
    }

    /// Flips one bit in the last byte of the signature: a well-formed but invalid signature.
    /// An empty or non-base64url signature segment is left as is.
    pub fn corrupt_signature(mut self) -> Self {
        if let Some(mut bytes) = b64url_decode(&self.signature_b64) {
            if let Some(last) = bytes.last_mut() {
                *last ^= 0x01;
                self.signature_b64 = b64url(&bytes);
            }
        }
        self
    }

    /// Applies `f` to each of the three segments.
    pub fn map_segments(self, mut f: impl FnMut(&str) -> String) -> Self {
        Self {
            header_b64: f(&self.header_b64),
            payload_b64: f(&self.payload_b64),
            signature_b64: f(&self.signature_b64),
        }
    }

    /// Adds `=` padding to every segment whose length is not a multiple of 4 (see [`pad`]).
    pub fn padded(self) -> Self {
        self.map_segments(pad)
    }

    /// Rewrites every segment in the standard base64 alphabet (see [`standard_alphabet`]).
    pub fn standard_alphabet(self) -> Self {
        self.map_segments(standard_alphabet)
    }

    /// The token as `header.payload`: the signature segment and its dot left out.
    pub fn two_segments(&self) -> String {
        self.signing_input()
    }

    /// The token with a fourth segment appended: `header.payload.signature.extra`.
    pub fn with_extra_segment(&self, extra: &str) -> String {
        format!("{self}.{extra}")
    }
}

impl fmt::Display for Compact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}",
            self.header_b64, self.payload_b64, self.signature_b64
        )
    }
}

/// Standard (padded, `+/`) base64 of arbitrary bytes, e.g. to build a publishable key.
pub(crate) fn b64_standard(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}
