//! RSA signing keys: generation, the public forms a verifier consumes (JWK, SPKI PEM) and signing.

use std::fmt;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{json, Value};

use crate::ids;

/// The default modulus size of generated keys, the one Clerk uses.
pub const DEFAULT_KEY_BITS: usize = 2048;

/// The smallest modulus [`SigningKey::generate`] accepts: enough room for an RS256 signature.
pub const MIN_KEY_BITS: usize = 512;

/// The fixed test keys of [`SigningKey::test_key_n`]: PKCS#8 PEM texts and their kids.
///
/// Key 0 is also the one the server's end-to-end tests load (`server/tests/api/test_key.pem`).
const TEST_KEYS: [(&str, &str); 4] = [
    (
        include_str!("test_keys/0.pem"),
        "ins_TESTKEY0NotForProductionUse",
    ),
    (
        include_str!("test_keys/1.pem"),
        "ins_TESTKEY1NotForProductionUse",
    ),
    (
        include_str!("test_keys/2.pem"),
        "ins_TESTKEY2NotForProductionUse",
    ),
    (
        include_str!("test_keys/3.pem"),
        "ins_TESTKEY3NotForProductionUse",
    ),
];

/// A JWS signature algorithm the emulator can sign with.
///
/// Clerk signs session tokens with [`Algorithm::RS256`] only; the others exist so that tests can
/// check that a verifier refuses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 (keys of 2048 to 4096 bits with e = 65537 only).
    PS256,
    /// RSASSA-PSS with SHA-384 (keys of 2048 to 4096 bits with e = 65537 only).
    PS384,
    /// RSASSA-PSS with SHA-512 (keys of 2048 to 4096 bits with e = 65537 only).
    PS512,
}

impl Algorithm {
    /// The name used in a JWS header's `alg` field, e.g. `"RS256"`.
    ///
    /// ```
    /// assert_eq!(clerk_emulator::Algorithm::PS256.name(), "PS256");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
        }
    }

    fn ring_encoding(self) -> &'static dyn ring::signature::RsaEncoding {
        use ring::signature as s;
        match self {
            Self::RS256 => &s::RSA_PKCS1_SHA256,
            Self::RS384 => &s::RSA_PKCS1_SHA384,
            Self::RS512 => &s::RSA_PKCS1_SHA512,
            Self::PS256 => &s::RSA_PSS_SHA256,
            Self::PS384 => &s::RSA_PSS_SHA384,
            Self::PS512 => &s::RSA_PSS_SHA512,
        }
    }

    /// The digest and DER `DigestInfo` prefix of a PKCS#1 v1.5 algorithm (RFC 8017 §9.2 note 1).
    fn pkcs1_digest(self) -> Option<(&'static ring::digest::Algorithm, &'static [u8])> {
        const SHA256: &[u8] = &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ];
        const SHA384: &[u8] = &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ];
        const SHA512: &[u8] = &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ];
        match self {
            Self::RS256 => Some((&ring::digest::SHA256, SHA256)),
            Self::RS384 => Some((&ring::digest::SHA384, SHA384)),
            Self::RS512 => Some((&ring::digest::SHA512, SHA512)),
            Self::PS256 | Self::PS384 | Self::PS512 => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a key could not be loaded or could not sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The PKCS#8 document is not an RSA private key.
    InvalidPkcs8(String),
    /// The key is too small for the algorithm's digest, or (PSS) outside what `ring` can sign with.
    Unsupported {
        /// The algorithm asked for.
        algorithm: Algorithm,
        /// The key's modulus size in bits.
        bits: usize,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidPkcs8(why) => write!(f, "not an RSA PKCS#8 private key: {why}"),
            Self::Unsupported { algorithm, bits } => {
                write!(f, "cannot sign {algorithm} with a {bits}-bit RSA key")
            }
        }
    }
}

impl std::error::Error for KeyError {}

struct Material {
    private: RsaPrivateKey,
    pkcs8: Vec<u8>,
    /// `None` when `ring` refuses the key (outside 2048..=4096 bits, or e != 65537): such keys
    /// are signed with the `rsa` crate instead, for weak-key tests.
    ring: Option<ring::signature::RsaKeyPair>,
    n: Vec<u8>,
    e: Vec<u8>,
    bits: usize,
}

/// An RSA key pair with a key id, as Clerk publishes in its JWKS.
///
/// Cloning is cheap (the key material is shared). [`SigningKey::with_kid`] gives the same key
/// material under another `kid`.
///
/// ```
/// use clerk_emulator::SigningKey;
/// let key = SigningKey::test_key();
/// assert!(key.kid().starts_with("ins_"));
/// assert_eq!(key.jwk()["kty"], "RSA");
/// assert_eq!(key.sign(b"hello").len(), 256);
/// ```
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    material: Arc<Material>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("bits", &self.material.bits)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh RSA key pair (e = 65537) with a Clerk-like kid, `ins_<27 alphanumerics>`.
    ///
    /// Key generation is slow (tens to hundreds of milliseconds for 2048 bits even optimised):
    /// generate once and clone.
    ///
    /// # Panics
    /// If `bits` is below [`MIN_KEY_BITS`].
    pub fn generate(bits: usize) -> Self {
        Self::generate_with_exponent(bits, 65_537)
    }

    /// Generates a key pair with a chosen public exponent, e.g. `3` for weak-key tests.
    ///
    /// # Panics
    /// If `bits` is below [`MIN_KEY_BITS`], or `exponent` is even or below 3.
    pub fn generate_with_exponent(bits: usize, exponent: u64) -> Self {
        assert!(
            bits >= MIN_KEY_BITS,
            "RSA keys below {MIN_KEY_BITS} bits cannot carry an RS256 signature"
        );
        assert!(
            exponent >= 3 && exponent % 2 == 1,
            "an RSA public exponent must be odd and at least 3"
        );
        let mut rng = rsa::rand_core::OsRng;
        let private = RsaPrivateKey::new_with_exp(&mut rng, bits, &BigUint::from(exponent))
            .expect("RSA key generation succeeds for sizes >= 512 bits and odd exponents >= 3");
        Self::from_private(private, ids::clerk_id("ins"))
    }

    /// The fixed test key: a 2048-bit RSA key pair (e = 65537) compiled into this crate, with
    /// the kid `ins_TESTKEY0NotForProductionUse`. The same as [`SigningKey::test_key_n`]`(0)`.
    ///
    /// **Its private key is public** (it is in this crate's source): anyone can sign tokens
    /// with it. It is for tests only, where it spares each test run generating keys, and must
    /// never be trusted outside them. For anything else use [`SigningKey::generate`].
    ///
    /// The key is parsed once per process; each call returns a cheap clone.
    ///
    /// ```
    /// use clerk_emulator::{Emulator, SigningKey};
    /// let key = SigningKey::test_key();
    /// assert_eq!(key.kid(), "ins_TESTKEY0NotForProductionUse");
    /// assert_eq!(key.bits(), 2048);
    /// let emulator = Emulator::with_key(key);
    /// let token = emulator.session_token().user("user_1").sign();
    /// # let _ = token;
    /// ```
    pub fn test_key() -> Self {
        Self::test_key_n(0)
    }

    /// One of four fixed, distinct test keys, `n` in `0..4`, for tests that need more than one
    /// key (rotation, a token signed by a key the verifier does not trust, …). Key `n` is a
    /// 2048-bit RSA key pair (e = 65537) with the kid `ins_TESTKEY<n>NotForProductionUse`;
    /// key 0 is [`SigningKey::test_key`].
    ///
    /// **Their private keys are public** (they are in this crate's source): tests only, never
    /// trust them anywhere else.
    ///
    /// ```
    /// use clerk_emulator::SigningKey;
    /// let (first, second) = (SigningKey::test_key_n(0), SigningKey::test_key_n(1));
    /// assert_ne!(first.kid(), second.kid());
    /// assert_ne!(first.modulus(), second.modulus());
    /// ```
    ///
    /// # Panics
    /// If `n` is 4 or more.
    pub fn test_key_n(n: usize) -> Self {
        static PARSED: [OnceLock<SigningKey>; TEST_KEYS.len()] =
            [const { OnceLock::new() }; TEST_KEYS.len()];
        let Some(((pem, kid), parsed)) = TEST_KEYS.get(n).zip(PARSED.get(n)) else {
            panic!(
                "there are {} fixed test keys, SigningKey::test_key_n(0) to test_key_n({}); \
                 asked for test_key_n({n})",
                TEST_KEYS.len(),
                TEST_KEYS.len() - 1
            );
        };
        parsed
            .get_or_init(|| {
                let private = RsaPrivateKey::from_pkcs8_pem(pem)
                    .expect("the test keys compiled into the crate are RSA PKCS#8 PEM documents");
                Self::from_private(private, (*kid).to_owned())
            })
            .clone()
    }

    /// Loads a key pair from a PKCS#8 DER document (`-----BEGIN PRIVATE KEY-----` content), with a
    /// fresh random kid.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let private = RsaPrivateKey::from_pkcs8_der(der)
            .map_err(|e| KeyError::InvalidPkcs8(e.to_string()))?;
        Ok(Self::from_private(private, ids::clerk_id("ins")))
    }

    /// Loads a key pair from a PKCS#8 PEM text (`-----BEGIN PRIVATE KEY-----`), with a fresh
    /// random kid.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let private = RsaPrivateKey::from_pkcs8_pem(pem)
            .map_err(|e| KeyError::InvalidPkcs8(e.to_string()))?;
        Ok(Self::from_private(private, ids::clerk_id("ins")))
    }

    fn from_private(private: RsaPrivateKey, kid: String) -> Self {
        let pkcs8 = private
            .to_pkcs8_der()
            .expect("encoding an in-memory RSA key as PKCS#8 cannot fail")
            .as_bytes()
            .to_vec();
        let ring = ring::signature::RsaKeyPair::from_pkcs8(&pkcs8).ok();
        let material = Material {
            n: private.n().to_bytes_be(),
            e: private.e().to_bytes_be(),
            bits: private.n().bits(),
            private,
            pkcs8,
            ring,
        };
        Self {
            kid,
            material: Arc::new(material),
        }
    }

    /// The same key material under another key id.
    pub fn with_kid(&self, kid: impl Into<String>) -> Self {
        Self {
            kid: kid.into(),
            material: Arc::clone(&self.material),
        }
    }

    /// The key id (`kid`), published in the JWK and put in the header of tokens it signs.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.material.bits
    }

    /// The modulus `n`, big-endian, without leading zeros.
    pub fn modulus(&self) -> &[u8] {
        &self.material.n
    }

    /// The public exponent `e`, big-endian, without leading zeros.
    pub fn exponent(&self) -> &[u8] {
        &self.material.e
    }

    /// The private key as a PKCS#8 DER document.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.material.pkcs8
    }

    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn private_key_pem(&self) -> String {
        self.material
            .private
            .to_pkcs8_pem(LineEnding::LF)
            .expect("encoding an in-memory RSA key as PEM cannot fail")
            .to_string()
    }

    /// The public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`, 64-column lines, final newline),
    /// the form Clerk shows as the "JWT public key" (`CLERK_JWT_KEY`).
    pub fn public_key_pem(&self) -> String {
        self.material
            .private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("encoding an in-memory RSA public key as PEM cannot fail")
    }

    /// The public key as a JWK, in the shape Clerk's JWKS endpoints serve:
    /// `{"kid","kty":"RSA","alg":"RS256","use":"sig","n","e"}`.
    pub fn jwk(&self) -> Value {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        json!({
            "kid": self.kid,
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "n": b64.encode(&self.material.n),
            "e": b64.encode(&self.material.e),
        })
    }

    /// Signs `message` with RS256 (RSASSA-PKCS1-v1_5, SHA-256).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.sign_with(Algorithm::RS256, message)
            .expect("every key accepted by this type is large enough for RS256")
    }

    /// Signs `message` with any [`Algorithm`].
    ///
    /// Keys that `ring` accepts (2048 to 4096 bits, e = 65537) are signed with `ring`; others
    /// with the `rsa` crate, which covers the PKCS#1 v1.5 algorithms only.
    pub fn sign_with(&self, algorithm: Algorithm, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let unsupported = KeyError::Unsupported {
            algorithm,
            bits: self.material.bits,
        };
        if let Some(pair) = &self.material.ring {
            let mut signature = vec![0; pair.public().modulus_len()];
            pair.sign(
                algorithm.ring_encoding(),
                &ring::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| unsupported)?;
            return Ok(signature);
        }
        let (digest, prefix) = algorithm.pkcs1_digest().ok_or(unsupported.clone())?;
        let hashed = ring::digest::digest(digest, message);
        let scheme = Pkcs1v15Sign {
            hash_len: Some(digest.output_len()),
            prefix: prefix.into(),
        };
        self.material
            .private
            .sign(scheme, hashed.as_ref())
            .map_err(|_| unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_keys_load_with_distinct_material_and_clerk_shaped_kids() {
        let keys: Vec<SigningKey> = (0..TEST_KEYS.len()).map(SigningKey::test_key_n).collect();
        for (n, key) in keys.iter().enumerate() {
            assert_eq!(key.bits(), 2048);
            assert_eq!(key.exponent(), [1, 0, 1]);
            assert!(key.material.ring.is_some(), "ring signs with test key {n}");
            let random = key.kid().strip_prefix("ins_").unwrap();
            assert_eq!(random.len(), ids::ID_LEN);
            assert!(random.bytes().all(|b| b.is_ascii_alphanumeric()));
            for other in &keys[..n] {
                assert_ne!(key.kid(), other.kid());
                assert_ne!(key.modulus(), other.modulus());
            }
        }
        assert_eq!(SigningKey::test_key().kid(), keys[0].kid());
        assert_eq!(SigningKey::test_key().modulus(), keys[0].modulus());
    }

    #[test]
    #[should_panic(expected = "there are 4 fixed test keys")]
    fn there_is_no_fifth_test_key() {
        let _ = SigningKey::test_key_n(4);
    }
}
