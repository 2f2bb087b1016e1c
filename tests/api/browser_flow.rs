//! The authorization code flow with PKCE over HTTP: codes, PKCE, redirect URIs, `state`,
//! `iss`, `prompt`, `max_age`, and the tokens it issues (verified with `jsonwebtoken`).

use reqwest::StatusCode;

use crate::browser_support::*;
use crate::helpers::{json_of, spawn_app};
use crate::oauth_support::{PASSWORD, me_status, verify};

#[tokio::test]
async fn code_flow_signs_in_consents_and_issues_verifiable_tokens() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let client = code_client(&app, false).await;
    let mut b = Browser::new(&app);
    let (verifier, challenge) = pkce();

    let first = b.get(&authorize_path(&client.client_id, &challenge, &[])).await;
    assert_eq!(first.status, StatusCode::FOUND);
    let login = b.follow(first).await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("Photo App"), "the sign-in page names the client");
    let after_login = b.sign_in(&login, "ada@example.com", PASSWORD).await;
    assert_eq!(after_login.status, StatusCode::SEE_OTHER);
    let consent = b.follow(after_login).await;
    assert!(consent.body.contains("name=\"decision\" value=\"allow\""));
    assert!(consent.body.contains("Your email address"));
    let back = b.consent(&consent, "allow").await;
    let q = query_of(&back.location().unwrap());
    assert_eq!(q["state"], "st-123");
    assert_eq!(q["iss"], app.state.domain.issuer, "RFC 9207 iss");

    let (status, tokens) = exchange(&app, &client.client_id, &q["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let id = verify(&app, tokens["id_token"].as_str().unwrap(), &client.client_id).await;
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    assert!(id["auth_time"].is_i64() && id["sid"].is_string());
    assert_eq!(id["email"], "ada@example.com");
    let access = tokens["access_token"].as_str().unwrap();
    let claims = verify(&app, access, &app.state.domain.issuer).await;
    assert_eq!(claims["client_id"], client.client_id.as_str());
    assert_eq!(me_status(&app, access).await, StatusCode::OK);
    // The refresh token of this flow rotates like any other.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ("client_id", client.client_id.as_str()),
    ];
    let (s, refreshed) = token_request(&app, &form).await;
    assert_eq!(s, StatusCode::OK, "{refreshed}");
}

#[tokio::test]
async fn pkce_is_required_and_checked() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let client = code_client(&app, true).await;
    let mut b = Browser::new(&app);

    // No challenge: refused at the client's redirect URI.
    let path = format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&state=s1",
        client.client_id,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let q = query_of(&b.get(&path).await.location().unwrap());
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["state"], "s1");
    // plain is not accepted.
    let plain = authorize_path(&client.client_id, "x", &[("code_challenge_method", "plain")]);
    let page = b.get(&plain).await;
    assert!(page.status.is_client_error() || query_of(&page.location().unwrap())["error"] == "invalid_request");

    let (query, verifier) = code_for(&mut b, &client.client_id, "ada@example.com", PASSWORD).await;
    let (other_verifier, _) = pkce();
    let (status, body) = exchange(&app, &client.client_id, &query["code"], &other_verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", query["code"].as_str()),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (status, body) = token_request(&app, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // A failed check does not burn the code: the right verifier still works once.
    let (status, _) = exchange(&app, &client.client_id, &query["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_replayed_code_fails_and_revokes_what_the_first_exchange_issued() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let client = code_client(&app, true).await;
    let mut b = Browser::new(&app);
    let (query, verifier) = code_for(&mut b, &client.client_id, "ada@example.com", PASSWORD).await;

    let (status, first) = exchange(&app, &client.client_id, &query["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK);
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(me_status(&app, access).await, StatusCode::OK);

    let (status, again) = exchange(&app, &client.client_id, &query["code"], &verifier).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        me_status(&app, access).await,
        StatusCode::UNAUTHORIZED,
        "first tokens revoked"
    );
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ("client_id", client.client_id.as_str()),
    ];
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn codes_expire_and_are_bound_to_client_and_redirect_uri() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let client = code_client(&app, true).await;
    let other = code_client(&app, true).await;
    let mut b = Browser::new(&app);

    let (query, verifier) = code_for(&mut b, &client.client_id, "ada@example.com", PASSWORD).await;
    let (status, body) = exchange(&app, &other.client_id, &query["code"], &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let form = [
        ("grant_type", "authorization_code"),
        ("code", query["code"].as_str()),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", "http://127.0.0.1:9000/elsewhere"),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, _) = token_request(&app, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (query, verifier) = code_for(&mut b, &client.client_id, "ada@example.com", PASSWORD).await;
    app.state.domain.clock.advance(std::time::Duration::from_secs(61));
    let (status, body) = exchange(&app, &client.client_id, &query["code"], &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn unknown_client_or_unregistered_redirect_uri_shows_an_error_page_never_a_redirect() {
    let app = spawn_app().await;
    let client = code_client(&app, false).await;
    let mut b = Browser::new(&app);
    let (_, challenge) = pkce();
    let cases = [
        authorize_path("no-such-client", &challenge, &[]),
        authorize_path(&client.client_id, &challenge, &[]).replace("9000%2Fcb", "9000%2Fother"),
        authorize_path(&client.client_id, &challenge, &[]).replace("127.0.0.1", "evil.example"),
        format!("/oauth/authorize?response_type=code&client_id={}", client.client_id),
    ];
    for path in cases {
        let page = b.get(&path).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(page.location().is_none(), "{path}");
        assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    }
    // A repeated parameter is refused too.
    let page = b
        .get(&format!(
            "{}&state=again",
            authorize_path(&client.client_id, &challenge, &[])
        ))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn loopback_redirect_uris_match_on_any_port() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let client = code_client(&app, true).await;
    let mut b = Browser::new(&app);
    let (_, challenge) = pkce();
    let path = authorize_path(&client.client_id, &challenge, &[]).replace("9000", "53117");
    let page = b.get(&path).await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert!(page.location().unwrap().starts_with("/login?req="));
}

#[tokio::test]
async fn errors_after_the_client_is_known_redirect_with_state_and_iss() {
    let app = spawn_app().await;
    let client = code_client(&app, false).await;
    let mut b = Browser::new(&app);
    let (_, challenge) = pkce();
    for (extra, error) in [
        (vec![("scope", "openid admin")], "invalid_scope"),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("prompt", "none select_account")], "invalid_request"),
        (vec![("max_age", "-1")], "invalid_request"),
        (vec![("request", "eyJ")], "request_not_supported"),
    ] {
        let page = b.get(&authorize_path(&client.client_id, &challenge, &extra)).await;
        let q = query_of(&page.location().unwrap());
        assert_eq!(q["error"], error, "{extra:?}");
        assert_eq!(q["state"], "st-123");
        assert_eq!(q["iss"], app.state.domain.issuer);
    }
    let page = b
        .get(&authorize_path(&client.client_id, &challenge, &[]).replace("response_type=code", "response_type=token"))
        .await;
    assert_eq!(
        query_of(&page.location().unwrap())["error"],
        "unsupported_response_type"
    );
}

#[tokio::test]
async fn prompt_none_answers_without_a_page() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let client = code_client(&app, false).await;
    let mut b = Browser::new(&app);
    let (_, challenge) = pkce();
    let none = authorize_path(&client.client_id, &challenge, &[("prompt", "none")]);

    let q = query_of(&b.get(&none).await.location().unwrap());
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "st-123");

    // Signed in but no consent yet.
    let login = b.open("/login").await;
    b.sign_in(&login, "ada@example.com", PASSWORD).await;
    let q = query_of(&b.get(&none).await.location().unwrap());
    assert_eq!(q["error"], "consent_required");

    // After consent, prompt=none hands out a code straight away.
    code_for(&mut b, &client.client_id, "ada@example.com", PASSWORD).await;
    let q = query_of(&b.get(&none).await.location().unwrap());
    assert!(q.contains_key("code"), "{q:?}");
}

#[tokio::test]
async fn prompt_login_and_max_age_ask_for_the_password_again() {
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let client = code_client(&app, true).await;
    let mut b = Browser::new(&app);
    let (_, first_auth) = code_for(&mut b, &client.client_id, "ada@example.com", PASSWORD).await;
    drop(first_auth);
    let (_, challenge) = pkce();

    // SSO: a plain request goes straight back with a code.
    let page = b.get(&authorize_path(&client.client_id, &challenge, &[])).await;
    assert!(query_of(&page.location().unwrap()).contains_key("code"));

    let page = b
        .get(&authorize_path(&client.client_id, &challenge, &[("prompt", "login")]))
        .await;
    let login = b.follow(page).await;
    assert!(login.body.contains("name=\"password\""), "prompt=login shows the form");
    let done = b.sign_in(&login, "ada@example.com", PASSWORD).await;
    assert!(
        query_of(&done.location().unwrap()).contains_key("code"),
        "and then answers"
    );

    app.state.domain.clock.advance(std::time::Duration::from_secs(120));
    let page = b
        .get(&authorize_path(&client.client_id, &challenge, &[("max_age", "60")]))
        .await;
    assert!(
        page.location().unwrap().starts_with("/login?req="),
        "sign-in older than max_age"
    );
    let page = b
        .get(&authorize_path(&client.client_id, &challenge, &[("max_age", "3600")]))
        .await;
    assert!(query_of(&page.location().unwrap()).contains_key("code"));
}

#[tokio::test]
async fn discovery_describes_the_code_flow() {
    let app = spawn_app().await;
    let (_, d) = json_of(
        app.client
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let iss = app.state.domain.issuer.clone();
    assert_eq!(d["authorization_endpoint"], format!("{iss}/oauth/authorize"));
    assert_eq!(d["end_session_endpoint"], format!("{iss}/oauth/logout"));
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert!(
        d["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("authorization_code"))
    );
    assert!(
        d["prompt_values_supported"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("none"))
    );
    assert!(d["response_modes_supported"].is_array());
}

#[tokio::test]
async fn a_confidential_client_authenticates_at_the_exchange_and_may_skip_pkce() {
    use portcullis::domain::clients::ClientSpec;
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD).await;
    let spec = ClientSpec {
        name: "Server app".into(),
        grant_types: vec!["authorization_code".into()],
        scopes: vec!["openid".into(), "email".into()],
        tenant: "default".into(),
        redirect_uris: vec![REDIRECT.into()],
        require_consent: Some(false),
        require_pkce: Some(false),
        ..ClientSpec::default()
    };
    let client = app
        .state
        .domain
        .create_client(spec, &portcullis::domain::Meta::default())
        .await
        .unwrap();
    let secret = client.client_secret.clone().unwrap();
    let mut b = Browser::new(&app);
    let path = format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s&login_hint=ada%40example.com",
        client.client_id,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let login = b.open(&path).await;
    assert!(
        login.body.contains("value=\"ada@example.com\""),
        "login_hint fills the form"
    );
    let done = b.sign_in(&login, "ada@example.com", PASSWORD).await;
    let q = query_of(&done.location().unwrap());
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
    ];
    // Without its secret the client is refused (and the code is not spent).
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[("client_id", client.client_id.as_str()), form[0], form[1], form[2]])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&client.client_id, Some(&secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (status, tokens) = json_of(res).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(
        tokens.get("refresh_token").is_none(),
        "no refresh_token grant, no refresh token"
    );
    verify(&app, tokens["id_token"].as_str().unwrap(), &client.client_id).await;
}
