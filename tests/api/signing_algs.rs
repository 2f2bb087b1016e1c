//! ES256 and EdDSA signing (SPEC §12): tokens checked by an independent library against the
//! served JWKS, the switch between algorithms, and tokens that try to confuse algorithms.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of, me_at, serve, spawn_app_with};
use crate::oauth_support::{PASSWORD, make_client, post_form, signed_in};

fn with_alg(alg: &'static str) -> impl FnOnce(&mut HashMap<String, String>) {
    move |env| {
        env.insert("PORTCULLIS_SIGNING_ALG".into(), alg.into());
    }
}

async fn jwks_at(client: &reqwest::Client, base: &str) -> Value {
    let res = client
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, StatusCode::OK);
    body
}

/// Verifies with `jsonwebtoken` using the JWK the server publishes under the token's `kid`,
/// with the algorithm the JWK names (never the one the token claims).
async fn verify_at(client: &reqwest::Client, base: &str, token: &str, iss: &str, aud: &str) -> Result<Value, String> {
    let kid = decode_header(token).map_err(|e| e.to_string())?.kid.ok_or("no kid")?;
    let keys = jwks_at(client, base).await;
    let jwk = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or("kid not in JWKS")?
        .clone();
    let alg: Algorithm = jwk["alg"]
        .as_str()
        .unwrap()
        .parse()
        .map_err(|e: jsonwebtoken::errors::Error| e.to_string())?;
    let parsed: Jwk = serde_json::from_value(jwk).map_err(|e| e.to_string())?;
    let key = DecodingKey::from_jwk(&parsed).map_err(|e| e.to_string())?;
    let mut v = Validation::new(alg);
    v.set_issuer(&[iss]);
    v.set_audience(&[aud]);
    v.leeway = 0;
    decode::<Value>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

async fn verify(app: &TestApp, token: &str, aud: &str) -> Result<Value, String> {
    verify_at(&app.client, &app.address, token, &app.state.domain.issuer, aud).await
}

/// RFC 7638 thumbprint, computed here from the published members.
fn thumbprint(jwk: &Value) -> String {
    let s = |n: &str| jwk[n].as_str().unwrap().to_string();
    let canonical = match jwk["kty"].as_str().unwrap() {
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            s("crv"),
            s("x"),
            s("y")
        ),
        "OKP" => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s("crv"), s("x")),
        other => panic!("unexpected kty {other}"),
    };
    B64.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()))
}

async fn client_credentials_token(app: &TestApp) -> String {
    let c = make_client(app, false, &["client_credentials"], &["read"]).await;
    let res = post_form(
        app,
        "/oauth/token",
        &[("grant_type", "client_credentials")],
        Some((&c.client_id, c.client_secret.as_deref().unwrap())),
    )
    .await;
    let (status, body) = json_of(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn es256_and_eddsa_tokens_verify_with_an_independent_library() {
    for (alg, kty, crv, members) in [
        (
            "ES256",
            "EC",
            "P-256",
            vec!["alg", "crv", "kid", "kty", "use", "x", "y"],
        ),
        ("EdDSA", "OKP", "Ed25519", vec!["alg", "crv", "kid", "kty", "use", "x"]),
    ] {
        let app = spawn_app_with(with_alg(alg)).await;
        let keys = jwks_at(&app.client, &app.address).await;
        let jwk = &keys["keys"][0];
        let mut names: Vec<&str> = jwk.as_object().unwrap().keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(names, members, "{alg}: {jwk}");
        assert_eq!(
            (jwk["kty"].as_str(), jwk["crv"].as_str(), jwk["alg"].as_str()),
            (Some(kty), Some(crv), Some(alg))
        );
        assert_eq!(
            jwk["kid"].as_str().unwrap(),
            thumbprint(jwk),
            "{alg}: kid is the RFC 7638 thumbprint"
        );
        assert_eq!(app.state.domain.keys.algorithms(), vec![alg.to_string()]);
        let discovery: Value = app
            .client
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            discovery["id_token_signing_alg_values_supported"],
            serde_json::json!([alg])
        );

        let tokens = signed_in(&app, "alg@example.com").await;
        let access = tokens["access_token"].as_str().unwrap();
        let header = decode_header(access).unwrap();
        assert_eq!(format!("{:?}", header.alg), alg);
        let claims = verify(&app, access, &app.state.domain.issuer).await.unwrap();
        assert_eq!(claims["iss"], app.state.domain.issuer.as_str());
        let id_token = tokens["id_token"].as_str().unwrap();
        let id_claims = verify(&app, id_token, "portcullis").await.unwrap();
        assert_eq!(id_claims["sub"], claims["sub"]);
        let cc = client_credentials_token(&app).await;
        verify(&app, &cc, &app.state.domain.issuer).await.unwrap();
        // The server accepts its own tokens too.
        let res = app.authed(Method::GET, "/users/me", access, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{alg}");
    }
}

#[tokio::test]
async fn a_bad_signing_alg_setting_stops_the_start() {
    for bad in ["HS256", "none", "es256", "RS512"] {
        let env = HashMap::from([("PORTCULLIS_SIGNING_ALG".to_string(), bad.to_string())]);
        let err = portcullis::Config::from_map(env).unwrap_err();
        assert_eq!(err.name, "PORTCULLIS_SIGNING_ALG", "{bad}");
    }
}

async fn login_at(client: &reqwest::Client, base: &str, email: &str) -> Value {
    let res = client
        .post(format!("{base}/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn switching_the_algorithm_rotates_ahead_and_old_tokens_keep_verifying() {
    // Long-lived access tokens, so one made before the switch is still valid after it.
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_ACCESS_TOKEN_TTL".into(), "2h".into());
        // Both instances of the deployment share the issuer.
        env.insert("PORTCULLIS_ISSUER".into(), "http://auth.example.test".into());
    })
    .await;
    let old = signed_in(&app, "switch@example.com").await;
    let old_token = old["access_token"].as_str().unwrap().to_string();
    assert_eq!(decode_header(&old_token).unwrap().alg, Algorithm::RS256);

    // The operator restarts with ES256: the EC key is published at once but does not sign yet.
    let mut env = app.env.clone();
    env.insert("PORTCULLIS_SIGNING_ALG".into(), "ES256".into());
    let es = serve(env).await;
    let keys = jwks_at(&app.client, &es.address).await;
    let ktys: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kty"].as_str().unwrap())
        .collect();
    assert_eq!(ktys.len(), 2);
    assert!(ktys.contains(&"RSA") && ktys.contains(&"EC"), "{ktys:?}");
    assert_eq!(
        es.state.domain.keys.algorithms(),
        vec!["RS256".to_string(), "ES256".to_string()]
    );
    let during = login_at(&app.client, &es.address, "switch@example.com").await;
    assert_eq!(
        decode_header(during["access_token"].as_str().unwrap()).unwrap().alg,
        Algorithm::RS256
    );

    // After the publish-ahead time the EC key signs; the RSA key stays published.
    es.state.domain.clock.advance(Duration::from_secs(3601));
    es.state.domain.keys.tick().await.unwrap();
    assert_eq!(
        es.state.domain.keys.algorithms(),
        vec!["ES256".to_string(), "RS256".to_string()]
    );
    let after = login_at(&app.client, &es.address, "switch@example.com").await;
    let new_token = after["access_token"].as_str().unwrap();
    assert_eq!(decode_header(new_token).unwrap().alg, Algorithm::ES256);
    let iss = app.state.domain.issuer.clone();
    verify_at(&app.client, &es.address, new_token, &iss, &iss)
        .await
        .unwrap();
    // The RS256 token from before the switch still verifies, at the server and independently.
    assert_eq!(me_at(&app.client, &es.address, &old_token).await, StatusCode::OK);
    verify_at(&app.client, &es.address, &old_token, &iss, &iss)
        .await
        .unwrap();
    // The first instance picks the EC key up on its next reload and accepts its tokens.
    app.state.domain.clock.advance(Duration::from_secs(3601));
    app.state.domain.keys.reload().await.unwrap();
    assert_eq!(me_at(&app.client, &app.address, new_token).await, StatusCode::OK);

    // Once every RSA-signed token has expired (2 h + JWKS max-age), the RSA key goes.
    es.state.domain.clock.advance(Duration::from_secs(2 * 3600 + 600));
    es.state.domain.keys.tick().await.unwrap();
    let keys = jwks_at(&app.client, &es.address).await;
    let ktys: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kty"].as_str().unwrap())
        .collect();
    assert_eq!(ktys, ["EC"]);
    assert_eq!(es.state.domain.keys.algorithms(), vec!["ES256".to_string()]);
}

fn forge(header: &Value, payload: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(payload.to_string()),
        B64.encode(sig)
    )
}

fn split(token: &str) -> (Value, Value, Vec<u8>) {
    let mut it = token.split('.');
    let h = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
    let p = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
    (h, p, B64.decode(it.next().unwrap()).unwrap())
}

#[tokio::test]
async fn algorithm_confusion_and_foreign_keys_are_refused() {
    for alg in ["ES256", "EdDSA"] {
        let app = spawn_app_with(with_alg(alg)).await;
        let tokens = signed_in(&app, "confused@example.com").await;
        let good = tokens["access_token"].as_str().unwrap();
        let (header, payload, sig) = split(good);
        let kid = header["kid"].as_str().unwrap().to_string();
        let jwk = jwks_at(&app.client, &app.address).await["keys"][0].clone();
        let refused = |token: String, what: &'static str| {
            let app = &app;
            async move {
                assert_eq!(
                    app.authed(Method::GET, "/users/me", &token, None).await.status(),
                    StatusCode::UNAUTHORIZED,
                    "{alg}: {what}"
                );
            }
        };

        // The right signature under a header that names another algorithm.
        for other in ["RS256", "ES256", "EdDSA", "ES384", "HS256", "none"] {
            if other == alg {
                continue;
            }
            let mut h = header.clone();
            h["alg"] = json!(other);
            refused(forge(&h, &payload, &sig), "alg rewritten").await;
        }
        // HMAC with the public key's bytes as the secret.
        let mut hs = Header::new(Algorithm::HS256);
        hs.typ = Some("at+jwt".into());
        hs.kid = Some(kid.clone());
        let secret = jwk["x"].as_str().unwrap();
        refused(
            jsonwebtoken::encode(&hs, &payload, &EncodingKey::from_secret(secret.as_bytes())).unwrap(),
            "HS256 with the public key",
        )
        .await;
        // Well-formed tokens from keys we never published, claiming our kid.
        let ec = openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap(),
        )
        .unwrap();
        let ec_pem = openssl::pkey::PKey::from_ec_key(ec)
            .unwrap()
            .private_key_to_pem_pkcs8()
            .unwrap();
        let ed_pem = openssl::pkey::PKey::generate_ed25519()
            .unwrap()
            .private_key_to_pem_pkcs8()
            .unwrap();
        for (foreign_alg, key) in [
            (Algorithm::ES256, EncodingKey::from_ec_pem(&ec_pem).unwrap()),
            (Algorithm::EdDSA, EncodingKey::from_ed_pem(&ed_pem).unwrap()),
        ] {
            let mut h = Header::new(foreign_alg);
            h.typ = Some("at+jwt".into());
            h.kid = Some(kid.clone());
            refused(
                jsonwebtoken::encode(&h, &payload, &key).unwrap(),
                "foreign key under our kid",
            )
            .await;
        }
        // Tampered claims with the original signature; a flipped signature bit.
        let mut promoted = payload.clone();
        promoted["roles"] = json!(["admin"]);
        refused(forge(&header, &promoted, &sig), "tampered payload").await;
        let mut flipped = sig.clone();
        flipped[10] ^= 1;
        refused(forge(&header, &payload, &flipped), "flipped signature").await;
        // The genuine token still works.
        assert_eq!(
            app.authed(Method::GET, "/users/me", good, None).await.status(),
            StatusCode::OK
        );
    }
}
