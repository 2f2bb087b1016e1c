//! Rate-limit middleware: the per-IP first line, and `RateLimit` headers on every 429.
//!
//! The first line is a `tower_governor` limiter keyed on the same client IP as
//! [`client_ip`] (socket address; `X-Forwarded-For` only from trusted proxies). Its state is
//! per instance, which is acceptable for a coarse, generous flood guard: N instances behind
//! a balancer allow up to N times the rate. The limits that matter across instances
//! (credential failures, lockout, sign-ups, per-account logins) live on the shared counters
//! in the domain. Health endpoints are exempt, so a load balancer's probes are never refused.
//!
//! Every 429 gets `Retry-After` and the IETF `RateLimit-Policy` / `RateLimit` fields
//! (draft-ietf-httpapi-ratelimit-headers) naming the limit that refused.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::Response;
use axum::routing::Route;
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceExt};
use tower_governor::GovernorLayer;
use tower_governor::errors::GovernorError;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;

use super::error::problem_response;
use super::extract::client_ip;
use crate::config::{Config, IpNet};
use crate::domain::limits::{LimitPolicy, Refusal, report_refusals};

/// Keys the first-line limiter on the trusted client IP, exactly as [`client_ip`] sees it.
#[derive(Clone)]
pub struct ClientIpKey {
    trusted: Arc<Vec<IpNet>>,
}

impl KeyExtractor for ClientIpKey {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        // `client_ip` reads request parts; copy in only what it looks at.
        let (mut parts, ()) = Request::new(()).into_parts();
        if let Some(info) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
            parts.extensions.insert(*info);
        }
        for v in req.headers().get_all("x-forwarded-for") {
            parts.headers.append("x-forwarded-for", v.clone());
        }
        // Without a socket address (never the case when served) all such requests share a key
        // instead of failing with a 500.
        Ok(client_ip(&parts, &self.trusted).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }
}

type Svc = BoxCloneSyncService<Request<Body>, Response, Infallible>;

/// The rate-limit layer for the whole router.
#[derive(Clone)]
pub struct RateLimitLayer {
    /// Wraps a route in the first-line limiter (boxed: its middleware type is not nameable here).
    first_line: Option<Arc<dyn Fn(Route) -> Svc + Send + Sync>>,
}

/// How often idle per-IP limiter state is dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Builds the layer from `PORTCULLIS_RATE_LIMIT_PER_SECOND` and `PORTCULLIS_RATE_LIMIT_BURST`.
pub fn layer(config: &Config) -> RateLimitLayer {
    let limits = &config.limits;
    let policy = first_line_policy(limits.ip_per_second, limits.ip_burst);
    let period = Duration::from_nanos((1_000_000_000 / limits.ip_per_second.max(1)).max(1));
    let governor = GovernorConfigBuilder::default()
        .period(period)
        .burst_size(limits.ip_burst.max(1))
        .key_extractor(ClientIpKey {
            trusted: Arc::new(config.trusted_proxies.clone()),
        })
        .error_handler(move |e| first_line_refusal(e, policy))
        .finish();
    let Some(governor) = governor else {
        // Unreachable with validated configuration (rate and burst are at least 1).
        tracing::error!("first-line rate limiter not configured");
        return RateLimitLayer { first_line: None };
    };
    let governor = Arc::new(governor);
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        // The keyed state grows with every IP seen; forget the ones that are idle again.
        let limiter = Arc::downgrade(governor.limiter());
        rt.spawn(async move {
            let mut tick = tokio::time::interval(PRUNE_EVERY);
            loop {
                tick.tick().await;
                let Some(limiter) = limiter.upgrade() else { break };
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        });
    }
    let first_line = GovernorLayer { config: governor };
    RateLimitLayer {
        first_line: Some(Arc::new(move |route: Route| Svc::new(first_line.layer(route)))),
    }
}

/// The first line as an IETF policy: `burst` requests, refilled within `burst / rate` s.
fn first_line_policy(per_second: u64, burst: u32) -> LimitPolicy {
    let burst = u64::from(burst.max(1));
    LimitPolicy {
        name: "ip",
        quota: burst,
        window: Duration::from_secs(burst.div_ceil(per_second.max(1)).max(1)),
    }
}

fn first_line_refusal(e: GovernorError, policy: LimitPolicy) -> Response {
    match e {
        GovernorError::TooManyRequests { wait_time, .. } => too_many(Refusal {
            policy,
            // The limiter rounds down; a client that waits that long would be refused again.
            retry_after: wait_time.saturating_add(1),
        }),
        other => {
            // Our key extractor never fails; keep serving-side errors out of the client's way.
            tracing::error!(error = %other, "first-line rate limiter failed");
            problem_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "something went wrong on our side",
                &[],
            )
        }
    }
}

fn too_many(r: Refusal) -> Response {
    let mut res = problem_response(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests; retry later",
        &[],
    );
    add_headers(res.headers_mut(), r);
    res
}

/// `Retry-After`, `RateLimit-Policy` and `RateLimit` for a refusal.
fn add_headers(headers: &mut HeaderMap, r: Refusal) {
    let p = r.policy;
    let values = [
        (header::RETRY_AFTER.as_str(), r.retry_after.to_string()),
        (
            "ratelimit-policy",
            format!("\"{}\";q={};w={}", p.name, p.quota, p.window.as_secs().max(1)),
        ),
        ("ratelimit", format!("\"{}\";r=0;t={}", p.name, r.retry_after)),
    ];
    for (name, value) in values {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

impl Layer<Route> for RateLimitLayer {
    type Service = RateLimit;

    fn layer(&self, inner: Route) -> Self::Service {
        RateLimit {
            governed: self.first_line.as_ref().map(|wrap| wrap(inner.clone())),
            inner: Svc::new(inner),
        }
    }
}

/// The service [`RateLimitLayer`] wraps around each route.
#[derive(Clone)]
pub struct RateLimit {
    inner: Svc,
    governed: Option<Svc>,
}

impl Service<Request<Body>> for RateLimit {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call drives a clone to readiness itself (`oneshot`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let exempt = req.uri().path().starts_with("/health/");
        let svc = match (&self.governed, exempt) {
            (Some(g), false) => g.clone(),
            _ => self.inner.clone(),
        };
        let fut = svc.oneshot(req);
        Box::pin(async move {
            let (res, refusal) = report_refusals(fut).await;
            let mut res = res?;
            // Domain limits answer 429 with Retry-After; add which policy refused.
            if res.status() == StatusCode::TOO_MANY_REQUESTS
                && !res.headers().contains_key("ratelimit")
                && let Some(r) = refusal
            {
                add_headers(res.headers_mut(), r);
            }
            Ok(res)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_policy_describes_burst_and_refill() {
        let p = first_line_policy(50, 100);
        assert_eq!((p.quota, p.window), (100, Duration::from_secs(2)));
        let p = first_line_policy(1000, 10);
        assert_eq!((p.quota, p.window), (10, Duration::from_secs(1)));
    }

    #[test]
    fn refusal_headers_follow_the_ietf_draft() {
        let mut h = HeaderMap::new();
        add_headers(
            &mut h,
            Refusal {
                policy: LimitPolicy {
                    name: "failed_logins_ip",
                    quota: 20,
                    window: Duration::from_secs(300),
                },
                retry_after: 42,
            },
        );
        assert_eq!(h["retry-after"], "42");
        assert_eq!(h["ratelimit-policy"], "\"failed_logins_ip\";q=20;w=300");
        assert_eq!(h["ratelimit"], "\"failed_logins_ip\";r=0;t=42");
    }
}
