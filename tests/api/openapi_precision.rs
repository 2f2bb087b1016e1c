//! The OpenAPI document says what the server really does, precisely enough for generated
//! clients and for schemathesis (`scripts/fuzz-api.sh`) to hold it to its word.

use reqwest::Method;
use serde_json::Value;

use crate::admin_support::{admin_token, call};
use crate::helpers::{TestApp, json_of, spawn_app};
use crate::oauth_support::signed_in;

async fn document(app: &TestApp) -> Value {
    json_of(app.client.get(app.url("/openapi.json")).send().await.unwrap())
        .await
        .1
}

/// Follows a `$ref` into `components`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => resolve(doc, doc.pointer(&r.replacen('#', "", 1)).unwrap()),
        None => schema,
    }
}

fn success_schema<'a>(doc: &'a Value, path: &str, method: &str, status: &str) -> &'a Value {
    let schema = &doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{method} {path} {status} has no JSON schema");
    resolve(doc, schema)
}

#[tokio::test]
async fn session_listings_are_documented_as_the_pages_they_are() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let pair = signed_in(&app, "pages@example.com").await;
    let (_, body) = call(
        &app,
        Method::GET,
        "/users/me/sessions",
        pair["access_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert!(body["items"].is_array() && body.get("next_cursor").is_some(), "{body}");
    let schema = success_schema(&doc, "/users/me/sessions", "get", "200");
    assert_eq!(schema["type"], "object", "{schema}");
    assert!(schema["properties"]["items"].is_object(), "{schema}");
    assert!(schema["properties"]["next_cursor"].is_object(), "{schema}");

    let root = admin_token(&app, "default", "root@example.com").await;
    let (_, users) = call(&app, Method::GET, "/admin/users", &root, None).await;
    assert!(users["items"].is_array(), "{users}");
    let schema = success_schema(&doc, "/admin/users", "get", "200");
    assert!(schema["properties"]["items"]["items"].is_object(), "{schema}");
}

#[tokio::test]
async fn every_operation_documents_its_bodies_and_failures() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = &op["responses"];
            let has = |s: &str| responses.get(s).is_some();
            if !has("429") {
                problems.push(format!("{method} {path}: no 429"));
            }
            if let Some(schema) = op
                .get("requestBody")
                .and_then(|b| b["content"]["application/json"].get("schema"))
            {
                let schema = resolve(&doc, schema);
                // A named body has properties; only the free-form preferences document is a bare object.
                if schema["properties"].is_null() && !path.ends_with("/preferences") {
                    problems.push(format!("{method} {path}: body schema is a bare object"));
                }
                for s in ["400", "413", "415", "422"] {
                    if !has(s) {
                        problems.push(format!("{method} {path}: no {s}"));
                    }
                }
            }
            if op.get("security").is_some() && !has("401") {
                problems.push(format!("{method} {path}: secured without 401"));
            }
            if path.starts_with("/admin/") {
                for s in ["403", "503"] {
                    if !has(s) {
                        problems.push(format!("{method} {path}: no {s}"));
                    }
                }
                if path.contains('{') && !has("404") {
                    problems.push(format!("{method} {path}: no 404"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
