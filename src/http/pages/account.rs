//! `/account`: the signed-in user's profile, sessions, consents and password.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;

use super::browser::{Browser, redirect};
use super::messages::text;
use crate::config::Secret;
use crate::domain::DomainError;
use crate::domain::sso::BrowserSession;
use crate::storage::users::ProfileChange;

async fn signed_in(b: &Browser) -> Result<BrowserSession, Response> {
    match b.session().await? {
        Some(s) => Ok(s),
        None => Err(redirect(StatusCode::FOUND, "/login", &[])),
    }
}

async fn render(
    b: &Browser,
    s: &BrowserSession,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let domain = &b.app().domain;
    let p = s.principal();
    let sessions = match domain.my_sessions(&p).await {
        Ok(v) => v,
        Err(e) => return b.failure(&e.to_string()),
    };
    let consents = match domain.consents(&s.user).await {
        Ok(v) => v,
        Err(e) => return b.failure(&e.to_string()),
    };
    // Sessions name their client by its display name, looked up once per client.
    let mut names = std::collections::HashMap::new();
    for v in &sessions {
        if !names.contains_key(&v.client_id)
            && let Ok(Some(c)) = domain.store.client(&v.client_id).await
        {
            names.insert(v.client_id.clone(), c.name);
        }
    }
    let sessions: Vec<_> = sessions
        .into_iter()
        .map(|v| {
            let label = if v.client_id == crate::domain::clients::FIRST_PARTY_CLIENT && v.scope.is_empty() {
                text("session_browser").to_string()
            } else {
                names.get(&v.client_id).cloned().unwrap_or_else(|| v.client_id.clone())
            };
            context! { id => v.id, label => label, current => v.current, created_at => v.created_at.get(..16).map(|t| t.replace('T', " ")), ip => v.ip }
        })
        .collect();
    let consents: Vec<_> = consents
        .into_iter()
        .map(|c| context! { client_id => c.client_id, client_name => c.client_name, scopes => c.scopes.join(", ") })
        .collect();
    let u = &s.user;
    b.page(
        status,
        "account.html",
        context! {
            email => u.email.clone(), first_name => u.first_name.clone(), last_name => u.last_name.clone(),
            display_name => u.display_name.clone(),
            sessions => sessions, consents => consents, notice => notice, error => error,
        },
        &[],
    )
}

/// `GET /account`.
#[utoipa::path(get, operation_id = "account_show", path = "/account", tag = "browser", responses((status = 200, description = "HTML account page"), (status = 302, description = "not signed in: to /login")))]
pub async fn show(b: Browser) -> Response {
    match signed_in(&b).await {
        Ok(s) => render(&b, &s, StatusCode::OK, None, None).await,
        Err(res) => res,
    }
}

async fn form_and_session(b: &Browser, req: Request) -> Result<(super::browser::PageForm, BrowserSession), Response> {
    let form = b.form(req).await?;
    let s = signed_in(b).await?;
    Ok((form, s))
}

/// `POST /account/profile`.
#[utoipa::path(post, operation_id = "account_profile", path = "/account/profile", tag = "browser", request_body(content_type = "application/x-www-form-urlencoded", content = String), responses((status = 200, description = "HTML account page")))]
pub async fn profile(b: Browser, req: Request) -> Response {
    let (form, s) = match form_and_session(&b, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let field = |n: &str| Some(form.get(n).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()));
    let change = ProfileChange {
        first_name: field("first_name"),
        last_name: field("last_name"),
        display_name: field("display_name"),
        ..ProfileChange::default()
    };
    let p = s.principal();
    match b.app().domain.update_user(&s.user, change, &p.meta(&b.meta)).await {
        Ok(user) => {
            let s = BrowserSession { user, ..s };
            render(&b, &s, StatusCode::OK, Some(text("saved")), None).await
        }
        Err(DomainError::Validation(errs)) => {
            let why: Vec<String> = errs
                .into_iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            render(&b, &s, StatusCode::UNPROCESSABLE_ENTITY, None, Some(&why.join("; "))).await
        }
        Err(e) => b.failure(&e.to_string()),
    }
}

/// `POST /account/password`: the current password is checked under the lockout rules.
#[utoipa::path(post, operation_id = "account_password", path = "/account/password", tag = "browser", request_body(content_type = "application/x-www-form-urlencoded", content = String), responses((status = 200, description = "HTML account page"), (status = 401, description = "wrong current password")))]
pub async fn password(b: Browser, req: Request) -> Response {
    let (form, s) = match form_and_session(&b, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let current = Secret::new(form.text("current_password"));
    let new = Secret::new(form.text("new_password"));
    match b
        .app()
        .domain
        .change_password(&s.principal(), &current, &new, &b.meta)
        .await
    {
        Ok(()) => render(&b, &s, StatusCode::OK, Some(text("password_changed")), None).await,
        Err(DomainError::InvalidCredentials) => {
            render(&b, &s, StatusCode::UNAUTHORIZED, None, Some(text("wrong_password"))).await
        }
        Err(DomainError::AccountLocked { .. }) => {
            render(&b, &s, StatusCode::FORBIDDEN, None, Some(text("locked"))).await
        }
        Err(DomainError::Throttled { .. }) => {
            render(&b, &s, StatusCode::TOO_MANY_REQUESTS, None, Some(text("throttled"))).await
        }
        Err(DomainError::Validation(errs)) => {
            let why: Vec<String> = errs.into_iter().map(|e| e.message).collect();
            render(&b, &s, StatusCode::UNPROCESSABLE_ENTITY, None, Some(&why.join("; "))).await
        }
        Err(e) => b.failure(&e.to_string()),
    }
}

/// `POST /account/sessions/end`: ends one of the user's sessions.
#[utoipa::path(post, operation_id = "account_end_session", path = "/account/sessions/end", tag = "browser", request_body(content_type = "application/x-www-form-urlencoded", content = String), responses((status = 303, description = "back to /account")))]
pub async fn end_session(b: Browser, req: Request) -> Response {
    let (form, s) = match form_and_session(&b, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let id = form.text("id");
    match b.app().domain.end_my_session(&s.principal(), &id, &b.meta).await {
        Ok(()) | Err(DomainError::NotFound(_)) => redirect(StatusCode::SEE_OTHER, "/account", &[]),
        Err(e) => b.failure(&e.to_string()),
    }
}

/// `POST /account/consents/revoke`: withdraws consent for a client.
#[utoipa::path(post, operation_id = "account_revoke_consent", path = "/account/consents/revoke", tag = "browser", request_body(content_type = "application/x-www-form-urlencoded", content = String), responses((status = 303, description = "back to /account")))]
pub async fn revoke_consent(b: Browser, req: Request) -> Response {
    let (form, s) = match form_and_session(&b, req).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let client_id = form.text("client_id");
    match b.app().domain.revoke_consent(&s.user, &client_id, &b.meta).await {
        Ok(()) | Err(DomainError::NotFound(_)) => redirect(StatusCode::SEE_OTHER, "/account", &[]),
        Err(e) => b.failure(&e.to_string()),
    }
}
