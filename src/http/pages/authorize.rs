//! `GET`/`POST /oauth/authorize`: the authorization endpoint.

use std::collections::HashMap;

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::browser::Browser;
use super::flow::next_step;

/// Reads the request's parameters (query for GET, form for POST; a repeated parameter is an
/// error per RFC 6749 §3.1) and hands them to the domain.
#[utoipa::path(get, operation_id = "authorize_get", path = "/oauth/authorize", tag = "browser", params(("client_id" = String, Query), ("redirect_uri" = String, Query), ("response_type" = String, Query, description = "code"), ("scope" = Option<String>, Query), ("state" = Option<String>, Query), ("nonce" = Option<String>, Query), ("code_challenge" = Option<String>, Query), ("code_challenge_method" = Option<String>, Query, description = "S256"), ("prompt" = Option<String>, Query), ("max_age" = Option<i64>, Query), ("login_hint" = Option<String>, Query), ("ui_locales" = Option<String>, Query)), responses((status = 302, description = "to the sign-in or consent page, or back to the client with code, state and iss (or error)"), (status = 400, description = "HTML error page: unknown client or unregistered redirect_uri")))]
pub async fn authorize_get(b: Browser, req: Request) -> Response {
    authorize(b, req).await
}

/// The POST form of the same endpoint.
#[utoipa::path(post, operation_id = "authorize_post", path = "/oauth/authorize", tag = "browser", request_body(content_type = "application/x-www-form-urlencoded", content = String, description = "the same parameters as the GET form, in the body"), responses((status = 302, description = "to the sign-in or consent page, or back to the client with code, state and iss (or error)"), (status = 400, description = "HTML error page: unknown client or unregistered redirect_uri")))]
pub async fn authorize_post(b: Browser, req: Request) -> Response {
    authorize(b, req).await
}

async fn authorize(b: Browser, req: Request) -> Response {
    let post = req.method() == Method::POST;
    let pairs: Result<Vec<(String, String)>, _> = if post {
        match crate::http::extract::read_body(req, &()).await {
            Ok(body) => serde_urlencoded::from_bytes(&body),
            Err(_) => return b.message(StatusCode::PAYLOAD_TOO_LARGE, "error_title", "the request is too large"),
        }
    } else {
        serde_urlencoded::from_str(req.uri().query().unwrap_or(""))
    };
    let Ok(pairs) = pairs else {
        return b.message(
            StatusCode::BAD_REQUEST,
            "error_title",
            "the authorization request is malformed",
        );
    };
    if pairs.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
        return b.message(
            StatusCode::BAD_REQUEST,
            "error_title",
            "the request must not contain a NUL character",
        );
    }
    let mut params = HashMap::new();
    for (k, v) in pairs {
        if v.is_empty() {
            continue;
        }
        if params.insert(k.clone(), v).is_some() {
            return b.message(
                StatusCode::BAD_REQUEST,
                "error_title",
                &format!("parameter {k} is repeated"),
            );
        }
    }
    let browser = match b.session().await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let next = b.app().domain.authorize(&params, browser.as_ref()).await;
    let status = if post { StatusCode::SEE_OTHER } else { StatusCode::FOUND };
    next_step(&b, status, next, &[])
}
