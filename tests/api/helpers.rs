//! `spawn_app`: the real server on a random port, with its own database (SQLite file or a
//! fresh PostgreSQL database) and its own Redis key prefix, removed again when the test ends.

use std::collections::HashMap;

use portcullis::clock::Clock;
use portcullis::http::AppState;
use portcullis::{Application, Config};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;

/// Which backends the suite runs on: `PORTCULLIS_TEST_BACKEND=postgres` (PostgreSQL + Redis)
/// or `sqlite` (the default: SQLite + in-process counters).
pub fn backend_is_postgres() -> bool {
    std::env::var("PORTCULLIS_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

fn pg_admin_url() -> String {
    std::env::var("PORTCULLIS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Redis for tests.
pub fn redis_url() -> String {
    std::env::var("PORTCULLIS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// HTTP client (no redirects, no cookies).
    pub client: reqwest::Client,
    /// The server's state: clock, keyring, store.
    pub state: AppState,
    /// The configuration values it runs with (environment spelling).
    pub env: HashMap<String, String>,
    /// Per-test resources, removed on drop.
    pub resources: TestResources,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Database, Redis keys and folder that belong to one test.
pub struct TestResources {
    /// Folder for the SQLite file and keys.
    pub dir: std::path::PathBuf,
    /// PostgreSQL database name, when on PostgreSQL.
    pub pg_database: Option<String>,
    /// Redis key prefix, when on Redis.
    pub redis_prefix: Option<String>,
    /// Database URL.
    pub database_url: String,
}

impl TestResources {
    /// Creates a fresh database (and Redis prefix on the postgres backend).
    pub async fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("portcullis-test-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        if backend_is_postgres() {
            let name = format!("portcullis_test_{id}");
            let mut conn = sqlx::PgConnection::connect(&pg_admin_url())
                .await
                .expect("PostgreSQL for tests");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .unwrap();
            let base = pg_admin_url();
            let url = format!("{}/{name}", base.rsplit_once('/').map(|(a, _)| a).unwrap_or(&base));
            TestResources {
                dir,
                pg_database: Some(name),
                redis_prefix: Some(format!("test:{id}:")),
                database_url: url,
            }
        } else {
            let url = format!("sqlite://{}/portcullis.db", dir.display());
            TestResources {
                dir,
                pg_database: None,
                redis_prefix: None,
                database_url: url,
            }
        }
    }

    /// Base configuration values for a server on these resources.
    pub fn env(&self) -> HashMap<String, String> {
        let mut env: HashMap<String, String> = [
            ("PORTCULLIS_LISTEN", "127.0.0.1:0".to_string()),
            ("DATABASE_URL", self.database_url.clone()),
            ("PORTCULLIS_KEYS_DIR", self.dir.join("keys").display().to_string()),
            ("PORTCULLIS_DATA_DIR", self.dir.join("data").display().to_string()),
            // Light hashing keeps the suite fast; one unit test keeps the production cost.
            ("PORTCULLIS_ARGON2_MEMORY_KIB", "64".into()),
            ("PORTCULLIS_ARGON2_ITERATIONS", "1".into()),
            (
                "PORTCULLIS_KEY_ENCRYPTION_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
            ),
            ("PORTCULLIS_RATE_LIMIT_PER_SECOND", "1000".into()),
            ("PORTCULLIS_RATE_LIMIT_BURST", "1000".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(prefix) = &self.redis_prefix {
            env.insert("REDIS_URL".into(), redis_url());
            env.insert("PORTCULLIS_REDIS_PREFIX".into(), prefix.clone());
        }
        env
    }
}

impl Drop for TestResources {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let db = self.pg_database.take();
        let prefix = self.redis_prefix.take();
        if db.is_none() && prefix.is_none() {
            return;
        }
        // Drop runs inside the test's runtime; clean up on a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                if let Some(db) = db
                    && let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await
                {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
                if let Some(prefix) = prefix
                    && let Ok(client) = redis::Client::open(redis_url())
                    && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                {
                    let keys: Vec<String> = redis::cmd("KEYS")
                        .arg(format!("{prefix}*"))
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
                    }
                }
            });
        })
        .join();
    }
}

/// Starts the server with the default test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the server after `tweak` adjusted the configuration values.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        portcullis::telemetry::init(portcullis::config::LogFormat::Text);
    }
    let resources = TestResources::new().await;
    let mut env = resources.env();
    tweak(&mut env);
    let app = start(env.clone()).await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let address = format!("http://{}", app.address());
    let state = app.state().clone();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        state,
        env,
        resources,
        shutdown: Some(tx),
    }
}

/// Builds an application from configuration values.
pub async fn start(env: HashMap<String, String>) -> Application {
    let config = Config::from_map(env).expect("test configuration");
    Application::build_with_clock(config, Clock::system())
        .await
        .expect("server starts")
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A response's status and JSON body (Null when the body is not JSON).
pub async fn json_of(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl TestApp {
    /// Absolute URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// POSTs JSON.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }

    /// Sends a request with a bearer token and optional JSON body.
    pub async fn authed(&self, method: reqwest::Method, path: &str, token: &str, body: Option<&Value>) -> Response {
        let mut req = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    /// Registers a user and returns its JSON.
    pub async fn register(&self, email: &str, password: &str) -> Value {
        let (status, body) = json_of(
            self.post_json("/auth/register", &json!({"email": email, "password": password}))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}

/// Asserts a problem+json answer with the given status and code.
pub async fn assert_problem(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(
        res.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "problem content type"
    );
    let (s, body) = json_of(res).await;
    assert_eq!(s.as_u16(), status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["title"].is_string() && body["type"].is_string(), "{body}");
    body
}

/// A second instance on the same database, served over HTTP.
pub struct Instance {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// Its state (clock, keyring).
    pub state: AppState,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts and serves another instance with these configuration values.
pub async fn serve(env: HashMap<String, String>) -> Instance {
    let app: Application = start(env).await;
    let address = format!("http://{}", app.address());
    let state = app.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    Instance {
        address,
        state,
        _stop: tx,
    }
}

/// Status of `GET /users/me` at `base` with a bearer token (any instance).
pub async fn me_at(client: &reqwest::Client, base: &str, token: &str) -> StatusCode {
    client
        .get(format!("{base}/users/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}
