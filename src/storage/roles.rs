//! Roles of a tenant and their grants to users.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::NewEvent;
use super::{Store, StoreError, StoreResult};

/// A stored role.
#[derive(Debug, Clone)]
pub struct RoleRecord {
    /// Owning tenant.
    pub tenant_id: String,
    /// Name, unique in the tenant.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Unix ms.
    pub created_at: i64,
}

fn role_from_row(r: &AnyRow) -> Result<RoleRecord, sqlx::Error> {
    Ok(RoleRecord {
        tenant_id: r.try_get("tenant_id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// A role of a tenant.
    pub async fn role(&self, tenant_id: &str, name: &str) -> StoreResult<Option<RoleRecord>> {
        let row = sqlx::query(
            "SELECT tenant_id, name, description, created_at FROM roles WHERE tenant_id = $1 AND name = $2",
        )
        .bind(tenant_id)
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(role_from_row).transpose()?)
    }

    /// Roles of a tenant by name, after `cursor`.
    pub async fn roles(&self, tenant_id: &str, cursor: Option<&str>, limit: i64) -> StoreResult<Vec<RoleRecord>> {
        let rows = sqlx::query(
            "SELECT tenant_id, name, description, created_at FROM roles \
             WHERE tenant_id = $1 AND ($2 = '' OR name > $2) ORDER BY name LIMIT $3",
        )
        .bind(tenant_id)
        .bind(cursor.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(role_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// Creates a role; a taken name is `Conflict`, an unknown tenant `MissingReference`.
    pub async fn insert_role(&self, r: &RoleRecord, event: &NewEvent) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("INSERT INTO roles (tenant_id, name, description, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&r.tenant_id)
            .bind(&r.name)
            .bind(&r.description)
            .bind(r.created_at)
            .execute(&mut *tx)
            .await?;
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a role; its grants go with it (foreign key cascade).
    pub async fn delete_role(&self, tenant_id: &str, name: &str, event: &NewEvent) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        // Explicit, so the grants go even where cascades are off.
        sqlx::query("DELETE FROM user_roles WHERE tenant_id = $1 AND role_name = $2")
            .bind(tenant_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM roles WHERE tenant_id = $1 AND name = $2")
            .bind(tenant_id)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        event.commit_if(tx, n > 0).await
    }

    /// Grants a role of the user's tenant; `false` when the user held it already.
    /// An unknown role is `MissingReference`.
    pub async fn grant_role(
        &self,
        user_id: &str,
        tenant_id: &str,
        role: &str,
        now: i64,
        event: &NewEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(
            "INSERT INTO user_roles (user_id, tenant_id, role_name, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, role_name) DO NOTHING",
        )
        .bind(user_id)
        .bind(tenant_id)
        .bind(role)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        event.commit_if(tx, n > 0).await
    }

    /// Takes a role away; `false` when the user did not hold it.
    pub async fn revoke_role(&self, user_id: &str, role: &str, event: &NewEvent) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role_name = $2")
            .bind(user_id)
            .bind(role)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        event.commit_if(tx, n > 0).await
    }
}
