//! What only the admin API needs of users: filtered keyset listing and status changes.

use std::collections::HashMap;

use sqlx::Row;

use super::audit::NewEvent;
use super::users::{USER_COLUMNS as COLUMNS, UserRecord, user_from_row};
use super::{Store, StoreResult};

/// Filters of a user listing; empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Only this tenant (all when `None`).
    pub tenant_id: Option<String>,
    /// Case-insensitive substring of email, username or names.
    pub q: Option<String>,
    /// Only holders of this role.
    pub role: Option<String>,
    /// Only this status.
    pub status: Option<String>,
}

/// `LIKE` pattern for a substring, with the wildcards of the input escaped.
fn like_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Store {
    /// Users matching `filter`, ordered by id (UUIDv7, so by creation), after `cursor`.
    pub async fn list_users(
        &self,
        filter: &UserFilter,
        cursor: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<UserRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM users u \
             WHERE ($1 = '' OR u.tenant_id = $1) \
               AND ($2 = '' OR u.status = $2) \
               AND ($3 = '' OR EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role_name = $3)) \
               AND ($4 = '' OR u.email_normalized LIKE $4 ESCAPE '\\' \
                    OR u.username_normalized LIKE $4 ESCAPE '\\' \
                    OR LOWER(COALESCE(u.first_name, '')) LIKE $4 ESCAPE '\\' \
                    OR LOWER(COALESCE(u.last_name, '')) LIKE $4 ESCAPE '\\') \
               AND ($5 = '' OR u.id > $5) \
             ORDER BY u.id LIMIT $6"
        );
        let q = filter.q.as_deref().map(like_pattern).unwrap_or_default();
        let rows = sqlx::query(&sql)
            .bind(filter.tenant_id.as_deref().unwrap_or(""))
            .bind(filter.status.as_deref().unwrap_or(""))
            .bind(filter.role.as_deref().unwrap_or(""))
            .bind(q)
            .bind(cursor.unwrap_or(""))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let mut users = rows.iter().map(user_from_row).collect::<StoreResult<Vec<_>>>()?;
        self.attach_roles(&mut users).await?;
        Ok(users)
    }

    /// Fills in the roles of a page of users with one query.
    async fn attach_roles(&self, users: &mut [UserRecord]) -> StoreResult<()> {
        if users.is_empty() {
            return Ok(());
        }
        let placeholders: Vec<String> = (1..=users.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT user_id, role_name FROM user_roles WHERE user_id IN ({}) ORDER BY role_name",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for u in users.iter() {
            query = query.bind(u.id.clone());
        }
        let rows = query.fetch_all(self.pool()).await?;
        let mut by_user: HashMap<String, Vec<String>> = HashMap::new();
        for r in &rows {
            by_user
                .entry(r.try_get("user_id")?)
                .or_default()
                .push(r.try_get("role_name")?);
        }
        for u in users.iter_mut() {
            u.roles = by_user.remove(&u.id).unwrap_or_default();
        }
        Ok(())
    }

    /// Sets a user's status; with `revoke`, also ends every session of the user in the same
    /// transaction, so a refresh fails at once. `false` when the user is gone.
    pub async fn set_user_status(
        &self,
        user_id: &str,
        status: &str,
        revoke: bool,
        now: i64,
        event: &NewEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query("UPDATE users SET status = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(status)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        if revoke {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $2, revoked_reason = 'account_disabled' \
                 WHERE user_id = $1 AND revoked_at IS NULL",
            )
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }
}
