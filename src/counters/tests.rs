use super::*;

fn redis_url() -> String {
    std::env::var("PORTCULLIS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn backends() -> Vec<(&'static str, Arc<dyn CounterBackend>)> {
    let prefix = format!("test:{}:", uuid::Uuid::new_v4());
    vec![
        ("memory", Arc::new(MemoryCounters::new())),
        ("redis", Arc::new(RedisCounters::new(&redis_url(), &prefix).unwrap())),
    ]
}

#[tokio::test]
async fn incr_counts_within_a_window_and_expires() {
    for (name, b) in backends() {
        let w = Duration::from_millis(300);
        assert_eq!(b.incr("k", w).await.unwrap().count, 1, "{name}");
        let h = b.incr("k", w).await.unwrap();
        assert_eq!(h.count, 2, "{name}");
        assert!(h.ttl <= w && h.ttl > Duration::ZERO, "{name}: {h:?}");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(b.get("k").await.unwrap(), None, "{name}");
        assert_eq!(b.incr("k", w).await.unwrap().count, 1, "{name}");
        b.delete("k").await.unwrap();
    }
}

#[tokio::test]
async fn incr_below_never_passes_the_limit_under_concurrency() {
    for (name, b) in backends() {
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move { b.incr_below("r", 5, Duration::from_secs(5)).await.unwrap() })
            })
            .collect();
        let mut granted = 0;
        for t in tasks {
            if t.await.unwrap().granted {
                granted += 1;
            }
        }
        assert_eq!(granted, 5, "{name}");
        assert_eq!(b.get("r").await.unwrap().unwrap().count, 5, "{name}");
        b.decr("r").await.unwrap();
        assert_eq!(b.get("r").await.unwrap().unwrap().count, 4, "{name}");
        assert!(
            b.incr_below("r", 5, Duration::from_secs(5)).await.unwrap().granted,
            "{name}"
        );
        b.delete("r").await.unwrap();
    }
}

#[tokio::test]
async fn set_get_delete() {
    for (name, b) in backends() {
        b.set("lock", 3, Duration::from_secs(60)).await.unwrap();
        let h = b.get("lock").await.unwrap().unwrap();
        assert_eq!(h.count, 3, "{name}");
        assert!(h.ttl > Duration::from_secs(50), "{name}");
        b.delete("lock").await.unwrap();
        assert_eq!(b.get("lock").await.unwrap(), None, "{name}");
        b.decr("absent").await.unwrap();
        assert_eq!(b.get("absent").await.unwrap(), None, "{name}");
        b.ping().await.unwrap();
    }
}

#[tokio::test]
async fn dead_redis_falls_back_to_local_and_reports_degraded() {
    // Port 1 on loopback refuses connections at once.
    let dead = RedisCounters::new("redis://127.0.0.1:1", "x:").unwrap();
    let c = Counters::shared(Arc::new(dead), Duration::from_millis(200));
    assert!(!c.is_degraded());
    assert_eq!(c.incr("a", Duration::from_secs(10)).await.count, 1);
    assert!(c.is_degraded());
    assert_eq!(c.incr("a", Duration::from_secs(10)).await.count, 2);
    assert!(c.check().await.is_err());
}

#[tokio::test]
async fn shared_counters_are_seen_by_two_handles() {
    let prefix = format!("test:{}:", uuid::Uuid::new_v4());
    let a = Counters::shared(
        Arc::new(RedisCounters::new(&redis_url(), &prefix).unwrap()),
        Duration::from_secs(1),
    );
    let b = Counters::shared(
        Arc::new(RedisCounters::new(&redis_url(), &prefix).unwrap()),
        Duration::from_secs(1),
    );
    a.incr("n", Duration::from_secs(5)).await;
    assert_eq!(b.incr("n", Duration::from_secs(5)).await.count, 2);
    assert!(!a.is_degraded() && !b.is_degraded());
    a.check().await.unwrap();
    a.delete("n").await;
}
