//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200)))]
pub async fn live() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers and a signing key is active; Redis trouble is reported
/// as `degraded` without failing readiness, since requests are still served on local counters.
#[utoipa::path(get, path = "/health/ready", tag = "health", responses((status = 200), (status = 503)))]
pub async fn ready(State(app): State<AppState>) -> impl IntoResponse {
    let database = match app.domain.store.ping().await {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            "unavailable"
        }
    };
    let redis = if !app.domain.counters.is_shared() {
        "not_configured"
    } else if app.domain.counters.check().await.is_ok() {
        "ok"
    } else {
        "degraded"
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
