//! Parsing of single configuration values, each error naming its variable.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;

use super::{ConfigError, IpNet, WindowLimit};

/// The raw values, by environment name, and the names settings have asked for.
pub(super) struct Source {
    values: HashMap<String, String>,
    read: RefCell<HashSet<String>>,
}

impl Source {
    pub(super) fn new(values: HashMap<String, String>) -> Self {
        Self {
            values,
            read: RefCell::default(),
        }
    }

    /// Refuses keys of the TOML file at `path` that no setting read (typos, stale names),
    /// suggesting the nearest known key. Call after every setting has been read.
    pub(super) fn refuse_unread(&self, path: &str, from_file: &[String]) -> Result<(), ConfigError> {
        let read = self.read.borrow();
        let mut unknown: Vec<String> = from_file
            .iter()
            .filter(|name| !read.contains(*name))
            .map(|name| {
                let key = toml_key(name);
                match suggest(&key, read.iter().map(|n| toml_key(n))) {
                    Some(s) => format!("{key} (did you mean {s}?)"),
                    None => key,
                }
            })
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.sort();
        let noun = if unknown.len() == 1 { "key" } else { "keys" };
        Err(self.error(
            "PORTCULLIS_CONFIG",
            &format!("{path}: unknown {noun} {}", unknown.join(", ")),
        ))
    }

    pub(super) fn error(&self, name: &str, reason: &str) -> ConfigError {
        ConfigError {
            name: name.to_string(),
            reason: reason.to_string(),
        }
    }

    /// The trimmed value, `None` when unset or empty.
    pub(super) fn string(&self, name: &str) -> Result<Option<String>, ConfigError> {
        self.read.borrow_mut().insert(name.to_string());
        Ok(self
            .values
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty()))
    }

    pub(super) fn parse<T>(
        &self,
        name: &str,
        default: &str,
        f: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let raw = self.string(name)?.unwrap_or_else(|| default.to_string());
        f(&raw).map_err(|reason| self.error(name, &format!("{reason} (got {raw:?})")))
    }

    pub(super) fn duration(&self, name: &str, default: &str) -> Result<Duration, ConfigError> {
        self.parse(name, default, parse_duration)
    }

    pub(super) fn duration_at_least(&self, name: &str, default: &str, min_secs: u64) -> Result<Duration, ConfigError> {
        self.parse(name, default, |v| {
            let d = parse_duration(v)?;
            if d.as_secs() < min_secs {
                return Err(format!("must be at least {min_secs}s"));
            }
            Ok(d)
        })
    }

    pub(super) fn number(&self, name: &str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        self.parse(name, &default.to_string(), |v| {
            let n: u64 = v.parse().map_err(|_| "must be a whole number".to_string())?;
            if n < min || n > max {
                return Err(format!("must be between {min} and {max}"));
            }
            Ok(n)
        })
    }

    /// `COUNT/DURATION`, e.g. `20/5m`.
    pub(super) fn window(&self, name: &str, default: &str) -> Result<WindowLimit, ConfigError> {
        self.parse(name, default, |v| {
            let (n, d) = v.split_once('/').ok_or("must look like 20/5m")?;
            let max = n
                .trim()
                .parse::<u64>()
                .map_err(|_| "count must be a whole number".to_string())?;
            let window = parse_duration(d.trim())?;
            if max == 0 || window.is_zero() {
                return Err("count and window must be above zero".into());
            }
            Ok(WindowLimit { max, window })
        })
    }
}

/// Parses `900`, `900s`, `15m`, `2h`, `7d` (also `500ms`).
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    let err = || "must be a duration like 900, 900s, 15m, 2h or 7d".to_string();
    let (num, mult_ms): (&str, u64) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = v.strip_suffix('h') {
        (n, 3_600_000)
    } else if let Some(n) = v.strip_suffix('d') {
        (n, 86_400_000)
    } else {
        (v, 1000)
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let n: u64 = num.parse().map_err(|_| err())?;
    let ms = n.checked_mul(mult_ms).ok_or_else(err)?;
    // Ten years is far past any sensible lifetime and keeps arithmetic on timestamps safe.
    if ms > 10 * 365 * 86_400_000 {
        return Err("is too long".into());
    }
    Ok(Duration::from_millis(ms))
}

/// A comma-separated list of addresses or CIDR networks.
pub(super) fn ip_net_list(v: &str) -> Result<Vec<IpNet>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (addr, prefix) = match part.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (part, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("{part:?} is not an IP address or CIDR"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| format!("{part:?} has a bad prefix length"))?,
                None => max,
            };
            Ok(IpNet { addr, prefix })
        })
        .collect()
}

/// An absolute http(s) URL without query, fragment or trailing slash.
pub(super) fn issuer(v: &str) -> Result<String, String> {
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .ok_or("must start with https:// or http://")?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err("must be a URL without query or fragment".into());
    }
    Ok(v.trim_end_matches('/').to_string())
}

/// Decodes a base64 (standard or URL-safe) 32-byte key.
pub(super) fn kek_bytes(v: &str) -> Result<[u8; 32], String> {
    let v = v.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v.trim_end_matches('=')))
        .map_err(|_| "must be base64".to_string())?;
    bytes
        .try_into()
        .map_err(|_| "must decode to exactly 32 bytes".to_string())
}

/// The TOML spelling of a variable name: lower case, without the `PORTCULLIS_` prefix.
fn toml_key(name: &str) -> String {
    name.strip_prefix("PORTCULLIS_").unwrap_or(name).to_ascii_lowercase()
}

/// The known key closest to `key`, when it is close enough to be a likely typo.
fn suggest(key: &str, known: impl Iterator<Item = String>) -> Option<String> {
    let known: Vec<String> = known.collect();
    // Someone who copied the environment spelling into the file gets the file spelling back.
    if let Some(rest) = key.strip_prefix("portcullis_")
        && known.iter().any(|k| k == rest)
    {
        return Some(rest.to_string());
    }
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(key, &k), k))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// Reads a flat TOML file; keys are variable names, lower case without the `PORTCULLIS_` prefix
/// (e.g. `access_token_ttl = "15m"`, `database_url = "…"`).
pub(super) fn read_toml(path: &str) -> Result<HashMap<String, String>, ConfigError> {
    let err = |reason: String| ConfigError {
        name: "PORTCULLIS_CONFIG".into(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read {path}: {e}")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| err(format!("{path}: {}", e.message())))?;
    let mut out = HashMap::new();
    for (key, value) in table {
        let name = match key.to_ascii_uppercase().as_str() {
            n @ ("DATABASE_URL" | "REDIS_URL") => n.to_string(),
            n => format!("PORTCULLIS_{n}"),
        };
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string()))
                .collect::<Vec<_>>()
                .join(","),
            other => return Err(err(format!("{key}: unsupported value {other}"))),
        };
        out.insert(name, value);
    }
    Ok(out)
}

/// A comma-separated list of browser origins (`https://app.example.com`), or `*`.
pub(super) fn origin_list(v: &str) -> Result<Vec<String>, String> {
    let origins: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect();
    for o in &origins {
        if o == "*" {
            continue;
        }
        let rest = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.contains(['/', '?', '#', ' '])) {
            return Err(format!("{o:?} is not an origin like https://app.example.com"));
        }
    }
    if origins.len() > 1 && origins.iter().any(|o| o == "*") {
        return Err("use either * or a list of origins".into());
    }
    Ok(origins)
}
