//! The `portcullis` binary's subcommands, run against the same database as a live server.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{json_of, spawn_app};
use crate::oauth_support::{issuer, post_form, verify};

/// Runs the binary with exactly `env`; returns success, stdout and stderr.
pub fn run(env: &HashMap<String, String>, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.args(args).env_clear().envs(env).env("RUST_LOG", "error");
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn json_line(stdout: &str) -> Value {
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test]
async fn users_create_works_while_the_server_runs() {
    let app = spawn_app().await;
    let env = app.env.clone();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        run(
            &env,
            &[
                "users",
                "create",
                "--email",
                "ops@example.com",
                "--password-stdin",
                "--username",
                "ops",
                "--role",
                "admin",
            ],
            Some("an admin password\n"),
        )
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    let user = json_line(&out);
    assert_eq!(user["email"], "ops@example.com");
    assert_eq!(user["roles"], json!(["admin"]));
    let res = app
        .post_json(
            "/auth/login",
            &json!({"username": "ops", "password": "an admin password"}),
        )
        .await;
    let (status, tokens) = json_of(res).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let claims = verify(&app, tokens["access_token"].as_str().unwrap(), &issuer(&app)).await;
    assert_eq!(claims["roles"], json!(["admin"]));
    // A duplicate and a weak password fail with a message and a non-zero exit.
    let env = app.env.clone();
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        run(
            &env,
            &["users", "create", "--email", "OPS@example.com", "--password-stdin"],
            Some("another password\n"),
        )
    })
    .await
    .unwrap();
    assert!(!ok && err.contains("email"), "{err}");
    let env = app.env.clone();
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        run(
            &env,
            &["users", "create", "--email", "x@example.com", "--password-stdin"],
            Some("short\n"),
        )
    })
    .await
    .unwrap();
    assert!(!ok && err.contains("password"), "{err}");
}

#[tokio::test]
async fn clients_create_list_rotate_delete() {
    let app = spawn_app().await;
    let env = app.env.clone();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        run(
            &env,
            &[
                "clients",
                "create",
                "--name",
                "billing",
                "--grant",
                "client_credentials",
                "--scope",
                "invoices:read",
            ],
            None,
        )
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    let client = json_line(&out);
    let (id, secret) = (
        client["client_id"].as_str().unwrap().to_string(),
        client["client_secret"].as_str().unwrap().to_string(),
    );
    let form = [("grant_type", "client_credentials")];
    let (status, body) = json_of(post_form(&app, "/oauth/token", &form, Some((&id, &secret))).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "invoices:read");
    // A public client gets no secret.
    let env = app.env.clone();
    let (ok, out, _) =
        tokio::task::spawn_blocking(move || run(&env, &["clients", "create", "--name", "spa", "--public"], None))
            .await
            .unwrap();
    assert!(ok);
    assert!(json_line(&out).get("client_secret").is_none());
    // list shows both (and the built-in one), without secrets.
    let env = app.env.clone();
    let (ok, out, _) = tokio::task::spawn_blocking(move || run(&env, &["clients", "list"], None))
        .await
        .unwrap();
    assert!(ok);
    assert_eq!(out.lines().count(), 3);
    assert!(!out.contains(&secret) && !out.contains("client_secret"));
    // rotate-secret: the old secret stops working, the new one works.
    let (env, cid) = (app.env.clone(), id.clone());
    let (ok, out, _) = tokio::task::spawn_blocking(move || run(&env, &["clients", "rotate-secret", &cid], None))
        .await
        .unwrap();
    assert!(ok);
    let new_secret = json_line(&out)["client_secret"].as_str().unwrap().to_string();
    assert_eq!(
        post_form(&app, "/oauth/token", &form, Some((&id, &secret)))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_form(&app, "/oauth/token", &form, Some((&id, &new_secret)))
            .await
            .status(),
        StatusCode::OK
    );
    // delete
    let (env, cid) = (app.env.clone(), id.clone());
    let (ok, _, _) = tokio::task::spawn_blocking(move || run(&env, &["clients", "delete", &cid], None))
        .await
        .unwrap();
    assert!(ok);
    assert_eq!(
        post_form(&app, "/oauth/token", &form, Some((&id, &new_secret)))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // The built-in client cannot be deleted; bad grants are refused.
    let env = app.env.clone();
    let (ok, _, _) = tokio::task::spawn_blocking(move || run(&env, &["clients", "delete", "portcullis"], None))
        .await
        .unwrap();
    assert!(!ok);
    let env = app.env.clone();
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        run(&env, &["clients", "create", "--name", "x", "--grant", "implicit"], None)
    })
    .await
    .unwrap();
    assert!(!ok && err.contains("grant"), "{err}");
}

#[tokio::test]
async fn keys_list_and_rotate() {
    let app = spawn_app().await;
    let env = app.env.clone();
    let (ok, out, err) = tokio::task::spawn_blocking(move || run(&env, &["keys", "rotate"], None))
        .await
        .unwrap();
    assert!(ok, "{err}");
    let keys = json_line(&out);
    let statuses: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"active") && statuses.contains(&"pending"),
        "{statuses:?}"
    );
    assert!(!out.contains("private"));
    // The running server publishes the pending key after its next reload.
    app.state.domain.keys.reload().await.unwrap();
    let jwks = crate::oauth_support::jwks(&app).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let env = app.env.clone();
    let (ok, out, _) = tokio::task::spawn_blocking(move || run(&env, &["keys", "list"], None))
        .await
        .unwrap();
    assert!(ok);
    assert_eq!(json_line(&out).as_array().unwrap().len(), 2);
}

#[test]
fn help_lists_the_subcommands_and_bad_config_names_the_variable() {
    let env: HashMap<String, String> = HashMap::new();
    let (ok, out, _) = run(&env, &["--help"], None);
    assert!(ok);
    for sub in ["serve", "migrate", "keys", "users", "clients", "purge"] {
        assert!(out.contains(sub), "{sub} missing from --help");
    }
    let env: HashMap<String, String> = [("PORTCULLIS_ACCESS_TOKEN_TTL".to_string(), "forever".to_string())].into();
    let (ok, _, err) = run(&env, &["migrate"], None);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("PORTCULLIS_ACCESS_TOKEN_TTL"), "{err}");
}
