//! OAuth 2.0 endpoints: token (RFC 6749), revocation (RFC 7009), introspection (RFC 7662),
//! and OIDC UserInfo.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{ClientMeta, bearer_token};
use super::form::{Form, client_credentials};
use crate::config::Secret;
use crate::domain::clients::sha256_hex;
use crate::domain::code_grant::CodeExchange;
use crate::domain::oauth::{GrantType, OAuthCode, OAuthError};
use crate::domain::tokens::{TokenResponse, parse_scope};
use crate::storage::clients::ClientRecord;

/// Adds `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn no_store(body: impl IntoResponse) -> Response {
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

async fn authenticated_client(app: &AppState, headers: &HeaderMap, form: &Form) -> Result<ClientRecord, OAuthError> {
    let creds = client_credentials(headers, form)?;
    app.domain
        .authenticate_client(&creds.id, creds.secret.as_deref(), creds.basic)
        .await
}

/// `POST /oauth/token`.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", content = String,
        description = "grant_type=authorization_code|password|refresh_token|client_credentials, with code, redirect_uri, code_verifier, username, password, refresh_token, scope, client_id, client_secret as the grant needs"),
    responses((status = 200, body = TokenResponse), (status = 400, description = "RFC 6749 error"), (status = 401, description = "invalid_client"), (status = 429)))]
pub async fn token(
    State(app): State<AppState>,
    ClientMeta(meta): ClientMeta,
    req: Request,
) -> Result<Response, ApiError> {
    let (headers, form) = Form::read(req).await?;
    let grant_type = form.require("grant_type")?;
    let Some(grant) = GrantType::parse(grant_type) else {
        return Err(OAuthError::new(
            OAuthCode::UnsupportedGrantType,
            format!("grant_type {grant_type} is not supported"),
        )
        .into());
    };
    let client = authenticated_client(&app, &headers, &form).await?;
    let meta = crate::domain::Meta {
        actor_id: Some(client.id.clone()),
        ..meta
    };
    let scope = parse_scope(form.get("scope"))?;
    let domain = &app.domain;
    let res: TokenResponse = match grant {
        GrantType::AuthorizationCode => {
            let exchange = CodeExchange {
                code: form.require("code")?,
                redirect_uri: form.get("redirect_uri"),
                code_verifier: form.get("code_verifier"),
            };
            domain.authorization_code_grant(&client, exchange, &meta).await
        }
        GrantType::Password => {
            let username = form.require("username")?;
            let password = Secret::new(form.require("password")?);
            domain
                .password_grant(&client, &client.tenant_id, username, &password, scope, &meta)
                .await
        }
        GrantType::RefreshToken => {
            let token = form.require("refresh_token")?;
            domain.refresh_grant(&client, token, scope, &meta).await
        }
        GrantType::ClientCredentials => domain.client_credentials_grant(&client, scope),
    }
    .map_err(OAuthError::from)?;
    super::metrics::token_issued(grant.as_str());
    Ok(no_store(Json(res)))
}

/// `POST /oauth/revoke`: ends the session of a refresh token or access token. Always 200
/// for a well-formed request by an authenticated client, whether or not the token was known.
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", content = String, description = "token, token_type_hint"),
    responses((status = 200), (status = 400), (status = 401)))]
pub async fn revoke(
    State(app): State<AppState>,
    ClientMeta(meta): ClientMeta,
    req: Request,
) -> Result<Response, ApiError> {
    let (headers, form) = Form::read(req).await?;
    let client = authenticated_client(&app, &headers, &form).await?;
    let token = form.require("token")?;
    let meta = crate::domain::Meta {
        actor_id: Some(client.id.clone()),
        ..meta
    };
    // A JWT is an access token: revoke its session; anything else is tried as a refresh token.
    if let Ok(claims) = app.domain.verify_access_token(token) {
        if claims.client_id == client.id
            && let Some(sid) = &claims.sid
            && let Ok(Some(session)) = app.domain.store.session(sid).await
        {
            app.domain
                .end_session(&session, "revoked", &meta)
                .await
                .map_err(OAuthError::from)?;
        }
    } else {
        app.domain
            .revoke_refresh_token(Some(&client.id), token, &meta)
            .await
            .map_err(OAuthError::from)?;
    }
    Ok(no_store(Json(json!({}))))
}

/// `POST /oauth/introspect`: confidential clients ask whether a token is active.
#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", content = String, description = "token, token_type_hint"),
    responses((status = 200, description = "RFC 7662 response"), (status = 401)))]
pub async fn introspect(State(app): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let (headers, form) = Form::read(req).await?;
    let client = authenticated_client(&app, &headers, &form).await?;
    if client.public {
        return Err(OAuthError::invalid_client(false).into());
    }
    let token = form.require("token")?;
    let inactive = || Ok(no_store(Json(json!({ "active": false }))));
    let now = app.domain.clock.now_ms();
    if let Ok(claims) = app.domain.verify_access_token(token) {
        if let Some(sid) = &claims.sid {
            match app.domain.store.session(sid).await {
                Ok(Some(s)) if s.is_live(now) => {}
                Ok(_) => return inactive(),
                Err(e) => return Err(OAuthError::server(e).into()),
            }
        }
        let mut body = claims.raw.clone();
        body.insert("active".into(), Value::Bool(true));
        body.insert("token_type".into(), json!("Bearer"));
        return Ok(no_store(Json(Value::Object(body))));
    }
    match app.domain.store.session_by_token(&sha256_hex(token)).await {
        Ok(Some((s, used))) if !used && s.is_live(now) => Ok(no_store(Json(json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": s.client_id,
            "sub": s.user_id,
            "scope": s.scope,
            "tenant": s.tenant_id,
            "sid": s.id,
            "iss": app.domain.issuer,
            "iat": s.last_used_at / 1000,
            "exp": s.idle_expires_at.min(s.expires_at) / 1000,
        })))),
        Ok(_) => inactive(),
        Err(e) => Err(OAuthError::server(e).into()),
    }
}

/// `GET`/`POST /userinfo` (OIDC Core §5.3): claims for an access token with `openid`.
#[utoipa::path(get, path = "/userinfo", tag = "oauth", responses((status = 200), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn userinfo(State(app): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let token = bearer_token(&parts)?;
    let principal = app.domain.authenticate(token, true).await?;
    let claims = app.domain.userinfo(&principal)?;
    Ok(no_store(Json(Value::Object(claims))))
}
