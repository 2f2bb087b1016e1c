//! `/admin/…`: the operator API. Every route needs a user access token whose user holds the
//! `admin` role as stored now; the domain decides which tenants the admin sees.

pub(super) mod resources;
pub(super) mod users;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::routing::{delete, get, post};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, ClientMeta};
use crate::domain::Meta;
use crate::domain::admin::{Admin, PageRequest};

/// The admin routes, merged into the main router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(users::list).post(users::create))
        .route(
            "/admin/users/{id}",
            get(users::get_one).patch(users::patch).delete(users::remove),
        )
        .route("/admin/users/{id}/roles", post(users::grant_role))
        .route("/admin/users/{id}/roles/{role}", delete(users::revoke_role))
        .route("/admin/users/{id}/lock", post(users::lock))
        .route("/admin/users/{id}/unlock", post(users::unlock))
        .route("/admin/users/{id}/disable", post(users::disable))
        .route("/admin/users/{id}/enable", post(users::enable))
        .route(
            "/admin/users/{id}/sessions",
            get(users::sessions).delete(users::revoke_sessions),
        )
        .route("/admin/users/{id}/events", get(users::events))
        .route("/admin/roles", get(resources::list_roles).post(resources::create_role))
        .route("/admin/roles/{name}", delete(resources::delete_role))
        .route(
            "/admin/clients",
            get(resources::list_clients).post(resources::create_client),
        )
        .route(
            "/admin/clients/{client_id}",
            get(resources::get_client)
                .patch(resources::patch_client)
                .delete(resources::delete_client),
        )
        .route("/admin/clients/{client_id}/secret", post(resources::rotate_secret))
        .route(
            "/admin/tenants",
            get(resources::list_tenants).post(resources::create_tenant),
        )
        .route(
            "/admin/tenants/{id}",
            get(resources::get_tenant)
                .patch(resources::patch_tenant)
                .delete(resources::delete_tenant),
        )
        .route("/admin/keys", get(resources::list_keys))
        .route("/admin/keys/rotate", post(resources::rotate_keys))
        .route("/admin/keys/{kid}/revoke", post(resources::revoke_key))
        .route("/admin/events", get(resources::events))
}

/// An authenticated admin and the audit metadata of the request (actor set).
pub struct AdminCaller {
    /// Who, and which tenants they see.
    pub admin: Admin,
    /// IP, user agent and actor for audit events.
    pub meta: Meta,
}

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let AuthUser(principal) = AuthUser::from_request_parts(parts, state).await?;
        let ClientMeta(meta) = ClientMeta::from_request_parts(parts, state).await?;
        let admin = Admin::from_principal(&principal)?;
        Ok(AdminCaller {
            meta: admin.meta(&meta),
            admin,
        })
    }
}

/// Query parameters of the listings (each listing reads the ones it knows).
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Tenant to look at (default: all for default-tenant admins, else the admin's own).
    pub tenant: Option<String>,
    /// Search text (users).
    pub q: Option<String>,
    /// Role filter (users).
    pub role: Option<String>,
    /// Status filter (users).
    pub status: Option<String>,
}

impl ListQuery {
    /// The page asked for.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::parse(self.limit.as_deref(), self.cursor.as_deref())?)
    }
}

/// `Location` of a created resource.
fn location(path: String) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&path) {
        headers.insert(header::LOCATION, v);
    }
    headers
}
