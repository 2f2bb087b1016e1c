//! `application/x-www-form-urlencoded` bodies and client authentication for the OAuth
//! endpoints (RFC 6749 §2.3.1, §3.2).

use std::collections::HashMap;

use axum::extract::Request;
use axum::http::{HeaderMap, header};
use base64::Engine;

use super::error::ApiError;
use super::extract::read_body;
use crate::domain::oauth::OAuthError;

/// Form parameters: each at most once; empty values count as absent (RFC 6749 §3.1).
pub struct Form(HashMap<String, String>);

impl Form {
    /// Reads and checks the body of an OAuth request.
    pub async fn read(req: Request) -> Result<(HeaderMap, Self), ApiError> {
        if !is_form(req.headers()) {
            return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded").into());
        }
        let headers = req.headers().clone();
        let body = read_body(req, &()).await?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
            .map_err(|_| OAuthError::invalid_request("the form body is malformed"))?;
        let mut params = HashMap::new();
        for (k, v) in pairs {
            // No parameter has a use for NUL, and PostgreSQL text refuses it. A password
            // grant's `username` and `password` are let through: the domain refuses them as a
            // failed login, which the login limits count.
            if k.contains('\0') || (v.contains('\0') && k != "username" && k != "password") {
                return Err(OAuthError::invalid_request("parameters must not contain a NUL character").into());
            }
            if params.contains_key(&k) {
                return Err(OAuthError::invalid_request(format!("parameter {k} is repeated")).into());
            }
            params.insert(k, v);
        }
        params.retain(|_, v: &mut String| !v.is_empty());
        Ok((headers, Form(params)))
    }

    /// An optional parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required parameter.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }
}

/// Whether a request declares an `application/x-www-form-urlencoded` body.
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// Client credentials as presented.
pub struct ClientCredentials {
    /// `client_id`.
    pub id: String,
    /// `client_secret`, when given.
    pub secret: Option<String>,
    /// Whether they came by HTTP Basic.
    pub basic: bool,
}

/// Finds the client's credentials: HTTP Basic or the body, never both.
pub fn client_credentials(headers: &HeaderMap, form: &Form) -> Result<ClientCredentials, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, value)| value.trim().to_string());
    match basic {
        Some(value) => {
            if form.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| OAuthError::invalid_client(true))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client(true))?;
            let (id, secret) = (form_decode(id)?, form_decode(secret)?);
            if id.contains('\0') {
                return Err(OAuthError::invalid_client(true));
            }
            if form.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the Basic credentials",
                ));
            }
            Ok(ClientCredentials {
                id,
                secret: Some(secret),
                basic: true,
            })
        }
        None => {
            let id = form.get("client_id").ok_or_else(|| OAuthError::invalid_client(false))?;
            Ok(ClientCredentials {
                id: id.to_string(),
                secret: form.get("client_secret").map(str::to_string),
                basic: false,
            })
        }
    }
}

/// Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1).
fn form_decode(v: &str) -> Result<String, OAuthError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&format!("v={v}")).map_err(|_| OAuthError::invalid_client(true))?;
    Ok(pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default())
}
