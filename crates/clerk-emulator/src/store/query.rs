//! The parameters of the list endpoints: paging, search and `order_by`.

use std::cmp::Ordering;

use crate::objects::BackendError;

/// The field and direction of an `order_by` parameter, e.g. `-created_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrderBy {
    pub field: String,
    pub descending: bool,
}

impl OrderBy {
    /// Parses `-field`, `+field` or `field` (ascending), checking the field against `allowed`.
    pub fn parse(text: &str, allowed: &[&str]) -> Result<Self, BackendError> {
        let (descending, field) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        if !allowed.contains(&field) {
            return Err(BackendError::invalid(
                "form_param_invalid",
                "order_by",
                format!("order_by must be one of {allowed:?}, optionally prefixed with + or -"),
            ));
        }
        Ok(Self {
            field: field.to_owned(),
            descending,
        })
    }

    pub(super) fn newest_first() -> Self {
        Self {
            field: "created_at".to_owned(),
            descending: true,
        }
    }
}

/// Filters and paging of `GET /v1/users` and `GET /v1/users/count`.
#[derive(Debug, Clone)]
pub(crate) struct UserQuery {
    pub limit: usize,
    pub offset: usize,
    pub order_by: Option<OrderBy>,
    pub user_ids: Vec<String>,
    pub email_addresses: Vec<String>,
    pub external_ids: Vec<String>,
    pub usernames: Vec<String>,
    pub query: Option<String>,
}

/// Paging and search of the organization and membership lists.
#[derive(Debug, Clone)]
pub(crate) struct ListQuery {
    pub limit: usize,
    pub offset: usize,
    pub order_by: Option<OrderBy>,
    pub query: Option<String>,
}

/// The fields `order_by` accepts on each list.
pub(crate) const USER_ORDER_FIELDS: &[&str] = &[
    "created_at",
    "updated_at",
    "email_address",
    "first_name",
    "last_name",
    "username",
    "last_sign_in_at",
];
pub(crate) const ORGANIZATION_ORDER_FIELDS: &[&str] =
    &["created_at", "updated_at", "name", "members_count"];
pub(crate) const MEMBERSHIP_ORDER_FIELDS: &[&str] = &["created_at", "updated_at", "role"];

pub(super) fn in_page<T>(items: Vec<T>, offset: usize, limit: usize) -> Vec<T> {
    items.into_iter().skip(offset).take(limit).collect()
}

pub(super) fn contains_folded(haystack: Option<&str>, needle: &str) -> bool {
    haystack.is_some_and(|h| h.to_lowercase().contains(needle))
}

/// `ordering`, reversed for a descending `order`.
pub(super) fn directed(order: &OrderBy, ordering: Ordering) -> Ordering {
    if order.descending {
        ordering.reverse()
    } else {
        ordering
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_by_parses_direction_and_checks_the_field() {
        let o = OrderBy::parse("-updated_at", USER_ORDER_FIELDS).unwrap();
        assert!(o.descending);
        assert_eq!(o.field, "updated_at");
        assert!(
            !OrderBy::parse("+created_at", USER_ORDER_FIELDS)
                .unwrap()
                .descending
        );
        assert!(
            !OrderBy::parse("created_at", USER_ORDER_FIELDS)
                .unwrap()
                .descending
        );
        assert!(OrderBy::parse("-password", USER_ORDER_FIELDS).is_err());
    }
}
