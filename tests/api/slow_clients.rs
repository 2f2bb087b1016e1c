//! Slow and greedy clients: partial headers and trickled bodies are cut off, connections
//! past the caps are closed at once, and a stopping server does not wait on any of them.
//! Every wait below is a generous upper bound (seconds) on what the server is configured
//! to do in a fraction of a second; without the limits the waits ran out.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, TestResources, spawn_app_with, start};

/// Far longer than any limit configured here.
const BOUND: Duration = Duration::from_secs(10);

fn socket_addr(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_string()
}

/// A connection that sent part of a request's headers.
async fn partial_header(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    s
}

/// Reads until the server closes the connection (within [`BOUND`]); returns what it sent.
async fn read_until_closed(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    match tokio::time::timeout(BOUND, s.read_to_end(&mut buf)).await {
        Ok(_) => String::from_utf8_lossy(&buf).into_owned(),
        Err(_) => panic!("the server kept the connection open"),
    }
}

/// One request on a fresh connection; `None` when the server closed it without answering.
async fn get_live(addr: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let text = read_until_closed(&mut s).await;
    text.starts_with("HTTP/1.1 200").then_some(text)
}

#[tokio::test]
async fn a_partial_header_is_cut_off() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_HEADER_READ_TIMEOUT".into(), "300ms".into());
    })
    .await;
    let mut slow = partial_header(&socket_addr(&app)).await;
    let answer = read_until_closed(&mut slow).await;
    assert!(!answer.contains("200"), "{answer}");
}

#[tokio::test]
async fn a_trickled_body_gets_408() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_BODY_READ_TIMEOUT".into(), "300ms".into());
    })
    .await;
    let mut s = TcpStream::connect(socket_addr(&app)).await.unwrap();
    s.write_all(
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(BOUND, s.read(&mut buf))
        .await
        .expect("an answer before the whole-request timeout")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
}

#[tokio::test]
async fn connections_past_the_caps_are_closed_and_service_resumes() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_MAX_CONNECTIONS".into(), "4".into());
        env.insert("PORTCULLIS_MAX_CONNECTIONS_PER_IP".into(), "100".into());
    })
    .await;
    let addr = socket_addr(&app);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(partial_header(&addr).await);
    }
    assert_eq!(get_live(&addr).await, None, "a fifth connection was served");
    drop(held);
    assert!(eventually_served(&addr).await, "service did not resume");
}

#[tokio::test]
async fn one_ip_cannot_take_every_connection() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_MAX_CONNECTIONS".into(), "100".into());
        env.insert("PORTCULLIS_MAX_CONNECTIONS_PER_IP".into(), "3".into());
    })
    .await;
    let addr = socket_addr(&app);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(partial_header(&addr).await);
    }
    assert_eq!(
        get_live(&addr).await,
        None,
        "a fourth connection from one IP was served"
    );
    held.pop();
    assert!(eventually_served(&addr).await, "the IP got no connection back");
}

/// The server frees a slot when it notices the close; try a few times.
async fn eventually_served(addr: &str) -> bool {
    for _ in 0..50 {
        if get_live(addr).await.is_some() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn shutdown_ends_within_the_grace_despite_slow_connections() {
    let resources = TestResources::new().await;
    let mut env = resources.env();
    env.insert("PORTCULLIS_SHUTDOWN_GRACE".into(), "300ms".into());
    env.insert("PORTCULLIS_HEADER_READ_TIMEOUT".into(), "60s".into());
    let app = start(env).await;
    let addr = app.address().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    let mut slow = Vec::new();
    for _ in 0..5 {
        slow.push(partial_header(&addr).await);
    }
    assert!(get_live(&addr).await.is_some());
    tx.send(()).unwrap();
    let stopped = tokio::time::timeout(BOUND, server).await;
    assert!(stopped.is_ok(), "the server still ran with slow connections open");
    stopped.unwrap().unwrap().unwrap();
    for s in &mut slow {
        read_until_closed(s).await;
    }
}
