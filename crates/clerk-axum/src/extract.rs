//! The [`ClerkAuth`] extractor: the signed-in session of a request.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use clerk_auth::{Check, SessionClaims};

use crate::layer::Context;
use crate::rejection::{AuthError, ClerkRejection};

/// The signed-in session of a request: the verified claims of its Clerk session token.
///
/// Taking it as a handler argument protects the route: a request without a valid token is
/// answered 401 (503 if no signing key can be had) before the handler runs. As
/// `Option<ClerkAuth>`, a request without any token gets `None`, but a request with a bad
/// token is still refused: a bad token never becomes "anonymous".
///
/// It dereferences to [`SessionClaims`]: `user_id()`, `session_id()`, `org_id()`,
/// `org_role()`, `org_permissions()`, `has(&Check)`, `claim("email")`, …
///
/// ```no_run
/// use axum::Json;
/// use clerk_axum::ClerkAuth;
///
/// async fn protected(auth: ClerkAuth) -> Json<serde_json::Value> {
///     Json(serde_json::json!({ "user_id": auth.user_id(), "email": auth.claim("email") }))
/// }
///
/// async fn greeting(auth: Option<ClerkAuth>) -> String {
///     match auth {
///         Some(auth) => format!("hello {}", auth.user_id()),
///         None => "hello stranger".to_owned(),
///     }
/// }
/// ```
#[derive(Clone)]
pub struct ClerkAuth {
    claims: Arc<SessionClaims>,
    context: Context,
}

impl std::fmt::Debug for ClerkAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClerkAuth")
            .field("user_id", &self.claims.user_id())
            .field("session_id", &self.claims.session_id())
            .field("org_id", &self.claims.org_id())
            .finish_non_exhaustive()
    }
}

impl Deref for ClerkAuth {
    type Target = SessionClaims;

    fn deref(&self) -> &SessionClaims {
        &self.claims
    }
}

impl ClerkAuth {
    pub(crate) fn new(claims: Arc<SessionClaims>, context: Context) -> Self {
        ClerkAuth { claims, context }
    }

    /// The verified claims, shared.
    pub fn claims_arc(&self) -> &Arc<SessionClaims> {
        &self.claims
    }

    /// `Ok` when the session passes `check`; otherwise the 403 refusal, naming the first
    /// requirement that is not met ([`Check::first_unmet`]). For checks that depend on the
    /// request (the resource's owner, a setting read at run time):
    ///
    /// ```no_run
    /// use clerk_auth::Check;
    /// use clerk_axum::{ClerkAuth, ClerkRejection};
    ///
    /// async fn delete(auth: ClerkAuth) -> Result<&'static str, ClerkRejection> {
    ///     let needed = std::env::var("DELETE_PERMISSION").unwrap_or("org:notes:delete".into());
    ///     auth.require(&Check::permission(needed))?;
    ///     Ok("deleted")
    /// }
    /// ```
    pub fn require(&self, check: &Check) -> Result<(), ClerkRejection> {
        match check.first_unmet(&self.claims) {
            None => Ok(()),
            Some(unmet) => Err(self.context.reject(AuthError::Forbidden(unmet.into()))),
        }
    }
}

pub(crate) fn context(parts: &Parts) -> Result<Context, ClerkRejection> {
    parts.extensions.get::<Context>().cloned().ok_or_else(|| {
        tracing::error!("a Clerk extractor ran on a route without ClerkLayer");
        ClerkRejection::new(
            AuthError::MissingLayer,
            None,
            std::time::Duration::ZERO,
            crate::grpc::is_grpc(&parts.headers),
        )
    })
}

/// Verifies the request's token, if it has one, and keeps the session in the request.
async fn authenticate(parts: &mut Parts) -> Result<Option<ClerkAuth>, ClerkRejection> {
    if let Some(auth) = parts.extensions.get::<ClerkAuth>() {
        return Ok(Some(auth.clone()));
    }
    let context = context(parts)?;
    let verifier = &context.shared.verifier;
    // As Clerk's `authenticateRequest` with the default `acceptsToken`: a machine token is a
    // `token-type-mismatch`, not a malformed session token.
    let result = match verifier.find_token(&parts.headers) {
        Ok(Some(found)) => verifier.authenticate_session(&found.token).await,
        Ok(None) => return Ok(None),
        Err(rejection) => Err(rejection),
    };
    match result {
        Ok(claims) => {
            if let Some(observer) = &context.shared.observer {
                observer.accepted();
            }
            let auth = ClerkAuth { claims, context };
            parts.extensions.insert(auth.clone());
            Ok(Some(auth))
        }
        Err(rejection) => Err(context.reject(AuthError::from_rejection(rejection))),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClerkAuth {
    type Rejection = ClerkRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match authenticate(parts).await? {
            Some(auth) => Ok(auth),
            None => Err(context(parts)?.reject(AuthError::Unauthorized(
                clerk_auth::Rejection::SESSION_TOKEN_MISSING,
            ))),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for ClerkAuth {
    type Rejection = ClerkRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        authenticate(parts).await
    }
}
