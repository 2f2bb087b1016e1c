//! The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.6): single use, bound to
//! client, redirect URI and PKCE challenge; a code that comes back revokes what it issued.

use serde_json::json;

use super::authorize::{s256, valid_pkce_value};
use super::clients::{constant_time_eq, sha256_hex};
use super::grants::allows;
use super::oauth::GrantType;
use super::tokens::{Subject, TokenResponse};
use super::{Domain, DomainError, DomainResult, Meta};
use crate::storage::authorization::CodeRecord;
use crate::storage::clients::ClientRecord;

/// What the client sends to exchange a code.
pub struct CodeExchange<'a> {
    /// The code.
    pub code: &'a str,
    /// The `redirect_uri` of the authorization request.
    pub redirect_uri: Option<&'a str>,
    /// The PKCE verifier.
    pub code_verifier: Option<&'a str>,
}

fn invalid(why: &str) -> DomainError {
    DomainError::InvalidToken(why.to_string())
}

impl Domain {
    /// Exchanges a code for tokens.
    pub async fn authorization_code_grant(
        &self,
        client: &ClientRecord,
        x: CodeExchange<'_>,
        meta: &Meta,
    ) -> DomainResult<TokenResponse> {
        allows(client, GrantType::AuthorizationCode)?;
        let hash = sha256_hex(x.code);
        let Some(code) = self.store.code(&hash).await? else {
            return Err(invalid("the code is invalid, expired or used"));
        };
        let now = self.clock.now_ms();
        if code.used_at.is_some() {
            self.code_reused(&code, meta).await?;
            return Err(invalid("the code is invalid, expired or used"));
        }
        if code.expires_at <= now || code.client_id != client.id {
            return Err(invalid("the code is invalid, expired or used"));
        }
        if x.redirect_uri != Some(code.redirect_uri.as_str()) {
            return Err(invalid("redirect_uri differs from the authorization request"));
        }
        check_pkce(&code, x.code_verifier)?;
        let user = self
            .store
            .user_by_id(None, &code.user_id)
            .await?
            .filter(|u| u.status == "active")
            .ok_or(DomainError::AccountDisabled)?;
        let amr = code.amr.split_whitespace().map(str::to_string).collect();
        let parent = Some(code.sso_session_id.clone());
        let session = self.client_session(client, &user, code.scope.clone(), code.auth_time, amr, parent, meta);
        let (refresh, refresh_hash) = self.new_refresh_token()?;
        let event = Meta {
            actor_id: Some(user.id.clone()),
            ..meta.clone()
        }
        .event(&user.tenant_id, "login.succeeded", Some(&user.id), now)
        .with_detail(json!({ "client_id": client.id, "session_id": session.id, "via": "authorization_code" }));
        if !self
            .store
            .redeem_code(&hash, now, &session, &refresh_hash, &event)
            .await?
        {
            // Another exchange won the race: this one is a replay.
            self.code_reused(&code, meta).await?;
            return Err(invalid("the code is invalid, expired or used"));
        }
        let scopes: Vec<String> = code.scope.split_whitespace().map(str::to_string).collect();
        let issue_refresh = super::clients::allows(client, GrantType::RefreshToken);
        let subject = Subject::User {
            user: &user,
            sid: &session.id,
            auth_time: session.auth_time,
            amr: &session.amr,
            nonce: code.nonce.as_deref(),
        };
        self.mint(client, &subject, &scopes, issue_refresh.then_some(refresh))
    }

    async fn code_reused(&self, code: &CodeRecord, meta: &Meta) -> DomainResult<()> {
        let now = self.clock.now_ms();
        let event = meta
            .event(
                &code_tenant(self, code).await,
                "code.reuse_detected",
                Some(&code.user_id),
                now,
            )
            .with_detail(json!({ "client_id": code.client_id, "session_id": code.session_id }));
        self.store.revoke_code_grant(&code.code_hash, now, &event).await?;
        tracing::warn!(
            client_id = code.client_id,
            "authorization code reused: its tokens were revoked"
        );
        Ok(())
    }
}

async fn code_tenant(d: &Domain, code: &CodeRecord) -> String {
    match d.store.client(&code.client_id).await {
        Ok(Some(c)) => c.tenant_id,
        _ => super::users::DEFAULT_TENANT.to_string(),
    }
}

/// RFC 7636 §4.6; a verifier without a challenge is refused too (RFC 9700 §2.1.1 downgrade).
fn check_pkce(code: &CodeRecord, verifier: Option<&str>) -> DomainResult<()> {
    match (&code.code_challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(invalid("code_verifier given but the request had no code_challenge")),
        (Some(_), None) => Err(invalid("code_verifier is required")),
        (Some(challenge), Some(v)) => {
            if valid_pkce_value(v) && constant_time_eq(&s256(v), challenge) {
                Ok(())
            } else {
                Err(invalid("code_verifier does not match the code_challenge"))
            }
        }
    }
}
