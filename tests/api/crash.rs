//! The real binary, killed mid-traffic and restarted: committed users survive, a second start
//! does not re-run migrations, and SIGTERM shuts down cleanly.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestResources;

fn start_binary(env: &HashMap<String, String>) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("serve")
        .env_clear()
        .envs(env)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(rest) = line.strip_prefix("portcullis listening on ") {
            break rest.trim().to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, address)
}

#[tokio::test]
async fn killing_the_server_mid_traffic_loses_no_committed_user() {
    let resources = TestResources::new().await;
    let mut env = resources.env();
    // Hundreds of sign-ups from one address would otherwise hit the per-IP sign-up limit.
    env.insert("PORTCULLIS_SIGNUPS_PER_IP".into(), "100000/1h".into());
    let (mut child, address) = tokio::task::spawn_blocking({
        let env = env.clone();
        move || start_binary(&env)
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let created = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Sign-ups in flight while the process is killed with SIGKILL.
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (client, url, created) = (client.clone(), format!("{address}/auth/register"), created.clone());
            tokio::spawn(async move {
                let body = json!({"email": format!("crash{i}@example.com"), "password": "password-123"});
                let status = client.post(url).json(&body).send().await.ok().map(|r| r.status());
                if status == Some(StatusCode::CREATED) {
                    created.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                (i, status)
            })
        })
        .collect();
    while created.load(std::sync::atomic::Ordering::SeqCst) < 10 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut committed = Vec::new();
    for t in tasks {
        if let (i, Some(StatusCode::CREATED)) = t.await.unwrap() {
            committed.push(i);
        }
    }
    assert!(
        committed.len() >= 10 && committed.len() < 200,
        "the kill landed mid-traffic: {}",
        committed.len()
    );
    // Restart on the same database: migrations are not re-run, every 201 is still there.
    let (mut child, address) = tokio::task::spawn_blocking({
        let env = env.clone();
        move || start_binary(&env)
    })
    .await
    .unwrap();
    for i in committed {
        let body = json!({"email": format!("crash{i}@example.com"), "password": "password-123"});
        let res = client
            .post(format!("{address}/auth/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::CONFLICT,
            "user {i} got 201 before the kill and must exist"
        );
        let res = client
            .post(format!("{address}/auth/login"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "user {i} can log in after the restart");
    }
    // SIGTERM: graceful shutdown with exit status 0.
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
}
