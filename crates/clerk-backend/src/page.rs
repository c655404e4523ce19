//! List answers: `{"data": [...], "total_count": N}` and bare arrays, read leniently.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// One page of a list endpoint that answers `{"data": [...], "total_count": N}`
/// (organizations, memberships).
///
/// Read leniently, like the objects in it: an entry that is not an object of the expected
/// type (no string `id`) is skipped, and a missing or non-numeric `total_count` reads as the
/// number of entries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The entries of this page.
    pub data: Vec<T>,
    /// How many entries match in all, over every page.
    pub total_count: u64,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Page<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut value = Value::deserialize(deserializer)?;
        let data: Vec<T> = lenient_list(value.get_mut("data").map(Value::take));
        let total_count = value
            .get("total_count")
            .and_then(Value::as_u64)
            .unwrap_or(data.len() as u64);
        Ok(Page { data, total_count })
    }
}

/// The entries of a JSON array that fit `T`; anything but an array reads as empty.
pub(crate) fn lenient_list<T: DeserializeOwned>(value: Option<Value>) -> Vec<T> {
    match value {
        Some(Value::Array(entries)) => entries
            .into_iter()
            .filter_map(|entry| T::deserialize(entry).ok())
            .collect(),
        _ => Vec::new(),
    }
}

/// A bare JSON array of `T`, read leniently (`GET /v1/users`).
#[derive(Debug)]
pub(crate) struct LenientList<T>(pub Vec<T>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for LenientList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if !value.is_array() {
            return Err(serde::de::Error::custom("expected a JSON array"));
        }
        Ok(LenientList(lenient_list(Some(value))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Organization;
    use serde_json::json;

    #[test]
    fn pages_skip_odd_entries_and_default_the_count() {
        let page: Page<Organization> = serde_json::from_value(json!({
            "data": [{"id": "org_1", "name": "Acme"}, {"name": "no id"}, 3],
            "total_count": "many",
        }))
        .unwrap();
        assert_eq!(page.data.len(), 1);
        assert_eq!(page.data[0].name, "Acme");
        assert_eq!(page.total_count, 1);
        let page: Page<Organization> =
            serde_json::from_value(json!({"data": [], "total_count": 40})).unwrap();
        assert_eq!(page.total_count, 40);
    }
}
