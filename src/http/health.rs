//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;

/// Longest wait for the database in a readiness check: well below a load balancer's probe
/// timeout, so a database that does not answer is reported down instead of hanging the probe.
const READY_DB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200)))]
pub async fn live() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers and a signing key is active; Redis trouble is reported
/// as `degraded` without failing readiness, since requests are still served on local counters.
#[utoipa::path(get, path = "/health/ready", tag = "health", responses((status = 200), (status = 503)))]
pub async fn ready(State(app): State<AppState>) -> impl IntoResponse {
    let counters = &app.domain.counters;
    let (db, redis_ok) = tokio::join!(app.domain.store.ping(READY_DB_TIMEOUT), async {
        match counters.is_shared() {
            true => Some(counters.check().await.is_ok()),
            false => None,
        }
    });
    let database = match db {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            "unavailable"
        }
    };
    let redis = match redis_ok {
        None => "not_configured",
        Some(true) => "ok",
        Some(false) => "degraded",
    };
    let signing_key = if app.domain.keys.has_active() { "ok" } else { "missing" };
    let ready = database == "ok" && signing_key == "ok";
    let status = if !ready {
        "unavailable"
    } else if redis == "degraded" {
        "degraded"
    } else {
        "ok"
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(
            json!({ "status": status, "checks": { "database": database, "redis": redis, "signing_key": signing_key } }),
        ),
    )
}
