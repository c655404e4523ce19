//! Why a token was refused: one enum of reasons, spelled as Clerk spells them.
//!
//! Every refusal is a [`Rejection`]: a [`Reason`] (a stable, machine-readable string such as
//! `token-expired`) and a message meant for a developer reading logs. Messages never contain
//! the token, a signature or a secret.

use std::borrow::Cow;
use std::fmt;

/// A machine-readable reason for a refusal.
///
/// The first group is Clerk's own `TokenVerificationErrorReason` (clerk-spec §2.1), with the
/// same strings, so logs and clients read the same as with Clerk's SDKs. The second group is
/// this library's own, where it is stricter than Clerk or reports a state Clerk has no word for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// `token-expired`: `exp` is at or before now minus the clock skew.
    TokenExpired,
    /// `token-invalid`: not a compact JWS, bad encoding or JSON, a wrong `typ`, a `crit` header,
    /// an M2M token where a session token was expected, or an oversized token.
    TokenInvalid,
    /// `token-invalid-algorithm`: `alg` is not `RS256`.
    TokenInvalidAlgorithm,
    /// `token-invalid-authorized-parties`: `azp` is missing or not one of the authorized parties.
    TokenInvalidAuthorizedParties,
    /// `token-invalid-issuer`: `iss` is not the expected issuer.
    TokenInvalidIssuer,
    /// `token-invalid-signature`: the RS256 signature does not verify with the key the `kid` names.
    TokenInvalidSignature,
    /// `token-not-active-yet`: `nbf` is after now plus the clock skew.
    TokenNotActiveYet,
    /// `token-iat-in-the-future`: `iat` is after now plus the clock skew.
    TokenIatInTheFuture,
    /// `token-verification-failed`: a missing or malformed `sub`, a wrong audience, or a time
    /// claim of the wrong type.
    TokenVerificationFailed,
    /// `jwk-kid-mismatch`: no key in the JWKS has the token's `kid`.
    JwkKidMismatch,
    /// `secret-key-invalid`: Clerk's Backend API refused the secret key while fetching the JWKS.
    SecretKeyInvalid,
    /// `token-type-mismatch`: a token of another kind (a JWT-template token without `sid`, an
    /// OAuth or M2M token) presented as a session token.
    TokenTypeMismatch,
    /// `session-token-missing`: the request carried no session token at all.
    SessionTokenMissing,

    /// `session-pending`: a valid token whose session is `pending` (the user still has a task,
    /// such as choosing an organization). Clerk treats it as signed out by default.
    SessionPending,
    /// `keys-unavailable`: no verification key could be had (the JWKS endpoint is down and no
    /// keys are cached, or the cached keys are older than the allowed staleness). Not the
    /// client's fault: an HTTP layer answers 503, not 401.
    KeysUnavailable,
    /// `session-revoked`: the session (or its user) was revoked or deleted; its token is refused
    /// even though it has not expired.
    SessionRevoked,
    /// `multiple-authorization-headers`: the request has more than one `Authorization` header;
    /// none is picked (a proxy in front may read another one than this library would).
    MultipleAuthorizationHeaders,
    /// `unexpected-error`: Clerk's word for a machine token the Backend API could not verify
    /// (unreachable, too slow, a 5xx or 429, an answer that cannot be read). Not the client's
    /// fault: an HTTP layer answers 503.
    UnexpectedError,
    /// `machine-token-verification-throttled`: an opaque machine token was not in the cache
    /// and the budget of Backend API calls was spent (a flood of unknown tokens). An HTTP
    /// layer answers 503 with `Retry-After`.
    MachineTokenVerificationThrottled,
    /// `machine-tokens-disabled`: an opaque machine token, and no secret key to verify it with
    /// Clerk's Backend API.
    MachineTokensDisabled,
    /// `token-missing`: a route that takes only machine tokens, and no `Authorization` header
    /// (machine tokens are never read from cookies).
    TokenMissing,
}

impl Reason {
    /// The reason as Clerk spells it, e.g. `token-expired`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::TokenExpired => "token-expired",
            Reason::TokenInvalid => "token-invalid",
            Reason::TokenInvalidAlgorithm => "token-invalid-algorithm",
            Reason::TokenInvalidAuthorizedParties => "token-invalid-authorized-parties",
            Reason::TokenInvalidIssuer => "token-invalid-issuer",
            Reason::TokenInvalidSignature => "token-invalid-signature",
            Reason::TokenNotActiveYet => "token-not-active-yet",
            Reason::TokenIatInTheFuture => "token-iat-in-the-future",
            Reason::TokenVerificationFailed => "token-verification-failed",
            Reason::JwkKidMismatch => "jwk-kid-mismatch",
            Reason::SecretKeyInvalid => "secret-key-invalid",
            Reason::TokenTypeMismatch => "token-type-mismatch",
            Reason::SessionTokenMissing => "session-token-missing",
            Reason::SessionPending => "session-pending",
            Reason::KeysUnavailable => "keys-unavailable",
            Reason::SessionRevoked => "session-revoked",
            Reason::MultipleAuthorizationHeaders => "multiple-authorization-headers",
            Reason::UnexpectedError => "unexpected-error",
            Reason::MachineTokenVerificationThrottled => "machine-token-verification-throttled",
            Reason::MachineTokensDisabled => "machine-tokens-disabled",
            Reason::TokenMissing => "token-missing",
        }
    }

    /// Every reason, in declaration order (for metrics labels and documentation).
    pub const ALL: [Reason; 21] = [
        Reason::TokenExpired,
        Reason::TokenInvalid,
        Reason::TokenInvalidAlgorithm,
        Reason::TokenInvalidAuthorizedParties,
        Reason::TokenInvalidIssuer,
        Reason::TokenInvalidSignature,
        Reason::TokenNotActiveYet,
        Reason::TokenIatInTheFuture,
        Reason::TokenVerificationFailed,
        Reason::JwkKidMismatch,
        Reason::SecretKeyInvalid,
        Reason::TokenTypeMismatch,
        Reason::SessionTokenMissing,
        Reason::SessionPending,
        Reason::KeysUnavailable,
        Reason::SessionRevoked,
        Reason::MultipleAuthorizationHeaders,
        Reason::UnexpectedError,
        Reason::MachineTokenVerificationThrottled,
        Reason::MachineTokensDisabled,
        Reason::TokenMissing,
    ];

    /// True when the refusal is the server's problem rather than the client's: no key could
    /// be had, or Clerk's Backend API could not verify a machine token. An HTTP layer should
    /// answer 503 with `Retry-After`, never 401.
    pub const fn is_unavailable(self) -> bool {
        matches!(
            self,
            Reason::KeysUnavailable
                | Reason::SecretKeyInvalid
                | Reason::UnexpectedError
                | Reason::MachineTokenVerificationThrottled
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused token: the [`Reason`] and a message for the developer.
///
/// The message explains what was wrong (and, where it helps, what to configure) but never
/// contains the token, its signature or any secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    reason: Reason,
    message: Cow<'static, str>,
}

impl Rejection {
    /// A rejection with a fixed message.
    pub const fn new(reason: Reason, message: &'static str) -> Self {
        Rejection {
            reason,
            message: Cow::Borrowed(message),
        }
    }

    /// A rejection with a formatted message.
    pub fn with_message(reason: Reason, message: impl Into<String>) -> Self {
        Rejection {
            reason,
            message: Cow::Owned(message.into()),
        }
    }

    /// The machine-readable reason.
    pub const fn reason(&self) -> Reason {
        self.reason
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl Rejection {
    /// The refusal of a request that carries no session token at all.
    pub const SESSION_TOKEN_MISSING: Rejection = Rejection::new(
        Reason::SessionTokenMissing,
        "No session token: send it as \"Authorization: Bearer <token>\" or in the __session cookie.",
    );

    /// The refusal of a request with more than one `Authorization` header.
    pub const MULTIPLE_AUTHORIZATION_HEADERS: Rejection = Rejection::new(
        Reason::MultipleAuthorizationHeaders,
        "The request has more than one Authorization header: send exactly one.",
    );
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (reason={})", self.message, self.reason)
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_strings_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for reason in Reason::ALL {
            let s = reason.as_str();
            assert!(seen.insert(s), "duplicate reason string {s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
        }
    }

    #[test]
    fn display_shows_message_and_reason() {
        let r = Rejection::new(Reason::TokenExpired, "JWT is expired.");
        assert_eq!(r.to_string(), "JWT is expired. (reason=token-expired)");
    }

    #[test]
    fn only_key_and_backend_api_failures_are_unavailable() {
        let unavailable: Vec<_> = Reason::ALL
            .into_iter()
            .filter(|r| r.is_unavailable())
            .collect();
        assert_eq!(
            unavailable,
            [
                Reason::SecretKeyInvalid,
                Reason::KeysUnavailable,
                Reason::UnexpectedError,
                Reason::MachineTokenVerificationThrottled
            ]
        );
    }
}
