//! Single-use tokens sent by email: password reset and email verification.
//!
//! Only the SHA-256 of a token is stored. A token is used by a conditional
//! `UPDATE … WHERE used_at IS NULL`, inside the transaction of the change it authorizes, so
//! two concurrent uses of one token race in the database, where exactly one wins.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::NewEvent;
use super::users::normalize;
use super::{Store, StoreResult};

/// Kind of a password-reset token.
pub const PASSWORD_RESET: &str = "password_reset";
/// Kind of an email-verification token.
pub const EMAIL_VERIFICATION: &str = "email_verification";

/// A stored token (its hash, never the token).
#[derive(Debug, Clone)]
pub struct ActionTokenRecord {
    /// SHA-256 hex of the token.
    pub token_hash: String,
    /// [`PASSWORD_RESET`] or [`EMAIL_VERIFICATION`].
    pub kind: String,
    /// Whose account it acts on.
    pub user_id: String,
    /// The user's tenant.
    pub tenant_id: String,
    /// The address it was sent to.
    pub email: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms after which it is refused.
    pub expires_at: i64,
    /// Unix ms of its one use.
    pub used_at: Option<i64>,
}

impl ActionTokenRecord {
    /// Whether the token can still be used at `now`.
    pub fn is_usable(&self, now: i64) -> bool {
        self.used_at.is_none() && now < self.expires_at
    }
}

fn token_from_row(r: &AnyRow) -> Result<ActionTokenRecord, sqlx::Error> {
    Ok(ActionTokenRecord {
        token_hash: r.try_get("token_hash")?,
        kind: r.try_get("kind")?,
        user_id: r.try_get("user_id")?,
        tenant_id: r.try_get("tenant_id")?,
        email: r.try_get("email")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        used_at: r.try_get("used_at")?,
    })
}

impl Store {
    /// Stores a new token, retiring the user's earlier unused tokens of the same kind, and
    /// records the event, in one transaction.
    pub async fn issue_action_token(&self, t: &ActionTokenRecord, event: &NewEvent) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        // Only the newest link works: an older mail, forwarded or leaked, is worthless.
        sqlx::query("UPDATE action_tokens SET used_at = $3 WHERE user_id = $1 AND kind = $2 AND used_at IS NULL")
            .bind(&t.user_id)
            .bind(&t.kind)
            .bind(t.created_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO action_tokens (token_hash, kind, user_id, tenant_id, email, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.token_hash)
        .bind(&t.kind)
        .bind(&t.user_id)
        .bind(&t.tenant_id)
        .bind(&t.email)
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&mut *tx)
        .await?;
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A token of `kind` by its hash, used or not.
    pub async fn action_token(&self, hash: &str, kind: &str) -> StoreResult<Option<ActionTokenRecord>> {
        let row = sqlx::query(
            "SELECT token_hash, kind, user_id, tenant_id, email, created_at, expires_at, used_at \
             FROM action_tokens WHERE token_hash = $1 AND kind = $2",
        )
        .bind(hash)
        .bind(kind)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(token_from_row).transpose()?)
    }

    /// Uses a password-reset token: sets the new hash, revokes every session of the user and
    /// records `events`, all in one transaction. `false` (nothing changed) when the token was
    /// already used, has expired, or the account's email is no longer the one it was sent to.
    pub async fn reset_password_with_token(
        &self,
        token: &ActionTokenRecord,
        password_hash: &str,
        now: i64,
        events: &[NewEvent],
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        if !claim(&mut tx, &token.token_hash, PASSWORD_RESET, now).await? {
            return Ok(false);
        }
        let updated = sqlx::query(
            "UPDATE users SET password_hash = $2, updated_at = $3 \
             WHERE id = $1 AND email_normalized = $4 AND status = 'active'",
        )
        .bind(&token.user_id)
        .bind(password_hash)
        .bind(now)
        .bind(normalize(&token.email))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            // Dropping the transaction rolls the claim back too.
            return Ok(false);
        }
        sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = 'password_reset' \
             WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(&token.user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for event in events {
            event.insert(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Uses an email-verification token: marks the email verified only if it is still the
    /// address the token was sent to, and records `event`, in one transaction. `false`
    /// (nothing changed) when the token was used, has expired, or the email changed.
    pub async fn verify_email_with_token(
        &self,
        token: &ActionTokenRecord,
        now: i64,
        event: &NewEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        if !claim(&mut tx, &token.token_hash, EMAIL_VERIFICATION, now).await? {
            return Ok(false);
        }
        let updated =
            sqlx::query("UPDATE users SET email_verified = 1, updated_at = $2 WHERE id = $1 AND email_normalized = $3")
                .bind(&token.user_id)
                .bind(now)
                .bind(normalize(&token.email))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if updated != 1 {
            return Ok(false);
        }
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes tokens whose lifetime is over (used or not).
    pub async fn purge_action_tokens(&self, now: i64) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM action_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected())
    }
}

/// Marks a token used if it is unused and unexpired; `true` for the one caller that wins.
async fn claim(tx: &mut sqlx::Transaction<'_, sqlx::Any>, hash: &str, kind: &str, now: i64) -> StoreResult<bool> {
    let n = sqlx::query(
        "UPDATE action_tokens SET used_at = $3 \
         WHERE token_hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(hash)
    .bind(kind)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}
