//! Minting and checking tokens: RFC 9068 access tokens, OIDC ID tokens, opaque refresh tokens.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::clients::{new_secret, sha256_hex};
use super::oauth::{OAuthCode, OAuthError};
use super::{Domain, DomainError, DomainResult};
use crate::clock::duration_secs;
use crate::keys::VerifyError;
use crate::storage::clients::ClientRecord;
use crate::storage::users::UserRecord;

/// The successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// RS256 JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque, single-use refresh token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Granted scope, space-separated.
    pub scope: String,
    /// OIDC ID token when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// What a verified access token says.
#[derive(Debug, Clone)]
pub struct AccessClaims {
    /// User id, or client id for client_credentials.
    pub sub: String,
    /// Client the token was issued to.
    pub client_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Roles at issue time.
    pub roles: Vec<String>,
    /// Tenant.
    pub tenant: String,
    /// Session id for user tokens.
    pub sid: Option<String>,
    /// Audiences.
    pub aud: Vec<String>,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Token id.
    pub jti: String,
    /// All claims, for introspection.
    pub raw: Map<String, Value>,
}

/// Who a token is for.
pub enum Subject<'a> {
    /// A user, in a session.
    User {
        /// The user.
        user: &'a UserRecord,
        /// Session id.
        sid: &'a str,
        /// When the password was checked, unix seconds.
        auth_time: i64,
        /// How the user authenticated (`pwd`, `otp`, …).
        amr: &'a [String],
        /// OIDC `nonce` of the authorization request, echoed in the ID token.
        nonce: Option<&'a str>,
    },
    /// The client itself (client_credentials).
    Client,
}

/// Allowed clock skew for `nbf`/`iat`/`exp` checks.
const LEEWAY_SECS: i64 = 30;

/// Splits a `scope` parameter, refusing malformed ones.
pub fn parse_scope(raw: Option<&str>) -> Result<Option<Vec<String>>, OAuthError> {
    let Some(raw) = raw else { return Ok(None) };
    let scopes: Vec<String> = raw.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect();
    if scopes.iter().any(|s| !super::clients::valid_scope_token(s)) {
        return Err(OAuthError::new(OAuthCode::InvalidScope, "malformed scope"));
    }
    let mut unique = Vec::new();
    for s in scopes {
        if !unique.contains(&s) {
            unique.push(s);
        }
    }
    Ok(Some(unique))
}

/// The requested scope if it lies within `allowed`, or all of `allowed` when none was asked.
pub fn grant_scope(requested: Option<Vec<String>>, allowed: &[String]) -> Result<Vec<String>, OAuthError> {
    match requested {
        None => Ok(allowed.to_vec()),
        Some(req) => {
            if let Some(bad) = req.iter().find(|s| !allowed.contains(s)) {
                return Err(OAuthError::new(
                    OAuthCode::InvalidScope,
                    format!("scope {bad} is not allowed here"),
                ));
            }
            Ok(req)
        }
    }
}

impl Domain {
    /// Access-token lifetime for a client.
    pub fn access_ttl(&self, client: &ClientRecord) -> i64 {
        client
            .access_ttl_secs
            .unwrap_or_else(|| duration_secs(self.config.access_token_ttl))
    }

    /// Refresh lifetimes (idle, absolute) for a client, in ms.
    pub fn refresh_ttls_ms(&self, client: &ClientRecord) -> (i64, i64) {
        let secs = |o: Option<i64>, d: Duration| o.unwrap_or_else(|| duration_secs(d)).saturating_mul(1000);
        (
            secs(client.refresh_idle_secs, self.config.refresh_idle_ttl),
            secs(client.refresh_max_secs, self.config.refresh_max_ttl),
        )
    }

    /// Audiences of access tokens for a client (the issuer when the client names none).
    pub fn audiences(&self, client: &ClientRecord) -> Vec<String> {
        if client.audiences.is_empty() {
            vec![self.issuer.clone()]
        } else {
            client.audiences.clone()
        }
    }

    /// Mints the access token (and ID token when `openid` is in scope).
    pub fn mint(
        &self,
        client: &ClientRecord,
        subject: &Subject<'_>,
        scopes: &[String],
        refresh_token: Option<String>,
    ) -> DomainResult<TokenResponse> {
        let now = self.clock.now_secs();
        let ttl = self.access_ttl(client);
        let scope = scopes.join(" ");
        let (sub, roles, tenant, sid) = match subject {
            Subject::User { user, sid, .. } => {
                (user.id.clone(), user.roles.clone(), user.tenant_id.clone(), Some(*sid))
            }
            Subject::Client => (client.id.clone(), Vec::new(), client.tenant_id.clone(), None),
        };
        let aud = self.audiences(client);
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("sub".into(), json!(sub));
        claims.insert("aud".into(), if aud.len() == 1 { json!(aud[0]) } else { json!(aud) });
        claims.insert("exp".into(), json!(now + ttl));
        claims.insert("iat".into(), json!(now));
        claims.insert("nbf".into(), json!(now));
        claims.insert("jti".into(), json!(uuid::Uuid::now_v7().to_string()));
        claims.insert("client_id".into(), json!(client.id));
        claims.insert("scope".into(), json!(scope));
        claims.insert("roles".into(), json!(roles));
        claims.insert("tenant".into(), json!(tenant));
        if let Some(sid) = sid {
            claims.insert("sid".into(), json!(sid));
        }
        if let Subject::User { auth_time, amr, .. } = subject {
            claims.insert("auth_time".into(), json!(auth_time));
            claims.insert("amr".into(), json!(amr));
        }
        let access_token = self
            .keys
            .sign("at+jwt", claims)
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        let id_token = match subject {
            Subject::User { .. } if scopes.iter().any(|s| s == "openid") => {
                Some(self.id_token(client, subject, scopes, now, ttl)?)
            }
            _ => None,
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            refresh_token,
            scope,
            id_token,
        })
    }

    fn id_token(
        &self,
        client: &ClientRecord,
        subject: &Subject<'_>,
        scopes: &[String],
        now: i64,
        ttl: i64,
    ) -> DomainResult<String> {
        let Subject::User {
            user,
            sid,
            auth_time,
            amr,
            nonce,
        } = subject
        else {
            return Err(DomainError::Internal("an ID token needs a user".into()));
        };
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("sub".into(), json!(user.id));
        claims.insert("aud".into(), json!(client.id));
        claims.insert("azp".into(), json!(client.id));
        claims.insert("exp".into(), json!(now + ttl));
        claims.insert("iat".into(), json!(now));
        claims.insert("auth_time".into(), json!(auth_time));
        claims.insert("sid".into(), json!(sid));
        claims.insert("amr".into(), json!(amr));
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        user_claims(user, scopes, &mut claims);
        self.keys
            .sign("JWT", claims)
            .map_err(|e| DomainError::Internal(e.to_string()))
    }

    /// A new refresh token and its stored hash.
    pub fn new_refresh_token(&self) -> DomainResult<(String, String)> {
        let token = new_secret()?;
        let hash = sha256_hex(&token);
        Ok((token, hash))
    }

    /// Verifies an access token: signature against a published key, `typ` at+jwt, issuer,
    /// expiry and not-before. Audience checks are the caller's.
    pub fn verify_access_token(&self, token: &str) -> DomainResult<AccessClaims> {
        let claims = self.keys.verify(token, "at+jwt").map_err(|e| {
            DomainError::InvalidToken(match e {
                VerifyError::Type => "not an access token".into(),
                other => other.to_string(),
            })
        })?;
        let now = self.clock.now_secs();
        let str_claim = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
        let int_claim = |name: &str| claims.get(name).and_then(Value::as_i64);
        if str_claim("iss").as_deref() != Some(self.issuer.as_str()) {
            return Err(DomainError::InvalidToken("wrong issuer".into()));
        }
        let exp = int_claim("exp").ok_or_else(|| DomainError::InvalidToken("no expiry".into()))?;
        if exp + LEEWAY_SECS <= now {
            return Err(DomainError::InvalidToken("token expired".into()));
        }
        if int_claim("nbf").is_some_and(|nbf| nbf > now + LEEWAY_SECS) {
            return Err(DomainError::InvalidToken("token not valid yet".into()));
        }
        let list = |name: &str| -> Vec<String> {
            match claims.get(name) {
                Some(Value::String(s)) if name == "scope" => {
                    s.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect()
                }
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
                _ => Vec::new(),
            }
        };
        let missing = |n: &str| DomainError::InvalidToken(format!("missing {n}"));
        Ok(AccessClaims {
            sub: str_claim("sub").ok_or_else(|| missing("sub"))?,
            client_id: str_claim("client_id").ok_or_else(|| missing("client_id"))?,
            scopes: list("scope"),
            roles: list("roles"),
            tenant: str_claim("tenant").ok_or_else(|| missing("tenant"))?,
            sid: str_claim("sid"),
            aud: list("aud"),
            exp,
            iat: int_claim("iat").unwrap_or(0),
            jti: str_claim("jti").unwrap_or_default(),
            raw: claims,
        })
    }
}

/// Standard OIDC user claims for the granted scopes (ID token and UserInfo).
pub fn user_claims(user: &UserRecord, scopes: &[String], claims: &mut Map<String, Value>) {
    if scopes.iter().any(|s| s == "email") {
        claims.insert("email".into(), json!(user.email));
        claims.insert("email_verified".into(), json!(user.email_verified));
    }
    if scopes.iter().any(|s| s == "profile") {
        if let Some(u) = &user.username {
            claims.insert("preferred_username".into(), json!(u));
        }
        let full = [user.first_name.as_deref(), user.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let name = user
            .display_name
            .clone()
            .filter(|n| !n.is_empty())
            .or((!full.is_empty()).then_some(full));
        if let Some(n) = name {
            claims.insert("name".into(), json!(n));
        }
        if let Some(v) = &user.first_name {
            claims.insert("given_name".into(), json!(v));
        }
        if let Some(v) = &user.last_name {
            claims.insert("family_name".into(), json!(v));
        }
        if let Some(v) = &user.locale {
            claims.insert("locale".into(), json!(v));
        }
        claims.insert("updated_at".into(), json!(user.updated_at / 1000));
    }
}
