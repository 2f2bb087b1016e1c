//! Closed-loop HTTP load generator for `scripts/bench.sh`: N connections each send one
//! request after another for a fixed time; prints one Markdown table row per run.
//!
//! ```text
//! load setup    --base URL --users N --password P
//! load run      --base URL --scenario cc|refresh|password|jwks [--connections 32] [--seconds 10]
//!               [--client-id ID --client-secret S] [--users N --password P]
//! load argon2   [--threads N] [--seconds 3]     argon2id checks/s with the production cost
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Args(HashMap<String, String>);

impl Args {
    fn parse() -> (String, Args) {
        // `cargo bench` adds `--bench`; ignore it.
        let raw: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
        let mode = raw.first().cloned().unwrap_or_default();
        let mut map = HashMap::new();
        let mut it = raw.into_iter().skip(1);
        while let Some(k) = it.next() {
            let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
            map.insert(k.trim_start_matches("--").to_string(), v);
        }
        (mode, Args(map))
    }
    fn get(&self, k: &str) -> String {
        self.0.get(k).cloned().unwrap_or_else(|| panic!("--{k} is required"))
    }
    fn num(&self, k: &str, default: u64) -> u64 {
        self.0.get(k).map(|v| v.parse().unwrap()).unwrap_or(default)
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(1024).build().unwrap()
}

fn email(i: u64) -> String {
    format!("bench{i}@example.com")
}

async fn setup(a: &Args) {
    let (base, users, password) = (a.get("base"), a.num("users", 64), a.get("password"));
    let client = http();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..users {
        let req = client
            .post(format!("{base}/auth/register"))
            .json(&serde_json::json!({ "email": email(i), "password": password }));
        set.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    let statuses = set.join_all().await;
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "sign-ups failed: {statuses:?}"
    );
}

/// One request of a scenario; `state` is the connection's own (its refresh token).
async fn request(client: &reqwest::Client, a: &Scenario, worker: u64, state: &mut Option<String>) -> bool {
    let url = format!("{}/oauth/token", a.base);
    let res = match a.name.as_str() {
        "jwks" => client.get(format!("{}/.well-known/jwks.json", a.base)).send().await,
        "cc" => {
            client
                .post(&url)
                .basic_auth(&a.client_id, Some(&a.client_secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
        }
        "password" => {
            let user = email(worker % a.users);
            client
                .post(&url)
                .form(&[
                    ("grant_type", "password"),
                    ("username", user.as_str()),
                    ("password", a.password.as_str()),
                    ("client_id", "portcullis"),
                ])
                .send()
                .await
        }
        "refresh" => {
            let token = state.clone().unwrap_or_default();
            client
                .post(&url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                    ("client_id", "portcullis"),
                ])
                .send()
                .await
        }
        other => panic!("unknown scenario {other}"),
    };
    let Ok(res) = res else { return false };
    let ok = res.status().is_success();
    if a.name == "refresh" {
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if let Some(t) = body["refresh_token"].as_str() {
            *state = Some(t.to_string());
        }
    } else {
        let _ = res.bytes().await;
    }
    ok
}

struct Scenario {
    name: String,
    base: String,
    client_id: String,
    client_secret: String,
    users: u64,
    password: String,
}

async fn first_refresh_token(client: &reqwest::Client, a: &Scenario, worker: u64) -> Option<String> {
    let res = client
        .post(format!("{}/oauth/token", a.base))
        .form(&[
            ("grant_type", "password"),
            ("username", email(worker % a.users).as_str()),
            ("password", a.password.as_str()),
            ("client_id", "portcullis"),
        ])
        .send()
        .await
        .ok()?;
    let body: Value = res.json().await.ok()?;
    body["refresh_token"].as_str().map(str::to_string)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

async fn run(a: &Args) {
    let scenario = Arc::new(Scenario {
        name: a.get("scenario"),
        base: a.get("base"),
        client_id: a.0.get("client-id").cloned().unwrap_or_default(),
        client_secret: a.0.get("client-secret").cloned().unwrap_or_default(),
        users: a.num("users", 64).max(1),
        password: a.0.get("password").cloned().unwrap_or_default(),
    });
    let connections = a.num("connections", 32);
    let seconds = a.num("seconds", 10);
    let stop = Arc::new(AtomicBool::new(false));
    // Every worker gets ready (its first refresh token) before the clock starts.
    let ready = Arc::new(tokio::sync::Barrier::new(connections as usize + 1));
    let mut set = tokio::task::JoinSet::new();
    for worker in 0..connections {
        let (s, stop, ready) = (scenario.clone(), stop.clone(), ready.clone());
        set.spawn(async move {
            // One client per worker: one keep-alive connection each.
            let client = http();
            let mut state = None;
            if s.name == "refresh" {
                state = first_refresh_token(&client, &s, worker).await;
            }
            ready.wait().await;
            let (mut lat, mut errors) = (Vec::new(), 0u64);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                if request(&client, &s, worker, &mut state).await {
                    lat.push(t.elapsed());
                } else {
                    errors += 1;
                    if s.name == "refresh" {
                        state = first_refresh_token(&client, &s, worker).await;
                    }
                }
            }
            (lat, errors)
        });
    }
    ready.wait().await;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let wall = started.elapsed();
    let (mut all, mut errors) = (Vec::new(), 0);
    for (lat, e) in set.join_all().await {
        all.extend(lat);
        errors += e;
    }
    all.sort();
    println!(
        "RESULT scenario={} rps={:.0} p50_ms={:.2} p99_ms={:.2} ok={} errors={} seconds={:.1}",
        scenario.name,
        all.len() as f64 / wall.as_secs_f64(),
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        all.len(),
        errors,
        wall.as_secs_f64()
    );
}

fn argon2_limit(a: &Args) {
    use argon2::password_hash::rand_core::OsRng;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
    let threads = a.num(
        "threads",
        std::thread::available_parallelism().map_or(2, |n| n.get() as u64),
    );
    let seconds = a.num("seconds", 3);
    let params = argon2::Params::new(19456, 2, 1, None).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let hash = argon
        .hash_password(b"correct horse battery", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let hash = hash.clone();
            std::thread::spawn(move || {
                let parsed = argon2::PasswordHash::new(&hash).unwrap();
                let mut n = 0u64;
                let t = Instant::now();
                while t.elapsed() < Duration::from_secs(seconds) {
                    argon2::Argon2::default()
                        .verify_password(b"correct horse battery", &parsed)
                        .unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    println!(
        "RESULT scenario=argon2 rps={:.1} threads={threads}",
        total as f64 / started.elapsed().as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let (mode, args) = Args::parse();
    match mode.as_str() {
        "setup" => setup(&args).await,
        "run" => run(&args).await,
        "argon2" => argon2_limit(&args),
        _ => {
            eprintln!("usage: load setup|run|argon2 [--key value]…");
            std::process::exit(2);
        }
    }
}
