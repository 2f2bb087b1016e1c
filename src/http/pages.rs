//! Hosted pages (SPEC §10): server-rendered HTML forms for sign-in, sign-up, consent,
//! recovery, logout and the account page. Every page has a strict Content-Security-Policy
//! (no script at all), every form a CSRF token, and the browser session lives in the
//! `__Host-portcullis_session` cookie.

pub mod account;
pub mod authorize;
pub mod browser;
pub mod consent;
mod flow;
pub mod logout;
pub mod messages;
pub mod recovery;
pub mod render;
pub mod signin;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;

fn css(body: String) -> Response {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    (h, body).into_response()
}

/// `GET /assets/portcullis.css`.
#[utoipa::path(get, path = "/assets/portcullis.css", tag = "browser", responses((status = 200, description = "the pages' stylesheet")))]
pub async fn stylesheet() -> Response {
    css(render::STYLESHEET.to_string())
}

/// `GET /assets/theme.css`: the configured primary colour.
#[utoipa::path(get, path = "/assets/theme.css", tag = "browser", responses((status = 200, description = "the configured primary colour")))]
pub async fn theme(State(app): State<AppState>) -> Response {
    css(render::theme_css(&app.domain.config.ui))
}
