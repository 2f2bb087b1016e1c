//! `/password/forgot`, `/password/reset` and `/email/verify`: the pages the recovery and
//! verification mails link to. Links only show a form: a mail scanner that follows a link
//! does not use the token; the button does.

use std::collections::HashMap;

use axum::extract::{Query, Request};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;

use super::browser::Browser;
use super::messages::text;
use crate::config::Secret;
use crate::domain::DomainError;
use crate::domain::recovery::RecoveryError;
use crate::domain::users::DEFAULT_TENANT;

type QueryMap = Query<HashMap<String, String>>;

/// `GET /password/forgot`.
#[utoipa::path(get, path = "/password/forgot", tag = "browser", responses((status = 200, description = "HTML form")))]
pub async fn show_forgot(b: Browser) -> Response {
    b.page(StatusCode::OK, "forgot.html", context! { sent => false }, &[])
}

/// `POST /password/forgot`: the same answer whether or not the account exists.
#[utoipa::path(post, path = "/password/forgot", tag = "browser", request_body(content_type = "application/x-www-form-urlencoded", content = String), responses((status = 200, description = "HTML: a link is on its way if the account exists")))]
pub async fn submit_forgot(b: Browser, req: Request) -> Response {
    let form = match b.form(req).await {
        Ok(f) => f,
        Err(res) => return res,
    };
    let email = form.text("email");
    match b
        .app()
        .domain
        .request_password_reset(DEFAULT_TENANT, &email, &b.meta)
        .await
    {
        Ok(()) | Err(DomainError::Validation(_)) => {
            b.page(StatusCode::OK, "forgot.html", context! { sent => true }, &[])
        }
        Err(DomainError::Throttled { .. }) => b.page(
            StatusCode::TOO_MANY_REQUESTS,
            "forgot.html",
            context! { sent => false, error => text("throttled") },
            &[],
        ),
        Err(e) => b.failure(&e.to_string()),
    }
}

/// `GET /password/reset?token=…`.
#[utoipa::path(get, path = "/password/reset", tag = "browser", params(("token" = String, Query)), responses((status = 200, description = "HTML form")))]
pub async fn show_reset(b: Browser, Query(q): QueryMap) -> Response {
    let token = q.get("token").cloned().unwrap_or_default();
    b.page(StatusCode::OK, "reset.html", context! { token => token }, &[])
}

/// `POST /password/reset`: sets the new password; every session ends.
#[utoipa::path(post, operation_id = "reset_page_submit", path = "/password/reset", tag = "browser", request_body(content_type = "application/x-www-form-urlencoded", content = String), responses((status = 200, description = "HTML: password changed"), (status = 400, description = "invalid or expired token")))]
pub async fn submit_reset(b: Browser, req: Request) -> Response {
    let form = match b.form(req).await {
        Ok(f) => f,
        Err(res) => return res,
    };
    let token = form.text("token");
    let password = Secret::new(form.text("password"));
    match b.app().domain.reset_password(&token, &password, &b.meta).await {
        Ok(()) => b.page(
            StatusCode::OK,
            "message.html",
            context! { title_key => "reset_title", text => text("reset_done"), link => "/login", link_text => text("sign_in_link") },
            &[],
        ),
        Err(RecoveryError::InvalidToken(_)) => b.message(StatusCode::BAD_REQUEST, "reset_title", text("reset_invalid")),
        Err(RecoveryError::Domain(DomainError::Validation(errs))) => {
            let why: Vec<String> = errs.into_iter().map(|e| e.message).collect();
            b.page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "reset.html",
                context! { token => token, error => why.join("; ") },
                &[],
            )
        }
        Err(RecoveryError::Domain(DomainError::Throttled { .. })) => {
            b.message(StatusCode::TOO_MANY_REQUESTS, "reset_title", text("throttled"))
        }
        Err(e) => b.failure(&e.to_string()),
    }
}

/// `GET /email/verify?token=…`.
#[utoipa::path(get, operation_id = "verify_page_show", path = "/email/verify", tag = "browser", params(("token" = String, Query)), responses((status = 200, description = "HTML form")))]
pub async fn show_verify(b: Browser, Query(q): QueryMap) -> Response {
    let token = q.get("token").cloned().unwrap_or_default();
    b.page(StatusCode::OK, "verify.html", context! { token => token }, &[])
}

/// `POST /email/verify`.
#[utoipa::path(post, operation_id = "verify_page_submit", path = "/email/verify", tag = "browser", request_body(content_type = "application/x-www-form-urlencoded", content = String), responses((status = 200, description = "HTML: verified"), (status = 400, description = "invalid or expired token")))]
pub async fn submit_verify(b: Browser, req: Request) -> Response {
    let form = match b.form(req).await {
        Ok(f) => f,
        Err(res) => return res,
    };
    match b.app().domain.verify_email(&form.text("token"), &b.meta).await {
        Ok(_) => b.message(StatusCode::OK, "verify_title", text("verify_done")),
        Err(RecoveryError::InvalidToken(_)) => {
            b.message(StatusCode::BAD_REQUEST, "verify_title", text("verify_invalid"))
        }
        Err(e) => b.failure(&e.to_string()),
    }
}
