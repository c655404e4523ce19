//! [`ClerkLayer`]: makes a [`Verifier`] available to this crate's extractors, and
//! [`RequireAuthLayer`]: refuses every request of a router without a valid session (and,
//! optionally, without a role, permission, feature, plan or recent verification).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use clerk_auth::{Accepts, Check, Verifier};
use tower_layer::Layer;
use tower_service::Service;

use crate::grpc::{is_grpc, GrpcAuthLayer, GrpcPolicy};
use crate::rejection::{AuthError, AuthObserver, ClerkRejection, RejectionHandler};
use crate::ClerkAuth;

/// What the extractors need, carried in the request's extensions: the layer's settings, and
/// whether the request is a gRPC call (its refusals are then gRPC statuses).
#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) shared: Arc<ContextInner>,
    pub(crate) grpc: bool,
}

pub(crate) struct ContextInner {
    pub(crate) verifier: Verifier,
    pub(crate) render: Option<RejectionHandler>,
    pub(crate) observer: Option<Arc<dyn AuthObserver>>,
    pub(crate) retry_after: Duration,
    pub(crate) accepts: Accepts,
}

impl Context {
    /// The context of one request: gRPC or not, by its `content-type`.
    pub(crate) fn for_request(&self, headers: &http::HeaderMap) -> Context {
        Context {
            shared: self.shared.clone(),
            grpc: is_grpc(headers),
        }
    }

    /// Reports a refusal to the observer and the log, and wraps it for the response.
    pub(crate) fn reject(&self, error: AuthError) -> ClerkRejection {
        if let Some(observer) = &self.shared.observer {
            observer.rejected(&error);
        }
        tracing::debug!(
            reason = error.reason(),
            status = error.status().as_u16(),
            "request refused"
        );
        ClerkRejection::new(
            error,
            self.shared.render.clone(),
            self.shared.retry_after,
            self.grpc,
        )
    }
}

/// Makes a [`Verifier`] available to [`ClerkAuth`] and the guards of every route below it.
///
/// The layer itself verifies nothing: routes that ask for a [`ClerkAuth`] (or a guard) are
/// protected, the others are not. To protect a whole router, add a [`RequireAuthLayer`] too.
///
/// ```no_run
/// use axum::{routing::get, Router};
/// use clerk_axum::{ClerkAuth, ClerkLayer};
///
/// async fn me(auth: ClerkAuth) -> String {
///     format!("hello {}", auth.user_id())
/// }
///
/// # fn app() -> Result<Router, Box<dyn std::error::Error>> {
/// let verifier = clerk_auth::Verifier::from_env()?;
/// let app = Router::new()
///     .route("/me", get(me))
///     .layer(ClerkLayer::new(verifier));
/// # Ok(app) }
/// ```
#[derive(Clone)]
pub struct ClerkLayer {
    context: Context,
}

impl std::fmt::Debug for ClerkLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClerkLayer")
            .field("verifier", &self.context.shared.verifier)
            .finish_non_exhaustive()
    }
}

impl ClerkLayer {
    /// A layer that verifies with `verifier`.
    pub fn new(verifier: Verifier) -> Self {
        ClerkLayer {
            context: Context {
                shared: Arc::new(ContextInner {
                    verifier,
                    render: None,
                    observer: None,
                    retry_after: Duration::from_secs(5),
                    accepts: Accepts::SESSION,
                }),
                grpc: false,
            },
        }
    }

    fn with(self, edit: impl FnOnce(&mut ContextInner)) -> Self {
        let inner = &*self.context.shared;
        let mut copy = ContextInner {
            verifier: inner.verifier.clone(),
            render: inner.render.clone(),
            observer: inner.observer.clone(),
            retry_after: inner.retry_after,
            accepts: inner.accepts,
        };
        edit(&mut copy);
        ClerkLayer {
            context: Context {
                shared: Arc::new(copy),
                grpc: false,
            },
        }
    }

    /// Replaces the default refusal responses (401/403/503 JSON) with your own. gRPC calls
    /// are not affected: they are always answered with a gRPC status
    /// ([`AuthError::to_grpc_response`]).
    ///
    /// ```no_run
    /// use axum::response::IntoResponse;
    /// # fn layer(verifier: clerk_auth::Verifier) -> clerk_axum::ClerkLayer {
    /// clerk_axum::ClerkLayer::new(verifier).rejection(|error| {
    ///     (error.status(), format!("nope: {}", error.reason())).into_response()
    /// })
    /// # }
    /// ```
    pub fn rejection(
        self,
        render: impl Fn(&AuthError) -> Response + Send + Sync + 'static,
    ) -> Self {
        let render: RejectionHandler = Arc::new(render);
        self.with(|c| c.render = Some(render))
    }

    /// Tells `observer` of every accepted and refused request (metrics, audit).
    pub fn observer(self, observer: Arc<dyn AuthObserver>) -> Self {
        self.with(|c| c.observer = Some(observer))
    }

    /// The `Retry-After` of a 503 when no signing key can be had (default 5 seconds).
    pub fn retry_after(self, retry_after: Duration) -> Self {
        self.with(|c| c.retry_after = retry_after)
    }

    /// The token types [`ClerkCaller`](crate::ClerkCaller) accepts on this router's routes
    /// when it is not given its own (default: the session token alone). [`ClerkAuth`] and
    /// the session guards are not affected: they take session tokens only.
    pub fn accepts(self, accepts: Accepts) -> Self {
        self.with(|c| c.accepts = accepts)
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.context.shared.verifier
    }

    /// A layer for gRPC services (a tonic server) with this layer's verifier and settings,
    /// that refuses every call `policy` does not let through, with a gRPC status; see
    /// [`GrpcAuthLayer`].
    pub fn grpc(self, policy: GrpcPolicy) -> GrpcAuthLayer {
        GrpcAuthLayer::new(self.context, policy)
    }
}

impl<S> Layer<S> for ClerkLayer {
    type Service = ClerkService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClerkService {
            inner,
            context: self.context.clone(),
        }
    }
}

/// The service of [`ClerkLayer`].
#[derive(Clone)]
pub struct ClerkService<S> {
    inner: S,
    context: Context,
}

impl<S: std::fmt::Debug> std::fmt::Debug for ClerkService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClerkService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<http::Request<B>> for ClerkService<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let context = self.context.for_request(request.headers());
        request.extensions_mut().insert(context);
        self.inner.call(request)
    }
}

/// Refuses every request without a valid session (401/503), and optionally without what a
/// [`Check`] requires (403). Place it inside a [`ClerkLayer`].
///
/// The verified session is kept in the request, so handlers that also take a [`ClerkAuth`]
/// do not verify twice.
///
/// ```no_run
/// use axum::{routing::get, Router};
/// use clerk_auth::Check;
/// use clerk_axum::{ClerkLayer, RequireAuthLayer};
///
/// # fn app(verifier: clerk_auth::Verifier) -> Router {
/// let admin = Router::new()
///     .route("/admin/users", get(|| async { "users" }))
///     .layer(RequireAuthLayer::with(Check::role("org:admin")));
/// Router::new().merge(admin).layer(ClerkLayer::new(verifier))
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequireAuthLayer {
    check: Option<Arc<Check>>,
}

impl RequireAuthLayer {
    /// Requires a valid session.
    pub fn new() -> Self {
        RequireAuthLayer::default()
    }

    /// Requires a valid session that passes `check`.
    pub fn with(check: Check) -> Self {
        RequireAuthLayer {
            check: Some(Arc::new(check)),
        }
    }
}

impl<S> Layer<S> for RequireAuthLayer {
    type Service = RequireAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAuth {
            inner,
            check: self.check.clone(),
        }
    }
}

/// The service of [`RequireAuthLayer`].
#[derive(Debug, Clone)]
pub struct RequireAuth<S> {
    inner: S,
    check: Option<Arc<Check>>,
}

impl<S> Service<Request> for RequireAuth<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone is not ready; the ready one is used for this request (tower's pattern).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let check = self.check.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let auth = match ClerkAuth::from_request_parts(&mut parts, &()).await {
                Ok(auth) => auth,
                Err(rejection) => return Ok(rejection.into_response()),
            };
            if let Some(check) = check {
                if let Err(rejection) = auth.require(&check) {
                    return Ok(rejection.into_response());
                }
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}
