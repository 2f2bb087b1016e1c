//! Signing keys: the in-memory keyring each instance signs and verifies with, and the
//! lifecycle (pending → active → retired → removed) driven through the database.

mod alg;
pub mod crypto;
mod kek;
mod lifecycle;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use josekit::jwk::Jwk;
use josekit::jws::{ES256, EdDSA, JwsHeader, JwsSigner, JwsVerifier, RS256};
use josekit::jwt::JwtPayload;
use serde_json::{Map, Value, json};

use crate::clock::Clock;
use crate::config::Config;
use crate::storage::{Store, StoreError};

pub use alg::SigningAlg;
pub use kek::load_kek;
pub use lifecycle::KeyInfo;

/// The least time between two reloads forced by tokens under an unknown `kid`, so forged
/// tokens cannot turn into database load.
const FORCED_RELOAD_GAP_MS: i64 = 1_000;

/// Errors of key handling.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A cryptographic operation failed.
    #[error("crypto: {0}")]
    Crypto(String),
    /// Stored key material could not be used.
    #[error("corrupt key: {0}")]
    Corrupt(String),
    /// No key is active.
    #[error("no active signing key")]
    NoActiveKey,
    /// The key-encryption key could not be read or created.
    #[error("key-encryption key: {0}")]
    Kek(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a presented JWT was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// Not a well-formed JWS compact token.
    #[error("malformed token")]
    Malformed,
    /// `alg` not one we sign with (including `none`), or not the algorithm of the key.
    #[error("unsupported algorithm")]
    Algorithm,
    /// `kid` missing or not among published keys.
    #[error("unknown signing key")]
    UnknownKey,
    /// Signature does not match.
    #[error("bad signature")]
    Signature,
    /// `typ` header is not the one expected.
    #[error("wrong token type")]
    Type,
}

struct Published {
    alg: SigningAlg,
    verifier: Box<dyn JwsVerifier>,
}

struct Active {
    kid: String,
    alg: SigningAlg,
    signer: Box<dyn JwsSigner>,
}

/// The keys one instance holds in memory, swapped as a whole on reload.
#[derive(Default)]
struct KeySet {
    active: Option<Active>,
    published: HashMap<String, Published>,
    /// Algorithms of the published keys, the active one's first.
    algorithms: Vec<String>,
    jwks: Arc<String>,
    etag: Arc<String>,
}

/// Serializes reloads forced by unknown `kid`s and remembers when the last one ran.
#[derive(Default)]
struct ForcedReload {
    lock: tokio::sync::Mutex<()>,
    last_ms: AtomicI64,
    count: AtomicU64,
}

/// Signs with the active key, verifies against published keys, serves the JWKS.
#[derive(Clone)]
pub struct Keyring {
    set: Arc<RwLock<Arc<KeySet>>>,
    store: Store,
    clock: Clock,
    config: Arc<Config>,
    kek: Arc<[u8; 32]>,
    forced: Arc<ForcedReload>,
}

impl Keyring {
    /// Loads the keyring, creating the first key when the database has none.
    pub async fn start(store: Store, config: Arc<Config>, clock: Clock, kek: [u8; 32]) -> Result<Self, KeyError> {
        let ring = Keyring {
            set: Arc::new(RwLock::new(Arc::new(KeySet::default()))),
            store,
            clock,
            config,
            kek: Arc::new(kek),
            forced: Arc::default(),
        };
        ring.import_pem_files().await?;
        ring.tick().await?;
        Ok(ring)
    }

    fn current(&self) -> Arc<KeySet> {
        // A poisoned lock still holds a whole, consistent set (it is only ever swapped).
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether a key is active (readiness).
    pub fn has_active(&self) -> bool {
        self.current().active.is_some()
    }

    /// The active key's id.
    pub fn active_kid(&self) -> Option<String> {
        self.current().active.as_ref().map(|a| a.kid.clone())
    }

    /// The active key's algorithm.
    pub fn active_alg(&self) -> Option<SigningAlg> {
        self.current().active.as_ref().map(|a| a.alg)
    }

    /// Every algorithm a published key signs (or signed) with, the active key's first: what
    /// discovery lists as `id_token_signing_alg_values_supported`.
    pub fn algorithms(&self) -> Vec<String> {
        self.current().algorithms.clone()
    }

    /// The JWKS document and its ETag.
    pub fn jwks(&self) -> (Arc<String>, Arc<String>) {
        let set = self.current();
        (set.jwks.clone(), set.etag.clone())
    }

    /// Signs claims with the active key as a JWS (its algorithm) with the given `typ`.
    pub fn sign(&self, typ: &str, claims: Map<String, Value>) -> Result<String, KeyError> {
        let set = self.current();
        let active = set.active.as_ref().ok_or(KeyError::NoActiveKey)?;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(active.kid.clone());
        let payload = JwtPayload::from_map(claims).map_err(|e| KeyError::Crypto(e.to_string()))?;
        josekit::jwt::encode_with_signer(&payload, &header, active.signer.as_ref())
            .map_err(|e| KeyError::Crypto(e.to_string()))
    }

    /// Checks a token's signature against the published keys and its `typ`; returns the
    /// claims (time, issuer and audience checks are the caller's). The `alg` header must be
    /// the algorithm of the key its `kid` names, so no key is ever used with another
    /// algorithm (no alg confusion, no `none`).
    pub fn verify(&self, token: &str, typ: &str) -> Result<Map<String, Value>, VerifyError> {
        let header = peek_header(token)?;
        let alg: SigningAlg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok())
            .ok_or(VerifyError::Algorithm)?;
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(VerifyError::UnknownKey)?;
        let header_typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
        if !header_typ.eq_ignore_ascii_case(typ) && !header_typ.eq_ignore_ascii_case(&format!("application/{typ}")) {
            return Err(VerifyError::Type);
        }
        let set = self.current();
        let key = set.published.get(kid).ok_or(VerifyError::UnknownKey)?;
        if key.alg != alg {
            return Err(VerifyError::Algorithm);
        }
        let (payload, _) =
            josekit::jwt::decode_with_verifier(token, key.verifier.as_ref()).map_err(|_| VerifyError::Signature)?;
        Ok(payload.claims_set().clone())
    }

    /// Before a token is verified: when its `kid` is not among the published keys, another
    /// instance may have just rotated, so reload from the database (at most once per
    /// second, one reload at a time) and let the verification that follows see the result.
    pub async fn catch_up(&self, token: &str) {
        let Some(kid) = peek_header(token)
            .ok()
            .and_then(|h| h.get("kid").and_then(Value::as_str).map(str::to_string))
        else {
            return;
        };
        if self.current().published.contains_key(&kid) {
            return;
        }
        let _one_at_a_time = self.forced.lock.lock().await;
        // A reload that finished while this request waited may have brought the key.
        if self.current().published.contains_key(&kid) {
            return;
        }
        let now = self.clock.now_ms();
        if now - self.forced.last_ms.load(Ordering::Relaxed) < FORCED_RELOAD_GAP_MS {
            return;
        }
        self.forced.last_ms.store(now, Ordering::Relaxed);
        self.forced.count.fetch_add(1, Ordering::Relaxed);
        match self.reload().await {
            Ok(()) => tracing::debug!("reloaded the keyring for a token under an unknown key id"),
            Err(e) => tracing::warn!(error = %e, "could not reload the keyring"),
        }
    }

    /// How many reloads unknown `kid`s have caused since start.
    pub fn forced_reloads(&self) -> u64 {
        self.forced.count.load(Ordering::Relaxed)
    }

    /// Rebuilds the in-memory set from the database.
    pub async fn reload(&self) -> Result<(), KeyError> {
        let records = self.store.keys().await?;
        let mut set = KeySet::default();
        let mut jwks = Vec::new();
        let mut algorithms: Vec<SigningAlg> = Vec::new();
        for k in &records {
            if !matches!(k.status.as_str(), "pending" | "active" | "retired") {
                continue;
            }
            let alg: SigningAlg = k
                .alg
                .parse()
                .map_err(|e: String| KeyError::Corrupt(format!("key {}: {e}", k.kid)))?;
            let public: Map<String, Value> =
                serde_json::from_str(&k.public_jwk).map_err(|e| KeyError::Corrupt(e.to_string()))?;
            let verifier = verifier(alg, &public).map_err(|e| KeyError::Corrupt(format!("key {}: {e}", k.kid)))?;
            set.published.insert(k.kid.clone(), Published { alg, verifier });
            let mut entry = public;
            entry.insert("use".into(), json!("sig"));
            entry.insert("alg".into(), json!(alg.as_str()));
            entry.insert("kid".into(), json!(k.kid));
            jwks.push(Value::Object(entry));
            if k.status == "active" {
                let der = crypto::open(&self.kek, &k.kid, &k.private_enc)?;
                set.active = Some(Active {
                    kid: k.kid.clone(),
                    alg,
                    signer: signer(alg, &der)?,
                });
                algorithms.insert(0, alg);
            } else {
                algorithms.push(alg);
            }
        }
        let mut seen = Vec::new();
        for alg in algorithms {
            if !seen.contains(&alg) {
                seen.push(alg);
            }
        }
        set.algorithms = seen.iter().map(|a| a.as_str().to_string()).collect();
        let body = json!({ "keys": jwks }).to_string();
        let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
        set.etag = Arc::new(format!("\"{}\"", hex::encode(&digest.as_ref()[..16])));
        set.jwks = Arc::new(body);
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        Ok(())
    }
}

fn verifier(alg: SigningAlg, public: &Map<String, Value>) -> Result<Box<dyn JwsVerifier>, KeyError> {
    let jwk = Jwk::from_map(public.clone()).map_err(|e| KeyError::Corrupt(e.to_string()))?;
    let v: Result<Box<dyn JwsVerifier>, _> = match alg {
        SigningAlg::Rs256 => RS256
            .verifier_from_jwk(&jwk)
            .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        SigningAlg::Es256 => ES256
            .verifier_from_jwk(&jwk)
            .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        SigningAlg::EdDsa => EdDSA
            .verifier_from_jwk(&jwk)
            .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
    };
    v.map_err(|e| KeyError::Corrupt(e.to_string()))
}

fn signer(alg: SigningAlg, der: &[u8]) -> Result<Box<dyn JwsSigner>, KeyError> {
    let s: Result<Box<dyn JwsSigner>, _> = match alg {
        SigningAlg::Rs256 => RS256.signer_from_der(der).map(|s| Box::new(s) as Box<dyn JwsSigner>),
        SigningAlg::Es256 => ES256.signer_from_der(der).map(|s| Box::new(s) as Box<dyn JwsSigner>),
        SigningAlg::EdDsa => EdDSA.signer_from_der(der).map(|s| Box::new(s) as Box<dyn JwsSigner>),
    };
    s.map_err(|e| KeyError::Crypto(e.to_string()))
}

/// Decodes the JOSE header without trusting it.
fn peek_header(token: &str) -> Result<Map<String, Value>, VerifyError> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(VerifyError::Malformed);
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| VerifyError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed)
}
