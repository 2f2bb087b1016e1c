//! `/consent`: the user allows or denies a client's pending request.

use std::collections::HashMap;

use axum::extract::{Query, Request};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;

use super::browser::{Browser, redirect};
use super::flow::{encode, flow_error, targets};
use super::messages::text;

fn scope_text(scope: &str) -> (String, Option<String>) {
    let key = format!("scope_{scope}");
    match text(&key) {
        "" => (text("scope_other").to_string(), Some(scope.to_string())),
        known => (known.to_string(), None),
    }
}

/// `GET /consent?req=…`.
#[utoipa::path(get, operation_id = "consent_show", path = "/consent", tag = "browser", params(("req" = String, Query)), responses((status = 200, description = "HTML consent form (decision=allow|deny)")))]
pub async fn show(b: Browser, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(id) = q.get("req") else {
        return b.message(
            StatusCode::BAD_REQUEST,
            "error_title",
            "the consent page needs a request",
        );
    };
    let p = match b.app().domain.pending_authorization(id).await {
        Ok(p) => p,
        Err(e) => return flow_error(&b, e),
    };
    let browser = match b.session().await {
        Ok(Some(s)) => s,
        Ok(None) => return redirect(StatusCode::FOUND, &format!("/login?req={}", encode(id)), &[]),
        Err(res) => return res,
    };
    let scopes: Vec<_> = p
        .request
        .scopes
        .iter()
        .map(|s| {
            let (text, raw) = scope_text(s);
            context! { text => text, raw => raw }
        })
        .collect();
    let user = &browser.user;
    b.page_in(
        p.request.ui_locales.as_deref(),
        StatusCode::OK,
        "consent.html",
        context! {
            req => p.id,
            client_name => p.client_name,
            user_label => user.username.clone().unwrap_or_else(|| user.email.clone()),
            scopes => scopes,
        },
        &targets(&p.request.redirect_uri),
    )
}

/// `POST /consent`: `decision=allow` issues the code, anything else denies.
#[utoipa::path(post, operation_id = "consent_submit", path = "/consent", tag = "browser", request_body(content_type = "application/x-www-form-urlencoded", content = String, description = "decision, req, csrf_token"), responses((status = 303, description = "back to the client with a code or access_denied"), (status = 403, description = "CSRF token missing")))]
pub async fn submit(b: Browser, req: Request) -> Response {
    let form = match b.form(req).await {
        Ok(f) => f,
        Err(res) => return res,
    };
    let Some(id) = form.get("req") else {
        return b.message(
            StatusCode::BAD_REQUEST,
            "error_title",
            "the consent form needs a request",
        );
    };
    let browser = match b.session().await {
        Ok(Some(s)) => s,
        Ok(None) => return redirect(StatusCode::SEE_OTHER, &format!("/login?req={}", encode(id)), &[]),
        Err(res) => return res,
    };
    let allow = form.get("decision") == Some("allow");
    match b.app().domain.decide_consent(id, &browser, allow, &b.meta).await {
        Ok(url) => redirect(StatusCode::SEE_OTHER, &url, &[]),
        Err(e) => flow_error(&b, e),
    }
}
