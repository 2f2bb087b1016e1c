//! The three grants: password, refresh_token (rotating, with reuse detection), client_credentials.

use serde_json::json;

use super::clients::sha256_hex;
use super::oauth::GrantType;
use super::tokens::{Subject, TokenResponse, grant_scope};
use super::{Domain, DomainError, DomainResult, Meta};
use crate::config::Secret;
use crate::storage::clients::ClientRecord;
use crate::storage::sessions::{RefreshOutcome, SessionRecord};
use crate::storage::users::UserRecord;

/// Refuses a grant the client is not registered for.
pub(super) fn allows(client: &ClientRecord, grant: GrantType) -> DomainResult<()> {
    if super::clients::allows(client, grant) {
        Ok(())
    } else {
        Err(DomainError::UnauthorizedClient(format!(
            "this client may not use the {} grant",
            grant.as_str()
        )))
    }
}

pub(super) fn scope_error(e: super::oauth::OAuthError) -> DomainError {
    DomainError::InvalidScope(e.description)
}

impl Domain {
    /// Checks a login (email or username) and password within the client's tenant, with
    /// lockout accounting and equal cost for unknown users.
    pub async fn check_password(
        &self,
        tenant: &str,
        login: &str,
        password: &Secret,
        meta: &Meta,
    ) -> DomainResult<UserRecord> {
        // A login with NUL names no account (PostgreSQL text cannot even hold it); it is
        // refused as an unknown one, so the login limits still count it.
        let user = if login.contains('\0') {
            None
        } else {
            self.store.user_by_login(tenant, login).await?
        };
        // Unknown logins go through the same accounting and a dummy hash of the same cost,
        // so status, body and time do not tell whether an account exists.
        let attempt = self.begin_password_check(tenant, user.as_ref(), login, meta).await?;
        let verified = match &user {
            Some(u) => self.hasher.verify(password, &u.password_hash).await,
            None => self
                .hasher
                .verify_dummy(password)
                .await
                .map(|()| crate::domain::password::Verified {
                    ok: false,
                    needs_rehash: false,
                }),
        };
        let verified = match verified {
            Ok(v) => v,
            Err(e) => {
                self.release_password_check(attempt).await;
                return Err(e.into());
            }
        };
        self.finish_password_check(attempt, verified.ok).await;
        let now = self.clock.now_ms();
        let Some(user) = user.filter(|_| verified.ok) else {
            metrics::counter!("portcullis_login_failures_total").increment(1);
            let event = meta
                .event(tenant, "login.failed", None, now)
                .with_detail(json!({ "login": login.chars().take(256).filter(|c| *c != '\0').collect::<String>() }));
            if let Err(e) = self.store.record(&event).await {
                tracing::warn!(error = %e, "could not record a failed login");
            }
            return Err(DomainError::InvalidCredentials);
        };
        if user.status != "active" {
            return Err(DomainError::AccountDisabled);
        }
        if verified.needs_rehash {
            // Upgrade legacy bcrypt or weaker argon2 hashes while the password is at hand.
            match self.hasher.hash(password).await {
                Ok(hash) => {
                    if let Err(e) = self.store.set_password_hash(&user.id, &hash, now, None).await {
                        tracing::warn!(error = %e, "could not store an upgraded password hash");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not rehash a password"),
            }
        }
        Ok(user)
    }

    /// The `password` grant: opens a session and returns tokens.
    pub async fn password_grant(
        &self,
        client: &ClientRecord,
        tenant: &str,
        login: &str,
        password: &Secret,
        scope: Option<Vec<String>>,
        meta: &Meta,
    ) -> DomainResult<TokenResponse> {
        allows(client, GrantType::Password)?;
        let scopes = grant_scope(scope, &client.scopes).map_err(scope_error)?;
        self.limit_login_ip(meta).await?;
        // Only the built-in client serves every tenant; others log in their own tenant's users.
        if tenant != client.tenant_id && !client.first_party {
            return Err(DomainError::InvalidCredentials);
        }
        let user = self.check_password(tenant, login, password, meta).await?;
        self.open_session(client, &user, scopes, meta).await
    }

    /// A new client session (a refresh-token family) for `user`, who signed in at `auth_time`
    /// (unix seconds) with `amr`; `parent` is the browser session it was opened through.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn client_session(
        &self,
        client: &ClientRecord,
        user: &UserRecord,
        scope: String,
        auth_time: i64,
        amr: Vec<String>,
        parent: Option<String>,
        meta: &Meta,
    ) -> SessionRecord {
        let now = self.clock.now_ms();
        let (idle_ms, max_ms) = self.refresh_ttls_ms(client);
        SessionRecord {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user.id.clone(),
            tenant_id: user.tenant_id.clone(),
            client_id: client.id.clone(),
            scope,
            auth_time,
            created_at: now,
            last_used_at: now,
            idle_expires_at: now + idle_ms.min(max_ms),
            expires_at: now + max_ms,
            revoked_at: None,
            revoked_reason: None,
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            kind: "refresh".into(),
            parent_id: parent,
            amr,
        }
    }

    /// Opens a session for an authenticated user and mints its first tokens.
    pub async fn open_session(
        &self,
        client: &ClientRecord,
        user: &UserRecord,
        scopes: Vec<String>,
        meta: &Meta,
    ) -> DomainResult<TokenResponse> {
        let now = self.clock.now_ms();
        let session = self.client_session(
            client,
            user,
            scopes.join(" "),
            now / 1000,
            vec!["pwd".into()],
            None,
            meta,
        );
        let (refresh, hash) = self.new_refresh_token()?;
        let event = Meta {
            actor_id: Some(user.id.clone()),
            ..meta.clone()
        }
        .event(&user.tenant_id, "login.succeeded", Some(&user.id), now)
        .with_detail(json!({ "client_id": client.id, "session_id": session.id }));
        self.store.create_session(&session, &hash, &event).await?;
        let issue_refresh = client.grant_types.iter().any(|g| g == "refresh_token");
        let subject = Subject::User {
            user,
            sid: &session.id,
            auth_time: session.auth_time,
            amr: &session.amr,
            nonce: None,
        };
        self.mint(client, &subject, &scopes, issue_refresh.then_some(refresh))
    }

    /// The `refresh_token` grant: single use, rotated within its session; a rotated token
    /// presented again revokes the whole session.
    pub async fn refresh_grant(
        &self,
        client: &ClientRecord,
        token: &str,
        scope: Option<Vec<String>>,
        meta: &Meta,
    ) -> DomainResult<TokenResponse> {
        allows(client, GrantType::RefreshToken)?;
        let invalid = || DomainError::InvalidToken("the refresh token is invalid, expired or revoked".into());
        let hash = sha256_hex(token);
        // Check ownership and scope before consuming, so neither another client nor a bad
        // request can burn someone's token.
        let scopes = match self.store.session_by_token(&hash).await? {
            Some((s, _)) if s.client_id == client.id => {
                let granted: Vec<String> = s
                    .scope
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                grant_scope(scope, &granted).map_err(scope_error)?
            }
            _ => return Err(invalid()),
        };
        let (new_token, new_hash) = self.new_refresh_token()?;
        let (idle_ms, _) = self.refresh_ttls_ms(client);
        let grace_ms = crate::clock::duration_ms(self.config.refresh_reuse_grace);
        let now = self.clock.now_ms();
        let session = match self
            .store
            .use_refresh_token(&hash, &new_hash, now, idle_ms, grace_ms)
            .await?
        {
            RefreshOutcome::Rotated(s) | RefreshOutcome::GraceReplay(s) => s,
            RefreshOutcome::Reused(s) => {
                let event = meta
                    .event(&s.tenant_id, "refresh.reuse_detected", Some(&s.user_id), now)
                    .with_detail(json!({ "session_id": s.id, "client_id": s.client_id }));
                if let Err(e) = self.store.record(&event).await {
                    tracing::warn!(error = %e, "could not record refresh-token reuse");
                }
                tracing::warn!(session_id = s.id, "refresh token reuse: session revoked");
                return Err(invalid());
            }
            RefreshOutcome::Dead | RefreshOutcome::Unknown => return Err(invalid()),
        };
        let user = self
            .store
            .user_by_id(Some(&session.tenant_id), &session.user_id)
            .await?;
        let Some(user) = user.filter(|u| u.status == "active") else {
            self.store
                .revoke_sessions(&session.user_id, Some(&session.id), None, "account_disabled", now, None)
                .await?;
            return Err(DomainError::AccountDisabled);
        };
        let event = Meta {
            actor_id: Some(user.id.clone()),
            ..meta.clone()
        }
        .event(&user.tenant_id, "token.refreshed", Some(&user.id), now)
        .with_detail(json!({ "session_id": session.id, "client_id": client.id }));
        if let Err(e) = self.store.record(&event).await {
            tracing::warn!(error = %e, "could not record a refresh");
        }
        let subject = Subject::User {
            user: &user,
            sid: &session.id,
            auth_time: session.auth_time,
            amr: &session.amr,
            nonce: None,
        };
        self.mint(client, &subject, &scopes, Some(new_token))
    }

    /// The `client_credentials` grant: a token for the client itself, no refresh token.
    pub fn client_credentials_grant(
        &self,
        client: &ClientRecord,
        scope: Option<Vec<String>>,
    ) -> DomainResult<TokenResponse> {
        if client.public {
            return Err(DomainError::UnauthorizedClient(
                "public clients cannot use client_credentials".into(),
            ));
        }
        allows(client, GrantType::ClientCredentials)?;
        let allowed: Vec<String> = client
            .scopes
            .iter()
            .filter(|s| *s != "openid" && *s != "offline_access")
            .cloned()
            .collect();
        let scopes = grant_scope(scope, &allowed).map_err(scope_error)?;
        self.mint(client, &Subject::Client, &scopes, None)
    }

    /// Ends the session a refresh token belongs to (logout, RFC 7009 revocation).
    /// Unknown tokens are not an error, as RFC 7009 §2.2 asks.
    pub async fn revoke_refresh_token(&self, client_id: Option<&str>, token: &str, meta: &Meta) -> DomainResult<()> {
        let Some((session, _)) = self.store.session_by_token(&sha256_hex(token)).await? else {
            return Ok(());
        };
        if client_id.is_some_and(|c| c != session.client_id) {
            return Ok(());
        }
        self.end_session(&session, "revoked", meta).await
    }

    /// Revokes one session and records it.
    pub async fn end_session(&self, session: &SessionRecord, reason: &str, meta: &Meta) -> DomainResult<()> {
        let now = self.clock.now_ms();
        let event = meta
            .event(&session.tenant_id, "session.revoked", Some(&session.user_id), now)
            .with_detail(json!({ "session_id": session.id, "reason": reason }));
        self.store
            .revoke_sessions(&session.user_id, Some(&session.id), None, reason, now, Some(&event))
            .await?;
        Ok(())
    }
}
