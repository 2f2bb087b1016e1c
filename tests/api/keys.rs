//! Signing-key lifecycle as resource services see it through the JWKS.

use std::time::Duration;

use portcullis::domain::Meta;
use reqwest::{Method, StatusCode};
use sqlx::Row;

use crate::helpers::{json_of, spawn_app, spawn_app_with};
use crate::oauth_support::{header_of, issuer, jwks, kids, login, signed_in, try_verify, verify};

#[tokio::test]
async fn jwks_serves_public_parts_with_caching() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(res.headers().get("cache-control").unwrap(), "public, max-age=300");
    let etag = res.headers().get("etag").unwrap().to_str().unwrap().to_string();
    let (_, body) = json_of(res).await;
    let key = &body["keys"][0];
    let mut members: Vec<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
    members.sort();
    assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    let res = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let res = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn rotation_publishes_ahead_and_retires_after_tokens_expire() {
    let app = spawn_app().await;
    let keys = &app.state.domain.keys;
    let clock = app.state.domain.clock.clone();
    let before = signed_in(&app, "rot@example.com").await;
    let old_token = before["access_token"].as_str().unwrap().to_string();
    let old_kid = header_of(&old_token).kid.unwrap();

    // Manual rotation: the next key is published at once but does not sign yet.
    keys.rotate(false, &Meta::default()).await.unwrap();
    let published = kids(&jwks(&app).await);
    assert_eq!(published.len(), 2);
    let new_kid = published.iter().find(|k| **k != old_kid).unwrap().clone();
    let during = login(&app, "rot@example.com").await;
    assert_eq!(
        header_of(during["access_token"].as_str().unwrap()).kid.unwrap(),
        old_kid
    );

    // After the publish-ahead time it signs; the old key stays published for its tokens.
    clock.advance(Duration::from_secs(3601));
    keys.tick().await.unwrap();
    let after = login(&app, "rot@example.com").await;
    assert_eq!(header_of(after["access_token"].as_str().unwrap()).kid.unwrap(), new_kid);
    assert!(kids(&jwks(&app).await).contains(&old_kid));
    verify(&app, after["access_token"].as_str().unwrap(), &issuer(&app)).await;

    // A token signed before the rotation still verifies until it expires (15 min), and its key
    // stays in the JWKS until then plus the JWKS cache age.
    clock.advance(Duration::from_secs(10 * 60));
    keys.tick().await.unwrap();
    assert!(kids(&jwks(&app).await).contains(&old_kid));
    clock.advance(Duration::from_secs(15 * 60));
    keys.tick().await.unwrap();
    assert_eq!(kids(&jwks(&app).await), vec![new_kid.clone()]);
    assert!(try_verify(&app, &old_token, &issuer(&app)).await.is_err());
}

#[tokio::test]
async fn scheduled_rotation_happens_without_anyone_asking() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_KEY_ROTATION_INTERVAL".into(), "2h".into());
    })
    .await;
    let keys = &app.state.domain.keys;
    let first = keys.active_kid().unwrap();
    let clock = app.state.domain.clock.clone();
    clock.advance(Duration::from_secs(30 * 60));
    keys.tick().await.unwrap();
    assert_eq!(kids(&jwks(&app).await).len(), 1, "not due for publishing yet");
    clock.advance(Duration::from_secs(31 * 60));
    keys.tick().await.unwrap();
    assert_eq!(kids(&jwks(&app).await).len(), 2, "published an hour ahead");
    assert_eq!(keys.active_kid().unwrap(), first);
    clock.advance(Duration::from_secs(60 * 60));
    keys.tick().await.unwrap();
    assert_ne!(keys.active_kid().unwrap(), first, "rotated at the interval");
}

#[tokio::test]
async fn emergency_revocation_removes_a_key_at_once() {
    let app = spawn_app().await;
    let tokens = signed_in(&app, "em@example.com").await;
    let token = tokens["access_token"].as_str().unwrap();
    let kid = header_of(token).kid.unwrap();
    assert!(app.state.domain.keys.revoke(&kid, &Meta::default()).await.unwrap());
    let published = kids(&jwks(&app).await);
    assert!(!published.contains(&kid));
    assert_eq!(published.len(), 1, "a new key took over");
    assert_eq!(
        app.authed(Method::GET, "/users/me", token, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let again = login(&app, "em@example.com").await;
    assert_eq!(
        app.authed(Method::GET, "/users/me", again["access_token"].as_str().unwrap(), None)
            .await
            .status(),
        StatusCode::OK
    );
    assert!(
        !app.state.domain.keys.revoke(&kid, &Meta::default()).await.unwrap(),
        "revoking twice is a no-op"
    );
}

#[tokio::test]
async fn concurrent_rotations_leave_exactly_one_active_key() {
    let app = spawn_app().await;
    // A second instance on the same database races the first.
    let other = crate::helpers::start(app.env.clone()).await;
    let rings = [app.state.domain.keys.clone(), other.state().domain.keys.clone()];
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let ring = rings[i % 2].clone();
            tokio::spawn(async move { ring.rotate(true, &Meta::default()).await })
        })
        .collect();
    for t in tasks {
        // A rotation that lost the race reports success or a clean error, never a second active key.
        let _ = t.await.unwrap();
    }
    let keys = app.state.domain.store.keys().await.unwrap();
    assert_eq!(keys.iter().filter(|k| k.status == "active").count(), 1, "{keys:?}");
    assert!(keys.iter().filter(|k| k.status == "pending").count() <= 1);
    for ring in &rings {
        ring.reload().await.unwrap();
        assert!(ring.has_active());
    }
}

#[tokio::test]
async fn private_keys_are_encrypted_at_rest() {
    let app = spawn_app().await;
    let keys = app.state.domain.store.keys().await.unwrap();
    assert!(!keys.is_empty());
    for k in &keys {
        // A PKCS#1 DER private key starts with a SEQUENCE header (0x30 0x82); ours is sealed.
        assert_ne!(&k.private_enc[..2], &[0x30, 0x82]);
        assert_eq!(k.private_enc[0], 1, "sealing format version");
        assert!(!k.public_jwk.contains("\"d\""));
        assert!(portcullis::keys::crypto::open(&[9u8; 32], &k.kid, &k.private_enc).is_err());
    }
    // Listing keys (admin API and CLI) shows no key material.
    let listed = serde_json::to_string(&app.state.domain.keys.list().await.unwrap()).unwrap();
    assert!(!listed.contains("private") && !listed.contains("\"n\""));
    // The raw column, read back through SQL, is not the key either.
    let sql = "SELECT private_enc FROM signing_keys";
    let url = app.resources.database_url.clone();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let row = sqlx::query(sql).fetch_one(&pool).await.unwrap();
    let raw: Vec<u8> = row.try_get(0).unwrap();
    assert_eq!(raw[0], 1);
    pool.close().await;
}

#[tokio::test]
async fn pem_keys_in_the_keys_folder_are_imported() {
    let resources = crate::helpers::TestResources::new().await;
    let env = resources.env();
    let keys_dir = std::path::PathBuf::from(&env["PORTCULLIS_KEYS_DIR"]);
    std::fs::create_dir_all(&keys_dir).unwrap();
    let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
    let pkey = openssl::pkey::PKey::from_rsa(rsa).unwrap();
    std::fs::write(keys_dir.join("imported.pem"), pkey.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let app = crate::helpers::start(env.clone()).await;
    let active = app.state().domain.keys.active_kid().unwrap();
    let pkey_rsa = pkey.rsa().unwrap();
    use base64::Engine;
    let b64 = |v: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let expected = portcullis::keys::crypto::thumbprint(&b64(pkey_rsa.n().to_vec()), &b64(pkey_rsa.e().to_vec()));
    assert_eq!(
        active, expected,
        "the imported key signs, under its RFC 7638 thumbprint"
    );
    // Starting again does not import it twice.
    drop(app);
    let again = crate::helpers::start(env).await;
    assert_eq!(again.state().domain.store.keys().await.unwrap().len(), 1);
    // A file that is not a key stops the start with a clear error.
    std::fs::write(keys_dir.join("junk.pem"), "not a key").unwrap();
    let config = portcullis::Config::from_map(resources.env()).unwrap();
    let err = portcullis::Application::build(config)
        .await
        .err()
        .expect("start must fail");
    assert!(err.to_string().contains("junk.pem"), "{err}");
}
