//! `GET /openapi.json` (OpenAPI 3.1, generated from the handlers' annotations) and
//! `GET /docs` (Swagger UI, its assets compiled into the binary).

use axum::Json;
use axum::Router;
use axum::extract::State;
use serde::Serialize;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::{ContentBuilder, Ref, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::AppState;
use super::{admin, auth, health, metrics, oauth, pages, recovery, users, wellknown};

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
    /// `unsupported_grant_type`, `invalid_scope`, `too_many_requests`,
    /// `temporarily_unavailable` or `server_error`.
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
        admin::users::list,
        admin::users::create,
        admin::users::get_one,
        admin::users::patch,
        admin::users::remove,
        admin::users::grant_role,
        admin::users::revoke_role,
        admin::users::lock,
        admin::users::unlock,
        admin::users::disable,
        admin::users::enable,
        admin::users::sessions,
        admin::users::revoke_sessions,
        admin::users::events,
        admin::resources::list_roles,
        admin::resources::create_role,
        admin::resources::delete_role,
        admin::resources::list_clients,
        admin::resources::create_client,
        admin::resources::get_client,
        admin::resources::patch_client,
        admin::resources::delete_client,
        admin::resources::rotate_secret,
        admin::resources::list_tenants,
        admin::resources::create_tenant,
        admin::resources::get_tenant,
        admin::resources::patch_tenant,
        admin::resources::delete_tenant,
        admin::resources::list_keys,
        admin::resources::rotate_keys,
        admin::resources::revoke_key,
        admin::resources::events,
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
        Revoked,
    )),
    modifiers(&Security, &SharedHandlers, &StandardErrors),
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
/// alias of discovery, and `POST /userinfo` (OIDC Core §5.3 allows both methods); and the
/// optional body of a key rotation.
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
        // The rotation body is optional (no body means defaults), which `request_body` cannot say.
        if let Some(body) = paths
            .get_mut("/admin/keys/rotate")
            .and_then(|item| item.post.as_mut())
            .and_then(|op| op.request_body.as_mut())
        {
            body.required = Some(Required::False);
        }
        if let Some(item) = paths.get_mut("/userinfo")
            && let Some(op) = item.get.as_ref().map(|op| renamed(op, "post"))
        {
            item.post = Some(op);
        }
    }
}

/// Documents the answers every operation of a kind can give, so each annotation lists only
/// its own: a refused or unreadable request (400, 408, 413, 415, 422), a missing token (401),
/// a caller who is not an admin (403), the per-IP limit (429), and a database outage (503).
struct StandardErrors;

/// Operations served from memory: no database, so no 503.
const MEMORY_ONLY: &[&str] = &[
    "/health/live",
    "/health/ready",
    "/metrics",
    "/openapi.json",
    "/.well-known/jwks.json",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
];

/// An error page of the hosted pages (HTML, whatever went wrong).
fn html_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "text/html; charset=utf-8",
            ContentBuilder::new()
                .schema(Some(
                    utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String),
                ))
                .build(),
        )
        .build()
}

/// The hosted pages answer every failure with an HTML page.
fn document_page_errors(op: &mut Operation, post: bool) {
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| html_response(description).into());
    };
    add("400", "A malformed or invalid request (an HTML error page)");
    if post {
        add("403", "The form's CSRF token is missing or wrong");
        add("408", "The form did not arrive in time");
        add("413", "The form is too large");
        add("415", "Not application/x-www-form-urlencoded");
    }
    add("429", "Too many requests from this IP; see `Retry-After`");
    add("500", "Our failure, shown as a page without details");
    add("503", "The database is briefly unreachable");
}

fn error_response(description: &str, oauth: bool) -> utoipa::openapi::Response {
    let (content_type, schema) = if oauth {
        ("application/json", "OAuthErrorBody")
    } else {
        ("application/problem+json", "Problem")
    };
    ResponseBuilder::new()
        .description(description)
        .content(
            content_type,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .build()
}

impl Modify for StandardErrors {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            let oauth = path.starts_with("/oauth/");
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                if op.tags.as_ref().is_some_and(|t| t.iter().any(|t| t == "browser")) {
                    let post = op.request_body.is_some();
                    document_page_errors(op, post);
                    continue;
                }
                let mut add = |status: &str, description: &str, oauth_format: bool| {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error_response(description, oauth_format).into());
                };
                let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                if let Some(body) = &op.request_body {
                    let json = body.content.contains_key("application/json");
                    add(
                        "400",
                        "The body is malformed (not JSON, a repeated key, nesting too deep)",
                        oauth,
                    );
                    add("408", "The body did not arrive in time", false);
                    add("413", "The body is too large", false);
                    if json {
                        add("415", "Not application/json in UTF-8", false);
                        add("422", "Valid JSON of the wrong shape, or invalid fields", false);
                    }
                } else if has_params {
                    add("400", "A malformed path or query parameter", false);
                }
                let query = |name: Option<&str>| {
                    op.parameters.as_ref().is_some_and(|p| {
                        p.iter().any(|p| {
                            matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)
                                && name.is_none_or(|n| p.name == n)
                        })
                    })
                };
                let (has_query, names_tenant) = (query(None), query(Some("tenant")));
                if names_tenant {
                    add("404", "No such tenant (or not visible to this admin)", false);
                }
                if has_query {
                    add(
                        "422",
                        "A query parameter with an invalid value (`limit`, `cursor`, `status`)",
                        false,
                    );
                }
                if secured {
                    add("401", "Missing, invalid or expired access token", false);
                }
                if path.starts_with("/admin/") {
                    add("403", "The caller is not an admin (or not one for this tenant)", false);
                }
                add("429", "Too many requests from this IP; see `Retry-After`", false);
                if !MEMORY_ONLY.contains(&path.as_str()) {
                    add("503", "The database is briefly unreachable; see `Retry-After`", oauth);
                }
            }
        }
    }
}

/// The answer of routes that end sessions in bulk.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Revoked {
    /// How many sessions ended.
    pub revoked: u64,
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
