//! `/login` and `/signup`: the hosted sign-in and sign-up forms.

use std::collections::HashMap;

use axum::extract::{Query, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use minijinja::context;

use super::browser::{Browser, PageForm, SESSION_COOKIE, cookie, redirect};
use super::flow::{flow_error, next_step, targets};
use super::messages::text;
use crate::config::Secret;
use crate::domain::DomainError;
use crate::domain::authorize::PendingRequest;
use crate::domain::sso::NewBrowserSession;
use crate::domain::users::{DEFAULT_TENANT, Registration};

type QueryMap = Query<HashMap<String, String>>;

async fn pending(b: &Browser, req: Option<&str>) -> Result<Option<PendingRequest>, Response> {
    match req {
        None => Ok(None),
        Some(id) => b
            .app()
            .domain
            .pending_authorization(id)
            .await
            .map(Some)
            .map_err(|e| flow_error(b, e)),
    }
}

fn login_page(
    b: &Browser,
    status: StatusCode,
    p: Option<&PendingRequest>,
    username: Option<&str>,
    error: Option<&str>,
) -> Response {
    let form_targets = p.map(|p| targets(&p.request.redirect_uri)).unwrap_or_default();
    b.page_in(
        p.and_then(|p| p.request.ui_locales.as_deref()),
        status,
        "login.html",
        context! {
            req => p.map(|p| p.id.clone()),
            client_name => p.map(|p| p.client_name.clone()),
            username => username.map(str::to_string).or_else(|| p.and_then(|p| p.request.login_hint.clone())),
            error => error,
        },
        &form_targets,
    )
}

/// `GET /login`.
#[utoipa::path(get, path = "/login", tag = "browser", params(("req" = Option<String>, Query, description = "pending authorization request")), responses((status = 200, description = "HTML sign-in form (username, password)")))]
pub async fn show_login(b: Browser, Query(q): QueryMap) -> Response {
    let p = match pending(&b, q.get("req").map(String::as_str)).await {
        Ok(p) => p,
        Err(res) => return res,
    };
    if p.is_none() {
        match b.session().await {
            Ok(Some(_)) => return redirect(StatusCode::FOUND, "/account", &[]),
            Ok(None) => {}
            Err(res) => return res,
        }
    }
    login_page(&b, StatusCode::OK, p.as_ref(), None, None)
}

/// The answer to a sign-in form that failed: the form again, with why.
fn refused(b: &Browser, p: Option<&PendingRequest>, username: &str, e: DomainError) -> Response {
    let (status, key, retry) = match e {
        DomainError::InvalidCredentials | DomainError::Validation(_) => {
            (StatusCode::UNAUTHORIZED, "bad_credentials", None)
        }
        DomainError::AccountLocked { retry_after } => (StatusCode::FORBIDDEN, "locked", Some(retry_after)),
        DomainError::AccountDisabled => (StatusCode::FORBIDDEN, "disabled", None),
        DomainError::Throttled { retry_after } => (StatusCode::TOO_MANY_REQUESTS, "throttled", Some(retry_after)),
        other => return b.failure(&other.to_string()),
    };
    let mut res = login_page(b, status, p, Some(username), Some(text(key)));
    if let Some(secs) = retry
        && let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string())
    {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// After a sign-in or sign-up: set the cookie and continue the flow (or go to `/account`).
async fn signed_in(b: &Browser, p: Option<PendingRequest>, new: NewBrowserSession) -> Response {
    let max_age = b.app().domain.config.ui.sso_max_ttl.as_secs();
    let set: Vec<String> = new
        .cookie
        .iter()
        .map(|c| cookie(SESSION_COOKIE, c.expose(), "Lax", Some(max_age)))
        .collect();
    let Some(p) = p else {
        return redirect(StatusCode::SEE_OTHER, "/account", &set);
    };
    let domain = &b.app().domain;
    if let Err(e) = domain.note_sign_in(&p.id, &new.current.session.id).await {
        return b.failure(&e.to_string());
    }
    let next = domain.resume_authorization(&p.id, Some(&new.current)).await;
    next_step(b, StatusCode::SEE_OTHER, next, &set)
}

/// `POST /login`: the same password check, limits and lockout as the API.
#[utoipa::path(post, path = "/login", tag = "browser", request_body(content_type = "application/x-www-form-urlencoded", content = String, description = "username, password, csrf_token, req"), responses((status = 303, description = "signed in: on to the client, consent or /account"), (status = 401, description = "HTML form with an error"), (status = 403, description = "locked, disabled, or CSRF token missing"), (status = 429, description = "throttled")))]
pub async fn submit_login(b: Browser, req: Request) -> Response {
    let form: PageForm = match b.form(req).await {
        Ok(f) => f,
        Err(res) => return res,
    };
    let p = match pending(&b, form.get("req")).await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let username = form.text("username");
    let password = Secret::new(form.text("password"));
    let tenant = p.as_ref().map_or(DEFAULT_TENANT, |p| p.tenant.as_str());
    if username.is_empty() || password.expose().is_empty() || username.chars().count() > 320 {
        return refused(&b, p.as_ref(), &username, DomainError::InvalidCredentials);
    }
    let current = match b.session().await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let signed = b
        .app()
        .domain
        .browser_sign_in(tenant, &username, &password, current.as_ref(), &b.meta)
        .await;
    match signed {
        Ok(new) => signed_in(&b, p, new).await,
        Err(e) => refused(&b, p.as_ref(), &username, e),
    }
}

fn signup_page(
    b: &Browser,
    status: StatusCode,
    p: Option<&PendingRequest>,
    form: Option<&PageForm>,
    errors: &[String],
) -> Response {
    let form_targets = p.map(|p| targets(&p.request.redirect_uri)).unwrap_or_default();
    b.page_in(
        p.and_then(|p| p.request.ui_locales.as_deref()),
        status,
        "signup.html",
        context! {
            req => p.map(|p| p.id.clone()),
            client_name => p.map(|p| p.client_name.clone()),
            email => form.map(|f| f.text("email")),
            username => form.map(|f| f.text("username")),
            errors => errors.to_vec(),
        },
        &form_targets,
    )
}

/// `GET /signup`.
#[utoipa::path(get, path = "/signup", tag = "browser", responses((status = 200, description = "HTML sign-up form (email, username, password)"), (status = 404, description = "sign-up is off")))]
pub async fn show_signup(b: Browser, Query(q): QueryMap) -> Response {
    if !b.app().domain.config.ui.signup_enabled {
        return b.message(StatusCode::NOT_FOUND, "sign_up_title", text("signup_disabled"));
    }
    match pending(&b, q.get("req").map(String::as_str)).await {
        Ok(p) => signup_page(&b, StatusCode::OK, p.as_ref(), None, &[]),
        Err(res) => res,
    }
}

/// `POST /signup`: the same rules and limits as `POST /auth/register`, then signed in.
#[utoipa::path(post, path = "/signup", tag = "browser", request_body(content_type = "application/x-www-form-urlencoded", content = String, description = "email, username, password, csrf_token, req"), responses((status = 303, description = "account created and signed in"), (status = 403, description = "CSRF token missing"), (status = 422, description = "HTML form with errors")))]
pub async fn submit_signup(b: Browser, req: Request) -> Response {
    if !b.app().domain.config.ui.signup_enabled {
        return b.message(StatusCode::NOT_FOUND, "sign_up_title", text("signup_disabled"));
    }
    let form = match b.form(req).await {
        Ok(f) => f,
        Err(res) => return res,
    };
    let p = match pending(&b, form.get("req")).await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let domain = &b.app().domain;
    let registration = Registration {
        email: form.text("email"),
        password: Secret::new(form.text("password")),
        username: form.get("username").map(str::to_string),
        first_name: None,
        last_name: None,
        tenant: p.as_ref().map_or(DEFAULT_TENANT.to_string(), |p| p.tenant.clone()),
    };
    let created = async {
        if let Some(ip) = &b.meta.ip {
            domain.limit_signup(ip).await?;
        }
        domain.register(registration, &b.meta).await
    }
    .await;
    let errors: Vec<String> = match created {
        Ok(user) => {
            if let Ok(Some(old)) = b.session().await
                && let Err(e) = domain.end_browser_session(&old.session, "replaced", &b.meta).await
            {
                return b.failure(&e.to_string());
            }
            return match domain.open_browser_session(user, vec!["pwd".into()], &b.meta).await {
                Ok(new) => signed_in(&b, p, new).await,
                Err(e) => b.failure(&e.to_string()),
            };
        }
        Err(DomainError::Validation(errs)) => errs
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect(),
        Err(DomainError::EmailTaken) => vec![text("email_taken").into()],
        Err(DomainError::UsernameTaken) => vec![text("username_taken").into()],
        Err(DomainError::Throttled { .. }) => vec![text("throttled").into()],
        Err(e) => return b.failure(&e.to_string()),
    };
    let status = if errors.first().map(String::as_str) == Some(text("throttled")) {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    signup_page(&b, status, p.as_ref(), Some(&form), &errors)
}
