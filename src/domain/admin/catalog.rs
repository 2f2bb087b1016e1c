//! Tenants and their roles.

use serde::Serialize;
use serde_json::json;

use super::{Admin, Page, PageRequest, unknown_tenant};
use crate::clock::rfc3339;
use crate::domain::error::{DomainError, DomainResult, FieldError};
use crate::domain::users::{ADMIN_ROLE, DEFAULT_ROLE, DEFAULT_TENANT};
use crate::domain::{Domain, Meta, validate};
use crate::storage::StoreError;
use crate::storage::roles::RoleRecord;
use crate::storage::tenants::{TenantDeletion, TenantRecord};

/// A role as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoleView {
    /// Name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Owning tenant.
    pub tenant: String,
    /// `customer` and `admin` exist in every tenant and cannot be deleted.
    pub built_in: bool,
    /// RFC 3339.
    pub created_at: String,
}

impl From<RoleRecord> for RoleView {
    fn from(r: RoleRecord) -> Self {
        RoleView {
            built_in: is_built_in(&r.name),
            name: r.name,
            description: r.description,
            tenant: r.tenant_id,
            created_at: rfc3339(r.created_at),
        }
    }
}

/// A tenant as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantView {
    /// Slug.
    pub id: String,
    /// Display name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<TenantRecord> for TenantView {
    fn from(t: TenantRecord) -> Self {
        TenantView {
            id: t.id,
            name: t.name,
            created_at: rfc3339(t.created_at),
            updated_at: rfc3339(t.updated_at),
        }
    }
}

fn is_built_in(role: &str) -> bool {
    role == DEFAULT_ROLE || role == ADMIN_ROLE
}

/// A role name: 1–64 of ASCII letters, digits, `.`, `_`, `-`, `:`.
fn check_role_name(name: &str, errors: &mut Vec<FieldError>) {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
    if !ok {
        errors.push(FieldError::new(
            "name",
            "invalid_role_name",
            "must be 1 to 64 letters, digits, '.', '_', '-' or ':'",
        ));
    }
}

/// A tenant id: a slug of 1–63 lower-case letters, digits and `-`, starting with a letter or digit.
fn check_tenant_id(id: &str, errors: &mut Vec<FieldError>) {
    let ok = (1..=63).contains(&id.len())
        && id
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        errors.push(FieldError::new(
            "id",
            "invalid_slug",
            "must be 1 to 63 lower-case letters, digits or '-', starting with a letter or digit",
        ));
    }
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    if name.trim().is_empty() {
        errors.push(FieldError::new("name", "required", "must not be empty"));
    } else {
        validate::text("name", name, 200, errors);
    }
}

fn ok_or_invalid(errors: Vec<FieldError>) -> DomainResult<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Validation(errors))
    }
}

impl Domain {
    /// Roles of one tenant (the admin's own unless another visible one is asked for).
    pub async fn admin_roles(
        &self,
        a: &Admin,
        tenant: Option<&str>,
        page: &PageRequest,
    ) -> DomainResult<Page<RoleView>> {
        let tenant = a.one_tenant(tenant)?;
        self.existing_tenant(a, &tenant).await?;
        let rows = self.store.roles(&tenant, page.after(), page.fetch()).await?;
        Ok(page.page(rows, |r| r.name.clone(), RoleView::from))
    }

    /// Creates a custom role in a tenant.
    pub async fn admin_create_role(
        &self,
        a: &Admin,
        tenant: Option<&str>,
        name: &str,
        description: Option<String>,
        meta: &Meta,
    ) -> DomainResult<RoleView> {
        let tenant = a.target_tenant(tenant)?;
        let mut errors = Vec::new();
        check_role_name(name, &mut errors);
        if let Some(d) = &description {
            validate::text("description", d, 500, &mut errors);
        }
        ok_or_invalid(errors)?;
        let record = RoleRecord {
            tenant_id: tenant.clone(),
            name: name.to_string(),
            description,
            created_at: self.clock.now_ms(),
        };
        let event = meta
            .event(&tenant, "role.created", None, record.created_at)
            .with_detail(json!({ "role": name }));
        match self.store.insert_role(&record, &event).await {
            Ok(()) => Ok(RoleView::from(record)),
            Err(StoreError::Conflict(_)) => Err(DomainError::Conflict(format!("role {name:?} exists"))),
            Err(StoreError::MissingReference(_)) => Err(unknown_tenant()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a custom role; its grants go with it.
    pub async fn admin_delete_role(
        &self,
        a: &Admin,
        tenant: Option<&str>,
        name: &str,
        meta: &Meta,
    ) -> DomainResult<()> {
        let tenant = a.one_tenant(tenant)?;
        if is_built_in(name) {
            return Err(DomainError::Conflict(format!(
                "the built-in role {name} cannot be deleted"
            )));
        }
        let event = meta
            .event(&tenant, "role.deleted", None, self.clock.now_ms())
            .with_detail(json!({ "role": name }));
        if !self.store.delete_role(&tenant, name, &event).await? {
            return Err(DomainError::NotFound("role"));
        }
        Ok(())
    }

    /// Tenants the admin can see, by id.
    pub async fn admin_tenants(&self, a: &Admin, page: &PageRequest) -> DomainResult<Page<TenantView>> {
        let only = (!a.is_global()).then_some(a.tenant.as_str());
        let rows = self.store.tenants(only, page.after(), page.fetch()).await?;
        Ok(page.page(rows, |t| t.id.clone(), TenantView::from))
    }

    /// A tenant the admin can see.
    pub async fn admin_tenant(&self, a: &Admin, id: &str) -> DomainResult<TenantView> {
        if !a.sees(id) {
            return Err(DomainError::NotFound("tenant"));
        }
        self.store
            .tenant(id)
            .await?
            .map(TenantView::from)
            .ok_or(DomainError::NotFound("tenant"))
    }

    /// Creates a tenant with its `customer` and `admin` roles (default-tenant admins only).
    pub async fn admin_create_tenant(&self, a: &Admin, id: &str, name: &str, meta: &Meta) -> DomainResult<TenantView> {
        a.require_global()?;
        let mut errors = Vec::new();
        check_tenant_id(id, &mut errors);
        check_name(name, &mut errors);
        ok_or_invalid(errors)?;
        let now = self.clock.now_ms();
        let record = TenantRecord {
            id: id.to_string(),
            name: name.trim().to_string(),
            created_at: now,
            updated_at: now,
        };
        let event = meta
            .event(id, "tenant.created", Some(id), now)
            .with_detail(json!({ "name": record.name }));
        match self.store.insert_tenant(&record, &event).await {
            Ok(()) => Ok(TenantView::from(record)),
            Err(StoreError::Conflict(_)) => Err(DomainError::Conflict(format!("tenant {id:?} exists"))),
            Err(e) => Err(e.into()),
        }
    }

    /// Renames a tenant.
    pub async fn admin_rename_tenant(&self, a: &Admin, id: &str, name: &str, meta: &Meta) -> DomainResult<TenantView> {
        if !a.sees(id) {
            return Err(DomainError::NotFound("tenant"));
        }
        let mut errors = Vec::new();
        check_name(name, &mut errors);
        ok_or_invalid(errors)?;
        let now = self.clock.now_ms();
        let event = meta
            .event(id, "tenant.updated", Some(id), now)
            .with_detail(json!({ "name": name.trim() }));
        if !self.store.rename_tenant(id, name.trim(), now, &event).await? {
            return Err(DomainError::NotFound("tenant"));
        }
        self.admin_tenant(a, id).await
    }

    /// Deletes an empty tenant (default-tenant admins only; `default` never).
    pub async fn admin_delete_tenant(&self, a: &Admin, id: &str, meta: &Meta) -> DomainResult<()> {
        if !a.sees(id) {
            return Err(DomainError::NotFound("tenant"));
        }
        a.require_global()?;
        if id == DEFAULT_TENANT {
            return Err(DomainError::Conflict("the default tenant cannot be deleted".into()));
        }
        let event = meta.event(id, "tenant.deleted", Some(id), self.clock.now_ms());
        match self.store.delete_tenant(id, &event).await? {
            TenantDeletion::Deleted => Ok(()),
            TenantDeletion::NotFound => Err(DomainError::NotFound("tenant")),
            TenantDeletion::InUse => Err(DomainError::Conflict("the tenant still has users or clients".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(f: impl Fn(&mut Vec<FieldError>)) -> Vec<String> {
        let mut e = Vec::new();
        f(&mut e);
        e.into_iter().map(|e| e.code).collect()
    }

    #[test]
    fn slugs_and_role_names() {
        assert!(codes(|e| check_tenant_id("acme-2", e)).is_empty());
        for bad in ["", "-acme", "Acme", "a b", "a_b", &"a".repeat(64)] {
            assert_eq!(codes(|e| check_tenant_id(bad, e)), ["invalid_slug"], "{bad}");
        }
        assert!(codes(|e| check_role_name("billing:read", e)).is_empty());
        for bad in ["", "a b", "x'--", &"r".repeat(65)] {
            assert_eq!(codes(|e| check_role_name(bad, e)), ["invalid_role_name"], "{bad}");
        }
    }
}
