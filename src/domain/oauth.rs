//! OAuth 2.0 grant types and error codes (RFC 6749 §5.2, RFC 7009, RFC 7662).

/// A grant type of the token endpoint, parsed once from `grant_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    /// `authorization_code` (RFC 6749 §4.1, with PKCE).
    AuthorizationCode,
    /// `password` (resource owner credentials).
    Password,
    /// `refresh_token`.
    RefreshToken,
    /// `client_credentials`.
    ClientCredentials,
}

impl GrantType {
    /// Every grant type, in the order discovery lists them.
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::Password,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    /// Parses a wire value; `None` for grants this server does not support.
    pub fn parse(v: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == v)
    }
}

/// The `error` value of an OAuth error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthCode {
    /// Malformed request.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// Grant (password, refresh token) is invalid, expired or revoked.
    InvalidGrant,
    /// The client may not use this grant.
    UnauthorizedClient,
    /// Unknown grant type.
    UnsupportedGrantType,
    /// Scope is unknown or wider than allowed.
    InvalidScope,
    /// RFC 7009: the token type cannot be revoked.
    UnsupportedTokenType,
    /// Throttled (RFC 6749 has no code for it; `slow_down`-like, with 429).
    TooManyRequests,
    /// The server failed.
    ServerError,
    /// A dependency is out of reach for now (503 with `Retry-After`).
    TemporarilyUnavailable,
}

impl OAuthCode {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthCode::InvalidRequest => "invalid_request",
            OAuthCode::InvalidClient => "invalid_client",
            OAuthCode::InvalidGrant => "invalid_grant",
            OAuthCode::UnauthorizedClient => "unauthorized_client",
            OAuthCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthCode::InvalidScope => "invalid_scope",
            OAuthCode::UnsupportedTokenType => "unsupported_token_type",
            OAuthCode::TooManyRequests => "too_many_requests",
            OAuthCode::ServerError => "server_error",
            OAuthCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An OAuth error response.
#[derive(Debug, Clone)]
pub struct OAuthError {
    /// The error code.
    pub code: OAuthCode,
    /// Human-readable description (never a secret).
    pub description: String,
    /// Answer with `WWW-Authenticate: Basic` (client used Basic auth and failed).
    pub basic_challenge: bool,
    /// Seconds until a retry may succeed (429).
    pub retry_after: Option<u64>,
    /// Cause of a server error or outage, logged and never sent.
    pub internal: Option<String>,
}

impl OAuthError {
    /// An error with a description.
    pub fn new(code: OAuthCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            basic_challenge: false,
            retry_after: None,
            internal: None,
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(OAuthCode::InvalidRequest, d)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(OAuthCode::InvalidGrant, d)
    }

    /// `invalid_client`, with a Basic challenge when Basic was used.
    pub fn invalid_client(basic: bool) -> Self {
        Self {
            basic_challenge: basic,
            ..Self::new(OAuthCode::InvalidClient, "client authentication failed")
        }
    }

    /// A server error; the cause is logged, not sent. A database outage (a storage or
    /// domain error saying so) becomes `temporarily_unavailable` instead.
    pub fn server<E: std::fmt::Display + 'static>(cause: E) -> Self {
        let any: &dyn std::any::Any = &cause;
        let outage = matches!(
            any.downcast_ref::<crate::storage::StoreError>(),
            Some(crate::storage::StoreError::Unavailable { .. })
        ) || matches!(
            any.downcast_ref::<crate::domain::DomainError>(),
            Some(crate::domain::DomainError::Unavailable { .. })
        );
        if outage {
            return Self {
                internal: Some(cause.to_string()),
                ..Self::unavailable()
            };
        }
        Self {
            internal: Some(cause.to_string()),
            ..Self::new(OAuthCode::ServerError, "the server failed; retry later")
        }
    }

    /// `temporarily_unavailable` (503) with a short `Retry-After`.
    pub fn unavailable() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                OAuthCode::TemporarilyUnavailable,
                "the service is briefly unavailable; retry shortly",
            )
        }
    }

    /// HTTP status per RFC 6749 §5.2.
    pub fn status(&self) -> u16 {
        match self.code {
            OAuthCode::InvalidClient => 401,
            OAuthCode::TooManyRequests => 429,
            OAuthCode::ServerError => 500,
            OAuthCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

impl From<crate::domain::DomainError> for OAuthError {
    fn from(e: crate::domain::DomainError) -> Self {
        use crate::domain::DomainError as E;
        match e {
            E::InvalidCredentials => OAuthError::invalid_grant("invalid resource owner credentials"),
            E::AccountLocked { .. } => OAuthError::invalid_grant("the account is locked"),
            E::AccountDisabled => OAuthError::invalid_grant("the account is disabled"),
            E::Throttled { retry_after } => OAuthError {
                retry_after: Some(retry_after),
                ..OAuthError::new(OAuthCode::TooManyRequests, "too many requests; retry later")
            },
            E::Validation(errs) => OAuthError::invalid_request(
                errs.first()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .unwrap_or_default(),
            ),
            E::InvalidToken(d) => OAuthError::invalid_grant(d),
            E::InvalidScope(d) => OAuthError::new(OAuthCode::InvalidScope, d),
            E::UnauthorizedClient(d) => OAuthError::new(OAuthCode::UnauthorizedClient, d),
            E::NotFound(what) => OAuthError::invalid_grant(format!("{what} not found")),
            E::Overloaded { retry_after } => OAuthError {
                retry_after: Some(retry_after),
                ..OAuthError::new(
                    OAuthCode::TemporarilyUnavailable,
                    "too many requests in progress; retry shortly",
                )
            },
            E::Unavailable { cause, .. } => OAuthError {
                internal: Some(cause),
                ..OAuthError::unavailable()
            },
            other => OAuthError::server(other),
        }
    }
}
