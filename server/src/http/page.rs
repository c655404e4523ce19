//! Pagination by cursor (keyset): `limit` (1 to 100, default 20) and an opaque `cursor`, the
//! `next_cursor` of the previous page, so pages neither skip nor repeat items when others are
//! added meanwhile.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 20;
/// The most items per page.
pub const MAX_LIMIT: i64 = 100;

/// The query parameters of a paginated list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
}

impl PageParams {
    /// The page size, or a 422 outside 1 to 100.
    pub fn limit(&self) -> Result<i64, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if (1..=MAX_LIMIT).contains(&limit) {
            Ok(limit)
        } else {
            Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ))
        }
    }

    /// Where the previous page ended, as [`encode_cursor`] wrote it; a 400 for anything else.
    pub fn after(&self) -> Result<Option<String>, ApiError> {
        self.cursor.as_deref().map(decode_cursor).transpose()
    }
}

/// The cursor for a page ending at `position`: base64url, so its form is nobody's business.
pub fn encode_cursor(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position)
}

fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|text| !text.is_empty());
    text.ok_or_else(invalid_cursor)
}

/// The 400 for a cursor this API did not give.
pub fn invalid_cursor() -> ApiError {
    ApiError::BadRequest("`cursor` is not a cursor this API gave.".to_owned())
}

/// The page of `rows` (queried with `LIMIT limit + 1`): at most `limit` of them, and the cursor
/// after the last when there are more.
pub fn page<T>(
    mut rows: Vec<T>,
    limit: i64,
    position: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(|last| encode_cursor(&position(last)));
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(limit: Option<i64>, cursor: Option<&str>) -> PageParams {
        PageParams {
            limit,
            cursor: cursor.map(str::to_owned),
        }
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(params(None, None).limit().unwrap(), 20);
        assert_eq!(params(Some(1), None).limit().unwrap(), 1);
        assert_eq!(params(Some(100), None).limit().unwrap(), 100);
        assert!(params(Some(0), None).limit().is_err());
        assert!(params(Some(101), None).limit().is_err());
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = encode_cursor("1700000000000.0192f1a4");
        assert_eq!(
            params(None, Some(&cursor)).after().unwrap().as_deref(),
            Some("1700000000000.0192f1a4")
        );
        for bad in ["", "!!!", "/w"] {
            assert!(params(None, Some(bad)).after().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_follow() {
        let (rows, next) = page(vec![1, 2, 3], 3, |n| n.to_string());
        assert_eq!((rows, next), (vec![1, 2, 3], None));
        let (rows, next) = page(vec![1, 2, 3, 4], 3, |n| n.to_string());
        assert_eq!(rows, [1, 2, 3]);
        assert_eq!(next, Some(encode_cursor("3")));
    }
}
