//! Password reset and email verification (`/auth/password/*`, `/auth/email/*`), plus the
//! older service's `/api/reset-password` and `/api/verify-email` for its clients. Its
//! `/api/reset-password/<token>` is deliberately not served: a token in the path would be
//! written to every request log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, AuthUser, ClientMeta};
use crate::config::Secret;
use crate::domain::recovery::{RecoveryError, TokenKind};
use crate::domain::users::{DEFAULT_TENANT, UserView};

/// `POST /auth/password/forgot` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotBody {
    /// The account's email.
    pub email: String,
    /// Tenant (default `default`).
    #[serde(default)]
    pub tenant: Option<String>,
}

/// `POST /auth/password/reset` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    /// The token from the mail.
    pub token: String,
    /// The new password (policy: 8–128 characters, not the email).
    pub new_password: String,
}

/// `POST /auth/email/verify` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The token from the mail.
    pub token: String,
}

/// The answer to a mail request: the same whatever happened, so it reveals nothing.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// Always `accepted`.
    pub status: &'static str,
    /// What happens next.
    pub detail: &'static str,
}

const FORGOT_DETAIL: &str = "if an active account has this email, a reset link is on its way";

fn accepted(detail: &'static str) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(Accepted {
            status: "accepted",
            detail,
        }),
    )
        .into_response()
}

impl From<RecoveryError> for ApiError {
    fn from(e: RecoveryError) -> Self {
        match e {
            RecoveryError::InvalidToken(TokenKind::PasswordReset) => ApiError::problem(
                StatusCode::BAD_REQUEST,
                "invalid_reset_token",
                "the reset token is unknown, used or expired; ask for a new one",
            ),
            RecoveryError::InvalidToken(TokenKind::EmailVerification) => ApiError::problem(
                StatusCode::BAD_REQUEST,
                "invalid_verification_token",
                "the verification token is unknown, used, expired or for another address; ask for a new one",
            ),
            RecoveryError::Domain(e) => ApiError::Domain(e),
        }
    }
}

/// Mails a password-reset link; 202 with the same body whether or not the account exists.
#[utoipa::path(post, path = "/auth/password/forgot", tag = "auth", request_body = ForgotBody,
    responses((status = 202, body = Accepted), (status = 422), (status = 429)))]
pub async fn forgot(
    State(app): State<AppState>,
    ClientMeta(meta): ClientMeta,
    ApiJson(body): ApiJson<ForgotBody>,
) -> Result<Response, ApiError> {
    let tenant = body.tenant.as_deref().unwrap_or(DEFAULT_TENANT);
    app.domain.request_password_reset(tenant, &body.email, &meta).await?;
    Ok(accepted(FORGOT_DETAIL))
}

/// Sets a new password with a reset token; every session of the account ends.
#[utoipa::path(post, path = "/auth/password/reset", tag = "auth", request_body = ResetBody,
    responses((status = 204), (status = 400, description = "invalid_reset_token"), (status = 422)))]
pub async fn reset(
    State(app): State<AppState>,
    ClientMeta(meta): ClientMeta,
    ApiJson(body): ApiJson<ResetBody>,
) -> Result<Response, ApiError> {
    let password = Secret::new(body.new_password);
    app.domain.reset_password(&body.token, &password, &meta).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Mails the caller a link that confirms their email (202; nothing is sent when verified).
#[utoipa::path(post, path = "/auth/email/verify/request", tag = "auth",
    responses((status = 202, body = Accepted), (status = 401), (status = 429)), security(("bearer" = [])))]
pub async fn verify_request(
    State(app): State<AppState>,
    ClientMeta(meta): ClientMeta,
    AuthUser(p): AuthUser,
) -> Result<Response, ApiError> {
    app.domain.request_email_verification(&p, &meta).await?;
    Ok(accepted(
        "unless the email is verified already, a confirmation link is on its way",
    ))
}

/// Confirms an email with the mailed token; answers the user.
#[utoipa::path(post, path = "/auth/email/verify", tag = "auth", request_body = VerifyBody,
    responses((status = 200, body = UserView), (status = 400, description = "invalid_verification_token")))]
pub async fn verify(
    State(app): State<AppState>,
    ClientMeta(meta): ClientMeta,
    ApiJson(body): ApiJson<VerifyBody>,
) -> Result<Json<UserView>, ApiError> {
    let user = app.domain.verify_email(&body.token, &meta).await?;
    Ok(Json(UserView::from(user)))
}

/// Password-reset request at the older service's path (for its existing clients)
///
/// Kept so apps written for the auth service portcullis replaced keep working unchanged:
/// same body and answer as `POST /auth/password/forgot`, which new clients should call.
/// The older `/api/reset-password/{token}` is not served: a token in a path ends up in
/// request logs; the token goes in the body of `POST /auth/password/reset` instead.
#[utoipa::path(post, path = "/api/reset-password", tag = "auth", request_body = ForgotBody,
    responses((status = 202, body = Accepted)))]
pub async fn legacy_forgot(
    state: State<AppState>,
    meta: ClientMeta,
    body: ApiJson<ForgotBody>,
) -> Result<Response, ApiError> {
    forgot(state, meta, body).await
}

/// Email confirmation at the older service's path (for its existing clients)
///
/// Kept so apps written for the auth service portcullis replaced keep working unchanged:
/// same body and answer as `POST /auth/email/verify`, which new clients should call.
#[utoipa::path(post, path = "/api/verify-email", tag = "auth", request_body = VerifyBody,
    responses((status = 200, body = UserView), (status = 400)))]
pub async fn legacy_verify(
    state: State<AppState>,
    meta: ClientMeta,
    body: ApiJson<VerifyBody>,
) -> Result<Json<UserView>, ApiError> {
    verify(state, meta, body).await
}
