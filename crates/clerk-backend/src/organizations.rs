//! `/v1/organizations`.

use crate::client::{push, segment, Client};
use crate::error::Error;
use crate::page::Page;
use crate::{Organization, OrganizationMembership};

/// Paging and search of `GET /v1/organizations`. Unset fields are not sent, leaving Clerk's
/// defaults (10 per page, newest first).
///
/// ```
/// use clerk_backend::OrganizationListParams;
/// let params = OrganizationListParams { query: Some("acme".into()), ..Default::default() };
/// # let _ = params;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizationListParams {
    /// Page size, 1 to 500.
    pub limit: Option<u32>,
    /// Entries to skip.
    pub offset: Option<u32>,
    /// `-created_at` (default), `+created_at`, `name`, `members_count`, …
    pub order_by: Option<String>,
    /// Matches part of the name, slug or id.
    pub query: Option<String>,
}

impl OrganizationListParams {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        push(&mut pairs, "limit", self.limit);
        push(&mut pairs, "offset", self.offset);
        push(&mut pairs, "order_by", self.order_by.as_ref());
        push(&mut pairs, "query", self.query.as_ref());
        pairs
    }
}

/// Paging of `GET /v1/organizations/{id}/memberships`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipListParams {
    /// Page size, 1 to 500.
    pub limit: Option<u32>,
    /// Entries to skip.
    pub offset: Option<u32>,
    /// `-created_at` (default), `+created_at`, `role`, …
    pub order_by: Option<String>,
}

impl MembershipListParams {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        push(&mut pairs, "limit", self.limit);
        push(&mut pairs, "offset", self.offset);
        push(&mut pairs, "order_by", self.order_by.as_ref());
        pairs
    }
}

/// Organization endpoints; from [`Client::organizations`].
#[derive(Debug, Clone, Copy)]
pub struct Organizations<'a> {
    client: &'a Client,
}

impl Client {
    /// Organizations: `/v1/organizations`.
    pub fn organizations(&self) -> Organizations<'_> {
        Organizations { client: self }
    }
}

impl Organizations<'_> {
    /// `GET /v1/organizations/{id_or_slug}`.
    ///
    /// # Errors
    /// See [`Error`]; 404 for an unknown organization.
    pub async fn get(&self, id_or_slug: &str) -> Result<Organization, Error> {
        self.client
            .get(&["organizations", segment(id_or_slug)?], &[])
            .await
    }

    /// `GET /v1/organizations`: one page, with the total count.
    ///
    /// # Errors
    /// See [`Error`]; 422 for parameters out of range.
    pub async fn list(&self, params: &OrganizationListParams) -> Result<Page<Organization>, Error> {
        self.client.get(&["organizations"], &params.query()).await
    }

    /// `GET /v1/organizations/{id}/memberships`: one page of members, with the total count.
    ///
    /// # Errors
    /// See [`Error`]; 404 for an unknown organization.
    pub async fn memberships(
        &self,
        organization_id: &str,
        params: &MembershipListParams,
    ) -> Result<Page<OrganizationMembership>, Error> {
        self.client
            .get(
                &["organizations", segment(organization_id)?, "memberships"],
                &params.query(),
            )
            .await
    }
}
