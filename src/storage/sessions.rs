//! Sessions (refresh-token families) and their single-use refresh tokens.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::audit::NewEvent;
use super::{Store, StoreError, StoreResult};

/// A stored session.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// UUIDv7, also the `sid` claim.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Owner's tenant.
    pub tenant_id: String,
    /// Client that opened it.
    pub client_id: String,
    /// Scope granted at login (refreshes may narrow, never widen).
    pub scope: String,
    /// Unix seconds of the password check.
    pub auth_time: i64,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of the last refresh.
    pub last_used_at: i64,
    /// Unix ms after which an unused session dies.
    pub idle_expires_at: i64,
    /// Unix ms after which it dies whatever happens.
    pub expires_at: i64,
    /// Unix ms when revoked.
    pub revoked_at: Option<i64>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// IP at login.
    pub ip: Option<String>,
    /// User agent at login.
    pub user_agent: Option<String>,
    /// `refresh` (a client's token family) or `sso` (a browser session).
    pub kind: String,
    /// The browser session this one was opened through, if any.
    pub parent_id: Option<String>,
    /// Authentication methods used at sign-in (`pwd`, `otp`, …).
    pub amr: Vec<String>,
}

impl SessionRecord {
    /// Whether the session can still be used at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.idle_expires_at && now < self.expires_at
    }
}

/// What happened to a presented refresh token.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// First use: rotated; the session as it is now.
    Rotated(SessionRecord),
    /// A repeat within the grace window: a new token was issued, the lost one invalidated.
    GraceReplay(SessionRecord),
    /// A rotated token came back: the whole session was revoked.
    Reused(SessionRecord),
    /// The session is revoked or expired.
    Dead,
    /// No such token.
    Unknown,
}

pub(super) const SESSION_COLUMNS: &str = "s.id, s.user_id, s.tenant_id, s.client_id, s.scope, s.auth_time, s.created_at, \
     s.last_used_at, s.idle_expires_at, s.expires_at, s.revoked_at, s.revoked_reason, s.ip, s.user_agent, s.kind, \
     s.parent_id, s.amr";

pub(super) fn session_from_row(r: &AnyRow) -> Result<SessionRecord, sqlx::Error> {
    Ok(SessionRecord {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        tenant_id: r.try_get("tenant_id")?,
        client_id: r.try_get("client_id")?,
        scope: r.try_get("scope")?,
        auth_time: r.try_get("auth_time")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        idle_expires_at: r.try_get("idle_expires_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
        revoked_reason: r.try_get("revoked_reason")?,
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
        kind: r.try_get("kind")?,
        parent_id: r.try_get("parent_id")?,
        amr: r
            .try_get::<String, _>("amr")?
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    })
}

pub(super) async fn insert_token(
    tx: &mut Transaction<'_, Any>,
    hash: &str,
    session: &SessionRecord,
    now: i64,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, scope, created_at) VALUES ($1, $2, $3, $4)")
        .bind(hash)
        .bind(&session.id)
        .bind(&session.scope)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inserts a session row; `cookie_hash` only for browser sessions.
pub(super) async fn insert_session(
    tx: &mut Transaction<'_, Any>,
    s: &SessionRecord,
    cookie_hash: Option<&str>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, tenant_id, client_id, scope, auth_time, created_at, last_used_at, \
         idle_expires_at, expires_at, ip, user_agent, kind, parent_id, amr, cookie_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&s.id)
    .bind(&s.user_id)
    .bind(&s.tenant_id)
    .bind(&s.client_id)
    .bind(&s.scope)
    .bind(s.auth_time)
    .bind(s.created_at)
    .bind(s.last_used_at)
    .bind(s.idle_expires_at)
    .bind(s.expires_at)
    .bind(&s.ip)
    .bind(&s.user_agent)
    .bind(&s.kind)
    .bind(&s.parent_id)
    .bind(s.amr.join(" "))
    .bind(cookie_hash)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn session_in(tx: &mut Transaction<'_, Any>, id: &str) -> StoreResult<Option<SessionRecord>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await?;
    Ok(row.as_ref().map(session_from_row).transpose()?)
}

impl Store {
    /// Opens a session with its first refresh token and records the login, atomically.
    pub async fn create_session(&self, s: &SessionRecord, token_hash: &str, event: &NewEvent) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        insert_session(&mut tx, s, None).await?;
        insert_token(&mut tx, token_hash, s, s.created_at).await?;
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses a refresh token once: the conditional update makes concurrent uses of one token
    /// race in the database, where exactly one wins.
    pub async fn use_refresh_token(
        &self,
        hash: &str,
        new_hash: &str,
        now: i64,
        idle_ms: i64,
        grace_ms: i64,
    ) -> StoreResult<RefreshOutcome> {
        let mut tx = self.pool().begin().await?;
        // The claim returns the session, so the common case needs no second look at the token.
        let claim = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL RETURNING session_id",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let claimed = claim.is_some();
        let (session_id, used_at): (String, Option<i64>) = match claim {
            Some(row) => (row.try_get("session_id")?, Some(now)),
            None => {
                let row = sqlx::query("SELECT session_id, used_at FROM refresh_tokens WHERE token_hash = $1")
                    .bind(hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Ok(RefreshOutcome::Unknown);
                };
                (row.try_get("session_id")?, row.try_get("used_at")?)
            }
        };
        if claimed {
            // The common case in one statement: extend a live session and read it back.
            let sql = format!(
                "UPDATE sessions SET last_used_at = $2, \
                 idle_expires_at = CASE WHEN $3 < expires_at THEN $3 ELSE expires_at END \
                 WHERE id = $1 AND revoked_at IS NULL AND idle_expires_at > $2 AND expires_at > $2 \
                 RETURNING {}",
                SESSION_COLUMNS.replace("s.", "")
            );
            let row = sqlx::query(&sql)
                .bind(&session_id)
                .bind(now)
                .bind(now.saturating_add(idle_ms))
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = row {
                let session = session_from_row(&row)?;
                insert_token(&mut tx, new_hash, &session, now).await?;
                tx.commit().await?;
                return Ok(RefreshOutcome::Rotated(session));
            }
            // Not live (or gone): the general path below tells which.
        }
        let Some(mut session) = session_in(&mut tx, &session_id).await? else {
            return Ok(RefreshOutcome::Unknown);
        };
        if !session.is_live(now) {
            tx.commit().await?;
            return Ok(RefreshOutcome::Dead);
        }
        if !claimed {
            let within_grace = used_at.is_some_and(|u| now - u <= grace_ms) && grace_ms > 0;
            if !within_grace {
                sqlx::query("UPDATE sessions SET revoked_at = $2, revoked_reason = 'refresh_token_reuse' WHERE id = $1 AND revoked_at IS NULL")
                    .bind(&session.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(RefreshOutcome::Reused(session));
            }
            // The successor the client never received must not stay usable.
            sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE session_id = $1 AND used_at IS NULL")
                .bind(&session.id)
                .bind(now - grace_ms - 1)
                .execute(&mut *tx)
                .await?;
        }
        session.last_used_at = now;
        session.idle_expires_at = (now + idle_ms).min(session.expires_at);
        sqlx::query("UPDATE sessions SET last_used_at = $2, idle_expires_at = $3 WHERE id = $1")
            .bind(&session.id)
            .bind(session.last_used_at)
            .bind(session.idle_expires_at)
            .execute(&mut *tx)
            .await?;
        insert_token(&mut tx, new_hash, &session, now).await?;
        tx.commit().await?;
        Ok(if claimed {
            RefreshOutcome::Rotated(session)
        } else {
            RefreshOutcome::GraceReplay(session)
        })
    }

    /// The session a refresh token belongs to, without using it.
    pub async fn session_by_token(&self, hash: &str) -> StoreResult<Option<(SessionRecord, bool)>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS}, rt.used_at AS token_used_at FROM refresh_tokens rt \
             JOIN sessions s ON s.id = rt.session_id WHERE rt.token_hash = $1"
        );
        let row = sqlx::query(&sql).bind(hash).fetch_optional(self.pool()).await?;
        match row {
            Some(r) => {
                let used: Option<i64> = r.try_get("token_used_at")?;
                Ok(Some((session_from_row(&r)?, used.is_some())))
            }
            None => Ok(None),
        }
    }

    /// A session by id.
    pub async fn session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    /// A user's live sessions, newest first, after `cursor` (a session id).
    pub async fn sessions_of(
        &self,
        user_id: &str,
        now: i64,
        cursor: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<SessionRecord>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.user_id = $1 AND s.revoked_at IS NULL \
             AND s.idle_expires_at > $2 AND s.expires_at > $2 AND ($3 = '' OR s.id < $3) ORDER BY s.id DESC LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(user_id)
            .bind(now)
            .bind(cursor.unwrap_or(""))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// Revokes sessions of a user: one (`only`), all but one (`except`), or all. Returns how many.
    pub async fn revoke_sessions(
        &self,
        user_id: &str,
        only: Option<&str>,
        except: Option<&str>,
        reason: &str,
        now: i64,
        event: Option<&NewEvent>,
    ) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL \
             AND ($4 = '' OR id = $4) AND ($5 = '' OR id <> $5)",
        )
        .bind(user_id)
        .bind(now)
        .bind(reason)
        .bind(only.unwrap_or(""))
        .bind(except.unwrap_or(""))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if let Some(event) = event {
            event.insert(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Changes a password hash and revokes the user's other sessions in one transaction.
    pub async fn change_password(
        &self,
        user_id: &str,
        hash: &str,
        keep_session: Option<&str>,
        now: i64,
        event: &NewEvent,
    ) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = 'password_changed' WHERE user_id = $1 \
             AND revoked_at IS NULL AND ($3 = '' OR id <> $3)",
        )
        .bind(user_id)
        .bind(now)
        .bind(keep_session.unwrap_or(""))
        .execute(&mut *tx)
        .await?;
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes sessions that expired or were revoked before `before` (their tokens go with them).
    pub async fn purge_sessions(&self, now: i64, before: i64) -> StoreResult<u64> {
        let r = sqlx::query(
            "DELETE FROM sessions WHERE expires_at <= $1 OR idle_expires_at <= $1 OR (revoked_at IS NOT NULL AND revoked_at <= $2)",
        )
        .bind(now)
        .bind(before)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected())
    }
}
