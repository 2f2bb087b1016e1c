//! Sign-up, profile and preferences.

use serde::Serialize;

use super::error::{DomainError, DomainResult, FieldError};
use super::{Domain, Meta, validate};
use crate::clock::rfc3339;
use crate::config::Secret;
use crate::storage::StoreError;
use crate::storage::users::{NewUser, ProfileChange, UserRecord};

/// The role every sign-up receives.
pub const DEFAULT_ROLE: &str = "customer";
/// The role that opens the admin API.
pub const ADMIN_ROLE: &str = "admin";
/// The tenant that always exists.
pub const DEFAULT_TENANT: &str = "default";

/// What a caller supplies to sign up.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Email address.
    pub email: String,
    /// Password in clear (kept out of Debug output).
    pub password: Secret,
    /// Optional username.
    pub username: Option<String>,
    /// Optional given name.
    pub first_name: Option<String>,
    /// Optional family name.
    pub last_name: Option<String>,
    /// Tenant to join.
    pub tenant: String,
}

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// UUIDv7.
    pub id: String,
    /// Email address.
    pub email: String,
    /// Username, if any.
    pub username: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Preferred locale.
    pub locale: Option<String>,
    /// Whether the email was verified.
    pub email_verified: bool,
    /// `active` or `disabled`.
    pub status: String,
    /// Role names.
    pub roles: Vec<String>,
    /// Tenant id.
    pub tenant: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            username: u.username,
            first_name: u.first_name,
            last_name: u.last_name,
            display_name: u.display_name,
            locale: u.locale,
            email_verified: u.email_verified,
            status: u.status,
            roles: u.roles,
            tenant: u.tenant_id,
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

/// Validates a registration; every broken rule is reported at once.
pub fn validate_registration(r: &Registration) -> DomainResult<()> {
    let mut errors: Vec<FieldError> = Vec::new();
    validate::email("email", &r.email, &mut errors);
    validate::password("password", r.password.expose(), Some(&r.email), &mut errors);
    if let Some(u) = &r.username {
        validate::username("username", u, &mut errors);
    }
    for (field, v) in [("first_name", &r.first_name), ("last_name", &r.last_name)] {
        if let Some(v) = v {
            validate::text(field, v, 100, &mut errors);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Validation(errors))
    }
}

/// Validates a profile change.
pub fn validate_change(c: &ProfileChange) -> DomainResult<()> {
    let mut errors = Vec::new();
    if let Some(e) = &c.email {
        validate::email("email", e, &mut errors);
    }
    if let Some(Some(u)) = &c.username {
        validate::username("username", u, &mut errors);
    }
    for (field, v) in [
        ("first_name", &c.first_name),
        ("last_name", &c.last_name),
        ("display_name", &c.display_name),
    ] {
        if let Some(Some(v)) = v {
            validate::text(field, v, 100, &mut errors);
        }
    }
    if let Some(Some(l)) = &c.locale {
        validate::locale("locale", l, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Validation(errors))
    }
}

impl Domain {
    /// Creates a user with the given roles (sign-up passes only the default role).
    pub async fn create_user(
        &self,
        r: Registration,
        roles: &[String],
        verified: bool,
        meta: &Meta,
    ) -> DomainResult<UserRecord> {
        self.create_user_as(r, roles, verified, "user.created", meta).await
    }

    /// Creates a user and records it under the given audit event name.
    pub async fn create_user_as(
        &self,
        r: Registration,
        roles: &[String],
        verified: bool,
        event_name: &str,
        meta: &Meta,
    ) -> DomainResult<UserRecord> {
        validate_registration(&r)?;
        self.ensure_free(&r.tenant, &r.email, r.username.as_deref()).await?;
        let hash = self.hasher.hash(&r.password).await?;
        let now = self.clock.now_ms();
        let id = uuid::Uuid::now_v7().to_string();
        let user = NewUser {
            id: id.clone(),
            tenant_id: r.tenant.clone(),
            email: r.email.clone(),
            username: r.username.clone(),
            password_hash: hash,
            first_name: r.first_name.clone(),
            last_name: r.last_name.clone(),
            email_verified: verified,
            now,
        };
        let event = meta
            .event(&r.tenant, event_name, Some(&id), now)
            .with_detail(serde_json::json!({ "roles": roles }));
        match self.store.insert_user(&user, roles, &event).await {
            Ok(()) => {}
            // Lost a race with another sign-up for the same email or username.
            Err(StoreError::Conflict(_)) => {
                self.ensure_free(&r.tenant, &r.email, r.username.as_deref()).await?;
                return Err(DomainError::EmailTaken);
            }
            Err(StoreError::MissingReference(_)) => {
                return Err(DomainError::field("tenant", "unknown_tenant", "no such tenant"));
            }
            Err(e) => return Err(e.into()),
        }
        self.store
            .user_by_id(None, &id)
            .await?
            .ok_or(DomainError::NotFound("user"))
    }

    /// Self-service sign-up: always and only the default role.
    pub async fn register(&self, r: Registration, meta: &Meta) -> DomainResult<UserRecord> {
        self.create_user(r, &[DEFAULT_ROLE.to_string()], false, meta).await
    }

    pub(crate) async fn ensure_free(&self, tenant: &str, email: &str, username: Option<&str>) -> DomainResult<()> {
        let (email_taken, username_taken) = self.store.taken(tenant, email, username).await?;
        if email_taken {
            return Err(DomainError::EmailTaken);
        }
        if username_taken {
            return Err(DomainError::UsernameTaken);
        }
        Ok(())
    }

    /// The user behind an authenticated request.
    pub async fn user(&self, tenant: &str, id: &str) -> DomainResult<UserRecord> {
        self.store
            .user_by_id(Some(tenant), id)
            .await?
            .ok_or(DomainError::NotFound("user"))
    }

    /// Applies a profile change made by the user themselves.
    pub async fn update_user(&self, user: &UserRecord, change: ProfileChange, meta: &Meta) -> DomainResult<UserRecord> {
        self.update_user_as(user, change, "user.updated", meta).await
    }

    /// Applies a profile change and records it under the given audit event name.
    pub async fn update_user_as(
        &self,
        user: &UserRecord,
        change: ProfileChange,
        event_name: &str,
        meta: &Meta,
    ) -> DomainResult<UserRecord> {
        validate_change(&change)?;
        let email = change
            .email
            .clone()
            .filter(|e| !e.trim().eq_ignore_ascii_case(&user.email));
        let username = change.username.clone().flatten().filter(|u| {
            !user
                .username
                .as_deref()
                .is_some_and(|cur| cur.eq_ignore_ascii_case(u.trim()))
        });
        if email.is_some() || username.is_some() {
            self.ensure_free(&user.tenant_id, email.as_deref().unwrap_or(""), username.as_deref())
                .await?;
        }
        let now = self.clock.now_ms();
        let fields: Vec<&str> = [
            ("email", change.email.is_some()),
            ("username", change.username.is_some()),
            ("first_name", change.first_name.is_some()),
            ("last_name", change.last_name.is_some()),
            ("display_name", change.display_name.is_some()),
            ("locale", change.locale.is_some()),
            ("email_verified", change.email_verified.is_some()),
        ]
        .into_iter()
        .filter_map(|(f, set)| set.then_some(f))
        .collect();
        let event = meta
            .event(&user.tenant_id, event_name, Some(&user.id), now)
            .with_detail(serde_json::json!({ "fields": fields }));
        // Keep the email's verification only when the address did not change.
        let mut change = change;
        if email.is_none() && change.email.is_some() {
            change.email = None;
        }
        match self.store.update_profile(&user.id, &change, now, &event).await {
            Ok(true) => {}
            Ok(false) => return Err(DomainError::NotFound("user")),
            Err(StoreError::Conflict(_)) => {
                self.ensure_free(&user.tenant_id, email.as_deref().unwrap_or(""), username.as_deref())
                    .await?;
                return Err(DomainError::Conflict("email or username taken".into()));
            }
            Err(e) => return Err(e.into()),
        }
        self.user(&user.tenant_id, &user.id).await
    }

    /// A user's preferences (an empty object when none are stored).
    pub async fn preferences(&self, user_id: &str) -> DomainResult<serde_json::Value> {
        let stored = self.store.preferences(user_id).await?;
        Ok(stored
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_else(|| serde_json::json!({})))
    }

    /// Replaces (or, with `merge`, merges per RFC 7396 into) a user's preferences.
    pub async fn set_preferences(
        &self,
        user_id: &str,
        doc: serde_json::Value,
        merge: bool,
    ) -> DomainResult<serde_json::Value> {
        if !doc.is_object() {
            return Err(DomainError::field(
                "preferences",
                "not_an_object",
                "must be a JSON object",
            ));
        }
        let doc = if merge {
            let mut current = self.preferences(user_id).await?;
            merge_patch(&mut current, doc);
            current
        } else {
            doc
        };
        let text = doc.to_string();
        if text.len() > self.config.max_preferences_bytes {
            return Err(DomainError::field(
                "preferences",
                "too_large",
                format!("must be at most {} bytes", self.config.max_preferences_bytes),
            ));
        }
        self.store.put_preferences(user_id, &text, self.clock.now_ms()).await?;
        Ok(doc)
    }
}

/// JSON Merge Patch (RFC 7396): `null` removes a member, objects merge, anything else replaces.
pub fn merge_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
    match patch {
        serde_json::Value::Object(members) => {
            if !target.is_object() {
                *target = serde_json::json!({});
            }
            if let serde_json::Value::Object(t) = target {
                for (k, v) in members {
                    if v.is_null() {
                        t.remove(&k);
                    } else {
                        merge_patch(t.entry(k).or_insert(serde_json::Value::Null), v);
                    }
                }
            }
        }
        other => *target = other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
        merge_patch(&mut doc, json!({"a": null, "b": {"c": 9}, "e": {"x": 1}, "f": "new"}));
        assert_eq!(doc, json!({"b": {"c": 9, "d": 3}, "e": {"x": 1}, "f": "new"}));
    }

    #[test]
    fn registration_reports_every_broken_rule() {
        let r = Registration {
            email: "nope".into(),
            password: Secret::new("short"),
            username: Some("x".into()),
            first_name: None,
            last_name: Some("y".repeat(101)),
            tenant: DEFAULT_TENANT.into(),
        };
        let Err(DomainError::Validation(errors)) = validate_registration(&r) else {
            panic!("should fail")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "password", "username", "last_name"]);
    }
}
