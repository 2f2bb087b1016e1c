//! Signing keys and their lifecycle transitions, each one conditional so that instances
//! racing to rotate cannot produce two active keys.

use sqlx::Row;

use super::audit::NewEvent;
use super::{Store, StoreResult};

/// A stored signing key.
#[derive(Clone)]
pub struct KeyRecord {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// `RS256`, `ES256` or `EdDSA`.
    pub alg: String,
    /// Key size in bits.
    pub bits: i64,
    /// `pending`, `active`, `retired` or `revoked`.
    pub status: String,
    /// Public JWK members (JSON object text).
    pub public_jwk: String,
    /// AES-256-GCM sealed private key.
    pub private_enc: Vec<u8>,
    /// Unix ms.
    pub created_at: i64,
    /// When a pending key starts signing.
    pub activate_at: i64,
    /// When it started signing.
    pub activated_at: Option<i64>,
    /// When it stopped signing.
    pub retired_at: Option<i64>,
    /// When it leaves the JWKS.
    pub remove_after: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("kid", &self.kid)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Every key still in the database.
    pub async fn keys(&self) -> StoreResult<Vec<KeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, alg, bits, status, public_jwk, private_enc, created_at, activate_at, activated_at, \
             retired_at, remove_after, revoked_at FROM signing_keys ORDER BY created_at DESC",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KeyRecord {
                    kid: r.try_get("kid")?,
                    alg: r.try_get("alg")?,
                    bits: r.try_get("bits")?,
                    status: r.try_get("status")?,
                    public_jwk: r.try_get("public_jwk")?,
                    private_enc: r.try_get("private_enc")?,
                    created_at: r.try_get("created_at")?,
                    activate_at: r.try_get("activate_at")?,
                    activated_at: r.try_get("activated_at")?,
                    retired_at: r.try_get("retired_at")?,
                    remove_after: r.try_get("remove_after")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Inserts a key; fails with a conflict when its status slot (active/pending) is taken.
    pub async fn insert_key(&self, k: &KeyRecord, event: &NewEvent) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, bits, status, public_jwk, private_enc, created_at, activate_at, activated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(k.bits)
        .bind(&k.status)
        .bind(&k.public_jwk)
        .bind(&k.private_enc)
        .bind(k.created_at)
        .bind(k.activate_at)
        .bind(k.activated_at)
        .execute(&mut *tx)
        .await?;
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Retires `old` (if given) and activates `new` in one transaction; `false` when another
    /// instance changed either key first.
    pub async fn promote_key(
        &self,
        old: Option<&str>,
        new: &str,
        now: i64,
        remove_after: i64,
        event: &NewEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        if let Some(old) = old {
            let r = sqlx::query(
                "UPDATE signing_keys SET status = 'retired', retired_at = $2, remove_after = $3 \
                 WHERE kid = $1 AND status = 'active'",
            )
            .bind(old)
            .bind(now)
            .bind(remove_after)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() != 1 {
                return Ok(false);
            }
        }
        let r = sqlx::query(
            "UPDATE signing_keys SET status = 'active', activated_at = $2 WHERE kid = $1 AND status = 'pending'",
        )
        .bind(new)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match r {
            Ok(r) if r.rows_affected() == 1 => {}
            Ok(_) | Err(_) => return Ok(false),
        }
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Marks a key revoked (it leaves the JWKS at once); `false` when absent or revoked already.
    pub async fn revoke_key(&self, kid: &str, now: i64, event: &NewEvent) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let r = sqlx::query(
            "UPDATE signing_keys SET status = 'revoked', revoked_at = $2, remove_after = $2 \
             WHERE kid = $1 AND status <> 'revoked'",
        )
        .bind(kid)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        event.commit_if(tx, r.rows_affected() == 1).await
    }

    /// Deletes retired keys whose tokens have all expired, and revoked keys after a day of record.
    pub async fn purge_keys(&self, now: i64) -> StoreResult<u64> {
        let r = sqlx::query(
            "DELETE FROM signing_keys WHERE (status = 'retired' AND remove_after <= $1) \
             OR (status = 'revoked' AND revoked_at <= $2)",
        )
        .bind(now)
        .bind(now - 86_400_000)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected())
    }

    /// The longest access-token lifetime any client has, in seconds.
    pub async fn max_client_access_ttl(&self) -> StoreResult<Option<i64>> {
        let row = sqlx::query("SELECT MAX(access_ttl_secs) AS m FROM clients")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("m")?)
    }
}
