//! Organizations: creation, changes, deletion, member counts and the organization list.

use serde_json::{json, Value};

use super::query::{contains_folded, directed, in_page, ListQuery, OrderBy};
use super::{metadata, Store};
use crate::ids;
use crate::objects::{BackendError, NewOrganization, Organization, OrganizationUpdate};

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

impl Store {
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
    pub(super) fn touch_organization(&mut self, id: &str) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        assert_eq!(slugify("Acme Inc."), "acme-inc");
        assert_eq!(slugify("  Über  Co "), "ber-co");
    }
}
