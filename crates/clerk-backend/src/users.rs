//! `/v1/users`.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::{push, segment, Client};
use crate::error::Error;
use crate::page::LenientList;
use crate::{DeletedObject, User};

/// Filters and paging of `GET /v1/users` (and, without paging, `GET /v1/users/count`).
/// Unset fields are not sent, leaving Clerk's defaults (10 per page, newest first); list
/// filters are sent once per value (`user_id=a&user_id=b`) and match any of them.
///
/// ```
/// use clerk_backend::UserListParams;
/// let params = UserListParams {
///     email_address: vec!["ada@example.com".into()],
///     limit: Some(100),
///     ..Default::default()
/// };
/// # let _ = params;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserListParams {
    /// Page size, 1 to 500.
    pub limit: Option<u32>,
    /// Entries to skip.
    pub offset: Option<u32>,
    /// `-created_at` (default), `+created_at`, `-updated_at`, `email_address`, `first_name`,
    /// `last_name`, `username`, `last_sign_in_at`, each with an optional `+` or `-`.
    pub order_by: Option<String>,
    /// Only these users.
    pub user_id: Vec<String>,
    /// Only users with one of these email addresses.
    pub email_address: Vec<String>,
    /// Only users with one of these external ids.
    pub external_id: Vec<String>,
    /// Only users with one of these usernames.
    pub username: Vec<String>,
    /// Matches part of the email addresses, names, username or ids.
    pub query: Option<String>,
}

impl UserListParams {
    fn filters(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        for (name, values) in [
            ("user_id", &self.user_id),
            ("email_address", &self.email_address),
            ("external_id", &self.external_id),
            ("username", &self.username),
        ] {
            pairs.extend(values.iter().map(|v| (name, v.clone())));
        }
        push(&mut pairs, "query", self.query.as_ref());
        pairs
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        let mut pairs = self.filters();
        push(&mut pairs, "limit", self.limit);
        push(&mut pairs, "offset", self.offset);
        push(&mut pairs, "order_by", self.order_by.as_ref());
        pairs
    }
}

/// The body of `PATCH` and `PUT /v1/users/{id}/metadata`. Each field left `None` is not sent,
/// so that metadata is left alone; each one set should be a JSON object.
///
/// ```
/// use clerk_backend::MetadataUpdate;
/// use serde_json::json;
/// // With `update_metadata` (a deep merge): set `plan`, remove `trial_ends`.
/// let update = MetadataUpdate {
///     public: Some(json!({"plan": "pro", "trial_ends": null})),
///     ..Default::default()
/// };
/// # let _ = update;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetadataUpdate {
    /// `public_metadata`: readable by the frontend.
    #[serde(rename = "public_metadata", skip_serializing_if = "Option::is_none")]
    pub public: Option<Value>,
    /// `private_metadata`: backend only.
    #[serde(rename = "private_metadata", skip_serializing_if = "Option::is_none")]
    pub private: Option<Value>,
    /// `unsafe_metadata`: writable by the user from the frontend.
    #[serde(rename = "unsafe_metadata", skip_serializing_if = "Option::is_none")]
    pub unsafe_: Option<Value>,
}

/// The body of `PATCH /v1/users/{id}`. Fields left `None` are not sent and stay unchanged;
/// `extra` carries any other parameter Clerk accepts (`password`, `totp_secret`, `null` to
/// clear a field, …), sent as given.
///
/// ```
/// use clerk_backend::UserUpdate;
/// let update = UserUpdate { first_name: Some("Ada".into()), ..Default::default() };
/// # let _ = update;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserUpdate {
    /// New first name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// New last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// New username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// New external id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The id (`idn_…`) of one of the user's email addresses, to make primary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_email_address_id: Option<String>,
    /// Other parameters, sent as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The body of `POST /v1/users`. Fields left unset are not sent; `extra` carries any other
/// parameter Clerk accepts (`password`, `skip_password_checks`, `phone_number`, …).
///
/// ```
/// use clerk_backend::UserCreate;
/// let new = UserCreate { email_address: vec!["ada@example.com".into()], ..Default::default() };
/// # let _ = new;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserCreate {
    /// Email addresses; the first becomes the primary one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub email_address: Vec<String>,
    /// First name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Your own id for the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Public metadata (a JSON object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_metadata: Option<Value>,
    /// Private metadata (a JSON object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_metadata: Option<Value>,
    /// Unsafe metadata (a JSON object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsafe_metadata: Option<Value>,
    /// Other parameters, sent as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct TotalCount {
    total_count: u64,
}

/// User endpoints; from [`Client::users`].
#[derive(Debug, Clone, Copy)]
pub struct Users<'a> {
    client: &'a Client,
}

impl Client {
    /// Users: `/v1/users`.
    pub fn users(&self) -> Users<'_> {
        Users { client: self }
    }
}

impl Users<'_> {
    /// `GET /v1/users/{id}`.
    ///
    /// # Errors
    /// See [`Error`]; 404 ([`Error::is_not_found`]) for an unknown user.
    pub async fn get(&self, user_id: &str) -> Result<User, Error> {
        self.client.get(&["users", segment(user_id)?], &[]).await
    }

    /// `GET /v1/users`: one page of users (Clerk answers a bare array). Entries without a
    /// string `id` are skipped.
    ///
    /// # Errors
    /// See [`Error`]; 422 for parameters out of range.
    pub async fn list(&self, params: &UserListParams) -> Result<Vec<User>, Error> {
        let list: LenientList<User> = self.client.get(&["users"], &params.query()).await?;
        Ok(list.0)
    }

    /// `GET /v1/users/count`: how many users match the filters (paging is ignored).
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn count(&self, params: &UserListParams) -> Result<u64, Error> {
        let count: TotalCount = self
            .client
            .get(&["users", "count"], &params.filters())
            .await?;
        Ok(count.total_count)
    }

    /// `POST /v1/users`. Retried only when no connection could be made, or on 429 (see
    /// [`Client`]).
    ///
    /// # Errors
    /// See [`Error`]; 422 `form_identifier_exists` for a taken email address or username.
    pub async fn create(&self, user: &UserCreate) -> Result<User, Error> {
        self.client.send_json(Method::POST, &["users"], user).await
    }

    /// `PATCH /v1/users/{id}`: changes the fields given.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn update(&self, user_id: &str, update: &UserUpdate) -> Result<User, Error> {
        self.client
            .send_json(Method::PATCH, &["users", segment(user_id)?], update)
            .await
    }

    /// `PATCH /v1/users/{id}/metadata`: **deep-merges** each metadata given into the user's;
    /// a key set to `null` is removed.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn update_metadata(
        &self,
        user_id: &str,
        update: &MetadataUpdate,
    ) -> Result<User, Error> {
        self.client
            .send_json(
                Method::PATCH,
                &["users", segment(user_id)?, "metadata"],
                update,
            )
            .await
    }

    /// `PUT /v1/users/{id}/metadata`: **replaces** each metadata given (`{}` clears it);
    /// those not given stay as they are. Idempotent, so retried like a `GET`.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn replace_metadata(
        &self,
        user_id: &str,
        update: &MetadataUpdate,
    ) -> Result<User, Error> {
        self.client
            .send_json(
                Method::PUT,
                &["users", segment(user_id)?, "metadata"],
                update,
            )
            .await
    }

    /// `DELETE /v1/users/{id}`: answers `{"object": "user", "id", "deleted": true}`.
    ///
    /// # Errors
    /// See [`Error`]; 404 for an unknown (or already deleted) user.
    pub async fn delete(&self, user_id: &str) -> Result<DeletedObject, Error> {
        self.client
            .call(Method::DELETE, &["users", segment(user_id)?], &[], None)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_params_repeat_filters_and_skip_unset_fields() {
        let params = UserListParams {
            limit: Some(5),
            user_id: vec!["user_a".into(), "user_b".into()],
            email_address: vec!["a@example.com".into()],
            query: Some("ada".into()),
            ..Default::default()
        };
        let expected = [
            ("user_id", "user_a"),
            ("user_id", "user_b"),
            ("email_address", "a@example.com"),
            ("query", "ada"),
            ("limit", "5"),
        ]
        .map(|(k, v)| (k, v.to_owned()));
        assert_eq!(params.query(), expected);
        assert!(UserListParams::default().query().is_empty());
    }

    #[test]
    fn bodies_send_only_what_is_set() {
        let update = MetadataUpdate {
            public: Some(json!({"a": null})),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&update).unwrap(),
            json!({"public_metadata": {"a": null}})
        );
        let mut extra = Map::new();
        extra.insert("password".into(), json!("hunter22"));
        let update = UserUpdate {
            first_name: Some("Ada".into()),
            extra,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&update).unwrap(),
            json!({"first_name": "Ada", "password": "hunter22"})
        );
        assert_eq!(
            serde_json::to_value(UserCreate::default()).unwrap(),
            json!({})
        );
    }
}
