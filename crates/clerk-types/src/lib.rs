#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod clock;
mod fetch_url;
mod objects;
mod publishable_key;

pub use clock::{Clock, FixedClock, SystemClock};
pub use fetch_url::{check_fetch_url, UrlError};
pub use objects::{
    DeletedObject, EmailAddress, Organization, OrganizationMembership, PublicUserData, Session,
    User,
};
pub use publishable_key::{PublishableKey, PublishableKeyError};

/// The `Clerk-API-Version` header sent to Clerk's Backend API: the version `@clerk/backend`
/// 3.25.0 sends, whose object shapes the types here follow.
pub const CLERK_API_VERSION: &str = "2026-05-12";
