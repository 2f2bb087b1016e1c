//! Extractors that turn malformed requests into problem+json instead of plain-text rejections.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::config::IpNet;
use crate::domain::Meta;

mod json;

use json::NulRule;

/// A JSON body: 415 without a JSON content type (or with a charset other than UTF-8), 413
/// over the size limit, 400 when it is not JSON (or repeats a key, or nests too deep), 422
/// when it is JSON of the wrong shape (not an object, wrong types, unknown or missing
/// fields, a NUL character in a string).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_body(req, state).await?;
        json::parse(&bytes, NulRule::Refuse).map(ApiJson)
    }
}

/// Like [`ApiJson`], but NUL may appear in the top-level `email`, `username` and `password`
/// of a login: the domain refuses such a login as failed, so the login limits count it.
pub struct CredentialsJson<T>(pub T);

impl<S, T> FromRequest<S> for CredentialsJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_body(req, state).await?;
        json::parse(&bytes, NulRule::LoginFields).map(CredentialsJson)
    }
}

/// Checks the content type (JSON, in UTF-8) and reads the body.
async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or_default().trim();
    let is_json = media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"));
    if !is_json {
        return Err(ApiError::problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    // JSON is UTF-8 (RFC 8259 §8.1); a body announced in another charset would be misread.
    let charset = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim() == "charset")
        .map(|(_, v)| v.trim().trim_matches('"').to_string());
    if charset.is_some_and(|c| c != "utf-8" && c != "utf8") {
        return Err(ApiError::problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_charset",
            "send JSON in UTF-8 (charset=utf-8 or no charset)",
        ));
    }
    read_body(req, state).await
}

/// How long a request's body may take to arrive; the accept loop sets it on each request.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// Without a [`BodyTimeout`] (a router served some other way), the whole-request timeout.
const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads the body, mapping the size limit to 413 and a body slower than its deadline to 408.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let deadline = req
        .extensions()
        .get::<BodyTimeout>()
        .map_or(DEFAULT_BODY_TIMEOUT, |t| t.0);
    let read = tokio::time::timeout(deadline, Bytes::from_request(req, state))
        .await
        .map_err(|_| {
            ApiError::problem(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the request body did not arrive in time",
            )
        })?;
    read.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is too large",
            )
        } else {
            ApiError::problem(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                "the request body could not be read",
            )
        }
    })
}

/// Parses JSON bytes into `T` with the error mapping described on [`ApiJson`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    json::parse(bytes, NulRule::Refuse)
}

/// Caller metadata for audit events and limits.
pub struct ClientMeta(pub Meta);

impl<S> FromRequestParts<S> for ClientMeta
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let ip = client_ip(parts, &app.domain.config.trusted_proxies).map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect());
        Ok(ClientMeta(Meta {
            ip,
            user_agent,
            actor_id: None,
        }))
    }
}

/// The client's IP: the socket peer, or — only when the peer is a trusted proxy — the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(parts: &Parts, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    Some(forwarded.into_iter().rev().find(|ip| !is_trusted(*ip)).unwrap_or(peer))
}

/// A caller authenticated by a user access token meant for this server (`aud` has the issuer).
pub struct AuthUser(pub crate::domain::selfservice::Principal);

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let token = bearer_token(parts)?;
        Ok(AuthUser(app.domain.authenticate(token, false).await?))
    }
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let missing = || ApiError::Domain(crate::domain::DomainError::InvalidToken("missing bearer token".into()));
    let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim())
}

/// A path parameter: malformed values are a 400 problem instead of a plain-text rejection.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // `%00` is the only way a NUL reaches a path; no id holds one.
        if has_encoded_nul(parts.uri.path()) {
            return Err(ApiError::problem(
                StatusCode::BAD_REQUEST,
                "invalid_path",
                "the path must not contain a NUL character",
            ));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::problem(StatusCode::BAD_REQUEST, "invalid_path", e.body_text()))
    }
}

/// Query parameters: malformed or unknown ones are a 400 problem.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        if has_encoded_nul(query) {
            return Err(ApiError::problem(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "query parameters must not contain a NUL character",
            ));
        }
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| ApiError::problem(StatusCode::BAD_REQUEST, "invalid_query", e.to_string()))
    }
}

/// Whether percent-encoded text decodes to a NUL character somewhere.
pub fn has_encoded_nul(raw: &str) -> bool {
    raw.contains("%00")
}
