use super::*;

fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

#[test]
fn defaults_match_the_spec() {
    let c = cfg(&[]).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.database_url, "sqlite://data/portcullis.db");
    assert_eq!(c.access_token_ttl, Duration::from_secs(900));
    assert_eq!(c.refresh_idle_ttl, Duration::from_secs(7 * 86400));
    assert_eq!(c.refresh_max_ttl, Duration::from_secs(30 * 86400));
    assert_eq!(c.key_rotation_interval, Duration::from_secs(7 * 86400));
    assert_eq!(c.key_publish_ahead, Duration::from_secs(3600));
    assert_eq!(
        c.argon2,
        Argon2Params {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1
        }
    );
    assert_eq!(c.limits.lockout_threshold, 5);
    assert!(c.redis_url.is_none());
    assert_eq!(c.log_format, LogFormat::Text);
}

#[test]
fn durations_accept_every_documented_form() {
    assert_eq!(parse_duration("900").unwrap(), Duration::from_secs(900));
    assert_eq!(parse_duration("900s").unwrap(), Duration::from_secs(900));
    assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
    assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604800));
    for bad in ["", "m", "-5", "1.5h", "10x", "99999999999999999999d"] {
        assert!(parse_duration(bad).is_err(), "{bad} should be refused");
    }
}

#[test]
fn a_bad_value_names_its_variable() {
    let e = cfg(&[("PORTCULLIS_ACCESS_TOKEN_TTL", "soon")]).unwrap_err();
    assert_eq!(e.name, "PORTCULLIS_ACCESS_TOKEN_TTL");
    assert!(e.to_string().starts_with("PORTCULLIS_ACCESS_TOKEN_TTL: "));
    assert_eq!(
        cfg(&[("PORTCULLIS_LISTEN", "nope")]).unwrap_err().name,
        "PORTCULLIS_LISTEN"
    );
    assert_eq!(cfg(&[("DATABASE_URL", "mysql://x")]).unwrap_err().name, "DATABASE_URL");
    assert_eq!(
        cfg(&[("PORTCULLIS_KEY_ENCRYPTION_KEY", "c2hvcnQ=")]).unwrap_err().name,
        "PORTCULLIS_KEY_ENCRYPTION_KEY"
    );
    assert_eq!(
        cfg(&[("PORTCULLIS_KEY_PUBLISH_AHEAD", "1m")]).unwrap_err().name,
        "PORTCULLIS_KEY_PUBLISH_AHEAD"
    );
    assert_eq!(
        cfg(&[("PORTCULLIS_TRUSTED_PROXIES", "10.0.0.0/33")]).unwrap_err().name,
        "PORTCULLIS_TRUSTED_PROXIES"
    );
    assert_eq!(
        cfg(&[("PORTCULLIS_ISSUER", "example.com")]).unwrap_err().name,
        "PORTCULLIS_ISSUER"
    );
    assert_eq!(
        cfg(&[("PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL", "a@b.c")]).unwrap_err().name,
        "PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD"
    );
}

#[test]
fn trusted_proxies_match_by_prefix() {
    let c = cfg(&[("PORTCULLIS_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7, ::1")]).unwrap();
    let inside = |ip: &str| c.trusted_proxies.iter().any(|n| n.contains(ip.parse().unwrap()));
    assert!(inside("10.200.3.4"));
    assert!(inside("192.168.1.7"));
    assert!(!inside("192.168.1.8"));
    assert!(inside("::1"));
    assert!(!inside("11.0.0.1"));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let c = cfg(&[
        (
            "PORTCULLIS_KEY_ENCRYPTION_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ),
        ("PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL", "root@example.com"),
        ("PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD", "hunter2hunter2"),
    ])
    .unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter2"));
    assert!(!debug.contains("AAECAwQF"));
    assert_eq!(c.kek_bytes().unwrap()[31], 31);
}

#[test]
fn toml_file_values_are_read_and_env_wins() {
    let dir = std::env::temp_dir().join(format!("portcullis-cfg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        "access_token_ttl = \"5m\"\nlisten = \"127.0.0.1:9999\"\ntrusted_proxies = [\"10.0.0.1\"]\n",
    )
    .unwrap();
    let mut values = parse::read_toml(path.to_str().unwrap()).unwrap();
    values.insert("PORTCULLIS_LISTEN".into(), "127.0.0.1:7777".into());
    let c = Config::from_map(values).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(c.access_token_ttl, Duration::from_secs(300));
    assert_eq!(c.listen.port(), 7777);
    assert_eq!(c.trusted_proxies.len(), 1);
}

#[test]
fn abuse_protection_defaults_match_the_spec() {
    let l = cfg(&[]).unwrap().limits;
    assert_eq!((l.ip_per_second, l.ip_burst), (50, 100));
    assert_eq!(
        l.failed_logins_per_ip,
        WindowLimit {
            max: 20,
            window: Duration::from_secs(300)
        }
    );
    assert_eq!(
        l.signups_per_ip,
        WindowLimit {
            max: 30,
            window: Duration::from_secs(3600)
        }
    );
    assert_eq!((l.lockout_threshold, l.lockout_account_threshold), (5, 20));
    assert_eq!(l.lockout_window, Duration::from_secs(900));
    assert_eq!(l.lockout_base, Duration::from_secs(900));
    assert_eq!(l.lockout_max, Duration::from_secs(86400));
    assert_eq!(l.lockout_memory, Duration::from_secs(86400));
}

#[test]
fn the_account_wide_threshold_follows_the_per_ip_one_and_is_checked() {
    let l = cfg(&[("PORTCULLIS_LOCKOUT_THRESHOLD", "3")]).unwrap().limits;
    assert_eq!(l.lockout_account_threshold, 12);
    let e = cfg(&[
        ("PORTCULLIS_LOCKOUT_THRESHOLD", "10"),
        ("PORTCULLIS_LOCKOUT_ACCOUNT_THRESHOLD", "5"),
    ])
    .unwrap_err();
    assert_eq!(e.name, "PORTCULLIS_LOCKOUT_ACCOUNT_THRESHOLD");
    let e = cfg(&[
        ("PORTCULLIS_LOCKOUT_DURATION", "2h"),
        ("PORTCULLIS_LOCKOUT_MAX_DURATION", "1h"),
    ])
    .unwrap_err();
    assert_eq!(e.name, "PORTCULLIS_LOCKOUT_MAX_DURATION");
    assert_eq!(
        cfg(&[("PORTCULLIS_FAILED_LOGINS_PER_IP", "20")]).unwrap_err().name,
        "PORTCULLIS_FAILED_LOGINS_PER_IP"
    );
}

#[test]
fn mail_and_recovery_defaults() {
    let c = cfg(&[]).unwrap();
    assert!(c.mail.smtp_url.is_none() && c.mail.outbox_dir.is_none());
    assert_eq!(c.mail.from, "portcullis <no-reply@localhost>");
    assert_eq!(c.password_reset_ttl, Duration::from_secs(30 * 60));
    assert_eq!(c.email_verify_ttl, Duration::from_secs(86400));
    assert_eq!(
        c.limits.resets,
        WindowLimit {
            max: 5,
            window: Duration::from_secs(3600)
        }
    );
    let c = cfg(&[
        ("PORTCULLIS_SMTP_URL", "smtps://user:pw@mail.example.com:465"),
        ("PORTCULLIS_MAIL_FROM", "Auth <auth@example.com>"),
        ("PORTCULLIS_PASSWORD_RESET_TTL", "15m"),
        ("PORTCULLIS_EMAIL_VERIFY_TTL", "2d"),
    ])
    .unwrap();
    assert!(c.mail.smtp_url.is_some());
    assert_eq!(c.password_reset_ttl, Duration::from_secs(900));
    assert_eq!(c.email_verify_ttl, Duration::from_secs(2 * 86400));
    let c = cfg(&[("PORTCULLIS_MAIL_OUTBOX_DIR", "mail/outbox")]).unwrap();
    assert_eq!(c.mail.outbox_dir, Some(PathBuf::from("mail/outbox")));
}

#[test]
fn bad_mail_and_recovery_values_name_their_variable() {
    let name = |pairs: &[(&str, &str)]| cfg(pairs).unwrap_err().name;
    assert_eq!(name(&[("PORTCULLIS_SMTP_URL", "http://x")]), "PORTCULLIS_SMTP_URL");
    assert_eq!(
        name(&[("PORTCULLIS_SMTP_URL", "smtp://u:p@mail.example.com:25")]),
        "PORTCULLIS_MAIL_FROM",
        "a real SMTP server needs a real sender"
    );
    assert_eq!(
        name(&[
            ("PORTCULLIS_SMTP_URL", "smtp://mail.example.com"),
            ("PORTCULLIS_MAIL_FROM", "a@example.com"),
            ("PORTCULLIS_MAIL_OUTBOX_DIR", "out"),
        ]),
        "PORTCULLIS_MAIL_OUTBOX_DIR"
    );
    assert_eq!(
        name(&[("PORTCULLIS_MAIL_FROM", "not a mailbox")]),
        "PORTCULLIS_MAIL_FROM"
    );
    assert_eq!(
        name(&[("PORTCULLIS_PASSWORD_RESET_TTL", "soon")]),
        "PORTCULLIS_PASSWORD_RESET_TTL"
    );
    assert_eq!(
        name(&[("PORTCULLIS_PASSWORD_RESET_TTL", "5s")]),
        "PORTCULLIS_PASSWORD_RESET_TTL"
    );
    assert_eq!(
        name(&[("PORTCULLIS_PASSWORD_RESET_TTL", "2d")]),
        "PORTCULLIS_PASSWORD_RESET_TTL"
    );
    assert_eq!(
        name(&[("PORTCULLIS_EMAIL_VERIFY_TTL", "31d")]),
        "PORTCULLIS_EMAIL_VERIFY_TTL"
    );
}

#[test]
fn the_smtp_password_stays_out_of_errors_and_debug_output() {
    let c = cfg(&[
        ("PORTCULLIS_SMTP_URL", "smtp://user:hunter2secret@mail.example.com:587"),
        ("PORTCULLIS_MAIL_FROM", "a@example.com"),
    ])
    .unwrap();
    assert!(!format!("{c:?}").contains("hunter2secret"));
    let e = cfg(&[("PORTCULLIS_SMTP_URL", "smtpx://user:hunter2secret@h")]).unwrap_err();
    assert!(!e.to_string().contains("hunter2secret"), "{e}");
}

#[test]
fn cors_origins_are_checked() {
    let c = cfg(&[(
        "PORTCULLIS_CORS_ORIGINS",
        "https://app.example.com, http://localhost:3000",
    )])
    .unwrap();
    assert_eq!(c.cors_origins, ["https://app.example.com", "http://localhost:3000"]);
    assert!(cfg(&[]).unwrap().cors_origins.is_empty());
    assert_eq!(cfg(&[("PORTCULLIS_CORS_ORIGINS", "*")]).unwrap().cors_origins, ["*"]);
    for bad in ["app.example.com", "https://app.example.com/", "*, https://a.b"] {
        assert_eq!(
            cfg(&[("PORTCULLIS_CORS_ORIGINS", bad)]).unwrap_err().name,
            "PORTCULLIS_CORS_ORIGINS",
            "{bad}"
        );
    }
}

fn toml_file(content: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("portcullis-cfg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("portcullis.toml");
    std::fs::write(&path, content).unwrap();
    let p = path.to_str().unwrap().to_string();
    (dir, p)
}

#[test]
fn an_unknown_toml_key_stops_the_start_with_a_suggestion() {
    let (dir, path) = toml_file("acess_token_ttl = \"5m\"\nlisten = \"127.0.0.1:9999\"\n");
    let e = Config::from_file_and_env(Some(&path), HashMap::new()).unwrap_err();
    assert_eq!(e.name, "PORTCULLIS_CONFIG");
    assert!(
        e.reason
            .contains("unknown key acess_token_ttl (did you mean access_token_ttl?)"),
        "{e}"
    );
    // The environment spelling in the file gets the file spelling suggested; a key far from
    // every setting gets no guess.
    std::fs::write(&path, "PORTCULLIS_LISTEN = \"127.0.0.1:9999\"\nbanana = 1\n").unwrap();
    let e = Config::from_file_and_env(Some(&path), HashMap::new()).unwrap_err();
    assert!(
        e.reason
            .ends_with("unknown keys banana, portcullis_listen (did you mean listen?)"),
        "{e}"
    );
    // Known keys, including the two without the prefix, start fine.
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:9999\"\ndatabase_url = \"sqlite://x.db\"\nredis_url = \"redis://127.0.0.1\"\n",
    )
    .unwrap();
    let c = Config::from_file_and_env(Some(&path), HashMap::new()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(c.listen.port(), 9999);
    assert_eq!(c.database_url, "sqlite://x.db");
}

#[test]
fn a_redis_url_that_does_not_parse_names_redis_url_without_quoting_it() {
    for bad in ["banana", "http://cache:6379", "redis://:hunter2secret@[bad"] {
        let e = cfg(&[("REDIS_URL", bad)]).unwrap_err();
        assert_eq!(e.name, "REDIS_URL", "{bad}");
        assert!(
            e.to_string().starts_with("REDIS_URL: must be a URL like redis://"),
            "{e}"
        );
        assert!(!e.to_string().contains("hunter2secret"), "{e}");
    }
    let c = cfg(&[("REDIS_URL", "redis://:pw@cache:6379/2")]).unwrap();
    assert_eq!(c.redis_url.as_deref(), Some("redis://:pw@cache:6379/2"));
}

#[test]
fn the_key_encryption_key_can_come_from_a_file() {
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let (dir, path) = toml_file(&format!("{key}\n"));
    let c = cfg(&[("PORTCULLIS_KEY_ENCRYPTION_KEY_FILE", &path)]).unwrap();
    assert_eq!(c.kek_bytes().unwrap()[31], 31);
    let both = cfg(&[
        ("PORTCULLIS_KEY_ENCRYPTION_KEY_FILE", &path),
        ("PORTCULLIS_KEY_ENCRYPTION_KEY", key),
    ])
    .unwrap_err();
    assert_eq!(both.name, "PORTCULLIS_KEY_ENCRYPTION_KEY_FILE");
    std::fs::write(&path, "c2hvcnQ=\n").unwrap();
    let short = cfg(&[("PORTCULLIS_KEY_ENCRYPTION_KEY_FILE", &path)]).unwrap_err();
    assert_eq!(
        short.to_string(),
        "PORTCULLIS_KEY_ENCRYPTION_KEY_FILE: must decode to exactly 32 bytes"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let missing = cfg(&[("PORTCULLIS_KEY_ENCRYPTION_KEY_FILE", &path)]).unwrap_err();
    assert_eq!(missing.name, "PORTCULLIS_KEY_ENCRYPTION_KEY_FILE");
    assert!(missing.reason.starts_with("cannot read"), "{missing}");
}
