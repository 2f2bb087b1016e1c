//! HTTP: routes, state and middleware. Handlers are thin: they read the request, call the
//! domain and shape the response.

mod admin;
mod auth;
pub mod error;
pub mod extract;
pub mod form;
mod guard;
mod health;
mod metrics;
mod oauth;
mod openapi;
pub mod pages;
pub mod ratelimit;
mod recovery;
mod users;
mod wellknown;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::domain::Domain;
use error::problem_response;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Business rules and their dependencies (keys included).
    pub domain: Domain,
}

/// The whole router with its middleware.
pub fn router(state: AppState) -> Router {
    let max_body = state.domain.config.max_body_bytes;
    let request_id = HeaderName::from_static("x-request-id");
    let rate_limit = ratelimit::layer(&state.domain.config);
    let cors = tower::util::option_layer(guard::cors(&state.domain.config.cors_origins));
    Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/.well-known/jwks.json", get(wellknown::jwks))
        .route("/.well-known/openid-configuration", get(wellknown::discovery))
        .route("/.well-known/oauth-authorization-server", get(wellknown::discovery))
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/oauth/introspect", post(oauth::introspect))
        .route("/userinfo", get(oauth::userinfo).post(oauth::userinfo))
        .route("/auth/register", post(users::register))
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route("/auth/password/forgot", post(recovery::forgot))
        .route("/auth/password/reset", post(recovery::reset))
        .route("/auth/email/verify/request", post(recovery::verify_request))
        .route("/auth/email/verify", post(recovery::verify))
        .route("/api/reset-password", post(recovery::legacy_forgot))
        .route("/api/verify-email", post(recovery::legacy_verify))
        .route(
            "/users/me",
            get(users::get_me).patch(users::patch_me).delete(users::delete_me),
        )
        .route("/users/me/password", post(users::change_password))
        .route(
            "/users/me/preferences",
            get(users::get_preferences)
                .put(users::put_preferences)
                .patch(users::patch_preferences),
        )
        .route(
            "/users/me/sessions",
            get(users::list_sessions).delete(users::delete_sessions),
        )
        .route("/users/me/sessions/{id}", delete(users::delete_session))
        .route(
            "/oauth/authorize",
            get(pages::authorize::authorize_get).post(pages::authorize::authorize_post),
        )
        .route(
            "/oauth/logout",
            get(pages::logout::logout_get).post(pages::logout::logout_post),
        )
        .route(
            "/login",
            get(pages::signin::show_login).post(pages::signin::submit_login),
        )
        .route(
            "/signup",
            get(pages::signin::show_signup).post(pages::signin::submit_signup),
        )
        .route("/consent", get(pages::consent::show).post(pages::consent::submit))
        .route("/account", get(pages::account::show))
        .route("/account/profile", post(pages::account::profile))
        .route("/account/password", post(pages::account::password))
        .route("/account/sessions/end", post(pages::account::end_session))
        .route("/account/consents/revoke", post(pages::account::revoke_consent))
        .route(
            "/password/forgot",
            get(pages::recovery::show_forgot).post(pages::recovery::submit_forgot),
        )
        .route(
            "/password/reset",
            get(pages::recovery::show_reset).post(pages::recovery::submit_reset),
        )
        .route(
            "/email/verify",
            get(pages::recovery::show_verify).post(pages::recovery::submit_verify),
        )
        .route("/assets/portcullis.css", get(pages::stylesheet))
        .route("/assets/theme.css", get(pages::theme))
        .route("/metrics", get(metrics::render).with_state(metrics::state()))
        .route("/openapi.json", get(openapi::document))
        .merge(openapi::ui())
        .merge(admin::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::from_fn(guard::retry_reset_reads))
        .layer(rate_limit)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(guard::limit_header_size))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(CatchPanicLayer::custom(|_| {
            problem_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "something went wrong on our side",
                &[],
            )
        }))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(
            TraceLayer::new_for_http()
                // The error mapping logs a 500 once, with its cause; a second line says nothing.
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG))
                .make_span_with(|req: &axum::http::Request<_>| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                }),
        )
        .layer(cors)
        .layer(SetSensitiveRequestHeadersLayer::new([
            axum::http::header::AUTHORIZATION,
            axum::http::header::COOKIE,
        ]))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(axum::middleware::from_fn(guard::security_headers))
}

async fn not_found() -> Response {
    problem_response(StatusCode::NOT_FOUND, "not_found", "no such endpoint", &[])
}

async fn method_not_allowed() -> Response {
    problem_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed here",
        &[],
    )
    .into_response()
}
