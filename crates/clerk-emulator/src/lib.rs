//! A local Clerk for tests and development.
//!
//! An independent implementation of the parts of Clerk a token verifier talks to, used to test
//! `clerk-auth` (which it does not depend on) and to develop against without a Clerk account:
//!
//! - [`SigningKey`]: real RSA key pairs with Clerk-like kids, their JWK and SPKI PEM forms;
//!   [`SigningKey::test_key`] and [`SigningKey::test_key_n`] are fixed keys for tests (their
//!   private keys are public), so that no test has to generate one.
//! - [`TokenBuilder`]: session tokens in Clerk's shapes (claims v1 and v2, organizations,
//!   actor, pending sessions, custom claims), every header field and claim overridable.
//! - [`Compact`]: raw JSON text in, any malformed token out (bad signatures, padding, the wrong
//!   alphabet, 2 or 4 segments, ...).
//! - [`Emulator`]: an instance (issuer, secret and publishable keys, key rotation), served over
//!   HTTP by [`EmulatorServer`] with request counters and switchable [`Fault`]s.
//! - A directory of users, sessions, organizations and memberships ([`objects`]), changed
//!   from Rust as the Clerk dashboard would or through a subset of the Backend API
//!   (`/v1/users`, `/v1/sessions`, `/v1/organizations`, in Clerk's JSON shapes and errors).
//! - Webhooks: every change emits Clerk's event, delivered Svix-style (signed, retried, same
//!   `svix-id` on retries) to the URL given to [`Emulator::set_webhook`], with a delivery log.
//! - Machine authentication ([`machines`]): API keys, machines with their secret keys, M2M
//!   tokens and OAuth access tokens, opaque or as JWTs signed with the instance's key, created
//!   from Rust ([`Emulator::create_api_key`], [`Emulator::create_machine`],
//!   [`Emulator::create_m2m_token`], [`Emulator::create_oauth_access_token`]) and verified
//!   over the routes Clerk's SDKs call, without `/v1`: `POST /api_keys/verify`,
//!   `POST /m2m_tokens/verify`, `POST /oauth_applications/access_tokens/verify` (plus
//!   `POST /api_keys`, `POST /m2m_tokens`, `GET /m2m_tokens` and the `…/{id}/revoke` routes).
//!   Each verify endpoint has its own [`Endpoint`] counter and fault.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use clerk_emulator::{Emulator, Fault, Organization, SigningKey};
//!
//! let server = Emulator::with_key(SigningKey::test_key()).serve("127.0.0.1:0").await?;
//! // A verifier configured with `server.jwks_url()` expects `iss` = `server.issuer()`.
//! let token = server
//!     .session_token()
//!     .user("user_2abc")
//!     .organization(Organization::new("org_1").role("org:admin").permission("org:posts:read"))
//!     .sign();
//! assert_eq!(server.jwks_requests(), 0);
//! server.set_fault(Fault::Status(500));
//! # let _ = token;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod bapi;
pub mod compact;
mod emulator;
mod fault;
mod http;
pub mod ids;
mod key;
mod machine_auth;
mod machine_bapi;
pub mod machines;
pub mod objects;
mod server;
mod store;
mod token;
mod webhooks;

pub use compact::Compact;
pub use emulator::Emulator;
pub use fault::{Endpoint, Fault};
pub use key::{Algorithm, KeyError, SigningKey, DEFAULT_KEY_BITS, MIN_KEY_BITS};
pub use machine_bapi::MACHINE_BODY_LIMIT;
pub use machines::TokenFormat;
pub use objects::{BackendError, NewOrganization, NewUser, OrganizationUpdate, UserUpdate};
pub use server::{EmulatorServer, BACKEND_JWKS_PATH, WELL_KNOWN_JWKS_PATH};
pub use token::{
    unix_now, ClaimsVersion, Organization, TokenBuilder, CAT_IGNORE, CAT_JWT_TEMPLATE, CAT_M2M,
    CAT_SESSION, DEFAULT_AZP, DEFAULT_ISSUER, DEFAULT_LIFETIME_SECS, DEFAULT_NBF_LEEWAY_SECS,
};
pub use webhooks::{
    webhook_signature, Delivery, DeliveryError, SignedDelivery, DEFAULT_DELIVERY_TIMEOUT,
    DEFAULT_RETRY_SCHEDULE,
};
