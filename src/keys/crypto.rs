//! Key material: RSA, P-256 and Ed25519 generation, RFC 7638 thumbprints, AES-256-GCM
//! sealing under the KEK.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Rsa;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value};

use super::KeyError;
use super::alg::SigningAlg;

/// Format version of sealed private keys.
const SEAL_V1: u8 = 1;

/// A freshly generated (or imported) key: its public JWK members and its private key in DER
/// (PKCS#1 for RSA, PKCS#8 otherwise).
pub struct GeneratedKey {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// The algorithm it signs with.
    pub alg: SigningAlg,
    /// Public JWK members: `kty` and the key's own (`n e`, `crv x y`, `crv x`).
    pub public_jwk: Map<String, Value>,
    /// Key size in bits (the RSA modulus, 256 for P-256 and Ed25519).
    pub bits: u32,
    /// Private key, DER (kept out of Debug output by having no Debug).
    pub private_der: Vec<u8>,
}

fn crypto_err(e: impl std::fmt::Display) -> KeyError {
    KeyError::Crypto(e.to_string())
}

/// Generates a key for `alg` (`rsa_bits` sizes RSA keys); CPU-heavy, so call it from a
/// blocking thread.
pub fn generate(alg: SigningAlg, rsa_bits: u32) -> Result<GeneratedKey, KeyError> {
    let pkey = match alg {
        SigningAlg::Rs256 => PKey::from_rsa(Rsa::generate(rsa_bits).map_err(crypto_err)?),
        SigningAlg::Es256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(crypto_err)?;
            PKey::from_ec_key(EcKey::generate(&group).map_err(crypto_err)?)
        }
        SigningAlg::EdDsa => PKey::generate_ed25519(),
    }
    .map_err(crypto_err)?;
    from_pkey(&pkey)
}

/// Reads a PEM private key (PKCS#1, SEC 1 or PKCS#8) for import: RSA of at least 2048 bits,
/// P-256 or Ed25519.
pub fn from_pem(pem: &[u8]) -> Result<GeneratedKey, KeyError> {
    let pkey = PKey::private_key_from_pem(pem).map_err(crypto_err)?;
    from_pkey(&pkey)
}

fn from_pkey(pkey: &PKey<Private>) -> Result<GeneratedKey, KeyError> {
    let mut jwk = Map::new();
    let (alg, bits, private_der) = match pkey.id() {
        Id::RSA => {
            let rsa = pkey.rsa().map_err(crypto_err)?;
            if rsa.size() < 256 {
                return Err(KeyError::Crypto("RSA keys must have at least 2048 bits".into()));
            }
            jwk.insert("n".into(), Value::String(B64.encode(rsa.n().to_vec())));
            jwk.insert("e".into(), Value::String(B64.encode(rsa.e().to_vec())));
            let der = rsa.private_key_to_der().map_err(crypto_err)?;
            (SigningAlg::Rs256, rsa.size() * 8, der)
        }
        Id::EC => {
            let ec = pkey.ec_key().map_err(crypto_err)?;
            let group = ec.group();
            if group.curve_name() != Some(Nid::X9_62_PRIME256V1) {
                return Err(KeyError::Crypto("EC keys must be on P-256 (ES256)".into()));
            }
            let mut ctx = BigNumContext::new().map_err(crypto_err)?;
            let (mut x, mut y) = (BigNum::new().map_err(crypto_err)?, BigNum::new().map_err(crypto_err)?);
            ec.public_key()
                .affine_coordinates(group, &mut x, &mut y, &mut ctx)
                .map_err(crypto_err)?;
            jwk.insert("crv".into(), Value::String("P-256".into()));
            jwk.insert(
                "x".into(),
                Value::String(B64.encode(x.to_vec_padded(32).map_err(crypto_err)?)),
            );
            jwk.insert(
                "y".into(),
                Value::String(B64.encode(y.to_vec_padded(32).map_err(crypto_err)?)),
            );
            (SigningAlg::Es256, 256, pkey.private_key_to_pkcs8().map_err(crypto_err)?)
        }
        Id::ED25519 => {
            jwk.insert("crv".into(), Value::String("Ed25519".into()));
            jwk.insert(
                "x".into(),
                Value::String(B64.encode(pkey.raw_public_key().map_err(crypto_err)?)),
            );
            (SigningAlg::EdDsa, 256, pkey.private_key_to_pkcs8().map_err(crypto_err)?)
        }
        _ => return Err(KeyError::Crypto("not an RSA, P-256 or Ed25519 key".into())),
    };
    jwk.insert("kty".into(), Value::String(alg.kty().into()));
    Ok(GeneratedKey {
        kid: jwk_thumbprint(&jwk)?,
        alg,
        public_jwk: jwk,
        bits,
        private_der,
    })
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA public key.
pub fn thumbprint(n: &str, e: &str) -> String {
    // Required members only, in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    B64.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()))
}

/// RFC 7638 JWK thumbprint of a public JWK of any supported `kty`.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Result<String, KeyError> {
    // The required members of each key type, in lexicographic order (RFC 7638 §3.2).
    let required: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => return Err(KeyError::Corrupt("unknown key type".into())),
    };
    let mut canonical = String::from("{");
    for (i, name) in required.iter().enumerate() {
        let value = jwk
            .get(*name)
            .and_then(Value::as_str)
            .ok_or_else(|| KeyError::Corrupt(format!("public key lacks {name}")))?;
        if i > 0 {
            canonical.push(',');
        }
        // serde_json escapes exactly as RFC 7638 asks (JSON string encoding).
        canonical.push_str(&format!("\"{name}\":{}", Value::String(value.into())));
    }
    canonical.push('}');
    Ok(B64.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes())))
}

/// Encrypts a private key; the kid is authenticated data, so a sealed key cannot be
/// swapped onto another row.
pub fn seal(kek: &[u8; 32], kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, kek).map_err(|_| KeyError::Crypto("bad KEK".into()))?);
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| KeyError::Crypto("no randomness".into()))?;
    let mut buf = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(kid.as_bytes()), &mut buf)
        .map_err(|_| KeyError::Crypto("seal failed".into()))?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
    out.push(SEAL_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&buf);
    Ok(out)
}

/// Decrypts a sealed private key.
pub fn open(kek: &[u8; 32], kid: &str, sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
    if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != SEAL_V1 {
        return Err(KeyError::Corrupt(format!("key {kid}: unknown sealing format")));
    }
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, kek).map_err(|_| KeyError::Crypto("bad KEK".into()))?);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
    let mut buf = sealed[1 + NONCE_LEN..].to_vec();
    let plain = key
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(kid.as_bytes()), &mut buf)
        .map_err(|_| KeyError::Corrupt(format!("key {kid}: cannot decrypt (wrong key-encryption key?)")))?;
    Ok(plain.to_vec())
}

/// 32 random bytes, base64, for a new key-encryption key file.
pub fn new_kek_base64() -> Result<String, KeyError> {
    let mut k = [0u8; 32];
    SystemRandom::new()
        .fill(&mut k)
        .map_err(|_| KeyError::Crypto("no randomness".into()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // The example key of RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(thumbprint(n, "AQAB"), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn seal_round_trip_and_binding() {
        let kek = [7u8; 32];
        let sealed = seal(&kek, "kid-a", b"secret key bytes").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(open(&kek, "kid-a", &sealed).unwrap(), b"secret key bytes");
        assert!(open(&kek, "kid-b", &sealed).is_err(), "bound to its kid");
        assert!(open(&[8u8; 32], "kid-a", &sealed).is_err(), "needs the right KEK");
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(open(&kek, "kid-a", &tampered).is_err());
    }

    fn member<'a>(k: &'a GeneratedKey, name: &str) -> &'a str {
        k.public_jwk[name].as_str().unwrap()
    }

    #[test]
    fn generated_rsa_key_has_matching_thumbprint() {
        let k = generate(SigningAlg::Rs256, 2048).unwrap();
        assert_eq!(k.kid, thumbprint(member(&k, "n"), member(&k, "e")));
        assert_eq!(member(&k, "e"), "AQAB");
        assert_eq!((k.alg, k.bits, member(&k, "kty")), (SigningAlg::Rs256, 2048, "RSA"));
    }

    #[test]
    fn rfc7638_thumbprint_of_the_rfc7517_ec_example() {
        // RFC 7517 appendix A.1's EC key; the expected value is the canonical form of
        // RFC 7638 §3.2 hashed by hand (Python hashlib), which other JOSE libraries share.
        let jwk: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "kty": "EC", "crv": "P-256", "use": "enc", "kid": "1",
            "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
            "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
        }))
        .unwrap();
        assert_eq!(
            jwk_thumbprint(&jwk).unwrap(),
            "cn-I_WNMClehiVp51i_0VpOENW1upEerA8sEam5hn-s"
        );
    }

    #[test]
    fn ec_and_ed25519_keys_have_their_jwk_members() {
        let ec = generate(SigningAlg::Es256, 0).unwrap();
        assert_eq!((member(&ec, "kty"), member(&ec, "crv")), ("EC", "P-256"));
        assert_eq!(B64.decode(member(&ec, "x")).unwrap().len(), 32);
        assert_eq!(B64.decode(member(&ec, "y")).unwrap().len(), 32);
        assert_eq!(ec.kid, jwk_thumbprint(&ec.public_jwk).unwrap());
        let ed = generate(SigningAlg::EdDsa, 0).unwrap();
        assert_eq!((member(&ed, "kty"), member(&ed, "crv")), ("OKP", "Ed25519"));
        assert_eq!(B64.decode(member(&ed, "x")).unwrap().len(), 32);
        assert!(!ed.public_jwk.contains_key("y"));
        assert_ne!(ec.kid, ed.kid);
    }

    #[test]
    fn pem_import_accepts_the_three_key_types_and_nothing_else() {
        let ec = EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap();
        let pem = PKey::from_ec_key(ec).unwrap().private_key_to_pem_pkcs8().unwrap();
        assert_eq!(from_pem(&pem).unwrap().alg, SigningAlg::Es256);
        let pem = PKey::generate_ed25519().unwrap().private_key_to_pem_pkcs8().unwrap();
        assert_eq!(from_pem(&pem).unwrap().alg, SigningAlg::EdDsa);
        let p384 = EcKey::generate(&EcGroup::from_curve_name(Nid::SECP384R1).unwrap()).unwrap();
        let pem = PKey::from_ec_key(p384).unwrap().private_key_to_pem_pkcs8().unwrap();
        assert!(from_pem(&pem).is_err(), "only P-256");
        let small = Rsa::generate(1024).unwrap().private_key_to_pem().unwrap();
        assert!(from_pem(&small).is_err(), "RSA below 2048 bits");
    }
}
