//! The one place where errors become HTTP responses.
//!
//! Two formats: RFC 6749 §5.2 JSON for the OAuth endpoints, `application/problem+json`
//! (RFC 9457) with a stable `code` for everything else. Internal errors are logged with
//! their cause and answered with a generic body.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::error::{DomainError, FieldError};
use crate::domain::oauth::{OAuthCode, OAuthError};

/// Marks a 503 caused by a database connection that broke under a statement: an idempotent
/// request may be repeated once at once (see `guard::retry_reset_reads`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionReset;

/// Anything a handler can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// A domain refusal or failure.
    Domain(DomainError),
    /// An OAuth protocol error (token, revoke, introspect endpoints).
    OAuth(OAuthError),
    /// A request that could not be read (bad JSON, wrong content type, too large, …).
    Problem {
        /// HTTP status.
        status: StatusCode,
        /// Stable code.
        code: &'static str,
        /// What was wrong.
        detail: String,
        /// Per-field errors.
        errors: Vec<FieldError>,
    },
}

impl ApiError {
    /// A problem without field errors.
    pub fn problem(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Problem {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError::Domain(e)
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        ApiError::OAuth(e)
    }
}

fn title(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

/// Builds an `application/problem+json` response.
pub fn problem_response(status: StatusCode, code: &str, detail: &str, errors: &[FieldError]) -> Response {
    let mut body = json!({
        "type": format!("urn:portcullis:problem:{code}"),
        "title": title(status),
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
    });
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res
}

fn with_retry_after(mut res: Response, secs: u64) -> Response {
    let secs = secs.max(1);
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Problem {
                status,
                code,
                detail,
                errors,
            } => problem_response(status, code, &detail, &errors),
            ApiError::OAuth(e) => oauth_response(e),
            ApiError::Domain(e) => domain_response(e),
        }
    }
}

fn domain_response(e: DomainError) -> Response {
    use DomainError as E;
    let p = |s: StatusCode, code: &str, detail: &str| problem_response(s, code, detail, &[]);
    match e {
        E::Validation(errors) => problem_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "the request has invalid fields",
            &errors,
        ),
        E::EmailTaken => p(StatusCode::CONFLICT, "email_taken", "an account with this email exists"),
        E::UsernameTaken => p(StatusCode::CONFLICT, "username_taken", "this username is taken"),
        E::InvalidCredentials => p(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong login or password",
        ),
        E::AccountLocked { retry_after } => with_retry_after(
            p(
                StatusCode::FORBIDDEN,
                "account_locked",
                "too many failed attempts; the account is locked for a while",
            ),
            retry_after,
        ),
        E::AccountDisabled => p(StatusCode::FORBIDDEN, "account_disabled", "this account is disabled"),
        E::Throttled { retry_after } => with_retry_after(
            p(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests; retry later",
            ),
            retry_after,
        ),
        E::NotFound(what) => p(StatusCode::NOT_FOUND, "not_found", &format!("{what} not found")),
        E::Forbidden(why) => p(StatusCode::FORBIDDEN, "forbidden", &why),
        E::Conflict(why) => p(StatusCode::CONFLICT, "conflict", &why),
        E::InvalidToken(why) => {
            let mut res = p(StatusCode::UNAUTHORIZED, "invalid_token", &why);
            let challenge = format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                why.replace('"', "'")
            );
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            res
        }
        E::InvalidScope(why) => p(StatusCode::BAD_REQUEST, "invalid_scope", &why),
        E::UnauthorizedClient(why) => p(StatusCode::FORBIDDEN, "unauthorized_client", &why),
        // Shedding under load is expected and counted in metrics; no log line per request.
        E::Overloaded { retry_after } => with_retry_after(
            p(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "too many requests in progress; retry shortly",
            ),
            retry_after,
        ),
        E::Unavailable { cause, reset } => {
            tracing::warn!(error = %cause, "database unavailable; answered 503");
            let mut res = with_retry_after(
                p(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service is briefly unavailable; retry shortly",
                ),
                1,
            );
            if reset {
                res.extensions_mut().insert(ConnectionReset);
            }
            res
        }
        E::Internal(cause) => {
            tracing::error!(error = %cause, "internal error");
            p(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "something went wrong on our side",
            )
        }
    }
}

fn oauth_response(e: OAuthError) -> Response {
    match (&e.internal, e.code) {
        (Some(cause), OAuthCode::TemporarilyUnavailable) => {
            tracing::warn!(error = %cause, "database unavailable on an OAuth endpoint; answered 503");
        }
        (Some(cause), _) => tracing::error!(error = %cause, "internal error on an OAuth endpoint"),
        (None, _) => {}
    }
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({ "error": e.code.as_str(), "error_description": e.description });
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if e.basic_challenge {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"portcullis\", charset=\"UTF-8\""),
        );
    }
    let res = (status, headers, body.to_string()).into_response();
    match e.retry_after {
        Some(secs) => with_retry_after(res, secs),
        None => res,
    }
}
