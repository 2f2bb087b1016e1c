//! Request guards that run before routing.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::error::{ConnectionReset, problem_response};

/// Largest total size of request headers accepted (names and values).
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses requests whose headers are oversized with 431, before any handler sees them.
pub async fn limit_header_size(req: Request, next: Next) -> Response {
    let size: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if size > MAX_HEADER_BYTES {
        return problem_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "the request headers are too large",
            &[],
        );
    }
    next.run(req).await
}

/// Repeats a `GET` or `HEAD` once when a database connection broke under it (a restarted
/// database drops every pooled connection): the retry gets a fresh connection, and a read
/// can be repeated safely. Anything else keeps its first answer.
pub async fn retry_reset_reads(req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let again = Request::from_parts(parts.clone(), Body::empty());
    let res = next.clone().run(Request::from_parts(parts, body)).await;
    if res.extensions().get::<ConnectionReset>().is_none() {
        return res;
    }
    tracing::info!("a database connection broke under a read; retrying it once");
    next.run(again).await
}

/// `X-Content-Type-Options: nosniff` on every answer, and `Cache-Control: no-store` on every
/// answer that sets no caching of its own: tokens and personal data must not linger in
/// browser or proxy caches. The JWKS and discovery set their own public caching; the
/// documentation UI's static assets may be cached.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let cacheable_assets = req.uri().path().starts_with("/docs");
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !cacheable_assets && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// CORS for browser apps on the configured origins; bearer tokens, so no credentials mode.
pub fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
            .expose_headers([header::LOCATION, header::RETRY_AFTER, header::WWW_AUTHENTICATE])
            .max_age(std::time::Duration::from_secs(3600)),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::response::IntoResponse;
    use axum::routing::any;
    use tower::ServiceExt;

    use super::*;

    /// A route whose first answer is a 503 from a broken connection, and later ones 200.
    fn flaky(calls: Arc<AtomicUsize>) -> Router {
        Router::new()
            .route(
                "/",
                any(move || async move {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        let mut res = StatusCode::SERVICE_UNAVAILABLE.into_response();
                        res.extensions_mut().insert(ConnectionReset);
                        res
                    } else {
                        StatusCode::OK.into_response()
                    }
                }),
            )
            .layer(axum::middleware::from_fn(retry_reset_reads))
    }

    async fn status(method: Method, calls: &Arc<AtomicUsize>) -> StatusCode {
        let req = Request::builder().method(method).uri("/").body(Body::empty());
        let res = flaky(calls.clone()).oneshot(req.expect("request")).await;
        res.expect("infallible").status()
    }

    #[tokio::test]
    async fn a_read_is_repeated_once_after_a_connection_reset() {
        let calls = Arc::new(AtomicUsize::new(0));
        assert_eq!(status(Method::GET, &calls).await, StatusCode::OK);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_write_is_never_repeated() {
        let calls = Arc::new(AtomicUsize::new(0));
        assert_eq!(status(Method::POST, &calls).await, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
