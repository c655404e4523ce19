#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod client;
mod error;
mod organizations;
mod page;
mod sessions;
mod users;

pub use clerk_types::UrlError;
/// Clerk's objects, from `clerk-types` (the same types as `clerk-webhooks`' events carry):
/// webhook payloads and Backend API responses share Clerk's object shapes, so one tolerant
/// type serves both. Only `id` is required; a field of an unexpected type reads as absent,
/// and unknown fields are kept in `extra`, so a change on Clerk's side never makes an answer
/// unreadable.
pub use clerk_types::{
    DeletedObject, EmailAddress, Organization, OrganizationMembership, PublicUserData, Session,
    User,
};
pub use client::{
    Client, ClientBuilder, API_URL_ENV, BACKOFF_BASE, DEFAULT_API_URL, DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT, MAX_BACKOFF, MAX_RETRY_AFTER, SECRET_KEY_ENV,
};
pub use error::{ApiError, ConfigError, Error, Setting};
pub use organizations::{MembershipListParams, OrganizationListParams, Organizations};
pub use page::Page;
pub use sessions::Sessions;
pub use users::{MetadataUpdate, UserCreate, UserListParams, UserUpdate, Users};
