//! Many password checks at once: correct logins are never refused because other checks are
//! in flight (issue 10), and a full hashing queue sheds with 503 + `Retry-After` (issue 14).

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of, spawn_app_with};
use crate::oauth_support::{PASSWORD, create_user};

/// Hashing slow enough that parallel checks overlap, one at a time.
fn slow_serial_hashing(env: &mut HashMap<String, String>) {
    env.insert("PORTCULLIS_ARGON2_MEMORY_KIB".into(), "8192".into());
    env.insert("PORTCULLIS_ARGON2_ITERATIONS".into(), "3".into());
    env.insert("PORTCULLIS_HASH_CONCURRENCY".into(), "1".into());
}

async fn parallel_logins(app: &TestApp, logins: Vec<(String, &'static str)>) -> Vec<(u16, Value, Option<String>)> {
    let mut set = tokio::task::JoinSet::new();
    for (email, password) in logins {
        let req = app
            .client
            .post(app.url("/auth/login"))
            .json(&json!({ "email": email, "password": password }));
        set.spawn(async move {
            let res = req.send().await.unwrap();
            let retry = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let (status, body) = json_of(res).await;
            (status.as_u16(), body, retry)
        });
    }
    set.join_all().await
}

#[tokio::test]
async fn thirty_two_parallel_correct_logins_from_one_ip_all_succeed() {
    let app = spawn_app_with(|env| {
        slow_serial_hashing(env);
        // A small failure budget makes the checks in flight hold all of it.
        env.insert("PORTCULLIS_FAILED_LOGINS_PER_IP".into(), "4/1m".into());
    })
    .await;
    let mut logins = Vec::new();
    for i in 0..32 {
        let email = format!("user{i}@example.com");
        create_user(&app, &email, &["customer"]).await;
        logins.push((email, PASSWORD));
    }
    let answers = parallel_logins(&app, logins).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    // The budget still holds for wrong passwords: four failures, then 429.
    for i in 0..4 {
        let (status, _, _) = parallel_logins(&app, vec![(format!("user{i}@example.com"), "wrong password")])
            .await
            .remove(0);
        assert_eq!(status, 401);
    }
    let (status, body, retry) = parallel_logins(&app, vec![("user9@example.com".into(), PASSWORD)])
        .await
        .remove(0);
    assert_eq!(status, 429, "{body}");
    assert!(retry.is_some());
}

#[tokio::test]
async fn parallel_correct_logins_to_one_account_are_not_locked_out() {
    let app = spawn_app_with(slow_serial_hashing).await; // lockout threshold 5 per IP
    create_user(&app, "busy@example.com", &["customer"]).await;
    let answers = parallel_logins(&app, vec![("busy@example.com".to_string(), PASSWORD); 12]).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

#[tokio::test]
async fn a_full_hashing_queue_sheds_with_503_and_retry_after() {
    let app = spawn_app_with(|env| {
        slow_serial_hashing(env);
        env.insert("PORTCULLIS_HASH_QUEUE_MAX".into(), "1".into());
    })
    .await;
    let mut logins = Vec::new();
    for i in 0..12 {
        let email = format!("burst{i}@example.com");
        create_user(&app, &email, &["customer"]).await;
        logins.push((email, PASSWORD));
    }
    let answers = parallel_logins(&app, logins).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert!(statuses.iter().all(|s| matches!(s, 200 | 503)), "{statuses:?}");
    assert!(statuses.contains(&503), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    for (status, body, retry) in &answers {
        if *status == 503 {
            assert_eq!(body["code"], "overloaded", "{body}");
            assert_eq!(body["status"], 503, "{body}");
            assert_eq!(retry.as_deref(), Some("1"));
        }
    }

    // The token endpoint sheds in RFC 6749 form.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..12 {
        let req = app.client.post(app.url("/oauth/token")).form(&[
            ("grant_type", "password"),
            ("username", &format!("burst{i}@example.com")),
            ("password", PASSWORD),
            ("client_id", "portcullis"),
        ]);
        set.spawn(async move {
            let res = req.send().await.unwrap();
            let retry = res.headers().get("retry-after").is_some();
            let (status, body) = json_of(res).await;
            (status.as_u16(), body, retry)
        });
    }
    let answers = set.join_all().await;
    assert!(answers.iter().all(|a| matches!(a.0, 200 | 503)));
    let shed: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert!(!shed.is_empty());
    for (_, body, retry) in shed {
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");
        assert!(retry);
    }
    // Shed checks were not counted as failures.
    let failed = app
        .state
        .domain
        .store
        .events(None, None, None, 500)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == "login.failed")
        .count();
    assert_eq!(failed, 0);
}
