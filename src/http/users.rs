//! Sign-up, profile and preferences handlers.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, AuthUser, ClientMeta};
use crate::config::Secret;
use crate::domain::selfservice::SessionView;
use crate::domain::users::{DEFAULT_TENANT, Registration, UserView};
use crate::storage::users::ProfileChange;

/// `POST /auth/register` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// Email address.
    pub email: String,
    /// Password, 8–128 characters.
    pub password: String,
    /// Optional username.
    #[serde(default)]
    pub username: Option<String>,
    /// Optional given name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Optional family name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Tenant to join (default `default`).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Accepted for compatibility with older clients and ignored: sign-up never takes a role.
    #[serde(default)]
    #[schema(value_type = Option<serde_json::Value>)]
    pub role: Option<serde_json::Value>,
    /// Ignored, like `role`.
    #[serde(default)]
    #[schema(value_type = Option<serde_json::Value>)]
    pub roles: Option<serde_json::Value>,
}

impl std::fmt::Debug for RegisterBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterBody")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

impl RegisterBody {
    /// Whether the caller tried to choose a role (which sign-up never honours).
    pub fn asked_for_role(&self) -> bool {
        self.role.is_some() || self.roles.is_some()
    }

    /// The domain registration.
    pub fn into_registration(self) -> Registration {
        Registration {
            email: self.email,
            password: Secret::new(self.password),
            username: self.username.filter(|u| !u.trim().is_empty()),
            first_name: self.first_name,
            last_name: self.last_name,
            tenant: self.tenant.unwrap_or_else(|| DEFAULT_TENANT.to_string()),
        }
    }
}

/// Creates an account with the `customer` role.
#[utoipa::path(post, path = "/auth/register", tag = "users", request_body = RegisterBody,
    responses((status = 201, body = UserView), (status = 409, description = "email or username taken"),
              (status = 422, description = "validation failed")))]
pub async fn register(
    State(app): State<AppState>,
    ClientMeta(meta): ClientMeta,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Response, ApiError> {
    if let Some(ip) = &meta.ip {
        app.domain.limit_signup(ip).await?;
    }
    if body.asked_for_role() {
        tracing::debug!("sign-up asked for a role; ignored, sign-up grants only the default role");
    }
    let user = app.domain.register(body.into_registration(), &meta).await?;
    let mut headers = HeaderMap::new();
    if let Ok(loc) = HeaderValue::from_str(&format!("/admin/users/{}", user.id)) {
        headers.insert(header::LOCATION, loc);
    }
    Ok((StatusCode::CREATED, headers, Json(UserView::from(user))).into_response())
}

/// Absent → `None`, `null` → `Some(None)`, value → `Some(Some(v))`.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /users/me` body; `null` clears a field.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    /// New email (verification resets).
    #[serde(default)]
    pub email: Option<String>,
    /// New username.
    #[serde(default, deserialize_with = "double_option")]
    pub username: Option<Option<String>>,
    /// Given name.
    #[serde(default, deserialize_with = "double_option")]
    pub first_name: Option<Option<String>>,
    /// Family name.
    #[serde(default, deserialize_with = "double_option")]
    pub last_name: Option<Option<String>>,
    /// Display name.
    #[serde(default, deserialize_with = "double_option")]
    pub display_name: Option<Option<String>>,
    /// Locale, e.g. `en` or `pt-BR`.
    #[serde(default, deserialize_with = "double_option")]
    pub locale: Option<Option<String>>,
}

impl ProfileBody {
    /// The storage-level change.
    pub fn into_change(self) -> ProfileChange {
        ProfileChange {
            email: self.email,
            username: self.username,
            first_name: self.first_name,
            last_name: self.last_name,
            display_name: self.display_name,
            locale: self.locale,
            email_verified: None,
        }
    }
}

/// The caller's profile.
#[utoipa::path(get, path = "/users/me", tag = "users", responses((status = 200, body = UserView), (status = 401)),
    security(("bearer" = [])))]
pub async fn get_me(AuthUser(p): AuthUser) -> Json<UserView> {
    Json(UserView::from(p.user))
}

/// Updates the caller's profile.
#[utoipa::path(patch, path = "/users/me", tag = "users", request_body = ProfileBody,
    responses((status = 200, body = UserView), (status = 401), (status = 409), (status = 422)), security(("bearer" = [])))]
pub async fn patch_me(
    State(app): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(p): AuthUser,
    ApiJson(body): ApiJson<ProfileBody>,
) -> Result<Json<UserView>, ApiError> {
    let user = app
        .domain
        .update_user(&p.user, body.into_change(), &p.meta(&meta))
        .await?;
    Ok(Json(UserView::from(user)))
}

/// Body that confirms an action with the current password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfirm {
    /// Current password.
    pub password: String,
}

/// Deletes the caller's account (needs the password); sessions end, audit events stay.
#[utoipa::path(delete, path = "/users/me", tag = "users", request_body = PasswordConfirm,
    responses((status = 204), (status = 401),
        (status = 403, description = "Locked after too many wrong passwords", body = super::openapi::Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn delete_me(
    State(app): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(p): AuthUser,
    ApiJson(body): ApiJson<PasswordConfirm>,
) -> Result<StatusCode, ApiError> {
    app.domain.delete_me(&p, &Secret::new(body.password), &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /users/me/password` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// Current password.
    pub current_password: String,
    /// New password, 8–128 characters.
    pub new_password: String,
}

/// Changes the caller's password; every other session ends.
#[utoipa::path(post, path = "/users/me/password", tag = "users", request_body = PasswordChange,
    responses((status = 204), (status = 401),
        (status = 403, description = "Locked after too many wrong passwords", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 422)),
    security(("bearer" = [])))]
pub async fn change_password(
    State(app): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(p): AuthUser,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let (current, new) = (Secret::new(body.current_password), Secret::new(body.new_password));
    app.domain.change_password(&p, &current, &new, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's preferences (a JSON object, `{}` when none are stored).
#[utoipa::path(get, path = "/users/me/preferences", tag = "users", responses((status = 200)), security(("bearer" = [])))]
pub async fn get_preferences(
    State(app): State<AppState>,
    AuthUser(p): AuthUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(app.domain.preferences(&p.user.id).await?))
}

/// Replaces the caller's preferences.
#[utoipa::path(put, path = "/users/me/preferences", tag = "users", request_body = Object,
    responses((status = 200), (status = 422)), security(("bearer" = [])))]
pub async fn put_preferences(
    State(app): State<AppState>,
    AuthUser(p): AuthUser,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(app.domain.set_preferences(&p.user.id, body, false).await?))
}

/// Merges into the caller's preferences (RFC 7396 JSON Merge Patch: `null` removes).
#[utoipa::path(patch, path = "/users/me/preferences", tag = "users", request_body = Object,
    responses((status = 200), (status = 422)), security(("bearer" = [])))]
pub async fn patch_preferences(
    State(app): State<AppState>,
    AuthUser(p): AuthUser,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(app.domain.set_preferences(&p.user.id, body, true).await?))
}

/// The caller's live sessions.
#[utoipa::path(get, path = "/users/me/sessions", tag = "users",
    responses((status = 200, description = "The live sessions, newest first", body = crate::domain::admin::Page<SessionView>)),
    security(("bearer" = [])))]
pub async fn list_sessions(
    State(app): State<AppState>,
    AuthUser(p): AuthUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let items = app.domain.my_sessions(&p).await?;
    Ok(Json(serde_json::json!({ "items": items, "next_cursor": null })))
}

/// Ends every session of the caller except the current one.
#[utoipa::path(delete, path = "/users/me/sessions", tag = "users",
    responses((status = 200, description = "How many sessions ended", body = super::openapi::Revoked)), security(("bearer" = [])))]
pub async fn delete_sessions(
    State(app): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(p): AuthUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    let n = app.domain.end_other_sessions(&p, &meta).await?;
    Ok(Json(serde_json::json!({ "revoked": n })))
}

/// Ends one of the caller's sessions.
#[utoipa::path(delete, path = "/users/me/sessions/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn delete_session(
    State(app): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(p): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.domain.end_my_session(&p, &id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
