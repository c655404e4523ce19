//! `GET /healthz` (the process is up) and `GET /readyz` (it can serve: keys and database).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The body of `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Whether the process is up: 200 while it runs.
///
/// No dependency is checked: a liveness probe
/// must not restart the server because Clerk or the database is down.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is up", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The body of `GET /readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ok`, `unavailable`, or `draining` (shutting down: still serving, but take this
    /// instance out of rotation).
    pub status: &'static str,
    /// Clerk's signing keys.
    pub keys: KeysReadiness,
    /// The database.
    pub database: DatabaseReadiness,
}

/// The state of the signing keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeysReadiness {
    /// Whether tokens can be verified now.
    pub usable: bool,
    /// How many keys are held.
    pub keys: usize,
    /// Seconds since the keys were fetched (none for a PEM key or before the first fetch).
    pub age_seconds: Option<u64>,
    /// Whether a refresh is due or failing.
    pub stale: bool,
    /// The last fetch error, if the last fetch failed.
    pub error: Option<String>,
}

/// The state of the database.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseReadiness {
    /// Whether it answered `SELECT 1`.
    pub ok: bool,
    /// Why not, if not (the kind of failure, no connection details).
    pub error: Option<String>,
}

/// Whether the server can serve: its signing keys and its database.
///
/// 200 when the signing keys are usable and the database answers, else 503
/// with the part that is down. The server keeps trying to load keys in the background, so it
/// becomes ready on its own once Clerk answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "Keys or database unavailable, or draining before a shutdown", body = Readiness),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let keys = state.verifier().key_status();
    let database = match state.db().ping().await {
        Ok(()) => DatabaseReadiness {
            ok: true,
            error: None,
        },
        Err(err) => {
            tracing::warn!(error = %err, "readiness: the database does not answer");
            DatabaseReadiness {
                ok: false,
                error: Some(database_error_kind(&err).to_owned()),
            }
        }
    };
    let draining = state.is_draining();
    let ready = keys.usable && database.ok && !draining;
    let body = Readiness {
        status: if draining {
            "draining"
        } else if ready {
            "ok"
        } else {
            "unavailable"
        },
        keys: KeysReadiness {
            usable: keys.usable,
            keys: keys.keys,
            age_seconds: keys.age.map(|age| age.as_secs()),
            stale: keys.stale,
            error: keys.last_error,
        },
        database,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// A short description of a database failure, without hosts, users or SQL.
fn database_error_kind(err: &sqlx::Error) -> &'static str {
    match err {
        sqlx::Error::PoolTimedOut => "no connection available in time",
        sqlx::Error::PoolClosed => "the connection pool is closed",
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => "cannot reach the database",
        _ => "the database returned an error",
    }
}
