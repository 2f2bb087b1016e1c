//! `/.well-known/*`: JWKS and discovery.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::domain::oauth::GrantType;

/// The public signing keys, served from memory with caching headers and 304 support.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "oauth", responses((status = 200), (status = 304)))]
pub async fn jwks(State(app): State<AppState>, req_headers: HeaderMap) -> Response {
    let (body, etag) = app.domain.keys.jwks();
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

/// OIDC Discovery 1.0 / RFC 8414 metadata, served at both well-known paths.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oauth", responses((status = 200)))]
pub async fn discovery(State(app): State<AppState>) -> Response {
    let iss = &app.domain.issuer;
    let body = serde_json::json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth/authorize"),
        "token_endpoint": format!("{iss}/oauth/token"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "revocation_endpoint": format!("{iss}/oauth/revoke"),
        "introspection_endpoint": format!("{iss}/oauth/introspect"),
        "end_session_endpoint": format!("{iss}/oauth/logout"),
        "registration_endpoint": serde_json::Value::Null,
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GrantType::ALL.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": true,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": app.domain.keys.algorithms(),
        "userinfo_signing_alg_values_supported": ["none"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "auth_time", "azp", "sid", "nonce", "amr", "client_id", "scope",
            "roles", "tenant", "email", "email_verified", "preferred_username", "name", "given_name",
            "family_name", "locale", "updated_at"
        ],
        "claims_parameter_supported": false,
        "ui_locales_supported": ["en"],
        "request_parameter_supported": false,
        "service_documentation": format!("{iss}/docs"),
    });
    let mut obj = body;
    if let Some(map) = obj.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    (StatusCode::OK, headers, axum::Json(obj)).into_response()
}
