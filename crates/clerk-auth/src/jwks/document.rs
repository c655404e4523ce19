//! JWKS documents: [`parse_jwks`], with the filtering rules of security.md §3: unusable keys
//! are skipped without rejecting the set, duplicate `kid`s refuse the set.

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

use crate::rsa::{key_error, KeyError, RsaPublicKey};

/// The most keys kept from one JWKS document.
pub const MAX_JWKS_KEYS: usize = 64;

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
    let doc = crate::json::parse_object(body, "JWKS")
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

#[cfg(test)]
mod tests {
    use super::*;

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
