//! Strict JSON, for token headers and payloads and JWKS documents: duplicate member names are
//! refused at any depth (a first-wins parser and a last-wins parser must never read two
//! different documents from one text), nesting is bounded ([`MAX_JSON_DEPTH`]), and trailing
//! data, a BOM and invalid UTF-8 are errors. serde_json alone keeps the last duplicate, so
//! this is written here, as serde visitors, and fuzzed.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{Reason, Rejection};

/// The deepest JSON nesting accepted in a header or payload (objects and arrays).
pub const MAX_JSON_DEPTH: usize = 32;

/// Parses one JSON object strictly: duplicate member names and nesting deeper than
/// [`MAX_JSON_DEPTH`] are errors, as are trailing data, a BOM and invalid UTF-8.
pub fn parse_object(json: &[u8], what: &str) -> Result<Map<String, Value>, Rejection> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let parsed = StrictObject.deserialize(&mut de).and_then(|map| {
        de.end()?;
        Ok(map)
    });
    parsed.map_err(|err| {
        // serde_json errors name positions and categories, never echo the input.
        Rejection::with_message(
            Reason::TokenInvalid,
            format!("Invalid JWT: the {what} could not be decoded as a JSON object ({err})."),
        )
    })
}

/// A member name, borrowed from the input when it has no escapes.
#[derive(PartialEq)]
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

/// Checks a JSON value with the rules of [`StrictObject`] without building it.
pub(crate) struct Validate {
    pub(crate) depth: usize,
}

impl<'de> DeserializeSeed<'de> for Validate {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Validate {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        if self.depth == 0 {
            return Err(de::Error::custom("JSON nested too deeply"));
        }
        let inner = || Validate {
            depth: self.depth - 1,
        };
        while access.next_element_seed(inner())?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        if self.depth == 0 {
            return Err(de::Error::custom("JSON nested too deeply"));
        }
        let mut seen: Vec<Key<'de>> = Vec::new();
        while let Some(key) = access.next_key::<Key<'de>>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom("duplicate member name"));
            }
            access.next_value_seed(Validate {
                depth: self.depth - 1,
            })?;
            seen.push(key);
        }
        Ok(())
    }
}

/// Deserialises a JSON object, refusing duplicate member names.
struct StrictObject;

impl<'de> DeserializeSeed<'de> for StrictObject {
    type Value = Map<String, Value>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(ObjectVisitor {
            depth: MAX_JSON_DEPTH,
        })
    }
}

struct ObjectVisitor {
    depth: usize,
}

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        if self.depth == 0 {
            return Err(de::Error::custom("JSON nested too deeply"));
        }
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom("duplicate member name"));
            }
            let value = access.next_value_seed(StrictValue {
                depth: self.depth - 1,
            })?;
            map.insert(key, value);
        }
        Ok(map)
    }
}

/// Any JSON value, with the same rules as [`StrictObject`] applied to nested objects.
pub(crate) struct StrictValue {
    pub(crate) depth: usize,
}

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        if self.depth == 0 {
            return Err(de::Error::custom("JSON nested too deeply"));
        }
        let mut items = Vec::new();
        while let Some(item) = access.next_element_seed(StrictValue {
            depth: self.depth - 1,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Value, A::Error> {
        ObjectVisitor { depth: self.depth }
            .visit_map(access)
            .map(Value::Object)
    }
}
