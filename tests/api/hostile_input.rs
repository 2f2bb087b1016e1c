//! Hostile input that once got through: NUL characters (a 500 on PostgreSQL, stored on
//! SQLite) and lax JSON (arrays for objects, repeated keys, foreign charsets, deep nesting).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::admin_support::{admin_token, call};
use crate::helpers::{TestApp, assert_problem, json_of, spawn_app, spawn_app_with};
use crate::oauth_support::{PASSWORD, make_client, post_form, signed_in};

/// Sends `body` as raw bytes with a content type.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    ctype: &str,
    body: &str,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header("content-type", ctype)
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn field_error(res: reqwest::Response, code: &str) -> Value {
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    body
}

#[tokio::test]
async fn nul_characters_are_refused_on_every_route_and_never_stored() {
    let app = spawn_app().await;
    let root = admin_token(&app, "default", "root@example.com").await;
    let nul = "a\u{0}b";

    // Logins with NUL name no account: refused like an unknown one (and counted, see below).
    for body in [
        json!({"email": "a\u{0}@x.com", "password": PASSWORD}),
        json!({"username": nul, "password": PASSWORD}),
    ] {
        assert_problem(app.post_json("/auth/login", &body).await, 401, "invalid_credentials").await;
    }
    let tenant = json!({"email": "root@example.com", "password": PASSWORD, "tenant": nul});
    field_error(app.post_json("/auth/login", &tenant).await, "nul_character").await;
    let forgot = json!({"email": "root@example.com", "tenant": nul});
    field_error(app.post_json("/auth/password/forgot", &forgot).await, "nul_character").await;
    let signup = json!({"email": "n@example.com", "password": PASSWORD, "first_name": nul});
    field_error(app.post_json("/auth/register", &signup).await, "nul_character").await;

    // The token endpoint: a NUL client_id is malformed, a NUL username a failed login.
    let client = make_client(&app, true, &["password"], &[]).await;
    let (status, body) = json_of(
        post_form(
            &app,
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("client_id", "x\u{0}"),
                ("username", "u"),
                ("password", PASSWORD),
            ],
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );
    let (status, body) = json_of(
        post_form(
            &app,
            "/oauth/token",
            &[
                ("grant_type", "password"),
                ("client_id", &client.client_id),
                ("username", nul),
                ("password", PASSWORD),
            ],
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );

    // Admin queries, bodies and path ids.
    for path in ["/admin/users?q=a%00", "/admin/users?role=admin%00"] {
        assert_problem(app.authed(Method::GET, path, &root, None).await, 400, "invalid_query").await;
    }
    let client_body = json!({"name": nul, "grant_types": ["client_credentials"]});
    field_error(
        app.authed(Method::POST, "/admin/clients", &root, Some(&client_body))
            .await,
        "nul_character",
    )
    .await;
    for (method, path) in [
        (Method::DELETE, "/admin/roles/a%00"),
        (Method::GET, "/admin/clients/a%00"),
        (Method::GET, "/admin/tenants/a%00"),
        (Method::POST, "/admin/keys/a%00/revoke"),
        (Method::GET, "/admin/users/a%00"),
    ] {
        assert_problem(app.authed(method, path, &root, None).await, 400, "invalid_path").await;
    }

    // Nothing with a NUL reached the database, on either backend.
    let (_, clients) = call(&app, Method::GET, "/admin/clients?limit=200", &root, None).await;
    let (_, users) = call(&app, Method::GET, "/admin/users?limit=200", &root, None).await;
    let events = app.state.domain.store.events(None, None, None, 1000).await.unwrap();
    let stored = format!("{clients}{users}{}", serde_json::to_string(&events).unwrap());
    assert!(
        !stored.contains("\\u0000") && !stored.contains('\0'),
        "a NUL was stored: {stored}"
    );
}

#[tokio::test]
async fn logins_with_nul_count_toward_the_failed_login_limit() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_FAILED_LOGINS_PER_IP".into(), "3/5m".into());
    })
    .await;
    signed_in(&app, "real@example.com").await;
    let client = make_client(&app, true, &["password"], &[]).await;
    for email in ["x\u{0}@example.com", "real@example.com\u{0}"] {
        let res = app
            .post_json("/auth/login", &json!({"email": email, "password": "wrong password"}))
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = post_form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "password"),
            ("client_id", &client.client_id),
            ("username", "\u{0}"),
            ("password", "nope"),
        ],
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Three failures from this IP: even the right password waits now.
    let res = app
        .post_json(
            "/auth/login",
            &json!({"email": "real@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn json_bodies_must_be_single_objects_in_utf8() {
    let app = spawn_app().await;
    let pair = signed_in(&app, "lax@example.com").await;
    let access = pair["access_token"].as_str().unwrap();
    let json = "application/json";

    // An array in place of an object was read field by field.
    let res = raw(
        &app,
        Method::POST,
        "/auth/login",
        None,
        json,
        r#"["lax@example.com",null,"correct horse battery"]"#,
    )
    .await;
    field_error(res, "invalid_type").await;
    let res = raw(
        &app,
        Method::PATCH,
        "/users/me",
        Some(access),
        json,
        r#"["taken@example.com"]"#,
    )
    .await;
    field_error(res, "invalid_type").await;
    for body in ["\"just a string\"", "42", "null"] {
        field_error(
            raw(&app, Method::POST, "/auth/login", None, json, body).await,
            "invalid_type",
        )
        .await;
    }

    // A repeated key is refused rather than the last one winning.
    let dup = r#"{"email":"lax@example.com","email":"other@example.com","password":"correct horse battery"}"#;
    let body = assert_problem(
        raw(&app, Method::POST, "/auth/login", None, json, dup).await,
        400,
        "duplicate_key",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("email"), "{body}");
    let res = raw(
        &app,
        Method::PATCH,
        "/users/me",
        Some(access),
        json,
        r#"{"first_name":"A","first_name":"B"}"#,
    )
    .await;
    assert_problem(res, 400, "duplicate_key").await;

    // Only UTF-8 (the JSON encoding) is read; other charsets are not guessed at.
    for ctype in [
        "application/json; charset=utf-16",
        "application/json;charset=\"ISO-8859-1\"",
    ] {
        let res = raw(
            &app,
            Method::PATCH,
            "/users/me",
            Some(access),
            ctype,
            r#"{"first_name":"A"}"#,
        )
        .await;
        assert_problem(res, 415, "unsupported_charset").await;
    }
    let res = raw(
        &app,
        Method::PATCH,
        "/users/me",
        Some(access),
        "application/json; charset=UTF-8",
        r#"{"first_name":"Ada"}"#,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Deep nesting is named as such, below and above serde_json's own limit.
    for depth in [40, 200] {
        let body = format!(r#"{{"first_name":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
        let res = raw(&app, Method::PATCH, "/users/me", Some(access), json, &body).await;
        let problem = assert_problem(res, 400, "too_deep").await;
        assert!(problem["detail"].as_str().unwrap().contains("deeper"), "{problem}");
    }

    // None of the refused bodies changed the profile.
    let (_, me) = json_of(app.authed(Method::GET, "/users/me", access, None).await).await;
    assert_eq!(me["email"], "lax@example.com", "{me}");
    assert_eq!(me["first_name"], "Ada", "{me}");
}
