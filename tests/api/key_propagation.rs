//! An immediate rotation on one instance is accepted at once by the others (issue 14 item 3):
//! a verifying instance that meets an unknown `kid` reloads its keyring before refusing.

use portcullis::domain::Meta;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{json_of, spawn_app_with};
use crate::helpers::{me_at, serve};
use crate::oauth_support::{PASSWORD, header_of, kids};

#[tokio::test]
async fn an_immediate_rotation_on_one_instance_is_accepted_at_once_by_another() {
    // Long reload interval: only the unknown-kid reload can make B see the new key in time.
    let a = spawn_app_with(|env| {
        env.insert("PORTCULLIS_KEYRING_RELOAD_INTERVAL".into(), "1h".into());
        // Two instances of one deployment share the issuer.
        env.insert("PORTCULLIS_ISSUER".into(), "http://auth.example.test".into());
    })
    .await;
    let b = serve(a.env.clone()).await;
    a.register("prop@example.com", PASSWORD).await;
    let old_kid = a.state.domain.keys.active_kid().unwrap();
    assert_eq!(b.state.domain.keys.active_kid().unwrap(), old_kid);

    a.state.domain.keys.rotate(true, &Meta::default()).await.unwrap();
    let new_kid = a.state.domain.keys.active_kid().unwrap();
    assert_ne!(new_kid, old_kid);
    let res = a
        .client
        .post(a.url("/auth/login"))
        .json(&serde_json::json!({ "email": "prop@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let (status, tokens) = json_of(res).await;
    assert_eq!(status, StatusCode::OK);
    let fresh = tokens["access_token"].as_str().unwrap();
    assert_eq!(header_of(fresh).kid.unwrap(), new_kid);

    assert_eq!(
        me_at(&a.client, &b.address, fresh).await,
        StatusCode::OK,
        "B accepts A's fresh token"
    );
    let res = a
        .client
        .get(format!("{}/.well-known/jwks.json", b.address))
        .send()
        .await
        .unwrap();
    let published = kids(&json_of(res).await.1);
    assert!(published.contains(&new_kid), "{published:?}");
    assert_eq!(
        b.state.domain.keys.active_kid().unwrap(),
        new_kid,
        "B signs with it too"
    );
}

#[tokio::test]
async fn unknown_kids_reload_at_most_once_per_second() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_KEYRING_RELOAD_INTERVAL".into(), "1h".into());
    })
    .await;
    let tokens = crate::oauth_support::signed_in(&app, "flood@example.com").await;
    let token = tokens["access_token"].as_str().unwrap();
    let (h, rest) = token.split_once('.').unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut header: Value = serde_json::from_slice(&b64.decode(h).unwrap()).unwrap();
    let keys = &app.state.domain.keys;
    let before = keys.forced_reloads();
    let started = std::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        header["kid"] = format!("forged-{i}").into();
        let forged = format!("{}.{rest}", b64.encode(header.to_string()));
        let (client, base) = (app.client.clone(), app.address.clone());
        set.spawn(async move { me_at(&client, &base, &forged).await });
    }
    for status in set.join_all().await {
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let reloads = keys.forced_reloads() - before;
    // An upper bound from the time that really passed, so a slow machine cannot fail it.
    let allowed = 1 + started.elapsed().as_secs();
    assert!(
        (1..=allowed).contains(&reloads),
        "{reloads} reloads in {:?}",
        started.elapsed()
    );
}
