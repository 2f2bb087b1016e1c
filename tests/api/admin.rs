//! Admin API: who gets in, tenant isolation, tenants per sign-up, and pagination.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::admin_support::{PASSWORD, admin_token, login, make_tenant, make_user, ok};
use crate::helpers::{assert_problem, json_of, spawn_app};

/// Every admin route, with a body for the ones that take one.
fn all_routes(user: &str) -> Vec<(Method, String, Option<Value>)> {
    let body = Some(json!({}));
    let u = |rest: &str| format!("/admin/users/{user}{rest}");
    vec![
        (Method::GET, "/admin/users".into(), None),
        (Method::POST, "/admin/users".into(), body.clone()),
        (Method::GET, u(""), None),
        (Method::PATCH, u(""), body.clone()),
        (Method::DELETE, u(""), None),
        (Method::POST, u("/roles"), Some(json!({"role": "admin"}))),
        (Method::DELETE, u("/roles/customer"), None),
        (Method::POST, u("/lock"), None),
        (Method::POST, u("/unlock"), None),
        (Method::POST, u("/disable"), None),
        (Method::POST, u("/enable"), None),
        (Method::GET, u("/sessions"), None),
        (Method::DELETE, u("/sessions"), None),
        (Method::GET, u("/events"), None),
        (Method::GET, "/admin/roles".into(), None),
        (Method::POST, "/admin/roles".into(), Some(json!({"name": "x"}))),
        (Method::DELETE, "/admin/roles/x".into(), None),
        (Method::GET, "/admin/clients".into(), None),
        (Method::POST, "/admin/clients".into(), body.clone()),
        (Method::GET, "/admin/clients/portcullis".into(), None),
        (Method::PATCH, "/admin/clients/portcullis".into(), body.clone()),
        (Method::DELETE, "/admin/clients/portcullis".into(), None),
        (Method::POST, "/admin/clients/portcullis/secret".into(), None),
        (Method::GET, "/admin/tenants".into(), None),
        (
            Method::POST,
            "/admin/tenants".into(),
            Some(json!({"id": "evil", "name": "Evil"})),
        ),
        (Method::GET, "/admin/tenants/default".into(), None),
        (
            Method::PATCH,
            "/admin/tenants/default".into(),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, "/admin/tenants/default".into(), None),
        (Method::GET, "/admin/keys".into(), None),
        (Method::POST, "/admin/keys/rotate".into(), None),
        (Method::POST, "/admin/keys/somekid/revoke".into(), None),
        (Method::GET, "/admin/events".into(), None),
    ]
}

#[tokio::test]
async fn admin_routes_refuse_customers_and_anonymous_callers() {
    let app = spawn_app().await;
    // Sign-up asking for the admin role still yields a plain customer.
    let (status, user) = json_of(
        app.post_json(
            "/auth/register",
            &json!({"email": "mallory@example.com", "password": PASSWORD, "role": "admin"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(user["roles"], json!(["customer"]));
    let token = login(&app, "default", "mallory@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let id = user["id"].as_str().unwrap();
    for (method, path, body) in all_routes(id) {
        let res = app.authed(method.clone(), &path, &token, body.as_ref()).await;
        assert_problem(res, 403, "forbidden").await;
        let mut req = app.client.request(method.clone(), app.url(&path));
        if let Some(b) = &body {
            req = req.json(b);
        }
        assert_problem(req.send().await.unwrap(), 401, "invalid_token").await;
    }
    // Nothing changed: the customer is still active with the same roles.
    let root = admin_token(&app, "default", "root@example.com").await;
    let me = ok(&app, Method::GET, &format!("/admin/users/{id}"), &root, None, 200).await;
    assert_eq!(me["status"], "active");
    assert_eq!(me["roles"], json!(["customer"]));
}

#[tokio::test]
async fn tenant_admins_see_only_their_tenant() {
    let app = spawn_app().await;
    let root = admin_token(&app, "default", "root@example.com").await;
    make_tenant(&app, &root, "acme").await;
    make_tenant(&app, &root, "globex").await;
    // The new tenants got their built-in roles, so an admin can be created right away.
    let acme_admin = ok(
        &app,
        Method::POST,
        "/admin/users",
        &root,
        Some(json!({"email": "boss@acme.test", "password": PASSWORD, "tenant": "acme", "roles": ["admin"]})),
        201,
    )
    .await;
    assert_eq!(acme_admin["tenant"], "acme");
    let acme = login(&app, "acme", "boss@acme.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let globex_user = make_user(&app, "globex", "worker@globex.test", &["customer"]).await;
    let acme_user = make_user(&app, "acme", "worker@acme.test", &["customer"]).await;
    let globex_client = ok(
        &app,
        Method::POST,
        "/admin/clients",
        &root,
        Some(
            json!({"name": "globex api", "public": false, "grant_types": ["client_credentials"],
                    "scopes": ["read"], "audiences": ["https://api.globex.test"], "tenant": "globex"}),
        ),
        201,
    )
    .await;
    let gc = globex_client["client_id"].as_str().unwrap();

    // Another tenant's things do not exist for this admin.
    let g = |rest: &str| format!("/admin/users/{globex_user}{rest}");
    for (method, path, body) in [
        (Method::GET, g(""), None),
        (Method::PATCH, g(""), Some(json!({"first_name": "X"}))),
        (Method::DELETE, g(""), None),
        (Method::POST, g("/roles"), Some(json!({"role": "admin"}))),
        (Method::POST, g("/disable"), None),
        (Method::POST, g("/lock"), None),
        (Method::GET, g("/sessions"), None),
        (Method::GET, g("/events"), None),
        (Method::GET, format!("/admin/clients/{gc}"), None),
        (Method::DELETE, format!("/admin/clients/{gc}"), None),
        (Method::POST, format!("/admin/clients/{gc}/secret"), None),
        (Method::GET, "/admin/clients/portcullis".into(), None),
        (Method::GET, "/admin/tenants/globex".into(), None),
        (
            Method::PATCH,
            "/admin/tenants/globex".into(),
            Some(json!({"name": "mine"})),
        ),
        (Method::DELETE, "/admin/tenants/globex".into(), None),
        (Method::GET, "/admin/users?tenant=globex".into(), None),
        (Method::GET, "/admin/roles?tenant=globex".into(), None),
        (Method::GET, "/admin/events?tenant=globex".into(), None),
    ] {
        let res = app.authed(method.clone(), &path, &acme, body.as_ref()).await;
        assert_problem(res, 404, "not_found").await;
    }
    // Creating things in another tenant reads as an unknown tenant.
    let res = app
        .authed(
            Method::POST,
            "/admin/users",
            &acme,
            Some(&json!({"email": "spy@acme.test", "password": PASSWORD, "tenant": "globex"})),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
    // Global things are for default-tenant admins only.
    for (method, path) in [
        (Method::GET, "/admin/keys"),
        (Method::POST, "/admin/keys/rotate"),
        (Method::POST, "/admin/tenants"),
    ] {
        let body = json!({"id": "mine", "name": "Mine"});
        assert_problem(app.authed(method, path, &acme, Some(&body)).await, 403, "forbidden").await;
    }

    // Listings show only the admin's tenant.
    let users = ok(&app, Method::GET, "/admin/users?limit=200", &acme, None, 200).await;
    let ids: HashSet<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(acme_user.as_str()) && !ids.contains(globex_user.as_str()));
    assert!(users["items"].as_array().unwrap().iter().all(|u| u["tenant"] == "acme"));
    let tenants = ok(&app, Method::GET, "/admin/tenants", &acme, None, 200).await;
    assert_eq!(tenants["items"].as_array().unwrap().len(), 1);
    assert_eq!(tenants["items"][0]["id"], "acme");
    let clients = ok(&app, Method::GET, "/admin/clients", &acme, None, 200).await;
    assert_eq!(clients["items"], json!([]));
    let events = ok(&app, Method::GET, "/admin/events", &acme, None, 200).await;
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["tenant_id"] == "acme")
    );
    // Their own tenant works.
    ok(
        &app,
        Method::POST,
        &format!("/admin/users/{acme_user}/disable"),
        &acme,
        None,
        200,
    )
    .await;
    // The default-tenant admin sees both.
    ok(&app, Method::GET, &g(""), &root, None, 200).await;
    ok(
        &app,
        Method::GET,
        &format!("/admin/users/{acme_user}"),
        &root,
        None,
        200,
    )
    .await;
}

#[tokio::test]
async fn the_same_email_lives_in_two_tenants() {
    let app = spawn_app().await;
    let root = admin_token(&app, "default", "root@example.com").await;
    make_tenant(&app, &root, "acme").await;
    let body = |tenant: Option<&str>| {
        let mut b = json!({"email": "twin@example.com", "password": PASSWORD});
        if let Some(t) = tenant {
            b["tenant"] = json!(t);
        }
        b
    };
    let (s1, a) = json_of(app.post_json("/auth/register", &body(None)).await).await;
    let (s2, b) = json_of(app.post_json("/auth/register", &body(Some("acme"))).await).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED), "{a} {b}");
    assert_ne!(a["id"], b["id"]);
    assert_eq!(
        (a["tenant"].as_str(), b["tenant"].as_str()),
        (Some("default"), Some("acme"))
    );
    assert_problem(
        app.post_json("/auth/register", &body(Some("acme"))).await,
        409,
        "email_taken",
    )
    .await;
    // Signing up in a tenant that does not exist is a clear 422.
    assert_problem(
        app.post_json("/auth/register", &body(Some("nowhere"))).await,
        422,
        "validation_failed",
    )
    .await;
    // Each login lands in its own tenant.
    let t = login(&app, "acme", "twin@example.com").await;
    let claims = crate::admin_support::jwt_payload(t["access_token"].as_str().unwrap());
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(claims["sub"], b["id"]);
}

#[tokio::test]
async fn pagination_walks_every_user_once_while_users_are_added() {
    let app = spawn_app().await;
    let root = admin_token(&app, "default", "root@example.com").await;
    let mut original: HashSet<String> = HashSet::new();
    let creators: Vec<_> = (0..10)
        .map(|batch| {
            let domain = app.state.domain.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..25 {
                    let r = portcullis::domain::users::Registration {
                        email: format!("page{batch}-{i}@example.com"),
                        password: portcullis::config::Secret::new(PASSWORD),
                        username: None,
                        first_name: None,
                        last_name: None,
                        tenant: "default".into(),
                    };
                    let u = domain
                        .create_user(r, &["customer".into()], false, &Default::default())
                        .await
                        .unwrap();
                    ids.push(u.id);
                }
                ids
            })
        })
        .collect();
    for c in creators {
        original.extend(c.await.unwrap());
    }
    assert_eq!(original.len(), 250);
    // Users keep arriving while the listing is walked.
    let domain = app.state.domain.clone();
    let writer = tokio::spawn(async move {
        for i in 0..40 {
            let r = portcullis::domain::users::Registration {
                email: format!("late{i}@example.com"),
                password: portcullis::config::Secret::new(PASSWORD),
                username: None,
                first_name: None,
                last_name: None,
                tenant: "default".into(),
            };
            domain
                .create_user(r, &["customer".into()], false, &Default::default())
                .await
                .unwrap();
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/users?role=customer&limit=23&cursor={c}"),
            None => "/admin/users?role=customer&limit=23".to_string(),
        };
        let page = ok(&app, Method::GET, &path, &root, None, 200).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 23);
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    writer.await.unwrap();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no user is listed twice");
    assert!(original.iter().all(|id| unique.contains(id)), "no user is skipped");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "ordered by id");
    // Filters: the admin is not a customer; q searches emails.
    let admins = ok(&app, Method::GET, "/admin/users?role=admin", &root, None, 200).await;
    assert_eq!(admins["items"].as_array().unwrap().len(), 1);
    let found = ok(&app, Method::GET, "/admin/users?q=PAGE3-1", &root, None, 200).await;
    // page3-1, page3-10 … page3-19
    assert_eq!(found["items"].as_array().unwrap().len(), 11);
    let none = ok(&app, Method::GET, "/admin/users?q=%25", &root, None, 200).await;
    assert_eq!(none["items"], json!([]), "LIKE wildcards are matched literally");
    let disabled = ok(&app, Method::GET, "/admin/users?status=disabled", &root, None, 200).await;
    assert_eq!(disabled["items"], json!([]));
}
