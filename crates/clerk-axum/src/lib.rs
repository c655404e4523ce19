#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod caller;
pub mod extract;
pub mod grpc;
pub mod guard;
pub mod layer;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod rejection;

pub use caller::{
    unmet_check, unmet_scope, AcceptedTokens, AnyToken, ClerkCaller, FromLayer, RequireScope, Scope,
};
pub use extract::ClerkAuth;
#[cfg(feature = "tonic")]
pub use grpc::ClerkRequestExt;
pub use grpc::{GrpcAuthLayer, GrpcPolicy, GrpcRule};
pub use guard::{
    Lax, Moderate, Require, RequireFeature, RequirePermission, RequirePlan, RequireReverification,
    RequireRole, Requirement, Strict, StrictMfa,
};
pub use layer::{ClerkLayer, RequireAuthLayer};
pub use rejection::{
    AuthError, AuthErrorBody, AuthObserver, ClerkRejection, Forbidden, Refused, REASON_METADATA,
};

pub use clerk_auth::{
    Accepts, Caller, Check, MachineAuth, Reverification, SessionClaims, TokenType, Unmet, Verifier,
};
