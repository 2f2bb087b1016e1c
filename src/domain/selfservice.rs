//! What a signed-in user does for themselves: who am I, password, sessions, account deletion.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::tokens::{AccessClaims, user_claims};
use super::{Domain, DomainError, DomainResult, Meta, validate};
use crate::clock::rfc3339;
use crate::config::Secret;
use crate::storage::sessions::SessionRecord;
use crate::storage::users::UserRecord;

/// A caller authenticated by a user access token.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The verified token.
    pub claims: AccessClaims,
    /// The user, as stored now.
    pub user: UserRecord,
}

impl Principal {
    /// Audit metadata with this user as the actor.
    pub fn meta(&self, meta: &Meta) -> Meta {
        Meta {
            actor_id: Some(self.user.id.clone()),
            ..meta.clone()
        }
    }
}

/// A session as its owner sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// Session id.
    pub id: String,
    /// Client that opened it.
    pub client_id: String,
    /// Granted scope.
    pub scope: String,
    /// RFC 3339.
    pub created_at: String,
    /// Last refresh, RFC 3339.
    pub last_used_at: String,
    /// When it ends at the latest, RFC 3339.
    pub expires_at: String,
    /// IP at sign-in.
    pub ip: Option<String>,
    /// User agent at sign-in.
    pub user_agent: Option<String>,
    /// Whether the calling token belongs to this session.
    pub current: bool,
}

impl SessionView {
    /// The view of a record; `current` marks the caller's own session.
    pub fn new(s: SessionRecord, current: Option<&str>) -> Self {
        SessionView {
            current: current == Some(s.id.as_str()),
            id: s.id,
            client_id: s.client_id,
            scope: s.scope,
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used_at),
            expires_at: rfc3339(s.idle_expires_at.min(s.expires_at)),
            ip: s.ip,
            user_agent: s.user_agent,
        }
    }
}

impl Domain {
    /// Authenticates a user access token: valid signature and times, our issuer in `aud`
    /// (unless `any_audience`), a live session, an active user.
    pub async fn authenticate(&self, token: &str, any_audience: bool) -> DomainResult<Principal> {
        self.keys.catch_up(token).await;
        let claims = self.verify_access_token(token)?;
        if !any_audience && !claims.aud.iter().any(|a| a == &self.issuer) {
            return Err(DomainError::InvalidToken("token not meant for this server".into()));
        }
        let sid = claims
            .sid
            .clone()
            .ok_or_else(|| DomainError::InvalidToken("not a user token".into()))?;
        let now = self.clock.now_ms();
        match self.store.session(&sid).await? {
            Some(s) if s.is_live(now) && s.user_id == claims.sub => {}
            _ => return Err(DomainError::InvalidToken("the session has ended".into())),
        }
        let user = self.store.user_by_id(Some(&claims.tenant), &claims.sub).await?;
        let user = user
            .filter(|u| u.status == "active")
            .ok_or_else(|| DomainError::InvalidToken("the account is not active".into()))?;
        Ok(Principal { claims, user })
    }

    /// OIDC UserInfo claims for the token's scopes.
    pub fn userinfo(&self, p: &Principal) -> DomainResult<Map<String, Value>> {
        if !p.claims.scopes.iter().any(|s| s == "openid") {
            return Err(DomainError::Forbidden("the token lacks the openid scope".into()));
        }
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(p.user.id));
        user_claims(&p.user, &p.claims.scopes, &mut claims);
        Ok(claims)
    }

    /// Changes the caller's password after checking the current one; other sessions end.
    pub async fn change_password(
        &self,
        p: &Principal,
        current: &Secret,
        new: &Secret,
        meta: &Meta,
    ) -> DomainResult<()> {
        let mut errors = Vec::new();
        validate::password("new_password", new.expose(), Some(&p.user.email), &mut errors);
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        self.confirm_password(p, current, meta).await?;
        let hash = self.hasher.hash(new).await?;
        let now = self.clock.now_ms();
        let event = p
            .meta(meta)
            .event(&p.user.tenant_id, "password.changed", Some(&p.user.id), now);
        self.store
            .change_password(&p.user.id, &hash, p.claims.sid.as_deref(), now, &event)
            .await?;
        Ok(())
    }

    /// Re-checks the caller's password under the same lockout accounting as a login, so a
    /// stolen access token cannot be used to guess the password without limit.
    async fn confirm_password(&self, p: &Principal, password: &Secret, meta: &Meta) -> DomainResult<()> {
        let meta = p.meta(meta);
        let attempt = self
            .begin_password_check(&p.user.tenant_id, Some(&p.user), &p.user.email, &meta)
            .await?;
        let verified = match self.hasher.verify(password, &p.user.password_hash).await {
            Ok(v) => v,
            Err(e) => {
                self.release_password_check(attempt).await;
                return Err(e.into());
            }
        };
        self.finish_password_check(attempt, verified.ok).await;
        if verified.ok {
            Ok(())
        } else {
            Err(DomainError::InvalidCredentials)
        }
    }

    /// The caller's live sessions.
    pub async fn my_sessions(&self, p: &Principal) -> DomainResult<Vec<SessionView>> {
        let sessions = self
            .store
            .sessions_of(&p.user.id, self.clock.now_ms(), None, 500)
            .await?;
        Ok(sessions
            .into_iter()
            .map(|s| SessionView::new(s, p.claims.sid.as_deref()))
            .collect())
    }

    /// Ends one of the caller's sessions.
    pub async fn end_my_session(&self, p: &Principal, id: &str, meta: &Meta) -> DomainResult<()> {
        match self.store.session(id).await? {
            Some(s) if s.user_id == p.user.id && s.revoked_at.is_none() && s.kind == "sso" => {
                self.end_browser_session(&s, "signed_out", &p.meta(meta)).await
            }
            Some(s) if s.user_id == p.user.id && s.revoked_at.is_none() => {
                self.end_session(&s, "signed_out", &p.meta(meta)).await
            }
            _ => Err(DomainError::NotFound("session")),
        }
    }

    /// Ends every session of the caller except the one making the request.
    pub async fn end_other_sessions(&self, p: &Principal, meta: &Meta) -> DomainResult<u64> {
        let now = self.clock.now_ms();
        let event = p
            .meta(meta)
            .event(&p.user.tenant_id, "session.revoked", Some(&p.user.id), now)
            .with_detail(json!({ "scope": "others" }));
        Ok(self
            .store
            .revoke_sessions(
                &p.user.id,
                None,
                p.claims.sid.as_deref(),
                "signed_out",
                now,
                Some(&event),
            )
            .await?)
    }

    /// Deletes the caller's account after checking the password; audit events stay.
    pub async fn delete_me(&self, p: &Principal, password: &Secret, meta: &Meta) -> DomainResult<()> {
        self.confirm_password(p, password, meta).await?;
        let now = self.clock.now_ms();
        let event = p
            .meta(meta)
            .event(&p.user.tenant_id, "user.deleted", Some(&p.user.id), now);
        if !self.store.delete_user(&p.user.id, &event).await? {
            return Err(DomainError::NotFound("user"));
        }
        Ok(())
    }
}
