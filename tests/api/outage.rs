//! Database outages: while PostgreSQL cannot be reached, requests get a quick 503 with
//! `Retry-After` (never a 500), readiness fails fast, and service resumes by itself. At
//! start, an unreachable or misplaced database is named in one clear line.
//!
//! The outage is real network behaviour: the server reaches PostgreSQL through a TCP relay
//! in this process, and taking the relay down refuses new connections and cuts the open ones,
//! as a database restart does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis::Config;
use portcullis::clock::Clock;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{TestResources, backend_is_postgres, json_of, spawn_app_with};
use crate::oauth_support::{PASSWORD, make_client, post_form, signed_in};

/// Far longer than any timeout configured here.
const BOUND: Duration = Duration::from_secs(10);

/// A TCP relay to PostgreSQL that can be taken down and brought back on the same port.
struct Relay {
    port: u16,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = Relay {
            port,
            tasks: Arc::default(),
        };
        relay.serve(listener);
        relay
    }

    fn serve(&self, listener: TcpListener) {
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let pipe = tokio::spawn(async move {
                    if let Ok(mut db) = TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut db).await;
                    }
                });
                tasks.lock().unwrap().push(pipe);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// New connections are refused and open ones are cut.
    async fn down(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        // Let the aborted tasks drop their sockets.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// The database is reachable again, on the same port.
    async fn up(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }

    /// `url` with its host and port replaced by the relay's.
    fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (authority, path) = rest.split_once('/').unwrap();
        let credentials = authority
            .rsplit_once('@')
            .map(|(c, _)| format!("{c}@"))
            .unwrap_or_default();
        format!("{scheme}://{credentials}127.0.0.1:{}/{path}", self.port)
    }
}

#[tokio::test]
async fn an_unreachable_database_gives_503_with_retry_after_then_recovers() {
    if !backend_is_postgres() {
        eprintln!("PostgreSQL outage test: runs on the postgres backend");
        return;
    }
    let relay = Relay::start().await;
    let app = spawn_app_with(|env| {
        let url = relay.url_for(&env["DATABASE_URL"]);
        env.insert("DATABASE_URL".into(), url);
        env.insert("PORTCULLIS_DATABASE_ACQUIRE_TIMEOUT".into(), "500ms".into());
    })
    .await;
    let pair = signed_in(&app, "outage@example.com").await;
    let access = pair["access_token"].as_str().unwrap().to_string();
    let client = make_client(&app, false, &["client_credentials"], &[]).await;
    let secret = client.client_secret.clone().unwrap();

    relay.down().await;
    let checks = async {
        for (method, path) in [(Method::GET, "/users/me"), (Method::GET, "/users/me/sessions")] {
            let res = app.authed(method, path, &access, None).await;
            assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
            assert!(res.headers().contains_key("retry-after"), "{path}");
            assert_eq!(res.headers()["content-type"], "application/problem+json", "{path}");
            let (_, body) = json_of(res).await;
            assert_eq!(body["code"], "unavailable", "{body}");
        }
        let res = app
            .post_json(
                "/auth/login",
                &json!({"email": "outage@example.com", "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let res = app
            .post_json(
                "/auth/register",
                &json!({"email": "new@example.com", "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        // The token endpoint answers in its own format (RFC 6749 JSON).
        let res = post_form(
            &app,
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            Some((&client.client_id, &secret)),
        )
        .await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(res.headers().contains_key("retry-after"));
        let (_, body) = json_of(res).await;
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");
        // Readiness says so within its own bound; keys are served from memory meanwhile.
        let res = app.client.get(app.url("/health/ready")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let (_, body) = json_of(res).await;
        assert_eq!(body["checks"]["database"], "unavailable", "{body}");
        let res = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    };
    tokio::time::timeout(BOUND * 3, checks)
        .await
        .expect("requests during the outage were answered, not held");

    relay.up().await;
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = app.authed(Method::GET, "/users/me", &access, None).await.status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK, "service resumed without a restart");
    let res = app.client.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn start_error(tweak: impl FnOnce(&mut HashMap<String, String>)) -> String {
    let resources = TestResources::new().await;
    let mut env = resources.env();
    tweak(&mut env);
    let config = Config::from_map(env).unwrap();
    let started = tokio::time::timeout(
        BOUND,
        portcullis::Application::build_with_clock(config, Clock::system()),
    )
    .await
    .expect("the start gave up in time");
    match started {
        Ok(_) => panic!("the server started"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn an_unreachable_postgres_at_start_is_named_without_its_password() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let message = start_error(|env| {
        env.insert(
            "DATABASE_URL".into(),
            "postgres://portcullis:hunter2secret@127.0.0.1:1/portcullis".into(),
        );
    })
    .await;
    assert!(
        message.contains("cannot connect to PostgreSQL at 127.0.0.1:1: connection refused"),
        "{message}"
    );
    assert!(message.starts_with("DATABASE_URL: "), "{message}");
    assert!(!message.contains("hunter2secret"), "{message}");
    assert!(!message.contains("pool timed out"), "{message}");
}

#[tokio::test]
async fn a_sqlite_url_into_a_missing_folder_stops_the_start() {
    let resources = TestResources::new().await;
    let missing = resources.dir.join("no-such-folder");
    let url = format!("sqlite://{}/portcullis.db", missing.display());
    let message = start_error(|env| {
        env.insert("DATABASE_URL".into(), url);
    })
    .await;
    assert!(message.starts_with("DATABASE_URL: "), "{message}");
    assert!(message.contains("does not exist"), "{message}");
    assert!(message.contains("no-such-folder"), "{message}");
    assert!(!missing.exists(), "the folder was created");
}

#[tokio::test]
async fn the_default_sqlite_location_creates_its_folder() {
    let resources = TestResources::new().await;
    let data = resources.dir.join("fresh").join("data");
    let mut env = resources.env();
    env.remove("DATABASE_URL");
    env.insert("PORTCULLIS_DATA_DIR".into(), data.display().to_string());
    let config = Config::from_map(env).unwrap();
    portcullis::Application::build_with_clock(config, Clock::system())
        .await
        .expect("the default location starts");
    assert!(data.join("portcullis.db").exists());
}
