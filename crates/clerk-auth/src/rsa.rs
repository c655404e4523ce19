//! RSA public keys for RS256: checked once when loaded (2048 to 8192 bits, odd exponent ≥ 3),
//! from a PEM (`CLERK_JWT_KEY`, [`RsaPublicKey::from_pem`]), DER (SPKI or PKCS#1, read
//! strictly: minimal lengths, no trailing bytes) or a JWK's components.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use std::fmt;

/// The smallest RSA modulus accepted, in bits (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits: bigger keys only cost CPU (security.md §3.5).
pub const MAX_RSA_BITS: usize = 8192;

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub(crate) String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

pub(crate) fn key_error(msg: impl Into<String>) -> KeyError {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
