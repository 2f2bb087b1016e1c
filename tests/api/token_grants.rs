//! The token endpoint's grants, client authentication and RFC 6749 errors.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, json_of, spawn_app};
use crate::oauth_support::{PASSWORD, header_of, issuer, login, make_client, me_status, post_form, signed_in, verify};

#[tokio::test]
async fn password_grant_issues_rfc9068_tokens_that_verify_against_jwks() {
    let app = spawn_app().await;
    let user = app.register("pat@example.com", PASSWORD).await;
    let res = post_form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "password"),
            ("username", "pat@example.com"),
            ("password", PASSWORD),
            ("client_id", "portcullis"),
            ("scope", "openid email profile"),
        ],
        None,
    )
    .await;
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    assert_eq!(res.headers().get("pragma").unwrap(), "no-cache");
    let (status, body) = json_of(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "openid email profile");
    let access = body["access_token"].as_str().unwrap();
    let header = header_of(access);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let claims = verify(&app, access, &issuer(&app)).await;
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["client_id"], "portcullis");
    assert_eq!(claims["scope"], "openid email profile");
    assert_eq!(claims["roles"], json!(["customer"]));
    assert_eq!(claims["tenant"], "default");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
    assert!(claims["nbf"].is_i64() && claims["jti"].is_string());
    // The ID token: audience is the client, user claims follow the scopes.
    let id = verify(&app, body["id_token"].as_str().unwrap(), "portcullis").await;
    assert_eq!(id["sub"], user["id"]);
    assert_eq!(id["azp"], "portcullis");
    assert_eq!(id["email"], "pat@example.com");
    assert_eq!(id["email_verified"], false);
    assert!(id["auth_time"].is_i64());
    // The refresh token is opaque, base64url, 256 bits.
    let refresh = body["refresh_token"].as_str().unwrap();
    assert_eq!(refresh.len(), 43);
    assert!(
        refresh
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
}

#[tokio::test]
async fn json_login_by_email_or_username_matches_the_token_endpoint() {
    let app = spawn_app().await;
    let body = json!({"email": "sam@example.com", "password": PASSWORD, "username": "samwise"});
    assert_eq!(
        app.post_json("/auth/register", &body).await.status(),
        StatusCode::CREATED
    );
    for login in [
        json!({"email": "SAM@example.com", "password": PASSWORD}),
        json!({"username": "Samwise", "password": PASSWORD}),
    ] {
        let res = app.post_json("/auth/login", &login).await;
        assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
        let (status, tokens) = json_of(res).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let claims = verify(&app, tokens["access_token"].as_str().unwrap(), &issuer(&app)).await;
        assert_eq!(claims["client_id"], "portcullis");
        assert!(tokens["refresh_token"].is_string() && tokens["id_token"].is_string());
        assert_eq!(
            me_status(&app, tokens["access_token"].as_str().unwrap()).await,
            StatusCode::OK
        );
    }
    let both = json!({"email": "sam@example.com", "username": "samwise", "password": PASSWORD});
    assert_problem(app.post_json("/auth/login", &both).await, 422, "validation_failed").await;
    assert_problem(
        app.post_json("/auth/login", &json!({"password": PASSWORD})).await,
        422,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = spawn_app().await;
    app.register("known@example.com", PASSWORD).await;
    let wrong = app
        .post_json(
            "/auth/login",
            &json!({"email": "known@example.com", "password": "not the password"}),
        )
        .await;
    let wrong = assert_problem(wrong, 401, "invalid_credentials").await;
    let unknown = app
        .post_json(
            "/auth/login",
            &json!({"email": "nobody@example.com", "password": "not the password"}),
        )
        .await;
    let unknown = assert_problem(unknown, 401, "invalid_credentials").await;
    assert_eq!(wrong, unknown);
    let form = |u: &'static str| {
        [
            ("grant_type", "password"),
            ("username", u),
            ("password", "nope-nope"),
            ("client_id", "portcullis"),
        ]
    };
    let (s1, b1) = json_of(post_form(&app, "/oauth/token", &form("known@example.com"), None).await).await;
    let (_, b2) = json_of(post_form(&app, "/oauth/token", &form("nobody@example.com"), None).await).await;
    assert_eq!((s1, &b1), (StatusCode::BAD_REQUEST, &b2));
    assert_eq!(b1["error"], "invalid_grant");
}

#[tokio::test]
async fn confidential_clients_authenticate_by_basic_or_post() {
    let app = spawn_app().await;
    let client = make_client(&app, false, &["client_credentials"], &["orders:read", "orders:write"]).await;
    let (id, secret) = (client.client_id.as_str(), client.client_secret.as_deref().unwrap());
    // client_secret_basic
    let (status, body) = json_of(
        post_form(
            &app,
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            Some((id, secret)),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let claims = verify(&app, body["access_token"].as_str().unwrap(), &issuer(&app)).await;
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["client_id"], id);
    assert_eq!(claims["scope"], "orders:read orders:write");
    assert_eq!(claims["roles"], json!([]));
    // A client token is not a user token: the self-service API refuses it.
    assert_eq!(
        me_status(&app, body["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
    // client_secret_post, narrower scope
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
        ("scope", "orders:read"),
    ];
    let (status, body) = json_of(post_form(&app, "/oauth/token", &form, None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "orders:read");
    // Wrong secret: 401 invalid_client, with a Basic challenge only when Basic was used.
    let res = post_form(
        &app,
        "/oauth/token",
        &[("grant_type", "client_credentials")],
        Some((id, "wrong")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(json_of(res).await.1["error"], "invalid_client");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", "wrong"),
    ];
    let res = post_form(&app, "/oauth/token", &form, None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get("www-authenticate").is_none());
    // Unknown client, and a secret-less request for a confidential client.
    let res = post_form(
        &app,
        "/oauth/token",
        &[("grant_type", "client_credentials"), ("client_id", "ghost")],
        None,
    )
    .await;
    assert_eq!(json_of(res).await.1["error"], "invalid_client");
    let res = post_form(
        &app,
        "/oauth/token",
        &[("grant_type", "client_credentials"), ("client_id", id)],
        None,
    )
    .await;
    assert_eq!(json_of(res).await.1["error"], "invalid_client");
    // Both methods at once is a malformed request.
    let form = [("grant_type", "client_credentials"), ("client_secret", secret)];
    let res = post_form(&app, "/oauth/token", &form, Some((id, secret))).await;
    assert_eq!(json_of(res).await.1["error"], "invalid_request");
    // A scope the client does not have.
    let res = post_form(
        &app,
        "/oauth/token",
        &[("grant_type", "client_credentials"), ("scope", "admin")],
        Some((id, secret)),
    )
    .await;
    assert_eq!(json_of(res).await.1["error"], "invalid_scope");
}

#[tokio::test]
async fn grants_a_client_does_not_have_are_refused() {
    let app = spawn_app().await;
    // The built-in client is public: no client_credentials.
    let (status, body) = json_of(
        post_form(
            &app,
            "/oauth/token",
            &[("grant_type", "client_credentials"), ("client_id", "portcullis")],
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    // A machine client may not use the password grant.
    app.register("m@example.com", PASSWORD).await;
    let machine = make_client(&app, false, &["client_credentials"], &["x"]).await;
    let form = [
        ("grant_type", "password"),
        ("username", "m@example.com"),
        ("password", PASSWORD),
    ];
    let res = post_form(
        &app,
        "/oauth/token",
        &form,
        Some((&machine.client_id, machine.client_secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(json_of(res).await.1["error"], "unauthorized_client");
}

#[tokio::test]
async fn malformed_token_requests_are_invalid_request() {
    let app = spawn_app().await;
    let url = app.url("/oauth/token");
    // JSON instead of a form.
    let res = app
        .client
        .post(&url)
        .json(&json!({"grant_type": "password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(res).await.1["error"], "invalid_request");
    // A repeated parameter.
    let res = app
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&grant_type=client_credentials&client_id=portcullis")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res).await.1["error"], "invalid_request");
    // Missing grant_type, missing password.
    let res = post_form(&app, "/oauth/token", &[("client_id", "portcullis")], None).await;
    assert_eq!(json_of(res).await.1["error"], "invalid_request");
    let res = post_form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "password"),
            ("username", "a@b.co"),
            ("client_id", "portcullis"),
        ],
        None,
    )
    .await;
    assert_eq!(json_of(res).await.1["error"], "invalid_request");
    // Unknown grant type.
    let res = post_form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "portcullis"),
        ],
        None,
    )
    .await;
    let (status, body) = json_of(res).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    // No client at all.
    let res = post_form(
        &app,
        "/oauth/token",
        &[("grant_type", "password"), ("username", "a"), ("password", "b")],
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Garbage Basic header.
    let res = app
        .client
        .post(&url)
        .header("authorization", "Basic !!!")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Malformed scope.
    let res = post_form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "password"),
            ("username", "a"),
            ("password", "b"),
            ("client_id", "portcullis"),
            ("scope", "bad\"scope"),
        ],
        None,
    )
    .await;
    assert_eq!(json_of(res).await.1["error"], "invalid_scope");
    // Oversized body.
    let big = "x".repeat(300 * 1024);
    let res = post_form(
        &app,
        "/oauth/token",
        &[("grant_type", "password"), ("username", &big)],
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn discovery_documents_describe_the_server() {
    let app = spawn_app().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let (status, d) = json_of(app.client.get(app.url(path)).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        let iss = issuer(&app);
        assert_eq!(d["issuer"], iss.as_str());
        assert_eq!(d["token_endpoint"], format!("{iss}/oauth/token"));
        assert_eq!(d["jwks_uri"], format!("{iss}/.well-known/jwks.json"));
        assert_eq!(d["userinfo_endpoint"], format!("{iss}/userinfo"));
        assert_eq!(d["revocation_endpoint"], format!("{iss}/oauth/revoke"));
        assert_eq!(d["introspection_endpoint"], format!("{iss}/oauth/introspect"));
        assert_eq!(
            d["grant_types_supported"],
            json!(["authorization_code", "password", "refresh_token", "client_credentials"])
        );
        assert_eq!(d["id_token_signing_alg_values_supported"], json!(["RS256"]));
        assert!(
            d["token_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("client_secret_basic"))
        );
        assert!(d["scopes_supported"].as_array().unwrap().contains(&json!("openid")));
        assert!(d["claims_supported"].as_array().unwrap().contains(&json!("roles")));
    }
}

#[tokio::test]
async fn userinfo_needs_openid_scope() {
    let app = spawn_app().await;
    let tokens = signed_in(&app, "ui@example.com").await;
    let at = tokens["access_token"].as_str().unwrap();
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let (status, info) = json_of(app.authed(method, "/userinfo", at, None).await).await;
        assert_eq!(status, StatusCode::OK, "{info}");
        assert_eq!(info["email"], "ui@example.com");
        assert!(info["sub"].is_string());
    }
    let res = app
        .post_json(
            "/auth/login",
            &json!({"email": "ui@example.com", "password": PASSWORD, "scope": "email"}),
        )
        .await;
    let narrow = json_of(res).await.1;
    assert!(narrow.get("id_token").is_none());
    let res = app
        .authed(
            reqwest::Method::GET,
            "/userinfo",
            narrow["access_token"].as_str().unwrap(),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.client.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // A scope the built-in client does not offer.
    let res = app
        .post_json(
            "/auth/login",
            &json!({"email": "ui@example.com", "password": PASSWORD, "scope": "admin"}),
        )
        .await;
    assert_problem(res, 400, "invalid_scope").await;
    let _ = login(&app, "ui@example.com").await;
}
