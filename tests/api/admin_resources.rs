//! Admin API: clear 4xx answers for bad input, and roles, clients and keys end to end.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::admin_support::{PASSWORD, admin_token, call, make_tenant, make_user, ok};
use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn bad_input_is_a_clear_client_error() {
    let app = spawn_app().await;
    let root = admin_token(&app, "default", "root@example.com").await;
    let user = make_user(&app, "default", "someone@example.com", &["customer"]).await;
    let p = |r: reqwest::Response| r;
    for (path, status, code) in [
        ("/admin/users?cursor=%%%", 422, "validation_failed"),
        ("/admin/users?cursor=not-base64!", 422, "validation_failed"),
        ("/admin/users?limit=0", 422, "validation_failed"),
        ("/admin/users?limit=201", 422, "validation_failed"),
        ("/admin/users?limit=ten", 422, "validation_failed"),
        ("/admin/users?status=sleeping", 422, "validation_failed"),
        ("/admin/events?cursor=@@", 422, "validation_failed"),
        ("/admin/users/not-a-uuid", 404, "not_found"),
        ("/admin/users/%FF", 400, "invalid_path"),
        ("/admin/users?limit=1&limit=2", 400, "invalid_query"),
        ("/admin/users/00000000-0000-7000-8000-000000000000", 404, "not_found"),
        ("/admin/users/'%20OR%201=1--", 404, "not_found"),
        ("/admin/clients/nope", 404, "not_found"),
        ("/admin/tenants/nope", 404, "not_found"),
        ("/admin/roles?tenant=nope", 404, "not_found"),
    ] {
        let res = p(app.authed(Method::GET, path, &root, None).await);
        assert_problem(res, status, code).await;
    }
    let u = format!("/admin/users/{user}");
    for (method, path, body, status, code) in [
        (
            Method::POST,
            format!("{u}/roles"),
            json!({"role": "wizard"}),
            422,
            "validation_failed",
        ),
        (
            Method::POST,
            format!("{u}/roles"),
            json!({"rol": "admin"}),
            422,
            "validation_failed",
        ),
        (Method::DELETE, format!("{u}/roles/wizard"), json!({}), 404, "not_found"),
        (
            Method::POST,
            "/admin/users".into(),
            json!({"email": "n@example.com", "password": PASSWORD, "roles": ["wizard"]}),
            422,
            "validation_failed",
        ),
        (
            Method::POST,
            "/admin/users".into(),
            json!({"email": "n@example.com", "password": PASSWORD, "tenant": "nowhere"}),
            422,
            "validation_failed",
        ),
        (
            Method::POST,
            "/admin/users".into(),
            json!({"email": "someone@example.com", "password": PASSWORD}),
            409,
            "email_taken",
        ),
        (
            Method::POST,
            "/admin/tenants".into(),
            json!({"id": "Bad Slug", "name": "x"}),
            422,
            "validation_failed",
        ),
        (
            Method::POST,
            "/admin/tenants".into(),
            json!({"id": "default", "name": "x"}),
            409,
            "conflict",
        ),
        (
            Method::DELETE,
            "/admin/tenants/default".into(),
            json!({}),
            409,
            "conflict",
        ),
        (
            Method::DELETE,
            "/admin/roles/customer".into(),
            json!({}),
            409,
            "conflict",
        ),
        (Method::DELETE, "/admin/roles/admin".into(), json!({}), 409, "conflict"),
        (Method::DELETE, "/admin/roles/nope".into(), json!({}), 404, "not_found"),
        (
            Method::POST,
            "/admin/roles".into(),
            json!({"name": "no spaces"}),
            422,
            "validation_failed",
        ),
        (
            Method::POST,
            "/admin/roles".into(),
            json!({"name": "admin"}),
            409,
            "conflict",
        ),
        (
            Method::DELETE,
            "/admin/clients/portcullis".into(),
            json!({}),
            409,
            "conflict",
        ),
        (
            Method::POST,
            "/admin/clients".into(),
            json!({"name": "x", "public": true, "grant_types": ["client_credentials"]}),
            422,
            "validation_failed",
        ),
        (
            Method::POST,
            "/admin/keys/nokid/revoke".into(),
            json!({}),
            404,
            "not_found",
        ),
        (
            Method::POST,
            "/admin/keys/rotate".into(),
            json!({"immediate": "yes"}),
            422,
            "validation_failed",
        ),
    ] {
        let res = app.authed(method.clone(), &path, &root, Some(&body)).await;
        let got = assert_problem(res, status, code).await;
        assert!(got["detail"].is_string(), "{method} {path}: {got}");
    }
    // A tenant with users cannot go; an empty one can, and its roles go with it.
    make_tenant(&app, &root, "busy").await;
    make_tenant(&app, &root, "empty").await;
    make_user(&app, "busy", "x@busy.test", &["customer"]).await;
    assert_problem(
        app.authed(Method::DELETE, "/admin/tenants/busy", &root, None).await,
        409,
        "conflict",
    )
    .await;
    ok(&app, Method::DELETE, "/admin/tenants/empty", &root, None, 204).await;
    assert_problem(
        app.authed(Method::GET, "/admin/tenants/empty", &root, None).await,
        404,
        "not_found",
    )
    .await;
    // And it can be created again from scratch.
    make_tenant(&app, &root, "empty").await;
}

#[tokio::test]
async fn roles_clients_and_keys_are_managed_over_the_api() {
    let app = spawn_app().await;
    let root = admin_token(&app, "default", "root@example.com").await;
    // Custom roles.
    let role = ok(
        &app,
        Method::POST,
        "/admin/roles",
        &root,
        Some(json!({"name": "support", "description": "Helps customers"})),
        201,
    )
    .await;
    assert_eq!(role["built_in"], false);
    let roles = ok(&app, Method::GET, "/admin/roles?limit=2", &root, None, 200).await;
    let names: Vec<&str> = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "customer"]);
    let next = roles["next_cursor"].as_str().unwrap();
    let rest = ok(
        &app,
        Method::GET,
        &format!("/admin/roles?cursor={next}"),
        &root,
        None,
        200,
    )
    .await;
    assert_eq!(rest["items"][0]["name"], "support");
    assert_eq!(rest["next_cursor"], Value::Null);
    let user = make_user(&app, "default", "agent@example.com", &["customer"]).await;
    ok(
        &app,
        Method::POST,
        &format!("/admin/users/{user}/roles"),
        &root,
        Some(json!({"role": "support"})),
        200,
    )
    .await;
    ok(&app, Method::DELETE, "/admin/roles/support", &root, None, 204).await;
    let after = ok(&app, Method::GET, &format!("/admin/users/{user}"), &root, None, 200).await;
    assert_eq!(after["roles"], json!(["customer"]), "deleting a role drops its grants");

    // Clients: the secret shows once, at creation and at rotation.
    let created = ok(
        &app,
        Method::POST,
        "/admin/clients",
        &root,
        Some(
            json!({"name": "billing", "public": false, "grant_types": ["client_credentials"],
                    "scopes": ["invoices:read"], "audiences": ["https://billing.test"], "access_token_ttl": 300}),
        ),
        201,
    )
    .await;
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert_eq!(created["access_token_ttl"], 300);
    let fetched = ok(&app, Method::GET, &format!("/admin/clients/{id}"), &root, None, 200).await;
    assert!(fetched.get("client_secret").is_none());
    let token = |secret: String| {
        let (client, url, id) = (app.client.clone(), app.url("/oauth/token"), id.clone());
        async move {
            client
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(token(secret.clone()).await, StatusCode::OK);
    let rotated = ok(
        &app,
        Method::POST,
        &format!("/admin/clients/{id}/secret"),
        &root,
        None,
        200,
    )
    .await;
    let new_secret = rotated["client_secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    assert_eq!(token(secret.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(token(new_secret.clone()).await, StatusCode::OK);
    let patched = ok(
        &app,
        Method::PATCH,
        &format!("/admin/clients/{id}"),
        &root,
        Some(json!({"name": "billing v2", "access_token_ttl": null})),
        200,
    )
    .await;
    assert_eq!(patched["name"], "billing v2");
    assert_eq!(patched["access_token_ttl"], Value::Null);
    assert_problem(
        app.authed(
            Method::PATCH,
            &format!("/admin/clients/{id}"),
            &root,
            Some(&json!({"grant_types": ["implicit"]})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let list = ok(&app, Method::GET, "/admin/clients", &root, None, 200).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    ok(&app, Method::DELETE, &format!("/admin/clients/{id}"), &root, None, 204).await;
    assert_eq!(token(new_secret).await, StatusCode::UNAUTHORIZED);

    // Keys: list, rotate at once, revoke the old one.
    let keys = ok(&app, Method::GET, "/admin/keys", &root, None, 200).await;
    let old = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["status"] == "active")
        .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(keys.to_string().find("private").is_none());
    let (status, _) = call(&app, Method::POST, "/admin/keys/rotate", &root, None).await;
    assert_eq!(status, StatusCode::OK, "rotation without a body");
    let rotated = ok(
        &app,
        Method::POST,
        "/admin/keys/rotate",
        &root,
        Some(json!({"immediate": true})),
        200,
    )
    .await;
    let active: Vec<&Value> = rotated["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["status"] == "active")
        .collect();
    assert_eq!(active.len(), 1);
    assert_ne!(active[0]["kid"], old.as_str());
    ok(
        &app,
        Method::POST,
        &format!("/admin/keys/{old}/revoke"),
        &root,
        None,
        204,
    )
    .await;
    let jwks = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    assert!(!jwks.text().await.unwrap().contains(&old));
}
