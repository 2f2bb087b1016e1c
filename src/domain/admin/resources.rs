//! Clients, signing keys and audit events as admins manage them.

use serde_json::json;

use super::{Admin, Page, PageRequest};
use crate::domain::clients::{ClientSpec, ClientView, validate_spec};
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::{Domain, Meta};
use crate::keys::{KeyError, KeyInfo};
use crate::storage::audit::EventRecord;
use crate::storage::clients::ClientRecord;

/// Changes to a client; `None` leaves a field alone, `Some(None)` clears a lifetime override.
#[derive(Debug, Clone, Default)]
pub struct ClientChange {
    /// Display name.
    pub name: Option<String>,
    /// Allowed grants.
    pub grant_types: Option<Vec<String>>,
    /// Allowed scopes.
    pub scopes: Option<Vec<String>>,
    /// Access-token audiences.
    pub audiences: Option<Vec<String>>,
    /// Access-token lifetime, seconds.
    pub access_ttl_secs: Option<Option<i64>>,
    /// Refresh idle lifetime, seconds.
    pub refresh_idle_secs: Option<Option<i64>>,
    /// Refresh absolute lifetime, seconds.
    pub refresh_max_secs: Option<Option<i64>>,
    /// Redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Ask for consent.
    pub require_consent: Option<bool>,
    /// Demand PKCE.
    pub require_pkce: Option<bool>,
}

fn key_error(e: KeyError) -> DomainError {
    DomainError::Internal(e.to_string())
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
    v
}

impl Domain {
    /// Clients the admin can see, by id.
    pub async fn admin_clients(
        &self,
        a: &Admin,
        tenant: Option<&str>,
        page: &PageRequest,
    ) -> DomainResult<Page<ClientView>> {
        let scope = a.list_scope(tenant)?;
        let rows = self.store.clients(scope.as_deref(), page.after(), page.fetch()).await?;
        Ok(page.page(rows, |c| c.id.clone(), |c| ClientView::new(c, None)))
    }

    /// A client the admin can see; others are `NotFound`.
    pub async fn admin_client(&self, a: &Admin, id: &str) -> DomainResult<ClientRecord> {
        self.store
            .client(id)
            .await?
            .filter(|c| a.sees(&c.tenant_id))
            .ok_or(DomainError::NotFound("client"))
    }

    /// Registers a client in a visible tenant; the secret is in the answer, once.
    pub async fn admin_create_client(
        &self,
        a: &Admin,
        mut spec: ClientSpec,
        tenant: Option<&str>,
        meta: &Meta,
    ) -> DomainResult<ClientView> {
        spec.tenant = a.target_tenant(tenant)?;
        self.create_client(spec, meta).await
    }

    /// Changes a client's name, grants, scopes, audiences or lifetimes.
    pub async fn admin_update_client(
        &self,
        c: ClientRecord,
        change: ClientChange,
        meta: &Meta,
    ) -> DomainResult<ClientView> {
        let spec = ClientSpec {
            name: change.name.unwrap_or(c.name.clone()),
            public: c.public,
            grant_types: change.grant_types.unwrap_or(c.grant_types.clone()),
            scopes: change.scopes.unwrap_or(c.scopes.clone()),
            audiences: change.audiences.unwrap_or(c.audiences.clone()),
            tenant: c.tenant_id.clone(),
            access_ttl_secs: change.access_ttl_secs.unwrap_or(c.access_ttl_secs),
            refresh_idle_secs: change.refresh_idle_secs.unwrap_or(c.refresh_idle_secs),
            refresh_max_secs: change.refresh_max_secs.unwrap_or(c.refresh_max_secs),
            redirect_uris: change.redirect_uris.unwrap_or(c.redirect_uris.clone()),
            post_logout_redirect_uris: change
                .post_logout_redirect_uris
                .unwrap_or(c.post_logout_redirect_uris.clone()),
            require_consent: Some(change.require_consent.unwrap_or(c.require_consent)),
            require_pkce: Some(change.require_pkce.unwrap_or(c.require_pkce)),
        };
        validate_spec(&spec)?;
        let now = self.clock.now_ms();
        let record = ClientRecord {
            name: spec.name.trim().to_string(),
            grant_types: dedup(spec.grant_types),
            scopes: dedup(spec.scopes),
            audiences: dedup(spec.audiences),
            access_ttl_secs: spec.access_ttl_secs,
            refresh_idle_secs: spec.refresh_idle_secs,
            refresh_max_secs: spec.refresh_max_secs,
            redirect_uris: dedup(spec.redirect_uris),
            post_logout_redirect_uris: dedup(spec.post_logout_redirect_uris),
            require_consent: spec.require_consent.unwrap_or(true),
            require_pkce: c.public || spec.require_pkce.unwrap_or(true),
            updated_at: now,
            ..c
        };
        let event = meta
            .event(&record.tenant_id, "client.updated", Some(&record.id), now)
            .with_detail(json!({ "name": record.name, "grant_types": record.grant_types, "scopes": record.scopes }));
        if !self.store.update_client(&record, &event).await? {
            return Err(DomainError::NotFound("client"));
        }
        Ok(ClientView::new(record, None))
    }

    /// Deletes a client and ends the sessions it opened; the built-in client stays.
    pub async fn admin_delete_client(&self, c: &ClientRecord, meta: &Meta) -> DomainResult<()> {
        if c.first_party {
            return Err(DomainError::Conflict("the built-in client cannot be deleted".into()));
        }
        let now = self.clock.now_ms();
        let event = meta
            .event(&c.tenant_id, "client.deleted", Some(&c.id), now)
            .with_detail(json!({ "name": c.name }));
        if !self.store.delete_client(&c.id, now, &event).await? {
            return Err(DomainError::NotFound("client"));
        }
        Ok(())
    }

    /// Every signing key (global: default-tenant admins only).
    pub async fn admin_keys(&self, a: &Admin) -> DomainResult<Page<KeyInfo>> {
        a.require_global()?;
        let items = self.keys.list().await.map_err(key_error)?;
        Ok(Page {
            items,
            next_cursor: None,
        })
    }

    /// Publishes a new signing key, signing at once with `immediate`.
    pub async fn admin_rotate_keys(&self, a: &Admin, immediate: bool, meta: &Meta) -> DomainResult<Page<KeyInfo>> {
        a.require_global()?;
        let items = self.keys.rotate(immediate, meta).await.map_err(key_error)?;
        Ok(Page {
            items,
            next_cursor: None,
        })
    }

    /// Revokes a signing key: it leaves the JWKS at once.
    pub async fn admin_revoke_key(&self, a: &Admin, kid: &str, meta: &Meta) -> DomainResult<()> {
        a.require_global()?;
        if !self.keys.revoke(kid, meta).await.map_err(key_error)? {
            return Err(DomainError::NotFound("key"));
        }
        Ok(())
    }

    /// Audit events the admin can see, newest first.
    pub async fn admin_events(
        &self,
        a: &Admin,
        tenant: Option<&str>,
        page: &PageRequest,
    ) -> DomainResult<Page<EventRecord>> {
        let scope = a.list_scope(tenant)?;
        let rows = self
            .store
            .events(scope.as_deref(), None, page.after(), page.fetch())
            .await?;
        Ok(page.page(rows, |e| e.id.clone(), |e| e))
    }
}
