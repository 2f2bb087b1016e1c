//! Browser (SSO) sessions: rows of `sessions` with kind `sso`, found by their cookie's hash.

use super::audit::NewEvent;
use super::sessions::{SESSION_COLUMNS, SessionRecord, insert_session, session_from_row};
use super::{Store, StoreResult};

impl Store {
    /// Opens a browser session and records the sign-in, atomically.
    pub async fn create_sso_session(&self, s: &SessionRecord, cookie_hash: &str, event: &NewEvent) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        insert_session(&mut tx, s, Some(cookie_hash)).await?;
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The browser session behind a cookie, live or not.
    pub async fn sso_session_by_cookie(&self, cookie_hash: &str) -> StoreResult<Option<SessionRecord>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.cookie_hash = $1 AND s.kind = 'sso'");
        let row = sqlx::query(&sql).bind(cookie_hash).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    /// Records use of a browser session, pushing its idle expiry out.
    pub async fn touch_session(&self, id: &str, now: i64, idle_expires_at: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_used_at = $2, idle_expires_at = $3 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .bind(idle_expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends a browser session and every session opened through it. Returns how many ended.
    pub async fn end_sso_session(&self, id: &str, reason: &str, now: i64, event: &NewEvent) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE (id = $1 OR parent_id = $1) AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .bind(reason)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(n)
    }
}
