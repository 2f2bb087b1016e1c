//! Refresh rotation and reuse detection, logout, revocation (RFC 7009), introspection (RFC 7662).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, json_of, spawn_app, spawn_app_with};
use crate::oauth_support::{PASSWORD, issuer, make_client, me_status, post_form, signed_in, verify};

async fn refresh(app: &crate::helpers::TestApp, token: &str) -> (StatusCode, Value) {
    json_of(
        post_form(
            app,
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", token),
                ("client_id", "portcullis"),
            ],
            None,
        )
        .await,
    )
    .await
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
        .to_string()
}

#[tokio::test]
async fn refresh_rotates_and_reuse_kills_the_whole_family() {
    let app = spawn_app().await;
    let first = signed_in(&app, "rot@example.com").await;
    let (status, second) = refresh(&app, &s(&first, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(s(&first, "refresh_token"), s(&second, "refresh_token"));
    let claims = verify(&app, &s(&second, "access_token"), &issuer(&app)).await;
    assert_eq!(claims["client_id"], "portcullis");
    let (status, third) = refresh(&app, &s(&second, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK);
    // The first token again: theft. The family dies, including the newest token and its access token.
    let (status, body) = refresh(&app, &s(&first, "refresh_token")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = refresh(&app, &s(&third, "refresh_token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        me_status(&app, &s(&third, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    // The JSON endpoint answers 401 for a dead token.
    let res = app
        .post_json("/auth/refresh", &json!({"refresh_token": s(&third, "refresh_token")}))
        .await;
    assert_problem(res, 401, "invalid_token").await;
    // The reuse is in the audit log.
    let events = app
        .state
        .domain
        .store
        .events(Some("default"), None, None, 100)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.event == "refresh.reuse_detected"));
}

#[tokio::test]
async fn json_refresh_rotates_and_may_narrow_but_not_widen_scope() {
    let app = spawn_app().await;
    let first = signed_in(&app, "narrow@example.com").await;
    let res = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": s(&first, "refresh_token"), "scope": "openid email"}),
        )
        .await;
    let (status, second) = json_of(res).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["scope"], "openid email");
    // Narrowing applies to the access token; the session keeps its scope, so a later
    // refresh may ask for the original scope again but never for more.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", &s(&second, "refresh_token")[..]),
        ("client_id", "portcullis"),
        ("scope", "openid email admin"),
    ];
    let (status, body) = json_of(post_form(&app, "/oauth/token", &form, None).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    // A refused request does not consume the token.
    let (status, _) = refresh(&app, &s(&second, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_uses_of_one_refresh_token_never_both_succeed() {
    let app = spawn_app().await;
    let tokens = signed_in(&app, "race@example.com").await;
    let token = s(&tokens, "refresh_token");
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (client, url, token) = (app.client.clone(), app.url("/oauth/token"), token.clone());
            tokio::spawn(async move {
                let form = [
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                    ("client_id", "portcullis"),
                ];
                client.post(url).form(&form).send().await.unwrap().status()
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let status = t.await.unwrap();
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "{status}"
        );
        ok += usize::from(status == StatusCode::OK);
    }
    assert!(ok <= 1, "{ok} concurrent refreshes succeeded");
}

#[tokio::test]
async fn a_grace_window_lets_a_lost_response_be_retried() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_REFRESH_REUSE_GRACE".into(), "30s".into());
    })
    .await;
    let first = signed_in(&app, "grace@example.com").await;
    let (status, lost) = refresh(&app, &s(&first, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK);
    // The client never saw `lost` and retries with the old token within the window: it gets
    // a new pair, and the session goes on with it.
    let (status, retried) = refresh(&app, &s(&first, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    let (status, next) = refresh(&app, &s(&retried, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{next}");
    // The unseen successor was superseded; showing it later is treated as theft.
    let (status, _) = refresh(&app, &s(&lost, "refresh_token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refresh(&app, &s(&next, "refresh_token")).await.0,
        StatusCode::BAD_REQUEST
    );
    // Past the window, a replay kills the family as usual.
    let a = crate::oauth_support::login(&app, "grace@example.com").await;
    let (status, b) = refresh(&app, &s(&a, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK);
    app.state.domain.clock.advance(Duration::from_secs(60));
    assert_eq!(refresh(&app, &s(&a, "refresh_token")).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(refresh(&app, &s(&b, "refresh_token")).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn refresh_tokens_expire_when_idle_and_absolutely() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_REFRESH_TOKEN_IDLE_TTL".into(), "1h".into());
        env.insert("PORTCULLIS_REFRESH_TOKEN_MAX_TTL".into(), "3h".into());
    })
    .await;
    let clock = app.state.domain.clock.clone();
    let tokens = signed_in(&app, "idle@example.com").await;
    clock.advance(Duration::from_secs(3601));
    let (status, body) = refresh(&app, &s(&tokens, "refresh_token")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // Used within the idle window, a session still ends at its absolute lifetime.
    let mut current = signed_in_again(&app, "idle@example.com").await;
    for _ in 0..3 {
        clock.advance(Duration::from_secs(50 * 60));
        let (status, next) = refresh(&app, &s(&current, "refresh_token")).await;
        assert_eq!(status, StatusCode::OK, "{next}");
        current = next;
    }
    clock.advance(Duration::from_secs(40 * 60));
    let (status, _) = refresh(&app, &s(&current, "refresh_token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "past the 3h absolute lifetime");
    // Purging removes the dead sessions.
    assert!(app.state.domain.purge().await.unwrap() >= 2);
}

async fn signed_in_again(app: &crate::helpers::TestApp, email: &str) -> Value {
    crate::oauth_support::login(app, email).await
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let tokens = signed_in(&app, "bye@example.com").await;
    let res = app
        .post_json("/auth/logout", &json!({"refresh_token": s(&tokens, "refresh_token")}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me_status(&app, &s(&tokens, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = refresh(&app, &s(&tokens, "refresh_token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Logging out twice, or with a made-up token, is not an error.
    let res = app
        .post_json("/auth/logout", &json!({"refresh_token": s(&tokens, "refresh_token")}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .post_json("/auth/logout", &json!({"refresh_token": "made-up"}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.post_json("/auth/logout", &json!({})).await,
        422,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn revocation_follows_rfc_7009() {
    let app = spawn_app().await;
    // Refresh token.
    let a = signed_in(&app, "rev@example.com").await;
    let res = post_form(
        &app,
        "/oauth/revoke",
        &[
            ("token", &s(&a, "refresh_token")),
            ("token_type_hint", "refresh_token"),
            ("client_id", "portcullis"),
        ],
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    assert_eq!(refresh(&app, &s(&a, "refresh_token")).await.0, StatusCode::BAD_REQUEST);
    // Access token: its session ends, so the refresh token dies too.
    let b = crate::oauth_support::login(&app, "rev@example.com").await;
    let res = post_form(
        &app,
        "/oauth/revoke",
        &[("token", &s(&b, "access_token")), ("client_id", "portcullis")],
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(me_status(&app, &s(&b, "access_token")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&app, &s(&b, "refresh_token")).await.0, StatusCode::BAD_REQUEST);
    // Unknown tokens: 200. Another client's token: 200, but nothing happens.
    let res = post_form(
        &app,
        "/oauth/revoke",
        &[("token", "no-such-token"), ("client_id", "portcullis")],
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let c = crate::oauth_support::login(&app, "rev@example.com").await;
    let other = make_client(&app, false, &["client_credentials"], &["x"]).await;
    let res = post_form(
        &app,
        "/oauth/revoke",
        &[("token", &s(&c, "refresh_token"))],
        Some((&other.client_id, other.client_secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(refresh(&app, &s(&c, "refresh_token")).await.0, StatusCode::OK);
    // Missing token parameter, and no client: errors.
    let res = post_form(&app, "/oauth/revoke", &[("client_id", "portcullis")], None).await;
    assert_eq!(json_of(res).await.1["error"], "invalid_request");
    let res = post_form(&app, "/oauth/revoke", &[("token", "x")], None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn introspection_reports_active_expired_and_revoked_tokens() {
    let app = spawn_app().await;
    let rs = make_client(&app, false, &["client_credentials"], &["x"]).await;
    let creds = (rs.client_id.as_str(), rs.client_secret.as_deref().unwrap());
    let introspect = |token: String| {
        let app = &app;
        async move { json_of(post_form(app, "/oauth/introspect", &[("token", &token)], Some(creds)).await).await }
    };
    let tokens = signed_in(&app, "intro@example.com").await;
    let (status, body) = introspect(s(&tokens, "access_token")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], "portcullis");
    assert_eq!(body["tenant"], "default");
    assert!(body["exp"].is_i64() && body["sub"].is_string() && body["scope"].is_string());
    let (_, body) = introspect(s(&tokens, "refresh_token")).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "refresh_token");
    // Garbage is simply inactive.
    assert_eq!(introspect("garbage".into()).await.1, json!({"active": false}));
    // Expired access token.
    app.state.domain.clock.advance(Duration::from_secs(901 + 30));
    assert_eq!(introspect(s(&tokens, "access_token")).await.1, json!({"active": false}));
    // Revoked (logout) tokens.
    let fresh = crate::oauth_support::login(&app, "intro@example.com").await;
    app.post_json("/auth/logout", &json!({"refresh_token": s(&fresh, "refresh_token")}))
        .await;
    assert_eq!(introspect(s(&fresh, "access_token")).await.1, json!({"active": false}));
    assert_eq!(introspect(s(&fresh, "refresh_token")).await.1, json!({"active": false}));
    // Public clients and unauthenticated callers may not introspect.
    let res = post_form(
        &app,
        "/oauth/introspect",
        &[("token", "x"), ("client_id", "portcullis")],
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = post_form(&app, "/oauth/introspect", &[("token", "x")], Some((creds.0, "wrong"))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_restart_never_revives_a_rotated_token() {
    let app = spawn_app().await;
    let first = signed_in(&app, "restart@example.com").await;
    let (status, _) = refresh(&app, &s(&first, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK);
    let second = crate::helpers::start(app.env.clone()).await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let addr = format!("http://{}", second.address());
    tokio::spawn(second.run_until(async {
        let _ = rx.await;
    }));
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", &s(&first, "refresh_token")[..]),
        ("client_id", "portcullis"),
    ];
    let res = app
        .client
        .post(format!("{addr}/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let _ = tx.send(());
    let _ = PASSWORD;
}
