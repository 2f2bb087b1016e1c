//! First-party JSON endpoints over the same token service (`/auth/*`), through the built-in
//! public client: they issue exactly what `/oauth/token` would.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, AuthUser, ClientMeta, CredentialsJson};
use super::oauth::no_store;
use crate::config::Secret;
use crate::domain::DomainError;
use crate::domain::clients::FIRST_PARTY_CLIENT;
use crate::domain::tokens::{TokenResponse, parse_scope};
use crate::domain::users::{DEFAULT_TENANT, UserView};
use crate::storage::clients::ClientRecord;

/// `POST /auth/login` body: `email` or `username`, and `password`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Email (or use `username`).
    #[serde(default)]
    pub email: Option<String>,
    /// Username (or use `email`).
    #[serde(default)]
    pub username: Option<String>,
    /// Password.
    pub password: String,
    /// Space-separated scopes (default: all the first-party client allows).
    #[serde(default)]
    pub scope: Option<String>,
    /// Tenant (default `default`).
    #[serde(default)]
    pub tenant: Option<String>,
}

/// `POST /auth/refresh` and `/auth/logout` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    /// The refresh token.
    pub refresh_token: String,
    /// Narrower scope for the new access token.
    #[serde(default)]
    pub scope: Option<String>,
}

async fn first_party(app: &AppState) -> Result<ClientRecord, ApiError> {
    app.domain
        .store
        .client(FIRST_PARTY_CLIENT)
        .await
        .map_err(DomainError::from)?
        .ok_or_else(|| DomainError::Internal("the built-in client is missing".into()).into())
}

fn scope(raw: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
    parse_scope(raw).map_err(|e| DomainError::InvalidScope(e.description).into())
}

/// Logs in by email or username; 401 wrong credentials, 403 locked or disabled, 429 throttled.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = TokenResponse), (status = 401), (status = 403), (status = 429)))]
pub async fn login(
    State(app): State<AppState>,
    ClientMeta(meta): ClientMeta,
    CredentialsJson(body): CredentialsJson<LoginBody>,
) -> Result<Response, ApiError> {
    let login = match (&body.email, &body.username) {
        (Some(e), None) => e.clone(),
        (None, Some(u)) => u.clone(),
        _ => {
            return Err(DomainError::field("email", "email_or_username", "give either email or username").into());
        }
    };
    let client = first_party(&app).await?;
    let tenant = body.tenant.as_deref().unwrap_or(DEFAULT_TENANT);
    let password = Secret::new(body.password);
    let tokens = app
        .domain
        .password_grant(&client, tenant, &login, &password, scope(body.scope.as_deref())?, &meta)
        .await?;
    super::metrics::token_issued("password");
    Ok(no_store(Json(tokens)))
}

/// Rotates a refresh token; 401 when it is invalid, expired, revoked or reused.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, body = TokenResponse), (status = 401), (status = 403)))]
pub async fn refresh(
    State(app): State<AppState>,
    ClientMeta(meta): ClientMeta,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<Response, ApiError> {
    let client = first_party(&app).await?;
    let scope = scope(body.scope.as_deref())?;
    let tokens = app
        .domain
        .refresh_grant(&client, &body.refresh_token, scope, &meta)
        .await?;
    super::metrics::token_issued("refresh_token");
    Ok(no_store(Json(tokens)))
}

/// Ends the session of a refresh token (204, also for tokens already ended).
#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = RefreshBody, responses((status = 204)))]
pub async fn logout(
    State(app): State<AppState>,
    ClientMeta(meta): ClientMeta,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<Response, ApiError> {
    app.domain
        .revoke_refresh_token(Some(FIRST_PARTY_CLIENT), &body.refresh_token, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The caller's user.
#[utoipa::path(get, path = "/auth/me", tag = "auth", responses((status = 200, body = UserView), (status = 401)),
    security(("bearer" = [])))]
pub async fn me(AuthUser(p): AuthUser) -> Json<UserView> {
    Json(UserView::from(p.user))
}
