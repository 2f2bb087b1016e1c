//! Headers every answer carries: `nosniff`, and `no-store` wherever tokens or personal data
//! could be cached.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::admin_support::admin_token;
use crate::helpers::spawn_app;
use crate::oauth_support::{PASSWORD, signed_in};

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn personal_answers_are_never_cached_and_nothing_is_sniffed() {
    let app = spawn_app().await;
    let pair = signed_in(&app, "headers@example.com").await;
    let access = pair["access_token"].as_str().unwrap();
    let root = admin_token(&app, "default", "root@example.com").await;
    let answers = vec![
        app.authed(Method::GET, "/users/me", access, None).await,
        app.authed(Method::GET, "/users/me/sessions", access, None).await,
        app.authed(Method::GET, "/users/me/preferences", access, None).await,
        app.authed(Method::GET, "/admin/users", &root, None).await,
        app.post_json(
            "/auth/login",
            &json!({"email": "headers@example.com", "password": PASSWORD}),
        )
        .await,
        app.post_json(
            "/auth/login",
            &json!({"email": "headers@example.com", "password": "wrong one!"}),
        )
        .await,
        app.authed(Method::GET, "/users/me", "not-a-token", None).await,
        app.client.get(app.url("/no/such/route")).send().await.unwrap(),
    ];
    for res in &answers {
        assert_eq!(header(res, "x-content-type-options"), "nosniff", "{}", res.url());
        assert_eq!(
            header(res, "cache-control"),
            "no-store",
            "{} {}",
            res.url(),
            res.status()
        );
    }
    // Public documents keep their own caching, and are not sniffed either.
    let jwks = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);
    assert_eq!(header(&jwks, "x-content-type-options"), "nosniff");
    assert!(
        header(&jwks, "cache-control").starts_with("public"),
        "{}",
        header(&jwks, "cache-control")
    );
}
