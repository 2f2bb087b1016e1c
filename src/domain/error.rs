//! Errors of the domain layer; the HTTP layer maps them to responses in one place.

use crate::domain::password::HashError;
use crate::storage::StoreError;

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// JSON field name.
    pub field: String,
    /// Stable code, e.g. `too_short`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Why a domain operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Input broke a rule; each broken rule is listed.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The email is registered already in this tenant.
    #[error("email already registered")]
    EmailTaken,
    /// The username is taken already in this tenant.
    #[error("username already taken")]
    UsernameTaken,
    /// Wrong login or password (never says which).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failed passwords: locked for `retry_after` seconds.
    #[error("account locked")]
    AccountLocked {
        /// Seconds until the lock ends.
        retry_after: u64,
    },
    /// An administrator disabled the account.
    #[error("account disabled")]
    AccountDisabled,
    /// A limit was hit; retry after the given seconds.
    #[error("too many requests")]
    Throttled {
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// The thing does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request conflicts with current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The bearer token is missing, malformed, expired or revoked.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The requested scope is malformed or wider than allowed.
    #[error("invalid scope: {0}")]
    InvalidScope(String),
    /// The client may not use this grant or endpoint.
    #[error("unauthorized client: {0}")]
    UnauthorizedClient(String),
    /// Too much work in progress (password checks queued to the limit): retry shortly.
    #[error("overloaded")]
    Overloaded {
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// A dependency (the database) is out of reach for now; the caller may retry shortly.
    #[error("unavailable: {cause}")]
    Unavailable {
        /// What failed, for the log.
        cause: String,
        /// A connection broke under a statement: repeating an idempotent request at once may succeed.
        reset: bool,
    },
    /// Something failed that is not the caller's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// A single-field validation error.
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        DomainError::Validation(vec![FieldError::new(field, code, message)])
    }
}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable { cause, reset } => DomainError::Unavailable { cause, reset },
            e => DomainError::Internal(e.to_string()),
        }
    }
}

impl From<HashError> for DomainError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy { retry_after } => DomainError::Overloaded { retry_after },
            HashError::Failed(_) => DomainError::Internal(e.to_string()),
        }
    }
}

/// Result of a domain operation.
pub type DomainResult<T> = Result<T, DomainError>;
