//! The admin API's rules: who counts as an admin, which tenants they see, and pagination.
//!
//! An admin of the `default` tenant manages every tenant; an admin of any other tenant
//! manages only their own, and anything outside it looks as if it did not exist.

pub mod catalog;
pub mod resources;
pub mod users;

use base64::Engine;
use serde::Serialize;

use super::error::{DomainError, DomainResult};
use super::selfservice::Principal;
use super::users::{ADMIN_ROLE, DEFAULT_TENANT};
use super::{Domain, Meta};

/// Page size when none is asked for.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page size.
pub const MAX_LIMIT: i64 = 200;

/// A caller allowed into the admin API.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The admin's user id (the actor of audit events).
    pub user_id: String,
    /// The admin's own tenant.
    pub tenant: String,
}

impl Admin {
    /// Admits a principal holding the `admin` role as stored now (not as the token says, so
    /// a revoked role takes effect at once).
    pub fn from_principal(p: &Principal) -> DomainResult<Self> {
        if !p.user.roles.iter().any(|r| r == ADMIN_ROLE) {
            return Err(DomainError::Forbidden("the admin role is required".into()));
        }
        Ok(Admin {
            user_id: p.user.id.clone(),
            tenant: p.user.tenant_id.clone(),
        })
    }

    /// Whether this admin manages every tenant.
    pub fn is_global(&self) -> bool {
        self.tenant == DEFAULT_TENANT
    }

    /// Whether this admin may see things of `tenant`.
    pub fn sees(&self, tenant: &str) -> bool {
        self.is_global() || self.tenant == tenant
    }

    /// Audit metadata with this admin as the actor.
    pub fn meta(&self, meta: &Meta) -> Meta {
        Meta {
            actor_id: Some(self.user_id.clone()),
            ..meta.clone()
        }
    }

    /// Refuses tenant admins (for global things such as signing keys and tenant creation).
    pub fn require_global(&self) -> DomainResult<()> {
        if self.is_global() {
            Ok(())
        } else {
            Err(DomainError::Forbidden(
                "only admins of the default tenant may do this".into(),
            ))
        }
    }

    /// The tenant filter of a listing: the requested tenant if visible, else all tenants
    /// (global admins) or the admin's own.
    pub fn list_scope(&self, requested: Option<&str>) -> DomainResult<Option<String>> {
        match requested.filter(|t| !t.is_empty()) {
            Some(t) if self.sees(t) => Ok(Some(t.to_string())),
            Some(_) => Err(DomainError::NotFound("tenant")),
            None if self.is_global() => Ok(None),
            None => Ok(Some(self.tenant.clone())),
        }
    }

    /// The one tenant an operation works in: the requested one if visible, else the admin's own.
    pub fn one_tenant(&self, requested: Option<&str>) -> DomainResult<String> {
        match requested.filter(|t| !t.is_empty()) {
            Some(t) if self.sees(t) => Ok(t.to_string()),
            Some(_) => Err(DomainError::NotFound("tenant")),
            None => Ok(self.tenant.clone()),
        }
    }

    /// The tenant a new resource goes to; a foreign tenant reads as an unknown one.
    pub fn target_tenant(&self, requested: Option<&str>) -> DomainResult<String> {
        match requested.filter(|t| !t.is_empty()) {
            Some(t) if self.sees(t) => Ok(t.to_string()),
            Some(_) => Err(unknown_tenant()),
            None => Ok(self.tenant.clone()),
        }
    }
}

/// The validation error for a tenant that does not exist (or is not visible).
pub fn unknown_tenant() -> DomainError {
    DomainError::field("tenant", "unknown_tenant", "no such tenant")
}

/// Where a listing starts and how much it returns.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Items per page, 1 to [`MAX_LIMIT`].
    pub limit: i64,
    /// The key of the last item already seen.
    pub after: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor of the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

impl PageRequest {
    /// Reads `limit` and `cursor` as given in a query string.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> DomainResult<Self> {
        let limit = match limit.map(str::trim).filter(|l| !l.is_empty()) {
            None => DEFAULT_LIMIT,
            Some(l) => match l.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(DomainError::field(
                        "limit",
                        "out_of_range",
                        format!("must be a whole number from 1 to {MAX_LIMIT}"),
                    ));
                }
            },
        };
        let after = match cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                DomainError::field("cursor", "invalid_cursor", "use a next_cursor from a previous page")
            })?),
        };
        Ok(PageRequest { limit, after })
    }

    /// How many rows to fetch: one more than a page, to learn whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// The cursor key, for storage.
    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// Cuts fetched rows to a page; `key` gives the sort key a cursor resumes after.
    pub fn page<R, T>(&self, mut rows: Vec<R>, key: impl Fn(&R) -> String, view: impl FnMut(R) -> T) -> Page<T> {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(&key(r)))
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

/// Cursors are opaque to callers: base64url of the sort key.
fn encode_cursor(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes())
}

fn decode_cursor(c: &str) -> Option<String> {
    if c.len() > 400 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).ok()?;
    String::from_utf8(bytes).ok().filter(|k| !k.is_empty())
}

impl Domain {
    /// Checks that a visible tenant exists.
    pub(crate) async fn existing_tenant(&self, admin: &Admin, tenant: &str) -> DomainResult<()> {
        if admin.sees(tenant) && self.store.tenant(tenant).await?.is_some() {
            Ok(())
        } else {
            Err(DomainError::NotFound("tenant"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors_are_checked() {
        assert_eq!(
            PageRequest::parse(None, None).map(|p| p.limit).ok(),
            Some(DEFAULT_LIMIT)
        );
        assert_eq!(PageRequest::parse(Some("200"), None).map(|p| p.limit).ok(), Some(200));
        for bad in ["0", "201", "-1", "abc", "1.5"] {
            assert!(PageRequest::parse(Some(bad), None).is_err(), "{bad}");
        }
        for bad in ["!!!", "a", "%%"] {
            assert!(PageRequest::parse(None, Some(bad)).is_err(), "{bad}");
        }
        let c = encode_cursor("0190-abc");
        assert_eq!(
            PageRequest::parse(None, Some(&c)).ok().and_then(|p| p.after),
            Some("0190-abc".to_string())
        );
    }

    #[test]
    fn pages_report_a_cursor_only_when_more_follow() {
        let p = PageRequest { limit: 2, after: None };
        let full = p.page(vec!["a", "b", "c"], |s| s.to_string(), |s| s);
        assert_eq!(full.items, ["a", "b"]);
        assert_eq!(full.next_cursor, Some(encode_cursor("b")));
        let last = p.page(vec!["a", "b"], |s| s.to_string(), |s| s);
        assert_eq!(last.next_cursor, None);
    }
}
