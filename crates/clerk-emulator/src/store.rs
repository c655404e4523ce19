//! The emulated instance's directory: users, sessions, organizations and memberships, kept in
//! memory. Every change emits its Clerk webhook event, in the order the changes happen.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::ids;
use crate::objects::{
    BackendError, EmailAddress, NewOrganization, NewUser, Organization, OrganizationMembership,
    OrganizationUpdate, Session, User, UserUpdate,
};
use crate::webhooks::Hooks;

/// A session expires 7 days after it starts (Clerk's default session lifetime).
const SESSION_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;
/// An inactive session is abandoned after 30 days.
const SESSION_ABANDON_MS: i64 = 30 * 24 * 3600 * 1000;

/// The permissions of Clerk's two default roles.
const ADMIN_PERMISSIONS: [&str; 6] = [
    "org:sys_profile:manage",
    "org:sys_profile:delete",
    "org:sys_memberships:read",
    "org:sys_memberships:manage",
    "org:sys_domains:read",
    "org:sys_domains:manage",
];
const MEMBER_PERMISSIONS: [&str; 1] = ["org:sys_memberships:read"];

/// A membership as kept; the user and organization are joined in when it is read.
#[derive(Debug, Clone)]
struct Membership {
    id: String,
    organization_id: String,
    user_id: String,
    role: String,
    public_metadata: Map<String, Value>,
    private_metadata: Map<String, Value>,
    created_at: i64,
    updated_at: i64,
}

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

    fn newest_first() -> Self {
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

pub(crate) struct Store {
    instance_id: String,
    /// The last timestamp handed out, so that every change gets a later one.
    last_ms: i64,
    users: Vec<User>,
    sessions: Vec<Session>,
    organizations: Vec<Organization>,
    memberships: Vec<Membership>,
    roles: BTreeMap<String, Vec<String>>,
    events: Vec<Value>,
    hooks: Arc<Hooks>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn in_page<T>(items: Vec<T>, offset: usize, limit: usize) -> Vec<T> {
    items.into_iter().skip(offset).take(limit).collect()
}

fn contains_folded(haystack: Option<&str>, needle: &str) -> bool {
    haystack.is_some_and(|h| h.to_lowercase().contains(needle))
}

/// Reads an optional metadata parameter: absent stays absent, `null` is an empty object,
/// anything else but an object is refused.
fn metadata(param: &str, value: Option<Value>) -> Result<Option<Map<String, Value>>, BackendError> {
    match value {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Map::new())),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(BackendError::invalid(
            "form_param_invalid",
            param,
            format!("{param} must be a JSON object"),
        )),
    }
}

/// Merges `patch` into `target`, Clerk's way: objects merge recursively, `null` removes a key,
/// anything else replaces.
pub(crate) fn deep_merge(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(&key);
            }
            Value::Object(inner) => {
                let slot = target
                    .entry(key)
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(existing) = slot {
                    deep_merge(existing, inner);
                }
            }
            other => {
                target.insert(key, other);
            }
        }
    }
}

/// `Acme Inc.` → `acme-inc`.
fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

fn valid_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

impl Store {
    pub fn new(instance_id: String, hooks: Arc<Hooks>) -> Self {
        let roles = BTreeMap::from([
            (
                "org:admin".to_owned(),
                ADMIN_PERMISSIONS.map(str::to_owned).to_vec(),
            ),
            (
                "org:member".to_owned(),
                MEMBER_PERMISSIONS.map(str::to_owned).to_vec(),
            ),
        ]);
        Self {
            instance_id,
            last_ms: 0,
            users: Vec::new(),
            sessions: Vec::new(),
            organizations: Vec::new(),
            memberships: Vec::new(),
            roles,
            events: Vec::new(),
            hooks,
        }
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Now in ms, and always later than any time handed out before.
    fn tick(&mut self) -> i64 {
        self.last_ms = now_ms().max(self.last_ms + 1);
        self.last_ms
    }

    fn emit(&mut self, type_: &str, data: Value) {
        let event = json!({
            "type": type_,
            "object": "event",
            "data": data,
            "timestamp": now_ms(),
            "instance_id": self.instance_id,
            "event_attributes": {
                "http_request": { "client_ip": "127.0.0.1", "user_agent": "clerk-emulator" }
            },
        });
        self.hooks.enqueue(type_, event.to_string());
        self.events.push(event);
    }

    pub fn events(&self) -> Vec<Value> {
        self.events.clone()
    }

    // ---- users ----

    fn user_index(&self, id: &str) -> Result<usize, BackendError> {
        self.users
            .iter()
            .position(|u| u.id == id)
            .ok_or_else(|| BackendError::not_found("user", id))
    }

    pub fn user(&self, id: &str) -> Result<User, BackendError> {
        self.user_index(id).map(|i| self.users[i].clone())
    }

    fn check_email_free(&self, email: &str, except: Option<&str>) -> Result<(), BackendError> {
        if !valid_email(email) {
            return Err(BackendError::invalid(
                "form_param_format_invalid",
                "email_address",
                format!("{email:?} is not a valid email address"),
            ));
        }
        let taken = self.users.iter().any(|u| {
            Some(u.id.as_str()) != except
                && u.email_addresses
                    .iter()
                    .any(|e| e.email_address.eq_ignore_ascii_case(email))
        });
        if taken {
            return Err(BackendError::invalid(
                "form_identifier_exists",
                "email_address",
                "That email address is taken. Please try another.",
            ));
        }
        Ok(())
    }

    fn check_username_free(
        &self,
        username: &str,
        except: Option<&str>,
    ) -> Result<(), BackendError> {
        let taken = self.users.iter().any(|u| {
            Some(u.id.as_str()) != except
                && u.username
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(username))
        });
        if taken {
            return Err(BackendError::invalid(
                "form_identifier_exists",
                "username",
                "That username is taken. Please try another.",
            ));
        }
        Ok(())
    }

    pub fn create_user(&mut self, new: NewUser) -> Result<User, BackendError> {
        for (i, email) in new.email_address.iter().enumerate() {
            self.check_email_free(email, None)?;
            if new.email_address[..i]
                .iter()
                .any(|e| e.eq_ignore_ascii_case(email))
            {
                return Err(BackendError::invalid(
                    "form_identifier_exists",
                    "email_address",
                    "The same email address was given twice.",
                ));
            }
        }
        if let Some(username) = &new.username {
            self.check_username_free(username, None)?;
        }
        let public_metadata = metadata("public_metadata", new.public_metadata)?.unwrap_or_default();
        let private_metadata =
            metadata("private_metadata", new.private_metadata)?.unwrap_or_default();
        let unsafe_metadata = metadata("unsafe_metadata", new.unsafe_metadata)?.unwrap_or_default();
        let now = self.tick();
        let email_addresses: Vec<EmailAddress> = new
            .email_address
            .into_iter()
            .map(|email_address| EmailAddress {
                id: ids::clerk_id("idn"),
                email_address,
            })
            .collect();
        let user = User {
            id: ids::clerk_id("user"),
            primary_email_address_id: email_addresses.first().map(|e| e.id.clone()),
            email_addresses,
            first_name: new.first_name,
            last_name: new.last_name,
            username: new.username,
            external_id: new.external_id,
            image_url: "https://img.clerk.com/emulator-default-avatar".to_owned(),
            public_metadata,
            private_metadata,
            unsafe_metadata,
            banned: false,
            locked: false,
            last_sign_in_at: None,
            created_at: now,
            updated_at: now,
        };
        self.users.push(user.clone());
        self.emit("user.created", user.to_json());
        Ok(user)
    }

    /// Applies `change` to a user, bumps `updated_at` and emits `user.updated`.
    fn change_user(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut User) -> Result<(), BackendError>,
    ) -> Result<User, BackendError> {
        let index = self.user_index(id)?;
        let mut user = self.users[index].clone();
        change(&mut user)?;
        user.updated_at = self.tick();
        self.users[index] = user.clone();
        self.emit("user.updated", user.to_json());
        Ok(user)
    }

    pub fn update_user(&mut self, id: &str, update: UserUpdate) -> Result<User, BackendError> {
        if let Some(username) = &update.username {
            self.check_username_free(username, Some(id))?;
        }
        let public = metadata("public_metadata", update.public_metadata)?;
        let private = metadata("private_metadata", update.private_metadata)?;
        let unsafe_ = metadata("unsafe_metadata", update.unsafe_metadata)?;
        self.change_user(id, |user| {
            if let Some(primary) = update.primary_email_address_id {
                if !user.email_addresses.iter().any(|e| e.id == primary) {
                    return Err(BackendError::invalid(
                        "form_param_invalid",
                        "primary_email_address_id",
                        "primary_email_address_id is not one of the user's email addresses",
                    ));
                }
                user.primary_email_address_id = Some(primary);
            }
            let set = |field: &mut Option<String>, value: Option<String>| {
                if value.is_some() {
                    *field = value;
                }
            };
            set(&mut user.first_name, update.first_name);
            set(&mut user.last_name, update.last_name);
            set(&mut user.username, update.username);
            set(&mut user.external_id, update.external_id);
            if let Some(image_url) = update.image_url {
                user.image_url = image_url;
            }
            if let Some(banned) = update.banned {
                user.banned = banned;
            }
            if let Some(locked) = update.locked {
                user.locked = locked;
            }
            if let Some(map) = public {
                user.public_metadata = map;
            }
            if let Some(map) = private {
                user.private_metadata = map;
            }
            if let Some(map) = unsafe_ {
                user.unsafe_metadata = map;
            }
            Ok(())
        })
    }

    /// `PATCH /v1/users/{id}/metadata` (`merge`) or `PUT` (replace): the body
    /// `{"public_metadata", "private_metadata", "unsafe_metadata"}`, each optional.
    pub fn user_metadata(
        &mut self,
        id: &str,
        body: Value,
        merge: bool,
    ) -> Result<User, BackendError> {
        let Value::Object(mut body) = body else {
            return Err(BackendError::invalid(
                "request_body_invalid",
                "body",
                "the body must be a JSON object",
            ));
        };
        let public = metadata("public_metadata", body.remove("public_metadata"))?;
        let private = metadata("private_metadata", body.remove("private_metadata"))?;
        let unsafe_ = metadata("unsafe_metadata", body.remove("unsafe_metadata"))?;
        self.change_user(id, |user| {
            for (target, patch) in [
                (&mut user.public_metadata, public),
                (&mut user.private_metadata, private),
                (&mut user.unsafe_metadata, unsafe_),
            ] {
                match patch {
                    Some(patch) if merge => deep_merge(target, patch),
                    Some(replacement) => *target = replacement,
                    None => {}
                }
            }
            Ok(())
        })
    }

    pub fn delete_user(&mut self, id: &str) -> Result<Value, BackendError> {
        let index = self.user_index(id)?;
        let user = self.users.remove(index);
        let orgs: Vec<String> = self
            .memberships
            .iter()
            .filter(|m| m.user_id == id)
            .map(|m| m.organization_id.clone())
            .collect();
        self.memberships.retain(|m| m.user_id != id);
        for org in orgs {
            self.touch_organization(&org);
        }
        let mut deleted = json!({ "object": "user", "id": user.id, "deleted": true });
        if let Some(external_id) = &user.external_id {
            deleted["external_id"] = json!(external_id);
        }
        self.emit("user.deleted", deleted.clone());
        Ok(deleted)
    }

    pub fn users(&self) -> Vec<User> {
        self.users.clone()
    }

    fn matching_users(&self, q: &UserQuery) -> Vec<User> {
        let needle = q.query.as_deref().map(str::to_lowercase);
        self.users
            .iter()
            .filter(|u| q.user_ids.is_empty() || q.user_ids.contains(&u.id))
            .filter(|u| {
                q.email_addresses.is_empty()
                    || u.email_addresses.iter().any(|e| {
                        q.email_addresses
                            .iter()
                            .any(|wanted| wanted.eq_ignore_ascii_case(&e.email_address))
                    })
            })
            .filter(|u| {
                q.external_ids.is_empty()
                    || u.external_id
                        .as_ref()
                        .is_some_and(|x| q.external_ids.contains(x))
            })
            .filter(|u| {
                q.usernames.is_empty()
                    || u.username.as_ref().is_some_and(|x| q.usernames.contains(x))
            })
            .filter(|u| match &needle {
                None => true,
                Some(needle) => {
                    contains_folded(Some(&u.id), needle)
                        || contains_folded(u.first_name.as_deref(), needle)
                        || contains_folded(u.last_name.as_deref(), needle)
                        || contains_folded(u.username.as_deref(), needle)
                        || contains_folded(u.external_id.as_deref(), needle)
                        || u.email_addresses
                            .iter()
                            .any(|e| contains_folded(Some(&e.email_address), needle))
                        || {
                            let full = format!(
                                "{} {}",
                                u.first_name.as_deref().unwrap_or_default(),
                                u.last_name.as_deref().unwrap_or_default()
                            );
                            contains_folded(Some(&full), needle)
                        }
                }
            })
            .cloned()
            .collect()
    }

    pub fn list_users(&self, q: &UserQuery) -> Vec<User> {
        let mut users = self.matching_users(q);
        let order = q.order_by.clone().unwrap_or_else(OrderBy::newest_first);
        users.sort_by(|a, b| {
            let ordering = match order.field.as_str() {
                "updated_at" => a.updated_at.cmp(&b.updated_at),
                "email_address" => a.primary_email().cmp(&b.primary_email()),
                "first_name" => a.first_name.cmp(&b.first_name),
                "last_name" => a.last_name.cmp(&b.last_name),
                "username" => a.username.cmp(&b.username),
                "last_sign_in_at" => a.last_sign_in_at.cmp(&b.last_sign_in_at),
                _ => a.created_at.cmp(&b.created_at),
            }
            .then_with(|| a.id.cmp(&b.id));
            if order.descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
        in_page(users, q.offset, q.limit)
    }

    pub fn count_users(&self, q: &UserQuery) -> usize {
        self.matching_users(q).len()
    }

    // ---- sessions ----

    fn session_index(&self, id: &str) -> Result<usize, BackendError> {
        self.sessions
            .iter()
            .position(|s| s.id == id)
            .ok_or_else(|| BackendError::not_found("session", id))
    }

    pub fn session(&self, id: &str) -> Result<Session, BackendError> {
        self.session_index(id).map(|i| self.sessions[i].clone())
    }

    pub fn sessions(&self) -> Vec<Session> {
        self.sessions.clone()
    }

    /// Session JSON plus `user` (the User JSON, or null once deleted), as in session events.
    fn session_event_data(&self, session: &Session) -> Value {
        let mut data = session.to_json();
        data["user"] = self
            .users
            .iter()
            .find(|u| u.id == session.user_id)
            .map_or(Value::Null, User::to_json);
        data
    }

    pub fn create_session(&mut self, user_id: &str) -> Result<Session, BackendError> {
        let index = self.user_index(user_id)?;
        let now = self.tick();
        // Signing in is not a change Clerk sends `user.updated` for, but it is one for
        // `updated_at` and `last_sign_in_at`.
        self.users[index].last_sign_in_at = Some(now);
        self.users[index].updated_at = now;
        let session = Session {
            id: ids::clerk_id("sess"),
            user_id: user_id.to_owned(),
            client_id: ids::clerk_id("client"),
            status: "active".to_owned(),
            last_active_at: now,
            last_active_organization_id: None,
            expire_at: now + SESSION_LIFETIME_MS,
            abandon_at: now + SESSION_ABANDON_MS,
            created_at: now,
            updated_at: now,
        };
        self.sessions.push(session.clone());
        let data = self.session_event_data(&session);
        self.emit("session.created", data);
        Ok(session)
    }

    /// Moves a session to `status` and emits `session.<status>`; a session already in that
    /// status is returned unchanged, without an event.
    pub fn set_session_status(&mut self, id: &str, status: &str) -> Result<Session, BackendError> {
        let index = self.session_index(id)?;
        if self.sessions[index].status == status {
            return Ok(self.sessions[index].clone());
        }
        let now = self.tick();
        let session = &mut self.sessions[index];
        session.status = status.to_owned();
        session.updated_at = now;
        let session = session.clone();
        let data = self.session_event_data(&session);
        self.emit(&format!("session.{status}"), data);
        Ok(session)
    }

    pub fn set_active_organization(
        &mut self,
        session_id: &str,
        organization_id: Option<String>,
    ) -> Result<Session, BackendError> {
        let index = self.session_index(session_id)?;
        let now = self.tick();
        let session = &mut self.sessions[index];
        session.last_active_organization_id = organization_id;
        session.last_active_at = now;
        session.updated_at = now;
        Ok(session.clone())
    }

    // ---- organizations ----

    fn organization_index(&self, id_or_slug: &str) -> Result<usize, BackendError> {
        self.organizations
            .iter()
            .position(|o| o.id == id_or_slug)
            .or_else(|| self.organizations.iter().position(|o| o.slug == id_or_slug))
            .ok_or_else(|| BackendError::not_found("organization", id_or_slug))
    }

    pub fn organization(&self, id_or_slug: &str) -> Result<Organization, BackendError> {
        self.organization_index(id_or_slug)
            .map(|i| self.organizations[i].clone())
    }

    fn check_slug_free(&self, slug: &str, except: Option<&str>) -> Result<(), BackendError> {
        if slug.is_empty() {
            return Err(BackendError::invalid(
                "form_param_missing",
                "slug",
                "slug must not be empty",
            ));
        }
        if self
            .organizations
            .iter()
            .any(|o| o.slug == slug && Some(o.id.as_str()) != except)
        {
            return Err(BackendError::invalid(
                "form_identifier_exists",
                "slug",
                "This slug is already taken. Please try another.",
            ));
        }
        Ok(())
    }

    pub fn create_organization(
        &mut self,
        new: NewOrganization,
    ) -> Result<Organization, BackendError> {
        if new.name.trim().is_empty() {
            return Err(BackendError::invalid(
                "form_param_missing",
                "name",
                "name must not be empty",
            ));
        }
        let slug = new.slug.unwrap_or_else(|| slugify(&new.name));
        self.check_slug_free(&slug, None)?;
        if let Some(creator) = &new.created_by {
            self.user_index(creator)?;
        }
        let public_metadata = metadata("public_metadata", new.public_metadata)?.unwrap_or_default();
        let private_metadata =
            metadata("private_metadata", new.private_metadata)?.unwrap_or_default();
        let now = self.tick();
        let organization = Organization {
            id: ids::clerk_id("org"),
            name: new.name,
            slug,
            image_url: "https://img.clerk.com/emulator-default-logo".to_owned(),
            public_metadata,
            private_metadata,
            created_by: new.created_by.clone(),
            members_count: 0,
            created_at: now,
            updated_at: now,
        };
        self.organizations.push(organization.clone());
        self.emit("organization.created", organization.to_json());
        match new.created_by {
            Some(creator) => {
                self.add_membership(&organization.id, &creator, "org:admin")?;
                self.organization(&organization.id)
            }
            None => Ok(organization),
        }
    }

    pub fn update_organization(
        &mut self,
        id_or_slug: &str,
        update: OrganizationUpdate,
    ) -> Result<Organization, BackendError> {
        let index = self.organization_index(id_or_slug)?;
        let id = self.organizations[index].id.clone();
        if let Some(slug) = &update.slug {
            self.check_slug_free(slug, Some(&id))?;
        }
        let public = metadata("public_metadata", update.public_metadata)?;
        let private = metadata("private_metadata", update.private_metadata)?;
        let now = self.tick();
        let org = &mut self.organizations[index];
        if let Some(name) = update.name {
            org.name = name;
        }
        if let Some(slug) = update.slug {
            org.slug = slug;
        }
        if let Some(image_url) = update.image_url {
            org.image_url = image_url;
        }
        if let Some(map) = public {
            org.public_metadata = map;
        }
        if let Some(map) = private {
            org.private_metadata = map;
        }
        org.updated_at = now;
        let org = org.clone();
        self.emit("organization.updated", org.to_json());
        Ok(org)
    }

    pub fn delete_organization(&mut self, id_or_slug: &str) -> Result<Value, BackendError> {
        let index = self.organization_index(id_or_slug)?;
        let org = self.organizations.remove(index);
        self.memberships.retain(|m| m.organization_id != org.id);
        let deleted = json!({
            "object": "organization",
            "id": org.id,
            "slug": org.slug,
            "deleted": true,
        });
        self.emit("organization.deleted", deleted.clone());
        Ok(deleted)
    }

    /// Recounts the members of an organization and bumps its `updated_at`.
    fn touch_organization(&mut self, id: &str) {
        let count = self
            .memberships
            .iter()
            .filter(|m| m.organization_id == id)
            .count();
        let now = self.tick();
        if let Some(org) = self.organizations.iter_mut().find(|o| o.id == id) {
            org.members_count = u64::try_from(count).unwrap_or(u64::MAX);
            org.updated_at = now;
        }
    }

    pub fn organizations(&self) -> Vec<Organization> {
        self.organizations.clone()
    }

    pub fn list_organizations(&self, q: &ListQuery) -> (Vec<Organization>, usize) {
        let needle = q.query.as_deref().map(str::to_lowercase);
        let mut orgs: Vec<Organization> = self
            .organizations
            .iter()
            .filter(|o| match &needle {
                None => true,
                Some(n) => {
                    contains_folded(Some(&o.name), n)
                        || contains_folded(Some(&o.slug), n)
                        || contains_folded(Some(&o.id), n)
                }
            })
            .cloned()
            .collect();
        let order = q.order_by.clone().unwrap_or_else(OrderBy::newest_first);
        orgs.sort_by(|a, b| {
            directed(
                &order,
                match order.field.as_str() {
                    "updated_at" => a.updated_at.cmp(&b.updated_at),
                    "name" => a.name.cmp(&b.name),
                    "members_count" => a.members_count.cmp(&b.members_count),
                    _ => a.created_at.cmp(&b.created_at),
                }
                .then_with(|| a.id.cmp(&b.id)),
            )
        });
        let total = orgs.len();
        (in_page(orgs, q.offset, q.limit), total)
    }

    // ---- memberships ----

    pub fn define_role(&mut self, role: &str, permissions: Vec<String>) {
        self.roles.insert(role.to_owned(), permissions);
    }

    fn membership_view(&self, m: &Membership) -> Option<OrganizationMembership> {
        let organization = self
            .organizations
            .iter()
            .find(|o| o.id == m.organization_id)?
            .clone();
        let user = self.users.iter().find(|u| u.id == m.user_id)?.clone();
        Some(OrganizationMembership {
            id: m.id.clone(),
            role: m.role.clone(),
            permissions: self.roles.get(&m.role).cloned().unwrap_or_default(),
            organization,
            user,
            public_metadata: m.public_metadata.clone(),
            private_metadata: m.private_metadata.clone(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }

    fn membership_index(&self, org_id: &str, user_id: &str) -> Result<usize, BackendError> {
        self.memberships
            .iter()
            .position(|m| m.organization_id == org_id && m.user_id == user_id)
            .ok_or_else(|| {
                BackendError::not_found("organization_membership", &format!("{org_id}/{user_id}"))
            })
    }

    fn view(&self, index: usize) -> Result<OrganizationMembership, BackendError> {
        let m = &self.memberships[index];
        self.membership_view(m)
            .ok_or_else(|| BackendError::not_found("organization_membership", &m.id))
    }

    pub fn membership(
        &self,
        org: &str,
        user_id: &str,
    ) -> Result<OrganizationMembership, BackendError> {
        let org_id = self.organization(org)?.id;
        self.view(self.membership_index(&org_id, user_id)?)
    }

    pub fn add_membership(
        &mut self,
        org: &str,
        user_id: &str,
        role: &str,
    ) -> Result<OrganizationMembership, BackendError> {
        let org_id = self.organization(org)?.id;
        self.user_index(user_id)?;
        if self.membership_index(&org_id, user_id).is_ok() {
            return Err(BackendError::invalid(
                "already_a_member_in_organization",
                "user_id",
                "The user is already a member of this organization.",
            ));
        }
        let now = self.tick();
        self.memberships.push(Membership {
            id: ids::clerk_id("orgmem"),
            organization_id: org_id.clone(),
            user_id: user_id.to_owned(),
            role: role.to_owned(),
            public_metadata: Map::new(),
            private_metadata: Map::new(),
            created_at: now,
            updated_at: now,
        });
        self.touch_organization(&org_id);
        let view = self.view(self.memberships.len() - 1)?;
        self.emit("organizationMembership.created", view.to_json());
        Ok(view)
    }

    pub fn update_membership(
        &mut self,
        org: &str,
        user_id: &str,
        role: &str,
    ) -> Result<OrganizationMembership, BackendError> {
        let org_id = self.organization(org)?.id;
        let index = self.membership_index(&org_id, user_id)?;
        let now = self.tick();
        self.memberships[index].role = role.to_owned();
        self.memberships[index].updated_at = now;
        let view = self.view(index)?;
        self.emit("organizationMembership.updated", view.to_json());
        Ok(view)
    }

    pub fn remove_membership(
        &mut self,
        org: &str,
        user_id: &str,
    ) -> Result<OrganizationMembership, BackendError> {
        let org_id = self.organization(org)?.id;
        let index = self.membership_index(&org_id, user_id)?;
        let mut view = self.view(index)?;
        self.memberships.remove(index);
        self.touch_organization(&org_id);
        view.organization = self.organization(&org_id)?;
        self.emit("organizationMembership.deleted", view.to_json());
        Ok(view)
    }

    pub fn memberships(&self, org: &str) -> Result<Vec<OrganizationMembership>, BackendError> {
        let org_id = self.organization(org)?.id;
        Ok(self
            .memberships
            .iter()
            .filter(|m| m.organization_id == org_id)
            .filter_map(|m| self.membership_view(m))
            .collect())
    }

    pub fn list_memberships(
        &self,
        org: &str,
        q: &ListQuery,
    ) -> Result<(Vec<OrganizationMembership>, usize), BackendError> {
        let mut list = self.memberships(org)?;
        let order = q.order_by.clone().unwrap_or_else(OrderBy::newest_first);
        list.sort_by(|a, b| {
            directed(
                &order,
                match order.field.as_str() {
                    "updated_at" => a.updated_at.cmp(&b.updated_at),
                    "role" => a.role.cmp(&b.role),
                    _ => a.created_at.cmp(&b.created_at),
                }
                .then_with(|| a.id.cmp(&b.id)),
            )
        });
        let total = list.len();
        Ok((in_page(list, q.offset, q.limit), total))
    }
}

fn directed(order: &OrderBy, ordering: Ordering) -> Ordering {
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
    fn deep_merge_merges_objects_and_removes_nulls() {
        let mut target = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1], "f": "x"})
            .as_object()
            .cloned()
            .unwrap();
        let patch =
            json!({"b": {"c": null, "g": {"h": null, "i": 4}}, "e": [2], "f": null, "j": 5});
        deep_merge(&mut target, patch.as_object().cloned().unwrap());
        assert_eq!(
            Value::Object(target),
            json!({"a": 1, "b": {"d": 3, "g": {"i": 4}}, "e": [2], "j": 5})
        );
    }

    #[test]
    fn slugs_and_emails() {
        assert_eq!(slugify("Acme Inc."), "acme-inc");
        assert_eq!(slugify("  Über  Co "), "ber-co");
        assert!(valid_email("ada@example.com"));
        assert!(!valid_email("ada"));
        assert!(!valid_email("@example.com"));
        assert!(!valid_email("ada@example"));
    }

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
