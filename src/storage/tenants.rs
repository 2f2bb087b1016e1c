//! Tenants: every user, client and role belongs to one.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::NewEvent;
use super::{Store, StoreError, StoreResult};

/// A stored tenant.
#[derive(Debug, Clone)]
pub struct TenantRecord {
    /// Slug, e.g. `acme`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// What became of a tenant deletion.
#[derive(Debug, PartialEq, Eq)]
pub enum TenantDeletion {
    /// Deleted with its roles.
    Deleted,
    /// No such tenant.
    NotFound,
    /// Users or clients still belong to it.
    InUse,
}

/// Roles every tenant starts with; `user_roles` refers to them by foreign key.
pub const BUILT_IN_ROLES: [(&str, &str); 2] = [
    ("customer", "Granted on sign-up"),
    ("admin", "Manages users, roles, clients and keys"),
];

fn tenant_from_row(r: &AnyRow) -> Result<TenantRecord, sqlx::Error> {
    Ok(TenantRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// A tenant by id.
    pub async fn tenant(&self, id: &str) -> StoreResult<Option<TenantRecord>> {
        let row = sqlx::query("SELECT id, name, created_at, updated_at FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(tenant_from_row).transpose()?)
    }

    /// Tenants by id after `cursor`; only `only` when given.
    pub async fn tenants(
        &self,
        only: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<TenantRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, updated_at FROM tenants \
             WHERE ($1 = '' OR id = $1) AND ($2 = '' OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(only.unwrap_or(""))
        .bind(cursor.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(tenant_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// Creates a tenant with its built-in roles, atomically.
    pub async fn insert_tenant(&self, t: &TenantRecord, event: &NewEvent) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("INSERT INTO tenants (id, name, created_at, updated_at) VALUES ($1, $2, $3, $4)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(t.created_at)
            .bind(t.updated_at)
            .execute(&mut *tx)
            .await?;
        for (name, description) in BUILT_IN_ROLES {
            sqlx::query("INSERT INTO roles (tenant_id, name, description, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&t.id)
                .bind(name)
                .bind(description)
                .bind(t.created_at)
                .execute(&mut *tx)
                .await?;
        }
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Renames a tenant; `false` when it does not exist.
    pub async fn rename_tenant(&self, id: &str, name: &str, now: i64, event: &NewEvent) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query("UPDATE tenants SET name = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        event.commit_if(tx, n > 0).await
    }

    /// Deletes an empty tenant and its roles. A user or client added concurrently makes the
    /// foreign keys refuse the delete, which is reported as `InUse` too.
    pub async fn delete_tenant(&self, id: &str, event: &NewEvent) -> StoreResult<TenantDeletion> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM tenants WHERE id = $1) AS t, \
               (SELECT COUNT(*) FROM users WHERE tenant_id = $1) AS u, \
               (SELECT COUNT(*) FROM clients WHERE tenant_id = $1) AS c",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if row.try_get::<i64, _>("t")? == 0 {
            return Ok(TenantDeletion::NotFound);
        }
        if row.try_get::<i64, _>("u")? > 0 || row.try_get::<i64, _>("c")? > 0 {
            return Ok(TenantDeletion::InUse);
        }
        let result: StoreResult<()> = async {
            sqlx::query("DELETE FROM roles WHERE tenant_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM tenants WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {}
            Err(StoreError::MissingReference(_)) => return Ok(TenantDeletion::InUse),
            Err(e) => return Err(e),
        }
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(TenantDeletion::Deleted)
    }
}
