//! OAuth clients.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::NewEvent;
use super::{Store, StoreError, StoreResult, flag};

/// A stored client.
#[derive(Debug, Clone)]
pub struct ClientRecord {
    /// `client_id`.
    pub id: String,
    /// Owning tenant; the client logs in only this tenant's users.
    pub tenant_id: String,
    /// Display name.
    pub name: String,
    /// SHA-256 (hex) of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    /// Public clients cannot keep a secret.
    pub public: bool,
    /// The built-in client behind `/auth/*`.
    pub first_party: bool,
    /// Allowed grant types.
    pub grant_types: Vec<String>,
    /// Allowed scopes.
    pub scopes: Vec<String>,
    /// Audiences put in access tokens (the issuer when empty).
    pub audiences: Vec<String>,
    /// Access-token lifetime override, seconds.
    pub access_ttl_secs: Option<i64>,
    /// Refresh idle lifetime override, seconds.
    pub refresh_idle_secs: Option<i64>,
    /// Refresh absolute lifetime override, seconds.
    pub refresh_max_secs: Option<i64>,
    /// Where authorization responses may go (exact match; loopback any port).
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return to (exact match).
    pub post_logout_redirect_uris: Vec<String>,
    /// Ask the user before issuing a code (off for first-party apps).
    pub require_consent: bool,
    /// Demand PKCE (S256) on the authorization code flow; always on for public clients.
    pub require_pkce: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

const COLUMNS: &str = "id, tenant_id, name, secret_hash, public, first_party, grant_types, scopes, audiences, \
     access_ttl_secs, refresh_idle_secs, refresh_max_secs, created_at, updated_at, \
     redirect_uris, post_logout_redirect_uris, require_consent, require_pkce";

fn split(v: &str) -> Vec<String> {
    v.split_whitespace().map(str::to_string).collect()
}

fn client_from_row(r: &AnyRow) -> Result<ClientRecord, sqlx::Error> {
    Ok(ClientRecord {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        secret_hash: r.try_get("secret_hash")?,
        public: flag(r.try_get("public")?),
        first_party: flag(r.try_get("first_party")?),
        grant_types: split(&r.try_get::<String, _>("grant_types")?),
        scopes: split(&r.try_get::<String, _>("scopes")?),
        audiences: split(&r.try_get::<String, _>("audiences")?),
        access_ttl_secs: r.try_get("access_ttl_secs")?,
        refresh_idle_secs: r.try_get("refresh_idle_secs")?,
        refresh_max_secs: r.try_get("refresh_max_secs")?,
        redirect_uris: split(&r.try_get::<String, _>("redirect_uris")?),
        post_logout_redirect_uris: split(&r.try_get::<String, _>("post_logout_redirect_uris")?),
        require_consent: flag(r.try_get("require_consent")?),
        require_pkce: flag(r.try_get("require_pkce")?),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// A client by id.
    pub async fn client(&self, id: &str) -> StoreResult<Option<ClientRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM clients WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(client_from_row).transpose()?)
    }

    /// Clients of a tenant (all when `None`), by id, after `cursor`.
    pub async fn clients(
        &self,
        tenant_id: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<ClientRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM clients WHERE ($1 = '' OR tenant_id = $1) AND ($2 = '' OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant_id.unwrap_or(""))
            .bind(cursor.unwrap_or(""))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(client_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// Inserts a client.
    pub async fn insert_client(&self, c: &ClientRecord, event: &NewEvent) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(&format!(
            "INSERT INTO clients ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        ))
        .bind(&c.id)
        .bind(&c.tenant_id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(i64::from(c.public))
        .bind(i64::from(c.first_party))
        .bind(c.grant_types.join(" "))
        .bind(c.scopes.join(" "))
        .bind(c.audiences.join(" "))
        .bind(c.access_ttl_secs)
        .bind(c.refresh_idle_secs)
        .bind(c.refresh_max_secs)
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(c.redirect_uris.join(" "))
        .bind(c.post_logout_redirect_uris.join(" "))
        .bind(i64::from(c.require_consent))
        .bind(i64::from(c.require_pkce))
        .execute(&mut *tx)
        .await?;
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Rewrites a client's mutable fields (name, grants, scopes, audiences, lifetimes, secret,
    /// redirect URIs, consent and PKCE switches).
    pub async fn update_client(&self, c: &ClientRecord, event: &NewEvent) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(
            "UPDATE clients SET name = $2, secret_hash = $3, grant_types = $4, scopes = $5, audiences = $6, \
             access_ttl_secs = $7, refresh_idle_secs = $8, refresh_max_secs = $9, updated_at = $10, \
             redirect_uris = $11, post_logout_redirect_uris = $12, require_consent = $13, require_pkce = $14 WHERE id = $1",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(c.grant_types.join(" "))
        .bind(c.scopes.join(" "))
        .bind(c.audiences.join(" "))
        .bind(c.access_ttl_secs)
        .bind(c.refresh_idle_secs)
        .bind(c.refresh_max_secs)
        .bind(c.updated_at)
        .bind(c.redirect_uris.join(" "))
        .bind(c.post_logout_redirect_uris.join(" "))
        .bind(i64::from(c.require_consent))
        .bind(i64::from(c.require_pkce))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        event.commit_if(tx, n > 0).await
    }

    /// Deletes a client and revokes the sessions it opened.
    pub async fn delete_client(&self, id: &str, now: i64, event: &NewEvent) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE sessions SET revoked_at = $2, revoked_reason = 'client_deleted' WHERE client_id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM clients WHERE id = $1 AND first_party = 0")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        event.commit_if(tx, n > 0).await
    }
}
