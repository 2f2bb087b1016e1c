//! Rotation, revocation and import. Every instance runs [`Keyring::tick`] on a timer; the
//! conditional updates in storage make concurrent ticks safe.

use serde::Serialize;
use serde_json::json;

use super::{KeyError, Keyring, crypto};
use crate::clock::{duration_ms, rfc3339};
use crate::domain::Meta;
use crate::storage::StoreError;
use crate::storage::keys::KeyRecord;

/// A key as the admin API and CLI show it (no key material).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Signature algorithm.
    pub alg: String,
    /// Key size in bits (RSA modulus; 256 for P-256 and Ed25519).
    pub bits: i64,
    /// `pending`, `active`, `retired` or `revoked`.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
    /// When it signs (or signed) first.
    pub activate_at: String,
    /// When it became active.
    pub activated_at: Option<String>,
    /// When it stopped signing.
    pub retired_at: Option<String>,
    /// When it leaves the JWKS.
    pub remove_after: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

impl From<&KeyRecord> for KeyInfo {
    fn from(k: &KeyRecord) -> Self {
        KeyInfo {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            bits: k.bits,
            status: k.status.clone(),
            created_at: rfc3339(k.created_at),
            activate_at: rfc3339(k.activate_at),
            activated_at: k.activated_at.map(rfc3339),
            retired_at: k.retired_at.map(rfc3339),
            remove_after: k.remove_after.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

const SYSTEM_TENANT: &str = "default";

impl Keyring {
    /// One maintenance step: make sure a key is active, publish the next one ahead of time,
    /// promote it when due, drop keys nobody can need, then reload.
    ///
    /// When the active key's algorithm is not `PORTCULLIS_SIGNING_ALG` (the setting changed),
    /// a key of the configured type is published at once and signs after the publish-ahead
    /// time, like any scheduled rotation; tokens of the old key keep verifying until they
    /// expire. A key already pending keeps its place (it never signed, but other instances
    /// may have published it), so the switch then takes one more rotation.
    pub async fn tick(&self) -> Result<(), KeyError> {
        let now = self.clock.now_ms();
        let keys = self.store.keys().await?;
        let active = keys.iter().find(|k| k.status == "active");
        let pending = keys.iter().find(|k| k.status == "pending");
        let meta = Meta::default();
        match (active, pending) {
            (None, Some(p)) => {
                self.promote(None, &p.kid, now, &meta).await?;
            }
            (None, None) => {
                self.create(now, true, &meta).await?;
            }
            (Some(a), p) => {
                let due = a.activated_at.unwrap_or(a.activate_at) + duration_ms(self.config.key_rotation_interval);
                let ahead = duration_ms(self.config.key_publish_ahead);
                match p {
                    None if a.alg != self.config.signing_alg.as_str() => {
                        self.create(now + ahead, false, &meta).await?;
                    }
                    None if now >= due - ahead => {
                        self.create(due.max(now + ahead), false, &meta).await?;
                    }
                    Some(p) if now >= p.activate_at => {
                        self.promote(Some(&a.kid), &p.kid, now, &meta).await?;
                    }
                    _ => {}
                }
            }
        }
        let purged = self.store.purge_keys(now).await?;
        if purged > 0 {
            tracing::info!(purged, "removed signing keys no token can need any more");
        }
        self.reload().await
    }

    /// Manual rotation: publishes a new key that signs after the publish-ahead time, or at
    /// once with `immediate` (tokens already issued keep verifying until they expire).
    pub async fn rotate(&self, immediate: bool, meta: &Meta) -> Result<Vec<KeyInfo>, KeyError> {
        let now = self.clock.now_ms();
        let keys = self.store.keys().await?;
        let pending = match keys.iter().find(|k| k.status == "pending") {
            Some(p) => p.kid.clone(),
            None => {
                let at = if immediate {
                    now
                } else {
                    now + duration_ms(self.config.key_publish_ahead)
                };
                self.create(at, false, meta).await?
            }
        };
        if immediate {
            let active = keys.iter().find(|k| k.status == "active").map(|k| k.kid.clone());
            self.promote(active.as_deref(), &pending, now, meta).await?;
        }
        self.tick().await?;
        self.list().await
    }

    /// Emergency revocation: the key leaves the JWKS at once; if it was signing, the next
    /// key takes over immediately.
    pub async fn revoke(&self, kid: &str, meta: &Meta) -> Result<bool, KeyError> {
        let now = self.clock.now_ms();
        let event = meta
            .event(SYSTEM_TENANT, "key.revoked", None, now)
            .with_detail(json!({ "kid": kid }));
        let done = self.store.revoke_key(kid, now, &event).await?;
        if done {
            tracing::warn!(kid, "signing key revoked");
            self.tick().await?;
        }
        Ok(done)
    }

    /// Every key in the database, newest first.
    pub async fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        Ok(self.store.keys().await?.iter().map(KeyInfo::from).collect())
    }

    async fn create(&self, activate_at: i64, active: bool, meta: &Meta) -> Result<String, KeyError> {
        let (alg, bits) = (self.config.signing_alg, self.config.key_bits);
        let key = tokio::task::spawn_blocking(move || crypto::generate(alg, bits))
            .await
            .map_err(|e| KeyError::Crypto(e.to_string()))??;
        self.insert(key, activate_at, active, meta).await
    }

    async fn insert(
        &self,
        key: crypto::GeneratedKey,
        activate_at: i64,
        active: bool,
        meta: &Meta,
    ) -> Result<String, KeyError> {
        let now = self.clock.now_ms();
        let record = KeyRecord {
            kid: key.kid.clone(),
            alg: key.alg.as_str().into(),
            bits: i64::from(key.bits),
            status: if active { "active" } else { "pending" }.into(),
            public_jwk: serde_json::Value::Object(key.public_jwk.clone()).to_string(),
            private_enc: crypto::seal(&self.kek, &key.kid, &key.private_der)?,
            created_at: now,
            activate_at,
            activated_at: active.then_some(now),
            retired_at: None,
            remove_after: None,
            revoked_at: None,
        };
        let event = meta
            .event(
                SYSTEM_TENANT,
                if active { "key.activated" } else { "key.created" },
                None,
                now,
            )
            .with_detail(json!({ "kid": key.kid, "alg": key.alg.as_str(), "activate_at": rfc3339(activate_at) }));
        match self.store.insert_key(&record, &event).await {
            Ok(()) => {
                tracing::info!(
                    kid = key.kid,
                    alg = record.alg,
                    status = record.status,
                    "signing key created"
                );
                Ok(key.kid)
            }
            // Another instance filled the slot first; its key serves just as well.
            Err(StoreError::Conflict(_)) => Ok(String::new()),
            Err(e) => Err(e.into()),
        }
    }

    async fn promote(&self, old: Option<&str>, new: &str, now: i64, meta: &Meta) -> Result<(), KeyError> {
        if new.is_empty() {
            return Ok(());
        }
        // Tokens signed by the old key live at most the longest access-token lifetime; verifiers
        // may cache the JWKS for max-age, and other instances sign with it until they reload.
        let longest_ttl_ms = self
            .store
            .max_client_access_ttl()
            .await?
            .map(|s| s.saturating_mul(1000))
            .unwrap_or(0)
            .max(duration_ms(self.config.access_token_ttl));
        let remove_after = now
            + longest_ttl_ms
            + duration_ms(self.config.jwks_max_age)
            + duration_ms(self.config.keyring_reload_interval);
        let event = meta
            .event(SYSTEM_TENANT, "key.rotated", None, now)
            .with_detail(json!({ "new_kid": new, "old_kid": old }));
        if self.store.promote_key(old, new, now, remove_after, &event).await? {
            tracing::info!(kid = new, retired = old, "signing key rotated");
        }
        Ok(())
    }

    /// Imports `*.pem` private keys (RSA, P-256, Ed25519) found in the keys folder that the database lacks:
    /// as the active key when there is none, else as the pending key.
    pub(super) async fn import_pem_files(&self) -> Result<(), KeyError> {
        let Ok(dir) = std::fs::read_dir(&self.config.keys_dir) else {
            return Ok(());
        };
        let mut paths: Vec<_> = dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "pem"))
            .collect();
        paths.sort();
        for path in paths {
            let pem = std::fs::read(&path).map_err(|e| KeyError::Kek(format!("{}: {e}", path.display())))?;
            let key = crypto::from_pem(&pem).map_err(|e| KeyError::Crypto(format!("{}: {e}", path.display())))?;
            let keys = self.store.keys().await?;
            if keys.iter().any(|k| k.kid == key.kid) {
                continue;
            }
            let active = !keys.iter().any(|k| k.status == "active");
            if !active && keys.iter().any(|k| k.status == "pending") {
                tracing::warn!(file = %path.display(), "not importing: a pending key exists already");
                continue;
            }
            let at = if active {
                self.clock.now_ms()
            } else {
                self.clock.now_ms() + duration_ms(self.config.key_publish_ahead)
            };
            let kid = self.insert(key, at, active, &Meta::default()).await?;
            tracing::info!(kid, file = %path.display(), "imported signing key");
        }
        Ok(())
    }

    /// Runs [`Keyring::tick`] forever at the reload interval.
    pub fn spawn_maintenance(&self) -> tokio::task::JoinHandle<()> {
        let ring = self.clone();
        tokio::spawn(async move {
            let mut timer = tokio::time::interval(ring.config.keyring_reload_interval);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            timer.tick().await;
            loop {
                timer.tick().await;
                if let Err(e) = ring.tick().await {
                    tracing::error!(error = %e, "key maintenance failed; keeping the current keyring");
                }
            }
        })
    }
}
