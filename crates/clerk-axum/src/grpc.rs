//! gRPC: Clerk authentication for tonic services, or any gRPC server built on tower.
//!
//! [`GrpcAuthLayer`] (made by [`ClerkLayer::grpc`](crate::ClerkLayer::grpc)) protects every
//! method of the services below it with a [`GrpcPolicy`]: per method, per service, and a
//! fallback for the rest, each a [`GrpcRule`] (the token types accepted, a [`Check`] for
//! sessions, scopes for machine credentials, or public). The credential is the
//! `authorization` metadata, `Bearer <token>`: a session token or a machine token (API key,
//! M2M token, OAuth token) as the rule accepts. A refused call is answered with a gRPC status
//! (see [the mapping](crate::rejection)): 16 `UNAUTHENTICATED`, 7 `PERMISSION_DENIED` or 14
//! `UNAVAILABLE`, with Clerk's reason in `grpc-message` and in the `x-clerk-auth-reason`
//! metadata.
//!
//! A call let through carries who is calling in its extensions, which tonic hands to the
//! method as `request.extensions()`: a [`ClerkCaller`] always, and a [`ClerkAuth`] for a
//! session. With the `tonic` feature, `ClerkRequestExt` reads them as
//! `request.clerk_caller()?` and `request.clerk_auth()?`, and a refusal of theirs
//! (`auth.require(&check)?`) converts into the same `tonic::Status` as the layer's.
//!
//! ```no_run
//! use clerk_axum::{Accepts, Check, ClerkLayer, GrpcPolicy, GrpcRule, TokenType};
//!
//! # fn layer(verifier: clerk_axum::Verifier) -> clerk_axum::GrpcAuthLayer {
//! let policy = GrpcPolicy::new()
//!     // Every method of the service: a session with the permission.
//!     .service("notes.v1.Notes", GrpcRule::authenticated().check(Check::permission("org:notes:read")))
//!     // One method: M2M tokens that name this machine in their scopes.
//!     .method(
//!         "/notes.v1.Notes/Export",
//!         GrpcRule::accepting(Accepts::only(TokenType::M2mToken)).scope("mch_notes"),
//!     )
//!     .method("/grpc.health.v1.Health/Check", GrpcRule::public());
//! // With tonic: Server::builder().layer(layer).add_service(...)
//! ClerkLayer::new(verifier).grpc(policy)
//! # }
//! ```
//!
//! The layer judges every request it sees, whatever its `content-type` (a gRPC server may
//! serve a call sent with another one): put it on the gRPC services, not on a REST router.
//! REST and gRPC on one port: the REST routes keep [`ClerkLayer`](crate::ClerkLayer) and the
//! extractors, the gRPC routes (tonic's `Routes::into_axum_router()`) get this layer with
//! `route_layer`, and the two routers are merged.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::response::{IntoResponse, Response};
use axum::BoxError;
use clerk_auth::{Accepts, Caller, Check};
use http::HeaderMap;
use tower_layer::Layer;
use tower_service::Service;

use crate::caller::{unmet_check, unmet_scope, FromLayer, Verified};
use crate::layer::Context;
use crate::rejection::{AuthError, ClerkRejection};
use crate::{ClerkAuth, ClerkCaller};

/// Whether a request is a gRPC call: its `content-type` starts with `application/grpc`
/// (`application/grpc`, `application/grpc+proto`, …), compared without regard to case.
pub fn is_grpc(headers: &HeaderMap) -> bool {
    const PREFIX: &[u8] = b"application/grpc";
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|value| {
            let value = value.as_bytes();
            value.len() >= PREFIX.len() && value[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
        })
}

/// Who may call a gRPC method: the token types accepted (the [`ClerkLayer`]'s by default),
/// and what the caller must have. Or [`GrpcRule::public`]: anyone.
///
/// The requirements are those of [`ClerkCaller`]: a [`check`](GrpcRule::check) is passed by
/// sessions only (a machine credential is refused, `session-required`, as by
/// [`ClerkCaller::require`]); a [`scope`](GrpcRule::scope) must be held by a machine
/// credential, and sessions, which have no scopes, pass it (as [`crate::RequireScope`]).
///
/// [`ClerkLayer`]: crate::ClerkLayer
#[derive(Debug, Clone)]
pub struct GrpcRule {
    access: Access,
    check: Option<Check>,
    scopes: Vec<Cow<'static, str>>,
}

#[derive(Debug, Clone, Copy)]
enum Access {
    Public,
    Layer,
    Only(Accepts),
}

impl GrpcRule {
    /// A valid credential of the types the [`ClerkLayer`](crate::ClerkLayer) accepts (the
    /// session token alone unless set with [`ClerkLayer::accepts`](crate::ClerkLayer::accepts)).
    pub fn authenticated() -> Self {
        GrpcRule {
            access: Access::Layer,
            check: None,
            scopes: Vec::new(),
        }
    }

    /// A valid credential of the `accepts` types.
    pub fn accepting(accepts: Accepts) -> Self {
        GrpcRule {
            access: Access::Only(accepts),
            ..GrpcRule::authenticated()
        }
    }

    /// Anyone: no credential is looked for (a health check, a reflection service). The
    /// method sees no caller in its extensions.
    pub fn public() -> Self {
        GrpcRule {
            access: Access::Public,
            ..GrpcRule::authenticated()
        }
    }

    /// Also requires a session that passes `check` (roles, permissions, features, plans, a
    /// recent verification; several in one `Check`, as `Check::permission(…).and_role(…)`):
    /// 7 with the reason of the first requirement not met, 7 `session-required` for a
    /// machine credential. A second call replaces the check.
    ///
    /// # Panics
    /// On a [`public`](GrpcRule::public) rule, which verifies no caller.
    pub fn check(mut self, check: Check) -> Self {
        assert!(
            !matches!(self.access, Access::Public),
            "a public gRPC rule verifies no caller: it takes no check"
        );
        self.check = Some(check);
        self
    }

    /// Also requires a machine credential to hold `scope` (7 `missing-scope`); sessions pass.
    /// For an M2M token, its scopes are the ids of the machines it may call: require your
    /// service's own machine id.
    ///
    /// # Panics
    /// On a [`public`](GrpcRule::public) rule, which verifies no caller.
    pub fn scope(mut self, scope: impl Into<Cow<'static, str>>) -> Self {
        assert!(
            !matches!(self.access, Access::Public),
            "a public gRPC rule verifies no caller: it takes no scope"
        );
        self.scopes.push(scope.into());
        self
    }

    /// The token types to verify, `None` for a public rule.
    fn accepts(&self, layer: Accepts) -> Option<Accepts> {
        match self.access {
            Access::Public => None,
            Access::Layer => Some(layer),
            Access::Only(accepts) => Some(accepts),
        }
    }

    /// The caller, if it meets this rule's requirements.
    fn judge(&self, caller: &Caller) -> Result<(), AuthError> {
        if let Some(forbidden) = self.check.as_ref().and_then(|c| unmet_check(caller, c)) {
            return Err(AuthError::Forbidden(forbidden));
        }
        match self.scopes.iter().find_map(|s| unmet_scope(caller, s)) {
            Some(forbidden) => Err(AuthError::Forbidden(forbidden)),
            None => Ok(()),
        }
    }
}

/// The rules of a set of gRPC services: a rule per method (`/package.Service/Method`), per
/// service (`package.Service`, tonic's `NamedService::NAME`), and the fallback for every other
/// call ([`GrpcRule::authenticated`] unless set). The most specific one applies.
#[derive(Debug, Clone)]
pub struct GrpcPolicy {
    fallback: GrpcRule,
    services: HashMap<String, GrpcRule>,
    methods: HashMap<String, GrpcRule>,
}

impl Default for GrpcPolicy {
    fn default() -> Self {
        GrpcPolicy::new()
    }
}

impl GrpcPolicy {
    /// A policy under which every call needs a valid credential of the types the
    /// [`ClerkLayer`](crate::ClerkLayer) accepts.
    pub fn new() -> Self {
        GrpcPolicy {
            fallback: GrpcRule::authenticated(),
            services: HashMap::new(),
            methods: HashMap::new(),
        }
    }

    /// The rule of the calls no method or service rule names.
    pub fn fallback(mut self, rule: GrpcRule) -> Self {
        self.fallback = rule;
        self
    }

    /// The rule of every method of the service `name` (`package.Service`) that has no rule
    /// of its own.
    ///
    /// # Panics
    /// When `name` is empty or contains a `/`.
    pub fn service(mut self, name: impl Into<String>, rule: GrpcRule) -> Self {
        let name = name.into();
        assert!(
            !name.is_empty() && !name.contains('/'),
            "a gRPC service name is `package.Service`, without slashes: {name:?}"
        );
        self.services.insert(name, rule);
        self
    }

    /// The rule of the method at `path`, `/package.Service/Method` as on the wire.
    ///
    /// # Panics
    /// When `path` is not of that form.
    pub fn method(mut self, path: impl Into<String>, rule: GrpcRule) -> Self {
        let path = path.into();
        let well_formed = path
            .strip_prefix('/')
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(service, method)| {
                !service.is_empty() && !method.is_empty() && !method.contains('/')
            });
        assert!(
            well_formed,
            "a gRPC method path is `/package.Service/Method`: {path:?}"
        );
        self.methods.insert(path, rule);
        self
    }

    /// The rule of a call to `path`: its method's, else its service's, else the fallback.
    pub fn rule(&self, path: &str) -> &GrpcRule {
        if let Some(rule) = self.methods.get(path) {
            return rule;
        }
        let service = path
            .strip_prefix('/')
            .and_then(|rest| rest.split_once('/'))
            .map(|(service, _)| service);
        service
            .and_then(|service| self.services.get(service))
            .unwrap_or(&self.fallback)
    }
}

/// A tower layer that protects gRPC services with a [`GrpcPolicy`]; made by
/// [`ClerkLayer::grpc`](crate::ClerkLayer::grpc), with that layer's verifier, accepted token
/// types, observer and `Retry-After`. See [the module docs](self).
///
/// It serves both a tonic server (`tonic::transport::Server::builder().layer(layer)`) and an
/// axum router (tonic's `Routes::into_axum_router().route_layer(layer)`); its responses have
/// axum's body.
#[derive(Clone)]
pub struct GrpcAuthLayer {
    context: Context,
    policy: Arc<GrpcPolicy>,
}

impl std::fmt::Debug for GrpcAuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcAuthLayer")
            .field("verifier", &self.context.shared.verifier)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl GrpcAuthLayer {
    pub(crate) fn new(context: Context, policy: GrpcPolicy) -> Self {
        GrpcAuthLayer {
            context,
            policy: Arc::new(policy),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &GrpcPolicy {
        &self.policy
    }
}

impl<S> Layer<S> for GrpcAuthLayer {
    type Service = GrpcAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcAuth {
            inner,
            context: self.context.clone(),
            policy: self.policy.clone(),
        }
    }
}

/// The service of [`GrpcAuthLayer`].
#[derive(Clone)]
pub struct GrpcAuth<S> {
    inner: S,
    context: Context,
    policy: Arc<GrpcPolicy>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for GrpcAuth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcAuth")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for GrpcAuth<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        // The clone is not ready; the ready one is used for this request (tower's pattern).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let context = self.context.for_request(request.headers());
        let policy = self.policy.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let rule = policy.rule(parts.uri.path());
            if let Some(accepts) = rule.accepts(context.shared.accepts) {
                let caller = match authorize(&context, rule, accepts, &parts.headers).await {
                    Ok(caller) => caller,
                    Err(rejection) => return Ok(rejection.into_response()),
                };
                if let Caller::Session(claims) = &caller {
                    let auth = ClerkAuth::new(claims.clone(), context.clone());
                    parts.extensions.insert(auth);
                }
                parts.extensions.insert(Verified {
                    accepts,
                    caller: caller.clone(),
                });
                let caller = ClerkCaller::<FromLayer>::new(caller, context.clone());
                parts.extensions.insert(caller);
            }
            parts.extensions.insert(context);
            let response = inner.call(http::Request::from_parts(parts, body)).await?;
            Ok(response.map(Body::new))
        })
    }
}

/// Verifies the credential of a call and judges it by `rule`.
async fn authorize(
    context: &Context,
    rule: &GrpcRule,
    accepts: Accepts,
    headers: &HeaderMap,
) -> Result<Caller, ClerkRejection> {
    let verifier = &context.shared.verifier;
    let caller = verifier
        .authenticate_request(headers, accepts)
        .await
        .map_err(|rejection| context.reject(AuthError::from_rejection(rejection)))?;
    if let Some(observer) = &context.shared.observer {
        observer.accepted();
    }
    rule.judge(&caller).map_err(|error| context.reject(error))?;
    Ok(caller)
}

#[cfg(feature = "tonic")]
pub use self::tonic_support::ClerkRequestExt;

#[cfg(feature = "tonic")]
mod tonic_support {
    use super::*;

    impl From<ClerkRejection> for tonic::Status {
        /// The same status as the layer answers (see [the mapping](crate::rejection)): code,
        /// `grpc-message` and metadata.
        fn from(rejection: ClerkRejection) -> Self {
            status(rejection.error(), rejection.retry_after())
        }
    }

    fn status(error: &AuthError, retry_after: std::time::Duration) -> tonic::Status {
        let metadata = tonic::metadata::MetadataMap::from_headers(error.grpc_metadata(retry_after));
        tonic::Status::with_metadata(
            tonic::Code::from_i32(error.grpc_code()),
            error.grpc_message(),
            metadata,
        )
    }

    /// Who is calling a tonic method protected by a [`GrpcAuthLayer`]: what the layer put in
    /// the request's extensions.
    ///
    /// ```no_run
    /// use clerk_axum::{Check, ClerkRequestExt};
    /// use tonic::{Request, Response, Status};
    ///
    /// async fn delete(request: Request<String>) -> Result<Response<()>, Status> {
    ///     let auth = request.clerk_auth()?;
    ///     // A check that depends on the request: the same 7 as the layer's.
    ///     auth.require(&Check::permission(format!("org:{}:delete", request.get_ref())))?;
    ///     Ok(Response::new(()))
    /// }
    /// ```
    pub trait ClerkRequestExt {
        /// The verified caller, a session or a machine credential; 13 `INTERNAL`
        /// (`clerk-layer-missing`) when no layer verified one (not installed, or a public
        /// rule).
        fn clerk_caller(&self) -> Result<&ClerkCaller, tonic::Status>;

        /// The verified session; 7 `session-required` when the caller is a machine
        /// credential, 13 `INTERNAL` when no layer verified a caller.
        fn clerk_auth(&self) -> Result<&ClerkAuth, tonic::Status>;
    }

    impl<T> ClerkRequestExt for tonic::Request<T> {
        fn clerk_caller(&self) -> Result<&ClerkCaller, tonic::Status> {
            self.extensions().get::<ClerkCaller>().ok_or_else(|| {
                tracing::error!("a gRPC method asked for its Clerk caller without GrpcAuthLayer");
                status(&AuthError::MissingLayer, std::time::Duration::ZERO)
            })
        }

        fn clerk_auth(&self) -> Result<&ClerkAuth, tonic::Status> {
            if let Some(auth) = self.extensions().get::<ClerkAuth>() {
                return Ok(auth);
            }
            let caller = self.clerk_caller()?;
            Err(caller.refuse(crate::caller::session_required()).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_is_told_by_content_type() {
        let mut headers = HeaderMap::new();
        assert!(!is_grpc(&headers));
        for (value, grpc) in [
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("Application/GRPC", true),
            ("application/grpc-web", true),
            ("application/json", false),
            ("application/grp", false),
            ("text/plain; application/grpc", false),
        ] {
            headers.insert(http::header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_grpc(&headers), grpc, "{value}");
        }
    }

    #[test]
    fn the_most_specific_rule_applies() {
        let policy = GrpcPolicy::new()
            .fallback(GrpcRule::accepting(Accepts::ANY))
            .service("a.S", GrpcRule::public())
            .method("/a.S/M", GrpcRule::authenticated().scope("x"));
        assert!(policy.rule("/a.S/M").scopes == ["x"]);
        assert!(matches!(policy.rule("/a.S/Other").access, Access::Public));
        // Not the method: tonic would not route these to it either.
        assert!(matches!(policy.rule("/a.S/M/").access, Access::Public));
        assert!(matches!(policy.rule("/a.S/m").access, Access::Public));
        for path in ["/b.S/M", "/a.S", "/", "", "//a.S/M", "/a.SS/M"] {
            assert!(
                matches!(policy.rule(path).access, Access::Only(a) if a == Accepts::ANY),
                "{path}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "`/package.Service/Method`")]
    fn a_method_path_without_its_service_is_refused() {
        let _ = GrpcPolicy::new().method("Method", GrpcRule::public());
    }

    #[test]
    #[should_panic(expected = "takes no check")]
    fn a_public_rule_takes_no_check() {
        let _ = GrpcRule::public().check(Check::role("org:admin"));
    }
}
