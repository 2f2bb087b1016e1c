//! Helpers for the admin API tests: admins, logins, JSON calls and JWT payloads.

use base64::Engine;
use portcullis::config::Secret;
use portcullis::domain::Meta;
use portcullis::domain::users::Registration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of};

/// A password that passes the policy.
pub const PASSWORD: &str = "admin-suite-password-1";

/// Creates a user in `tenant` with `roles` through the domain; returns its id.
pub async fn make_user(app: &TestApp, tenant: &str, email: &str, roles: &[&str]) -> String {
    let r = Registration {
        email: email.into(),
        password: Secret::new(PASSWORD),
        username: None,
        first_name: None,
        last_name: None,
        tenant: tenant.into(),
    };
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    app.state
        .domain
        .create_user(r, &roles, true, &Meta::default())
        .await
        .unwrap()
        .id
}

/// Logs in with [`PASSWORD`] in `tenant`; returns the token pair.
pub async fn login(app: &TestApp, tenant: &str, email: &str) -> Value {
    let (status, body) = json_of(
        app.post_json(
            "/auth/login",
            &json!({"email": email, "password": PASSWORD, "tenant": tenant}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Creates an admin of `tenant` and returns its access token.
pub async fn admin_token(app: &TestApp, tenant: &str, email: &str) -> String {
    make_user(app, tenant, email, &["admin"]).await;
    login(app, tenant, email).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Sends an authenticated request and returns status and JSON body.
pub async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    json_of(app.authed(method, path, token, body.as_ref()).await).await
}

/// Like [`call`], asserting the status.
pub async fn ok(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>, want: u16) -> Value {
    let (status, body) = call(app, method.clone(), path, token, body).await;
    assert_eq!(status.as_u16(), want, "{method} {path}: {body}");
    body
}

/// The payload of a JWT, without verifying it (the token tests verify signatures).
pub fn jwt_payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Creates a tenant as a default-tenant admin.
pub async fn make_tenant(app: &TestApp, root: &str, id: &str) {
    ok(
        app,
        Method::POST,
        "/admin/tenants",
        root,
        Some(json!({"id": id, "name": format!("{id} Inc.")})),
        201,
    )
    .await;
}
