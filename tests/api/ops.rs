//! Operator-facing endpoints: `/metrics`, `/openapi.json`, `/docs`.

use std::collections::BTreeSet;

use portcullis::domain::Meta;
use portcullis::domain::clients::{ClientSpec, ClientView};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of, spawn_app};

async fn metrics_text(app: &TestApp) -> String {
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain"), "{ct}");
    res.text().await.unwrap()
}

/// The sample value of the series whose name and labels contain every `part`, or 0.
fn sample(text: &str, name: &str, parts: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn confidential_client(app: &TestApp) -> ClientView {
    let spec = ClientSpec {
        name: "ops test".into(),
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["read".into()],
        tenant: "default".into(),
        ..ClientSpec::default()
    };
    app.state.domain.create_client(spec, &Meta::default()).await.unwrap()
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_not_raw_path() {
    let app = spawn_app().await;
    app.client.get(app.url("/health/live")).send().await.unwrap();
    let res = app
        .client
        .delete(app.url("/users/me/sessions/raw-session-id-4711"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.client.get(app.url("/no/such/path-4711")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let text = metrics_text(&app).await;
    assert!(
        sample(
            &text,
            "http_requests_total",
            &[r#"method="GET""#, r#"route="/health/live""#, r#"status="200""#]
        ) >= 1.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            "http_requests_total",
            &[
                r#"method="DELETE""#,
                r#"route="/users/me/sessions/{id}""#,
                r#"status="401""#
            ]
        ) >= 1.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            "http_requests_total",
            &[r#"route="unmatched""#, r#"status="404""#]
        ) >= 1.0,
        "{text}"
    );
    // Look for the path text itself: a bare "4711" also turns up inside sampled durations.
    assert!(
        !text.contains("raw-session-id") && !text.contains("path-4711"),
        "raw paths must not become labels"
    );
    assert!(
        text.contains("# TYPE http_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "http_request_duration_seconds_count",
            &[r#"route="/health/live""#]
        ) >= 1.0,
        "{text}"
    );
}

#[tokio::test]
async fn metrics_count_tokens_issued_and_login_failures() {
    let app = spawn_app().await;
    let client = confidential_client(&app).await;
    app.register("metrics@example.com", "correct horse battery").await;
    // Other tests share the process-wide recorder, so compare before and after.
    let before = metrics_text(&app).await;

    let res = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&client.client_id, client.client_secret.as_deref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (status, _) = json_of(
        app.post_json(
            "/auth/login",
            &json!({"email": "metrics@example.com", "password": "correct horse battery"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = json_of(
        app.post_json(
            "/auth/login",
            &json!({"email": "metrics@example.com", "password": "wrong password here"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let after = metrics_text(&app).await;
    let tokens = |t: &str, grant: &str| sample(t, "portcullis_tokens_issued_total", &[&format!(r#"grant="{grant}""#)]);
    assert!(tokens(&after, "client_credentials") >= tokens(&before, "client_credentials") + 1.0);
    assert!(tokens(&after, "password") >= tokens(&before, "password") + 1.0);
    let failures = |t: &str| sample(t, "portcullis_login_failures_total", &[]);
    assert!(failures(&after) >= failures(&before) + 1.0, "{after}");
}

/// `(path, method)` of every `.route(…)` call in a router source file.
fn routes_in(source: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        let call = &rest[at + ".route(".len()..];
        // The call's arguments end at the parenthesis that balances the opening one.
        let mut depth = 1;
        let mut end = call.len();
        for (i, c) in call.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let args = &call[..end];
        let path = args.split('"').nth(1).expect("a route path literal").to_string();
        for method in ["get", "post", "put", "patch", "delete"] {
            let needle = format!("{method}(");
            let found = args
                .match_indices(&needle)
                .any(|(i, _)| i == 0 || !args[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':'));
            if found {
                out.insert((path.clone(), method.to_string()));
            }
        }
        rest = &call[end..];
    }
    out
}

#[test]
fn route_parser_reads_chained_methods() {
    let src = r#"Router::new()
        .route("/a", get(x::a).post(x::b))
        .route(
            "/b/{id}",
            delete(users::delete_session).patch(users::p),
        )
        .route("/m", get(metrics::render).with_state(metrics::state()))"#;
    let got: Vec<_> = routes_in(src).into_iter().collect();
    let want: Vec<(String, String)> = [
        ("/a", "get"),
        ("/a", "post"),
        ("/b/{id}", "delete"),
        ("/b/{id}", "patch"),
        ("/m", "get"),
    ]
    .iter()
    .map(|(p, m)| (p.to_string(), m.to_string()))
    .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn openapi_document_covers_every_route() {
    let app = spawn_app().await;
    let (status, doc) = json_of(app.client.get(app.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["servers"][0]["url"], app.state.domain.issuer);
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["type"], "http");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    for schema in [
        "TokenResponse",
        "UserView",
        "Problem",
        "OAuthErrorBody",
        "RegisterBody",
        "LoginBody",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = vec![dir.join("http.rs")];
    // Routers split out of http.rs (e.g. the admin API) must be documented too.
    if let Ok(entries) = std::fs::read_dir(dir.join("http")) {
        let mut extra: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .filter(|p| std::fs::read_to_string(p).is_ok_and(|s| s.contains(".route(\"")))
            .collect();
        extra.sort();
        sources.extend(extra);
    }
    let mut routes = BTreeSet::new();
    for file in &sources {
        routes.extend(routes_in(&std::fs::read_to_string(file).unwrap()));
    }
    assert!(routes.len() > 20, "the route parser found too little: {routes:?}");
    let missing: Vec<_> = routes
        .iter()
        .filter(|(path, method)| doc["paths"][path.as_str()][method.as_str()].is_null())
        .collect();
    assert!(missing.is_empty(), "routes missing from /openapi.json: {missing:?}");

    // Operation ids are unique, as OpenAPI requires (generated clients rely on it).
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
            }
        }
    }
}

#[tokio::test]
async fn docs_ui_is_served() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/docs")).send().await.unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(res.headers()["location"], "/docs/");
    let res = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"), "{html}");
    let res = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("/openapi.json"));
}
