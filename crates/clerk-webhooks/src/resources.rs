//! The Clerk objects carried in webhook `data`: users, sessions, organizations, memberships.
//!
//! Only the object's own `id` is required. Every other field is optional or defaulted, reads as
//! absent when Clerk sends `null` or a value of another type, and fields this version does not
//! know are kept in `extra`, so a change on Clerk's side never makes an event unreadable.
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
