//! [`ClerkCaller`]: whoever is calling, a signed-in user or a machine credential (an API key,
//! an M2M token, an OAuth access token), as Clerk's `authenticateRequest({ acceptsToken })`.
//!
//! The types a route accepts are declared per route, with a marker made by
//! [`crate::accepts!`], or for a whole router with [`ClerkLayer::accepts`](crate::ClerkLayer::accepts)
//! (taken by `ClerkCaller` with no parameter). [`ClerkAuth`](crate::ClerkAuth) stays the
//! session-only extractor.
//!
//! ```no_run
//! use clerk_axum::{Accepts, ClerkCaller, RequireScope, TokenType};
//!
//! clerk_axum::accepts!(pub Scripts = Accepts::SESSION.or(TokenType::ApiKey));
//! clerk_axum::scope!(pub ReadReports = "reports:read");
//!
//! async fn report(caller: ClerkCaller<Scripts>) -> String {
//!     format!("{} via {}", caller.subject(), caller.token_type())
//! }
//!
//! async fn export(RequireScope(caller, ..): RequireScope<ReadReports, Scripts>) -> String {
//!     format!("export for {}", caller.subject())
//! }
//! ```

use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use clerk_auth::{Accepts, Caller, Check};

use crate::extract::context;
use crate::layer::Context;
use crate::rejection::{AuthError, ClerkRejection, Forbidden};

/// The token types a route accepts: a marker declared with [`crate::accepts!`], or
/// [`FromLayer`] for the router's setting.
pub trait AcceptedTokens: Send + Sync + 'static {
    /// The accepted types; `None` to take the [`ClerkLayer`](crate::ClerkLayer)'s.
    const ACCEPTS: Option<Accepts>;
}

/// The types set on the router with [`ClerkLayer::accepts`](crate::ClerkLayer::accepts)
/// (the session token alone unless set).
#[derive(Debug, Clone, Copy)]
pub struct FromLayer;

impl AcceptedTokens for FromLayer {
    const ACCEPTS: Option<Accepts> = None;
}

/// Every type of token (Clerk's `"any"`).
#[derive(Debug, Clone, Copy)]
pub struct AnyToken;

impl AcceptedTokens for AnyToken {
    const ACCEPTS: Option<Accepts> = Some(Accepts::ANY);
}

/// Declares a marker of accepted token types for [`ClerkCaller`] and [`RequireScope`]:
/// `clerk_axum::accepts!(pub Scripts = Accepts::SESSION.or(TokenType::ApiKey));`
#[macro_export]
macro_rules! accepts {
    ($(#[$doc:meta])* $vis:vis $name:ident = $accepts:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::caller::AcceptedTokens for $name {
            const ACCEPTS: ::std::option::Option<$crate::Accepts> =
                ::std::option::Option::Some($accepts);
        }
    };
}

/// The verified caller of a request, of one of the types `A` accepts. A request without a
/// valid token of those types is answered 401 (`token-type-mismatch` for another type,
/// Clerk's reasons otherwise), 503 when the keys or Clerk's Backend API cannot be had.
///
/// It dereferences to [`Caller`]: `session()`, `machine()`, `token_type()`.
pub struct ClerkCaller<A: AcceptedTokens = FromLayer> {
    caller: Caller,
    context: Context,
    marker: PhantomData<A>,
}

impl<A: AcceptedTokens> Clone for ClerkCaller<A> {
    fn clone(&self) -> Self {
        ClerkCaller {
            caller: self.caller.clone(),
            context: self.context.clone(),
            marker: PhantomData,
        }
    }
}

impl<A: AcceptedTokens> std::fmt::Debug for ClerkCaller<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClerkCaller")
            .field("token_type", &self.caller.token_type())
            .field("subject", &self.subject())
            .finish()
    }
}

impl<A: AcceptedTokens> Deref for ClerkCaller<A> {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl<A: AcceptedTokens> ClerkCaller<A> {
    pub(crate) fn new(caller: Caller, context: Context) -> Self {
        ClerkCaller {
            caller,
            context,
            marker: PhantomData,
        }
    }

    /// Who the call acts for: the session's user, or the machine credential's subject
    /// (a user, an organization or a machine).
    pub fn subject(&self) -> &str {
        match &self.caller {
            Caller::Session(claims) => claims.user_id(),
            Caller::Machine(machine) => machine.subject(),
        }
    }

    /// The caller, owned.
    pub fn into_inner(self) -> Caller {
        self.caller
    }

    /// `Ok` when a session passes `check`; otherwise the 403 naming the first requirement not
    /// met. A machine credential never passes (as Clerk's `has()`, which is always false for
    /// machine tokens): 403 `session-required`.
    pub fn require(&self, check: &Check) -> Result<(), ClerkRejection> {
        match unmet_check(&self.caller, check) {
            None => Ok(()),
            Some(forbidden) => Err(self.context.reject(AuthError::Forbidden(forbidden))),
        }
    }

    /// A 403 of the application's own (`forbidden.reason()`), reported like the library's.
    pub fn refuse(&self, forbidden: Forbidden) -> ClerkRejection {
        self.context.reject(AuthError::Forbidden(forbidden))
    }

    /// `Ok` when a machine credential holds `scope`, 403 `missing-scope` when it does not;
    /// a session has no scopes and passes (see [`RequireScope`]).
    pub fn require_scope(&self, scope: &str) -> Result<(), ClerkRejection> {
        match unmet_scope(&self.caller, scope) {
            None => Ok(()),
            Some(forbidden) => Err(self.context.reject(AuthError::Forbidden(forbidden))),
        }
    }
}

/// The refusal of `caller` under `check`, if it does not pass: the first requirement a
/// session does not meet; for a machine credential, which never passes (as Clerk's `has()`,
/// always false for machine tokens), `session-required`. The rule of
/// [`ClerkCaller::require`], for services that decide outside an extractor (a forward-auth
/// gateway).
pub fn unmet_check(caller: &Caller, check: &Check) -> Option<Forbidden> {
    match caller {
        Caller::Session(claims) => check.first_unmet(claims).map(Forbidden::from),
        Caller::Machine(_) => Some(session_required()),
    }
}

/// The 403 of a machine credential where a session is needed.
pub(crate) fn session_required() -> Forbidden {
    Forbidden::new(
        "session-required",
        "This needs a signed-in user's session (roles and permissions): machine credentials \
         have none.",
    )
}

/// The refusal of `caller` for `scope`, if it does not hold it: `missing-scope` for a machine
/// credential without it; a session has no scopes and passes. The rule of
/// [`ClerkCaller::require_scope`].
pub fn unmet_scope(caller: &Caller, scope: &str) -> Option<Forbidden> {
    match caller {
        Caller::Machine(machine) if !machine.has_scope(scope) => Some(missing_scope(scope)),
        _ => None,
    }
}

/// The caller verified for this request with `accepts`, kept so that several extractors
/// verify once.
#[derive(Clone)]
pub(crate) struct Verified {
    pub(crate) accepts: Accepts,
    pub(crate) caller: Caller,
}

impl<S: Send + Sync, A: AcceptedTokens> FromRequestParts<S> for ClerkCaller<A> {
    type Rejection = ClerkRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let context = context(parts)?;
        let accepts = A::ACCEPTS.unwrap_or(context.shared.accepts);
        if let Some(verified) = parts.extensions.get::<Verified>() {
            if verified.accepts == accepts {
                return Ok(ClerkCaller {
                    caller: verified.caller.clone(),
                    context,
                    marker: PhantomData,
                });
            }
        }
        let verifier = &context.shared.verifier;
        match verifier.authenticate_request(&parts.headers, accepts).await {
            Ok(caller) => {
                if let Some(observer) = &context.shared.observer {
                    observer.accepted();
                }
                parts.extensions.insert(Verified {
                    accepts,
                    caller: caller.clone(),
                });
                Ok(ClerkCaller {
                    caller,
                    context,
                    marker: PhantomData,
                })
            }
            Err(rejection) => Err(context.reject(AuthError::from_rejection(rejection))),
        }
    }
}

/// A scope name, e.g. `notes:read`. Declare one with [`crate::scope!`].
pub trait Scope: Send + Sync + 'static {
    /// The scope.
    const NAME: &'static str;
}

/// Declares a scope marker for [`RequireScope`]: `clerk_axum::scope!(pub NotesRead = "notes:read");`
#[macro_export]
macro_rules! scope {
    ($(#[$doc:meta])* $vis:vis $name:ident = $value:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::caller::Scope for $name {
            const NAME: &'static str = $value;
        }
    };
}

/// A caller of the types `A` accepts whose machine credential holds the scope `T` (403
/// `missing-scope` otherwise).
///
/// Scopes are granted to machine credentials only: a session token has none, and passes this
/// guard unchanged, to be judged by the session's own rules (roles, permissions: see
/// [`crate::Require`] and [`crate::ClerkAuth::require`]). Accept only machine types in `A` to
/// require the scope of every caller.
pub struct RequireScope<T: Scope, A: AcceptedTokens = FromLayer>(
    pub ClerkCaller<A>,
    pub PhantomData<T>,
);

impl<T: Scope, A: AcceptedTokens> std::fmt::Debug for RequireScope<T, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RequireScope").field(&self.0).finish()
    }
}

impl<T: Scope, A: AcceptedTokens> Deref for RequireScope<T, A> {
    type Target = ClerkCaller<A>;

    fn deref(&self) -> &ClerkCaller<A> {
        &self.0
    }
}

/// The 403 of a machine credential without `scope`.
fn missing_scope(scope: &str) -> Forbidden {
    Forbidden::new(
        "missing-scope",
        format!("This credential was not granted the scope {scope:?}."),
    )
}

impl<S: Send + Sync, T: Scope, A: AcceptedTokens> FromRequestParts<S> for RequireScope<T, A> {
    type Rejection = ClerkRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = ClerkCaller::<A>::from_request_parts(parts, state).await?;
        caller.require_scope(T::NAME)?;
        Ok(RequireScope(caller, PhantomData))
    }
}
