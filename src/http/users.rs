//! Sign-up, profile and preferences handlers.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ClientMeta};
use crate::config::Secret;
use crate::domain::users::{DEFAULT_TENANT, Registration, UserView};

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
    #[schema(value_type = Option<Object>)]
    pub role: Option<serde_json::Value>,
    /// Ignored, like `role`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
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
        tracing::info!("sign-up asked for a role; ignored, sign-up grants only the default role");
    }
    let user = app.domain.register(body.into_registration(), &meta).await?;
    let mut headers = HeaderMap::new();
    if let Ok(loc) = HeaderValue::from_str(&format!("/admin/users/{}", user.id)) {
        headers.insert(header::LOCATION, loc);
    }
    Ok((StatusCode::CREATED, headers, Json(UserView::from(user))).into_response())
}
