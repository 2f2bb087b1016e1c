//! Users, their roles and preferences.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::NewEvent;
use super::{Store, StoreError, StoreResult, flag};

/// A stored user with its roles.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// UUIDv7.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Email as given.
    pub email: String,
    /// Optional username as given.
    pub username: Option<String>,
    /// PHC string (argon2id) or legacy bcrypt hash.
    pub password_hash: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Name shown to others.
    pub display_name: Option<String>,
    /// BCP 47 language tag.
    pub locale: Option<String>,
    /// Whether the email was verified.
    pub email_verified: bool,
    /// `active` or `disabled`.
    pub status: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// Role names, sorted.
    pub roles: Vec<String>,
}

/// Fields for a new user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// UUIDv7.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Email as given.
    pub email: String,
    /// Username as given.
    pub username: Option<String>,
    /// Password hash.
    pub password_hash: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Whether the email is already verified (admin imports).
    pub email_verified: bool,
    /// Unix ms.
    pub now: i64,
}

/// Profile fields an update may set; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    /// New email.
    pub email: Option<String>,
    /// New username.
    pub username: Option<Option<String>>,
    /// New given name.
    pub first_name: Option<Option<String>>,
    /// New family name.
    pub last_name: Option<Option<String>>,
    /// New display name.
    pub display_name: Option<Option<String>>,
    /// New locale.
    pub locale: Option<Option<String>>,
    /// New verification flag (admins only).
    pub email_verified: Option<bool>,
}

/// The user columns, for queries that alias `users` as `u`.
pub(crate) const USER_COLUMNS: &str = "u.id, u.tenant_id, u.email, u.username, u.password_hash, u.first_name, \
     u.last_name, u.display_name, u.locale, u.email_verified, u.status, u.created_at, u.updated_at";

/// Lower-cased, trimmed form used for uniqueness and look-ups.
pub fn normalize(v: &str) -> String {
    v.trim().to_lowercase()
}

/// Maps a row selected with [`USER_COLUMNS`] (roles are filled in separately).
pub(crate) fn user_from_row(row: &AnyRow) -> StoreResult<UserRecord> {
    let get = |e: sqlx::Error| StoreError::Corrupt(e.to_string());
    Ok(UserRecord {
        id: row.try_get("id").map_err(get)?,
        tenant_id: row.try_get("tenant_id").map_err(get)?,
        email: row.try_get("email").map_err(get)?,
        username: row.try_get("username").map_err(get)?,
        password_hash: row.try_get("password_hash").map_err(get)?,
        first_name: row.try_get("first_name").map_err(get)?,
        last_name: row.try_get("last_name").map_err(get)?,
        display_name: row.try_get("display_name").map_err(get)?,
        locale: row.try_get("locale").map_err(get)?,
        email_verified: flag(row.try_get("email_verified").map_err(get)?),
        status: row.try_get("status").map_err(get)?,
        created_at: row.try_get("created_at").map_err(get)?,
        updated_at: row.try_get("updated_at").map_err(get)?,
        roles: Vec::new(),
    })
}

impl Store {
    /// Inserts a user with its roles and the audit event, in one transaction.
    pub async fn insert_user(&self, user: &NewUser, roles: &[String], event: &NewEvent) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO users (id, tenant_id, email, email_normalized, username, username_normalized, \
             password_hash, first_name, last_name, email_verified, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11, $11)",
        )
        .bind(&user.id)
        .bind(&user.tenant_id)
        .bind(user.email.trim())
        .bind(normalize(&user.email))
        .bind(user.username.as_deref().map(str::trim))
        .bind(user.username.as_deref().map(normalize))
        .bind(&user.password_hash)
        .bind(&user.first_name)
        .bind(&user.last_name)
        .bind(i64::from(user.email_verified))
        .bind(user.now)
        .execute(&mut *tx)
        .await?;
        for role in roles {
            sqlx::query("INSERT INTO user_roles (user_id, tenant_id, role_name, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&user.id)
                .bind(&user.tenant_id)
                .bind(role)
                .bind(user.now)
                .execute(&mut *tx)
                .await?;
        }
        event.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Which of email and username are already taken in the tenant.
    pub async fn taken(&self, tenant_id: &str, email: &str, username: Option<&str>) -> StoreResult<(bool, bool)> {
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND email_normalized = $2) AS e, \
               (SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND username_normalized = $3) AS u",
        )
        .bind(tenant_id)
        .bind(normalize(email))
        .bind(username.map(normalize).unwrap_or_default())
        .fetch_one(self.pool())
        .await?;
        Ok((row.try_get::<i64, _>("e")? > 0, row.try_get::<i64, _>("u")? > 0))
    }

    /// A user by id within a tenant (any tenant when `tenant_id` is `None`).
    pub async fn user_by_id(&self, tenant_id: Option<&str>, id: &str) -> StoreResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1 AND ($2 = '' OR u.tenant_id = $2)");
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(tenant_id.unwrap_or(""))
            .fetch_optional(self.pool())
            .await?;
        self.with_roles(row).await
    }

    /// A user by email or username (case-insensitive) within a tenant.
    pub async fn user_by_login(&self, tenant_id: &str, login: &str) -> StoreResult<Option<UserRecord>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.tenant_id = $1 \
             AND (u.email_normalized = $2 OR u.username_normalized = $2) \
             ORDER BY CASE WHEN u.email_normalized = $2 THEN 0 ELSE 1 END LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(tenant_id)
            .bind(normalize(login))
            .fetch_optional(self.pool())
            .await?;
        self.with_roles(row).await
    }

    async fn with_roles(&self, row: Option<AnyRow>) -> StoreResult<Option<UserRecord>> {
        let Some(row) = row else { return Ok(None) };
        let mut user = user_from_row(&row)?;
        user.roles = self.roles_of(&user.id).await?;
        Ok(Some(user))
    }

    /// The role names of a user, sorted.
    pub async fn roles_of(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT role_name FROM user_roles WHERE user_id = $1 ORDER BY role_name")
            .bind(user_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("role_name").map_err(StoreError::from))
            .collect()
    }

    /// Applies a profile change and records the event; `false` when the user is gone.
    pub async fn update_profile(
        &self,
        user_id: &str,
        change: &ProfileChange,
        now: i64,
        event: &NewEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        // Each optional field is sent as (set?, value) so one statement serves every change.
        let set = |o: bool| i64::from(o);
        let res = sqlx::query(
            "UPDATE users SET \
               email = CASE WHEN $2 = 1 THEN $3 ELSE email END, \
               email_normalized = CASE WHEN $2 = 1 THEN $4 ELSE email_normalized END, \
               username = CASE WHEN $5 = 1 THEN $6 ELSE username END, \
               username_normalized = CASE WHEN $5 = 1 THEN $7 ELSE username_normalized END, \
               first_name = CASE WHEN $8 = 1 THEN $9 ELSE first_name END, \
               last_name = CASE WHEN $10 = 1 THEN $11 ELSE last_name END, \
               display_name = CASE WHEN $12 = 1 THEN $13 ELSE display_name END, \
               locale = CASE WHEN $14 = 1 THEN $15 ELSE locale END, \
               email_verified = CASE WHEN $16 = 1 THEN $17 WHEN $2 = 1 THEN 0 ELSE email_verified END, \
               updated_at = $18 \
             WHERE id = $1",
        )
        .bind(user_id)
        .bind(set(change.email.is_some()))
        .bind(change.email.as_deref().map(str::trim))
        .bind(change.email.as_deref().map(normalize))
        .bind(set(change.username.is_some()))
        .bind(change.username.clone().flatten().map(|u| u.trim().to_string()))
        .bind(change.username.clone().flatten().map(|u| normalize(&u)))
        .bind(set(change.first_name.is_some()))
        .bind(change.first_name.clone().flatten())
        .bind(set(change.last_name.is_some()))
        .bind(change.last_name.clone().flatten())
        .bind(set(change.display_name.is_some()))
        .bind(change.display_name.clone().flatten())
        .bind(set(change.locale.is_some()))
        .bind(change.locale.clone().flatten())
        .bind(set(change.email_verified.is_some()))
        .bind(i64::from(change.email_verified.unwrap_or(false)))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        event.commit_if(tx, res.rows_affected() > 0).await
    }

    /// Replaces a password hash; with `event`, also revokes other sessions in the same transaction.
    pub async fn set_password_hash(
        &self,
        user_id: &str,
        hash: &str,
        now: i64,
        event: Option<&NewEvent>,
    ) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if let Some(event) = event {
            event.insert(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Reads a user's preferences document (JSON text).
    pub async fn preferences(&self, user_id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT data FROM preferences WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get("data")).transpose()?)
    }

    /// Stores a user's preferences document (JSON text).
    pub async fn put_preferences(&self, user_id: &str, data: &str, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO preferences (user_id, data, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(data)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// How many users hold a role in any tenant (used for the bootstrap banner).
    pub async fn count_with_role(&self, role: &str) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM user_roles WHERE role_name = $1")
            .bind(role)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }
}

impl Store {
    /// Deletes a user (sessions, roles and preferences go with it) and records why; audit
    /// events stay, since they hold the user id as plain text.
    pub async fn delete_user(&self, user_id: &str, event: &NewEvent) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        event.commit_if(tx, n > 0).await
    }
}
