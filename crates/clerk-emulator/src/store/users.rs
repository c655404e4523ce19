//! Users: creation, changes, metadata, deletion and the user list.

use serde_json::{json, Value};

use super::query::{contains_folded, in_page, OrderBy, UserQuery};
use super::{deep_merge, metadata, Store};
use crate::ids;
use crate::objects::{BackendError, EmailAddress, NewUser, User, UserUpdate};

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
    pub(super) fn user_index(&self, id: &str) -> Result<usize, BackendError> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(valid_email("ada@example.com"));
        assert!(!valid_email("ada"));
        assert!(!valid_email("@example.com"));
        assert!(!valid_email("ada@example"));
    }
}
