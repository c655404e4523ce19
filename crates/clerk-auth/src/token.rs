//! Decoding a compact JWS strictly, and the header rules of a Clerk session token.
//!
//! This module knows the *shape* of a token: three base64url segments, a JSON header and a
//! JSON payload. It is deliberately stricter than Clerk's SDK (security.md §5): padding, the
//! standard alphabet, whitespace and non-canonical trailing bits are refused; duplicate JSON
//! member names are refused (a first-wins parser and a last-wins parser must never see two
//! different tokens); nesting depth and total size are bounded.
//!
//! Claims (time, issuer, parties) are checked by [`crate::verifier`], after the signature.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{Reason, Rejection};
use crate::json::{parse_object, Key, StrictValue, Validate, MAX_JSON_DEPTH};

/// The largest token accepted, in bytes. Clerk's session tokens are about 1 KiB and browsers
/// cap a cookie at 4 KiB; anything longer is refused before any decoding work.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The longest `kid` accepted, in bytes.
pub const MAX_KID_LEN: usize = 256;

/// The `cat` header value of Clerk's machine-to-machine tokens.
pub const CATEGORY_M2M: &str = "cl_B7d4PD333AAA";
/// The `cat` header value of Clerk's JWT-template tokens.
pub const CATEGORY_JWT_TEMPLATE: &str = "cl_B7d4PD222AAA";

/// The JOSE header fields this library reads. Others are ignored, and in particular `jwk`,
/// `jku`, `x5u` and `x5c` are never used: keys come only from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `alg`, when it is a string.
    pub alg: Option<String>,
    /// `kid`, when present (always a string of at most [`MAX_KID_LEN`] bytes).
    pub kid: Option<String>,
    /// Clerk's token category, `cat`, when it is a string.
    pub cat: Option<String>,
    /// `typ`, when present (always a string the token's kind allows).
    pub typ: Option<String>,
}

/// Which kind of token a header must be the header of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderRules {
    /// A session token: `typ` absent or `JWT`, not the M2M category.
    Session,
    /// An M2M JWT: `typ` absent or `JWT`, `cat` absent or [`CATEGORY_M2M`].
    M2m,
    /// An OAuth access token JWT: `typ` `at+jwt` or `application/at+jwt`.
    OAuth,
}

/// A `typ` other than `JWT` (or none) on a session token or an M2M JWT.
pub(crate) const WRONG_TYPE: Rejection =
    Rejection::new(Reason::TokenInvalid, "Invalid JWT type. Expected \"JWT\".");
/// A `typ` other than those of an OAuth access token JWT.
pub(crate) const WRONG_OAUTH_TYPE: Rejection = Rejection::new(
    Reason::TokenInvalid,
    "Invalid JWT type. Expected one of \"at+jwt\", \"application/at+jwt\".",
);
/// An `alg` other than `RS256`.
pub(crate) const WRONG_ALGORITHM: Rejection = Rejection::new(
    Reason::TokenInvalidAlgorithm,
    "Invalid JWT algorithm. Only RS256 is supported.",
);

/// The `typ` values of an OAuth access token JWT (RFC 9068).
pub const OAUTH_JWT_TYPES: [&str; 2] = ["at+jwt", "application/at+jwt"];

/// The prefix of a machine's id, and so of an M2M JWT's `sub`.
pub const MACHINE_ID_PREFIX: &str = "mch_";

/// A token split into its parts, with header and payload parsed; the signature is not checked.
#[derive(Debug)]
pub struct Decoded<'a> {
    /// The parsed header.
    pub header: Header,
    /// The parsed payload (the claims).
    pub payload: Map<String, Value>,
    /// The bytes the signature covers: `b64(header) "." b64(payload)`.
    pub signing_input: &'a [u8],
    /// The decoded signature.
    pub signature: Vec<u8>,
}

const INVALID_FORM: Rejection = Rejection::new(
    Reason::TokenInvalid,
    "Invalid JWT form. A JWT consists of three parts separated by dots.",
);

/// Splits, decodes and parses a compact JWS, then applies the header rules of a session token:
/// `typ` absent or `JWT`, no `crit`, `alg` exactly `RS256`, not an M2M token.
///
/// The order of refusals follows Clerk (form, category, type, algorithm), except that a
/// token over [`MAX_TOKEN_LEN`] is refused first.
pub fn decode(token: &str) -> Result<Decoded<'_>, Rejection> {
    decode_as(token, HeaderRules::Session)
}

/// [`decode`] with the header rules of another kind of token (an M2M or OAuth JWT).
pub fn decode_as(token: &str, rules: HeaderRules) -> Result<Decoded<'_>, Rejection> {
    let (header, payload, signing_input, signature) =
        decode_with(token, rules, |json| parse_object(&json, "payload"))?;
    Ok(Decoded {
        header,
        payload,
        signing_input,
        signature,
    })
}

/// [`decode`] for the verifier's hot path: the payload is checked as strictly (duplicate
/// member names and nesting at any depth), but only the claims that verification reads are
/// extracted; the rest stays JSON text for [`crate::SessionClaims`] to read when asked.
pub(crate) fn decode_session(token: &str) -> Result<DecodedSession<'_>, Rejection> {
    let (header, payload, signing_input, signature) =
        decode_with(token, HeaderRules::Session, parse_session_payload)?;
    Ok(DecodedSession {
        header,
        payload,
        signing_input,
        signature,
    })
}

/// A token split for verification; see [`decode_session`].
pub(crate) struct DecodedSession<'a> {
    pub(crate) header: Header,
    pub(crate) payload: SessionPayload,
    pub(crate) signing_input: &'a [u8],
    pub(crate) signature: Vec<u8>,
}

type Parts<'a, P> = (Header, P, &'a [u8], Vec<u8>);

fn decode_with<P>(
    token: &str,
    rules: HeaderRules,
    parse_payload: impl FnOnce(Vec<u8>) -> Result<P, Rejection>,
) -> Result<Parts<'_, P>, Rejection> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Rejection::with_message(
            Reason::TokenInvalid,
            format!("The token is longer than the {MAX_TOKEN_LEN} bytes allowed."),
        ));
    }
    let bytes = token.as_bytes();
    let first = memchr::memchr(b'.', bytes).ok_or(INVALID_FORM)?;
    let second = memchr::memchr(b'.', &bytes[first + 1..])
        .map(|i| first + 1 + i)
        .ok_or(INVALID_FORM)?;
    if memchr::memchr(b'.', &bytes[second + 1..]).is_some() {
        return Err(INVALID_FORM);
    }
    let (h64, p64, s64) = (
        &bytes[..first],
        &bytes[first + 1..second],
        &bytes[second + 1..],
    );
    if h64.is_empty() || p64.is_empty() {
        return Err(INVALID_FORM);
    }

    let header_json = b64(h64, "header")?;
    let payload_json = b64(p64, "payload")?;
    let signature = b64(s64, "signature")?;
    let header = parse_header(&header_json)?;
    let payload = parse_payload(payload_json)?;
    let header = check_header(header, rules)?;
    Ok((header, payload, &bytes[..second], signature))
}

fn b64(segment: &[u8], what: &str) -> Result<Vec<u8>, Rejection> {
    URL_SAFE_NO_PAD.decode(segment).map_err(|_| {
        Rejection::with_message(
            Reason::TokenInvalid,
            format!(
                "Invalid JWT: the {what} could not be decoded (it must be base64url without padding)."
            ),
        )
    })
}

/// The header members the rules read; the others are checked (duplicates, depth) and dropped.
#[derive(Default)]
struct RawHeader {
    alg: Field,
    kid: Field,
    typ: Field,
    cat: Field,
    crit: bool,
}

fn parse_header(json: &[u8]) -> Result<RawHeader, Rejection> {
    let mut de = serde_json::Deserializer::from_slice(json);
    de::Deserializer::deserialize_map(&mut de, HeaderVisitor)
        .and_then(|header| de.end().map(|()| header))
        .map_err(|err| {
            Rejection::with_message(
                Reason::TokenInvalid,
                format!("Invalid JWT: the header could not be decoded as a JSON object ({err})."),
            )
        })
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = RawHeader;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<RawHeader, A::Error> {
        let mut header = RawHeader::default();
        let mut seen: Vec<Key<'de>> = Vec::with_capacity(8);
        let depth = MAX_JSON_DEPTH - 1;
        while let Some(key) = access.next_key::<Key<'de>>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom("duplicate member name"));
            }
            let slot = match &*key.0 {
                "alg" => Some(&mut header.alg),
                "kid" => Some(&mut header.kid),
                "typ" => Some(&mut header.typ),
                "cat" => Some(&mut header.cat),
                _ => None,
            };
            match slot {
                Some(slot) => *slot = access.next_value_seed(FieldSeed { depth })?,
                None => {
                    header.crit |= &*key.0 == "crit";
                    access.next_value_seed(Validate { depth })?;
                }
            }
            seen.push(key);
        }
        Ok(header)
    }
}

fn check_header(header: RawHeader, rules: HeaderRules) -> Result<Header, Rejection> {
    let cat = match header.cat {
        Field::Str(cat) => Some(cat),
        _ => None,
    };
    match rules {
        HeaderRules::Session if cat.as_deref() == Some(CATEGORY_M2M) => {
            return Err(Rejection::new(
                Reason::TokenInvalid,
                "Invalid session token category: this is a machine-to-machine token.",
            ))
        }
        HeaderRules::M2m if cat.as_deref().is_some_and(|cat| cat != CATEGORY_M2M) => {
            return Err(Rejection::new(
                Reason::TokenInvalid,
                "Invalid M2M JWT category.",
            ))
        }
        _ => {}
    }
    let typ = match (&header.typ, rules) {
        (Field::Absent, HeaderRules::Session | HeaderRules::M2m) => None,
        (Field::Str(typ), HeaderRules::Session | HeaderRules::M2m) if typ == "JWT" => {
            Some(typ.clone())
        }
        (Field::Str(typ), HeaderRules::OAuth) if OAUTH_JWT_TYPES.contains(&typ.as_str()) => {
            Some(typ.clone())
        }
        (_, HeaderRules::OAuth) => return Err(WRONG_OAUTH_TYPE),
        _ => return Err(WRONG_TYPE),
    };
    if header.crit {
        return Err(Rejection::new(
            Reason::TokenInvalid,
            "Invalid JWT: the header has a \"crit\" parameter, and no extension is understood.",
        ));
    }
    let alg = match header.alg {
        Field::Str(alg) if alg == "RS256" => Some(alg),
        _ => return Err(WRONG_ALGORITHM),
    };
    let kid = match header.kid {
        Field::Absent => None,
        Field::Str(kid) if kid.len() <= MAX_KID_LEN => Some(kid),
        _ => {
            return Err(Rejection::new(
                Reason::TokenInvalid,
                "Invalid JWT: \"kid\" must be a string of at most 256 bytes.",
            ))
        }
    };
    Ok(Header { alg, kid, cat, typ })
}

/// What kind of machine JWT a token says it is, by Clerk's rules (clerk-spec §5): `sub`
/// starting `mch_` is an M2M JWT (checked first), else a `typ` of `at+jwt` or
/// `application/at+jwt` is an OAuth access token; `None` for anything else, including text
/// that does not decode (it then goes down the session path and is refused there).
///
/// This reads the header's `typ` and the payload's `sub` only and checks nothing: the token
/// is then decoded strictly as the kind found.
pub fn machine_jwt_kind(token: &str) -> Option<HeaderRules> {
    #[derive(serde::Deserialize)]
    struct Typ<'a> {
        #[serde(borrow)]
        typ: Option<std::borrow::Cow<'a, str>>,
    }
    #[derive(serde::Deserialize)]
    struct Sub<'a> {
        #[serde(borrow)]
        sub: Option<std::borrow::Cow<'a, str>>,
    }
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut parts = token.split('.');
    let (header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let sub: Option<Sub<'_>> = serde_json::from_slice(&payload).ok();
    if sub
        .and_then(|sub| sub.sub)
        .is_some_and(|sub| sub.starts_with(MACHINE_ID_PREFIX))
    {
        return Some(HeaderRules::M2m);
    }
    let header = URL_SAFE_NO_PAD.decode(header).ok()?;
    let typ: Typ<'_> = serde_json::from_slice(&header).ok()?;
    typ.typ
        .filter(|typ| OAUTH_JWT_TYPES.contains(&&**typ))
        .map(|_| HeaderRules::OAuth)
}

/// A claim as verification sees it: absent, a string, a number, or something else.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Field {
    #[default]
    Absent,
    Str(String),
    Num(f64),
    Other,
}

impl Field {
    /// A parsed claim as a field (a number that does not fit an `f64` is `Other`).
    pub(crate) fn from_json(value: Option<&Value>) -> Field {
        match value {
            None => Field::Absent,
            Some(Value::String(s)) => Field::Str(s.clone()),
            Some(Value::Number(n)) => n.as_f64().map_or(Field::Other, Field::Num),
            Some(_) => Field::Other,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The payload of a session token: its JSON text (checked strictly) and the claims that
/// verification reads.
#[derive(Debug, Default)]
pub(crate) struct SessionPayload {
    /// The payload's JSON bytes: valid UTF-8, since they parsed as JSON.
    pub(crate) json: Vec<u8>,
    pub(crate) sub: Field,
    pub(crate) sid: Field,
    pub(crate) azp: Field,
    pub(crate) iss: Field,
    pub(crate) sts: Field,
    pub(crate) exp: Field,
    pub(crate) nbf: Field,
    pub(crate) iat: Field,
    pub(crate) aud: Option<Value>,
}

fn parse_session_payload(json: Vec<u8>) -> Result<SessionPayload, Rejection> {
    let invalid = |err: &dyn fmt::Display| {
        Rejection::with_message(
            Reason::TokenInvalid,
            format!("Invalid JWT: the payload could not be decoded as a JSON object ({err})."),
        )
    };
    let mut de = serde_json::Deserializer::from_slice(&json);
    let parsed = de::Deserializer::deserialize_map(&mut de, SessionPayloadVisitor)
        .and_then(|payload| de.end().map(|()| payload));
    let mut payload = parsed.map_err(|e| invalid(&e))?;
    payload.json = json;
    Ok(payload)
}

struct SessionPayloadVisitor;

impl<'de> Visitor<'de> for SessionPayloadVisitor {
    type Value = SessionPayload;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<SessionPayload, A::Error> {
        let mut payload = SessionPayload::default();
        let mut seen: Vec<Key<'de>> = Vec::with_capacity(24);
        let depth = MAX_JSON_DEPTH - 1;
        while let Some(key) = access.next_key::<Key<'de>>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom("duplicate member name"));
            }
            let slot = match &*key.0 {
                "sub" => Some(&mut payload.sub),
                "sid" => Some(&mut payload.sid),
                "azp" => Some(&mut payload.azp),
                "iss" => Some(&mut payload.iss),
                "sts" => Some(&mut payload.sts),
                "exp" => Some(&mut payload.exp),
                "nbf" => Some(&mut payload.nbf),
                "iat" => Some(&mut payload.iat),
                _ => None,
            };
            match slot {
                Some(slot) => *slot = access.next_value_seed(FieldSeed { depth })?,
                None if &*key.0 == "aud" => {
                    payload.aud = Some(access.next_value_seed(StrictValue { depth })?);
                }
                None => access.next_value_seed(Validate { depth })?,
            }
            seen.push(key);
        }
        Ok(payload)
    }
}

/// A claim read as a [`Field`]; a nested value is validated (duplicates, depth), not kept.
struct FieldSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Field, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<Field, E> {
        Ok(Field::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Field, E> {
        Ok(Field::Str(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Field, E> {
        Ok(Field::Num(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Field, E> {
        Ok(Field::Num(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Field, E> {
        Ok(Field::Num(v as f64))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Field, E> {
        Ok(Field::Other)
    }
    fn visit_unit<E>(self) -> Result<Field, E> {
        Ok(Field::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, access: A) -> Result<Field, A::Error> {
        Validate { depth: self.depth }.visit_seq(access)?;
        Ok(Field::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Field, A::Error> {
        Validate { depth: self.depth }.visit_map(access)?;
        Ok(Field::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", enc(header), enc(payload), enc("sig"))
    }

    const H: &str = r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#;

    fn reason(t: &str) -> Reason {
        decode(t).expect_err("must be refused").reason()
    }

    #[test]
    fn decodes_a_valid_jwt() {
        let t = token(H, r#"{"sub":"user_1","exp":1}"#);
        let d = decode(&t).expect("valid");
        assert_eq!(d.header.kid.as_deref(), Some("k1"));
        assert_eq!(d.header.alg.as_deref(), Some("RS256"));
        assert_eq!(d.payload["sub"], "user_1");
        assert_eq!(d.signature, b"sig");
        assert_eq!(
            d.signing_input,
            t.rsplit_once('.').expect("dot").0.as_bytes()
        );
    }

    #[test]
    fn empty_string_and_garbage_are_invalid() {
        for t in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "..",
            ".x.y",
            "x..y",
            "Zm9v.Zm9v.Zm9v",
        ] {
            assert_eq!(reason(t), Reason::TokenInvalid, "{t:?}");
        }
    }

    #[test]
    fn segments_that_are_not_base64url_are_invalid() {
        let good = token(H, r#"{"sub":"u"}"#);
        let parts: Vec<&str> = good.split('.').collect();
        let cases = [
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            format!("{}.{}.{}==", parts[0], parts[1], enc("sig0")),
            format!("{} .{}.{}", parts[0], parts[1], parts[2]),
            format!("{}.{}.{}", parts[0].replace('e', "+"), parts[1], parts[2]),
            format!("{}.{}.a/b", parts[0], parts[1]),
            // "Zm9v" + "Zh" has non-zero unused bits in a canonical decoder ("Zg" is canonical).
            format!("{}.{}.Zh", parts[0], parts[1]),
        ];
        for t in cases {
            assert_eq!(reason(&t), Reason::TokenInvalid, "{t}");
        }
    }

    #[test]
    fn segments_that_are_not_json_objects_are_invalid() {
        for payload in [
            "not json",
            "[1,2]",
            "\"s\"",
            "1",
            "null",
            "{\"a\":1} x",
            "\u{feff}{}",
        ] {
            assert_eq!(
                reason(&token(H, payload)),
                Reason::TokenInvalid,
                "{payload}"
            );
        }
        assert_eq!(reason(&token("[]", "{}")), Reason::TokenInvalid);
    }

    #[test]
    fn duplicate_member_names_are_invalid_at_any_depth() {
        assert_eq!(
            reason(&token(H, r#"{"exp":1,"exp":9999999999}"#)),
            Reason::TokenInvalid
        );
        assert_eq!(
            reason(&token(H, r#"{"o":{"id":"a","id":"b"}}"#)),
            Reason::TokenInvalid
        );
        assert_eq!(
            reason(&token(
                r#"{"alg":"none","alg":"RS256","kid":"k"}"#,
                r#"{"sub":"u"}"#
            )),
            Reason::TokenInvalid
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep_ok = "[".repeat(MAX_JSON_DEPTH - 1) + &"]".repeat(MAX_JSON_DEPTH - 1);
        assert!(decode(&token(H, &format!("{{\"a\":{deep_ok}}}"))).is_ok());
        let deep = "[".repeat(MAX_JSON_DEPTH) + &"]".repeat(MAX_JSON_DEPTH);
        assert_eq!(
            reason(&token(H, &format!("{{\"a\":{deep}}}"))),
            Reason::TokenInvalid
        );
        let very_deep = "[".repeat(5000) + &"]".repeat(5000);
        assert_eq!(
            reason(&token(H, &format!("{{\"a\":{very_deep}}}"))),
            Reason::TokenInvalid
        );
    }

    #[test]
    fn oversized_tokens_are_invalid_before_decoding() {
        let t = "a".repeat(MAX_TOKEN_LEN + 1);
        let r = decode(&t).expect_err("too long");
        assert_eq!(r.reason(), Reason::TokenInvalid);
        assert!(r.message().contains("longer"));
    }

    #[test]
    fn legal_json_variants_are_accepted() {
        let t = token(
            "{ \"alg\" : \"RS256\" ,\n \"kid\":\"k\\u0031\", \"extra\": [1, {\"x\": null}] }",
            "{\"sub\":\"user\\/1\",\"unknown\":{\"nested\":true}}",
        );
        let d = decode(&t).expect("valid");
        assert_eq!(d.header.kid.as_deref(), Some("k1"));
        assert_eq!(d.payload["sub"], "user/1");
    }

    #[test]
    fn typ_must_be_absent_or_jwt() {
        let no_typ = token(r#"{"alg":"RS256"}"#, "{}");
        assert!(decode(&no_typ).is_ok());
        for typ in [r#""at+jwt""#, r#""jwt""#, "null", "1", r#"["JWT"]"#] {
            let t = token(&format!(r#"{{"alg":"RS256","typ":{typ}}}"#), "{}");
            assert_eq!(reason(&t), Reason::TokenInvalid, "{typ}");
        }
    }

    #[test]
    fn only_rs256_is_accepted() {
        for alg in [
            r#""none""#,
            r#""None""#,
            r#""HS256""#,
            r#""RS384""#,
            r#""RS512""#,
            r#""PS256""#,
            r#""ES256""#,
            r#""rs256""#,
            r#""RS256 ""#,
            r#"["RS256"]"#,
            "null",
        ] {
            let t = token(&format!(r#"{{"alg":{alg}}}"#), "{}");
            assert_eq!(reason(&t), Reason::TokenInvalidAlgorithm, "{alg}");
        }
        assert_eq!(reason(&token("{}", "{}")), Reason::TokenInvalidAlgorithm);
    }

    #[test]
    fn crit_header_is_refused() {
        let t = token(r#"{"alg":"RS256","crit":["b64"],"b64":false}"#, "{}");
        assert_eq!(reason(&t), Reason::TokenInvalid);
    }

    #[test]
    fn m2m_category_is_refused_before_anything_else_in_the_header() {
        let t = token(&format!(r#"{{"alg":"none","cat":"{CATEGORY_M2M}"}}"#), "{}");
        let r = decode(&t).expect_err("m2m");
        assert_eq!(r.reason(), Reason::TokenInvalid);
        assert!(r.message().contains("category"));
    }

    #[test]
    fn kid_must_be_a_bounded_string() {
        for kid in [
            "1".to_owned(),
            "null".to_owned(),
            format!("\"{}\"", "k".repeat(MAX_KID_LEN + 1)),
        ] {
            let t = token(&format!(r#"{{"alg":"RS256","kid":{kid}}}"#), "{}");
            assert_eq!(reason(&t), Reason::TokenInvalid, "{kid}");
        }
    }

    #[test]
    fn key_carrying_headers_are_ignored_not_used() {
        let t = token(
            r#"{"alg":"RS256","kid":"k","jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"},"jku":"https://evil.example/jwks","x5u":"https://evil.example/x","x5c":["AAAA"]}"#,
            "{}",
        );
        let d = decode(&t).expect("decodes");
        assert_eq!(d.header.kid.as_deref(), Some("k"));
    }
}
