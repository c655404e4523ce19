//! Who a request acts for, as the upstream is told: identity headers (always the full set,
//! empty when absent), and optionally a signed identity (`X-Clerk-Identity`, a short JWT the
//! upstream verifies against the gateway's `/.well-known/jwks.json`).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_auth::{Caller, TokenType};
use http::{HeaderMap, HeaderName, HeaderValue};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde_json::{json, Value};

/// The identity headers, in the order they are sent. Every answer that allows a request
/// carries all of them (empty when absent), so that a proxy copying only the headers present
/// can never let a client's own copy through.
pub const HEADERS: [&str; 9] = [
    "x-clerk-user-id",
    "x-clerk-session-id",
    "x-clerk-org-id",
    "x-clerk-org-slug",
    "x-clerk-org-role",
    "x-clerk-org-permissions",
    "x-clerk-token-type",
    "x-clerk-machine-id",
    "x-clerk-scopes",
];

/// The signed identity header.
pub const IDENTITY_HEADER: &str = "x-clerk-identity";

/// The most bytes of identity headers (names and values) an answer may carry: well under
/// nginx's default `proxy_buffer_size` of one 4 KiB page, which also holds the status line
/// and the other headers. A credential whose identity is larger is refused (403
/// `identity-too-large`) rather than cut: a cut permission list would tell the upstream
/// something false.
pub const MAX_IDENTITY_BYTES: usize = 3 * 1024;

/// The identity of an allowed request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// `user_…`: the session's user, an API key's or OAuth token's user.
    pub user_id: String,
    /// `sess_…`.
    pub session_id: String,
    /// `org_…`: the active organization, or an API key's organization.
    pub org_id: String,
    /// The active organization's slug.
    pub org_slug: String,
    /// The role in the active organization.
    pub org_role: String,
    /// The permissions in the active organization.
    pub org_permissions: Vec<String>,
    /// `session_token`, `api_key`, `m2m_token`, `oauth_token`; empty when anonymous.
    pub token_type: String,
    /// `mch_…`: an M2M token's machine.
    pub machine_id: String,
    /// A machine credential's scopes.
    pub scopes: Vec<String>,
    /// The machine credential's subject when it is none of the above (kept for the signed
    /// identity's `sub`).
    pub subject: String,
    /// When the credential expires (Unix seconds), if it does.
    pub expires_at: Option<i64>,
}

impl Identity {
    /// The identity of a verified caller.
    pub fn of(caller: &Caller) -> Identity {
        match caller {
            Caller::Session(claims) => Identity {
                user_id: claims.user_id().to_owned(),
                session_id: claims.session_id().to_owned(),
                org_id: claims.org_id().unwrap_or_default().to_owned(),
                org_slug: claims.org_slug().unwrap_or_default().to_owned(),
                org_role: claims.org_role().unwrap_or_default().to_owned(),
                org_permissions: claims.org_permissions().to_vec(),
                token_type: TokenType::SessionToken.as_str().to_owned(),
                subject: claims.user_id().to_owned(),
                expires_at: Some(claims.expires_at()),
                ..Identity::default()
            },
            Caller::Machine(machine) => Identity {
                user_id: machine.user_id().unwrap_or_default().to_owned(),
                org_id: machine.org_id().unwrap_or_default().to_owned(),
                token_type: machine.token_type().as_str().to_owned(),
                machine_id: machine.machine_id().unwrap_or_default().to_owned(),
                scopes: machine.scopes().to_vec(),
                subject: machine.subject().to_owned(),
                expires_at: machine.expiration_ms().map(|ms| ms.div_euclid(1000)),
                ..Identity::default()
            },
        }
    }

    /// The header values, in the order of [`HEADERS`].
    fn values(&self) -> [String; 9] {
        [
            self.user_id.clone(),
            self.session_id.clone(),
            self.org_id.clone(),
            self.org_slug.clone(),
            self.org_role.clone(),
            self.org_permissions.join(","),
            self.token_type.clone(),
            self.machine_id.clone(),
            self.scopes.join(" "),
        ]
    }

    /// Adds the full set of identity headers; `None` when they would be larger than
    /// [`MAX_IDENTITY_BYTES`] or a value cannot be a header (nothing is added then).
    pub fn write_headers(&self, headers: &mut HeaderMap) -> Option<()> {
        let values = self.values();
        let size: usize = HEADERS
            .iter()
            .zip(&values)
            .map(|(name, value)| name.len() + value.len() + 4)
            .sum();
        if size > MAX_IDENTITY_BYTES {
            return None;
        }
        let values: Vec<HeaderValue> = values
            .iter()
            .map(|v| HeaderValue::from_str(v).ok())
            .collect::<Option<_>>()?;
        for (name, value) in HEADERS.iter().zip(values) {
            headers.insert(HeaderName::from_static(name), value);
        }
        Some(())
    }
}

/// The longest a signed identity lives, in seconds.
pub const MAX_IDENTITY_LIFETIME_SECS: i64 = 60;

/// The key that signs `X-Clerk-Identity` (ES256 or Ed25519), and its JWKS.
pub struct Signer {
    key: SigningKey,
    kid: String,
    alg: &'static str,
    issuer: String,
    jwks: Value,
    rng: SystemRandom,
}

enum SigningKey {
    Es256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Reads a PKCS#8 private key (`-----BEGIN PRIVATE KEY-----`: P-256 for ES256, or
    /// Ed25519) from a PEM file. `issuer` is the `iss` of the identities it signs.
    pub fn from_pem_file(path: &Path, issuer: &str) -> Result<Signer, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Signer::from_pem(&text, issuer)
    }

    /// Reads a PKCS#8 private key from PEM text.
    ///
    /// Signing is done with `ring` directly rather than a JWT crate: the JWKS must publish the
    /// public key's coordinates, which `ring` gives from the same key pair, and the token is a
    /// fixed, small set of claims.
    pub fn from_pem(text: &str, issuer: &str) -> Result<Signer, String> {
        let pem = pem::parse(text).map_err(|e| format!("not a PEM file: {e}"))?;
        if pem.tag() != "PRIVATE KEY" {
            return Err(format!(
                "a {:?} PEM block: a PKCS#8 private key (BEGIN PRIVATE KEY) is needed; convert \
                 an EC key with `openssl pkcs8 -topk8 -nocrypt`",
                pem.tag()
            ));
        }
        let der = pem.contents();
        let rng = SystemRandom::new();
        let (key, jwk) = if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            (
                SigningKey::Ed25519(pair),
                json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
            )
        } else if let Ok(pair) =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
        {
            // An uncompressed point: 0x04, then x and y, 32 bytes each.
            let point = pair.public_key().as_ref();
            let (x, y) = point[1..].split_at(32);
            let jwk = json!({
                "kty": "EC", "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
            });
            (SigningKey::Es256(pair), jwk)
        } else {
            return Err(
                "not an Ed25519 or P-256 (ES256) PKCS#8 private key (RSA is not offered: its \
                 signatures would make every request's headers 5 times larger)"
                    .to_owned(),
            );
        };
        let kid = thumbprint(&jwk);
        let alg = match key {
            SigningKey::Es256(_) => "ES256",
            SigningKey::Ed25519(_) => "EdDSA",
        };
        let mut public = jwk;
        public["kid"] = json!(kid);
        public["alg"] = json!(alg);
        public["use"] = json!("sig");
        Ok(Signer {
            key,
            kid,
            alg,
            issuer: issuer.to_owned(),
            jwks: json!({ "keys": [public] }),
            rng,
        })
    }

    /// The JWKS to publish at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// `ES256` or `EdDSA`.
    pub fn algorithm(&self) -> &'static str {
        self.alg
    }

    /// A signed identity for `audience` (the original host), living at most
    /// [`MAX_IDENTITY_LIFETIME_SECS`] and never past the credential's own expiry.
    pub fn sign(&self, identity: &Identity, audience: &str) -> Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut exp = now + MAX_IDENTITY_LIFETIME_SECS;
        if let Some(expires_at) = identity.expires_at {
            exp = exp.min(expires_at);
        }
        let header = json!({"alg": self.alg, "typ": "JWT", "kid": self.kid});
        let claims = json!({
            "iss": self.issuer,
            "aud": audience,
            "sub": identity.subject,
            "iat": now,
            "nbf": now,
            "exp": exp,
            "jti": uuid::Uuid::new_v4().to_string(),
            "token_type": identity.token_type,
            "user_id": identity.user_id,
            "session_id": identity.session_id,
            "org_id": identity.org_id,
            "org_slug": identity.org_slug,
            "org_role": identity.org_role,
            "org_permissions": identity.org_permissions,
            "machine_id": identity.machine_id,
            "scopes": identity.scopes,
        });
        let mut token = String::with_capacity(512);
        token.push_str(&URL_SAFE_NO_PAD.encode(header.to_string()));
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = match &self.key {
            SigningKey::Es256(pair) => pair
                .sign(&self.rng, token.as_bytes())
                .map_err(|_| "cannot sign".to_owned())?
                .as_ref()
                .to_vec(),
            SigningKey::Ed25519(pair) => pair.sign(token.as_bytes()).as_ref().to_vec(),
        };
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }
}

/// The RFC 7638 thumbprint of a public JWK: SHA-256 of its required members in order.
fn thumbprint(jwk: &Value) -> String {
    let mut canonical = String::from("{");
    let members: &[&str] = if jwk["kty"] == "EC" {
        &["crv", "kty", "x", "y"]
    } else {
        &["crv", "kty", "x"]
    };
    for (i, name) in members.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        let _ = write!(canonical, "\"{name}\":{}", jwk[*name]);
    }
    canonical.push('}');
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519};

    fn verify(signer: &Signer, token: &str) -> Value {
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let jwk = &signer.jwks()["keys"][0];
        let ok = match signer.algorithm() {
            "ES256" => {
                let mut point = vec![4u8];
                point.extend(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap());
                point.extend(URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap());
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .verify(signed.as_bytes(), &signature)
                    .is_ok()
            }
            _ => {
                let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
                UnparsedPublicKey::new(&ED25519, x)
                    .verify(signed.as_bytes(), &signature)
                    .is_ok()
            }
        };
        assert!(ok, "the signature verifies with the published key");
        let payload = signed.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    fn pem_of(der: &[u8]) -> String {
        pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec()))
    }

    #[test]
    fn identities_are_signed_with_the_published_key() {
        let rng = SystemRandom::new();
        let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let ec = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        for (der, alg) in [(ed.as_ref(), "EdDSA"), (ec.as_ref(), "ES256")] {
            let signer = Signer::from_pem(&pem_of(der), "https://gateway.example").unwrap();
            assert_eq!(signer.algorithm(), alg);
            let identity = Identity {
                user_id: "user_1".into(),
                subject: "user_1".into(),
                token_type: "session_token".into(),
                org_permissions: vec!["org:a:read".into()],
                expires_at: Some(i64::MAX),
                ..Identity::default()
            };
            let token = signer.sign(&identity, "api.example.com").unwrap();
            let claims = verify(&signer, &token);
            assert_eq!(claims["aud"], "api.example.com");
            assert_eq!(claims["iss"], "https://gateway.example");
            assert_eq!(claims["sub"], "user_1");
            assert_eq!(claims["org_permissions"], json!(["org:a:read"]));
            let life = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
            assert_eq!(life, MAX_IDENTITY_LIFETIME_SECS);
        }
    }

    #[test]
    fn a_signed_identity_never_outlives_its_credential() {
        let rng = SystemRandom::new();
        let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let signer = Signer::from_pem(&pem_of(ed.as_ref()), "gw").unwrap();
        let soon = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 5;
        let identity = Identity {
            expires_at: Some(soon),
            ..Identity::default()
        };
        let claims = verify(&signer, &signer.sign(&identity, "h").unwrap());
        assert_eq!(claims["exp"].as_i64(), Some(soon));
    }

    #[test]
    fn keys_that_are_not_pkcs8_ed25519_or_p256_are_refused() {
        assert!(Signer::from_pem("nonsense", "gw").is_err());
        let sec1 = pem::encode(&pem::Pem::new("EC PRIVATE KEY", vec![1, 2, 3]));
        assert!(Signer::from_pem(&sec1, "gw").unwrap_err().contains("pkcs8"));
        assert!(Signer::from_pem(&pem_of(&[0x30, 0x03, 0x02, 0x01, 0x00]), "gw").is_err());
    }

    #[test]
    fn identity_headers_are_the_full_set_and_bounded() {
        let mut headers = HeaderMap::new();
        Identity::default().write_headers(&mut headers).unwrap();
        assert_eq!(headers.len(), HEADERS.len());
        assert!(headers.values().all(|v| v.is_empty()));
        let huge = Identity {
            org_permissions: vec!["org:feature:permission".into(); 400],
            ..Identity::default()
        };
        let mut headers = HeaderMap::new();
        assert!(huge.write_headers(&mut headers).is_none());
        assert!(headers.is_empty());
    }
}
