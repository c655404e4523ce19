#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod error;
mod event;
mod webhook;

/// The clock of the timestamp check, from `clerk-types`: [`SystemClock`] by default,
/// [`FixedClock`] in tests (see [`Webhook::with_clock`]).
pub use clerk_types::{Clock, FixedClock, SystemClock};
/// Clerk's objects, from `clerk-types` (shared with `clerk-backend`): only `id` is required, a
/// field of an unexpected type reads as absent, and unknown fields are kept in `extra`.
pub use clerk_types::{
    DeletedObject, EmailAddress, Organization, OrganizationMembership, PublicUserData, Session,
    User,
};
pub use error::{ConfigError, WebhookError};
pub use event::{Event, EventData, MAX_JSON_DEPTH};
pub use webhook::{
    Webhook, DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, MAX_ID_LEN, MAX_SIGNATURE_HEADER_LEN,
    SIGNING_SECRET_ENV,
};
