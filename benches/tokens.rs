//! Token-path benchmark: `cargo bench --bench tokens`.
//!
//! Plain `Instant` loops, bounded in count, loopback only. Measures RS256 signing and
//! verification through the production keyring, argon2id with production parameters, and
//! `POST /oauth/token` (client_credentials) against a server started in this process on
//! SQLite, with N concurrent client tasks. Results are printed; nothing is asserted.
//!
//! Knobs (environment): `BENCH_SIGN_ITERS` (default 2000), `BENCH_VERIFY_ITERS` (5000),
//! `BENCH_HASH_ITERS` (20), `BENCH_HTTP_REQUESTS` (2000 per concurrency level),
//! `BENCH_CONCURRENCY` (comma-separated, default `1,8,32`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis::clock::Clock;
use portcullis::config::{Argon2Params, Secret};
use portcullis::domain::Meta;
use portcullis::domain::clients::ClientSpec;
use portcullis::domain::password::Hasher;
use portcullis::domain::tokens::Subject;
use portcullis::{Application, Config};
use serde_json::{Map, Value, json};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Resident set size of this process in KiB, from `/proc/self/status` (Linux only).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn fmt_rss(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

fn per_op(total: Duration, n: usize) -> String {
    let us = total.as_secs_f64() * 1e6 / n as f64;
    if us >= 1000.0 {
        format!("{:.3} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let rss_start = rss_kib();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!("portcullis token benchmark");
    println!(
        "machine: {cores} logical cores ({}), {} build",
        std::env::consts::ARCH,
        if cfg!(debug_assertions) { "debug" } else { "optimized" }
    );
    println!("RSS at start: {}", fmt_rss(rss_start));

    let dir = std::env::temp_dir().join(format!("portcullis-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let env: HashMap<String, String> = [
        ("PORTCULLIS_LISTEN", "127.0.0.1:0".to_string()),
        ("DATABASE_URL", format!("sqlite://{}/portcullis.db", dir.display())),
        ("PORTCULLIS_KEYS_DIR", dir.join("keys").display().to_string()),
        ("PORTCULLIS_DATA_DIR", dir.join("data").display().to_string()),
        // A fixed throwaway KEK: this database lives only as long as the benchmark.
        (
            "PORTCULLIS_KEY_ENCRYPTION_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
        ),
        // Every request comes from 127.0.0.1; the per-IP limit would measure itself.
        ("PORTCULLIS_RATE_LIMIT_PER_SECOND", "1000000".into()),
        ("PORTCULLIS_RATE_LIMIT_BURST", "1000000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::from_map(env).expect("bench configuration");
    let key_bits = config.key_bits;
    let app = Application::build_with_clock(config, Clock::system())
        .await
        .expect("server starts");
    let state = app.state().clone();
    let domain = state.domain.clone();
    let address = app.address();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stop_rx.await;
    }));
    println!("RSS with server up: {}", fmt_rss(rss_kib()));

    let spec = ClientSpec {
        name: "bench".into(),
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["read".into(), "write".into()],
        tenant: "default".into(),
        ..ClientSpec::default()
    };
    let view = domain.create_client(spec, &Meta::default()).await.unwrap();
    let client_id = view.client_id.clone();
    let client_secret = view.client_secret.clone().unwrap();
    let record = domain.store.client(&client_id).await.unwrap().unwrap();
    let scopes = vec!["read".to_string(), "write".to_string()];

    // --- RS256 sign -------------------------------------------------------------------
    println!("RSS with server and client: {}", fmt_rss(rss_kib()));
    println!();
    println!("## RS256 ({key_bits}-bit key, josekit/OpenSSL through portcullis::keys::Keyring)");
    let n = env_num("BENCH_SIGN_ITERS", 2000);
    for _ in 0..20 {
        domain.mint(&record, &Subject::Client, &scopes, None).unwrap();
    }
    let t = Instant::now();
    let mut token = String::new();
    for _ in 0..n {
        token = domain
            .mint(&record, &Subject::Client, &scopes, None)
            .unwrap()
            .access_token;
    }
    let mint = t.elapsed();
    println!(
        "mint access token (claims + RS256 sign), {n}x: {} per token ({:.0}/s on one core)",
        per_op(mint, n),
        n as f64 / mint.as_secs_f64()
    );
    let mut claims: Map<String, Value> = Map::new();
    claims.insert("sub".into(), json!("bench"));
    claims.insert("scope".into(), json!("read write"));
    let t = Instant::now();
    for _ in 0..n {
        domain.keys.sign("at+jwt", claims.clone()).unwrap();
    }
    let sign = t.elapsed();
    println!("Keyring::sign alone, {n}x: {} per signature", per_op(sign, n));

    // --- RS256 verify -----------------------------------------------------------------
    let n = env_num("BENCH_VERIFY_ITERS", 5000);
    let t = Instant::now();
    for _ in 0..n {
        domain.keys.verify(&token, "at+jwt").unwrap();
    }
    let verify = t.elapsed();
    println!(
        "Keyring::verify (header checks + RS256 verify), {n}x: {} per token",
        per_op(verify, n)
    );
    let t = Instant::now();
    for _ in 0..n {
        domain.verify_access_token(&token).unwrap();
    }
    let verify_full = t.elapsed();
    println!(
        "Domain::verify_access_token (+ iss/exp/nbf and claim parsing), {n}x: {} per token",
        per_op(verify_full, n)
    );

    // --- argon2id ---------------------------------------------------------------------
    println!();
    println!("## argon2id (m=19456 KiB, t=2, p=1: the production default)");
    let n = env_num("BENCH_HASH_ITERS", 20);
    let params = Argon2Params {
        memory_kib: 19456,
        iterations: 2,
        parallelism: 1,
    };
    let hasher = Hasher::new(params, 1).unwrap();
    let password = Secret::new("correct horse battery staple");
    let stored = hasher.hash(&password).await.unwrap();
    let t = Instant::now();
    for _ in 0..n {
        hasher.hash(&password).await.unwrap();
    }
    let hash = t.elapsed();
    println!("hash, {n}x sequential: {} per hash", per_op(hash, n));
    let t = Instant::now();
    for _ in 0..n {
        assert!(hasher.verify(&password, &stored).await.unwrap().ok);
    }
    let verify_pw = t.elapsed();
    println!("verify, {n}x sequential: {} per check", per_op(verify_pw, n));
    println!("RSS after hashing: {}", fmt_rss(rss_kib()));

    // --- end to end ---------------------------------------------------------------------
    println!();
    println!("## POST /oauth/token, grant_type=client_credentials, client_secret_basic, SQLite");
    println!("(load generator and server share this process and its cores)");
    let total = env_num("BENCH_HTTP_REQUESTS", 2000);
    let levels: Vec<usize> = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .map(|v| v.split(',').filter_map(|p| p.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 32]);
    let url = Arc::new(format!("http://{address}/oauth/token"));
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    // Warm up connections and caches.
    for _ in 0..50 {
        let res = http
            .post(url.as_str())
            .basic_auth(&client_id, Some(&client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap();
    }
    let mut rss_levels = Vec::new();
    println!("| concurrency | requests | throughput | p50 | p90 | p99 | max |");
    println!("|---|---|---|---|---|---|---|");
    for &conc in &levels {
        let conc = conc.max(1);
        let per_task = total.div_ceil(conc);
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(conc);
        for _ in 0..conc {
            let http = http.clone();
            let url = url.clone();
            let (id, secret) = (client_id.clone(), client_secret.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_task);
                for _ in 0..per_task {
                    let t = Instant::now();
                    let res = http
                        .post(url.as_str())
                        .basic_auth(&id, Some(&secret))
                        .form(&[("grant_type", "client_credentials")])
                        .send()
                        .await
                        .unwrap();
                    let ok = res.status() == 200;
                    res.bytes().await.unwrap();
                    assert!(ok, "token request failed");
                    lat.push(t.elapsed());
                }
                lat
            }));
        }
        let mut all = Vec::with_capacity(per_task * conc);
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        let wall = started.elapsed();
        all.sort();
        println!(
            "| {conc} | {} | {:.0} req/s | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            all.len(),
            all.len() as f64 / wall.as_secs_f64(),
            ms(percentile(&all, 0.50)),
            ms(percentile(&all, 0.90)),
            ms(percentile(&all, 0.99)),
            ms(percentile(&all, 1.0)),
        );
        rss_levels.push((conc, rss_kib()));
    }

    for (conc, rss) in rss_levels {
        println!("RSS after concurrency {conc}: {}", fmt_rss(rss));
    }
    println!();
    println!("RSS at end: {} (start {})", fmt_rss(rss_kib()), fmt_rss(rss_start));
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    let _ = std::fs::remove_dir_all(&dir);
}
