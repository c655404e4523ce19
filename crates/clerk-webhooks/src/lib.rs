#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod error;
mod event;
mod resources;
mod webhook;

pub use error::{ConfigError, WebhookError};
pub use event::{Event, EventData, MAX_JSON_DEPTH};
pub use resources::{
    DeletedObject, EmailAddress, Organization, OrganizationMembership, PublicUserData, Session,
    User,
};
pub use webhook::{
    Clock, SystemClock, Webhook, DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, MAX_ID_LEN,
    MAX_SIGNATURE_HEADER_LEN, SIGNING_SECRET_ENV,
};
