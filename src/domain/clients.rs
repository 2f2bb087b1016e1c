//! OAuth clients: registration, secrets, authentication.

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;

use super::error::{DomainError, DomainResult, FieldError};
use super::oauth::{GrantType, OAuthError};
use super::{Domain, Meta};
use crate::clock::rfc3339;
use crate::storage::clients::ClientRecord;

/// The id of the built-in client behind `/auth/*`.
pub const FIRST_PARTY_CLIENT: &str = "portcullis";

/// A new client's settings.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    /// Display name.
    pub name: String,
    /// Public (no secret) or confidential.
    pub public: bool,
    /// Allowed grants.
    pub grant_types: Vec<String>,
    /// Allowed scopes.
    pub scopes: Vec<String>,
    /// Audiences for access tokens.
    pub audiences: Vec<String>,
    /// Owning tenant.
    pub tenant: String,
    /// Access-token lifetime, seconds.
    pub access_ttl_secs: Option<i64>,
    /// Refresh idle lifetime, seconds.
    pub refresh_idle_secs: Option<i64>,
    /// Refresh absolute lifetime, seconds.
    pub refresh_max_secs: Option<i64>,
    /// Redirect URIs for the authorization code flow.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return to.
    pub post_logout_redirect_uris: Vec<String>,
    /// Ask the user for consent (default true).
    pub require_consent: Option<bool>,
    /// Demand PKCE (default true; public clients cannot turn it off).
    pub require_pkce: Option<bool>,
}

/// A client as the admin API shows it; `client_secret` only right after creation or rotation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    /// `client_id`.
    pub client_id: String,
    /// The secret, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Display name.
    pub name: String,
    /// Owning tenant.
    pub tenant: String,
    /// No secret.
    pub public: bool,
    /// Allowed grants.
    pub grant_types: Vec<String>,
    /// Allowed scopes.
    pub scopes: Vec<String>,
    /// Access-token audiences.
    pub audiences: Vec<String>,
    /// Access-token lifetime override, seconds.
    pub access_token_ttl: Option<i64>,
    /// Refresh idle lifetime override, seconds.
    pub refresh_token_idle_ttl: Option<i64>,
    /// Refresh absolute lifetime override, seconds.
    pub refresh_token_max_ttl: Option<i64>,
    /// Redirect URIs (authorization code flow).
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs (RP-initiated logout).
    pub post_logout_redirect_uris: Vec<String>,
    /// Whether the user is asked for consent.
    pub require_consent: bool,
    /// Whether PKCE (S256) is required.
    pub require_pkce: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl ClientView {
    /// The view of a record, with a secret to show once.
    pub fn new(c: ClientRecord, secret: Option<String>) -> Self {
        ClientView {
            client_id: c.id,
            client_secret: secret,
            name: c.name,
            tenant: c.tenant_id,
            public: c.public,
            grant_types: c.grant_types,
            scopes: c.scopes,
            audiences: c.audiences,
            access_token_ttl: c.access_ttl_secs,
            refresh_token_idle_ttl: c.refresh_idle_secs,
            refresh_token_max_ttl: c.refresh_max_secs,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            require_consent: c.require_consent,
            require_pkce: c.require_pkce,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

/// `scope-token` of RFC 6749 §3.3.
pub fn valid_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Whether a client may use a grant.
pub fn allows(client: &ClientRecord, grant: GrantType) -> bool {
    client.grant_types.iter().any(|g| g == grant.as_str())
}

/// Checks grants, scopes, audiences and lifetimes of a client spec.
pub fn validate_spec(spec: &ClientSpec) -> DomainResult<()> {
    let mut errors = Vec::new();
    if spec.name.trim().is_empty() || spec.name.chars().count() > 200 {
        errors.push(FieldError::new("name", "invalid_length", "must be 1 to 200 characters"));
    }
    if spec.grant_types.is_empty() {
        errors.push(FieldError::new(
            "grant_types",
            "required",
            "name at least one grant type",
        ));
    }
    for g in &spec.grant_types {
        if GrantType::parse(g).is_none() {
            let all: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
            errors.push(FieldError::new(
                "grant_types",
                "unsupported",
                format!("{g} is not one of {}", all.join(", ")),
            ));
        }
    }
    if spec.public && spec.grant_types.iter().any(|g| g == "client_credentials") {
        errors.push(FieldError::new(
            "grant_types",
            "public_client",
            "a public client cannot use client_credentials",
        ));
    }
    if spec.public && spec.require_pkce == Some(false) {
        errors.push(FieldError::new(
            "require_pkce",
            "public_client",
            "a public client must use PKCE",
        ));
    }
    if spec.grant_types.iter().any(|g| g == "authorization_code") && spec.redirect_uris.is_empty() {
        errors.push(FieldError::new(
            "redirect_uris",
            "required",
            "the authorization_code grant needs at least one redirect URI",
        ));
    }
    for (field, uris) in [
        ("redirect_uris", &spec.redirect_uris),
        ("post_logout_redirect_uris", &spec.post_logout_redirect_uris),
    ] {
        if uris.len() > 20 {
            errors.push(FieldError::new(field, "too_many", "at most 20 URIs"));
        }
        for u in uris {
            if let Err(why) = valid_redirect_uri(u) {
                errors.push(FieldError::new(field, "invalid_uri", format!("{u:?}: {why}")));
            }
        }
    }
    for s in &spec.scopes {
        if !valid_scope_token(s) {
            errors.push(FieldError::new(
                "scopes",
                "invalid_scope",
                format!("{s:?} is not a valid scope"),
            ));
        }
    }
    for a in &spec.audiences {
        if a.is_empty() || a.chars().any(char::is_whitespace) || a.len() > 200 {
            errors.push(FieldError::new(
                "audiences",
                "invalid_audience",
                format!("{a:?} is not a valid audience"),
            ));
        }
    }
    for (field, v) in [
        ("access_token_ttl", spec.access_ttl_secs),
        ("refresh_token_idle_ttl", spec.refresh_idle_secs),
        ("refresh_token_max_ttl", spec.refresh_max_secs),
    ] {
        if v.is_some_and(|v| !(1..=365 * 86_400).contains(&v)) {
            errors.push(FieldError::new(
                field,
                "out_of_range",
                "must be between 1 second and 365 days",
            ));
        }
    }
    if let Some(ttl) = spec.access_ttl_secs
        && ttl > 86_400
    {
        errors.push(FieldError::new(
            "access_token_ttl",
            "out_of_range",
            "must be at most 24 hours",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Validation(errors))
    }
}

/// Checks a redirect URI a client registers: absolute, no fragment, and `https`, `http` on a
/// loopback host (RFC 8252 §7.3), or a private-use scheme with a dot (RFC 8252 §7.1).
pub fn valid_redirect_uri(raw: &str) -> Result<(), &'static str> {
    if raw.len() > 2000 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be at most 2000 characters without spaces");
    }
    let url = url::Url::parse(raw).map_err(|_| "is not an absolute URI")?;
    if url.fragment().is_some() {
        return Err("must not have a fragment");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&url) => Ok(()),
        "http" => Err("http is only allowed on a loopback host; use https"),
        s if s.contains('.') => Ok(()),
        _ => Err("must be https, http on a loopback host, or a private-use scheme like com.example.app"),
    }
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether `given` matches a registered URI: exactly, or for `http://127.0.0.1` and
/// `http://[::1]` with any port (RFC 8252 §7.3).
pub fn redirect_matches(registered: &[String], given: &str) -> bool {
    if registered.iter().any(|r| r == given) {
        return true;
    }
    let Ok(given_url) = url::Url::parse(given) else {
        return false;
    };
    let loopback_ip = |u: &url::Url| {
        u.scheme() == "http" && matches!(u.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))) && is_loopback_host(u)
    };
    if !loopback_ip(&given_url) {
        return false;
    }
    let without_port = |mut u: url::Url| {
        let _ = u.set_port(None);
        u.to_string()
    };
    let given_norm = without_port(given_url);
    registered
        .iter()
        .filter_map(|r| url::Url::parse(r).ok())
        .filter(loopback_ip)
        .any(|r| without_port(r) == given_norm)
}

/// A new random secret (256 bits, base64url).
pub fn new_secret() -> DomainResult<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| DomainError::Internal("no randomness".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 hex of a secret or token.
pub fn sha256_hex(v: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, v.as_bytes()))
}

/// Compares two strings in time that depends only on their length.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Domain {
    /// Registers a client; returns it with its secret (confidential clients only).
    pub async fn create_client(&self, spec: ClientSpec, meta: &Meta) -> DomainResult<ClientView> {
        validate_spec(&spec)?;
        let now = self.clock.now_ms();
        let secret = if spec.public { None } else { Some(new_secret()?) };
        let record = ClientRecord {
            id: uuid::Uuid::new_v4().simple().to_string(),
            tenant_id: spec.tenant.clone(),
            name: spec.name.trim().to_string(),
            secret_hash: secret.as_deref().map(sha256_hex),
            public: spec.public,
            first_party: false,
            grant_types: dedup(spec.grant_types),
            scopes: dedup(spec.scopes),
            audiences: dedup(spec.audiences),
            access_ttl_secs: spec.access_ttl_secs,
            refresh_idle_secs: spec.refresh_idle_secs,
            refresh_max_secs: spec.refresh_max_secs,
            redirect_uris: dedup(spec.redirect_uris),
            post_logout_redirect_uris: dedup(spec.post_logout_redirect_uris),
            require_consent: spec.require_consent.unwrap_or(true),
            require_pkce: spec.public || spec.require_pkce.unwrap_or(true),
            created_at: now,
            updated_at: now,
        };
        let event = meta
            .event(&record.tenant_id, "client.created", Some(&record.id), now)
            .with_detail(serde_json::json!({ "name": record.name, "public": record.public }));
        match self.store.insert_client(&record, &event).await {
            Ok(()) => Ok(ClientView::new(record, secret)),
            Err(crate::storage::StoreError::MissingReference(_)) => {
                Err(DomainError::field("tenant", "unknown_tenant", "no such tenant"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces a confidential client's secret; the new one is returned once.
    pub async fn rotate_client_secret(&self, client: ClientRecord, meta: &Meta) -> DomainResult<ClientView> {
        if client.public {
            return Err(DomainError::Conflict("a public client has no secret".into()));
        }
        let secret = new_secret()?;
        let now = self.clock.now_ms();
        let record = ClientRecord {
            secret_hash: Some(sha256_hex(&secret)),
            updated_at: now,
            ..client
        };
        let event = meta.event(&record.tenant_id, "client.secret_rotated", Some(&record.id), now);
        if !self.store.update_client(&record, &event).await? {
            return Err(DomainError::NotFound("client"));
        }
        Ok(ClientView::new(record, Some(secret)))
    }

    /// Authenticates a client at the token, revocation or introspection endpoint.
    /// `basic` says whether the credentials came in an `Authorization: Basic` header.
    pub async fn authenticate_client(
        &self,
        id: &str,
        secret: Option<&str>,
        basic: bool,
    ) -> Result<ClientRecord, OAuthError> {
        let client = self.store.client(id).await.map_err(OAuthError::server)?;
        let Some(client) = client else {
            return Err(OAuthError::invalid_client(basic));
        };
        let ok = match (&client.secret_hash, secret, client.public) {
            (_, None, true) => true,
            (Some(hash), Some(secret), false) => constant_time_eq(hash, &sha256_hex(secret)),
            _ => false,
        };
        if ok {
            Ok(client)
        } else {
            Err(OAuthError::invalid_client(basic))
        }
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
    v
}
