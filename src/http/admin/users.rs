//! `/admin/users/…` handlers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminCaller, ListQuery, location};
use crate::config::Secret;
use crate::domain::admin::Page;
use crate::domain::admin::users::{AdminUserView, UserQuery};
use crate::domain::selfservice::SessionView;
use crate::domain::users::{Registration, UserView};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::openapi::{Problem, Revoked};
use crate::http::users::double_option;
use crate::storage::audit::EventRecord;
use crate::storage::users::ProfileChange;

/// `POST /admin/users` body: the sign-up body plus optional `roles` and `tenant`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    email: String,
    password: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    tenant: Option<String>,
}

/// `PATCH /admin/users/{id}` body: profile fields and `email_verified`; `null` clears a field.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUserBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    username: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    locale: Option<Option<String>>,
    #[serde(default)]
    email_verified: Option<bool>,
}

/// `POST /admin/users/{id}/roles` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    role: String,
}

/// Lists users (`q`, `role`, `status`, `tenant`, `limit`, `cursor`).
#[utoipa::path(get, path = "/admin/users", tag = "admin", operation_id = "admin_list_users", params(("limit" = Option<String>, Query, description = "Page size, 1–200 (default 50, also when empty)", pattern = "^\\s*[0-9]*\\s*$"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"), ("tenant" = Option<String>, Query, description = "Tenant (default: the admin's own, or all for default-tenant admins)"), ("q" = Option<String>, Query, description = "Search in email, username and names"), ("role" = Option<String>, Query, description = "Only users with this role"), ("status" = Option<String>, Query, description = "`active` or `disabled`")), responses((status = 200, description = "One page of users", body = Page<UserView>)), security(("bearer" = [])))]
pub async fn list(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<UserView>>, ApiError> {
    let page = q.page()?;
    let filter = UserQuery {
        tenant: q.tenant,
        q: q.q,
        role: q.role,
        status: q.status,
    };
    Ok(Json(app.domain.admin_list_users(&c.admin, filter, &page).await?))
}

/// Creates a user with any existing roles; 201 + `Location`.
#[utoipa::path(post, path = "/admin/users", tag = "admin", operation_id = "admin_create_user", request_body = CreateUserBody, responses((status = 201, description = "Created; `Location` names it", body = UserView), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn create(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiJson(body): ApiJson<CreateUserBody>,
) -> Result<Response, ApiError> {
    let r = Registration {
        email: body.email,
        password: Secret::new(body.password),
        username: body.username.filter(|u| !u.trim().is_empty()),
        first_name: body.first_name,
        last_name: body.last_name,
        tenant: String::new(),
    };
    let user = app
        .domain
        .admin_create_user(&c.admin, r, body.roles, body.tenant.as_deref(), &c.meta)
        .await?;
    let headers = location(format!("/admin/users/{}", user.id));
    Ok((StatusCode::CREATED, headers, Json(UserView::from(user))).into_response())
}

/// One user, with its lock state.
#[utoipa::path(get, path = "/admin/users/{id}", tag = "admin", operation_id = "admin_get_user", params(("id" = String, Path)), responses((status = 200, description = "The user and its lock state", body = AdminUserView), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn get_one(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AdminUserView>, ApiError> {
    let user = app.domain.admin_user(&c.admin, &id).await?;
    Ok(Json(app.domain.admin_user_view(user).await))
}

/// Changes profile fields and `email_verified`.
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", operation_id = "admin_patch_user", params(("id" = String, Path)), request_body = PatchUserBody, responses((status = 200, description = "The changed user", body = UserView), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn patch(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchUserBody>,
) -> Result<Json<UserView>, ApiError> {
    let user = app.domain.admin_user(&c.admin, &id).await?;
    let change = ProfileChange {
        email: body.email,
        username: body.username,
        first_name: body.first_name,
        last_name: body.last_name,
        display_name: body.display_name,
        locale: body.locale,
        email_verified: body.email_verified,
    };
    let user = app.domain.admin_update_user(&user, change, &c.meta).await?;
    Ok(Json(UserView::from(user)))
}

/// Deletes a user; their sessions end, the audit trail stays.
#[utoipa::path(delete, path = "/admin/users/{id}", tag = "admin", operation_id = "admin_delete_user", params(("id" = String, Path)), responses((status = 204, description = "Deleted; its sessions ended"), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn remove(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let user = app.domain.admin_user(&c.admin, &id).await?;
    app.domain.admin_delete_user(&user, &c.meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Grants an existing role of the user's tenant.
#[utoipa::path(post, path = "/admin/users/{id}/roles", tag = "admin", operation_id = "admin_grant_role", params(("id" = String, Path)), request_body = RoleBody, responses((status = 200, description = "The user with the role", body = UserView), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn grant_role(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<Json<UserView>, ApiError> {
    let user = app.domain.admin_user(&c.admin, &id).await?;
    let user = app.domain.grant_role(&user, &body.role, &c.meta).await?;
    Ok(Json(UserView::from(user)))
}

/// Takes a role away.
#[utoipa::path(delete, path = "/admin/users/{id}/roles/{role}", tag = "admin", operation_id = "admin_revoke_role", params(("id" = String, Path), ("role" = String, Path)), responses((status = 200, description = "The user without the role", body = UserView), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn revoke_role(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath((id, role)): ApiPath<(String, String)>,
) -> Result<Json<UserView>, ApiError> {
    let user = app.domain.admin_user(&c.admin, &id).await?;
    let user = app.domain.revoke_role(&user, &role, &c.meta).await?;
    Ok(Json(UserView::from(user)))
}

/// Locks password logins for the longest lockout period.
#[utoipa::path(post, path = "/admin/users/{id}/lock", tag = "admin", operation_id = "admin_lock_user", params(("id" = String, Path)), responses((status = 200, description = "The locked user", body = AdminUserView), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn lock(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AdminUserView>, ApiError> {
    let user = app.domain.admin_user(&c.admin, &id).await?;
    app.domain.admin_lock(&user, &c.meta).await?;
    Ok(Json(app.domain.admin_user_view(user).await))
}

/// Lifts a lock.
#[utoipa::path(post, path = "/admin/users/{id}/unlock", tag = "admin", operation_id = "admin_unlock_user", params(("id" = String, Path)), responses((status = 200, description = "The unlocked user", body = AdminUserView), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn unlock(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AdminUserView>, ApiError> {
    let user = app.domain.admin_user(&c.admin, &id).await?;
    app.domain.admin_unlock(&user, &c.meta).await?;
    Ok(Json(app.domain.admin_user_view(user).await))
}

/// Disables the account and ends its sessions.
#[utoipa::path(post, path = "/admin/users/{id}/disable", tag = "admin", operation_id = "admin_disable_user", params(("id" = String, Path)), responses((status = 200, description = "The disabled user", body = AdminUserView), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn disable(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AdminUserView>, ApiError> {
    set_status(app, c, id, true).await
}

/// Re-enables the account.
#[utoipa::path(post, path = "/admin/users/{id}/enable", tag = "admin", operation_id = "admin_enable_user", params(("id" = String, Path)), responses((status = 200, description = "The enabled user", body = AdminUserView), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn enable(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AdminUserView>, ApiError> {
    set_status(app, c, id, false).await
}

async fn set_status(
    app: AppState,
    c: AdminCaller,
    id: String,
    disabled: bool,
) -> Result<Json<AdminUserView>, ApiError> {
    let user = app.domain.admin_user(&c.admin, &id).await?;
    let user = app.domain.admin_set_status(&user, disabled, &c.meta).await?;
    Ok(Json(app.domain.admin_user_view(user).await))
}

/// The user's live sessions, newest first.
#[utoipa::path(get, path = "/admin/users/{id}/sessions", tag = "admin", operation_id = "admin_user_sessions", params(("limit" = Option<String>, Query, description = "Page size, 1–200 (default 50, also when empty)", pattern = "^\\s*[0-9]*\\s*$"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"), ("id" = String, Path)), responses((status = 200, description = "One page of live sessions, newest first", body = Page<SessionView>), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn sessions(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<SessionView>>, ApiError> {
    let page = q.page()?;
    let user = app.domain.admin_user(&c.admin, &id).await?;
    Ok(Json(app.domain.admin_sessions(&user, &page).await?))
}

/// Ends every session of the user.
#[utoipa::path(delete, path = "/admin/users/{id}/sessions", tag = "admin", operation_id = "admin_revoke_user_sessions", params(("id" = String, Path)), responses((status = 200, description = "How many sessions ended", body = Revoked), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn revoke_sessions(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let user = app.domain.admin_user(&c.admin, &id).await?;
    let n = app.domain.admin_revoke_sessions(&user, &c.meta).await?;
    Ok(Json(json!({ "revoked": n })))
}

/// Audit events about the user, newest first.
#[utoipa::path(get, path = "/admin/users/{id}/events", tag = "admin", operation_id = "admin_user_events", params(("limit" = Option<String>, Query, description = "Page size, 1–200 (default 50, also when empty)", pattern = "^\\s*[0-9]*\\s*$"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"), ("id" = String, Path)), responses((status = 200, description = "One page of audit events, newest first", body = Page<EventRecord>), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn events(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<EventRecord>>, ApiError> {
    let page = q.page()?;
    let user = app.domain.admin_user(&c.admin, &id).await?;
    Ok(Json(app.domain.admin_user_events(&user, &page).await?))
}
