//! Helpers for token tests: log in, call the token endpoint, and verify tokens with an
//! independent JWT library (`jsonwebtoken`) against the served JWKS.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use portcullis::domain::Meta;
use portcullis::domain::clients::{ClientSpec, ClientView};
use portcullis::domain::users::{DEFAULT_TENANT, Registration};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of};

/// A password that passes the policy.
pub const PASSWORD: &str = "correct horse battery";

/// Registers `email` with [`PASSWORD`] and logs in through `/auth/login`; returns the token pair.
pub async fn signed_in(app: &TestApp, email: &str) -> Value {
    app.register(email, PASSWORD).await;
    login(app, email).await
}

/// Logs in with [`PASSWORD`].
pub async fn login(app: &TestApp, email: &str) -> Value {
    let (status, body) = json_of(
        app.post_json("/auth/login", &json!({"email": email, "password": PASSWORD}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Creates a user with the given roles directly through the domain.
pub async fn create_user(app: &TestApp, email: &str, roles: &[&str]) -> String {
    let r = Registration {
        email: email.into(),
        password: portcullis::config::Secret::new(PASSWORD),
        username: None,
        first_name: None,
        last_name: None,
        tenant: DEFAULT_TENANT.into(),
    };
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    app.state
        .domain
        .create_user(r, &roles, true, &Meta::default())
        .await
        .unwrap()
        .id
}

/// Registers an OAuth client directly through the domain.
pub async fn make_client(app: &TestApp, public: bool, grants: &[&str], scopes: &[&str]) -> ClientView {
    let spec = ClientSpec {
        name: "test client".into(),
        public,
        grant_types: grants.iter().map(|g| g.to_string()).collect(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        tenant: DEFAULT_TENANT.into(),
        ..ClientSpec::default()
    };
    app.state.domain.create_client(spec, &Meta::default()).await.unwrap()
}

/// POSTs a form to a path, optionally with HTTP Basic client credentials.
pub async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Response {
    let mut req = app.client.post(app.url(path)).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    req.send().await.unwrap()
}

/// The served JWKS.
pub async fn jwks(app: &TestApp) -> Value {
    let (status, body) = json_of(app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    body
}

/// Verifies a JWT with `jsonwebtoken` against the served JWKS: RS256 only, our issuer, the
/// given audience, not expired. Returns the claims; panics with the reason otherwise.
pub async fn verify(app: &TestApp, token: &str, audience: &str) -> Value {
    try_verify(app, token, audience)
        .await
        .unwrap_or_else(|e| panic!("token does not verify: {e}"))
}

/// Like [`verify`], returning the failure instead of panicking.
pub async fn try_verify(app: &TestApp, token: &str, audience: &str) -> Result<Value, String> {
    let header = decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let keys = jwks(app).await;
    let jwk = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or("kid not in JWKS")?;
    let key = DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
        .map_err(|e| e.to_string())?;
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[app.state.domain.issuer.as_str()]);
    v.set_audience(&[audience]);
    v.leeway = 0;
    decode::<Value>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

/// The `kid`s a JWKS document publishes, in order.
pub fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// The decoded (unverified) JOSE header of a JWT.
pub fn header_of(token: &str) -> jsonwebtoken::Header {
    decode_header(token).unwrap()
}

/// The issuer, which is also the audience of first-party tokens.
pub fn issuer(app: &TestApp) -> String {
    app.state.domain.issuer.clone()
}

/// Status of `GET /users/me` with a bearer token.
pub async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    app.authed(reqwest::Method::GET, "/users/me", token, None)
        .await
        .status()
}
