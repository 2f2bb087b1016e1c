//! Token revocation (RFC 7009) and introspection (RFC 7662) as domain operations: the
//! handlers only read the form and shape the answer.

use serde_json::{Map, Value, json};

use super::clients::sha256_hex;
use super::{Domain, DomainResult, Meta};
use crate::storage::clients::ClientRecord;

/// What introspection says about a token.
#[derive(Debug, Clone)]
pub enum Introspection {
    /// Unknown, expired, revoked, or not this server's.
    Inactive,
    /// A live token and its RFC 7662 members (`active` included).
    Active(Map<String, Value>),
}

impl Domain {
    /// Revokes what a token stands for: an access token's session (when it belongs to the
    /// calling client) or a refresh token's. Unknown tokens are not an error (RFC 7009 §2.2).
    pub async fn revoke_token(&self, client: &ClientRecord, token: &str, meta: &Meta) -> DomainResult<()> {
        let meta = Meta {
            actor_id: Some(client.id.clone()),
            ..meta.clone()
        };
        // A token signed by a key another instance just made: load it before judging.
        self.keys.catch_up(token).await;
        match self.verify_access_token(token) {
            Ok(claims) => {
                if claims.client_id == client.id
                    && let Some(sid) = &claims.sid
                    && let Some(session) = self.store.session(sid).await?
                {
                    self.end_session(&session, "revoked", &meta).await?;
                }
                Ok(())
            }
            Err(_) => self.revoke_refresh_token(Some(&client.id), token, &meta).await,
        }
    }

    /// Introspects an access or refresh token for a confidential client.
    pub async fn introspect(&self, token: &str) -> DomainResult<Introspection> {
        let now = self.clock.now_ms();
        self.keys.catch_up(token).await;
        if let Ok(claims) = self.verify_access_token(token) {
            if let Some(sid) = &claims.sid {
                match self.store.session(sid).await? {
                    Some(s) if s.is_live(now) => {}
                    _ => return Ok(Introspection::Inactive),
                }
            }
            let mut body = claims.raw;
            body.insert("active".into(), Value::Bool(true));
            body.insert("token_type".into(), json!("Bearer"));
            return Ok(Introspection::Active(body));
        }
        match self.store.session_by_token(&sha256_hex(token)).await? {
            Some((s, used)) if !used && s.is_live(now) => {
                let body = json!({
                    "active": true,
                    "token_type": "refresh_token",
                    "client_id": s.client_id,
                    "sub": s.user_id,
                    "scope": s.scope,
                    "tenant": s.tenant_id,
                    "sid": s.id,
                    "iss": self.issuer,
                    "iat": s.last_used_at / 1000,
                    "exp": s.idle_expires_at.min(s.expires_at) / 1000,
                });
                Ok(match body {
                    Value::Object(m) => Introspection::Active(m),
                    _ => Introspection::Inactive,
                })
            }
            _ => Ok(Introspection::Inactive),
        }
    }
}
