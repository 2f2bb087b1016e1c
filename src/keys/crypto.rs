//! Key material: RSA generation, RFC 7638 thumbprints, AES-256-GCM sealing under the KEK.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use openssl::bn::BigNum;
use openssl::rsa::Rsa;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use super::KeyError;

/// Format version of sealed private keys.
const SEAL_V1: u8 = 1;

/// A freshly generated key: public JWK members and the private key in PKCS#1 DER.
pub struct GeneratedKey {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Modulus, base64url.
    pub n: String,
    /// Exponent, base64url.
    pub e: String,
    /// Modulus size in bits.
    pub bits: u32,
    /// Private key, PKCS#1 DER (kept out of Debug output by having no Debug).
    pub private_der: Vec<u8>,
}

/// Generates an RSA key; CPU-heavy, so call it from a blocking thread.
pub fn generate(bits: u32) -> Result<GeneratedKey, KeyError> {
    let rsa = Rsa::generate(bits).map_err(|e| KeyError::Crypto(e.to_string()))?;
    let n = B64.encode(rsa.n().to_vec());
    let e = B64.encode(rsa.e().to_vec());
    let private_der = rsa.private_key_to_der().map_err(|e| KeyError::Crypto(e.to_string()))?;
    Ok(GeneratedKey {
        kid: thumbprint(&n, &e),
        n,
        e,
        bits,
        private_der,
    })
}

/// Reads a PEM private key (PKCS#1 or PKCS#8) for import.
pub fn from_pem(pem: &[u8]) -> Result<GeneratedKey, KeyError> {
    let pkey = openssl::pkey::PKey::private_key_from_pem(pem).map_err(|e| KeyError::Crypto(e.to_string()))?;
    let rsa = pkey.rsa().map_err(|_| KeyError::Crypto("not an RSA key".into()))?;
    if rsa.size() < 256 {
        return Err(KeyError::Crypto("RSA keys must have at least 2048 bits".into()));
    }
    let n = B64.encode(rsa.n().to_vec());
    let e = B64.encode(rsa.e().to_vec());
    let private_der = rsa.private_key_to_der().map_err(|e| KeyError::Crypto(e.to_string()))?;
    Ok(GeneratedKey {
        kid: thumbprint(&n, &e),
        n,
        e,
        bits: rsa.size() * 8,
        private_der,
    })
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA public key.
pub fn thumbprint(n: &str, e: &str) -> String {
    // Required members only, in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    B64.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()))
}

/// The public key in PKCS#1 DER, rebuilt from its JWK members.
pub fn public_der(n: &str, e: &str) -> Result<Vec<u8>, KeyError> {
    let bad = |_| KeyError::Corrupt("bad public key encoding".into());
    let n = BigNum::from_slice(&B64.decode(n).map_err(bad)?).map_err(|e| KeyError::Crypto(e.to_string()))?;
    let e = BigNum::from_slice(&B64.decode(e).map_err(bad)?).map_err(|e| KeyError::Crypto(e.to_string()))?;
    let rsa = Rsa::from_public_components(n, e).map_err(|e| KeyError::Crypto(e.to_string()))?;
    rsa.public_key_to_der_pkcs1()
        .map_err(|e| KeyError::Crypto(e.to_string()))
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

    #[test]
    fn generated_key_has_matching_thumbprint_and_public_der() {
        let k = generate(2048).unwrap();
        assert_eq!(k.kid, thumbprint(&k.n, &k.e));
        assert_eq!(k.e, "AQAB");
        assert!(!public_der(&k.n, &k.e).unwrap().is_empty());
    }
}
