//! `/.well-known/*`: JWKS and discovery.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;

/// The public signing keys, served from memory with caching headers and 304 support.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "oauth", responses((status = 200), (status = 304)))]
pub async fn jwks(State(app): State<AppState>, req_headers: HeaderMap) -> Response {
    let (body, etag) = app.keys.jwks();
    let mut headers = HeaderMap::new();
    let max_age = app.domain.config.jwks_max_age.as_secs();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    let matches = req_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag.as_str()
        });
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    (StatusCode::OK, headers, body.as_str().to_owned()).into_response()
}
