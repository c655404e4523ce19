//! Organization memberships and the permissions of roles.

use serde_json::{Map, Value};

use super::query::{directed, in_page, ListQuery, OrderBy};
use super::Store;
use crate::ids;
use crate::objects::{BackendError, OrganizationMembership};

/// The permissions of Clerk's two default roles.
pub(super) const ADMIN_PERMISSIONS: [&str; 6] = [
    "org:sys_profile:manage",
    "org:sys_profile:delete",
    "org:sys_memberships:read",
    "org:sys_memberships:manage",
    "org:sys_domains:read",
    "org:sys_domains:manage",
];
pub(super) const MEMBER_PERMISSIONS: [&str; 1] = ["org:sys_memberships:read"];

/// A membership as kept; the user and organization are joined in when it is read.
#[derive(Debug, Clone)]
pub(super) struct Membership {
    pub(super) id: String,
    pub(super) organization_id: String,
    pub(super) user_id: String,
    pub(super) role: String,
    pub(super) public_metadata: Map<String, Value>,
    pub(super) private_metadata: Map<String, Value>,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
}

impl Store {
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
