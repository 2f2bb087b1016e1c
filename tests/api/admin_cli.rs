//! `portcullis users grant-role` and `users set-password`, run against a live server's database.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin_support::{PASSWORD, jwt_payload, login, make_user};
use crate::helpers::{assert_problem, json_of, spawn_app};

fn run(env: HashMap<String, String>, args: Vec<&'static str>, stdin: Option<&'static str>) -> (bool, String, String) {
    crate::cli::run(&env, &args, stdin)
}

async fn cli(
    app: &crate::helpers::TestApp,
    args: Vec<&'static str>,
    stdin: Option<&'static str>,
) -> (bool, String, String) {
    let env = app.env.clone();
    tokio::task::spawn_blocking(move || run(env, args, stdin))
        .await
        .unwrap()
}

#[tokio::test]
async fn grant_role_and_set_password_from_the_command_line() {
    let app = spawn_app().await;
    make_user(&app, "default", "ops@example.com", &["customer"]).await;
    let before = login(&app, "default", "ops@example.com").await;

    let (ok, out, err) = cli(
        &app,
        vec!["users", "grant-role", "--email", "OPS@example.com", "--role", "admin"],
        None,
    )
    .await;
    assert!(ok, "{err}");
    let user: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(user["roles"], json!(["admin", "customer"]));
    let (ok, _, err) = cli(
        &app,
        vec!["users", "grant-role", "--email", "ops@example.com", "--role", "wizard"],
        None,
    )
    .await;
    assert!(!ok && err.contains("role"), "{err}");
    let (ok, _, err) = cli(
        &app,
        vec![
            "users",
            "grant-role",
            "--email",
            "nobody@example.com",
            "--role",
            "admin",
        ],
        None,
    )
    .await;
    assert!(!ok && err.contains("nobody@example.com"), "{err}");

    let (ok, out, err) = cli(
        &app,
        vec![
            "users",
            "set-password",
            "--email",
            "ops@example.com",
            "--password-stdin",
        ],
        Some("a brand new password\n"),
    )
    .await;
    assert!(ok, "{err}");
    assert!(!out.contains("a brand new password"));
    let (ok, _, err) = cli(
        &app,
        vec![
            "users",
            "set-password",
            "--email",
            "ops@example.com",
            "--password-stdin",
        ],
        Some("short\n"),
    )
    .await;
    assert!(!ok && err.contains("password"), "{err}");

    // The old password and the old session are gone; the new password logs in as an admin.
    let res = app
        .post_json(
            "/auth/login",
            &json!({"email": "ops@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(res, 401, "invalid_credentials").await;
    let (status, _) = json_of(
        app.post_json("/auth/refresh", &json!({"refresh_token": before["refresh_token"]}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, pair) = json_of(
        app.post_json(
            "/auth/login",
            &json!({"email": "ops@example.com", "password": "a brand new password"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    assert_eq!(
        jwt_payload(pair["access_token"].as_str().unwrap())["roles"],
        json!(["admin", "customer"])
    );
}
