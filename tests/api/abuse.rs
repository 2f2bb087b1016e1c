//! Abuse protection (SPEC §7, docs/abuse-protection.md): lockout, limits, client IP,
//! no user-existence oracle, and serving on local counters when Redis is away.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, backend_is_postgres, json_of, spawn_app, spawn_app_with};

const EMAIL: &str = "jane@example.com";
const GOOD: &str = "correct horse battery";
const BAD: &str = "wrong password here";

fn short_locks(env: &mut HashMap<String, String>) {
    env.insert("PORTCULLIS_LOCKOUT_THRESHOLD".into(), "3".into());
    env.insert("PORTCULLIS_LOCKOUT_DURATION".into(), "2s".into());
    env.insert("PORTCULLIS_LOCKOUT_MAX_DURATION".into(), "1h".into());
}

async fn login_at(app: &TestApp, base: &str, email: &str, password: &str, xff: Option<&str>) -> Response {
    let mut req = app
        .client
        .post(format!("{base}/auth/login"))
        .json(&json!({ "email": email, "password": password }));
    if let Some(ip) = xff {
        req = req.header("x-forwarded-for", ip);
    }
    req.send().await.unwrap()
}

async fn login(app: &TestApp, email: &str, password: &str) -> Response {
    login_at(app, &app.address, email, password, None).await
}

async fn login_from(app: &TestApp, email: &str, password: &str, ip: &str) -> Response {
    login_at(app, &app.address, email, password, Some(ip)).await
}

async fn token(app: &TestApp, username: &str, password: &str) -> Response {
    app.client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("client_id", "portcullis"),
        ])
        .send()
        .await
        .unwrap()
}

fn retry_after(res: &Response) -> u64 {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After on {}", res.status()))
}

async fn assert_locked(res: Response, max_wait: u64) -> u64 {
    let wait = retry_after(&res);
    assert!(
        (1..=max_wait).contains(&wait),
        "Retry-After {wait} not in 1..={max_wait}"
    );
    assert_problem(res, 403, "account_locked").await;
    wait
}

async fn assert_status(res: Response, status: u16) -> Value {
    let (s, body) = json_of(res).await;
    assert_eq!(s.as_u16(), status, "{body}");
    body
}

async fn events(app: &TestApp, name: &str) -> usize {
    app.state
        .domain
        .store
        .events(None, None, None, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event == name)
        .count()
}

async fn user(app: &TestApp, email: &str) -> portcullis::storage::users::UserRecord {
    app.state
        .domain
        .store
        .user_by_login("default", email)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn the_nth_failure_locks_and_the_lock_expires() {
    let app = spawn_app_with(short_locks).await;
    app.register(EMAIL, GOOD).await;
    for _ in 0..3 {
        assert_problem(login(&app, EMAIL, BAD).await, 401, "invalid_credentials").await;
    }
    // Locked now: even the right password is refused, on both endpoints, without a check.
    assert_locked(login(&app, EMAIL, GOOD).await, 2).await;
    let (status, body) = json_of(token(&app, EMAIL, GOOD).await).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert_eq!(events(&app, "login.failed").await, 3);
    assert_eq!(events(&app, "user.locked").await, 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_status(login(&app, EMAIL, GOOD).await, 200).await;
}

#[tokio::test]
async fn the_lock_period_doubles_on_repeat() {
    let app = spawn_app_with(|env| {
        short_locks(env);
        env.insert("PORTCULLIS_LOCKOUT_DURATION".into(), "1s".into());
    })
    .await;
    app.register(EMAIL, GOOD).await;
    let mut waits = Vec::new();
    for round in 0..3 {
        for _ in 0..3 {
            assert_problem(login(&app, EMAIL, BAD).await, 401, "invalid_credentials").await;
        }
        let wait = assert_locked(login(&app, EMAIL, BAD).await, 4).await;
        waits.push(wait);
        // Wait the lock out (Retry-After is rounded up, so this is enough).
        tokio::time::sleep(Duration::from_millis(wait * 1000 + 50)).await;
        assert_eq!(events(&app, "user.locked").await, round + 1);
    }
    assert_eq!(waits, [1, 2, 4]);
    assert_eq!(events(&app, "user.locked").await, 3);
    assert_status(login(&app, EMAIL, GOOD).await, 200).await;
}

#[tokio::test]
async fn a_successful_login_resets_the_failure_count() {
    let app = spawn_app_with(short_locks).await;
    app.register(EMAIL, GOOD).await;
    for _ in 0..2 {
        assert_problem(login(&app, EMAIL, BAD).await, 401, "invalid_credentials").await;
    }
    assert_status(login(&app, EMAIL, GOOD).await, 200).await;
    for _ in 0..2 {
        assert_problem(login(&app, EMAIL, BAD).await, 401, "invalid_credentials").await;
    }
    assert_status(login(&app, EMAIL, GOOD).await, 200).await;
    assert_eq!(events(&app, "user.locked").await, 0);
}

#[tokio::test]
async fn an_admin_unlock_lifts_the_lock_and_forgets_the_failures() {
    let app = spawn_app_with(|env| {
        short_locks(env);
        env.insert("PORTCULLIS_LOCKOUT_DURATION".into(), "1h".into());
    })
    .await;
    app.register(EMAIL, GOOD).await;
    for _ in 0..3 {
        assert_problem(login(&app, EMAIL, BAD).await, 401, "invalid_credentials").await;
    }
    assert_locked(login(&app, EMAIL, GOOD).await, 3600).await;
    let jane = user(&app, EMAIL).await;
    app.state.domain.unlock_user(&jane).await;
    assert_eq!(app.state.domain.lock_remaining(&jane).await, None);
    // Two failures after the unlock do not lock: the old count is gone.
    for _ in 0..2 {
        assert_problem(login(&app, EMAIL, BAD).await, 401, "invalid_credentials").await;
    }
    assert_status(login(&app, EMAIL, GOOD).await, 200).await;
    // An admin lock refuses until unlocked again.
    app.state.domain.lock_user(&jane, Duration::from_secs(600)).await;
    assert!(app.state.domain.lock_remaining(&jane).await.is_some_and(|s| s <= 600));
    assert_locked(login(&app, EMAIL, GOOD).await, 600).await;
    app.state.domain.unlock_user(&jane).await;
    assert_status(login(&app, EMAIL, GOOD).await, 200).await;
}

#[tokio::test]
async fn parallel_wrong_passwords_run_at_most_the_allowed_checks() {
    let app = spawn_app().await; // default threshold: 5
    app.register(EMAIL, GOOD).await;
    let (client, url) = (app.client.clone(), app.url("/auth/login"));
    let statuses = in_parallel(20, || {
        let req = client.post(&url).json(&json!({ "email": EMAIL, "password": BAD }));
        async move { req.send().await.unwrap().status().as_u16() }
    })
    .await;
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    let locked = statuses.iter().filter(|s| **s == 403).count();
    assert_eq!((wrong, locked), (5, 15), "{statuses:?}");
    // Every password check that ran left one `login.failed` event.
    assert_eq!(events(&app, "login.failed").await, 5);
    assert_eq!(events(&app, "user.locked").await, 1);
    assert_locked(login(&app, EMAIL, GOOD).await, 900).await;
}

#[tokio::test]
async fn parallel_wrong_passwords_on_the_token_endpoint_are_bounded_too() {
    let app = spawn_app().await;
    app.register(EMAIL, GOOD).await;
    let (client, url) = (app.client.clone(), app.url("/oauth/token"));
    let answers = in_parallel(20, || {
        let form = [
            ("grant_type", "password"),
            ("username", EMAIL),
            ("password", BAD),
            ("client_id", "portcullis"),
        ];
        let req = client.post(&url).form(&form);
        async move { json_of(req.send().await.unwrap()).await }
    })
    .await;
    assert!(
        answers
            .iter()
            .all(|(s, b)| s.as_u16() == 400 && b["error"] == "invalid_grant")
    );
    assert_eq!(events(&app, "login.failed").await, 5);
}

/// Runs `n` copies of a request at once and collects the answers.
async fn in_parallel<F, Fut, T>(n: usize, f: F) -> Vec<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        set.spawn(f());
    }
    set.join_all().await
}

fn behind_proxy(env: &mut HashMap<String, String>) {
    short_locks(env);
    env.insert("PORTCULLIS_LOCKOUT_DURATION".into(), "1h".into());
    env.insert("PORTCULLIS_TRUSTED_PROXIES".into(), "127.0.0.1".into());
}

#[tokio::test]
async fn one_ip_locks_only_itself_out_and_many_ips_lock_the_account() {
    let app = spawn_app_with(|env| {
        behind_proxy(env);
        env.insert("PORTCULLIS_LOCKOUT_ACCOUNT_THRESHOLD".into(), "6".into());
    })
    .await;
    app.register(EMAIL, GOOD).await;
    // The forwarded IP from the trusted proxy is the one that is counted and locked.
    for _ in 0..3 {
        assert_problem(
            login_from(&app, EMAIL, BAD, "203.0.113.7").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    assert_locked(login_from(&app, EMAIL, GOOD, "203.0.113.7").await, 3600).await;
    // The real user, elsewhere, still gets in (and that resets the account-wide count).
    assert_status(login_from(&app, EMAIL, GOOD, "198.51.100.1").await, 200).await;
    // Failures from several IPs add up to the account-wide threshold (6): everyone is locked.
    for ip in [
        "192.0.2.1",
        "192.0.2.1",
        "192.0.2.2",
        "192.0.2.2",
        "192.0.2.3",
        "192.0.2.3",
    ] {
        assert_problem(login_from(&app, EMAIL, BAD, ip).await, 401, "invalid_credentials").await;
    }
    assert_locked(login_from(&app, EMAIL, GOOD, "198.51.100.1").await, 3600).await;
    let scopes: Vec<String> = app
        .state
        .domain
        .store
        .events(None, None, None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == "user.locked")
        .map(|e| e.detail.unwrap()["scope"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(scopes, ["account", "ip"], "newest first");
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(|env| {
        short_locks(env);
        env.insert("PORTCULLIS_LOCKOUT_DURATION".into(), "1h".into());
    })
    .await;
    app.register(EMAIL, GOOD).await;
    // Each request claims another IP; without trusted proxies they all count as 127.0.0.1.
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        assert_problem(login_from(&app, EMAIL, BAD, ip).await, 401, "invalid_credentials").await;
    }
    assert_locked(login_from(&app, EMAIL, GOOD, "203.0.113.4").await, 3600).await;
    let ips: Vec<Option<String>> = app
        .state
        .domain
        .store
        .events(None, None, None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == "login.failed")
        .map(|e| e.ip)
        .collect();
    assert!(ips.iter().all(|ip| ip.as_deref() == Some("127.0.0.1")), "{ips:?}");
}

#[tokio::test]
async fn failed_credential_checks_per_ip_answer_429_with_retry_after() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_FAILED_LOGINS_PER_IP".into(), "4/1m".into());
    })
    .await;
    app.register(EMAIL, GOOD).await;
    // A success does not use up the failure budget.
    assert_status(login(&app, EMAIL, GOOD).await, 200).await;
    for i in 0..4 {
        let who = format!("user{i}@example.com");
        assert_problem(login(&app, &who, BAD).await, 401, "invalid_credentials").await;
    }
    let res = login(&app, EMAIL, GOOD).await;
    let wait = retry_after(&res);
    assert!((50..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(res.headers()["ratelimit-policy"], "\"failed_logins_ip\";q=4;w=60");
    assert_eq!(
        res.headers()["ratelimit"],
        format!("\"failed_logins_ip\";r=0;t={wait}").as_str()
    );
    assert_problem(res, 429, "rate_limited").await;
    let res = token(&app, EMAIL, GOOD).await;
    assert!((50..=60).contains(&retry_after(&res)));
    assert!(res.headers().contains_key("ratelimit-policy"));
    let (status, body) = json_of(res).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (429, Some("too_many_requests"))
    );
    // Throttled requests are not password checks and add no failures.
    assert_eq!(events(&app, "login.failed").await, 4);
}

#[tokio::test]
async fn logins_per_account_are_limited() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_LOGINS_PER_ACCOUNT".into(), "3/1m".into());
    })
    .await;
    app.register(EMAIL, GOOD).await;
    for _ in 0..3 {
        assert_status(login(&app, EMAIL, GOOD).await, 200).await;
    }
    let res = login(&app, EMAIL, GOOD).await;
    assert!((50..=60).contains(&retry_after(&res)));
    assert_eq!(res.headers()["ratelimit-policy"], "\"logins_account\";q=3;w=60");
    assert_problem(res, 429, "rate_limited").await;
}

#[tokio::test]
async fn sign_ups_per_ip_answer_429_with_retry_after() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_SIGNUPS_PER_IP".into(), "2/1h".into());
    })
    .await;
    app.register("a@example.com", GOOD).await;
    app.register("b@example.com", GOOD).await;
    let res = app
        .post_json("/auth/register", &json!({"email": "c@example.com", "password": GOOD}))
        .await;
    let wait = retry_after(&res);
    assert!((3590..=3600).contains(&wait), "Retry-After {wait}");
    assert_eq!(res.headers()["ratelimit-policy"], "\"signups_ip\";q=2;w=3600");
    assert_problem(res, 429, "rate_limited").await;
}

#[tokio::test]
async fn the_first_line_limits_every_route_per_ip_but_not_health() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_RATE_LIMIT_PER_SECOND".into(), "1".into());
        env.insert("PORTCULLIS_RATE_LIMIT_BURST".into(), "3".into());
    })
    .await;
    let get = |path: &'static str| app.client.get(app.url(path)).send();
    for _ in 0..3 {
        assert_eq!(get("/.well-known/jwks.json").await.unwrap().status(), 200);
    }
    let res = get("/.well-known/jwks.json").await.unwrap();
    let wait = retry_after(&res);
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    assert_eq!(res.headers()["ratelimit-policy"], "\"ip\";q=3;w=3");
    assert_problem(res, 429, "rate_limited").await;
    // Unknown paths and other methods are limited too.
    assert_eq!(get("/nope").await.unwrap().status(), 429);
    for _ in 0..10 {
        assert_eq!(get("/health/live").await.unwrap().status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(wait * 1000)).await;
    assert_eq!(get("/.well-known/jwks.json").await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_first_line_keys_on_the_forwarded_ip_from_a_trusted_proxy_only() {
    let app = spawn_app_with(|env| {
        env.insert("PORTCULLIS_RATE_LIMIT_PER_SECOND".into(), "1".into());
        env.insert("PORTCULLIS_RATE_LIMIT_BURST".into(), "2".into());
        env.insert("PORTCULLIS_TRUSTED_PROXIES".into(), "127.0.0.1".into());
    })
    .await;
    let get = |ip: &'static str| {
        app.client
            .get(app.url("/.well-known/jwks.json"))
            .header("x-forwarded-for", ip)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(get("203.0.113.1").await.unwrap().status(), 200);
    }
    assert_eq!(get("203.0.113.1").await.unwrap().status(), 429);
    // Another client behind the same proxy has its own budget.
    assert_eq!(get("203.0.113.2").await.unwrap().status(), 200);
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_look_the_same() {
    let app = spawn_app_with(|env| {
        short_locks(env);
        env.insert("PORTCULLIS_LOCKOUT_DURATION".into(), "1h".into());
    })
    .await;
    app.register(EMAIL, GOOD).await;
    let ghost = "ghost@example.com";
    let a = json_of(login(&app, EMAIL, BAD).await).await;
    let b = json_of(login(&app, ghost, BAD).await).await;
    assert_eq!(a, b);
    assert_eq!(a.0.as_u16(), 401);
    let a = json_of(token(&app, EMAIL, BAD).await).await;
    let b = json_of(token(&app, ghost, BAD).await).await;
    assert_eq!(a, b);
    assert_eq!(a.0.as_u16(), 400);
    // Unknown logins lock exactly like real ones, so the lock is no oracle either.
    let a = login(&app, EMAIL, BAD).await;
    let b = login(&app, ghost, BAD).await;
    assert_eq!(json_of(a).await, json_of(b).await);
    let a = login(&app, EMAIL, BAD).await;
    let b = login(&app, ghost, BAD).await;
    let (wa, wb) = (retry_after(&a), retry_after(&b));
    assert!(wa.abs_diff(wb) <= 1);
    assert_eq!(json_of(a).await, json_of(b).await);
}

#[tokio::test]
async fn two_instances_share_counters() {
    let app = spawn_app_with(|env| {
        short_locks(env);
        env.insert("PORTCULLIS_LOCKOUT_DURATION".into(), "1h".into());
    })
    .await;
    app.register(EMAIL, GOOD).await;
    let second = crate::helpers::start(app.env.clone()).await;
    let (shutdown, rx) = tokio::sync::oneshot::channel::<()>();
    let other = format!("http://{}", second.address());
    tokio::spawn(second.run_until(async {
        let _ = rx.await;
    }));
    // Failures split across the instances add up to one count.
    assert_problem(login(&app, EMAIL, BAD).await, 401, "invalid_credentials").await;
    assert_problem(
        login_at(&app, &other, EMAIL, BAD, None).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_problem(login(&app, EMAIL, BAD).await, 401, "invalid_credentials").await;
    let res = login_at(&app, &other, EMAIL, GOOD, None).await;
    if backend_is_postgres() {
        assert_locked(res, 3600).await;
    } else {
        // In-process counters are per instance by design (the embedded default runs one
        // instance); the second server has seen one failure only, so it lets the user in.
        assert_status(res, 200).await;
    }
    let _ = shutdown.send(());
}

async fn ready(app: &TestApp) -> Value {
    assert_status(app.client.get(app.url("/health/ready")).send().await.unwrap(), 200).await
}

#[tokio::test]
async fn a_dead_redis_degrades_to_local_counters_without_errors() {
    let app = spawn_app_with(|env| {
        short_locks(env);
        env.insert("REDIS_URL".into(), "redis://127.0.0.1:1".into());
        env.insert("PORTCULLIS_REDIS_PREFIX".into(), "dead:".into());
    })
    .await;
    app.register(EMAIL, GOOD).await;
    assert_status(login(&app, EMAIL, GOOD).await, 200).await;
    assert_status(token(&app, EMAIL, GOOD).await, 200).await;
    let body = ready(&app).await;
    assert_eq!(
        (body["status"].as_str(), body["checks"]["redis"].as_str()),
        (Some("degraded"), Some("degraded"))
    );
    // Lockout still works, on the local counters.
    for _ in 0..3 {
        assert_problem(login(&app, EMAIL, BAD).await, 401, "invalid_credentials").await;
    }
    assert_locked(login(&app, EMAIL, GOOD).await, 2).await;
    assert!(app.state.domain.counters.is_degraded());
}

/// A throwaway Redis on a free port, killed (only this one) when dropped.
struct OwnRedis {
    port: u16,
    pid: Option<u32>,
}

impl OwnRedis {
    fn start(port: u16) -> Option<Self> {
        let out = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .args([
                "--daemonize",
                "yes",
                "--pidfile",
                &format!("/tmp/portcullis-test-redis-{port}.pid"),
            ])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let mut me = Self { port, pid: None };
        for _ in 0..50 {
            if let Ok(pid) = std::fs::read_to_string(format!("/tmp/portcullis-test-redis-{port}.pid"))
                && let Ok(pid) = pid.trim().parse()
            {
                me.pid = Some(pid);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        me.pid.map(|_| me)
    }

    fn stop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
            std::thread::sleep(Duration::from_millis(300));
            let _ = std::fs::remove_file(format!("/tmp/portcullis-test-redis-{}.pid", self.port));
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn redis_going_away_mid_run_and_coming_back() {
    let port = free_port();
    let Some(mut redis) = OwnRedis::start(port) else {
        eprintln!("redis-server is not installed; skipping");
        return;
    };
    let app = spawn_app_with(|env| {
        short_locks(env);
        env.insert("REDIS_URL".into(), format!("redis://127.0.0.1:{port}"));
        env.insert("PORTCULLIS_REDIS_PREFIX".into(), "own:".into());
    })
    .await;
    app.register(EMAIL, GOOD).await;
    assert_status(login(&app, EMAIL, GOOD).await, 200).await;
    assert_eq!(ready(&app).await["status"], "ok");

    redis.stop();
    for _ in 0..3 {
        assert_status(login(&app, EMAIL, GOOD).await, 200).await;
        assert_status(token(&app, EMAIL, GOOD).await, 200).await;
    }
    assert_problem(login(&app, EMAIL, BAD).await, 401, "invalid_credentials").await;
    assert_eq!(ready(&app).await["status"], "degraded");

    let _back = OwnRedis::start(redis.port).expect("restart redis");
    // Redis is retried 2 s after the last failure at most; readiness pings it at once.
    let mut status = Value::Null;
    for _ in 0..40 {
        status = ready(&app).await["status"].clone();
        if status == "ok" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status, "ok");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_status(login(&app, EMAIL, GOOD).await, 200).await;
    assert!(!app.state.domain.counters.is_degraded());
}
