//! Signing keys: the in-memory keyring each instance signs and verifies with, and the
//! lifecycle (pending → active → retired → removed) driven through the database.

pub mod crypto;
mod kek;
mod lifecycle;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use josekit::jws::{JwsHeader, RS256};
use josekit::jwt::JwtPayload;
use serde_json::{Map, Value, json};

use crate::clock::Clock;
use crate::config::Config;
use crate::storage::{Store, StoreError};

pub use kek::load_kek;
pub use lifecycle::KeyInfo;

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
    /// `alg` other than RS256 (including `none`).
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
    verifier: josekit::jws::alg::rsassa::RsassaJwsVerifier,
}

struct Active {
    kid: String,
    signer: josekit::jws::alg::rsassa::RsassaJwsSigner,
}

/// The keys one instance holds in memory, swapped as a whole on reload.
#[derive(Default)]
struct KeySet {
    active: Option<Active>,
    published: HashMap<String, Published>,
    jwks: Arc<String>,
    etag: Arc<String>,
}

/// Signs with the active key, verifies against published keys, serves the JWKS.
#[derive(Clone)]
pub struct Keyring {
    set: Arc<RwLock<Arc<KeySet>>>,
    store: Store,
    clock: Clock,
    config: Arc<Config>,
    kek: Arc<[u8; 32]>,
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

    /// The JWKS document and its ETag.
    pub fn jwks(&self) -> (Arc<String>, Arc<String>) {
        let set = self.current();
        (set.jwks.clone(), set.etag.clone())
    }

    /// Signs claims with the active key as an RS256 JWS with the given `typ`.
    pub fn sign(&self, typ: &str, claims: Map<String, Value>) -> Result<String, KeyError> {
        let set = self.current();
        let active = set.active.as_ref().ok_or(KeyError::NoActiveKey)?;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(active.kid.clone());
        let payload = JwtPayload::from_map(claims).map_err(|e| KeyError::Crypto(e.to_string()))?;
        josekit::jwt::encode_with_signer(&payload, &header, &active.signer).map_err(|e| KeyError::Crypto(e.to_string()))
    }

    /// Checks a token's signature against the published keys and its `typ`; returns the
    /// claims (time, issuer and audience checks are the caller's).
    pub fn verify(&self, token: &str, typ: &str) -> Result<Map<String, Value>, VerifyError> {
        let header = peek_header(token)?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(VerifyError::Algorithm);
        }
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
        let (payload, _) =
            josekit::jwt::decode_with_verifier(token, &key.verifier).map_err(|_| VerifyError::Signature)?;
        Ok(payload.claims_set().clone())
    }

    /// Rebuilds the in-memory set from the database.
    pub async fn reload(&self) -> Result<(), KeyError> {
        let records = self.store.keys().await?;
        let mut set = KeySet::default();
        let mut jwks = Vec::new();
        for k in &records {
            if !matches!(k.status.as_str(), "pending" | "active" | "retired") {
                continue;
            }
            let jwk: Map<String, Value> =
                serde_json::from_str(&k.public_jwk).map_err(|e| KeyError::Corrupt(e.to_string()))?;
            let member = |name: &str| jwk.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
            let (n, e) = (member("n"), member("e"));
            let der = crypto::public_der(&n, &e)?;
            let verifier = RS256
                .verifier_from_der(&der)
                .map_err(|e| KeyError::Crypto(e.to_string()))?;
            set.published.insert(k.kid.clone(), Published { verifier });
            jwks.push(json!({ "kty": "RSA", "use": "sig", "alg": k.alg, "kid": k.kid, "n": n, "e": e }));
            if k.status == "active" {
                let der = crypto::open(&self.kek, &k.kid, &k.private_enc)?;
                let signer = RS256
                    .signer_from_der(&der)
                    .map_err(|e| KeyError::Crypto(e.to_string()))?;
                set.active = Some(Active {
                    kid: k.kid.clone(),
                    signer,
                });
            }
        }
        let body = json!({ "keys": jwks }).to_string();
        let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
        set.etag = Arc::new(format!("\"{}\"", hex::encode(&digest.as_ref()[..16])));
        set.jwks = Arc::new(body);
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        Ok(())
    }
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
