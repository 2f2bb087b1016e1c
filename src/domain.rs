//! Business rules. Nothing here knows HTTP; handlers translate requests into these calls.

pub mod admin;
pub mod authorize;
pub mod clients;
pub mod code_grant;
pub mod consent;
pub mod error;
pub mod grants;
pub mod limits;
pub mod lockout;
pub mod maintenance;
pub mod oauth;
pub mod password;
pub mod recovery;
pub mod selfservice;
pub mod sso;
pub mod tokens;
pub mod users;
pub mod validate;

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::counters::Counters;
use crate::keys::Keyring;
use crate::mail::Mailer;
use crate::storage::Store;
use crate::storage::audit::NewEvent;
use password::Hasher;

pub use error::{DomainError, DomainResult};

/// Everything the business rules need, cheap to clone.
#[derive(Clone)]
pub struct Domain {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// Database.
    pub store: Store,
    /// Password hashing.
    pub hasher: Hasher,
    /// Shared counters (Redis or in-process).
    pub counters: Counters,
    /// Time source.
    pub clock: Clock,
    /// Issuer URL (`iss`), without a trailing slash.
    pub issuer: String,
    /// Signing keys.
    pub keys: Keyring,
    /// Outgoing mail (reset and verification links).
    pub mailer: Mailer,
}

/// Who is asking and from where, for audit events and limits.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// Client IP as trusted (socket, or `X-Forwarded-For` from a trusted proxy).
    pub ip: Option<String>,
    /// `User-Agent` header.
    pub user_agent: Option<String>,
    /// The authenticated user or client, when there is one.
    pub actor_id: Option<String>,
}

impl Meta {
    /// An audit event about `subject`, stamped with this caller.
    pub fn event(&self, tenant: &str, name: &str, subject: Option<&str>, at: i64) -> NewEvent {
        NewEvent {
            tenant_id: tenant.to_string(),
            event: name.to_string(),
            actor_id: self.actor_id.clone().or_else(|| subject.map(str::to_string)),
            subject_id: subject.map(str::to_string),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            detail: None,
            at,
        }
    }
}

impl NewEvent {
    /// Adds non-secret details.
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}
