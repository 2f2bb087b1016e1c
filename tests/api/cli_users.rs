//! `portcullis users list|disable|enable|lock|unlock`: the admin API's domain calls, audited.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::admin_support::{PASSWORD, admin_token, make_user, ok};
use crate::cli::json_lines;
use crate::helpers::{TestApp, spawn_app};

async fn cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let env = app.env.clone();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::cli::run(&env, &args, None)
    })
    .await
    .unwrap()
}

async fn login_status(app: &TestApp, email: &str) -> StatusCode {
    app.post_json("/auth/login", &json!({"email": email, "password": PASSWORD}))
        .await
        .status()
}

async fn event_names(app: &TestApp, root: &str, id: &str) -> Vec<(String, String)> {
    let page = ok(app, Method::GET, &format!("/admin/users/{id}/events"), root, None, 200).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default().to_string(),
                e["actor_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn users_list_prints_one_user_per_line_with_filters() {
    let app = spawn_app().await;
    make_user(&app, "default", "ann@example.com", &["customer"]).await;
    make_user(&app, "default", "bob@example.com", &["admin"]).await;
    let (ok, out, err) = cli(&app, &["users", "list"]).await;
    assert!(ok, "{err}");
    let users = json_lines(&out);
    assert_eq!(users.len(), 2, "{out}");
    assert!(users.iter().all(|u| u.get("password_hash").is_none()));
    let (_, out, _) = cli(&app, &["users", "list", "--role", "admin"]).await;
    let admins = json_lines(&out);
    assert_eq!(admins.len(), 1);
    assert_eq!(admins[0]["email"], "bob@example.com");
    let (_, out, _) = cli(&app, &["users", "list", "--q", "ann"]).await;
    assert_eq!(json_lines(&out)[0]["email"], "ann@example.com");
    let (ok, _, err) = cli(&app, &["users", "list", "--status", "sleeping"]).await;
    assert!(!ok && err.contains("status"), "{err}");
}

#[tokio::test]
async fn users_disable_and_enable_are_audited_and_take_effect() {
    let app = spawn_app().await;
    let root = admin_token(&app, "default", "root@example.com").await;
    let id = make_user(&app, "default", "ann@example.com", &["customer"]).await;
    let (ok, out, err) = cli(&app, &["users", "disable", "--email", "ann@example.com"]).await;
    assert!(ok, "{err}");
    let user: Value = json_lines(&out).remove(0);
    assert_eq!(user["status"], "disabled");
    assert_eq!(login_status(&app, "ann@example.com").await, StatusCode::FORBIDDEN);
    let (ok, out, err) = cli(&app, &["users", "enable", "--email", "ANN@example.com"]).await;
    assert!(ok, "{err}");
    assert_eq!(json_lines(&out)[0]["status"], "active");
    assert_eq!(login_status(&app, "ann@example.com").await, StatusCode::OK);
    let events = event_names(&app, &root, &id).await;
    for name in ["user.disabled", "user.enabled"] {
        assert!(
            events.iter().any(|(n, actor)| n == name && actor == "cli"),
            "{name} by cli missing: {events:?}"
        );
    }
    let (ok, _, err) = cli(&app, &["users", "disable", "--email", "nobody@example.com"]).await;
    assert!(!ok && err.contains("nobody@example.com"), "{err}");
}

#[tokio::test]
async fn users_lock_and_unlock_reach_the_server_through_redis_or_say_why_not() {
    let app = spawn_app().await;
    let root = admin_token(&app, "default", "root@example.com").await;
    let id = make_user(&app, "default", "ann@example.com", &["customer"]).await;
    let (ok, out, err) = cli(&app, &["users", "lock", "--email", "ann@example.com"]).await;
    if !app.env.contains_key("REDIS_URL") {
        // In-process counters live in the server's memory: the CLI says so instead of
        // pretending to lock.
        assert!(!ok && err.contains("REDIS_URL"), "{err}");
        assert_eq!(login_status(&app, "ann@example.com").await, StatusCode::OK);
        return;
    }
    assert!(ok, "{err}");
    assert!(json_lines(&out)[0]["locked_for"].as_u64().unwrap() > 0, "{out}");
    assert_eq!(login_status(&app, "ann@example.com").await, StatusCode::FORBIDDEN);
    let (ok, out, err) = cli(&app, &["users", "unlock", "--email", "ann@example.com"]).await;
    assert!(ok, "{err}");
    assert_eq!(json_lines(&out)[0]["locked_for"], Value::Null);
    assert_eq!(login_status(&app, "ann@example.com").await, StatusCode::OK);
    let events = event_names(&app, &root, &id).await;
    for name in ["user.locked", "user.unlocked"] {
        assert!(
            events.iter().any(|(n, actor)| n == name && actor == "cli"),
            "{name} by cli missing: {events:?}"
        );
    }
}
