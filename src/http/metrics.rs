//! Prometheus metrics: the process-wide recorder, the request middleware and `GET /metrics`.
//!
//! The `metrics` facade has one global recorder per process. The test suite starts many
//! servers in one process, so the recorder is installed once, on first use, and every server
//! shares its handle (their counts add up, which is what one process should report anyway).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests served, by method, route template and status.
pub const REQUESTS: &str = "http_requests_total";
/// Request latency histogram, by method and route template.
pub const DURATION: &str = "http_request_duration_seconds";
/// Tokens issued, by grant.
pub const TOKENS_ISSUED: &str = "portcullis_tokens_issued_total";
/// Failed password checks (wrong password or unknown login).
pub const LOGIN_FAILURES: &str = "portcullis_login_failures_total";

/// Latency buckets in seconds: token requests are milliseconds, password checks tens of ms.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into buckets when nobody scrapes, so memory
/// stays bounded on an instance that is never scraped.
const UPKEEP: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus handle, installing the recorder on first call. `None` when some
/// other recorder was installed first (metrics then go there, and `/metrics` is empty).
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = match PrometheusBuilder::new().set_buckets_for_metric(Matcher::Full(DURATION.into()), BUCKETS)
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "metrics: bad histogram buckets; latency is reported as a summary");
                    PrometheusBuilder::new()
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if let Err(e) = ::metrics::set_global_recorder(recorder) {
                tracing::error!(error = %e, "metrics: a recorder is already installed; /metrics stays empty");
                return None;
            }
            describe();
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "metrics: no upkeep thread; histograms are folded at scrape time only");
            }
            Some(handle)
        })
        .clone()
}

fn describe() {
    use ::metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(
        REQUESTS,
        Unit::Count,
        "HTTP requests served, by method, route template and status"
    );
    describe_histogram!(
        DURATION,
        Unit::Seconds,
        "HTTP request latency, by method and route template"
    );
    describe_counter!(TOKENS_ISSUED, Unit::Count, "Token responses issued, by grant");
    describe_counter!(
        LOGIN_FAILURES,
        Unit::Count,
        "Failed password checks (wrong password or unknown login)"
    );
}

/// Counts one token response for `grant` (`password`, `refresh_token`, `client_credentials`).
pub fn token_issued(grant: &str) {
    ::metrics::counter!(TOKENS_ISSUED, "grant" => grant.to_string()).increment(1);
}

/// Methods outside this list are labelled `other`, so a client cannot inflate the label set.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: counts and times every request under its route template (never the raw
/// path, which would make one series per user id).
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    ::metrics::counter!(REQUESTS, "method" => method, "route" => route.clone(), "status" => status).increment(1);
    ::metrics::histogram!(DURATION, "method" => method, "route" => route).record(start.elapsed().as_secs_f64());
    res
}

/// The router state of `GET /metrics`: the shared handle, if the recorder is ours.
pub fn state() -> Option<PrometheusHandle> {
    handle()
}

/// `GET /metrics`: Prometheus text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format (version 0.0.4)", content_type = "text/plain")))]
pub async fn render(State(handle): State<Option<PrometheusHandle>>) -> Response {
    let body = handle.map(|h| h.render()).unwrap_or_default();
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
