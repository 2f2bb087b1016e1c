//! Persistence: one portable SQL implementation over PostgreSQL and SQLite.
//!
//! Every query is written once, with `$N` placeholders, integer times (unix ms) and text ids,
//! which both dialects accept; only the migrations differ per dialect.

pub mod action_tokens;
pub mod admin;
pub mod audit;
pub mod authorization;
pub mod clients;
pub mod consents;
pub mod keys;
pub mod roles;
pub mod sessions;
pub mod sso;
pub mod tenants;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A referenced row does not exist.
    #[error("missing reference: {0}")]
    MissingReference(String),
    /// The database could not be reached, timed out or dropped the connection; a later
    /// retry may succeed.
    #[error("database unavailable: {cause}")]
    Unavailable {
        /// What the driver said.
        cause: String,
        /// The connection broke under a statement (a retry on a fresh one may succeed at once).
        reset: bool,
    },
    /// The database could not be opened at start; the message is meant for the operator.
    #[error("{0}")]
    Open(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let Some(db) = e.as_database_error() {
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    return StoreError::Conflict(db.constraint().unwrap_or(db.message()).to_string());
                }
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    return StoreError::MissingReference(db.constraint().unwrap_or(db.message()).to_string());
                }
                _ => {}
            }
        }
        match outage(&e) {
            Some(reset) => StoreError::Unavailable {
                cause: e.to_string(),
                reset,
            },
            None => StoreError::Database(e),
        }
    }
}

/// `Some(reset)` when the error means the database is (for now) out of reach rather than
/// refusing the statement; `reset` when an established connection broke.
fn outage(e: &sqlx::Error) -> Option<bool> {
    use std::io::ErrorKind as K;
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => Some(false),
        sqlx::Error::Io(io) => Some(matches!(
            io.kind(),
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof
        )),
        sqlx::Error::Tls(_) => Some(false),
        // PostgreSQL: class 08 connection exception, 57P01-03 shutdown or not accepting
        // connections (a terminated backend is 57P01), 53300 too many connections.
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("57P01" | "57P02") => Some(true),
            Some(c) if c.starts_with("08") || c == "57P03" || c == "53300" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Result of a storage call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The database handle shared by every request.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    postgres: bool,
}

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How [`Store::connect_with`] opens the database.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Longest wait for a pooled connection; past it a request fails as unavailable.
    pub acquire_timeout: Duration,
    /// Create a SQLite file's missing folder (only for the default location).
    pub create_dir: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            acquire_timeout: Duration::from_millis(1500),
            create_dir: true,
        }
    }
}

/// How long the first connection at start may take before the start fails.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Connects to `url` with default options, creating a SQLite file and its folder.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Connects to `url`. PostgreSQL is tried once directly first, so an unreachable server
    /// is named at once ("connection refused") rather than after the pool's retries.
    pub async fn connect_with(url: &str, opts: StoreOptions) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let postgres = url.starts_with("postgres");
        let mut url = url.to_string();
        if !postgres {
            let path = sqlite_path(&url);
            if let Some(parent) = std::path::Path::new(&path).parent()
                && !parent.as_os_str().is_empty()
                && !parent.is_dir()
            {
                if !opts.create_dir {
                    return Err(StoreError::Open(format!(
                        "the folder {} of the SQLite database does not exist; create it first",
                        parent.display()
                    )));
                }
                std::fs::create_dir_all(parent)
                    .map_err(|e| StoreError::Open(format!("cannot create the folder {}: {e}", parent.display())))?;
            }
            if !url.contains('?') {
                url.push_str("?mode=rwc");
            }
        }
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Open(format!("not a usable database URL: {}", describe(&e))))?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        if postgres {
            let target = pg_target(&options);
            match tokio::time::timeout(FIRST_CONNECT_TIMEOUT, AnyConnection::connect_with(&options)).await {
                Err(_) => {
                    return Err(StoreError::Open(format!(
                        "cannot connect to PostgreSQL at {target}: no answer within {}s",
                        FIRST_CONNECT_TIMEOUT.as_secs()
                    )));
                }
                Ok(Err(e)) => {
                    return Err(StoreError::Open(format!(
                        "cannot connect to PostgreSQL at {target}: {}",
                        describe(&e)
                    )));
                }
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                }
            }
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if postgres { 16 } else { 8 })
            .acquire_timeout(opts.acquire_timeout)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if !postgres {
                        // WAL lets readers proceed during a write; the busy timeout makes
                        // concurrent writers wait instead of failing.
                        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Open(format!("cannot open the database: {}", describe(&e))))?;
        Ok(Self { pool, postgres })
    }

    /// Applies pending migrations; already-applied ones are skipped.
    pub async fn migrate(&self) -> StoreResult<()> {
        let migrator = if self.postgres {
            &POSTGRES_MIGRATIONS
        } else {
            &SQLITE_MIGRATIONS
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The pool, for the aggregate modules.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Whether the backend is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// A cheap round trip, for readiness; bounded by `within` whatever the pool's timeout.
    pub async fn ping(&self, within: Duration) -> StoreResult<()> {
        match tokio::time::timeout(within, sqlx::query("SELECT 1").execute(&self.pool)).await {
            Ok(r) => r.map(|_| ()).map_err(StoreError::from),
            Err(_) => Err(StoreError::Unavailable {
                cause: format!("no answer within {} ms", within.as_millis()),
                reset: false,
            }),
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `host:port` of a PostgreSQL URL, never its password.
fn pg_target(options: &AnyConnectOptions) -> String {
    let url = &options.database_url;
    let host = url.host_str().filter(|h| !h.is_empty()).unwrap_or("localhost");
    format!("{host}:{}", url.port().unwrap_or(5432))
}

/// A driver error in a few words, for the operator; never the URL it came from.
fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Database(db) => db.message().to_string(),
        sqlx::Error::Configuration(c) => c.to_string(),
        other => other.to_string(),
    }
}

fn sqlite_path(url: &str) -> String {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    rest.split('?').next().unwrap_or_default().to_string()
}

/// Converts an optional stored integer flag.
pub(crate) fn flag(v: i64) -> bool {
    v != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e: sqlx::Error) -> String {
        match StoreError::from(e) {
            StoreError::Unavailable { reset, .. } => format!("unavailable reset={reset}"),
            other => format!("{other:?}").split('(').next().unwrap_or_default().to_string(),
        }
    }

    #[test]
    fn outages_are_told_apart_from_failed_statements() {
        use std::io::{Error, ErrorKind};
        assert_eq!(kind(sqlx::Error::PoolTimedOut), "unavailable reset=false");
        assert_eq!(
            kind(sqlx::Error::Io(Error::from(ErrorKind::ConnectionRefused))),
            "unavailable reset=false"
        );
        assert_eq!(
            kind(sqlx::Error::Io(Error::from(ErrorKind::ConnectionReset))),
            "unavailable reset=true"
        );
        assert_eq!(
            kind(sqlx::Error::Io(Error::from(ErrorKind::UnexpectedEof))),
            "unavailable reset=true"
        );
        assert_eq!(kind(sqlx::Error::RowNotFound), "Database");
        assert_eq!(kind(sqlx::Error::ColumnNotFound("x".into())), "Database");
    }
}
