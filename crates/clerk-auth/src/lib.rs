#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod authz;
pub mod claims;
pub mod error;
pub mod jwks;
pub mod keys;
pub mod request;
pub mod revocation;
pub mod token;
pub mod verifier;

pub use authz::{Check, Reverification};
pub use claims::SessionClaims;
pub use error::{Reason, Rejection};
pub use verifier::{Verifier, VerifierBuilder};
