//! Verification keys and where they come from.
//!
//! - [`RsaPublicKey`]: an RSA public key, checked once when it is loaded (2048 to 8192 bits,
//!   odd exponent ≥ 3), then used for RS256 verification.
//! - PEM (`CLERK_JWT_KEY`): [`RsaPublicKey::from_pem`], networkless; the token's `kid` is ignored.
//! - JWKS documents: [`parse_jwks`], with the filtering rules of security.md §3: unusable keys
//!   are skipped without rejecting the set, duplicate `kid`s refuse the set.
//! - Where a JWKS lives: [`KeySource`], from a JWKS URL, Clerk's Backend API (secret key) or the
//!   Frontend API host derived from a publishable key ([`PublishableKey`]).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// The smallest RSA modulus accepted, in bits (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits: bigger keys only cost CPU (security.md §3.5).
pub const MAX_RSA_BITS: usize = 8192;
/// The most keys kept from one JWKS document.
pub const MAX_JWKS_KEYS: usize = 64;

/// Why a key or key source was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub(crate) String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

fn key_error(msg: impl Into<String>) -> KeyError {
    KeyError(msg.into())
}

/// An RSA public key usable for RS256: modulus 2048 to 8192 bits, odd public exponent ≥ 3.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    n: Box<[u8]>,
    e: Box<[u8]>,
}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPublicKey")
            .field("bits", &self.bits())
            .finish_non_exhaustive()
    }
}

impl RsaPublicKey {
    /// A key from its big-endian modulus and exponent. Leading zero bytes are ignored.
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = bit_len(n);
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(key_error(format!(
                "RSA modulus of {bits} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} bits are accepted"
            )));
        }
        // ring accepts exponents up to 2^33 - 1; every real key uses 65537.
        let e_value = match e.len() {
            1..=5 => e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
            _ => return Err(key_error("RSA public exponent is too large")),
        };
        if e_value < 3 || e_value % 2 == 0 || e_value >= 1 << 33 {
            return Err(key_error(
                "RSA public exponent must be odd, at least 3 and below 2^33",
            ));
        }
        Ok(RsaPublicKey {
            n: n.into(),
            e: e.into(),
        })
    }

    /// A key from a PEM text: an SPKI `PUBLIC KEY` (what Clerk's dashboard shows as the
    /// "JWT public key"), or a PKCS#1 `RSA PUBLIC KEY`.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let pem = pem.trim();
        if pem.is_empty() {
            return Err(key_error("the PEM key is empty"));
        }
        let (label, body) = pem_body(pem)?;
        let der = STANDARD
            .decode(body)
            .map_err(|_| key_error("the PEM body is not valid base64"))?;
        match label {
            "PUBLIC KEY" => Self::from_spki_der(&der),
            "RSA PUBLIC KEY" => Self::from_pkcs1_der(&der),
            other => Err(key_error(format!(
                "a PEM \"{other}\" is not an RSA public key; expected \"PUBLIC KEY\""
            ))),
        }
    }

    /// A key from a DER `SubjectPublicKeyInfo` with the `rsaEncryption` algorithm.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        let mut outer = Der::new(der).sequence()?;
        let mut algorithm = outer.sequence()?;
        if algorithm.element(0x06)? != RSA_ENCRYPTION {
            return Err(key_error("the public key is not an RSA key"));
        }
        if !algorithm.is_empty() && !algorithm.element(0x05)?.is_empty() {
            return Err(key_error("malformed RSA algorithm parameters"));
        }
        algorithm.finish()?;
        let bits = outer.element(0x03)?;
        outer.finish()?;
        match bits.split_first() {
            Some((0, pkcs1)) => Self::from_pkcs1_der(pkcs1),
            _ => Err(key_error("malformed public key bit string")),
        }
    }

    /// A key from a DER PKCS#1 `RSAPublicKey`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        let mut seq = Der::new(der).sequence()?;
        let n = seq.integer()?;
        let e = seq.integer()?;
        seq.finish()?;
        Self::from_components(n, e)
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        bit_len(&self.n)
    }

    /// Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature (RS256) over `message`.
    ///
    /// The signature must be exactly as long as the modulus; the encoded message is rebuilt
    /// and compared whole (no ASN.1 parsing of the signature).
    pub fn verify_rs256(&self, message: &[u8], signature: &[u8]) -> bool {
        RsaPublicKeyComponents {
            n: &*self.n,
            e: &*self.e,
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
        .is_ok()
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn bit_len(be: &[u8]) -> usize {
    match be.first() {
        None => 0,
        Some(&top) => be.len() * 8 - top.leading_zeros() as usize,
    }
}

fn pem_body(pem: &str) -> Result<(&str, String), KeyError> {
    let rest = pem.strip_prefix("-----BEGIN ").ok_or_else(|| {
        key_error("not a PEM key: it must start with \"-----BEGIN PUBLIC KEY-----\"")
    })?;
    let (label, rest) = rest
        .split_once("-----")
        .ok_or_else(|| key_error("malformed PEM header line"))?;
    let end = format!("-----END {label}-----");
    let body = rest
        .trim_end()
        .strip_suffix(end.as_str())
        .ok_or_else(|| key_error(format!("the PEM key does not end with \"{end}\"")))?;
    let body: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    Ok((label, body))
}

/// A minimal strict DER reader: definite lengths only, minimal length encoding.
struct Der<'a> {
    input: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(input: &'a [u8]) -> Self {
        Der { input }
    }

    fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    fn finish(&self) -> Result<(), KeyError> {
        if self.input.is_empty() {
            Ok(())
        } else {
            Err(key_error("trailing data in DER key"))
        }
    }

    fn element(&mut self, tag: u8) -> Result<&'a [u8], KeyError> {
        let malformed = || key_error("malformed DER key");
        let (&found, rest) = self.input.split_first().ok_or_else(malformed)?;
        if found != tag {
            return Err(malformed());
        }
        let (&first, mut rest) = rest.split_first().ok_or_else(malformed)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 2 || rest.len() < count {
                return Err(malformed());
            }
            let len = rest[..count]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 || (count == 2 && len < 0x100) {
                return Err(malformed());
            }
            rest = &rest[count..];
            len
        };
        if rest.len() < len {
            return Err(malformed());
        }
        let (content, rest) = rest.split_at(len);
        self.input = rest;
        Ok(content)
    }

    fn sequence(&mut self) -> Result<Der<'a>, KeyError> {
        self.element(0x30).map(Der::new)
    }

    /// A positive INTEGER's big-endian magnitude.
    fn integer(&mut self) -> Result<&'a [u8], KeyError> {
        let value = self.element(0x02)?;
        match value {
            [] => Err(key_error("malformed DER integer")),
            [first, ..] if first & 0x80 != 0 => Err(key_error("negative DER integer")),
            [0, second, ..] if second & 0x80 == 0 => Err(key_error("non-minimal DER integer")),
            _ => Ok(value),
        }
    }
}

/// The usable keys of a JWKS document, by `kid`.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, Arc<RsaPublicKey>>,
}

impl KeySet {
    /// The key with this `kid`.
    pub fn get(&self, kid: &str) -> Option<&Arc<RsaPublicKey>> {
        self.keys.get(kid)
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid`s of the usable keys.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

/// Parses a JWKS document (`{"keys": [...]}`) and keeps the keys usable for RS256.
///
/// A key is skipped, without refusing the set, when its `kty` is not `RSA`, its `use` is
/// present and not `sig`, its `alg` is present and not `RS256`, its `key_ops` lacks `verify`,
/// it carries private parameters, it has no `kid`, or its modulus or exponent is unacceptable.
/// The whole set is refused when it is not a JSON object with a `keys` array, when two keys
/// share a `kid`, or when no usable key is left (Clerk's "did not contain any signing keys").
pub fn parse_jwks(body: &[u8]) -> Result<KeySet, KeyError> {
    let doc = crate::token::parse_object(body, "JWKS")
        .map_err(|_| key_error("the JWKS is not a JSON object"))?;
    let Some(Value::Array(entries)) = doc.get("keys") else {
        return Err(key_error("the JWKS has no \"keys\" array"));
    };
    let mut seen = std::collections::HashSet::new();
    let mut keys = HashMap::new();
    for entry in entries {
        if let Some(kid) = entry.get("kid").and_then(Value::as_str) {
            if !seen.insert(kid) {
                return Err(key_error(format!(
                    "the JWKS has two keys with kid {kid:?}; refusing an ambiguous key set"
                )));
            }
        }
        match parse_jwk(entry) {
            Ok((kid, key)) => {
                if keys.len() < MAX_JWKS_KEYS {
                    keys.insert(kid, Arc::new(key));
                }
            }
            Err(why) => tracing::warn!(reason = %why, "skipping an unusable JWKS key"),
        }
    }
    if keys.is_empty() {
        return Err(key_error(
            "the JWKS did not contain any usable RS256 signing key",
        ));
    }
    Ok(KeySet { keys })
}

/// Checks one JWK and returns its `kid` and key, or why it is unusable.
pub fn parse_jwk(jwk: &Value) -> Result<(String, RsaPublicKey), KeyError> {
    let Value::Object(jwk) = jwk else {
        return Err(key_error("a JWK must be an object"));
    };
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    if text("kty") != Some("RSA") {
        return Err(key_error("kty is not RSA"));
    }
    if jwk.contains_key("use") && text("use") != Some("sig") {
        return Err(key_error("use is not sig"));
    }
    if jwk.contains_key("alg") && text("alg") != Some("RS256") {
        return Err(key_error("alg is not RS256"));
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op == "verify"));
        if !verifies {
            return Err(key_error("key_ops does not allow verify"));
        }
    }
    if ["d", "p", "q", "dp", "dq", "qi", "oth"]
        .iter()
        .any(|private| jwk.contains_key(*private))
    {
        return Err(key_error("the JWK carries private key material"));
    }
    let kid = match text("kid") {
        Some(kid) if !kid.is_empty() && kid.len() <= crate::token::MAX_KID_LEN => kid,
        _ => return Err(key_error("the JWK has no usable kid")),
    };
    let component = |name: &str| {
        text(name)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .ok_or_else(|| key_error(format!("{name} is missing or not base64url")))
    };
    let key = RsaPublicKey::from_components(&component("n")?, &component("e")?)?;
    Ok((kid.to_owned(), key))
}

/// A Clerk publishable key (`pk_test_…` / `pk_live_…`), parsed as Clerk's SDK does
/// (clerk-spec §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishableKey {
    key: String,
    frontend_api: String,
    live: bool,
}

impl PublishableKey {
    /// Parses a publishable key: `pk_test_` or `pk_live_`, then the base64 of
    /// `<frontend api host>$`.
    pub fn parse(key: &str) -> Result<Self, KeyError> {
        let key = key.trim();
        let mut parts = key.split('_');
        let (Some("pk"), Some(kind), Some(encoded), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(key_error(
                "a publishable key looks like pk_test_… or pk_live_…",
            ));
        };
        let live = match kind {
            "live" => true,
            "test" => false,
            _ => {
                return Err(key_error(
                    "a publishable key starts with pk_test_ or pk_live_",
                ))
            }
        };
        let decoded = STANDARD
            .decode(encoded.trim_end_matches('='))
            .or_else(|_| {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(encoded.trim_end_matches('='))
            })
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| key_error("the publishable key's payload is not base64 text"))?;
        let host = decoded
            .strip_suffix('$')
            .filter(|host| !host.contains('$') && host.contains('.'))
            .ok_or_else(|| {
                key_error("the publishable key does not encode a Frontend API host ending in $")
            })?;
        Ok(PublishableKey {
            key: key.to_owned(),
            frontend_api: host.to_owned(),
            live,
        })
    }

    /// The Frontend API host, e.g. `clerk.example.com` or `foo-bar-13.clerk.accounts.dev`.
    pub fn frontend_api(&self) -> &str {
        &self.frontend_api
    }

    /// True for a production (`pk_live_`) key.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// The issuer Clerk puts in this instance's session tokens: `https://<frontend api>`.
    pub fn issuer(&self) -> String {
        format!("https://{}", self.frontend_api)
    }

    /// The instance's public JWKS: `https://<frontend api>/.well-known/jwks.json`.
    pub fn jwks_url(&self) -> String {
        format!("https://{}/.well-known/jwks.json", self.frontend_api)
    }

    /// The suffix Clerk appends to this instance's cookie names (`__session_<suffix>`):
    /// the first 8 characters of the base64url SHA-1 of the publishable key.
    pub fn cookie_suffix(&self) -> String {
        let digest =
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, self.key.as_bytes());
        let mut suffix = base64::engine::general_purpose::URL_SAFE.encode(digest.as_ref());
        suffix.truncate(8);
        suffix
    }
}

/// Where a remote key set is fetched from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS URL fetched without credentials (the Frontend API's
    /// `/.well-known/jwks.json`, a proxy, the emulator).
    JwksUrl(String),
    /// Clerk's Backend API, `GET {api_url}/v1/jwks`, authenticated with the secret key.
    BackendApi {
        /// The Backend API base URL, e.g. `https://api.clerk.com`.
        api_url: String,
        /// The instance's secret key (`sk_test_…` / `sk_live_…`).
        secret_key: String,
    },
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::JwksUrl(url) => f.debug_tuple("JwksUrl").field(url).finish(),
            KeySource::BackendApi { api_url, .. } => f
                .debug_struct("BackendApi")
                .field("api_url", api_url)
                .field("secret_key", &"<redacted>")
                .finish(),
        }
    }
}

impl KeySource {
    /// The URL the keys are fetched from.
    pub fn url(&self) -> String {
        match self {
            KeySource::JwksUrl(url) => url.clone(),
            KeySource::BackendApi { api_url, .. } => {
                format!("{}/v1/jwks", api_url.trim_end_matches('/'))
            }
        }
    }

    /// Checks the URL: `https://`, or `http://` on a loopback host (127.0.0.0/8, `::1`,
    /// `localhost`) for development and tests.
    pub fn check_url(&self) -> Result<(), KeyError> {
        check_fetch_url(&self.url())
    }

    /// The issuer implied by a JWKS URL of the form `<base>/.well-known/jwks.json`.
    pub fn implied_issuer(&self) -> Option<String> {
        match self {
            KeySource::JwksUrl(url) => url
                .strip_suffix("/.well-known/jwks.json")
                .filter(|base| !base.is_empty())
                .map(str::to_owned),
            KeySource::BackendApi { .. } => None,
        }
    }
}

/// Checks that a URL is `https://`, or `http://` on a loopback host.
pub fn check_fetch_url(url: &str) -> Result<(), KeyError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| key_error(format!("invalid URL {url:?}: {e}")))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        "http" => Err(key_error(format!(
            "{url:?} must use https:// (plain http is allowed only on a loopback host)"
        ))),
        other => Err(key_error(format!(
            "{url:?} has unsupported scheme {other:?}"
        ))),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishable_key_decodes_frontend_api() {
        let pk = PublishableKey::parse("pk_test_Y2xlcmsuY2xlcmsuZGV2JA").expect("valid");
        assert_eq!(pk.frontend_api(), "clerk.clerk.dev");
        assert!(!pk.is_live());
        assert_eq!(pk.issuer(), "https://clerk.clerk.dev");
        assert_eq!(
            pk.jwks_url(),
            "https://clerk.clerk.dev/.well-known/jwks.json"
        );
    }

    #[test]
    fn publishable_key_padding_is_optional() {
        let padded = PublishableKey::parse("pk_live_Y2xlcmsuY2xlcmsuZGV2JA==").expect("padded");
        assert_eq!(padded.frontend_api(), "clerk.clerk.dev");
        assert!(padded.is_live());
    }

    #[test]
    fn cookie_suffix_matches_clerk_vectors() {
        let live = PublishableKey::parse("pk_live_Y2xlcmsuY2xlcmsuZGV2JA").expect("live");
        assert_eq!(live.cookie_suffix(), "1Z8AzTQD");
        let test = PublishableKey::parse("pk_test_Y2xlcmsuY2xlcmsuZGV2JA").expect("test");
        assert_eq!(test.cookie_suffix(), "QvfNY2dr");
    }

    #[test]
    fn malformed_publishable_keys_are_refused() {
        let dollar_inside = format!("pk_test_{}", STANDARD.encode("clerk.$example.com$"));
        let no_dot = format!("pk_test_{}", STANDARD.encode("localhost$"));
        let no_dollar = format!("pk_test_{}", STANDARD.encode("clerk.example.com"));
        let extra_after = format!("pk_test_{}", STANDARD.encode("clerk.example.com$x"));
        for key in [
            "",
            "pk_test",
            "sk_test_Y2xlcmsuY2xlcmsuZGV2JA",
            "pk_prod_Y2xlcmsuY2xlcmsuZGV2JA",
            "pk_test_Y2xlcmsuY2xlcmsuZGV2JA_x",
            "pk_test_!!!",
            &dollar_inside,
            &no_dot,
            &no_dollar,
            &extra_after,
        ] {
            assert!(PublishableKey::parse(key).is_err(), "{key:?}");
        }
    }

    #[test]
    fn jwks_urls_must_be_https_except_on_loopback() {
        for ok in [
            "https://clerk.example.com/.well-known/jwks.json",
            "http://127.0.0.1:8080/.well-known/jwks.json",
            "http://127.3.4.5/jwks",
            "http://localhost:3000/jwks",
            "http://[::1]:3000/jwks",
        ] {
            assert!(check_fetch_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://clerk.example.com/.well-known/jwks.json",
            "http://10.0.0.1/jwks",
            "http://localhost.evil.example/jwks",
            "ftp://127.0.0.1/jwks",
            "not a url",
        ] {
            assert!(check_fetch_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn issuer_is_implied_by_a_well_known_jwks_url() {
        let src = KeySource::JwksUrl("http://127.0.0.1:9/.well-known/jwks.json".into());
        assert_eq!(src.implied_issuer().as_deref(), Some("http://127.0.0.1:9"));
        let other = KeySource::JwksUrl("https://proxy.example.com/keys".into());
        assert_eq!(other.implied_issuer(), None);
    }

    #[test]
    fn backend_api_source_never_shows_the_secret() {
        let src = KeySource::BackendApi {
            api_url: "https://api.clerk.com/".into(),
            secret_key: "sk_test_secret".into(),
        };
        assert_eq!(src.url(), "https://api.clerk.com/v1/jwks");
        assert!(!format!("{src:?}").contains("sk_test_secret"));
    }

    #[test]
    fn components_outside_policy_are_refused() {
        let n2048 = {
            let mut n = vec![0xffu8; 256];
            n[255] = 0xfb;
            n
        };
        assert!(RsaPublicKey::from_components(&n2048, &[1, 0, 1]).is_ok());
        assert!(RsaPublicKey::from_components(&[&[0, 0][..], &n2048].concat(), &[1, 0, 1]).is_ok());
        assert!(
            RsaPublicKey::from_components(&n2048[..128], &[1, 0, 1]).is_err(),
            "1024 bits"
        );
        assert!(
            RsaPublicKey::from_components(&[&[0x7f][..], &n2048[1..]].concat(), &[1, 0, 1])
                .is_err(),
            "2047 bits"
        );
        assert!(
            RsaPublicKey::from_components(&vec![0xff; 1025], &[1, 0, 1]).is_err(),
            "8200 bits"
        );
        for e in [
            &[1u8][..],
            &[2],
            &[0],
            &[],
            &[1, 0, 0],
            &[1, 0, 0, 0, 0, 0, 1],
        ] {
            assert!(RsaPublicKey::from_components(&n2048, e).is_err(), "e={e:?}");
        }
        assert!(RsaPublicKey::from_components(&n2048, &[3]).is_ok());
    }

    #[test]
    fn pem_refuses_garbage_and_other_key_types() {
        assert!(RsaPublicKey::from_pem("").is_err());
        assert!(RsaPublicKey::from_pem("MIIBIjANBgkq").is_err());
        assert!(RsaPublicKey::from_pem(
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
        )
        .is_err());
        // An EC P-256 SPKI key.
        let ec = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\nq9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n-----END PUBLIC KEY-----";
        let err = RsaPublicKey::from_pem(ec).expect_err("EC key");
        assert!(err.to_string().contains("not an RSA key"), "{err}");
        assert!(RsaPublicKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
        )
        .is_err());
    }

    fn jwk(extra: serde_json::Value) -> Value {
        let mut n = vec![0xffu8; 256];
        n[255] = 0xfb;
        let mut base = serde_json::json!({
            "kid": "k1", "kty": "RSA", "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(&n), "e": "AQAB",
        });
        if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
            for (k, v) in extra {
                if v.is_null() {
                    base.remove(&k);
                } else {
                    base.insert(k, v);
                }
            }
        }
        base
    }

    #[test]
    fn jwk_filtering_skips_unusable_keys() {
        use serde_json::json;
        assert!(parse_jwk(&jwk(json!({}))).is_ok());
        assert!(parse_jwk(&jwk(json!({"use": null, "alg": null}))).is_ok());
        assert!(parse_jwk(&jwk(json!({"key_ops": ["verify"]}))).is_ok());
        for bad in [
            json!({"use": "enc"}),
            json!({"alg": "RS512"}),
            json!({"alg": "PS256"}),
            json!({"kty": "EC"}),
            json!({"kty": "oct"}),
            json!({"key_ops": ["encrypt"]}),
            json!({"key_ops": "verify"}),
            json!({"d": "AQAB"}),
            json!({"kid": null}),
            json!({"kid": ""}),
            json!({"kid": 7}),
            json!({"e": "AQ"}),
            json!({"e": "AQAB=="}),
            json!({"n": "AQAB"}),
            json!({"n": null}),
        ] {
            assert!(parse_jwk(&jwk(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn jwks_with_duplicate_kids_is_refused_and_unusable_keys_are_skipped() {
        use serde_json::json;
        let dup = json!({"keys": [jwk(json!({})), jwk(json!({}))]}).to_string();
        assert!(parse_jwks(dup.as_bytes())
            .expect_err("dup")
            .0
            .contains("two keys"));
        let mixed = json!({"keys": [jwk(json!({})), jwk(json!({"kid": "enc", "use": "enc"})), {"kty": "oct", "k": "AAAA", "kid": "h"}]}).to_string();
        let set = parse_jwks(mixed.as_bytes()).expect("usable key kept");
        assert_eq!(set.kids().collect::<Vec<_>>(), ["k1"]);
        assert!(parse_jwks(br#"{"keys":[]}"#).is_err());
        assert!(parse_jwks(b"<html>").is_err());
        assert!(parse_jwks(br#"{"keys":{}}"#).is_err());
    }
}
