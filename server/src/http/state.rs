//! [`AppState`]: what every handler can reach.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use clerk_auth::Verifier;
use clerk_webhooks::Webhook;

use crate::db::Db;
use crate::metrics::Metrics;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    verifier: Verifier,
    webhook: Option<Webhook>,
    backend: Option<clerk_backend::Client>,
    metrics: Metrics,
    fresh_profiles: FreshProfileLimit,
    options: Options,
    /// Set once a shutdown signal starts the drain period: `/readyz` answers 503.
    draining: AtomicBool,
}

/// The HTTP settings of [`crate::Settings`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests taking longer are answered 503.
    pub request_timeout: Duration,
    /// Larger bodies are answered 413.
    pub max_body_bytes: usize,
    /// Origins allowed by CORS; empty: no CORS headers.
    pub cors_origins: Vec<HeaderValue>,
    /// Per user, one `GET /v1/me?fresh=true` per this interval once the burst is spent.
    pub fresh_profile_rate: Duration,
    /// The `fresh=true` calls a user may make at once.
    pub fresh_profile_burst: u32,
}

/// The per-user limit of Backend API calls made by `GET /v1/me?fresh=true`.
pub type FreshProfileLimit = governor::DefaultKeyedRateLimiter<String>;

impl AppState {
    /// The state of a server using `db` and `verifier`, verifying webhooks with `webhook`
    /// and calling Clerk's Backend API with `backend` (each `None` when not configured).
    pub fn new(
        db: Db,
        verifier: Verifier,
        webhook: Option<Webhook>,
        backend: Option<clerk_backend::Client>,
        options: Options,
    ) -> Self {
        AppState {
            inner: Arc::new(Inner {
                metrics: Metrics::new(&verifier),
                fresh_profiles: governor::RateLimiter::keyed(
                    governor::Quota::with_period(options.fresh_profile_rate)
                        .unwrap_or(governor::Quota::per_second(std::num::NonZeroU32::MIN))
                        .allow_burst(
                            std::num::NonZeroU32::new(options.fresh_profile_burst)
                                .unwrap_or(std::num::NonZeroU32::MIN),
                        ),
                ),
                db,
                verifier,
                webhook,
                backend,
                options,
                draining: AtomicBool::new(false),
            }),
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The token verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// The verifier of Clerk's webhooks, if a signing secret is configured.
    pub fn webhook(&self) -> Option<&Webhook> {
        self.inner.webhook.as_ref()
    }

    /// The Backend API client, if a secret key is configured.
    pub fn backend(&self) -> Option<&clerk_backend::Client> {
        self.inner.backend.as_ref()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The per-user limit of `GET /v1/me?fresh=true`.
    pub fn fresh_profiles(&self) -> &FreshProfileLimit {
        &self.inner.fresh_profiles
    }

    /// The HTTP settings.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// Starts the drain period before a shutdown: `/readyz` answers 503 `draining` from now
    /// on, so that a load balancer stops sending here, while every route keeps serving.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::Relaxed);
    }

    /// Whether the drain period has started.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Relaxed)
    }
}
