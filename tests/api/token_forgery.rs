//! Forged and misused tokens are refused by every endpoint that takes one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::helpers::{TestApp, json_of, spawn_app};
use crate::oauth_support::{header_of, make_client, post_form, signed_in};

fn parts(token: &str) -> (Value, Value, String) {
    let mut it = token.split('.');
    let h = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
    let p = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
    (h, p, it.next().unwrap().to_string())
}

fn join(h: &Value, p: &Value, sig: &str) -> String {
    format!("{}.{}.{sig}", B64.encode(h.to_string()), B64.encode(p.to_string()))
}

fn sign_with_server_key(app: &TestApp, typ: &str, claims: &Value) -> String {
    let map: Map<String, Value> = claims.as_object().unwrap().clone();
    app.state.domain.keys.sign(typ, map).unwrap()
}

/// Every bearer-taking endpoint must refuse the token; introspection must call it inactive.
async fn assert_refused_everywhere(app: &TestApp, token: &str, what: &str) {
    for path in [
        "/users/me",
        "/auth/me",
        "/userinfo",
        "/users/me/preferences",
        "/users/me/sessions",
    ] {
        let res = app.authed(Method::GET, path, token, None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what} at {path}");
        let challenge = res
            .headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{what}: {challenge}"
        );
    }
    let rs = make_client(app, false, &["client_credentials"], &["x"]).await;
    let res = post_form(
        app,
        "/oauth/introspect",
        &[("token", token)],
        Some((&rs.client_id, rs.client_secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(
        json_of(res).await.1,
        json!({"active": false}),
        "{what} at introspection"
    );
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let app = spawn_app().await;
    let tokens = signed_in(&app, "victim@example.com").await;
    let good = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        app.authed(Method::GET, "/users/me", good, None).await.status(),
        StatusCode::OK
    );
    let (header, payload, sig) = parts(good);
    let now = app.state.domain.clock.now_secs();

    // alg: none, with and without a signature.
    let mut none = header.clone();
    none["alg"] = json!("none");
    assert_refused_everywhere(&app, &join(&none, &payload, ""), "alg none").await;
    assert_refused_everywhere(&app, &join(&none, &payload, &sig), "alg none with signature").await;

    // HS256 signed with the server's public key as the HMAC secret.
    let jwks = crate::oauth_support::jwks(&app).await;
    let n = jwks["keys"][0]["n"].as_str().unwrap().to_string();
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.typ = Some("at+jwt".into());
    hs.kid = header["kid"].as_str().map(str::to_string);
    let forged = jsonwebtoken::encode(&hs, &payload, &jsonwebtoken::EncodingKey::from_secret(n.as_bytes())).unwrap();
    assert_refused_everywhere(&app, &forged, "HS256 with the public key").await;

    // A well-signed token from a key we never published, under an unknown kid and under ours.
    let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
    let pem = rsa.private_key_to_pem().unwrap();
    let mut rs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    rs.typ = Some("at+jwt".into());
    rs.kid = Some("not-a-published-kid".into());
    let foreign = jsonwebtoken::encode(&rs, &payload, &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap();
    assert_refused_everywhere(&app, &foreign, "unknown kid").await;
    rs.kid = header["kid"].as_str().map(str::to_string);
    let foreign = jsonwebtoken::encode(&rs, &payload, &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap();
    assert_refused_everywhere(&app, &foreign, "foreign key under our kid").await;
    let mut no_kid = header.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    assert_refused_everywhere(&app, &join(&no_kid, &payload, &sig), "no kid").await;

    // Tampered payload (self-promotion to admin) with the original signature.
    let mut promoted = payload.clone();
    promoted["roles"] = json!(["admin"]);
    assert_refused_everywhere(&app, &join(&header, &promoted, &sig), "tampered payload").await;

    // Correctly signed by the server, but wrong in content.
    let mut wrong_iss = payload.clone();
    wrong_iss["iss"] = json!("https://evil.example");
    assert_refused_everywhere(&app, &sign_with_server_key(&app, "at+jwt", &wrong_iss), "wrong iss").await;
    let mut expired = payload.clone();
    expired["exp"] = json!(now - 120);
    assert_refused_everywhere(&app, &sign_with_server_key(&app, "at+jwt", &expired), "expired").await;
    let mut future = payload.clone();
    future["nbf"] = json!(now + 3600);
    assert_refused_everywhere(&app, &sign_with_server_key(&app, "at+jwt", &future), "not yet valid").await;
    assert_refused_everywhere(&app, &sign_with_server_key(&app, "JWT", &payload), "typ JWT").await;
    let mut no_exp = payload.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_refused_everywhere(&app, &sign_with_server_key(&app, "at+jwt", &no_exp), "no exp").await;

    // Wrong audience: refused by the self-service API (userinfo accepts any of our audiences).
    let mut wrong_aud = payload.clone();
    wrong_aud["aud"] = json!("https://orders.example");
    let token = sign_with_server_key(&app, "at+jwt", &wrong_aud);
    for path in ["/users/me", "/auth/me", "/users/me/preferences"] {
        assert_eq!(
            app.authed(Method::GET, path, &token, None).await.status(),
            StatusCode::UNAUTHORIZED,
            "wrong aud at {path}"
        );
    }

    // The ID token is not an access token.
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(header_of(id_token).typ.as_deref(), Some("JWT"));
    assert_refused_everywhere(&app, id_token, "ID token as access token").await;

    // Malformed bearer values.
    for junk in ["", "a.b", "a.b.c.d", "!!!.???.***", &"x".repeat(10_000)] {
        let res = app
            .client
            .get(app.url("/users/me"))
            .header("authorization", format!("Bearer {junk}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "junk {}",
            &junk[..junk.len().min(20)]
        );
    }
    for header_value in ["Basic abc", "Bearer", "bearer  ", "Token abc"] {
        let res = app
            .client
            .get(app.url("/users/me"))
            .header("authorization", header_value)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{header_value}");
    }
    let res = app.client.get(app.url("/users/me")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get("www-authenticate").is_some());

    // The genuine token still works after all that.
    assert_eq!(
        app.authed(Method::GET, "/users/me", good, None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn huge_headers_are_refused_without_harm() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/health/live"))
        .header("x-filler", "y".repeat(200 * 1024))
        .send()
        .await;
    // hyper answers 431 or closes the connection; either way the server keeps serving.
    if let Ok(res) = res {
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    assert_eq!(
        app.client.get(app.url("/health/live")).send().await.unwrap().status(),
        StatusCode::OK
    );
}
