//! Pagination by cursor (keyset): `limit` (1 to 100, default 20) and a `cursor`, the
//! `next_cursor` of the previous page: the position of its last item (`<created_at>.<id>` for
//! notes, a user id for users), so that pages neither skip nor repeat items when others are
//! added meanwhile. Each list declares its cursor's exact form in its parameters.

use crate::error::ApiError;

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 20;
/// The most items per page.
pub const MAX_LIMIT: i64 = 100;

/// The page size, or a 422 outside 1 to 100.
pub fn limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ))
    }
}

/// The 400 for a cursor not of the list's form.
pub fn invalid_cursor(form: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "`cursor` must be {form}: the next_cursor of a page."
    ))
}

/// The page of `rows` (queried with `LIMIT limit + 1`): at most `limit` of them, and the cursor
/// (the position of the last) when there are more.
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
    let next = rows.last().map(position);
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None).unwrap(), 20);
        assert_eq!(limit(Some(1)).unwrap(), 1);
        assert_eq!(limit(Some(100)).unwrap(), 100);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(101)).is_err());
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_follow() {
        let (rows, next) = page(vec![1, 2, 3], 3, |n| n.to_string());
        assert_eq!((rows, next), (vec![1, 2, 3], None));
        let (rows, next) = page(vec![1, 2, 3, 4], 3, |n| n.to_string());
        assert_eq!(rows, [1, 2, 3]);
        assert_eq!(next.as_deref(), Some("3"));
    }
}
