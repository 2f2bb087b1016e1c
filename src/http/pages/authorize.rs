//! `GET`/`POST /oauth/authorize`: the authorization endpoint.

use std::collections::HashMap;

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::browser::Browser;
use super::flow::next_step;

/// Reads the request's parameters (query for GET, form for POST; a repeated parameter is an
/// error per RFC 6749 §3.1) and hands them to the domain.
pub async fn authorize(b: Browser, req: Request) -> Response {
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
        return b.message(StatusCode::BAD_REQUEST, "error_title", "the authorization request is malformed");
    };
    let mut params = HashMap::new();
    for (k, v) in pairs {
        if v.is_empty() {
            continue;
        }
        if params.insert(k.clone(), v).is_some() {
            return b.message(StatusCode::BAD_REQUEST, "error_title", &format!("parameter {k} is repeated"));
        }
    }
    let browser = match b.session().await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let next = b.app().domain.authorize(&params, browser.as_ref(), &b.meta).await;
    let status = if post { StatusCode::SEE_OTHER } else { StatusCode::FOUND };
    next_step(&b, status, next, &[])
}
