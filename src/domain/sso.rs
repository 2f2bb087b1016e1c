//! Browser sign-in sessions (SSO): opened by the hosted sign-in page, carried by a cookie that
//! holds an opaque secret, stored in the database so every instance sees them.

use serde_json::json;

use super::clients::{FIRST_PARTY_CLIENT, new_secret, sha256_hex};
use super::selfservice::Principal;
use super::tokens::AccessClaims;
use super::{Domain, DomainError, DomainResult, Meta};
use crate::clock::duration_ms;
use crate::config::Secret;
use crate::storage::sessions::SessionRecord;
use crate::storage::users::UserRecord;

/// A live browser session and its user.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    /// The session row (kind `sso`).
    pub session: SessionRecord,
    /// Its user, active.
    pub user: UserRecord,
}

impl BrowserSession {
    /// The signed-in user as a self-service caller, so `/account` goes through the same
    /// rules as `/users/me` (the browser session stands for the caller's session).
    pub fn principal(&self) -> Principal {
        let u = &self.user;
        Principal {
            claims: AccessClaims {
                sub: u.id.clone(),
                client_id: FIRST_PARTY_CLIENT.into(),
                scopes: vec!["openid".into(), "profile".into(), "email".into()],
                roles: u.roles.clone(),
                tenant: u.tenant_id.clone(),
                sid: Some(self.session.id.clone()),
                aud: Vec::new(),
                exp: self.session.expires_at / 1000,
                iat: self.session.created_at / 1000,
                jti: String::new(),
                raw: serde_json::Map::new(),
            },
            user: u.clone(),
        }
    }
}

/// A browser session just signed in to: the cookie value goes to the browser, once.
pub struct NewBrowserSession {
    /// The session and its user.
    pub current: BrowserSession,
    /// The new cookie's value (never stored; only its SHA-256 is); `None` when the browser's
    /// session was re-authenticated and keeps its cookie.
    pub cookie: Option<Secret>,
}

/// Refresh the idle expiry at most this often, so page views are not all writes.
const TOUCH_EVERY_MS: i64 = 60_000;

impl Domain {
    /// Checks a password typed into the hosted sign-in page: the same limits, lockout and
    /// audit as the API (one password path), then opens a browser session.
    /// `current` is the browser's session, if it has one: signing in again as its user
    /// renews it (new `auth_time`, same cookie, its client sessions stay); as someone else
    /// ends it first, so a browser never holds two sessions.
    pub async fn browser_sign_in(
        &self,
        tenant: &str,
        login: &str,
        password: &Secret,
        current: Option<&BrowserSession>,
        meta: &Meta,
    ) -> DomainResult<NewBrowserSession> {
        self.limit_login_ip(meta).await?;
        let user = self.check_password(tenant, login, password, meta).await?;
        let amr = vec!["pwd".to_string()];
        match current {
            Some(c) if c.user.id == user.id => {
                let now = self.clock.now_ms();
                let mut session = c.session.clone();
                session.auth_time = now / 1000;
                session.amr = amr;
                let event = Meta {
                    actor_id: Some(user.id.clone()),
                    ..meta.clone()
                }
                .event(&user.tenant_id, "login.succeeded", Some(&user.id), now)
                .with_detail(json!({ "session_id": session.id, "via": "browser", "reauthenticated": true }));
                self.store
                    .reauthenticate_session(&session.id, session.auth_time, &session.amr, &event)
                    .await?;
                Ok(NewBrowserSession {
                    current: BrowserSession { session, user },
                    cookie: None,
                })
            }
            Some(c) => {
                self.end_browser_session(&c.session, "replaced", meta).await?;
                self.open_browser_session(user, amr, meta).await
            }
            None => self.open_browser_session(user, amr, meta).await,
        }
    }

    /// Opens a browser session for a user who just authenticated with `amr`.
    pub async fn open_browser_session(
        &self,
        user: UserRecord,
        amr: Vec<String>,
        meta: &Meta,
    ) -> DomainResult<NewBrowserSession> {
        let now = self.clock.now_ms();
        let idle = duration_ms(self.config.ui.sso_idle_ttl);
        let max = duration_ms(self.config.ui.sso_max_ttl);
        let cookie = new_secret()?;
        let session = SessionRecord {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user.id.clone(),
            tenant_id: user.tenant_id.clone(),
            client_id: FIRST_PARTY_CLIENT.into(),
            scope: String::new(),
            auth_time: now / 1000,
            created_at: now,
            last_used_at: now,
            idle_expires_at: now + idle.min(max),
            expires_at: now + max,
            revoked_at: None,
            revoked_reason: None,
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            kind: "sso".into(),
            parent_id: None,
            amr,
        };
        let event = Meta {
            actor_id: Some(user.id.clone()),
            ..meta.clone()
        }
        .event(&user.tenant_id, "login.succeeded", Some(&user.id), now)
        .with_detail(json!({ "session_id": session.id, "via": "browser", "amr": session.amr }));
        self.store
            .create_sso_session(&session, &sha256_hex(&cookie), &event)
            .await?;
        Ok(NewBrowserSession {
            current: BrowserSession { session, user },
            cookie: Some(Secret::new(cookie)),
        })
    }

    /// The live browser session behind a cookie value, with an active user; `None` for
    /// unknown, ended or expired sessions and disabled users.
    pub async fn browser_session(&self, cookie: &str) -> DomainResult<Option<BrowserSession>> {
        let Some(session) = self.store.sso_session_by_cookie(&sha256_hex(cookie)).await? else {
            return Ok(None);
        };
        let now = self.clock.now_ms();
        if !session.is_live(now) {
            return Ok(None);
        }
        let user = self
            .store
            .user_by_id(Some(&session.tenant_id), &session.user_id)
            .await?;
        let Some(user) = user.filter(|u| u.status == "active") else {
            return Ok(None);
        };
        if now - session.last_used_at >= TOUCH_EVERY_MS {
            let idle = duration_ms(self.config.ui.sso_idle_ttl);
            let idle_expires_at = (now + idle).min(session.expires_at);
            self.store.touch_session(&session.id, now, idle_expires_at).await?;
        }
        Ok(Some(BrowserSession { session, user }))
    }

    /// Ends a browser session and every client session opened through it.
    pub async fn end_browser_session(&self, session: &SessionRecord, reason: &str, meta: &Meta) -> DomainResult<()> {
        let now = self.clock.now_ms();
        let event = Meta {
            actor_id: Some(session.user_id.clone()),
            ..meta.clone()
        }
        .event(&session.tenant_id, "logout", Some(&session.user_id), now)
        .with_detail(json!({ "session_id": session.id, "reason": reason }));
        self.store.end_sso_session(&session.id, reason, now, &event).await?;
        Ok(())
    }

    /// The browser session an ID token (a logout `id_token_hint`) was issued in, and the
    /// client it was issued to. Expired hints are accepted, as OIDC RP-Initiated Logout
    /// allows; the signature and issuer must hold.
    pub async fn id_token_hint(&self, token: &str) -> DomainResult<(String, Option<SessionRecord>)> {
        self.keys.catch_up(token).await;
        let claims = self
            .keys
            .verify(token, "JWT")
            .map_err(|e| DomainError::InvalidToken(e.to_string()))?;
        let text = |n: &str| claims.get(n).and_then(|v| v.as_str()).map(str::to_string);
        if text("iss").as_deref() != Some(self.issuer.as_str()) {
            return Err(DomainError::InvalidToken("wrong issuer".into()));
        }
        let client_id = text("azp")
            .or_else(|| text("aud"))
            .ok_or_else(|| DomainError::InvalidToken("no audience".into()))?;
        let session = match text("sid") {
            Some(sid) => self.store.session(&sid).await?,
            None => None,
        };
        Ok((client_id, session))
    }
}
