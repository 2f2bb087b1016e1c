//! The accept loop. `axum::serve` has no header-read timeout, no connection cap and no bound
//! on shutdown, so a few hundred slow clients could hold every file descriptor and keep a
//! stopping server alive; this loop serves the same router with all three.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::config::IpNet;
use crate::http::extract::BodyTimeout;

/// Limits of the accept loop.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// A request's headers must arrive within this (also ends idle keep-alive connections).
    pub header_read_timeout: Duration,
    /// A request's body must arrive within this.
    pub body_read_timeout: Duration,
    /// Open connections at most; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Open connections per client IP at most (trusted proxies are exempt).
    pub max_connections_per_ip: usize,
    /// Peers that carry many clients' connections (a load balancer).
    pub trusted_proxies: Vec<IpNet>,
    /// After the shutdown signal, in-flight requests get this long; then connections are cut.
    pub shutdown_grace: Duration,
}

/// Open connections per IP; a [`PeerSlot`] gives its place back when dropped.
#[derive(Clone, Default)]
struct PerIp(Arc<Mutex<HashMap<IpAddr, usize>>>);

struct PeerSlot {
    map: PerIp,
    ip: IpAddr,
}

impl PerIp {
    fn admit(&self, ip: IpAddr, max: usize) -> Option<PeerSlot> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PeerSlot { map: self.clone(), ip })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut map = self.map.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains within the grace.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // HTTP/1.1 only, as before: TLS and HTTP/2 end at the proxy in front.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let per_ip = PerIp::default();
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            metrics::counter!("portcullis_connections_refused_total", "reason" => "total").increment(1);
            continue;
        };
        let slot = if limits.trusted_proxies.iter().any(|n| n.contains(peer.ip())) {
            None
        } else {
            match per_ip.admit(peer.ip(), limits.max_connections_per_ip) {
                Some(slot) => Some(slot),
                None => {
                    metrics::counter!("portcullis_connections_refused_total", "reason" => "per_ip").increment(1);
                    continue;
                }
            }
        };
        let service = TowerToHyperService::new(with_peer(router.clone(), peer, limits.body_read_timeout));
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            // Errors here are the client's: it went away, sent garbage or was too slow.
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop((permit, slot));
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "shutdown grace passed; closing the connections still open"
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// The router with what `into_make_service_with_connect_info` would add, plus the body deadline.
fn with_peer(
    router: Router,
    peer: SocketAddr,
    body_timeout: Duration,
) -> impl tower::Service<
    axum::http::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    router.map_request(move |mut req: axum::http::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(BodyTimeout(body_timeout));
        req
    })
}
