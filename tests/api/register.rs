use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, json_of, spawn_app};

#[tokio::test]
async fn sign_up_creates_a_customer() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/auth/register",
            &json!({"email": "Jane@Example.com", "password": "s3cret-pass", "username": "jane", "first_name": "Jane", "last_name": "Doe"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers().get("location").unwrap().to_str().unwrap().to_string();
    let (_, user) = json_of(res).await;
    assert!(location.ends_with(user["id"].as_str().unwrap()));
    assert_eq!(user["email"], "Jane@Example.com");
    assert_eq!(user["username"], "jane");
    assert_eq!(user["first_name"], "Jane");
    assert_eq!(user["roles"], json!(["customer"]));
    assert_eq!(user["tenant"], "default");
    assert_eq!(user["status"], "active");
    assert_eq!(user["email_verified"], false);
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());
    // UUIDv7: version nibble 7.
    assert_eq!(&user["id"].as_str().unwrap()[14..15], "7");
}

#[tokio::test]
async fn sign_up_never_grants_a_requested_role() {
    let app = spawn_app().await;
    for (i, body) in [
        json!({"email": "a@example.com", "password": "password-1", "role": "admin"}),
        json!({"email": "b@example.com", "password": "password-1", "roles": ["admin"]}),
    ]
    .iter()
    .enumerate()
    {
        let (status, user) = json_of(app.post_json("/auth/register", body).await).await;
        assert_eq!(status, StatusCode::CREATED, "case {i}");
        assert_eq!(user["roles"], json!(["customer"]), "case {i}");
    }
}

#[tokio::test]
async fn duplicate_email_and_username_conflict() {
    let app = spawn_app().await;
    let first = json!({"email": "dup@example.com", "password": "password-1", "username": "dupe"});
    assert_eq!(
        app.post_json("/auth/register", &first).await.status(),
        StatusCode::CREATED
    );
    let same_email_other_case = json!({"email": "DUP@example.COM", "password": "password-1"});
    assert_problem(
        app.post_json("/auth/register", &same_email_other_case).await,
        409,
        "email_taken",
    )
    .await;
    let same_username = json!({"email": "other@example.com", "password": "password-1", "username": "DUPE"});
    assert_problem(
        app.post_json("/auth/register", &same_username).await,
        409,
        "username_taken",
    )
    .await;
}

#[tokio::test]
async fn concurrent_duplicate_sign_ups_create_one_user() {
    let app = spawn_app().await;
    let body = json!({"email": "race@example.com", "password": "password-1"});
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, url, body) = (app.client.clone(), app.url("/auth/register"), body.clone());
            tokio::spawn(async move { client.post(url).json(&body).send().await.unwrap().status() })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        let s = t.await.unwrap();
        assert!(s == StatusCode::CREATED || s == StatusCode::CONFLICT, "{s}");
        created += usize::from(s == StatusCode::CREATED);
    }
    assert_eq!(created, 1);
}

#[tokio::test]
async fn invalid_fields_are_reported_per_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"email": "not-an-email", "password": "password-1"}),
            "email",
            "invalid_email",
        ),
        (
            json!({"email": "a@example.com", "password": "short"}),
            "password",
            "too_short",
        ),
        (
            json!({"email": "a@example.com", "password": "x".repeat(129)}),
            "password",
            "too_long",
        ),
        (
            json!({"email": "a@example.com", "password": "A@example.com"}),
            "password",
            "same_as_email",
        ),
        (
            json!({"email": "a@example.com", "password": "password-1", "username": "x"}),
            "username",
            "invalid_length",
        ),
        (
            json!({"email": "a@example.com", "password": 12345678}),
            "password",
            "invalid_type",
        ),
        (
            json!({"email": ["a@example.com"], "password": "password-1"}),
            "email",
            "invalid_type",
        ),
        (json!(["a@example.com"]), "body", "invalid_type"),
        (
            json!({"email": "a@example.com", "password": "password-1", "is_admin": true}),
            "is_admin",
            "unknown_field",
        ),
        (json!({"password": "password-1"}), "email", "missing_field"),
    ];
    for (body, field, code) in cases {
        let problem = assert_problem(app.post_json("/auth/register", &body).await, 422, "validation_failed").await;
        let errors = problem["errors"].as_array().unwrap();
        assert!(
            errors.iter().any(|e| e["field"] == field && e["code"] == code),
            "{body} -> {problem}"
        );
    }
}

#[tokio::test]
async fn malformed_bodies_are_client_errors() {
    let app = spawn_app().await;
    let send = |ct: &'static str, body: Vec<u8>| {
        app.client
            .post(app.url("/auth/register"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_problem(
        send("application/json", b"{\"email\": ".to_vec()).await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        send("application/json", b"\xff\xfe".to_vec()).await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        send("application/json", b"{} trailing".to_vec()).await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        send("text/plain", b"{}".to_vec()).await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    assert_problem(
        send("application/x-www-form-urlencoded", b"email=a".to_vec())
            .await
            .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let huge = format!(
        "{{\"email\": \"a@b.co\", \"password\": \"{}\"}}",
        "x".repeat(200 * 1024)
    );
    assert_problem(
        send("application/json", huge.into_bytes()).await.unwrap(),
        413,
        "body_too_large",
    )
    .await;
}

#[tokio::test]
async fn sql_metacharacters_are_plain_data() {
    let app = spawn_app().await;
    let email = "o'brien+\"; DROP TABLE users;--@example.com";
    let (status, body) = json_of(
        app.post_json("/auth/register", &json!({"email": email, "password": "password-1"}))
            .await,
    )
    .await;
    // The quote and semicolon make it an invalid address; what matters is a clean 4xx and
    // an intact users table afterwards.
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let ok = json!({"email": "o'brien@example.com", "password": "pass'word--;", "first_name": "Robert'); DROP TABLE users;--"});
    let (status, user) = json_of(app.post_json("/auth/register", &ok).await).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["first_name"], "Robert'); DROP TABLE users;--");
    assert_problem(app.post_json("/auth/register", &ok).await, 409, "email_taken").await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_problems() {
    let app = spawn_app().await;
    assert_problem(app.client.get(app.url("/nope")).send().await.unwrap(), 404, "not_found").await;
    assert_problem(
        app.client.get(app.url("/auth/register")).send().await.unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn committed_users_survive_a_restart_and_migrations_do_not_rerun() {
    let app = spawn_app().await;
    app.register("keep@example.com", "password-1").await;
    let env = app.env.clone();
    // A second server on the same database: migrations are already applied, the user is there.
    let second = crate::helpers::start(env).await;
    let (shutdown, rx) = tokio::sync::oneshot::channel::<()>();
    let addr = format!("http://{}", second.address());
    tokio::spawn(second.run_until(async {
        let _ = rx.await;
    }));
    let res = app
        .client
        .post(format!("{addr}/auth/register"))
        .json(&json!({"email": "KEEP@example.com", "password": "password-1"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "email_taken").await;
    let _ = shutdown.send(());
}
