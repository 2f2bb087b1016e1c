//! `GET /openapi.json` (OpenAPI 3.1, generated from the handlers' annotations) and
//! `GET /docs` (Swagger UI, its assets compiled into the binary).

use axum::Json;
use axum::Router;
use axum::extract::State;
use serde::Serialize;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, Required, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::AppState;
use super::{auth, health, metrics, oauth, pages, recovery, users, wellknown};

/// An `application/problem+json` body (RFC 9457), the error format outside the OAuth endpoints.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:portcullis:problem:{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for humans.
    pub detail: String,
    /// Stable machine-readable code, e.g. `email_taken`, `validation_failed`.
    pub code: String,
    /// Per-field errors (`validation_failed` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemField>>,
}

/// One invalid field of a `validation_failed` problem.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProblemField {
    /// Field path, e.g. `email`.
    pub field: String,
    /// Stable code, e.g. `missing_field`, `invalid_email`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// An RFC 6749 §5.2 error body, the error format of `/oauth/*`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, or `server_error`.
    pub error: String,
    /// Human-readable detail.
    pub error_description: String,
}

/// The generated document: every annotated handler and the schemas they use.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "portcullis",
        description = "OAuth 2.0 / OpenID Connect authorization server with a built-in user service. \
            OAuth endpoints answer errors as RFC 6749 JSON; every other endpoint as application/problem+json \
            with a stable `code`."
    ),
    paths(
        health::live,
        health::ready,
        metrics::render,
        document,
        wellknown::jwks,
        wellknown::discovery,
        oauth::token,
        oauth::revoke,
        oauth::introspect,
        oauth::userinfo,
        pages::authorize::authorize_get,
        pages::authorize::authorize_post,
        pages::logout::logout_get,
        pages::logout::logout_post,
        pages::signin::show_login,
        pages::signin::submit_login,
        pages::signin::show_signup,
        pages::signin::submit_signup,
        pages::consent::show,
        pages::consent::submit,
        pages::account::show,
        pages::account::profile,
        pages::account::password,
        pages::account::end_session,
        pages::account::revoke_consent,
        pages::recovery::show_forgot,
        pages::recovery::submit_forgot,
        pages::recovery::show_reset,
        pages::recovery::submit_reset,
        pages::recovery::show_verify,
        pages::recovery::submit_verify,
        pages::stylesheet,
        pages::theme,
        users::register,
        auth::login,
        auth::refresh,
        auth::logout,
        auth::me,
        recovery::forgot,
        recovery::reset,
        recovery::verify_request,
        recovery::verify,
        recovery::legacy_forgot,
        recovery::legacy_verify,
        users::get_me,
        users::patch_me,
        users::delete_me,
        users::change_password,
        users::get_preferences,
        users::put_preferences,
        users::patch_preferences,
        users::list_sessions,
        users::delete_sessions,
        users::delete_session,
    ),
    components(schemas(
        Problem,
        ProblemField,
        OAuthErrorBody,
        auth::LoginBody,
        auth::RefreshBody,
        recovery::ForgotBody,
        recovery::ResetBody,
        recovery::VerifyBody,
        recovery::Accepted,
        users::RegisterBody,
        users::ProfileBody,
        users::PasswordConfirm,
        users::PasswordChange,
        crate::domain::tokens::TokenResponse,
        crate::domain::users::UserView,
        crate::domain::selfservice::SessionView,
        crate::domain::clients::ClientView,
        crate::keys::KeyInfo,
    )),
    modifiers(&Security, &SharedHandlers, &AdminRoutes),
    tags(
        (name = "oauth", description = "OAuth 2.0 / OIDC protocol endpoints (RFC 6749 errors)"),
        (name = "auth", description = "First-party JSON login over the same token service"),
        (name = "users", description = "Sign-up and the caller's own account"),
        (name = "browser", description = "Hosted pages and the browser sign-in (HTML; authorization code + PKCE, SSO, logout)"),
        (name = "admin", description = "Administration (admin role)"),
        (name = "health", description = "Liveness and readiness"),
        (name = "operations", description = "Metrics and this document"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme the handlers' `security(("bearer" = []))` refer to.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from /oauth/token or /auth/login"))
                    .build(),
            ),
        );
    }
}

/// Documents routes that reuse a handler annotated for another path or method: the RFC 8414
/// alias of discovery, and `POST /userinfo` (OIDC Core §5.3 allows both methods).
struct SharedHandlers;

impl Modify for SharedHandlers {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let paths = &mut doc.paths.paths;
        let renamed = |op: &Operation, suffix: &str| {
            let mut op = op.clone();
            op.operation_id = op.operation_id.map(|id| format!("{id}_{suffix}"));
            op
        };
        if let Some(op) = paths
            .get("/.well-known/openid-configuration")
            .and_then(|item| item.get.as_ref())
            .map(|op| renamed(op, "rfc8414"))
        {
            paths.insert(
                "/.well-known/oauth-authorization-server".into(),
                utoipa::openapi::PathItem::new(HttpMethod::Get, op),
            );
        }
        if let Some(item) = paths.get_mut("/userinfo")
            && let Some(op) = item.get.as_ref().map(|op| renamed(op, "post"))
        {
            item.post = Some(op);
        }
    }
}

/// The admin API, `(method, path, summary, success status, takes a JSON body)`. Its handlers
/// carry no annotations yet, so they are described here; an annotated operation listed in
/// `paths(...)` takes precedence over the entry below.
const ADMIN: &[(HttpMethod, &str, &str, u16, bool)] = &[
    (
        HttpMethod::Get,
        "/admin/users",
        "List users (`q`, `role`, `status`, `tenant`, `limit`, `cursor`)",
        200,
        false,
    ),
    (
        HttpMethod::Post,
        "/admin/users",
        "Create a user (sign-up body plus optional `roles`, `tenant`)",
        201,
        true,
    ),
    (
        HttpMethod::Get,
        "/admin/users/{id}",
        "One user, with its lock state",
        200,
        false,
    ),
    (
        HttpMethod::Patch,
        "/admin/users/{id}",
        "Change profile fields and `email_verified`",
        200,
        true,
    ),
    (
        HttpMethod::Delete,
        "/admin/users/{id}",
        "Delete a user; sessions end, the audit trail stays",
        204,
        false,
    ),
    (
        HttpMethod::Post,
        "/admin/users/{id}/roles",
        "Grant a role (`{role}`)",
        200,
        true,
    ),
    (
        HttpMethod::Delete,
        "/admin/users/{id}/roles/{role}",
        "Revoke a role",
        200,
        false,
    ),
    (
        HttpMethod::Post,
        "/admin/users/{id}/lock",
        "Lock password logins",
        200,
        false,
    ),
    (HttpMethod::Post, "/admin/users/{id}/unlock", "Lift a lock", 200, false),
    (
        HttpMethod::Post,
        "/admin/users/{id}/disable",
        "Disable the account and end its sessions",
        200,
        false,
    ),
    (
        HttpMethod::Post,
        "/admin/users/{id}/enable",
        "Re-enable the account",
        200,
        false,
    ),
    (
        HttpMethod::Get,
        "/admin/users/{id}/sessions",
        "The user's live sessions",
        200,
        false,
    ),
    (
        HttpMethod::Delete,
        "/admin/users/{id}/sessions",
        "End every session of the user",
        200,
        false,
    ),
    (
        HttpMethod::Get,
        "/admin/users/{id}/events",
        "Audit events about the user",
        200,
        false,
    ),
    (HttpMethod::Get, "/admin/roles", "Roles of a tenant", 200, false),
    (HttpMethod::Post, "/admin/roles", "Create a custom role", 201, true),
    (
        HttpMethod::Delete,
        "/admin/roles/{name}",
        "Delete a custom role",
        204,
        false,
    ),
    (HttpMethod::Get, "/admin/clients", "List clients", 200, false),
    (
        HttpMethod::Post,
        "/admin/clients",
        "Register a client; `client_secret` is shown once",
        201,
        true,
    ),
    (
        HttpMethod::Get,
        "/admin/clients/{client_id}",
        "One client (never its secret)",
        200,
        false,
    ),
    (
        HttpMethod::Patch,
        "/admin/clients/{client_id}",
        "Change a client's settings",
        200,
        true,
    ),
    (
        HttpMethod::Delete,
        "/admin/clients/{client_id}",
        "Delete a client and end its sessions",
        204,
        false,
    ),
    (
        HttpMethod::Post,
        "/admin/clients/{client_id}/secret",
        "Replace a confidential client's secret (shown once)",
        200,
        false,
    ),
    (HttpMethod::Get, "/admin/tenants", "List tenants", 200, false),
    (
        HttpMethod::Post,
        "/admin/tenants",
        "Create a tenant with its built-in roles",
        201,
        true,
    ),
    (HttpMethod::Get, "/admin/tenants/{id}", "One tenant", 200, false),
    (HttpMethod::Patch, "/admin/tenants/{id}", "Rename a tenant", 200, true),
    (
        HttpMethod::Delete,
        "/admin/tenants/{id}",
        "Delete an empty tenant",
        204,
        false,
    ),
    (
        HttpMethod::Get,
        "/admin/keys",
        "Signing keys, without key material",
        200,
        false,
    ),
    (
        HttpMethod::Post,
        "/admin/keys/rotate",
        "Publish a new signing key (optional body `{\"immediate\": true}` makes it sign at once)",
        200,
        false,
    ),
    (
        HttpMethod::Post,
        "/admin/keys/{kid}/revoke",
        "Emergency revocation: the key leaves the JWKS at once",
        204,
        false,
    ),
    (
        HttpMethod::Get,
        "/admin/events",
        "Audit events of the tenant",
        200,
        false,
    ),
];

/// Adds the [`ADMIN`] operations that no annotation documents.
struct AdminRoutes;

fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

fn admin_operation(method: &HttpMethod, path: &str, summary: &str, status: u16, body: bool) -> Operation {
    let id = format!(
        "admin_{}{}",
        match method {
            HttpMethod::Get => "get",
            HttpMethod::Post => "post",
            HttpMethod::Put => "put",
            HttpMethod::Patch => "patch",
            HttpMethod::Delete => "delete",
            _ => "other",
        },
        path.trim_start_matches("/admin")
            .replace(['{', '}'], "")
            .replace(['/', '-'], "_")
    );
    let mut op = OperationBuilder::new()
        .tag("admin")
        .summary(Some(summary))
        .operation_id(Some(id))
        .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
        .response(
            status.to_string(),
            ResponseBuilder::new().description("Success").build(),
        )
        .response("401", problem_response("Missing or invalid access token"))
        .response("403", problem_response("The caller is not an admin"));
    for name in path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
    {
        op = op.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        );
    }
    if path.contains('{') {
        op = op.response("404", problem_response("No such resource"));
    }
    if *method == HttpMethod::Get && !path.contains('{') || path.ends_with("/events") || path.ends_with("/sessions") {
        for (name, ty) in [("limit", Type::Integer), ("cursor", Type::String)] {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .schema(Some(ObjectBuilder::new().schema_type(ty))),
            );
        }
    }
    if body {
        op = op
            .request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                            .build(),
                    )
                    .build(),
            ))
            .response("422", problem_response("Validation failed"));
    }
    op.build()
}

impl Modify for AdminRoutes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for (method, path, summary, status, body) in ADMIN {
            let documented = doc.paths.get_path_operation(path, method.clone()).is_some();
            if !documented {
                doc.paths.add_path_operation(
                    path,
                    vec![method.clone()],
                    admin_operation(method, path, summary, *status, *body),
                );
            }
        }
    }
}

/// The document with this server's issuer as its only server.
pub fn spec(issuer: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.servers = Some(vec![Server::new(issuer)]);
    doc
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn document(State(app): State<AppState>) -> Json<utoipa::openapi::OpenApi> {
    Json(spec(&app.domain.issuer))
}

/// `GET /docs`: Swagger UI reading `/openapi.json` (it redirects to `/docs/`).
pub fn ui() -> Router<AppState> {
    SwaggerUi::new("/docs").config(Config::from("/openapi.json")).into()
}
