//! What a client can make the server log: one line per failure, nothing personal, no noise.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::helpers::{TestApp, spawn_app};
use crate::logs::LogBuf;
use crate::oauth_support::PASSWORD;

/// Breaks the audit table behind the server's back, so every sign-up fails inside.
async fn break_audit_table(app: &TestApp) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.resources.database_url).await.unwrap();
    sqlx::query("ALTER TABLE audit_events RENAME TO audit_events_gone")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// Lines captured for one request (its id is in the span of every line it writes).
async fn lines_of(logs: &LogBuf, request_id: &str, want: &str) -> Vec<String> {
    // The server logs on its own tasks: give a line a moment to arrive.
    for _ in 0..40 {
        if logs.text().contains(want) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    logs.text()
        .lines()
        .filter(|l| l.contains(request_id))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_500_writes_one_error_line() {
    let Some(logs) = LogBuf::global() else {
        eprintln!("log capture unavailable: another global subscriber is installed (TEST_LOG?)");
        return;
    };
    let app = spawn_app().await;
    break_audit_table(&app).await;
    let id = format!("noise-{}", uuid::Uuid::new_v4());
    let res = app
        .client
        .post(app.url("/auth/register"))
        .header("x-request-id", &id)
        .json(&json!({"email": "five@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let lines = lines_of(logs, &id, "internal error").await;
    let errors: Vec<&String> = lines.iter().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "one ERROR line per 500, with its cause: {lines:#?}");
    assert!(
        errors[0].contains("audit_events"),
        "the line names the cause: {}",
        errors[0]
    );
}

#[tokio::test]
async fn a_sign_up_asking_for_a_role_is_not_logged_at_info() {
    let Some(logs) = LogBuf::global() else {
        eprintln!("log capture unavailable: another global subscriber is installed (TEST_LOG?)");
        return;
    };
    let app = spawn_app().await;
    let id = format!("role-{}", uuid::Uuid::new_v4());
    let res = app
        .client
        .post(app.url("/auth/register"))
        .header("x-request-id", &id)
        .json(&json!({"email": "climber@example.com", "password": PASSWORD, "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // The handler logs before it answers, so anything it wrote is captured by now.
    let lines = lines_of(logs, &id, &id).await;
    assert!(
        !lines.iter().any(|l| l.contains("asked for a role")),
        "client-controlled noise at INFO: {lines:#?}"
    );
}
