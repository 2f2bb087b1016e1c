//! The OpenAPI document reads well in a browser: plain summaries, explained older paths.

use crate::helpers::{json_of, spawn_app};

#[tokio::test]
async fn older_service_paths_are_explained_without_raw_backticks_in_summaries() {
    let app = spawn_app().await;
    let (_, doc) = json_of(app.client.get(app.url("/openapi.json")).send().await.unwrap()).await;
    for (path, replacement) in [
        ("/api/reset-password", "POST /auth/password/forgot"),
        ("/api/verify-email", "POST /auth/email/verify"),
    ] {
        let op = &doc["paths"][path]["post"];
        let summary = op["summary"].as_str().unwrap_or_default();
        let description = op["description"].as_str().unwrap_or_default();
        assert!(summary.contains("older service"), "{path}: {summary:?}");
        assert!(!summary.contains('`'), "{path}: {summary:?}");
        assert!(description.contains(replacement), "{path}: {description:?}");
    }
    // The sign-in and recovery endpoints' summaries are plain text too.
    for (path, method) in [
        ("/auth/login", "post"),
        ("/auth/refresh", "post"),
        ("/auth/logout", "post"),
        ("/auth/me", "get"),
        ("/auth/password/forgot", "post"),
        ("/auth/password/reset", "post"),
        ("/auth/email/verify", "post"),
        ("/auth/email/verify/request", "post"),
    ] {
        let summary = doc["paths"][path][method]["summary"].as_str().unwrap_or_default();
        assert!(
            !summary.is_empty() && !summary.contains('`'),
            "{method} {path}: {summary:?}"
        );
    }
}
