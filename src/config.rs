//! Configuration: environment variables (`DATABASE_URL`, `REDIS_URL`, `PORTCULLIS_*`) over an
//! optional TOML file (`PORTCULLIS_CONFIG`), validated once at start.

mod parse;
mod ui;
mod warnings;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use parse::parse_duration;
use parse::{Source, ip_net_list};
pub use ui::UiConfig;

/// A configuration value that could not be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    /// The variable's name, as the operator writes it.
    pub name: String,
    /// Why the value was refused.
    pub reason: String,
}

/// A network and prefix length, for `PORTCULLIS_TRUSTED_PROXIES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The network address.
    pub addr: IpAddr,
    /// How many leading bits must match.
    pub prefix: u8,
}

impl IpNet {
    /// Whether `ip` lies inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_match(&net.octets(), &ip.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_match(&net.octets(), &ip.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V4(ip)) => net.to_ipv4_mapped() == Some(ip) && self.prefix >= 96,
            (IpAddr::V4(net), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|ip| prefix_match(&net.octets(), &ip.octets(), self.prefix)),
        }
    }
}

fn prefix_match(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let mut bits = u32::from(prefix);
    for (a, b) in net.iter().zip(ip) {
        if bits == 0 {
            return true;
        }
        let take = bits.min(8);
        let mask = if take == 8 { 0xff } else { !(0xffu8 >> take) };
        if a & mask != b & mask {
            return false;
        }
        bits -= take;
    }
    true
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

/// A count allowed per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimit {
    /// How many events the window allows.
    pub max: u64,
    /// The window's length.
    pub window: Duration,
}

/// Abuse-protection settings (SPEC §7).
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// Requests per second per IP for every route (first line).
    pub ip_per_second: u64,
    /// Burst allowed above the steady rate.
    pub ip_burst: u32,
    /// Failed credential checks per IP.
    pub failed_logins_per_ip: WindowLimit,
    /// Sign-ups per IP.
    pub signups_per_ip: WindowLimit,
    /// Token-endpoint and login requests per account (any outcome).
    pub logins_per_account: WindowLimit,
    /// Password-reset requests per account and per IP.
    pub resets: WindowLimit,
    /// Failed passwords from one IP that lock that IP out of an account.
    pub lockout_threshold: u64,
    /// Failed passwords from all IPs together that lock the account for everyone.
    pub lockout_account_threshold: u64,
    /// Window in which failures are counted.
    pub lockout_window: Duration,
    /// First lock period; it doubles on each repeat.
    pub lockout_base: Duration,
    /// Longest lock period.
    pub lockout_max: Duration,
    /// How long a past lock is remembered (after it ends) to double the next one.
    pub lockout_memory: Duration,
    /// Timeout for one Redis call before local counters take over.
    pub redis_timeout: Duration,
}

/// Outgoing mail (account recovery and email verification).
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://user:pass@host:587` or `smtps://…`; kept out of Debug output (it may hold a password).
    pub smtp_url: Option<Secret>,
    /// Folder where each message is written as an `.eml` file instead of being sent.
    pub outbox_dir: Option<PathBuf>,
    /// The `From` mailbox.
    pub from: String,
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Issuer URL; `None` means `http://` + the bound address.
    pub issuer: Option<String>,
    /// Database URL (`sqlite://…` or `postgres://…`).
    pub database_url: String,
    /// Redis URL; `None` keeps counters in process.
    pub redis_url: Option<String>,
    /// Prefix for every Redis key (lets tests and tenants of one Redis stay apart).
    pub redis_prefix: String,
    /// Folder for the embedded database.
    pub data_dir: PathBuf,
    /// Folder for the key-encryption key and PEM imports.
    pub keys_dir: PathBuf,
    /// Base64 of the 32-byte key-encryption key, when given (kept out of Debug output).
    pub key_encryption_key: Option<Secret>,
    /// Access-token lifetime.
    pub access_token_ttl: Duration,
    /// Refresh idle lifetime.
    pub refresh_idle_ttl: Duration,
    /// Refresh absolute lifetime.
    pub refresh_max_ttl: Duration,
    /// Window in which a rotated refresh token may be replayed without killing the family.
    pub refresh_reuse_grace: Duration,
    /// How often the active signing key is replaced.
    pub key_rotation_interval: Duration,
    /// How long a new key is published before it signs.
    pub key_publish_ahead: Duration,
    /// RSA modulus size.
    pub key_bits: u32,
    /// `Cache-Control: max-age` of the JWKS.
    pub jwks_max_age: Duration,
    /// How often each instance reloads its keyring from the database.
    pub keyring_reload_interval: Duration,
    /// How often expired sessions and keys are purged.
    pub purge_interval: Duration,
    /// Admin created on first start, when both are set.
    pub bootstrap_admin_email: Option<String>,
    /// Password for the bootstrap admin (kept out of Debug output).
    pub bootstrap_admin_password: Option<Secret>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Browser origins allowed by CORS (`*` for any); empty sends no CORS headers.
    pub cors_origins: Vec<String>,
    /// Log format.
    pub log_format: LogFormat,
    /// Password hashing cost.
    pub argon2: Argon2Params,
    /// How many hashes run at once.
    pub hash_concurrency: usize,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Largest preferences document.
    pub max_preferences_bytes: usize,
    /// Abuse protection.
    pub limits: LimitsConfig,
    /// Outgoing mail.
    pub mail: MailConfig,
    /// Lifetime of a password-reset token.
    pub password_reset_ttl: Duration,
    /// Lifetime of an email-verification token.
    pub email_verify_ttl: Duration,
    /// Hosted pages and browser sessions.
    pub ui: UiConfig,
    /// Algorithm of new signing keys (`PORTCULLIS_SIGNING_ALG`, SPEC §12).
    pub signing_alg: crate::keys::SigningAlg,
    /// Password checks that may wait for a hashing slot; more are refused with 503.
    pub hash_queue_max: usize,
    /// Longest wait for a hashing slot before the request is refused with 503.
    pub hash_queue_timeout: Duration,
    /// Longest wait for a database connection before a request is answered 503.
    pub database_acquire_timeout: Duration,
    /// A request's headers must arrive within this; idle keep-alive connections close after it.
    pub header_read_timeout: Duration,
    /// A request's body must arrive within this.
    pub body_read_timeout: Duration,
    /// Open client connections at most.
    pub max_connections: usize,
    /// Open client connections per IP at most (trusted proxies are exempt).
    pub max_connections_per_ip: usize,
    /// How long a stopping server lets in-flight requests finish before closing connections.
    pub shutdown_grace: Duration,
}

/// A string that never appears in logs or Debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Config {
    /// Reads the process environment and, when `PORTCULLIS_CONFIG` names one, a TOML file.
    pub fn from_env() -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let file = env.get("PORTCULLIS_CONFIG").filter(|p| !p.is_empty()).cloned();
        Self::from_file_and_env(file.as_deref(), env)
    }

    /// Reads the TOML file at `file` (when given) under the variables in `env`, which win.
    /// A key of the file that no setting reads stops the start, naming the key.
    pub fn from_file_and_env(file: Option<&str>, env: HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut values = match file {
            Some(path) => parse::read_toml(path)?,
            None => HashMap::new(),
        };
        let from_file: Vec<String> = values.keys().cloned().collect();
        values.extend(env.into_iter().filter(|(k, _)| is_ours(k)));
        let s = Source::new(values);
        let config = Self::from_source(&s)?;
        if let Some(path) = file {
            s.refuse_unread(path, &from_file)?;
        }
        Ok(config)
    }

    /// Builds a configuration from variable names and values (environment spelling).
    pub fn from_map(values: HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_source(&Source::new(values))
    }

    fn from_source(s: &Source) -> Result<Self, ConfigError> {
        let data_dir: PathBuf = s.string("PORTCULLIS_DATA_DIR")?.unwrap_or_else(|| "data".into()).into();
        let database_url = s
            .string("DATABASE_URL")?
            .unwrap_or_else(|| format!("sqlite://{}/portcullis.db", data_dir.display()));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(s.error("DATABASE_URL", "must start with sqlite: or postgres://"));
        }
        let listen = s.parse("PORTCULLIS_LISTEN", "127.0.0.1:8080", |v| {
            v.parse::<SocketAddr>().map_err(|e| e.to_string())
        })?;
        let issuer = match s.string("PORTCULLIS_ISSUER")? {
            Some(i) => Some(parse::issuer(&i).map_err(|r| s.error("PORTCULLIS_ISSUER", &r))?),
            None => None,
        };
        let key_encryption_key = kek_setting(s)?;
        let redis_url = redis_setting(s)?;
        let jwks_max_age = s.duration("PORTCULLIS_JWKS_MAX_AGE", "5m")?;
        let key_publish_ahead = s.duration("PORTCULLIS_KEY_PUBLISH_AHEAD", "1h")?;
        if key_publish_ahead < jwks_max_age {
            return Err(s.error(
                "PORTCULLIS_KEY_PUBLISH_AHEAD",
                "must not be shorter than PORTCULLIS_JWKS_MAX_AGE",
            ));
        }
        let key_bits = s.parse("PORTCULLIS_KEY_BITS", "2048", |v| match v {
            "2048" | "3072" | "4096" => Ok(v.parse::<u32>().unwrap_or(2048)),
            _ => Err("must be 2048, 3072 or 4096".to_string()),
        })?;
        let refresh_idle_ttl = s.duration("PORTCULLIS_REFRESH_TOKEN_IDLE_TTL", "7d")?;
        let refresh_max_ttl = s.duration("PORTCULLIS_REFRESH_TOKEN_MAX_TTL", "30d")?;
        if refresh_idle_ttl > refresh_max_ttl {
            return Err(s.error(
                "PORTCULLIS_REFRESH_TOKEN_IDLE_TTL",
                "must not exceed PORTCULLIS_REFRESH_TOKEN_MAX_TTL",
            ));
        }
        let log_format = s.parse("PORTCULLIS_LOG_FORMAT", "text", |v| match v {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("must be text or json".to_string()),
        })?;
        let bootstrap_admin_email = s.string("PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL")?;
        let bootstrap_admin_password = s.string("PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD")?.map(Secret::new);
        if bootstrap_admin_email.is_some() != bootstrap_admin_password.is_some() {
            return Err(s.error(
                "PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD",
                "set both PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL and PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD, or neither",
            ));
        }
        let lockout_threshold = s.number("PORTCULLIS_LOCKOUT_THRESHOLD", 5, 1, 1000)?;
        // Account-wide locks need several IPs' worth of failures, so one IP cannot lock a
        // real user out; 4x the per-IP threshold unless set (docs/abuse-protection.md).
        let lockout_account_threshold = s.number(
            "PORTCULLIS_LOCKOUT_ACCOUNT_THRESHOLD",
            lockout_threshold.saturating_mul(4),
            1,
            100_000,
        )?;
        if lockout_account_threshold < lockout_threshold {
            return Err(s.error(
                "PORTCULLIS_LOCKOUT_ACCOUNT_THRESHOLD",
                "must not be below PORTCULLIS_LOCKOUT_THRESHOLD",
            ));
        }
        let lockout_base = s.duration_at_least("PORTCULLIS_LOCKOUT_DURATION", "15m", 1)?;
        let lockout_max = s.duration_at_least("PORTCULLIS_LOCKOUT_MAX_DURATION", "24h", 1)?;
        if lockout_max < lockout_base {
            return Err(s.error(
                "PORTCULLIS_LOCKOUT_MAX_DURATION",
                "must not be shorter than PORTCULLIS_LOCKOUT_DURATION",
            ));
        }
        let mail = mail_config(s)?;
        let password_reset_ttl = duration_between(s, "PORTCULLIS_PASSWORD_RESET_TTL", "30m", 60, 86_400)?;
        let email_verify_ttl = duration_between(s, "PORTCULLIS_EMAIL_VERIFY_TTL", "24h", 60, 30 * 86_400)?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(Config {
            listen,
            issuer,
            redis_url,
            redis_prefix: s
                .string("PORTCULLIS_REDIS_PREFIX")?
                .unwrap_or_else(|| "portcullis:".into()),
            database_url,
            keys_dir: s.string("PORTCULLIS_KEYS_DIR")?.unwrap_or_else(|| "keys".into()).into(),
            data_dir,
            key_encryption_key,
            access_token_ttl: s.duration_at_least("PORTCULLIS_ACCESS_TOKEN_TTL", "15m", 1)?,
            refresh_idle_ttl,
            refresh_max_ttl,
            refresh_reuse_grace: s.duration("PORTCULLIS_REFRESH_REUSE_GRACE", "0s")?,
            key_rotation_interval: s.duration_at_least("PORTCULLIS_KEY_ROTATION_INTERVAL", "7d", 60)?,
            key_publish_ahead,
            key_bits,
            jwks_max_age,
            keyring_reload_interval: s.duration_at_least("PORTCULLIS_KEYRING_RELOAD_INTERVAL", "10s", 1)?,
            purge_interval: s.duration_at_least("PORTCULLIS_PURGE_INTERVAL", "1h", 1)?,
            bootstrap_admin_email,
            bootstrap_admin_password,
            trusted_proxies: s.parse("PORTCULLIS_TRUSTED_PROXIES", "", ip_net_list)?,
            cors_origins: s.parse("PORTCULLIS_CORS_ORIGINS", "", parse::origin_list)?,
            log_format,
            argon2: Argon2Params {
                memory_kib: s.number("PORTCULLIS_ARGON2_MEMORY_KIB", 19456, 8, 4 * 1024 * 1024)? as u32,
                iterations: s.number("PORTCULLIS_ARGON2_ITERATIONS", 2, 1, 100)? as u32,
                parallelism: s.number("PORTCULLIS_ARGON2_PARALLELISM", 1, 1, 16)? as u32,
            },
            hash_concurrency: s.number("PORTCULLIS_HASH_CONCURRENCY", cores as u64, 1, 1024)? as usize,
            max_body_bytes: s.number("PORTCULLIS_MAX_BODY_BYTES", 64 * 1024, 1024, 16 * 1024 * 1024)? as usize,
            max_preferences_bytes: s.number("PORTCULLIS_MAX_PREFERENCES_BYTES", 16 * 1024, 2, 1024 * 1024)? as usize,
            limits: LimitsConfig {
                ip_per_second: s.number("PORTCULLIS_RATE_LIMIT_PER_SECOND", 50, 1, 1_000_000)?,
                ip_burst: s.number("PORTCULLIS_RATE_LIMIT_BURST", 100, 1, 1_000_000)? as u32,
                failed_logins_per_ip: s.window("PORTCULLIS_FAILED_LOGINS_PER_IP", "20/5m")?,
                signups_per_ip: s.window("PORTCULLIS_SIGNUPS_PER_IP", "30/1h")?,
                logins_per_account: s.window("PORTCULLIS_LOGINS_PER_ACCOUNT", "60/5m")?,
                resets: s.window("PORTCULLIS_RESETS", "5/1h")?,
                lockout_threshold,
                lockout_account_threshold,
                lockout_window: s.duration_at_least("PORTCULLIS_LOCKOUT_WINDOW", "15m", 1)?,
                lockout_base,
                lockout_max,
                lockout_memory: s.duration_at_least("PORTCULLIS_LOCKOUT_MEMORY", "24h", 1)?,
                redis_timeout: parse_duration_ms(s, "PORTCULLIS_REDIS_TIMEOUT_MS", 250)?,
            },
            mail,
            password_reset_ttl,
            email_verify_ttl,
            ui: UiConfig::from_source(s)?,
            signing_alg: s.parse("PORTCULLIS_SIGNING_ALG", "RS256", |v| v.parse())?,
            hash_queue_max: s.number("PORTCULLIS_HASH_QUEUE_MAX", 128, 0, 1_000_000)? as usize,
            hash_queue_timeout: s.duration("PORTCULLIS_HASH_QUEUE_TIMEOUT", "3s")?,
            database_acquire_timeout: duration_ms_between(
                s,
                "PORTCULLIS_DATABASE_ACQUIRE_TIMEOUT",
                "1500ms",
                100,
                60_000,
            )?,
            header_read_timeout: duration_ms_between(s, "PORTCULLIS_HEADER_READ_TIMEOUT", "10s", 100, 300_000)?,
            body_read_timeout: duration_ms_between(s, "PORTCULLIS_BODY_READ_TIMEOUT", "10s", 100, 300_000)?,
            max_connections: s.number("PORTCULLIS_MAX_CONNECTIONS", 768, 1, 1_000_000)? as usize,
            max_connections_per_ip: s.number("PORTCULLIS_MAX_CONNECTIONS_PER_IP", 256, 1, 1_000_000)? as usize,
            shutdown_grace: duration_ms_between(s, "PORTCULLIS_SHUTDOWN_GRACE", "10s", 0, 3_600_000)?,
        })
    }

    /// The key-encryption key's 32 bytes, when configured by value.
    pub fn kek_bytes(&self) -> Option<[u8; 32]> {
        self.key_encryption_key
            .as_ref()
            .and_then(|k| parse::kek_bytes(k.expose()).ok())
    }

    /// Whether the database is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }
}

/// `PORTCULLIS_KEY_ENCRYPTION_KEY`, or the content of the file `PORTCULLIS_KEY_ENCRYPTION_KEY_FILE`
/// names (a container secret); never both. Reasons never quote the key.
fn kek_setting(s: &Source) -> Result<Option<Secret>, ConfigError> {
    const VALUE: &str = "PORTCULLIS_KEY_ENCRYPTION_KEY";
    const FILE: &str = "PORTCULLIS_KEY_ENCRYPTION_KEY_FILE";
    let (key, name) = match (s.string(VALUE)?, s.string(FILE)?) {
        (Some(_), Some(_)) => return Err(s.error(FILE, &format!("set either {VALUE} or {FILE}, not both"))),
        (Some(k), None) => (k, VALUE),
        (None, Some(path)) => {
            let text =
                std::fs::read_to_string(&path).map_err(|e| s.error(FILE, &format!("cannot read {path}: {e}")))?;
            (text.trim().to_string(), FILE)
        }
        (None, None) => return Ok(None),
    };
    parse::kek_bytes(&key).map_err(|r| s.error(name, &r))?;
    Ok(Some(Secret::new(key)))
}

/// `REDIS_URL`, checked here so a typo stops the start with one line instead of a client error.
fn redis_setting(s: &Source) -> Result<Option<String>, ConfigError> {
    let url = s.string("REDIS_URL")?;
    if let Some(u) = &url {
        // The reason never quotes the value: a Redis URL may carry a password.
        redis::IntoConnectionInfo::into_connection_info(u.as_str()).map_err(|_| {
            s.error(
                "REDIS_URL",
                "must be a URL like redis://host:6379, rediss://host:6380 or unix:///path/to/redis.sock",
            )
        })?;
    }
    Ok(url)
}

fn parse_duration_ms(s: &Source, name: &str, default: u64) -> Result<Duration, ConfigError> {
    Ok(Duration::from_millis(s.number(name, default, 1, 60_000)?))
}

fn duration_between(
    s: &Source,
    name: &str,
    default: &str,
    min_secs: u64,
    max_secs: u64,
) -> Result<Duration, ConfigError> {
    let d = s.duration_at_least(name, default, min_secs)?;
    if d.as_secs() > max_secs {
        return Err(s.error(name, &format!("must be at most {max_secs}s")));
    }
    Ok(d)
}

/// A duration (`500ms`, `10s`, …) between two bounds in milliseconds.
fn duration_ms_between(
    s: &Source,
    name: &str,
    default: &str,
    min_ms: u64,
    max_ms: u64,
) -> Result<Duration, ConfigError> {
    s.parse(name, default, |v| {
        let d = parse_duration(v)?;
        if d.as_millis() < u128::from(min_ms) || d.as_millis() > u128::from(max_ms) {
            return Err(format!("must be between {min_ms}ms and {max_ms}ms"));
        }
        Ok(d)
    })
}

fn mail_config(s: &Source) -> Result<MailConfig, ConfigError> {
    let smtp_url = s.string("PORTCULLIS_SMTP_URL")?;
    if let Some(url) = &smtp_url {
        // The reason never quotes the value: an SMTP URL may carry a password.
        crate::mail::check_smtp_url(url).map_err(|r| s.error("PORTCULLIS_SMTP_URL", &r))?;
    }
    let outbox_dir = s.string("PORTCULLIS_MAIL_OUTBOX_DIR")?.map(PathBuf::from);
    if smtp_url.is_some() && outbox_dir.is_some() {
        return Err(s.error(
            "PORTCULLIS_MAIL_OUTBOX_DIR",
            "set either PORTCULLIS_SMTP_URL or PORTCULLIS_MAIL_OUTBOX_DIR, not both",
        ));
    }
    let from = match s.string("PORTCULLIS_MAIL_FROM")? {
        Some(f) => f,
        // A made-up sender is fine for files and logs, but real servers would refuse it.
        None if smtp_url.is_some() => {
            return Err(s.error("PORTCULLIS_MAIL_FROM", "must be set when PORTCULLIS_SMTP_URL is"));
        }
        None => "portcullis <no-reply@localhost>".into(),
    };
    crate::mail::parse_mailbox(&from).map_err(|r| s.error("PORTCULLIS_MAIL_FROM", &format!("{r} (got {from:?})")))?;
    Ok(MailConfig {
        smtp_url: smtp_url.map(Secret::new),
        outbox_dir,
        from,
    })
}

fn is_ours(name: &str) -> bool {
    name.starts_with("PORTCULLIS_") || name == "DATABASE_URL" || name == "REDIS_URL"
}

#[cfg(test)]
mod tests;
