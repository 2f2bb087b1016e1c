//! Building and running the server: wire the parts, bind the listener, serve until a signal.

mod serve;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::config::Config;
use crate::counters::{Counters, RedisCounters};
use crate::domain::Domain;
use crate::domain::password::Hasher;
use crate::http::{AppState, router};
use crate::keys::{Keyring, load_kek};
use crate::mail::Mailer;
use crate::storage::{Store, StoreOptions};
pub use serve::ServeLimits;

/// A failure to start, with a one-line reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

fn fail(what: &str) -> impl Fn(String) -> StartError + '_ {
    move |e| StartError(format!("{what}: {e}"))
}

/// The connected parts, shared by the server and the CLI.
pub struct Parts {
    /// Business rules, keys included.
    pub domain: Domain,
    /// Whether the key-encryption key was created just now.
    pub kek_created: bool,
}

/// Connects the database (running migrations), counters, hasher and keyring.
pub async fn connect(config: Config, clock: Clock, issuer: String) -> Result<Parts, StartError> {
    let config = Arc::new(config);
    // Only the default location (in the data folder) is created; a folder named by hand
    // that does not exist is more likely a typo than a wish.
    let default_url = format!("sqlite://{}/portcullis.db", config.data_dir.display());
    let options = StoreOptions {
        acquire_timeout: config.database_acquire_timeout,
        create_dir: config.database_url == default_url,
    };
    let store = Store::connect_with(&config.database_url, options)
        .await
        .map_err(|e| fail("DATABASE_URL")(e.to_string()))?;
    store.migrate().await.map_err(|e| fail("migrations")(e.to_string()))?;
    let counters = match &config.redis_url {
        Some(url) => {
            let redis = RedisCounters::new(url, &config.redis_prefix).map_err(|e| fail("REDIS_URL")(e.to_string()))?;
            let c = Counters::shared(Arc::new(redis), config.limits.redis_timeout);
            if let Err(e) = c.check().await {
                tracing::error!(error = %e, "Redis unreachable at start; serving on in-process counters until it answers");
            }
            c
        }
        None => Counters::local(),
    };
    // The dummy hash computed here is argon2 work: keep it off the async threads too.
    let hasher = tokio::task::spawn_blocking({
        let (params, concurrency) = (config.argon2, config.hash_concurrency);
        let (queue_max, queue_timeout) = (config.hash_queue_max, config.hash_queue_timeout);
        move || Hasher::new(params, concurrency).map(|h| h.with_queue(queue_max, queue_timeout))
    })
    .await
    .map_err(|e| fail("password hashing")(e.to_string()))?
    .map_err(|e| fail("password hashing")(e.to_string()))?;
    let (kek, kek_created) = load_kek(&config).map_err(|e| fail("PORTCULLIS_KEY_ENCRYPTION_KEY")(e.to_string()))?;
    let keys = Keyring::start(store.clone(), config.clone(), clock.clone(), kek)
        .await
        .map_err(|e| fail("signing keys")(e.to_string()))?;
    let mailer = Mailer::from_config(&config.mail).map_err(|e| fail("mail")(e.to_string()))?;
    let domain = Domain {
        mailer,
        config,
        store,
        hasher,
        counters,
        clock,
        issuer,
        keys,
    };
    Ok(Parts { domain, kek_created })
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    address: SocketAddr,
}

impl Application {
    /// Binds the listener (port 0 picks one) and connects every part.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        Self::build_with_clock(config, Clock::system()).await
    }

    /// Like [`Application::build`] with a given clock (tests move it).
    pub async fn build_with_clock(config: Config, clock: Clock) -> Result<Self, StartError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| fail("PORTCULLIS_LISTEN")(e.to_string()))?;
        let address = listener
            .local_addr()
            .map_err(|e| fail("PORTCULLIS_LISTEN")(e.to_string()))?;
        let issuer = config.issuer.clone().unwrap_or_else(|| format!("http://{address}"));
        let parts = connect(config, clock, issuer).await?;
        parts
            .domain
            .bootstrap_admin()
            .await
            .map_err(|e| fail("bootstrap admin")(e.to_string()))?;
        if parts.kek_created {
            tracing::warn!(
                "created a new key-encryption key in the keys folder; back it up, or signing keys cannot be read"
            );
        }
        Ok(Self {
            listener,
            state: AppState { domain: parts.domain },
            address,
        })
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The shared state (tests reach the clock and keyring through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests for at most the
    /// configured grace.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let maintenance = self.state.domain.keys.spawn_maintenance();
        let purge = self.state.domain.spawn_purge();
        let config = &self.state.domain.config;
        let limits = ServeLimits {
            header_read_timeout: config.header_read_timeout,
            body_read_timeout: config.body_read_timeout,
            max_connections: config.max_connections,
            max_connections_per_ip: config.max_connections_per_ip,
            trusted_proxies: config.trusted_proxies.clone(),
            shutdown_grace: config.shutdown_grace,
        };
        let res = serve::serve(self.listener, router(self.state.clone()), limits, shutdown).await;
        maintenance.abort();
        purge.abort();
        self.state.domain.store.close().await;
        res
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called (not when
/// first polled), so a signal that arrives right after start is not lost.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (mut term, mut int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! { () = term => {}, () = int => {} }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}
