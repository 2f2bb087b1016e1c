//! Verifies a portcullis access token the way a resource service should: RS256 only,
//! typ at+jwt, iss, aud, exp and nbf, the key found by kid in a cached JWKS.
//!
//! Dependencies: jsonwebtoken = "9", reqwest = { version = "0.12", features = ["json"] }
//! (add "rustls-tls" for an https issuer), serde_json = "1", tokio = { version = "1", features = ["full"] }.
//!
//!     ISSUER=http://127.0.0.1:8080 AUDIENCE=https://api.example.com \
//!       cargo run --example verify_token -- "$ACCESS_TOKEN"

use std::error::Error;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use tokio::sync::Mutex;

type BoxError = Box<dyn Error + Send + Sync>;

/// The issuer's public keys, kept in memory: refetched when older than `max_age`, and for
/// a kid it does not know at most once per `cooldown` (made-up kids cannot make this
/// service hammer the JWKS endpoint). A failed refetch keeps the keys it has.
pub struct JwksCache {
    url: String,
    http: reqwest::Client,
    max_age: Duration,
    cooldown: Duration,
    state: Mutex<Cached>,
}

struct Cached {
    keys: JwkSet,
    fetched: Option<Instant>,
    tried: Option<Instant>,
}

impl JwksCache {
    /// A cache for `issuer`'s JWKS (its max-age is 5 minutes unless configured otherwise).
    pub fn new(issuer: &str) -> Self {
        Self {
            url: format!("{issuer}/.well-known/jwks.json"),
            http: reqwest::Client::new(),
            max_age: Duration::from_secs(300),
            cooldown: Duration::from_secs(30),
            state: Mutex::new(Cached {
                keys: JwkSet { keys: Vec::new() },
                fetched: None,
                tried: None,
            }),
        }
    }

    /// The key named `kid`, fetching the JWKS when stale or when `kid` is new to it.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, BoxError> {
        let mut cached = self.state.lock().await;
        let stale = cached.fetched.is_none_or(|t| t.elapsed() >= self.max_age);
        let unknown = cached.keys.find(kid).is_none();
        let may_retry = cached.tried.is_none_or(|t| t.elapsed() >= self.cooldown);
        if (stale || unknown) && may_retry {
            cached.tried = Some(Instant::now());
            match self.fetch().await {
                Ok(keys) => {
                    cached.keys = keys;
                    cached.fetched = Some(Instant::now());
                }
                Err(e) => eprintln!("JWKS refresh failed, keeping the cached keys: {e}"),
            }
        }
        let jwk = cached.keys.find(kid).ok_or("unknown kid")?;
        Ok(DecodingKey::from_jwk(jwk)?)
    }

    async fn fetch(&self) -> Result<JwkSet, BoxError> {
        let res = self.http.get(&self.url).send().await?.error_for_status()?;
        Ok(res.json().await?)
    }
}

/// The token's claims when every check passes; an error otherwise (answer 401).
pub async fn verify(
    jwks: &JwksCache,
    issuer: &str,
    audience: &str,
    token: &str,
) -> Result<serde_json::Value, BoxError> {
    let header = decode_header(token)?;
    if header.alg != Algorithm::RS256 {
        return Err("alg must be RS256".into());
    }
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt"))
    {
        return Err("not an access token (typ)".into());
    }
    let key = jwks.key(header.kid.as_deref().ok_or("no kid")?).await?;
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    v.validate_nbf = true;
    v.leeway = 30;
    Ok(decode::<serde_json::Value>(token, &key, &v)?.claims)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let issuer = std::env::var("ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let audience = std::env::var("AUDIENCE").unwrap_or_else(|_| "https://api.example.com".into());
    let token = std::env::args().nth(1).unwrap_or_default();
    let jwks = JwksCache::new(&issuer);
    match verify(&jwks, &issuer, &audience, &token).await {
        Ok(claims) => {
            println!("{claims}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rejected: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
