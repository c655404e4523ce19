//! Clerk's objects: users, sessions, organizations, memberships, as webhook `data` and Backend
//! API answers carry them.
//!
//! Only the object's own `id` is required. Every other field is optional or defaulted, reads as
//! absent when Clerk sends `null` or a value of another type, and fields this version does not
//! know are kept in `extra`, so a change on Clerk's side never makes an object unreadable.
//! Times are Unix milliseconds.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A Clerk user (`user.created`, `user.updated`, and inside session events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// `user_…`
    pub id: String,
    /// The user's email addresses; an entry without a string `id` is skipped.
    #[serde(default, deserialize_with = "items")]
    pub email_addresses: Vec<EmailAddress>,
    /// The `id` of the primary entry of `email_addresses`.
    #[serde(default, deserialize_with = "or_default")]
    pub primary_email_address_id: Option<String>,
    /// First name.
    #[serde(default, deserialize_with = "or_default")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, deserialize_with = "or_default")]
    pub last_name: Option<String>,
    /// Username, when the instance has usernames.
    #[serde(default, deserialize_with = "or_default")]
    pub username: Option<String>,
    /// Profile image URL.
    #[serde(default, deserialize_with = "or_default")]
    pub image_url: Option<String>,
    /// Metadata readable by the frontend, writable by the backend.
    #[serde(default, deserialize_with = "or_default")]
    pub public_metadata: Map<String, Value>,
    /// Metadata visible to the backend only.
    #[serde(default, deserialize_with = "or_default")]
    pub private_metadata: Map<String, Value>,
    /// Metadata the user can write from the frontend: never trust it.
    #[serde(default, deserialize_with = "or_default")]
    pub unsafe_metadata: Map<String, Value>,
    /// Your own id for the user, when set.
    #[serde(default, deserialize_with = "or_default")]
    pub external_id: Option<String>,
    /// Creation time (ms).
    #[serde(default, deserialize_with = "or_default")]
    pub created_at: Option<i64>,
    /// Last update time (ms): compare it to order deliveries, which may arrive out of order.
    #[serde(default, deserialize_with = "or_default")]
    pub updated_at: Option<i64>,
    /// Fields not listed above (`phone_numbers`, `banned`, `last_sign_in_at`, …), as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl User {
    /// The address of the primary email, if the user has one.
    pub fn primary_email(&self) -> Option<&str> {
        let primary = self.primary_email_address_id.as_deref()?;
        self.email_addresses
            .iter()
            .find(|email| email.id == primary)
            .map(|email| email.email_address.as_str())
    }
}

/// One of a user's email addresses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailAddress {
    /// `idn_…`
    pub id: String,
    /// The address; empty when absent.
    #[serde(default, deserialize_with = "or_default")]
    pub email_address: String,
    /// Other fields (`verification`, `linked_to`, …), as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What Clerk sends for a deleted object (`user.deleted`, `organization.deleted`):
/// `{"object", "id", "deleted": true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletedObject {
    /// The deleted object's id.
    pub id: String,
    /// Always `true` from Clerk; `false` when absent.
    #[serde(default, deserialize_with = "or_default")]
    pub deleted: bool,
    /// The kind of object (`user`, `organization`).
    #[serde(default, deserialize_with = "or_default")]
    pub object: Option<String>,
    /// Other fields (`slug`, `external_id`, …), as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A Clerk session (`session.created`, `.ended`, `.removed`, `.revoked`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// `sess_…`
    pub id: String,
    /// The session's user (`user_…`).
    pub user_id: String,
    /// The client (browser or device) the session belongs to.
    #[serde(default, deserialize_with = "or_default")]
    pub client_id: Option<String>,
    /// `active`, `ended`, `removed`, `revoked`, `expired`, `abandoned`, `pending`, …
    #[serde(default, deserialize_with = "or_default")]
    pub status: Option<String>,
    /// Last activity (ms).
    #[serde(default, deserialize_with = "or_default")]
    pub last_active_at: Option<i64>,
    /// When the session expires (ms).
    #[serde(default, deserialize_with = "or_default")]
    pub expire_at: Option<i64>,
    /// Creation time (ms).
    #[serde(default, deserialize_with = "or_default")]
    pub created_at: Option<i64>,
    /// Last update time (ms).
    #[serde(default, deserialize_with = "or_default")]
    pub updated_at: Option<i64>,
    /// The session's user, when Clerk includes it.
    #[serde(default, deserialize_with = "or_default")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Box<User>>,
    /// Other fields (`abandon_at`, `actor`, `last_active_organization_id`, …), as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A Clerk organization (`organization.created`, `.updated`, and inside memberships).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    /// `org_…`
    pub id: String,
    /// Display name; empty when absent.
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// URL-friendly unique name.
    #[serde(default, deserialize_with = "or_default")]
    pub slug: Option<String>,
    /// Logo URL.
    #[serde(default, deserialize_with = "or_default")]
    pub image_url: Option<String>,
    /// Metadata readable by the frontend, writable by the backend.
    #[serde(default, deserialize_with = "or_default")]
    pub public_metadata: Map<String, Value>,
    /// Metadata visible to the backend only.
    #[serde(default, deserialize_with = "or_default")]
    pub private_metadata: Map<String, Value>,
    /// Number of members, when Clerk includes it.
    #[serde(default, deserialize_with = "or_default")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members_count: Option<i64>,
    /// Creation time (ms).
    #[serde(default, deserialize_with = "or_default")]
    pub created_at: Option<i64>,
    /// Last update time (ms).
    #[serde(default, deserialize_with = "or_default")]
    pub updated_at: Option<i64>,
    /// Other fields (`created_by`, `max_allowed_memberships`, …), as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A user's membership in an organization (`organizationMembership.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganizationMembership {
    /// `orgmem_…`
    pub id: String,
    /// The role key, e.g. `org:admin`; empty when absent.
    #[serde(default, deserialize_with = "or_default")]
    pub role: String,
    /// The permission keys of the role, e.g. `org:sys_memberships:manage`.
    #[serde(default, deserialize_with = "items")]
    pub permissions: Vec<String>,
    /// The organization.
    #[serde(default, deserialize_with = "or_default")]
    pub organization: Option<Box<Organization>>,
    /// The member.
    #[serde(default, deserialize_with = "or_default")]
    pub public_user_data: Option<PublicUserData>,
    /// Membership metadata readable by the frontend.
    #[serde(default, deserialize_with = "or_default")]
    pub public_metadata: Map<String, Value>,
    /// Membership metadata visible to the backend only.
    #[serde(default, deserialize_with = "or_default")]
    pub private_metadata: Map<String, Value>,
    /// Creation time (ms).
    #[serde(default, deserialize_with = "or_default")]
    pub created_at: Option<i64>,
    /// Last update time (ms).
    #[serde(default, deserialize_with = "or_default")]
    pub updated_at: Option<i64>,
    /// Other fields (`role_name`, …), as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl OrganizationMembership {
    /// The member's user id.
    pub fn user_id(&self) -> Option<&str> {
        self.public_user_data.as_ref().map(|u| u.user_id.as_str())
    }

    /// The organization's id.
    pub fn organization_id(&self) -> Option<&str> {
        self.organization.as_ref().map(|o| o.id.as_str())
    }
}

/// The public part of a member's user, inside a membership.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicUserData {
    /// `user_…`
    pub user_id: String,
    /// The identifier the user signs in with (usually an email address).
    #[serde(default, deserialize_with = "or_default")]
    pub identifier: Option<String>,
    /// First name.
    #[serde(default, deserialize_with = "or_default")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, deserialize_with = "or_default")]
    pub last_name: Option<String>,
    /// Profile image URL.
    #[serde(default, deserialize_with = "or_default")]
    pub image_url: Option<String>,
    /// Other fields (`has_image`, …), as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A field whose value has another type than expected (or is `null`) reads as the default.
fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    let value = Value::deserialize(deserializer)?;
    Ok(T::deserialize(value).unwrap_or_default())
}

/// A list whose entries that do not fit are skipped; anything but an array reads as empty.
fn items<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    Ok(match Value::deserialize(deserializer)? {
        Value::Array(entries) => entries
            .into_iter()
            .filter_map(|entry| T::deserialize(entry).ok())
            .collect(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_id_is_required() {
        let user: User = serde_json::from_value(json!({"id": "user_1"})).unwrap();
        assert_eq!(user.id, "user_1");
        assert!(user.email_addresses.is_empty());
        assert_eq!(user.first_name, None);
        assert!(user.public_metadata.is_empty());
        assert_eq!(user.primary_email(), None);
        assert!(serde_json::from_value::<User>(json!({"first_name": "Ada"})).is_err());
        assert!(serde_json::from_value::<Organization>(json!({})).is_err());
        assert!(serde_json::from_value::<Session>(json!({"id": "sess_1"})).is_err());
    }

    #[test]
    fn fields_of_another_type_or_null_read_as_absent() {
        let user: User = serde_json::from_value(json!({
            "id": "user_1",
            "first_name": 7,
            "last_name": null,
            "public_metadata": "not an object",
            "created_at": "yesterday",
            "email_addresses": "none",
        }))
        .unwrap();
        assert_eq!(user.first_name, None);
        assert_eq!(user.last_name, None);
        assert!(user.public_metadata.is_empty());
        assert_eq!(user.created_at, None);
        assert!(user.email_addresses.is_empty());

        let organization: Organization =
            serde_json::from_value(json!({"id": "org_1", "name": ["Acme"], "members_count": "3"}))
                .unwrap();
        assert_eq!(organization.name, "");
        assert_eq!(organization.members_count, None);
        let deleted: DeletedObject =
            serde_json::from_value(json!({"id": "user_1", "deleted": "yes"})).unwrap();
        assert!(!deleted.deleted);
    }

    #[test]
    fn list_entries_that_do_not_fit_are_skipped() {
        let user: User = serde_json::from_value(json!({
            "id": "user_1",
            "primary_email_address_id": "idn_2",
            "email_addresses": [
                {"id": "idn_1", "email_address": "old@example.com"},
                {"email_address": "no id"},
                3,
                {"id": "idn_2", "email_address": "ada@example.com"},
            ],
        }))
        .unwrap();
        assert_eq!(user.email_addresses.len(), 2);
        assert_eq!(user.primary_email(), Some("ada@example.com"));

        let membership: OrganizationMembership = serde_json::from_value(
            json!({"id": "orgmem_1", "permissions": ["org:a", 1, null, "org:b"]}),
        )
        .unwrap();
        assert_eq!(membership.permissions, ["org:a", "org:b"]);
    }

    #[test]
    fn unknown_fields_are_kept_and_written_back() {
        let sent = json!({
            "id": "user_1",
            "first_name": "Ada",
            "banned": false,
            "phone_numbers": [{"id": "idn_p"}],
        });
        let user: User = serde_json::from_value(sent).unwrap();
        assert_eq!(user.extra["banned"], json!(false));
        let written = serde_json::to_value(&user).unwrap();
        assert_eq!(written["phone_numbers"], json!([{"id": "idn_p"}]));
        assert_eq!(written["first_name"], json!("Ada"));
        assert_eq!(serde_json::from_value::<User>(written).unwrap(), user);
    }

    #[test]
    fn a_primary_email_id_that_matches_no_address_gives_none() {
        let user: User = serde_json::from_value(json!({
            "id": "user_1",
            "primary_email_address_id": "idn_gone",
            "email_addresses": [{"id": "idn_1", "email_address": "ada@example.com"}],
        }))
        .unwrap();
        assert_eq!(user.primary_email(), None);
    }

    #[test]
    fn memberships_name_their_user_and_organization() {
        let membership: OrganizationMembership = serde_json::from_value(json!({
            "id": "orgmem_1",
            "role": "org:admin",
            "organization": {"id": "org_1", "name": "Acme"},
            "public_user_data": {"user_id": "user_1", "identifier": "ada@example.com"},
        }))
        .unwrap();
        assert_eq!(membership.user_id(), Some("user_1"));
        assert_eq!(membership.organization_id(), Some("org_1"));

        let bare: OrganizationMembership =
            serde_json::from_value(json!({"id": "orgmem_2", "public_user_data": {"id": 1}}))
                .unwrap();
        assert_eq!(bare.user_id(), None);
        assert_eq!(bare.organization_id(), None);
        assert_eq!(bare.role, "");
    }

    #[test]
    fn a_session_may_carry_its_user() {
        let session: Session = serde_json::from_value(json!({
            "id": "sess_1",
            "user_id": "user_1",
            "status": "active",
            "user": {"id": "user_1", "first_name": "Ada"},
        }))
        .unwrap();
        assert_eq!(session.status.as_deref(), Some("active"));
        assert_eq!(
            session.user.as_ref().and_then(|u| u.first_name.as_deref()),
            Some("Ada")
        );
        let without: Session =
            serde_json::from_value(json!({"id": "sess_2", "user_id": "user_1", "user": "x"}))
                .unwrap();
        assert_eq!(without.user, None);
        assert!(serde_json::to_value(&without)
            .unwrap()
            .get("user")
            .is_none());
    }
}
