//! Password reset and email verification over HTTP: mails land in a file outbox, from which
//! the tests read the links, as a user would read their inbox.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, json_of, spawn_app_with};
use crate::logs::LogBuf;
use crate::oauth_support::{PASSWORD, issuer, login, me_status, signed_in};

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn app_with_outbox() -> TestApp {
    app_with_outbox_and(|_| {}).await
}

async fn app_with_outbox_and(tweak: impl FnOnce(&mut std::collections::HashMap<String, String>)) -> TestApp {
    spawn_app_with(|env| {
        let dir = PathBuf::from(&env["PORTCULLIS_KEYS_DIR"]).with_file_name("outbox");
        env.insert("PORTCULLIS_MAIL_OUTBOX_DIR".into(), dir.display().to_string());
        tweak(env);
    })
    .await
}

fn outbox(app: &TestApp) -> PathBuf {
    app.resources.dir.join("outbox")
}

/// The `.eml` files in the outbox, oldest first (names start with the time).
fn mails(dir: &Path) -> Vec<String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.retain(|p| p.extension().is_some_and(|e| e == "eml"));
    names.sort();
    names.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
}

/// Waits (sending runs in the background) until the outbox holds `n` mails; returns them.
async fn wait_for_mails(app: &TestApp, n: usize) -> Vec<String> {
    for _ in 0..200 {
        let m = mails(&outbox(app));
        if m.len() >= n {
            assert_eq!(m.len(), n, "more mail than expected");
            return m;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("expected {n} mails, found {}", mails(&outbox(app)).len());
}

/// The body as a reader sees it (undoes quoted-printable, which long lines may get).
fn decoded(mail: &str) -> String {
    if mail
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: quoted-printable")
    {
        mail.replace("=\r\n", "").replace("=3D", "=")
    } else {
        mail.to_string()
    }
}

/// The link of `path` in a mail, and its token.
fn link_in(mail: &str, app: &TestApp, path: &str) -> (String, String) {
    let text = decoded(mail);
    let prefix = format!("{}{path}?token=", issuer(app));
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in:\n{text}"));
    let link: String = text[start..].chars().take_while(|c| !c.is_whitespace()).collect();
    let token = link[prefix.len()..].to_string();
    assert!(token.len() >= 43, "at least 256 bits: {token}");
    assert!(
        token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{token}"
    );
    assert!(
        text.contains(&format!("\r\n{token}\r\n")),
        "the raw token is in the mail too"
    );
    (link, token)
}

fn reset_token(mail: &str, app: &TestApp) -> String {
    link_in(mail, app, "/password/reset").1
}

async fn forgot(app: &TestApp, email: &str) -> (StatusCode, Value) {
    json_of(app.post_json("/auth/password/forgot", &json!({ "email": email })).await).await
}

async fn reset(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.post_json(
        "/auth/password/reset",
        &json!({ "token": token, "new_password": password }),
    )
    .await
}

async fn login_with(app: &TestApp, email: &str, password: &str) -> StatusCode {
    app.post_json("/auth/login", &json!({ "email": email, "password": password }))
        .await
        .status()
}

/// Requests a reset for `email` and returns the token from the `n`-th mail.
async fn mailed_reset_token(app: &TestApp, email: &str, n: usize) -> String {
    assert_eq!(forgot(app, email).await.0, StatusCode::ACCEPTED);
    let m = wait_for_mails(app, n).await;
    reset_token(&m[n - 1], app)
}

#[tokio::test]
async fn forgot_answers_alike_for_known_and_unknown_emails_and_mails_a_link() {
    let app = app_with_outbox().await;
    app.register("ada@example.com", PASSWORD).await;

    let known = forgot(&app, "Ada@Example.com").await;
    let unknown = forgot(&app, "nobody@example.com").await;
    assert_eq!(known.0, StatusCode::ACCEPTED);
    assert_eq!(known, unknown, "no enumeration");

    let m = wait_for_mails(&app, 1).await;
    // The unknown address got nothing, even given time.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mails(&outbox(&app)).len(), 1);
    let mail = &m[0];
    for header in [
        "From: ",
        "To: ada@example.com",
        "Subject: Reset your password",
        "Date: ",
        "Message-ID: ",
    ] {
        assert!(
            mail.lines().any(|l| l.starts_with(header)),
            "{header} missing in:\n{mail}"
        );
    }
    let (link, _) = link_in(mail, &app, "/password/reset");
    assert!(link.starts_with(&format!("{}/password/reset?token=", issuer(&app))));
    // The link opens the hosted reset page (not a 405 as it did before the pages existed).
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("name=\"password\""));
}

#[tokio::test]
async fn a_reset_works_once_changes_the_password_and_ends_every_session() {
    let app = app_with_outbox().await;
    let email = "grace@example.com";
    let first = signed_in(&app, email).await;
    let second = login(&app, email).await;
    let token = mailed_reset_token(&app, email, 1).await;

    let res = reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        reset(&app, &token, "yet another passphrase").await,
        400,
        "invalid_reset_token",
    )
    .await;

    assert_eq!(login_with(&app, email, PASSWORD).await, StatusCode::UNAUTHORIZED);
    assert_eq!(login_with(&app, email, NEW_PASSWORD).await, StatusCode::OK);
    for pair in [&first, &second] {
        let access = pair["access_token"].as_str().unwrap();
        assert_eq!(me_status(&app, access).await, StatusCode::UNAUTHORIZED);
        let res = app
            .post_json("/auth/refresh", &json!({ "refresh_token": pair["refresh_token"] }))
            .await;
        assert!(res.status().is_client_error(), "{}", res.status());
    }
}

#[tokio::test]
async fn concurrent_uses_of_one_token_let_exactly_one_through() {
    let app = app_with_outbox().await;
    app.register("race@example.com", PASSWORD).await;
    let token = mailed_reset_token(&app, "race@example.com", 1).await;
    let attempts = (0..6).map(|i| {
        let (app, token) = (&app, &token);
        async move { reset(app, token, &format!("{NEW_PASSWORD} {i}")).await.status() }
    });
    let statuses = futures_join_all(attempts).await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::NO_CONTENT).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::BAD_REQUEST).count();
    assert_eq!((ok, refused), (1, 5), "{statuses:?}");
}

/// Runs futures concurrently (the suite has no `futures` dependency).
async fn futures_join_all<F: std::future::Future<Output = StatusCode>>(
    futs: impl Iterator<Item = F>,
) -> Vec<StatusCode> {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out = vec![None; set.len()];
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn an_expired_reset_token_is_refused() {
    let app = app_with_outbox().await;
    app.register("late@example.com", PASSWORD).await;
    let token = mailed_reset_token(&app, "late@example.com", 1).await;
    app.state.domain.clock.advance(Duration::from_secs(31 * 60));
    assert_problem(reset(&app, &token, NEW_PASSWORD).await, 400, "invalid_reset_token").await;
    assert_eq!(login_with(&app, "late@example.com", PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn a_new_request_retires_the_previous_token() {
    let app = app_with_outbox().await;
    app.register("twice@example.com", PASSWORD).await;
    let old = mailed_reset_token(&app, "twice@example.com", 1).await;
    let new = mailed_reset_token(&app, "twice@example.com", 2).await;
    assert_ne!(old, new);
    assert_problem(reset(&app, &old, NEW_PASSWORD).await, 400, "invalid_reset_token").await;
    assert_eq!(reset(&app, &new, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_weak_password_is_refused_and_the_token_stays_usable() {
    let app = app_with_outbox().await;
    app.register("weak@example.com", PASSWORD).await;
    let token = mailed_reset_token(&app, "weak@example.com", 1).await;
    let body = assert_problem(reset(&app, &token, "short").await, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "new_password", "{body}");
    let body = assert_problem(reset(&app, &token, "weak@example.com").await, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["code"], "same_as_email", "{body}");
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn unknown_and_garbage_tokens_are_refused() {
    let app = app_with_outbox().await;
    for token in ["", "nope", &"A".repeat(43)] {
        assert_problem(reset(&app, token, NEW_PASSWORD).await, 400, "invalid_reset_token").await;
        let res = app.post_json("/auth/email/verify", &json!({ "token": token })).await;
        assert_problem(res, 400, "invalid_verification_token").await;
    }
}

#[tokio::test]
async fn reset_also_lifts_a_lockout() {
    let app = app_with_outbox().await;
    let email = "locked@example.com";
    app.register(email, PASSWORD).await;
    let user = app
        .state
        .domain
        .store
        .user_by_login("default", email)
        .await
        .unwrap()
        .unwrap();
    app.state.domain.lock_user(&user, Duration::from_secs(3600)).await;
    assert_eq!(login_with(&app, email, PASSWORD).await, StatusCode::FORBIDDEN);
    let token = mailed_reset_token(&app, email, 1).await;
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(login_with(&app, email, NEW_PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn reset_requests_are_rate_limited_per_account_and_per_ip() {
    let app = app_with_outbox_and(|env| {
        env.insert("PORTCULLIS_RESETS".into(), "3/1h".into());
    })
    .await;
    app.register("limit@example.com", PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(forgot(&app, "limit@example.com").await.0, StatusCode::ACCEPTED);
    }
    for email in ["limit@example.com", "someone-else@example.com"] {
        let res = app.post_json("/auth/password/forgot", &json!({ "email": email })).await;
        let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=3600).contains(&retry), "{retry}");
        assert_problem(res, 429, "rate_limited").await;
    }
    wait_for_mails(&app, 3).await;
}

#[tokio::test]
async fn malformed_requests_are_problems() {
    let app = app_with_outbox().await;
    let raw = |path: &'static str, ct: &'static str, body: &'static str| {
        app.client
            .post(app.url(path))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_problem(
        raw("/auth/password/forgot", "application/json", "{").await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        raw("/auth/password/forgot", "text/plain", "email=a@b.c").await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    for (path, body) in [
        ("/auth/password/forgot", json!({})),
        ("/auth/password/forgot", json!({ "email": "a@example.com", "extra": 1 })),
        ("/auth/password/forgot", json!({ "email": 5 })),
        ("/auth/password/forgot", json!({ "email": "not-an-email" })),
        ("/auth/password/reset", json!({ "token": "x" })),
        (
            "/auth/password/reset",
            json!({ "token": 1, "new_password": NEW_PASSWORD }),
        ),
        ("/auth/email/verify", json!({})),
        ("/auth/email/verify", json!({ "token": "x", "email": "a@example.com" })),
    ] {
        assert_problem(app.post_json(path, &body).await, 422, "validation_failed").await;
    }
    let res = app
        .client
        .post(app.url("/auth/email/verify/request"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "invalid_token").await;
    // Nothing was sent for any of these.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(mails(&outbox(&app)).is_empty());
}

async fn request_verification(app: &TestApp, access: &str) -> StatusCode {
    app.authed(Method::POST, "/auth/email/verify/request", access, None)
        .await
        .status()
}

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json("/auth/email/verify", &json!({ "token": token })).await
}

#[tokio::test]
async fn email_verification_happy_path_and_single_use() {
    let app = app_with_outbox().await;
    let pair = signed_in(&app, "vera@example.com").await;
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(request_verification(&app, access).await, StatusCode::ACCEPTED);
    let m = wait_for_mails(&app, 1).await;
    assert!(m[0].contains("Subject: Confirm your email address"), "{}", m[0]);
    let (_, token) = link_in(&m[0], &app, "/email/verify");

    let (status, user) = json_of(verify(&app, &token).await).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["email"], "vera@example.com");
    assert_eq!(user["email_verified"], true);
    let (_, me) = json_of(app.authed(Method::GET, "/users/me", access, None).await).await;
    assert_eq!(me["email_verified"], true);

    assert_problem(verify(&app, &token).await, 400, "invalid_verification_token").await;
    // Verified already: accepted, nothing sent.
    assert_eq!(request_verification(&app, access).await, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mails(&outbox(&app)).len(), 1);
}

#[tokio::test]
async fn the_older_services_paths_still_work() {
    let app = app_with_outbox().await;
    let pair = signed_in(&app, "legacy@example.com").await;
    let res = app
        .post_json("/api/reset-password", &json!({ "email": "legacy@example.com" }))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let token = reset_token(&wait_for_mails(&app, 1).await[0], &app);
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);

    let access = login_with_token(&app, "legacy@example.com", NEW_PASSWORD).await;
    assert_eq!(request_verification(&app, &access).await, StatusCode::ACCEPTED);
    let (_, token) = link_in(&wait_for_mails(&app, 2).await[1], &app, "/email/verify");
    let (status, user) = json_of(app.post_json("/api/verify-email", &json!({ "token": token })).await).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["email_verified"], true);
    drop(pair);
}

async fn login_with_token(app: &TestApp, email: &str, password: &str) -> String {
    let (status, body) = json_of(
        app.post_json("/auth/login", &json!({ "email": email, "password": password }))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn expired_and_superseded_verification_tokens_are_refused() {
    let app = app_with_outbox().await;
    let pair = signed_in(&app, "slow@example.com").await;
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(request_verification(&app, access).await, StatusCode::ACCEPTED);
    let (_, first) = link_in(&wait_for_mails(&app, 1).await[0], &app, "/email/verify");
    assert_eq!(request_verification(&app, access).await, StatusCode::ACCEPTED);
    let (_, second) = link_in(&wait_for_mails(&app, 2).await[1], &app, "/email/verify");
    assert_problem(verify(&app, &first).await, 400, "invalid_verification_token").await;
    app.state.domain.clock.advance(Duration::from_secs(25 * 3600));
    assert_problem(verify(&app, &second).await, 400, "invalid_verification_token").await;
}

#[tokio::test]
async fn changing_the_email_invalidates_a_verification_token() {
    let app = app_with_outbox().await;
    let pair = signed_in(&app, "old@example.com").await;
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(request_verification(&app, access).await, StatusCode::ACCEPTED);
    let (_, token) = link_in(&wait_for_mails(&app, 1).await[0], &app, "/email/verify");
    let res = app
        .authed(
            Method::PATCH,
            "/users/me",
            access,
            Some(&json!({ "email": "new@example.com" })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_problem(verify(&app, &token).await, 400, "invalid_verification_token").await;
    let (_, me) = json_of(app.authed(Method::GET, "/users/me", access, None).await).await;
    assert_eq!(
        (me["email"].as_str(), me["email_verified"].as_bool()),
        (Some("new@example.com"), Some(false))
    );

    // A reset link sent to the old address dies with the change too.
    let reset_app = app_with_outbox().await;
    let pair = signed_in(&reset_app, "before@example.com").await;
    let token = mailed_reset_token(&reset_app, "before@example.com", 1).await;
    let access = pair["access_token"].as_str().unwrap();
    let res = reset_app
        .authed(
            Method::PATCH,
            "/users/me",
            access,
            Some(&json!({ "email": "after@example.com" })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_problem(
        reset(&reset_app, &token, NEW_PASSWORD).await,
        400,
        "invalid_reset_token",
    )
    .await;
}

#[tokio::test]
async fn no_token_or_password_reaches_logs_or_audit_events() {
    let Some(logs) = LogBuf::global() else {
        eprintln!("log capture unavailable: another global subscriber is installed (TEST_LOG?)");
        return;
    };
    let app = app_with_outbox().await;
    let email = "secret@example.com";
    let pair = signed_in(&app, email).await;
    let access = pair["access_token"].as_str().unwrap().to_string();
    let token = mailed_reset_token(&app, email, 1).await;
    assert_eq!(
        reset(&app, &token, "weak").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
    let access2 = login_with_token(&app, email, NEW_PASSWORD).await;
    assert_eq!(request_verification(&app, &access2).await, StatusCode::ACCEPTED);
    let (_, vtoken) = link_in(&wait_for_mails(&app, 2).await[1], &app, "/email/verify");
    assert_eq!(verify(&app, &vtoken).await.status(), StatusCode::OK);

    // The outbox logs right after it writes the file, so the line may trail the file a little.
    for _ in 0..100 {
        let text = logs.text();
        let ours = text
            .lines()
            .filter(|l| l.contains("mail written to the outbox") && l.contains(email));
        if ours.count() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let text = logs.text();
    assert!(
        text.contains("mail written to the outbox"),
        "logs were captured:\n{text}"
    );
    let user = app
        .state
        .domain
        .store
        .user_by_login("default", email)
        .await
        .unwrap()
        .unwrap();
    let events = app
        .state
        .domain
        .store
        .events(None, Some(&user.id), None, 100)
        .await
        .unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    for expected in [
        "password.reset_requested",
        "password.reset",
        "session.revoked",
        "email.verification_requested",
        "email.verified",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let audit = serde_json::to_string(&events).unwrap();
    let hash = |t: &str| hex_sha256(t);
    for secret in [
        &token,
        &vtoken,
        NEW_PASSWORD,
        PASSWORD,
        &hash(&token),
        &hash(&vtoken),
        &access,
    ] {
        assert!(!text.contains(secret), "a secret reached the logs");
        assert!(!audit.contains(secret), "a secret reached the audit events");
    }
}

fn hex_sha256(v: &str) -> String {
    portcullis::domain::clients::sha256_hex(v)
}

#[tokio::test]
async fn without_a_transport_mail_is_only_logged_without_its_link() {
    let Some(logs) = LogBuf::global() else {
        eprintln!("log capture unavailable: another global subscriber is installed (TEST_LOG?)");
        return;
    };
    let app = spawn_app_with(|_| {}).await;
    app.register("quiet@example.com", PASSWORD).await;
    assert_eq!(forgot(&app, "quiet@example.com").await.0, StatusCode::ACCEPTED);
    let mut text = String::new();
    for _ in 0..200 {
        text = logs.text();
        if text.contains("no mail transport configured") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(text.contains("no mail transport configured"), "{text}");
    assert!(text.contains("Reset your password"), "{text}");
    assert!(!text.contains("token="), "{text}");
    // The address is the caller's choice and personal data: it stays out of the log.
    assert!(!text.contains("quiet@example.com"), "{text}");
}
