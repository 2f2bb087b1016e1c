//! Admin API on users: status, locks, roles in tokens, sessions, deletion and the audit trail.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::admin_support::{PASSWORD, admin_token, call, jwt_payload, login, make_user, ok};
use crate::helpers::{assert_problem, json_of, spawn_app};

async fn refresh(app: &crate::helpers::TestApp, refresh_token: &str) -> (StatusCode, Value) {
    json_of(
        app.post_json("/auth/refresh", &json!({"refresh_token": refresh_token}))
            .await,
    )
    .await
}

#[tokio::test]
async fn disabling_stops_login_and_refresh_at_once() {
    let app = spawn_app().await;
    let root = admin_token(&app, "default", "root@example.com").await;
    let id = make_user(&app, "default", "worker@example.com", &["customer"]).await;
    let pair = login(&app, "default", "worker@example.com").await;
    let access = pair["access_token"].as_str().unwrap();
    let sessions = ok(
        &app,
        Method::GET,
        &format!("/admin/users/{id}/sessions"),
        &root,
        None,
        200,
    )
    .await;
    assert_eq!(sessions["items"].as_array().unwrap().len(), 1);

    let user = ok(
        &app,
        Method::POST,
        &format!("/admin/users/{id}/disable"),
        &root,
        None,
        200,
    )
    .await;
    assert_eq!(user["status"], "disabled");
    let (status, body) = refresh(&app, pair["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_problem(
        app.authed(Method::GET, "/users/me", access, None).await,
        401,
        "invalid_token",
    )
    .await;
    let res = app
        .post_json(
            "/auth/login",
            &json!({"email": "worker@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(res, 403, "account_disabled").await;
    let list = ok(&app, Method::GET, "/admin/users?status=disabled", &root, None, 200).await;
    assert_eq!(list["items"][0]["id"], id.as_str());

    ok(
        &app,
        Method::POST,
        &format!("/admin/users/{id}/enable"),
        &root,
        None,
        200,
    )
    .await;
    login(&app, "default", "worker@example.com").await;
    // An admin cannot disable, lock or delete themselves, nor drop their own admin role.
    let me = jwt_payload(&root)["sub"].as_str().unwrap().to_string();
    for (method, path) in [
        (Method::POST, format!("/admin/users/{me}/disable")),
        (Method::POST, format!("/admin/users/{me}/lock")),
        (Method::DELETE, format!("/admin/users/{me}")),
        (Method::DELETE, format!("/admin/users/{me}/roles/admin")),
    ] {
        assert_problem(app.authed(method, &path, &root, None).await, 409, "conflict").await;
    }
}

#[tokio::test]
async fn lock_and_unlock_control_password_logins() {
    let app = spawn_app().await;
    let root = admin_token(&app, "default", "root@example.com").await;
    let id = make_user(&app, "default", "locked@example.com", &["customer"]).await;
    let user = ok(&app, Method::POST, &format!("/admin/users/{id}/lock"), &root, None, 200).await;
    assert!(user["locked_for"].as_u64().unwrap() > 0, "{user}");
    let res = app
        .post_json(
            "/auth/login",
            &json!({"email": "locked@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(res, 403, "account_locked").await;
    let user = ok(
        &app,
        Method::POST,
        &format!("/admin/users/{id}/unlock"),
        &root,
        None,
        200,
    )
    .await;
    assert_eq!(user["locked_for"], Value::Null);
    login(&app, "default", "locked@example.com").await;
}

#[tokio::test]
async fn role_changes_show_in_the_next_token_and_admin_loss_is_immediate() {
    let app = spawn_app().await;
    let root = admin_token(&app, "default", "root@example.com").await;
    ok(
        &app,
        Method::POST,
        "/admin/roles",
        &root,
        Some(json!({"name": "auditor"})),
        201,
    )
    .await;
    let id = make_user(&app, "default", "deputy@example.com", &["customer"]).await;
    let pair = login(&app, "default", "deputy@example.com").await;
    assert_eq!(
        jwt_payload(pair["access_token"].as_str().unwrap())["roles"],
        json!(["customer"])
    );

    for role in ["auditor", "admin"] {
        ok(
            &app,
            Method::POST,
            &format!("/admin/users/{id}/roles"),
            &root,
            Some(json!({"role": role})),
            200,
        )
        .await;
    }
    // Granting twice is harmless.
    let user = ok(
        &app,
        Method::POST,
        &format!("/admin/users/{id}/roles"),
        &root,
        Some(json!({"role": "auditor"})),
        200,
    )
    .await;
    assert_eq!(user["roles"], json!(["admin", "auditor", "customer"]));
    let (status, next) = refresh(&app, pair["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{next}");
    let access = next["access_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_payload(&access)["roles"], json!(["admin", "auditor", "customer"]));
    // The new admin is in.
    ok(&app, Method::GET, "/admin/users", &access, None, 200).await;

    // Revoking the admin role shuts the door at once, even for the token that says "admin".
    ok(
        &app,
        Method::DELETE,
        &format!("/admin/users/{id}/roles/admin"),
        &root,
        None,
        200,
    )
    .await;
    assert_problem(
        app.authed(Method::GET, "/admin/users", &access, None).await,
        403,
        "forbidden",
    )
    .await;
    ok(
        &app,
        Method::DELETE,
        &format!("/admin/users/{id}/roles/auditor"),
        &root,
        None,
        200,
    )
    .await;
    let (status, last) = refresh(&app, next["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{last}");
    assert_eq!(
        jwt_payload(last["access_token"].as_str().unwrap())["roles"],
        json!(["customer"])
    );
}

#[tokio::test]
async fn admin_creates_edits_and_deletes_users_with_an_audit_trail() {
    let app = spawn_app().await;
    let root = admin_token(&app, "default", "root@example.com").await;
    let secret_password = "never-log-me-123";
    let created = call(
        &app,
        Method::POST,
        "/admin/users",
        &root,
        Some(
            json!({"email": "staff@example.com", "password": secret_password, "username": "staff",
                    "first_name": "Sam", "roles": ["admin", "customer"]}),
        ),
    )
    .await;
    assert_eq!(created.0, StatusCode::CREATED, "{}", created.1);
    let id = created.1["id"].as_str().unwrap().to_string();
    assert_eq!(created.1["roles"], json!(["admin", "customer"]));
    let pair = json_of(
        app.post_json(
            "/auth/login",
            &json!({"username": "staff", "password": secret_password}),
        )
        .await,
    )
    .await
    .1;
    let refresh_token = pair["refresh_token"].as_str().unwrap().to_string();
    let access_token = pair["access_token"].as_str().unwrap().to_string();

    let patched = ok(
        &app,
        Method::PATCH,
        &format!("/admin/users/{id}"),
        &root,
        Some(json!({"email_verified": true, "last_name": "Smith", "first_name": null})),
        200,
    )
    .await;
    assert_eq!(patched["email_verified"], true);
    assert_eq!(patched["last_name"], "Smith");
    assert_eq!(patched["first_name"], Value::Null);
    assert_problem(
        app.authed(
            Method::PATCH,
            &format!("/admin/users/{id}"),
            &root,
            Some(&json!({"email": "root@example.com"})),
        )
        .await,
        409,
        "email_taken",
    )
    .await;
    assert_problem(
        app.authed(
            Method::PATCH,
            &format!("/admin/users/{id}"),
            &root,
            Some(&json!({"password": "x"})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    for action in ["lock", "unlock", "disable", "enable"] {
        ok(
            &app,
            Method::POST,
            &format!("/admin/users/{id}/{action}"),
            &root,
            None,
            200,
        )
        .await;
    }
    ok(
        &app,
        Method::DELETE,
        &format!("/admin/users/{id}/roles/customer"),
        &root,
        None,
        200,
    )
    .await;
    ok(
        &app,
        Method::POST,
        &format!("/admin/users/{id}/roles"),
        &root,
        Some(json!({"role": "customer"})),
        200,
    )
    .await;
    // Disabling ended the earlier session; open a new one and end it through the admin API.
    let extra = json_of(
        app.post_json(
            "/auth/login",
            &json!({"email": "staff@example.com", "password": secret_password}),
        )
        .await,
    )
    .await
    .1;
    let revoked = ok(
        &app,
        Method::DELETE,
        &format!("/admin/users/{id}/sessions"),
        &root,
        None,
        200,
    )
    .await;
    assert_eq!(revoked["revoked"], 1);
    let (status, _) = refresh(&app, extra["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let events = ok(
        &app,
        Method::GET,
        &format!("/admin/users/{id}/events?limit=3"),
        &root,
        None,
        200,
    )
    .await;
    assert_eq!(events["items"].as_array().unwrap().len(), 3);
    assert!(events["next_cursor"].is_string());

    ok(&app, Method::DELETE, &format!("/admin/users/{id}"), &root, None, 204).await;
    assert_problem(
        app.authed(Method::GET, &format!("/admin/users/{id}"), &root, None)
            .await,
        404,
        "not_found",
    )
    .await;

    // The audit trail outlives the user, names the actor and holds no secret.
    let root_id = jwt_payload(&root)["sub"].as_str().unwrap().to_string();
    let mut all: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/events?limit=5&cursor={c}"),
            None => "/admin/events?limit=5".to_string(),
        };
        let page = ok(&app, Method::GET, &path, &root, None, 200).await;
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let about: Vec<&Value> = all.iter().filter(|e| e["subject_id"] == id.as_str()).collect();
    let names: HashSet<&str> = about.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for expected in [
        "admin.user.created",
        "admin.user.updated",
        "user.locked",
        "user.unlocked",
        "user.disabled",
        "user.enabled",
        "role.granted",
        "role.revoked",
        "session.revoked",
        "admin.user.deleted",
    ] {
        assert!(names.contains(expected), "missing {expected} in {names:?}");
    }
    for e in about
        .iter()
        .filter(|e| e["event"].as_str().unwrap().starts_with("admin."))
    {
        assert_eq!(e["actor_id"], root_id.as_str(), "{e}");
        assert!(e["ip"].is_string(), "{e}");
    }
    let text = serde_json::to_string(&all).unwrap();
    for secret in [secret_password, PASSWORD, &refresh_token, &access_token, &root] {
        assert!(!text.contains(secret), "an audit event holds a secret");
    }
}

#[tokio::test]
async fn tenant_client_and_role_actions_are_audited_without_secrets() {
    let app = spawn_app().await;
    let root = admin_token(&app, "default", "root@example.com").await;
    crate::admin_support::make_tenant(&app, &root, "acme").await;
    ok(
        &app,
        Method::PATCH,
        "/admin/tenants/acme",
        &root,
        Some(json!({"name": "ACME"})),
        200,
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/admin/roles",
        &root,
        Some(json!({"name": "ops", "tenant": "acme"})),
        201,
    )
    .await;
    ok(&app, Method::DELETE, "/admin/roles/ops?tenant=acme", &root, None, 204).await;
    let client = ok(
        &app,
        Method::POST,
        "/admin/clients",
        &root,
        Some(
            json!({"name": "acme api", "public": false, "grant_types": ["client_credentials"],
                    "scopes": [], "audiences": [], "tenant": "acme"}),
        ),
        201,
    )
    .await;
    let cid = client["client_id"].as_str().unwrap();
    let first = client["client_secret"].as_str().unwrap().to_string();
    let rotated = ok(
        &app,
        Method::POST,
        &format!("/admin/clients/{cid}/secret"),
        &root,
        None,
        200,
    )
    .await;
    let second = rotated["client_secret"].as_str().unwrap().to_string();
    ok(
        &app,
        Method::PATCH,
        &format!("/admin/clients/{cid}"),
        &root,
        Some(json!({"name": "n"})),
        200,
    )
    .await;
    ok(&app, Method::DELETE, &format!("/admin/clients/{cid}"), &root, None, 204).await;
    ok(&app, Method::DELETE, "/admin/tenants/acme", &root, None, 204).await;

    let events = ok(
        &app,
        Method::GET,
        "/admin/events?limit=200&tenant=acme",
        &root,
        None,
        200,
    )
    .await;
    let names: HashSet<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for expected in [
        "tenant.created",
        "tenant.updated",
        "role.created",
        "role.deleted",
        "client.created",
        "client.secret_rotated",
        "client.updated",
        "client.deleted",
        "tenant.deleted",
    ] {
        assert!(names.contains(expected), "missing {expected} in {names:?}");
    }
    let text = events.to_string();
    assert!(!text.contains(&first) && !text.contains(&second) && !text.contains(&root));
}
