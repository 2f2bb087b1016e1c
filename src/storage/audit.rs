//! Audit events: who did what to whom, from where; never a secret.

use sqlx::{Any, Row, Transaction};

use super::{Store, StoreError, StoreResult};

/// An event to record, usually inside the transaction of the change it describes.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Tenant the event belongs to.
    pub tenant_id: String,
    /// Event name, e.g. `user.signup`.
    pub event: String,
    /// Who acted (user or client id).
    pub actor_id: Option<String>,
    /// Whom it concerned.
    pub subject_id: Option<String>,
    /// Caller IP.
    pub ip: Option<String>,
    /// Caller user agent.
    pub user_agent: Option<String>,
    /// Extra non-secret details as JSON.
    pub detail: Option<serde_json::Value>,
    /// Unix ms.
    pub at: i64,
}

/// A stored event.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct EventRecord {
    /// UUIDv7, also the pagination cursor.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Event name.
    pub event: String,
    /// Who acted.
    pub actor_id: Option<String>,
    /// Whom it concerned.
    pub subject_id: Option<String>,
    /// Caller IP.
    pub ip: Option<String>,
    /// Caller user agent.
    pub user_agent: Option<String>,
    /// Extra details.
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    /// Unix ms.
    pub created_at: i64,
}

impl NewEvent {
    /// Writes the event inside `tx`.
    pub async fn insert(&self, tx: &mut Transaction<'_, Any>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (id, tenant_id, event, actor_id, subject_id, ip, user_agent, detail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&self.tenant_id)
        .bind(&self.event)
        .bind(&self.actor_id)
        .bind(&self.subject_id)
        .bind(&self.ip)
        .bind(&self.user_agent)
        .bind(self.detail.as_ref().map(|d| d.to_string()))
        .bind(self.at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

impl NewEvent {
    /// Records this event and commits `tx` when `changed`; otherwise drops `tx`, which rolls
    /// it back. Returns `changed`, for the "did the row exist" answers of update and delete.
    pub async fn commit_if(&self, mut tx: Transaction<'_, Any>, changed: bool) -> StoreResult<bool> {
        if !changed {
            return Ok(false);
        }
        self.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl Store {
    /// Records an event on its own (for events with no other write, e.g. a failed login).
    pub async fn record(&self, event: &NewEvent) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Events of a tenant (all tenants when `None`), optionally about one subject, newest first.
    pub async fn events(
        &self,
        tenant_id: Option<&str>,
        subject_id: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<EventRecord>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, event, actor_id, subject_id, ip, user_agent, detail, created_at \
             FROM audit_events \
             WHERE ($1 = '' OR tenant_id = $1) AND ($2 = '' OR subject_id = $2) AND ($3 = '' OR id < $3) \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(tenant_id.unwrap_or(""))
        .bind(subject_id.unwrap_or(""))
        .bind(cursor.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let detail: Option<String> = r.try_get("detail")?;
                Ok(EventRecord {
                    id: r.try_get("id")?,
                    tenant_id: r.try_get("tenant_id")?,
                    event: r.try_get("event")?,
                    actor_id: r.try_get("actor_id")?,
                    subject_id: r.try_get("subject_id")?,
                    ip: r.try_get("ip")?,
                    user_agent: r.try_get("user_agent")?,
                    detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
