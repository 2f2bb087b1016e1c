//! Consent a user gave a client for a set of scopes.

use sqlx::Row;

use super::audit::NewEvent;
use super::{Store, StoreError, StoreResult};

/// A remembered consent, with the client's name for display.
#[derive(Debug, Clone)]
pub struct ConsentRecord {
    /// The client.
    pub client_id: String,
    /// The client's display name.
    pub client_name: String,
    /// Scopes consented to.
    pub scopes: Vec<String>,
    /// Unix ms of the last change.
    pub updated_at: i64,
}

impl Store {
    /// Scopes the user has consented to for a client.
    pub async fn consented_scopes(&self, user_id: &str, client_id: &str) -> StoreResult<Vec<String>> {
        let row = sqlx::query("SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => r
                .try_get::<String, _>("scope")?
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            None => Vec::new(),
        })
    }

    /// Remembers consent for `scopes` (replacing the previous set) and records it.
    pub async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &[String],
        now: i64,
        event: &NewEvent,
    ) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, scope, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = $3, updated_at = $4",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scopes.join(" "))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user's consents, by client name.
    pub async fn consents_of(&self, user_id: &str) -> StoreResult<Vec<ConsentRecord>> {
        let rows = sqlx::query(
            "SELECT c.client_id, k.name, c.scope, c.updated_at FROM consents c JOIN clients k ON k.id = c.client_id \
             WHERE c.user_id = $1 ORDER BY k.name, c.client_id LIMIT 200",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ConsentRecord {
                    client_id: r.try_get("client_id")?,
                    client_name: r.try_get("name")?,
                    scopes: r
                        .try_get::<String, _>("scope")?
                        .split_whitespace()
                        .map(str::to_string)
                        .collect(),
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Withdraws consent and ends the sessions the client holds for the user.
    pub async fn revoke_consent(
        &self,
        user_id: &str,
        client_id: &str,
        now: i64,
        event: &NewEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE sessions SET revoked_at = $3, revoked_reason = 'consent_revoked' WHERE user_id = $1 \
             AND client_id = $2 AND kind = 'refresh' AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        event.commit_if(tx, n > 0).await
    }
}
