//! Users as admins manage them: listing, creation, edits, roles, status, sessions, events.

use serde::Serialize;
use serde_json::json;

use super::{Admin, Page, PageRequest, unknown_tenant};
use crate::config::Secret;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::selfservice::SessionView;
use crate::domain::users::{ADMIN_ROLE, DEFAULT_ROLE, Registration, UserView, validate_registration};
use crate::domain::{Domain, Meta, validate};
use crate::storage::StoreError;
use crate::storage::admin::UserFilter;
use crate::storage::audit::EventRecord;
use crate::storage::users::{ProfileChange, UserRecord};

/// Statuses a user can have.
pub const STATUSES: [&str; 2] = ["active", "disabled"];

/// A user as admins see it: the user plus the lock state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AdminUserView {
    /// The user.
    #[serde(flatten)]
    pub user: UserView,
    /// Seconds left on a password lock, `null` when not locked.
    pub locked_for: Option<u64>,
}

/// Filters of `GET /admin/users`.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Substring of email, username or names.
    pub q: Option<String>,
    /// Only holders of this role.
    pub role: Option<String>,
    /// `active` or `disabled`.
    pub status: Option<String>,
}

fn unknown_role(role: &str) -> DomainError {
    DomainError::field("role", "unknown_role", format!("no role {role:?} in this tenant"))
}

impl Domain {
    /// Lists users the admin can see, by id.
    pub async fn admin_list_users(&self, a: &Admin, q: UserQuery, page: &PageRequest) -> DomainResult<Page<UserView>> {
        let status = q.status.filter(|s| !s.is_empty());
        if let Some(s) = &status
            && !STATUSES.contains(&s.as_str())
        {
            return Err(DomainError::field(
                "status",
                "invalid_status",
                "must be active or disabled",
            ));
        }
        let filter = UserFilter {
            tenant_id: a.list_scope(q.tenant.as_deref())?,
            q: q.q.filter(|s| !s.trim().is_empty()),
            role: q.role.filter(|s| !s.is_empty()),
            status,
        };
        let rows = self.store.list_users(&filter, page.after(), page.fetch()).await?;
        Ok(page.page(rows, |u| u.id.clone(), UserView::from))
    }

    /// A user the admin can see; others are `NotFound`.
    pub async fn admin_user(&self, a: &Admin, id: &str) -> DomainResult<UserRecord> {
        let scope = (!a.is_global()).then_some(a.tenant.as_str());
        self.store
            .user_by_id(scope, id)
            .await?
            .ok_or(DomainError::NotFound("user"))
    }

    /// The admin view of a user, with its lock state.
    pub async fn admin_user_view(&self, user: UserRecord) -> AdminUserView {
        let locked_for = self.lock_remaining(&user).await;
        AdminUserView {
            user: UserView::from(user),
            locked_for,
        }
    }

    /// Creates a user with any existing roles of its tenant (`customer` when none are given).
    pub async fn admin_create_user(
        &self,
        a: &Admin,
        mut r: Registration,
        roles: Option<Vec<String>>,
        requested_tenant: Option<&str>,
        meta: &Meta,
    ) -> DomainResult<UserRecord> {
        r.tenant = a.target_tenant(requested_tenant)?;
        validate_registration(&r)?;
        if self.store.tenant(&r.tenant).await?.is_none() {
            return Err(unknown_tenant());
        }
        let mut roles = roles.unwrap_or_else(|| vec![DEFAULT_ROLE.to_string()]);
        roles.sort();
        roles.dedup();
        for role in &roles {
            if self.store.role(&r.tenant, role).await?.is_none() {
                return Err(unknown_role(role));
            }
        }
        // A role or the tenant that vanished meanwhile shows as an unknown tenant.
        self.create_user_as(r, &roles, false, "admin.user.created", meta).await
    }

    /// Changes profile fields and `email_verified` of a user.
    pub async fn admin_update_user(
        &self,
        user: &UserRecord,
        change: ProfileChange,
        meta: &Meta,
    ) -> DomainResult<UserRecord> {
        self.update_user_as(user, change, "admin.user.updated", meta).await
    }

    /// Deletes a user; sessions go with it, audit events stay.
    pub async fn admin_delete_user(&self, user: &UserRecord, meta: &Meta) -> DomainResult<()> {
        refuse_self(user, meta, "delete your own account here")?;
        let now = self.clock.now_ms();
        let event = meta
            .event(&user.tenant_id, "admin.user.deleted", Some(&user.id), now)
            .with_detail(json!({ "email": user.email }));
        if !self.store.delete_user(&user.id, &event).await? {
            return Err(DomainError::NotFound("user"));
        }
        Ok(())
    }

    /// Grants an existing role of the user's tenant (idempotent).
    pub async fn grant_role(&self, user: &UserRecord, role: &str, meta: &Meta) -> DomainResult<UserRecord> {
        if self.store.role(&user.tenant_id, role).await?.is_none() {
            return Err(unknown_role(role));
        }
        let now = self.clock.now_ms();
        let event = meta
            .event(&user.tenant_id, "role.granted", Some(&user.id), now)
            .with_detail(json!({ "role": role }));
        match self
            .store
            .grant_role(&user.id, &user.tenant_id, role, now, &event)
            .await
        {
            Ok(_) => {}
            Err(StoreError::MissingReference(_)) => return Err(unknown_role(role)),
            Err(e) => return Err(e.into()),
        }
        self.user(&user.tenant_id, &user.id).await
    }

    /// Takes a role away; an admin cannot drop their own admin role (no self-lockout).
    pub async fn revoke_role(&self, user: &UserRecord, role: &str, meta: &Meta) -> DomainResult<UserRecord> {
        if role == ADMIN_ROLE {
            refuse_self(user, meta, "revoke your own admin role")?;
        }
        let now = self.clock.now_ms();
        let event = meta
            .event(&user.tenant_id, "role.revoked", Some(&user.id), now)
            .with_detail(json!({ "role": role }));
        if !self.store.revoke_role(&user.id, role, &event).await? {
            return Err(DomainError::NotFound("role"));
        }
        self.user(&user.tenant_id, &user.id).await
    }

    /// Disables (ending every session in the same transaction) or re-enables a user.
    pub async fn admin_set_status(&self, user: &UserRecord, disabled: bool, meta: &Meta) -> DomainResult<UserRecord> {
        if disabled {
            refuse_self(user, meta, "disable yourself")?;
        }
        let (status, name) = if disabled {
            ("disabled", "user.disabled")
        } else {
            ("active", "user.enabled")
        };
        let now = self.clock.now_ms();
        let event = meta.event(&user.tenant_id, name, Some(&user.id), now);
        if !self
            .store
            .set_user_status(&user.id, status, disabled, now, &event)
            .await?
        {
            return Err(DomainError::NotFound("user"));
        }
        self.user(&user.tenant_id, &user.id).await
    }

    /// Locks a user's password logins for the longest lockout period.
    pub async fn admin_lock(&self, user: &UserRecord, meta: &Meta) -> DomainResult<()> {
        refuse_self(user, meta, "lock yourself")?;
        let period = self.config.limits.lockout_max;
        self.lock_user(user, period).await;
        // The lock lives in the counters, not the database: the event is recorded on its own.
        let event = meta
            .event(&user.tenant_id, "user.locked", Some(&user.id), self.clock.now_ms())
            .with_detail(json!({ "seconds": period.as_secs() }));
        self.store.record(&event).await?;
        Ok(())
    }

    /// Lifts a lock and forgets recent failures.
    pub async fn admin_unlock(&self, user: &UserRecord, meta: &Meta) -> DomainResult<()> {
        self.unlock_user(user).await;
        let event = meta.event(&user.tenant_id, "user.unlocked", Some(&user.id), self.clock.now_ms());
        self.store.record(&event).await?;
        Ok(())
    }

    /// A user's live sessions, newest first.
    pub async fn admin_sessions(&self, user: &UserRecord, page: &PageRequest) -> DomainResult<Page<SessionView>> {
        let rows = self
            .store
            .sessions_of(&user.id, self.clock.now_ms(), page.after(), page.fetch())
            .await?;
        Ok(page.page(rows, |s| s.id.clone(), |s| SessionView::new(s, None)))
    }

    /// Ends every session of a user; returns how many.
    pub async fn admin_revoke_sessions(&self, user: &UserRecord, meta: &Meta) -> DomainResult<u64> {
        let now = self.clock.now_ms();
        let event = meta
            .event(&user.tenant_id, "session.revoked", Some(&user.id), now)
            .with_detail(json!({ "scope": "all" }));
        Ok(self
            .store
            .revoke_sessions(&user.id, None, None, "admin_revoked", now, Some(&event))
            .await?)
    }

    /// Audit events about a user, newest first.
    pub async fn admin_user_events(&self, user: &UserRecord, page: &PageRequest) -> DomainResult<Page<EventRecord>> {
        let rows = self
            .store
            .events(Some(&user.tenant_id), Some(&user.id), page.after(), page.fetch())
            .await?;
        Ok(page.page(rows, |e| e.id.clone(), |e| e))
    }

    /// Sets a user's password (CLI); every session ends.
    pub async fn set_user_password(&self, user: &UserRecord, password: &Secret, meta: &Meta) -> DomainResult<()> {
        let mut errors = Vec::new();
        validate::password("password", password.expose(), Some(&user.email), &mut errors);
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let hash = self.hasher.hash(password).await?;
        let now = self.clock.now_ms();
        let event = meta.event(&user.tenant_id, "password.reset", Some(&user.id), now);
        self.store.change_password(&user.id, &hash, None, now, &event).await?;
        Ok(())
    }
}

/// Refuses an action an admin must not take against their own account.
fn refuse_self(user: &UserRecord, meta: &Meta, what: &str) -> DomainResult<()> {
    if meta.actor_id.as_deref() == Some(user.id.as_str()) {
        return Err(DomainError::Conflict(format!("you cannot {what}")));
    }
    Ok(())
}
