//! Pending authorization requests and authorization codes (RFC 6749 §4.1).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::NewEvent;
use super::sessions::{SessionRecord, insert_session, insert_token};
use super::{Store, StoreResult};

/// An authorization request waiting for sign-in or consent.
#[derive(Debug, Clone)]
pub struct AuthRequestRecord {
    /// Random id carried in the page URLs.
    pub id: String,
    /// The client that asked.
    pub client_id: String,
    /// The validated request parameters, as JSON.
    pub params: String,
    /// The browser session whose sign-in happened for this request (satisfies `prompt=login`
    /// and `max_age`).
    pub login_sso_id: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
}

/// A stored authorization code (the code itself only as a hash).
#[derive(Debug, Clone)]
pub struct CodeRecord {
    /// SHA-256 (hex) of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user who authorized.
    pub user_id: String,
    /// The browser session it came from.
    pub sso_session_id: String,
    /// The `redirect_uri` of the request, to be repeated at the token endpoint.
    pub redirect_uri: String,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// OIDC `nonce` to echo in the ID token.
    pub nonce: Option<String>,
    /// Unix seconds of the sign-in.
    pub auth_time: i64,
    /// Authentication methods, space-separated.
    pub amr: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: i64,
    /// Unix ms of the exchange.
    pub used_at: Option<i64>,
    /// The session the exchange opened.
    pub session_id: Option<String>,
}

const CODE_COLUMNS: &str = "code_hash, client_id, user_id, sso_session_id, redirect_uri, code_challenge, scope, \
     nonce, auth_time, amr, created_at, expires_at, used_at, session_id";

fn code_from_row(r: &AnyRow) -> Result<CodeRecord, sqlx::Error> {
    Ok(CodeRecord {
        code_hash: r.try_get("code_hash")?,
        client_id: r.try_get("client_id")?,
        user_id: r.try_get("user_id")?,
        sso_session_id: r.try_get("sso_session_id")?,
        redirect_uri: r.try_get("redirect_uri")?,
        code_challenge: r.try_get("code_challenge")?,
        scope: r.try_get("scope")?,
        nonce: r.try_get("nonce")?,
        auth_time: r.try_get("auth_time")?,
        amr: r.try_get("amr")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        used_at: r.try_get("used_at")?,
        session_id: r.try_get("session_id")?,
    })
}

impl Store {
    /// Saves a pending authorization request.
    pub async fn insert_auth_request(&self, r: &AuthRequestRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO authorization_requests (id, client_id, params, login_sso_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&r.id)
        .bind(&r.client_id)
        .bind(&r.params)
        .bind(&r.login_sso_id)
        .bind(r.created_at)
        .bind(r.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A pending request that has not expired.
    pub async fn auth_request(&self, id: &str, now: i64) -> StoreResult<Option<AuthRequestRecord>> {
        let row = sqlx::query(
            "SELECT id, client_id, params, login_sso_id, created_at, expires_at FROM authorization_requests \
             WHERE id = $1 AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(AuthRequestRecord {
            id: r.try_get("id")?,
            client_id: r.try_get("client_id")?,
            params: r.try_get("params")?,
            login_sso_id: r.try_get("login_sso_id")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
        }))
    }

    /// Notes that the user signed in for this request, in browser session `sso_id`.
    pub async fn mark_auth_request_login(&self, id: &str, sso_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE authorization_requests SET login_sso_id = $2 WHERE id = $1")
            .bind(id)
            .bind(sso_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Forgets a finished request. Returns whether it was still there (one finish only).
    pub async fn delete_auth_request(&self, id: &str) -> StoreResult<bool> {
        let n = sqlx::query("DELETE FROM authorization_requests WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Stores a new authorization code.
    pub async fn insert_code(&self, c: &CodeRecord) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO authorization_codes ({CODE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(&c.code_hash)
        .bind(&c.client_id)
        .bind(&c.user_id)
        .bind(&c.sso_session_id)
        .bind(&c.redirect_uri)
        .bind(&c.code_challenge)
        .bind(&c.scope)
        .bind(&c.nonce)
        .bind(c.auth_time)
        .bind(&c.amr)
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(c.used_at)
        .bind(&c.session_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A code by the hash of its value.
    pub async fn code(&self, code_hash: &str) -> StoreResult<Option<CodeRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {CODE_COLUMNS} FROM authorization_codes WHERE code_hash = $1"
        ))
        .bind(code_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(code_from_row).transpose()?)
    }

    /// Uses a code once and opens the session it grants, atomically: the conditional update
    /// lets exactly one of several concurrent exchanges win. `false` when it was already used.
    pub async fn redeem_code(
        &self,
        code_hash: &str,
        now: i64,
        session: &SessionRecord,
        refresh_hash: &str,
        event: &NewEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(
            "UPDATE authorization_codes SET used_at = $2, session_id = $3 WHERE code_hash = $1 AND used_at IS NULL",
        )
        .bind(code_hash)
        .bind(now)
        .bind(&session.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        insert_session(&mut tx, session, None).await?;
        insert_token(&mut tx, refresh_hash, session, now).await?;
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A used code came back: revokes what its exchange issued. Returns how many sessions ended.
    pub async fn revoke_code_grant(&self, code_hash: &str, now: i64, event: &NewEvent) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = 'code_reuse' WHERE revoked_at IS NULL AND id = \
             (SELECT session_id FROM authorization_codes WHERE code_hash = $1)",
        )
        .bind(code_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Deletes expired codes and requests (and used codes once they expired).
    pub async fn purge_authorization(&self, now: i64) -> StoreResult<u64> {
        let a = sqlx::query("DELETE FROM authorization_codes WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected();
        let b = sqlx::query("DELETE FROM authorization_requests WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(a + b)
    }
}
