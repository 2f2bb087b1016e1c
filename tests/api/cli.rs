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
    assert_eq!(json_lines(&out).len(), 3, "one client per line: {out}");
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

/// Every line of stdout as JSON (lists print one object per line).
pub fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

async fn cli(app: &crate::helpers::TestApp, args: &[&str]) -> (bool, String, String) {
    let env = app.env.clone();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&env, &args, None)
    })
    .await
    .unwrap()
}

fn kid_with_status(keys: &[Value], status: &str) -> Vec<String> {
    keys.iter()
        .filter(|k| k["status"] == status)
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn keys_list_and_rotate() {
    let app = spawn_app().await;
    let (ok, out, err) = cli(&app, &["keys", "rotate"]).await;
    assert!(ok, "{err}");
    let keys = json_lines(&out);
    assert_eq!(kid_with_status(&keys, "active").len(), 1, "{out}");
    assert_eq!(kid_with_status(&keys, "pending").len(), 1, "{out}");
    assert!(!out.contains("private"));
    // The running server publishes the pending key after its next reload.
    app.state.domain.keys.reload().await.unwrap();
    let jwks = crate::oauth_support::jwks(&app).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let (ok, out, _) = cli(&app, &["keys", "list"]).await;
    assert!(ok);
    assert_eq!(json_lines(&out).len(), 2, "one key per line: {out}");
}

#[tokio::test]
async fn keys_rotate_now_does_what_its_help_says_and_revoke_removes_a_key() {
    let app = spawn_app().await;
    let (_, help, _) = cli(&app, &["keys", "rotate", "--help"]).await;
    assert!(
        help.contains("the pending one, or a new one when none is pending"),
        "{help}"
    );
    let (_, out, _) = cli(&app, &["keys", "list"]).await;
    let first = kid_with_status(&json_lines(&out), "active");
    let (ok, out, err) = cli(&app, &["keys", "rotate"]).await;
    assert!(ok, "{err}");
    let pending = kid_with_status(&json_lines(&out), "pending");
    assert_eq!(pending.len(), 1);

    // With a key pending, --now makes that key sign, as the help says, and makes no other.
    let (ok, out, err) = cli(&app, &["keys", "rotate", "--now"]).await;
    assert!(ok, "{err}");
    let keys = json_lines(&out);
    assert_eq!(kid_with_status(&keys, "active"), pending, "{out}");
    assert_eq!(kid_with_status(&keys, "retired"), first, "{out}");
    assert!(kid_with_status(&keys, "pending").is_empty(), "{out}");
    // With none pending, --now makes a new key sign at once.
    let (ok, out, err) = cli(&app, &["keys", "rotate", "--now"]).await;
    assert!(ok, "{err}");
    let keys = json_lines(&out);
    let active = kid_with_status(&keys, "active");
    assert_eq!(keys.len(), 3, "{out}");
    assert!(!first.contains(&active[0]) && !pending.contains(&active[0]), "{out}");
    app.state.domain.keys.reload().await.unwrap();
    assert_eq!(app.state.domain.keys.active_kid(), Some(active[0].clone()));

    // Revoke: the key leaves the JWKS at once; a second revoke is refused with a message.
    let (ok, out, err) = cli(&app, &["keys", "revoke", &first[0]]).await;
    assert!(ok, "{err}");
    assert_eq!(json_lines(&out), vec![json!({"revoked": first[0]})]);
    app.state.domain.keys.reload().await.unwrap();
    let jwks = crate::oauth_support::jwks(&app).await;
    assert!(!jwks.to_string().contains(&first[0]), "{jwks}");
    let (ok, _, err) = cli(&app, &["keys", "revoke", &first[0]]).await;
    assert!(!ok && err.contains(&first[0]), "{err}");
}

#[tokio::test]
async fn a_closed_stdout_ends_a_list_quietly() {
    let app = spawn_app().await;
    let env = app.env.clone();
    let (status, err) = tokio::task::spawn_blocking(move || {
        // `portcullis clients list | head -0`: the reader is gone before the first line.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["clients", "list"])
            .env_clear()
            .envs(&env)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        (out.status, String::from_utf8_lossy(&out.stderr).to_string())
    })
    .await
    .unwrap();
    assert!(status.success(), "{status}: {err}");
    assert_eq!(err, "", "nothing on stderr");
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

#[test]
fn help_shows_each_default_once_and_says_what_purge_removes() {
    let env: HashMap<String, String> = HashMap::new();
    let (ok, out, _) = run(&env, &["clients", "create", "--help"], None);
    assert!(ok);
    assert_eq!(out.matches("[default: default]").count(), 1, "{out}");
    assert!(!out.contains("(default"), "{out}");
    let (ok, out, _) = run(&env, &["purge", "--help"], None);
    assert!(ok);
    for what in ["expired sessions", "revoked", "password-reset", "email-verification"] {
        assert!(out.contains(what), "purge --help should name {what}: {out}");
    }
    for sub in [
        vec!["users", "--help"],
        vec!["keys", "--help"],
        vec!["users", "lock", "--help"],
    ] {
        let (ok, out, _) = run(&env, &sub, None);
        assert!(ok, "{sub:?}");
        assert!(!out.contains("(default"), "{sub:?}: {out}");
    }
    let (_, out, _) = run(&env, &["users", "--help"], None);
    for cmd in ["list", "disable", "enable", "lock", "unlock"] {
        assert!(out.contains(cmd), "users {cmd} missing: {out}");
    }
}

#[test]
fn bad_start_settings_get_one_line_naming_them() {
    let dir = std::env::temp_dir().join(format!("portcullis-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("portcullis.toml");
    std::fs::write(&file, "acess_token_ttl = \"5m\"\n").unwrap();
    let data = dir.to_str().unwrap().to_string();
    let cases = [
        (
            vec![("PORTCULLIS_CONFIG", file.to_str().unwrap())],
            "unknown key acess_token_ttl (did you mean access_token_ttl?)",
        ),
        (vec![("REDIS_URL", "banana")], "REDIS_URL: must be a URL like redis://"),
    ];
    for (vars, want) in cases {
        let mut env: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.insert("PORTCULLIS_DATA_DIR".into(), data.clone());
        let (ok, _, err) = run(&env, &["migrate"], None);
        assert!(!ok);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn serve_warns_when_clients_cannot_reach_the_issuer() {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("portcullis-serve-{}", uuid::Uuid::new_v4()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("serve")
        .env_clear()
        .env("PORTCULLIS_LISTEN", "0.0.0.0:0")
        .env("PORTCULLIS_DATA_DIR", dir.join("data"))
        .env("PORTCULLIS_KEYS_DIR", dir.join("keys"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The warnings are logged before the start lines; read up to the issuer line.
    let mut seen = String::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("issuer:") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(seen.contains("issuer:    http://0.0.0.0:"), "{seen}");
    assert!(seen.contains("names no reachable host"), "{seen}");
    assert!(seen.contains("serving plain http on 0.0.0.0:"), "{seen}");
}
