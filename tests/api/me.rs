//! The signed-in user's own API: profile, preferences, password, sessions, deletion.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_problem, json_of, spawn_app};
use crate::oauth_support::{PASSWORD, login, me_status, signed_in};

fn at(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn profile_read_and_update() {
    let app = spawn_app().await;
    let tokens = signed_in(&app, "prof@example.com").await;
    let token = at(&tokens);
    let (status, me) = json_of(app.authed(Method::GET, "/users/me", &token, None).await).await;
    assert_eq!(status, StatusCode::OK);
    let (_, auth_me) = json_of(app.authed(Method::GET, "/auth/me", &token, None).await).await;
    assert_eq!(me, auth_me);
    let patch = json!({"first_name": "Pro", "last_name": "File", "display_name": "Pro F.", "locale": "pt-BR", "username": "pro_file"});
    let (status, updated) = json_of(app.authed(Method::PATCH, "/users/me", &token, Some(&patch)).await).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["first_name"], "Pro");
    assert_eq!(updated["locale"], "pt-BR");
    assert_eq!(updated["username"], "pro_file");
    assert_eq!(updated["email"], "prof@example.com");
    // null clears; absent leaves alone.
    let (_, cleared) = json_of(
        app.authed(Method::PATCH, "/users/me", &token, Some(&json!({"display_name": null})))
            .await,
    )
    .await;
    assert_eq!(cleared["display_name"], Value::Null);
    assert_eq!(cleared["first_name"], "Pro");
    // The username now logs in too.
    let res = app
        .post_json("/auth/login", &json!({"username": "pro_file", "password": PASSWORD}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Bad input.
    let res = app
        .authed(
            Method::PATCH,
            "/users/me",
            &token,
            Some(&json!({"locale": "not a locale"})),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
    let res = app
        .authed(Method::PATCH, "/users/me", &token, Some(&json!({"roles": ["admin"]})))
        .await;
    assert_problem(res, 422, "validation_failed").await;
    let res = app
        .authed(Method::PATCH, "/users/me", &token, Some(&json!({"first_name": 5})))
        .await;
    assert_problem(res, 422, "validation_failed").await;
    app.register("taken@example.com", PASSWORD).await;
    let res = app
        .authed(
            Method::PATCH,
            "/users/me",
            &token,
            Some(&json!({"email": "TAKEN@example.com"})),
        )
        .await;
    assert_problem(res, 409, "email_taken").await;
    // Changing the email resets its verification.
    let (status, moved) = json_of(
        app.authed(
            Method::PATCH,
            "/users/me",
            &token,
            Some(&json!({"email": "new@example.com"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["email"], "new@example.com");
    assert_eq!(moved["email_verified"], false);
}

#[tokio::test]
async fn preferences_are_a_capped_json_object() {
    let app = spawn_app().await;
    let token = at(&signed_in(&app, "prefs@example.com").await);
    let (status, empty) = json_of(app.authed(Method::GET, "/users/me/preferences", &token, None).await).await;
    assert_eq!((status, empty), (StatusCode::OK, json!({})));
    let doc = json!({"theme": "dark", "notifications": {"email": true, "sms": false}});
    let (status, stored) = json_of(
        app.authed(Method::PUT, "/users/me/preferences", &token, Some(&doc))
            .await,
    )
    .await;
    assert_eq!((status, &stored), (StatusCode::OK, &doc));
    let patch = json!({"theme": null, "notifications": {"sms": true}, "language": "fr"});
    let (_, merged) = json_of(
        app.authed(Method::PATCH, "/users/me/preferences", &token, Some(&patch))
            .await,
    )
    .await;
    assert_eq!(
        merged,
        json!({"notifications": {"email": true, "sms": true}, "language": "fr"})
    );
    let (_, read) = json_of(app.authed(Method::GET, "/users/me/preferences", &token, None).await).await;
    assert_eq!(read, merged);
    for not_object in [json!([1, 2]), json!("x"), json!(3)] {
        let res = app
            .authed(Method::PUT, "/users/me/preferences", &token, Some(&not_object))
            .await;
        assert_problem(res, 422, "validation_failed").await;
    }
    let big = json!({"blob": "x".repeat(20 * 1024)});
    assert_problem(
        app.authed(Method::PUT, "/users/me/preferences", &token, Some(&big))
            .await,
        422,
        "validation_failed",
    )
    .await;
    let (_, unchanged) = json_of(app.authed(Method::GET, "/users/me/preferences", &token, None).await).await;
    assert_eq!(unchanged, merged, "a refused write changes nothing");
    assert_eq!(
        app.client
            .get(app.url("/users/me/preferences"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn password_change_revokes_the_other_sessions() {
    let app = spawn_app().await;
    let phone = signed_in(&app, "pw@example.com").await;
    let laptop = login(&app, "pw@example.com").await;
    let body = json!({"current_password": "wrong password!", "new_password": "a brand new password"});
    assert_problem(
        app.authed(Method::POST, "/users/me/password", &at(&laptop), Some(&body))
            .await,
        401,
        "invalid_credentials",
    )
    .await;
    let body = json!({"current_password": PASSWORD, "new_password": "short"});
    assert_problem(
        app.authed(Method::POST, "/users/me/password", &at(&laptop), Some(&body))
            .await,
        422,
        "validation_failed",
    )
    .await;
    let body = json!({"current_password": PASSWORD, "new_password": "a brand new password"});
    let res = app
        .authed(Method::POST, "/users/me/password", &at(&laptop), Some(&body))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me_status(&app, &at(&laptop)).await,
        StatusCode::OK,
        "the session that changed it lives on"
    );
    assert_eq!(me_status(&app, &at(&phone)).await, StatusCode::UNAUTHORIZED);
    let res = app
        .post_json("/auth/login", &json!({"email": "pw@example.com", "password": PASSWORD}))
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .post_json(
            "/auth/login",
            &json!({"email": "pw@example.com", "password": "a brand new password"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let events = app
        .state
        .domain
        .store
        .events(Some("default"), None, None, 100)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.event == "password.changed"));
    let all = serde_json::to_string(&events.iter().map(|e| (&e.event, &e.detail)).collect::<Vec<_>>()).unwrap();
    assert!(!all.contains(PASSWORD) && !all.contains("a brand new password"));
}

#[tokio::test]
async fn sessions_can_be_listed_and_ended() {
    let app = spawn_app().await;
    let a = signed_in(&app, "sess@example.com").await;
    let b = login(&app, "sess@example.com").await;
    let c = login(&app, "sess@example.com").await;
    let (status, list) = json_of(app.authed(Method::GET, "/users/me/sessions", &at(&a), None).await).await;
    assert_eq!(status, StatusCode::OK);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    let b_id = items.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .authed(Method::DELETE, &format!("/users/me/sessions/{b_id}"), &at(&a), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .authed(Method::DELETE, &format!("/users/me/sessions/{b_id}"), &at(&a), None)
        .await;
    assert_problem(res, 404, "not_found").await;
    let res = app
        .authed(Method::DELETE, "/users/me/sessions/' OR 1=1 --", &at(&a), None)
        .await;
    assert!(res.status().is_client_error());
    let alive = [me_status(&app, &at(&b)).await, me_status(&app, &at(&c)).await];
    assert_eq!(alive.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count(), 1);
    let (_, revoked) = json_of(app.authed(Method::DELETE, "/users/me/sessions", &at(&a), None).await).await;
    assert_eq!(revoked["revoked"], 1);
    assert_eq!(me_status(&app, &at(&a)).await, StatusCode::OK);
    assert_eq!(me_status(&app, &at(&c)).await, StatusCode::UNAUTHORIZED);
    // Someone else's session id is not found.
    let other = signed_in(&app, "other@example.com").await;
    let (_, theirs) = json_of(app.authed(Method::GET, "/users/me/sessions", &at(&other), None).await).await;
    let their_id = theirs["items"][0]["id"].as_str().unwrap().to_string();
    let res = app
        .authed(Method::DELETE, &format!("/users/me/sessions/{their_id}"), &at(&a), None)
        .await;
    assert_problem(res, 404, "not_found").await;
    assert_eq!(me_status(&app, &at(&other)).await, StatusCode::OK);
}

#[tokio::test]
async fn deleting_the_account_needs_the_password_and_keeps_the_audit_trail() {
    let app = spawn_app().await;
    let tokens = signed_in(&app, "gone@example.com").await;
    let res = app
        .authed(
            Method::DELETE,
            "/users/me",
            &at(&tokens),
            Some(&json!({"password": "not it at all"})),
        )
        .await;
    assert_problem(res, 401, "invalid_credentials").await;
    let res = app
        .authed(
            Method::DELETE,
            "/users/me",
            &at(&tokens),
            Some(&json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(me_status(&app, &at(&tokens)).await, StatusCode::UNAUTHORIZED);
    let res = app
        .post_json("/auth/refresh", &json!({"refresh_token": tokens["refresh_token"]}))
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let events = app
        .state
        .domain
        .store
        .events(Some("default"), None, None, 100)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.event == "user.deleted"));
    assert!(events.iter().any(|e| e.event == "user.created"));
    // The email is free again.
    app.register("gone@example.com", PASSWORD).await;
}

#[tokio::test]
async fn password_confirmation_is_under_lockout_too() {
    let app = spawn_app().await;
    let tokens = signed_in(&app, "guess@example.com").await;
    let wrong = json!({"current_password": "guess guess guess", "new_password": "a brand new password"});
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(
            app.authed(Method::POST, "/users/me/password", &at(&tokens), Some(&wrong))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(
        statuses[5..].iter().all(|s| *s == 403),
        "locked after the threshold: {statuses:?}"
    );
    let right = json!({"current_password": PASSWORD, "new_password": "a brand new password"});
    let res = app
        .authed(Method::POST, "/users/me/password", &at(&tokens), Some(&right))
        .await;
    assert_problem(res, 403, "account_locked").await;
    let res = app
        .authed(
            Method::DELETE,
            "/users/me",
            &at(&tokens),
            Some(&json!({"password": PASSWORD})),
        )
        .await;
    assert_problem(res, 403, "account_locked").await;
}
