//! The hosted pages as a browser uses them: SSO across clients, consent remembered and
//! withdrawn, logout, CSRF, cookies, headers, lockout through the form, and `/account`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::admin_support::{admin_token, call};
use crate::browser_support::*;
use crate::helpers::{spawn_app, spawn_app_with};
use crate::oauth_support::{PASSWORD, login, me_status};

async fn signed_in_browser<'a>(app: &'a crate::helpers::TestApp, email: &str) -> Browser<'a> {
    let mut b = Browser::new(app);
    let page = b.open("/login").await;
    let done = b.sign_in(&page, email, PASSWORD).await;
    assert_eq!(done.location().as_deref(), Some("/account"), "{}", done.body);
    b
}

#[tokio::test]
async fn a_second_client_signs_in_without_a_password_and_consent_is_remembered() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let photos = code_client(&app, false).await;
    let first_party = code_client(&app, true).await;
    let mut b = Browser::new(&app);
    code_for(&mut b, &photos.client_id, "ada@example.com", PASSWORD).await;

    let (_, challenge) = pkce();
    // SSO and no consent page for the first-party client.
    let page = b.get(&authorize_path(&first_party.client_id, &challenge, &[])).await;
    assert!(query_of(&page.location().unwrap()).contains_key("code"));
    // Consent for the first client is remembered for the same scopes...
    let page = b.get(&authorize_path(&photos.client_id, &challenge, &[])).await;
    assert!(query_of(&page.location().unwrap()).contains_key("code"));
    // ...but a wider request or prompt=consent asks again.
    let wider = authorize_path(&photos.client_id, &challenge, &[])
        .replace("scope=openid+profile+email", "scope=openid+offline_access");
    assert!(b.get(&wider).await.location().unwrap().starts_with("/consent?req="));
    let again = b
        .get(&authorize_path(&photos.client_id, &challenge, &[("prompt", "consent")]))
        .await;
    assert!(again.location().unwrap().starts_with("/consent?req="));

    // Withdrawn from /account: the next request asks again.
    let account = b.get("/account").await;
    assert!(account.body.contains("Photo App"));
    let res = b
        .post("/account/consents/revoke", &[("client_id", photos.client_id.as_str())])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let page = b.get(&authorize_path(&photos.client_id, &challenge, &[])).await;
    assert!(page.location().unwrap().starts_with("/consent?req="));
}

#[tokio::test]
async fn denying_consent_redirects_access_denied() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let client = code_client(&app, false).await;
    let mut b = Browser::new(&app);
    let (_, challenge) = pkce();
    let login_page = b.open(&authorize_path(&client.client_id, &challenge, &[])).await;
    let signed = b.sign_in(&login_page, "ada@example.com", PASSWORD).await;
    let consent = b.follow(signed).await;
    let res = b.consent(&consent, "deny").await;
    let q = query_of(&res.location().unwrap());
    assert_eq!((q["error"].as_str(), q["state"].as_str()), ("access_denied", "st-123"));
    // The request is answered once only.
    let twice = b.consent(&consent, "allow").await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rp_initiated_logout_ends_the_browser_session_and_its_client_sessions() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let client = code_client(&app, true).await;
    let mut b = Browser::new(&app);
    let (q, verifier) = code_for(&mut b, &client.client_id, "ada@example.com", PASSWORD).await;
    let (_, tokens) = exchange(&app, &client.client_id, &q["code"], &verifier).await;
    let access = tokens["access_token"].as_str().unwrap();
    let hint = tokens["id_token"].as_str().unwrap();

    // An unregistered post-logout URI is refused and signs nobody out.
    let bad = format!("/oauth/logout?id_token_hint={hint}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F");
    assert_eq!(b.get(&bad).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(me_status(&app, access).await, StatusCode::OK);

    let path = format!(
        "/oauth/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=bye-1",
        url::form_urlencoded::byte_serialize(AFTER_LOGOUT.as_bytes()).collect::<String>()
    );
    let res = b.get(&path).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let back = res.location().unwrap();
    assert!(
        back.starts_with(AFTER_LOGOUT) && query_of(&back)["state"] == "bye-1",
        "{back}"
    );
    assert!(
        res.set_cookies()
            .iter()
            .any(|c| c.starts_with("__Host-portcullis_session=;") && c.contains("Max-Age=0"))
    );
    assert_eq!(
        me_status(&app, access).await,
        StatusCode::UNAUTHORIZED,
        "client session ended"
    );
    // And the next authorization asks for the password again.
    let (_, challenge) = pkce();
    let page = b.get(&authorize_path(&client.client_id, &challenge, &[])).await;
    assert!(page.location().unwrap().starts_with("/login?req="));
}

#[tokio::test]
async fn logout_without_a_hint_asks_first() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let mut b = signed_in_browser(&app, "ada@example.com").await;
    let page = b.get("/oauth/logout").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"confirm\""));
    assert_eq!(b.get("/account").await.status, StatusCode::OK, "still signed in");
    let done = b.post("/oauth/logout", &[("confirm", "yes")]).await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(b.get("/account").await.location().as_deref(), Some("/login"));
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let mut b = Browser::new(&app);
    b.get("/login").await;
    let fields = |token: &str| {
        vec![
            ("username".to_string(), "ada@example.com".to_string()),
            ("password".to_string(), PASSWORD.to_string()),
            ("csrf_token".to_string(), token.to_string()),
        ]
    };
    assert_eq!(b.post_raw("/login", &fields("")).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        b.post_raw("/login", &fields("forged-token-value-0000000")).await.status,
        StatusCode::FORBIDDEN
    );
    // No cookie at all (a cross-site form): refused as well.
    let mut stranger = Browser::new(&app);
    let token = b.cookies["__Host-portcullis_csrf"].clone();
    assert_eq!(
        stranger.post_raw("/login", &fields(&token)).await.status,
        StatusCode::FORBIDDEN
    );
    // With the token, it works.
    assert_eq!(
        b.post_raw("/login", &fields(&token)).await.status,
        StatusCode::SEE_OTHER
    );
    for path in [
        "/consent",
        "/signup",
        "/account/password",
        "/oauth/logout",
        "/password/forgot",
    ] {
        assert_eq!(
            stranger.post_raw(path, &[]).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
}

#[tokio::test]
async fn cookies_and_headers_are_strict() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let mut b = Browser::new(&app);
    let page = b.get("/login").await;
    let csp = page.headers["content-security-policy"].to_str().unwrap().to_string();
    for part in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("script-src") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(!page.body.contains("<script"), "no script on the pages");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert_eq!(page.headers["cache-control"], "no-store");
    let csrf = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-portcullis_csrf="))
        .unwrap();
    for attr in ["Path=/", "HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(csrf.contains(attr), "{csrf}");
    }
    let done = b.sign_in(&page, "ada@example.com", PASSWORD).await;
    let session = done
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-portcullis_session="))
        .unwrap();
    for attr in ["Path=/", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age="] {
        assert!(session.contains(attr), "{session}");
    }
    assert!(!session.contains("Domain="), "{session}");
    // The stylesheets are served from here (the CSP allows 'self' only).
    for css in ["/assets/portcullis.css", "/assets/theme.css"] {
        let res = b.get(css).await;
        assert_eq!(res.status, StatusCode::OK);
        assert!(res.headers["content-type"].to_str().unwrap().starts_with("text/css"));
    }
}

#[tokio::test]
async fn the_sign_in_form_shares_lockout_with_the_api() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_LOCKOUT_THRESHOLD".into(), "3".into());
    })
    .await;
    app.register("ada@example.com", PASSWORD).await;
    let mut b = Browser::new(&app);
    let page = b.get("/login").await;
    for _ in 0..3 {
        let res = b.sign_in(&page, "ada@example.com", "wrong password!").await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        assert!(res.body.contains("role=\"alert\""));
    }
    let locked = b.sign_in(&page, "ada@example.com", PASSWORD).await;
    assert_eq!(locked.status, StatusCode::FORBIDDEN, "locked out through the form");
    assert!(locked.headers.contains_key("retry-after"));
    // The API sees the same lock.
    let res = app
        .post_json(
            "/auth/login",
            &json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn browser_sessions_are_listed_and_end_with_a_password_change_or_an_admin() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let api = login(&app, "ada@example.com").await;
    let api_token = api["access_token"].as_str().unwrap();
    let mut b = signed_in_browser(&app, "ada@example.com").await;

    let res = app.authed(Method::GET, "/users/me/sessions", api_token, None).await;
    let body: serde_json::Value = res.json().await.unwrap();
    let text = body.to_string();
    assert_eq!(body["items"].as_array().map(Vec::len), Some(2), "{text}");

    // Password change through the API ends the browser session.
    let res = app
        .authed(
            Method::POST,
            "/users/me/password",
            api_token,
            Some(&json!({"current_password": PASSWORD, "new_password": "another fine passphrase"})),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(b.get("/account").await.location().as_deref(), Some("/login"));

    // An admin revoking the user's sessions ends a browser session too.
    let admin = admin_token(&app, "default", "root@example.com").await;
    let mut b = Browser::new(&app);
    let page = b.get("/login").await;
    b.sign_in(&page, "ada@example.com", "another fine passphrase").await;
    assert_eq!(b.get("/account").await.status, StatusCode::OK);
    let user = user_id(&app, "ada@example.com").await;
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/admin/users/{user}/sessions"),
        &admin,
        None,
    )
    .await;
    assert!(status.is_success());
    assert_eq!(b.get("/account").await.location().as_deref(), Some("/login"));
}

#[tokio::test]
async fn the_account_page_edits_the_profile_and_ends_sessions() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let other = login(&app, "ada@example.com").await;
    let mut b = signed_in_browser(&app, "ada@example.com").await;
    let page = b.get("/account").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("ada@example.com"));
    let res = b
        .post(
            "/account/profile",
            &[("first_name", "Ada"), ("last_name", "Lovelace"), ("display_name", "")],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.body.contains("value=\"Lovelace\""));
    let user = app.state.domain.store.user_by_login("default", "ada@example.com").await;
    assert_eq!(user.unwrap().unwrap().last_name.as_deref(), Some("Lovelace"));

    // End the API session from the page.
    let claims = crate::admin_support::jwt_payload(other["access_token"].as_str().unwrap());
    let sid = claims["sid"].as_str().unwrap();
    assert!(page.body.contains(sid));
    let res = b.post("/account/sessions/end", &[("id", sid)]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        me_status(&app, other["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );

    // A wrong current password is refused and counted.
    let res = b
        .post(
            "/account/password",
            &[
                ("current_password", "not it at all"),
                ("new_password", "brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(b.get("/account").await.status, StatusCode::OK);
}

#[tokio::test]
async fn sign_up_page_creates_the_account_and_signs_in() {
    let app = spawn_app().await;
    let client = code_client(&app, true).await;
    let mut b = Browser::new(&app);
    let (verifier, challenge) = pkce();
    let login_page = b.open(&authorize_path(&client.client_id, &challenge, &[])).await;
    let req = login_page.hidden("req").unwrap();
    let page = b.get(&format!("/signup?req={req}")).await;
    assert!(page.body.contains("name=\"email\"") && page.body.contains("name=\"username\""));
    let bad = b
        .post("/signup", &[("email", "nope"), ("password", "short"), ("req", &req)])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let done = b
        .post(
            "/signup",
            &[
                ("email", "new@example.com"),
                ("username", "newbie"),
                ("password", PASSWORD),
                ("req", &req),
            ],
        )
        .await;
    let q = query_of(&done.location().unwrap());
    let (status, _) = exchange(&app, &client.client_id, &q["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK);

    let off = spawn_app_with(|env| {
        env.insert("PORTCULLIS_SIGNUP_ENABLED".into(), "false".into());
    })
    .await;
    let mut b = Browser::new(&off);
    assert_eq!(b.get("/signup").await.status, StatusCode::NOT_FOUND);
    assert!(!b.get("/login").await.body.contains("/signup"));
}

#[tokio::test]
async fn the_admin_api_manages_code_flow_clients() {
    let app = spawn_app().await;
    let admin = admin_token(&app, "default", "root@example.com").await;
    let body = json!({"name": "SPA", "public": true, "grant_types": ["authorization_code"], "scopes": ["openid"],
        "redirect_uris": ["https://app.example.com/cb"], "post_logout_redirect_uris": ["https://app.example.com/"],
        "require_consent": false});
    let (status, c) = call(&app, Method::POST, "/admin/clients", &admin, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["redirect_uris"], json!(["https://app.example.com/cb"]));
    assert_eq!(
        (c["require_consent"].as_bool(), c["require_pkce"].as_bool()),
        (Some(false), Some(true))
    );
    for bad in [
        json!({"name": "x", "public": true, "grant_types": ["authorization_code"], "scopes": ["openid"]}),
        json!({"name": "x", "grant_types": ["authorization_code"], "redirect_uris": ["http://evil.example/cb"]}),
        json!({"name": "x", "grant_types": ["authorization_code"], "redirect_uris": ["https://a.example/cb#frag"]}),
        json!({"name": "x", "public": true, "grant_types": ["authorization_code"], "redirect_uris": ["https://a.example/cb"], "require_pkce": false}),
    ] {
        let (status, body) = call(&app, Method::POST, "/admin/clients", &admin, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} → {body}");
    }
    let path = format!("/admin/clients/{}", c["client_id"].as_str().unwrap());
    let (status, c) = call(
        &app,
        Method::PATCH,
        &path,
        &admin,
        Some(json!({"redirect_uris": ["com.example.app:/cb"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["redirect_uris"], json!(["com.example.app:/cb"]));
}

#[tokio::test]
async fn browser_sessions_expire_when_idle_or_old_and_end_when_the_user_is_disabled() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_SSO_IDLE_TTL".into(), "1h".into());
        env.insert("PORTCULLIS_SSO_MAX_TTL".into(), "3h".into());
    })
    .await;
    app.register("ada@example.com", PASSWORD).await;
    let mut b = signed_in_browser(&app, "ada@example.com").await;
    let clock = &app.state.domain.clock;
    // Use keeps it alive past the idle limit...
    for _ in 0..2 {
        clock.advance(std::time::Duration::from_secs(50 * 60));
        assert_eq!(b.get("/account").await.status, StatusCode::OK);
    }
    // ...but not past the absolute one.
    clock.advance(std::time::Duration::from_secs(50 * 60));
    assert_eq!(b.get("/account").await.status, StatusCode::OK);
    clock.advance(std::time::Duration::from_secs(50 * 60));
    assert_eq!(
        b.get("/account").await.location().as_deref(),
        Some("/login"),
        "3h absolute limit"
    );

    let mut b = signed_in_browser(&app, "ada@example.com").await;
    clock.advance(std::time::Duration::from_secs(61 * 60));
    assert_eq!(
        b.get("/account").await.location().as_deref(),
        Some("/login"),
        "1h idle limit"
    );

    let mut b = signed_in_browser(&app, "ada@example.com").await;
    let admin = admin_token(&app, "default", "root@example.com").await;
    let user = user_id(&app, "ada@example.com").await;
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/admin/users/{user}/disable"),
        &admin,
        None,
    )
    .await;
    assert!(status.is_success());
    assert_eq!(
        b.get("/account").await.location().as_deref(),
        Some("/login"),
        "disabled"
    );
}

#[tokio::test]
async fn signing_in_as_someone_else_ends_the_browsers_previous_session() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    app.register("bob@example.com", PASSWORD).await;
    let mut b = signed_in_browser(&app, "ada@example.com").await;
    let ada_cookie = b.cookies["__Host-portcullis_session"].clone();
    let login = b.get("/login").await;
    assert_eq!(
        login.location().as_deref(),
        Some("/account"),
        "signed in: /login goes to the account"
    );
    // A sign-in form posted from this browser as Bob replaces Ada's session.
    let done = b
        .post("/login", &[("username", "bob@example.com"), ("password", PASSWORD)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_ne!(b.cookies["__Host-portcullis_session"], ada_cookie);
    let mut old = Browser::new(&app);
    old.cookies.insert("__Host-portcullis_session".into(), ada_cookie);
    assert_eq!(
        old.get("/account").await.location().as_deref(),
        Some("/login"),
        "Ada's session ended"
    );
    assert!(b.get("/account").await.body.contains("bob@example.com"));
}

#[tokio::test]
async fn nul_bytes_and_junk_ids_get_a_4xx_page_not_a_500() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let client = code_client(&app, false).await;
    let mut b = Browser::new(&app);
    let (_, challenge) = pkce();
    for path in [
        authorize_path(&client.client_id, &challenge, &[]).replace("st-123", "st%00"),
        authorize_path("cl%00ient", &challenge, &[]),
        "/login?req=%00".to_string(),
        "/login?req=x'%20OR%201=1--".to_string(),
        "/consent?req=%00abc".to_string(),
        "/oauth/logout?client_id=a%00b&post_logout_redirect_uri=https%3A%2F%2Fa.example%2F".to_string(),
        "/password/reset?token=%00".to_string(),
    ] {
        let page = b.get(&path).await;
        assert!(
            page.status.is_client_error() || page.status.is_success(),
            "{path}: {}",
            page.status
        );
    }
    b.get("/login").await;
    for fields in [
        vec![("username", "ada\0@example.com"), ("password", PASSWORD)],
        vec![("username", "ada@example.com"), ("password", PASSWORD), ("req", "a\0b")],
    ] {
        let res = b.post("/login", &fields).await;
        assert!(res.status.is_client_error(), "{fields:?}: {}", res.status);
    }
    let res = b
        .post("/signup", &[("email", "x\0@example.com"), ("password", PASSWORD)])
        .await;
    assert!(res.status.is_client_error(), "{}", res.status);
}
