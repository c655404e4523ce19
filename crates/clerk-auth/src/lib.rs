#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod authz;
mod claims;
mod error;
mod instance;
mod json;
mod jwks;
mod machine;
#[cfg(feature = "prometheus")]
mod metrics;
pub mod request;
mod revocation;
mod rsa;
mod token;
mod verifier;

pub use authz::{Check, FactorLevel, ParseReverificationError, Reverification, Unmet};
pub use claims::{
    Actor, Entitlement, EntitlementScope, FactorVerificationAge, SessionClaims, SessionStatus,
};
pub use clerk_types::{Clock, FixedClock, PublishableKey, PublishableKeyError, SystemClock};
pub use error::{Reason, Rejection};
pub use instance::KeySource;
pub use json::MAX_JSON_DEPTH;
pub use jwks::{JwksCache, JwksOptions, JwksStats, JwksStatus};
pub use machine::{
    Accepts, Caller, MachineAuth, MachineOptions, MachineStats, TokenType,
    DEFAULT_MACHINE_TOKEN_CACHE_CAPACITY, DEFAULT_MACHINE_TOKEN_CACHE_TTL,
    DEFAULT_MACHINE_TOKEN_NEGATIVE_TTL, DEFAULT_MACHINE_VERIFY_BURST, DEFAULT_MACHINE_VERIFY_RATE,
};
#[cfg(feature = "prometheus")]
pub use metrics::VerifierMetrics;
pub use request::{FoundToken, TokenCarrier, SESSION_COOKIE};
pub use revocation::{MAX_REVOCATIONS, REVOCATION_TTL};
pub use rsa::{KeyError, RsaPublicKey, MAX_RSA_BITS, MIN_RSA_BITS};
pub use token::{MAX_KID_LEN, MAX_TOKEN_LEN};
pub use verifier::{
    ConfigError, Verifier, VerifierBuilder, VerifierStats, DEFAULT_API_URL, DEFAULT_CLOCK_SKEW,
    DEFAULT_TOKEN_CACHE_CAPACITY, MAX_TOKEN_CACHE_CAPACITY,
};

/// Internals that the fuzz targets, benchmarks and conformance tests drive directly. Not part
/// of the public API: they may change in any release.
#[doc(hidden)]
pub mod internals {
    pub use crate::json::parse_object;
    pub use crate::jwks::document::{parse_jwk, parse_jwks, KeySet, MAX_JWKS_KEYS};
    pub use crate::machine::parse_verify_answer;
    pub use crate::token::{
        decode, decode_as, machine_jwt_kind, Decoded, Header, HeaderRules, CATEGORY_JWT_TEMPLATE,
        CATEGORY_M2M,
    };
}
