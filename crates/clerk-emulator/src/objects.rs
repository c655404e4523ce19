//! The Backend API objects the emulator keeps (users, sessions, organizations, memberships),
//! the inputs that create and change them, and [`BackendError`].
//!
//! Each object is a snapshot taken when it was returned; [`User::to_json`] and its siblings
//! render it in Clerk's own JSON shape, as served by the Backend API and sent in webhooks.
//! Times are Unix milliseconds.

use std::fmt;

use serde::Deserialize;
use serde_json::{json, Map, Value};

/// A Clerk user (`user_…`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct User {
    /// `user_…`
    pub id: String,
    /// The user's email addresses, all verified.
    pub email_addresses: Vec<EmailAddress>,
    /// The id of the primary entry of `email_addresses`.
    pub primary_email_address_id: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Username.
    pub username: Option<String>,
    /// Your own id for the user.
    pub external_id: Option<String>,
    /// Profile image URL.
    pub image_url: String,
    /// Metadata readable by the frontend, writable by the backend.
    pub public_metadata: Map<String, Value>,
    /// Metadata visible to the backend only.
    pub private_metadata: Map<String, Value>,
    /// Metadata the frontend can write.
    pub unsafe_metadata: Map<String, Value>,
    /// Whether the user is banned.
    pub banned: bool,
    /// Whether the user is locked out.
    pub locked: bool,
    /// Last sign-in (ms): set when a session is created.
    pub last_sign_in_at: Option<i64>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms); strictly increases with every change.
    pub updated_at: i64,
}

/// One of a user's email addresses (`idn_…`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EmailAddress {
    /// `idn_…`
    pub id: String,
    /// The address.
    pub email_address: String,
}

impl User {
    /// The primary email address, if any.
    pub fn primary_email(&self) -> Option<&str> {
        let primary = self.primary_email_address_id.as_deref()?;
        self.email_addresses
            .iter()
            .find(|e| e.id == primary)
            .map(|e| e.email_address.as_str())
    }

    /// Clerk's User JSON (`"object": "user"`).
    pub fn to_json(&self) -> Value {
        let emails: Vec<Value> = self
            .email_addresses
            .iter()
            .map(|email| {
                json!({
                    "id": email.id,
                    "object": "email_address",
                    "email_address": email.email_address,
                    "reserved": false,
                    "verification": {
                        "status": "verified",
                        "strategy": "admin",
                        "attempts": null,
                        "expire_at": null,
                    },
                    "linked_to": [],
                    "matches_sso_connection": false,
                    "created_at": self.created_at,
                    "updated_at": self.updated_at,
                })
            })
            .collect();
        json!({
            "object": "user",
            "id": self.id,
            "username": self.username,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "image_url": self.image_url,
            "has_image": false,
            "primary_email_address_id": self.primary_email_address_id,
            "primary_phone_number_id": null,
            "primary_web3_wallet_id": null,
            "password_enabled": false,
            "two_factor_enabled": false,
            "totp_enabled": false,
            "backup_code_enabled": false,
            "email_addresses": emails,
            "phone_numbers": [],
            "web3_wallets": [],
            "passkeys": [],
            "external_accounts": [],
            "saml_accounts": [],
            "enterprise_accounts": [],
            "public_metadata": self.public_metadata,
            "private_metadata": self.private_metadata,
            "unsafe_metadata": self.unsafe_metadata,
            "external_id": self.external_id,
            "last_sign_in_at": self.last_sign_in_at,
            "banned": self.banned,
            "locked": self.locked,
            "lockout_expires_in_seconds": null,
            "verification_attempts_remaining": 100,
            "delete_self_enabled": true,
            "create_organization_enabled": true,
            "last_active_at": self.last_sign_in_at,
            "legal_accepted_at": null,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// A session (`sess_…`) of a user on a client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// `sess_…`
    pub id: String,
    /// The session's user.
    pub user_id: String,
    /// `client_…`: the browser or device.
    pub client_id: String,
    /// `active`, `revoked`, `ended` or `removed`.
    pub status: String,
    /// Last activity (ms).
    pub last_active_at: i64,
    /// The organization last active in the session.
    pub last_active_organization_id: Option<String>,
    /// When the session expires (ms): 7 days after creation.
    pub expire_at: i64,
    /// When the session is abandoned (ms): 30 days after creation.
    pub abandon_at: i64,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms); strictly increases with every change.
    pub updated_at: i64,
}

impl Session {
    /// Clerk's Session JSON (`"object": "session"`).
    pub fn to_json(&self) -> Value {
        json!({
            "object": "session",
            "id": self.id,
            "user_id": self.user_id,
            "client_id": self.client_id,
            "status": self.status,
            "last_active_at": self.last_active_at,
            "last_active_organization_id": self.last_active_organization_id,
            "actor": null,
            "expire_at": self.expire_at,
            "abandon_at": self.abandon_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// An organization (`org_…`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Organization {
    /// `org_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// URL-friendly unique name.
    pub slug: String,
    /// Logo URL.
    pub image_url: String,
    /// Metadata readable by the frontend, writable by the backend.
    pub public_metadata: Map<String, Value>,
    /// Metadata visible to the backend only.
    pub private_metadata: Map<String, Value>,
    /// The user who created it.
    pub created_by: Option<String>,
    /// Number of members.
    pub members_count: u64,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms); strictly increases with every change (members joining or leaving
    /// included).
    pub updated_at: i64,
}

impl Organization {
    /// Clerk's Organization JSON (`"object": "organization"`).
    pub fn to_json(&self) -> Value {
        json!({
            "object": "organization",
            "id": self.id,
            "name": self.name,
            "slug": self.slug,
            "image_url": self.image_url,
            "has_image": false,
            "public_metadata": self.public_metadata,
            "private_metadata": self.private_metadata,
            "members_count": self.members_count,
            "pending_invitations_count": 0,
            "max_allowed_memberships": 0,
            "admin_delete_enabled": true,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// A user's membership in an organization (`orgmem_…`), with a snapshot of both.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OrganizationMembership {
    /// `orgmem_…`
    pub id: String,
    /// The role key, e.g. `org:admin`.
    pub role: String,
    /// The role's permission keys (see [`crate::Emulator::define_role`]).
    pub permissions: Vec<String>,
    /// The organization.
    pub organization: Organization,
    /// The member.
    pub user: User,
    /// Membership metadata readable by the frontend.
    pub public_metadata: Map<String, Value>,
    /// Membership metadata visible to the backend only.
    pub private_metadata: Map<String, Value>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms); strictly increases with every change.
    pub updated_at: i64,
}

impl OrganizationMembership {
    /// Clerk's OrganizationMembership JSON (`"object": "organization_membership"`), with the
    /// organization and `public_user_data` embedded.
    pub fn to_json(&self) -> Value {
        let identifier = self
            .user
            .primary_email()
            .map(str::to_owned)
            .or_else(|| self.user.username.clone());
        json!({
            "object": "organization_membership",
            "id": self.id,
            "role": self.role,
            "role_name": role_name(&self.role),
            "permissions": self.permissions,
            "public_metadata": self.public_metadata,
            "private_metadata": self.private_metadata,
            "organization": self.organization.to_json(),
            "public_user_data": {
                "user_id": self.user.id,
                "identifier": identifier,
                "first_name": self.user.first_name,
                "last_name": self.user.last_name,
                "image_url": self.user.image_url,
                "has_image": false,
            },
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// `org:billing_manager` → `Billing manager`.
fn role_name(role: &str) -> String {
    let key = role.strip_prefix("org:").unwrap_or(role).replace('_', " ");
    let mut chars = key.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A user to create, as `POST /v1/users` takes it (unknown fields are ignored there).
///
/// ```
/// use clerk_emulator::NewUser;
/// let user = NewUser::new().email("ada@example.com").first_name("Ada").last_name("Lovelace");
/// # let _ = user;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct NewUser {
    /// Email addresses; the first becomes the primary one.
    #[serde(default)]
    pub email_address: Vec<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Username (unique).
    pub username: Option<String>,
    /// Your own id for the user.
    pub external_id: Option<String>,
    /// Public metadata: a JSON object.
    pub public_metadata: Option<Value>,
    /// Private metadata: a JSON object.
    pub private_metadata: Option<Value>,
    /// Unsafe metadata: a JSON object.
    pub unsafe_metadata: Option<Value>,
}

impl NewUser {
    /// A user with nothing set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an email address (the first one added is the primary one).
    pub fn email(mut self, email_address: impl Into<String>) -> Self {
        self.email_address.push(email_address.into());
        self
    }

    /// Sets the first name.
    pub fn first_name(mut self, first_name: impl Into<String>) -> Self {
        self.first_name = Some(first_name.into());
        self
    }

    /// Sets the last name.
    pub fn last_name(mut self, last_name: impl Into<String>) -> Self {
        self.last_name = Some(last_name.into());
        self
    }

    /// Sets the username.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Sets the external id.
    pub fn external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = Some(external_id.into());
        self
    }

    /// Sets the public metadata (a JSON object).
    pub fn public_metadata(mut self, metadata: Value) -> Self {
        self.public_metadata = Some(metadata);
        self
    }

    /// Sets the private metadata (a JSON object).
    pub fn private_metadata(mut self, metadata: Value) -> Self {
        self.private_metadata = Some(metadata);
        self
    }

    /// Sets the unsafe metadata (a JSON object).
    pub fn unsafe_metadata(mut self, metadata: Value) -> Self {
        self.unsafe_metadata = Some(metadata);
        self
    }
}

/// Changes to a user, as `PATCH /v1/users/{id}` takes them: an absent (or `null`) field is
/// left unchanged; a metadata field given replaces that metadata whole.
///
/// ```
/// use clerk_emulator::UserUpdate;
/// let update = UserUpdate::new().first_name("Grace").username("grace");
/// # let _ = update;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct UserUpdate {
    /// New first name.
    pub first_name: Option<String>,
    /// New last name.
    pub last_name: Option<String>,
    /// New username (unique).
    pub username: Option<String>,
    /// New external id.
    pub external_id: Option<String>,
    /// New profile image URL (Rust API only: Clerk uploads images through another endpoint).
    #[serde(skip)]
    pub image_url: Option<String>,
    /// The id of one of the user's email addresses, to make primary.
    pub primary_email_address_id: Option<String>,
    /// Replaces the public metadata (a JSON object).
    pub public_metadata: Option<Value>,
    /// Replaces the private metadata (a JSON object).
    pub private_metadata: Option<Value>,
    /// Replaces the unsafe metadata (a JSON object).
    pub unsafe_metadata: Option<Value>,
    /// Bans or unbans the user (Rust API only: Clerk has `/ban` and `/unban` endpoints).
    #[serde(skip)]
    pub banned: Option<bool>,
    /// Locks or unlocks the user (Rust API only).
    #[serde(skip)]
    pub locked: Option<bool>,
}

impl UserUpdate {
    /// No change.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the first name.
    pub fn first_name(mut self, first_name: impl Into<String>) -> Self {
        self.first_name = Some(first_name.into());
        self
    }

    /// Sets the last name.
    pub fn last_name(mut self, last_name: impl Into<String>) -> Self {
        self.last_name = Some(last_name.into());
        self
    }

    /// Sets the username.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Sets the external id.
    pub fn external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = Some(external_id.into());
        self
    }

    /// Sets the profile image URL.
    pub fn image_url(mut self, image_url: impl Into<String>) -> Self {
        self.image_url = Some(image_url.into());
        self
    }

    /// Makes one of the user's email addresses primary.
    pub fn primary_email_address_id(mut self, id: impl Into<String>) -> Self {
        self.primary_email_address_id = Some(id.into());
        self
    }

    /// Replaces the public metadata.
    pub fn public_metadata(mut self, metadata: Value) -> Self {
        self.public_metadata = Some(metadata);
        self
    }

    /// Replaces the private metadata.
    pub fn private_metadata(mut self, metadata: Value) -> Self {
        self.private_metadata = Some(metadata);
        self
    }

    /// Replaces the unsafe metadata.
    pub fn unsafe_metadata(mut self, metadata: Value) -> Self {
        self.unsafe_metadata = Some(metadata);
        self
    }

    /// Bans (`true`) or unbans the user.
    pub fn banned(mut self, banned: bool) -> Self {
        self.banned = Some(banned);
        self
    }

    /// Locks (`true`) or unlocks the user.
    pub fn locked(mut self, locked: bool) -> Self {
        self.locked = Some(locked);
        self
    }
}

/// An organization to create.
///
/// ```
/// use clerk_emulator::NewOrganization;
/// let org = NewOrganization::new("Acme Inc").slug("acme");
/// # let _ = org;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct NewOrganization {
    /// Display name.
    pub name: String,
    /// Unique slug; derived from the name when absent.
    pub slug: Option<String>,
    /// A user who becomes the organization's first admin (`org:admin`), as in Clerk.
    pub created_by: Option<String>,
    /// Public metadata: a JSON object.
    pub public_metadata: Option<Value>,
    /// Private metadata: a JSON object.
    pub private_metadata: Option<Value>,
}

impl NewOrganization {
    /// An organization with this name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Sets the slug.
    pub fn slug(mut self, slug: impl Into<String>) -> Self {
        self.slug = Some(slug.into());
        self
    }

    /// Sets the creator, who becomes its first admin.
    pub fn created_by(mut self, user_id: impl Into<String>) -> Self {
        self.created_by = Some(user_id.into());
        self
    }

    /// Sets the public metadata (a JSON object).
    pub fn public_metadata(mut self, metadata: Value) -> Self {
        self.public_metadata = Some(metadata);
        self
    }

    /// Sets the private metadata (a JSON object).
    pub fn private_metadata(mut self, metadata: Value) -> Self {
        self.private_metadata = Some(metadata);
        self
    }
}

/// Changes to an organization: an absent field is left unchanged; metadata given replaces
/// that metadata whole.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct OrganizationUpdate {
    /// New name.
    pub name: Option<String>,
    /// New slug (unique).
    pub slug: Option<String>,
    /// New logo URL.
    pub image_url: Option<String>,
    /// Replaces the public metadata (a JSON object).
    pub public_metadata: Option<Value>,
    /// Replaces the private metadata (a JSON object).
    pub private_metadata: Option<Value>,
}

impl OrganizationUpdate {
    /// No change.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the slug.
    pub fn slug(mut self, slug: impl Into<String>) -> Self {
        self.slug = Some(slug.into());
        self
    }

    /// Sets the logo URL.
    pub fn image_url(mut self, image_url: impl Into<String>) -> Self {
        self.image_url = Some(image_url.into());
        self
    }

    /// Replaces the public metadata.
    pub fn public_metadata(mut self, metadata: Value) -> Self {
        self.public_metadata = Some(metadata);
        self
    }

    /// Replaces the private metadata.
    pub fn private_metadata(mut self, metadata: Value) -> Self {
        self.private_metadata = Some(metadata);
        self
    }
}

/// Why the emulator refused a change or a lookup; over HTTP, a Clerk error response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendError {
    /// No such object: HTTP 404 `resource_not_found`.
    NotFound {
        /// The kind of object (`user`, `session`, `organization`, `organization_membership`,
        /// `machine`, `api_key`, `m2m_token`, `oauth_access_token`).
        object: &'static str,
        /// The id (or slug) looked up.
        id: String,
    },
    /// A parameter was refused: HTTP 422, or 400 for a body that is not the expected JSON
    /// (`request_body_invalid`) and for the machine-authentication routes (`bad_request`).
    Invalid {
        /// Clerk's error code: `form_param_invalid`, `form_identifier_exists`,
        /// `form_param_format_invalid`, `form_param_missing`, `request_body_invalid`,
        /// `bad_request`, …
        code: &'static str,
        /// The parameter at fault (`meta.param_name`).
        param: String,
        /// A human-readable explanation.
        message: String,
    },
}

impl BackendError {
    pub(crate) fn not_found(object: &'static str, id: &str) -> Self {
        Self::NotFound {
            object,
            id: id.to_owned(),
        }
    }

    pub(crate) fn invalid(code: &'static str, param: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            param: param.to_owned(),
            message: message.into(),
        }
    }

    /// The HTTP status the Backend API answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound { .. } => 404,
            Self::Invalid {
                code: "request_body_invalid" | "bad_request",
                ..
            } => 400,
            Self::Invalid { .. } => 422,
        }
    }

    /// Clerk's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "resource_not_found",
            Self::Invalid { code, .. } => code,
        }
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound { object, id } => write!(f, "no {object} found for {id:?}"),
            Self::Invalid { param, message, .. } => write!(f, "{param}: {message}"),
        }
    }
}

impl std::error::Error for BackendError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_read_like_clerks() {
        assert_eq!(role_name("org:admin"), "Admin");
        assert_eq!(role_name("org:billing_manager"), "Billing manager");
        assert_eq!(role_name(""), "");
    }
}
