//! `/admin/roles`, `/admin/clients`, `/admin/tenants`, `/admin/keys` and `/admin/events` handlers.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{AdminCaller, ListQuery, location};
use crate::domain::admin::Page;
use crate::domain::admin::catalog::{RoleView, TenantView};
use crate::domain::admin::resources::ClientChange;
use crate::domain::clients::{ClientSpec, ClientView};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, parse_json, read_body};
use crate::http::openapi::Problem;
use crate::http::users::double_option;
use crate::keys::KeyInfo;
use crate::storage::audit::EventRecord;

/// `POST /admin/roles` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleBody {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
}

/// `?tenant=` of routes that act in one tenant.
#[derive(Debug, Deserialize)]
pub struct TenantQuery {
    #[serde(default)]
    tenant: Option<String>,
}

/// `POST /admin/clients` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientBody {
    name: String,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    audiences: Vec<String>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    access_token_ttl: Option<i64>,
    #[serde(default)]
    refresh_token_idle_ttl: Option<i64>,
    #[serde(default)]
    refresh_token_max_ttl: Option<i64>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    require_consent: Option<bool>,
    #[serde(default)]
    require_pkce: Option<bool>,
}

/// `PATCH /admin/clients/{client_id}` body; `null` clears a lifetime override.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchClientBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    audiences: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    access_token_ttl: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    refresh_token_idle_ttl: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    refresh_token_max_ttl: Option<Option<i64>>,
    #[serde(default)]
    redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    require_consent: Option<bool>,
    #[serde(default)]
    require_pkce: Option<bool>,
}

/// `POST /admin/tenants` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantBody {
    id: String,
    name: String,
}

/// `PATCH /admin/tenants/{id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTenantBody {
    name: String,
}

/// `POST /admin/keys/rotate` body (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    #[serde(default)]
    immediate: bool,
}

/// Roles of a tenant.
#[utoipa::path(get, path = "/admin/roles", tag = "admin", operation_id = "admin_list_roles", params(("limit" = Option<String>, Query, description = "Page size, 1–200 (default 50, also when empty)", pattern = "^\\s*[0-9]*\\s*$"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"), ("tenant" = Option<String>, Query, description = "Tenant (default: the admin's own, or all for default-tenant admins)")), responses((status = 200, description = "One page of roles", body = Page<RoleView>)), security(("bearer" = [])))]
pub async fn list_roles(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<RoleView>>, ApiError> {
    let page = q.page()?;
    Ok(Json(
        app.domain.admin_roles(&c.admin, q.tenant.as_deref(), &page).await?,
    ))
}

/// Creates a custom role.
#[utoipa::path(post, path = "/admin/roles", tag = "admin", operation_id = "admin_create_role", request_body = CreateRoleBody, responses((status = 201, description = "Created", body = RoleView), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn create_role(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiJson(body): ApiJson<CreateRoleBody>,
) -> Result<Response, ApiError> {
    let role = app
        .domain
        .admin_create_role(&c.admin, body.tenant.as_deref(), &body.name, body.description, &c.meta)
        .await?;
    let headers = location(format!("/admin/roles/{}?tenant={}", role.name, role.tenant));
    Ok((StatusCode::CREATED, headers, Json(role)).into_response())
}

/// Deletes a custom role (`?tenant=` for another tenant than the admin's own).
#[utoipa::path(delete, path = "/admin/roles/{name}", tag = "admin", operation_id = "admin_delete_role", params(("name" = String, Path), ("tenant" = Option<String>, Query, description = "Tenant (default: the admin's own, or all for default-tenant admins)")), responses((status = 204, description = "Deleted"), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn delete_role(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> Result<StatusCode, ApiError> {
    app.domain
        .admin_delete_role(&c.admin, q.tenant.as_deref(), &name, &c.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Clients the admin can see.
#[utoipa::path(get, path = "/admin/clients", tag = "admin", operation_id = "admin_list_clients", params(("limit" = Option<String>, Query, description = "Page size, 1–200 (default 50, also when empty)", pattern = "^\\s*[0-9]*\\s*$"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"), ("tenant" = Option<String>, Query, description = "Tenant (default: the admin's own, or all for default-tenant admins)")), responses((status = 200, description = "One page of clients", body = Page<ClientView>)), security(("bearer" = [])))]
pub async fn list_clients(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<ClientView>>, ApiError> {
    let page = q.page()?;
    Ok(Json(
        app.domain.admin_clients(&c.admin, q.tenant.as_deref(), &page).await?,
    ))
}

/// Registers a client; 201 with `client_id` and, once, `client_secret`.
#[utoipa::path(post, path = "/admin/clients", tag = "admin", operation_id = "admin_create_client", request_body = CreateClientBody, responses((status = 201, description = "Created; `client_secret` is shown this once", body = ClientView), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn create_client(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiJson(body): ApiJson<CreateClientBody>,
) -> Result<Response, ApiError> {
    let spec = ClientSpec {
        name: body.name,
        public: body.public,
        grant_types: body.grant_types,
        scopes: body.scopes,
        audiences: body.audiences,
        tenant: String::new(),
        access_ttl_secs: body.access_token_ttl,
        refresh_idle_secs: body.refresh_token_idle_ttl,
        refresh_max_secs: body.refresh_token_max_ttl,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        require_consent: body.require_consent,
        require_pkce: body.require_pkce,
    };
    let client = app
        .domain
        .admin_create_client(&c.admin, spec, body.tenant.as_deref(), &c.meta)
        .await?;
    let headers = location(format!("/admin/clients/{}", client.client_id));
    Ok((StatusCode::CREATED, headers, Json(client)).into_response())
}

/// One client (never its secret).
#[utoipa::path(get, path = "/admin/clients/{client_id}", tag = "admin", operation_id = "admin_get_client", params(("client_id" = String, Path)), responses((status = 200, description = "The client, never its secret", body = ClientView), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn get_client(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ClientView>, ApiError> {
    let client = app.domain.admin_client(&c.admin, &id).await?;
    Ok(Json(ClientView::new(client, None)))
}

/// Changes a client's settings.
#[utoipa::path(patch, path = "/admin/clients/{client_id}", tag = "admin", operation_id = "admin_patch_client", params(("client_id" = String, Path)), request_body = PatchClientBody, responses((status = 200, description = "The changed client", body = ClientView), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn patch_client(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchClientBody>,
) -> Result<Json<ClientView>, ApiError> {
    let client = app.domain.admin_client(&c.admin, &id).await?;
    let change = ClientChange {
        name: body.name,
        grant_types: body.grant_types,
        scopes: body.scopes,
        audiences: body.audiences,
        access_ttl_secs: body.access_token_ttl,
        refresh_idle_secs: body.refresh_token_idle_ttl,
        refresh_max_secs: body.refresh_token_max_ttl,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        require_consent: body.require_consent,
        require_pkce: body.require_pkce,
    };
    Ok(Json(app.domain.admin_update_client(client, change, &c.meta).await?))
}

/// Deletes a client and ends its sessions.
#[utoipa::path(delete, path = "/admin/clients/{client_id}", tag = "admin", operation_id = "admin_delete_client", params(("client_id" = String, Path)), responses((status = 204, description = "Deleted; its sessions ended"), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn delete_client(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let client = app.domain.admin_client(&c.admin, &id).await?;
    app.domain.admin_delete_client(&client, &c.meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces a confidential client's secret; the new one is in the answer, once.
#[utoipa::path(post, path = "/admin/clients/{client_id}/secret", tag = "admin", operation_id = "admin_rotate_client_secret", params(("client_id" = String, Path)), responses((status = 200, description = "The client with its new secret, shown this once", body = ClientView), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn rotate_secret(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ClientView>, ApiError> {
    let client = app.domain.admin_client(&c.admin, &id).await?;
    Ok(Json(app.domain.rotate_client_secret(client, &c.meta).await?))
}

/// Tenants the admin can see.
#[utoipa::path(get, path = "/admin/tenants", tag = "admin", operation_id = "admin_list_tenants", params(("limit" = Option<String>, Query, description = "Page size, 1–200 (default 50, also when empty)", pattern = "^\\s*[0-9]*\\s*$"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")), responses((status = 200, description = "One page of tenants", body = Page<TenantView>)), security(("bearer" = [])))]
pub async fn list_tenants(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<TenantView>>, ApiError> {
    let page = q.page()?;
    Ok(Json(app.domain.admin_tenants(&c.admin, &page).await?))
}

/// Creates a tenant with its built-in roles.
#[utoipa::path(post, path = "/admin/tenants", tag = "admin", operation_id = "admin_create_tenant", request_body = CreateTenantBody, responses((status = 201, description = "Created with its built-in roles", body = TenantView), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn create_tenant(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiJson(body): ApiJson<CreateTenantBody>,
) -> Result<Response, ApiError> {
    let tenant = app
        .domain
        .admin_create_tenant(&c.admin, &body.id, &body.name, &c.meta)
        .await?;
    let headers = location(format!("/admin/tenants/{}", tenant.id));
    Ok((StatusCode::CREATED, headers, Json(tenant)).into_response())
}

/// One tenant.
#[utoipa::path(get, path = "/admin/tenants/{id}", tag = "admin", operation_id = "admin_get_tenant", params(("id" = String, Path)), responses((status = 200, description = "The tenant", body = TenantView), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn get_tenant(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TenantView>, ApiError> {
    Ok(Json(app.domain.admin_tenant(&c.admin, &id).await?))
}

/// Renames a tenant.
#[utoipa::path(patch, path = "/admin/tenants/{id}", tag = "admin", operation_id = "admin_patch_tenant", params(("id" = String, Path)), request_body = PatchTenantBody, responses((status = 200, description = "The renamed tenant", body = TenantView), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn patch_tenant(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchTenantBody>,
) -> Result<Json<TenantView>, ApiError> {
    Ok(Json(
        app.domain
            .admin_rename_tenant(&c.admin, &id, &body.name, &c.meta)
            .await?,
    ))
}

/// Deletes an empty tenant.
#[utoipa::path(delete, path = "/admin/tenants/{id}", tag = "admin", operation_id = "admin_delete_tenant", params(("id" = String, Path)), responses((status = 204, description = "Deleted"), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn delete_tenant(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.domain.admin_delete_tenant(&c.admin, &id, &c.meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every signing key, without key material.
#[utoipa::path(get, path = "/admin/keys", tag = "admin", operation_id = "admin_list_keys", responses((status = 200, description = "Every signing key, without key material", body = Page<KeyInfo>)), security(("bearer" = [])))]
pub async fn list_keys(State(app): State<AppState>, c: AdminCaller) -> Result<Json<Page<KeyInfo>>, ApiError> {
    Ok(Json(app.domain.admin_keys(&c.admin).await?))
}

/// Publishes a new signing key; `{"immediate": true}` makes it sign at once.
#[utoipa::path(post, path = "/admin/keys/rotate", tag = "admin", operation_id = "admin_rotate_keys", request_body = RotateBody, responses((status = 200, description = "The keys after the rotation", body = Page<KeyInfo>), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn rotate_keys(
    State(app): State<AppState>,
    c: AdminCaller,
    req: Request,
) -> Result<Json<Page<KeyInfo>>, ApiError> {
    // Refuse tenant admins before reading a body they should not get feedback on.
    c.admin.require_global()?;
    // The body is optional, so an empty one (with or without a content type) means defaults.
    let bytes = read_body(req, &()).await?;
    let body: RotateBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        parse_json(&bytes)?
    };
    Ok(Json(
        app.domain.admin_rotate_keys(&c.admin, body.immediate, &c.meta).await?,
    ))
}

/// Revokes a signing key at once.
#[utoipa::path(post, path = "/admin/keys/{kid}/revoke", tag = "admin", operation_id = "admin_revoke_key", params(("kid" = String, Path)), responses((status = 204, description = "Revoked; gone from the JWKS"), (status = 404, description = "No such resource (or not visible to this admin)", body = Problem, content_type = "application/problem+json"), (status = 409, description = "Conflicts with existing state", body = Problem, content_type = "application/problem+json")), security(("bearer" = [])))]
pub async fn revoke_key(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiPath(kid): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.domain.admin_revoke_key(&c.admin, &kid, &c.meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Audit events of the tenant (all tenants for default-tenant admins unless `?tenant=`).
#[utoipa::path(get, path = "/admin/events", tag = "admin", operation_id = "admin_events", params(("limit" = Option<String>, Query, description = "Page size, 1–200 (default 50, also when empty)", pattern = "^\\s*[0-9]*\\s*$"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"), ("tenant" = Option<String>, Query, description = "Tenant (default: the admin's own, or all for default-tenant admins)")), responses((status = 200, description = "One page of audit events, newest first", body = Page<EventRecord>)), security(("bearer" = [])))]
pub async fn events(
    State(app): State<AppState>,
    c: AdminCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<EventRecord>>, ApiError> {
    let page = q.page()?;
    Ok(Json(
        app.domain.admin_events(&c.admin, q.tenant.as_deref(), &page).await?,
    ))
}
