//! The emulator's endpoint classes and the ways each can be made to misbehave.

use std::time::Duration;

/// A class of the emulator's endpoints, each with its own fault and request counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /.well-known/jwks.json`: public, like Clerk's Frontend API.
    WellKnownJwks,
    /// `GET /v1/jwks`: requires `Authorization: Bearer <secret key>`, like Clerk's Backend API.
    BackendJwks,
    /// Every other Backend API route (`/v1/users`, `/v1/sessions`, `/v1/organizations`, …,
    /// and creating, revoking and listing API keys and M2M tokens), behind the secret key as
    /// well.
    BackendApi,
    /// `POST /api_keys/verify`, behind the secret key.
    ApiKeyVerify,
    /// `POST /m2m_tokens/verify`, behind the secret key or a machine secret key.
    M2mVerify,
    /// `POST /oauth_applications/access_tokens/verify`, behind the secret key.
    OAuthVerify,
}

impl Endpoint {
    /// Every endpoint class.
    pub const ALL: [Endpoint; 6] = [
        Endpoint::WellKnownJwks,
        Endpoint::BackendJwks,
        Endpoint::BackendApi,
        Endpoint::ApiKeyVerify,
        Endpoint::M2mVerify,
        Endpoint::OAuthVerify,
    ];

    /// The two JWKS endpoints.
    pub const JWKS: [Endpoint; 2] = [Endpoint::WellKnownJwks, Endpoint::BackendJwks];

    /// The three machine-token verify endpoints.
    pub const MACHINE_VERIFY: [Endpoint; 3] = [
        Endpoint::ApiKeyVerify,
        Endpoint::M2mVerify,
        Endpoint::OAuthVerify,
    ];

    pub(crate) fn index(self) -> usize {
        match self {
            Self::WellKnownJwks => 0,
            Self::BackendJwks => 1,
            Self::BackendApi => 2,
            Self::ApiKeyVerify => 3,
            Self::M2mVerify => 4,
            Self::OAuthVerify => 5,
        }
    }
}

/// How an endpoint misbehaves. Switch it at runtime with [`EmulatorServer::set_fault`](crate::EmulatorServer::set_fault) (the
/// JWKS endpoints), [`EmulatorServer::set_backend_fault`](crate::EmulatorServer::set_backend_fault) (the rest of the Backend API),
/// [`EmulatorServer::set_machine_verify_fault`](crate::EmulatorServer::set_machine_verify_fault) (the three machine-token verify
/// endpoints) or [`EmulatorServer::set_endpoint_fault`](crate::EmulatorServer::set_endpoint_fault); faulted requests still count
/// as requests.
///
/// A fault replaces the endpoint's normal answer, including the secret-key check of the
/// Backend API, except [`Fault::Delay`], which only delays it, and [`Fault::FailFirst`] once
/// its failures are used up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fault {
    /// Answer normally.
    #[default]
    None,
    /// Answer with this HTTP status and a Clerk-shaped error body (`429` also gets
    /// `Retry-After: 1`). An invalid status code gives 500.
    Status(u16),
    /// Answer the first `n` requests (counted from when the fault is set) as
    /// [`Fault::Status`] with this status, then normally: a transient outage.
    FailFirst(u32, u16),
    /// Accept the request and never answer (until the server shuts down, when it gives 503).
    Hang,
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// `200` with a body that is not JSON.
    Garbage,
    /// `200` with `{"keys":[]}`.
    EmptyKeys,
    /// `200` with a JSON body of at least this many bytes: the real keys plus a long filler
    /// string. Exactly this size when it exceeds the real JWKS.
    Oversized(usize),
    /// `200` with exactly this body, as `application/json` (duplicate kids, weak keys,
    /// `use: enc`, ...).
    Body(String),
}
