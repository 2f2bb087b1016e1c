//! Outgoing mail: SMTP (`PORTCULLIS_SMTP_URL`), a file outbox (`PORTCULLIS_MAIL_OUTBOX_DIR`)
//! for development and tests, or — with neither — a log line that names the recipient and
//! subject only, since bodies carry single-use secrets.
//!
//! Delivery never blocks an HTTP answer: [`Mailer::send_later`] spawns it, and failures are
//! logged (without the body).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::MailConfig;

/// How long one SMTP conversation may take before it is abandoned.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A plain-text message to one recipient.
#[derive(Clone)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body (may hold a secret link: never log it).
    pub body: String,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body holds one-time links; keep it out of any Debug output.
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("body", &"[redacted]")
            .finish()
    }
}

/// Why a message could not be built or delivered.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MailError(pub String);

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
    Log,
}

/// Sends mail through the configured transport; cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    transport: Arc<Transport>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.transport.as_ref() {
            Transport::Smtp(_) => "Mailer(smtp)",
            Transport::Outbox(_) => "Mailer(outbox)",
            Transport::Log => "Mailer(log)",
        })
    }
}

/// The URL as lettre reads it. lettre's plain `smtp://` sends everything, password included,
/// unencrypted; here it means STARTTLS required unless `?tls=` says otherwise, and
/// `tls=none` (for a local relay) is the explicit way to turn TLS off.
fn lettre_url(url: &str) -> String {
    let Some(rest) = url.strip_prefix("smtp://") else {
        return url.to_string();
    };
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    if params.contains(&"tls=none") {
        params.retain(|p| *p != "tls=none");
    } else if !params.iter().any(|p| p.starts_with("tls=")) {
        params.push("tls=required");
    }
    if params.is_empty() {
        format!("smtp://{base}")
    } else {
        format!("smtp://{base}?{}", params.join("&"))
    }
}

/// Checks an SMTP URL without connecting; the error never repeats the URL (it may hold a password).
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
        return Err("must start with smtp:// or smtps://".into());
    }
    AsyncSmtpTransport::<Tokio1Executor>::from_url(&lettre_url(url))
        .map(|_| ())
        .map_err(|_| "is not a valid SMTP URL (smtp://user:pass@host:587 or smtps://…)".into())
}

/// Parses a `From` mailbox (`addr@example.com` or `Name <addr@example.com>`).
pub fn parse_mailbox(v: &str) -> Result<Mailbox, String> {
    v.parse::<Mailbox>().map_err(|e| format!("is not a mailbox: {e}"))
}

impl Mailer {
    /// Builds the transport the configuration chooses (SMTP, outbox folder, or log only).
    pub fn from_config(config: &MailConfig) -> Result<Self, MailError> {
        let from = parse_mailbox(&config.from).map_err(MailError)?;
        let transport = if let Some(url) = &config.smtp_url {
            let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(&lettre_url(url.expose()))
                .map_err(|_| MailError("PORTCULLIS_SMTP_URL is not a valid SMTP URL".into()))?
                .timeout(Some(SMTP_TIMEOUT))
                .build();
            Transport::Smtp(smtp)
        } else if let Some(dir) = &config.outbox_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| MailError(format!("cannot create the mail outbox {}: {e}", dir.display())))?;
            Transport::Outbox(dir.clone())
        } else {
            Transport::Log
        };
        Ok(Self {
            transport: Arc::new(transport),
            from,
        })
    }

    /// Delivers in the background; the caller (an HTTP request) does not wait. Failures are logged.
    pub fn send_later(&self, mail: Mail) {
        let mailer = self.clone();
        tokio::spawn(async move {
            let (to, subject) = (mail.to.clone(), mail.subject.clone());
            if let Err(e) = mailer.send(mail).await {
                tracing::error!(to = %to, subject = %subject, error = %e, "mail delivery failed");
            }
        });
    }

    /// Delivers now.
    pub async fn send(&self, mail: Mail) -> Result<(), MailError> {
        match self.transport.as_ref() {
            Transport::Log => {
                // The body holds a one-time secret and the address is personal data, both
                // chosen by whoever calls the endpoint: only the subject is logged.
                tracing::info!(subject = %mail.subject, "no mail transport configured: a mail was not sent, subject {:?}", mail.subject);
                Ok(())
            }
            Transport::Outbox(dir) => {
                let message = self.message(&mail)?;
                write_eml(dir, &message.formatted()).await?;
                tracing::info!(to = %mail.to, subject = %mail.subject, "mail written to the outbox");
                Ok(())
            }
            Transport::Smtp(smtp) => {
                let message = self.message(&mail)?;
                smtp.send(message).await.map_err(|e| MailError(format!("SMTP: {e}")))?;
                tracing::info!(to = %mail.to, subject = %mail.subject, "mail sent");
                Ok(())
            }
        }
    }

    fn message(&self, mail: &Mail) -> Result<Message, MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| MailError(format!("bad recipient address: {e}")))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .date_now()
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| MailError(format!("cannot build the message: {e}")))
    }
}

/// Writes one message as `<time>-<uuid>.eml`, via a temporary name so a reader never sees half
/// a file; owner-only, since it holds a one-time secret.
async fn write_eml(dir: &Path, bytes: &[u8]) -> Result<(), MailError> {
    let name = format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        uuid::Uuid::now_v7().simple()
    );
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(format!("{name}.eml"));
    let io = |e: std::io::Error| MailError(format!("cannot write to the mail outbox {}: {e}", dir.display()));
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&tmp).await.map_err(io)?;
    tokio::io::AsyncWriteExt::write_all(&mut file, bytes)
        .await
        .map_err(io)?;
    file.sync_all().await.map_err(io)?;
    drop(file);
    tokio::fs::rename(&tmp, &path).await.map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_smtp_requires_starttls_unless_told_otherwise() {
        assert_eq!(lettre_url("smtp://u:p@h:587"), "smtp://u:p@h:587?tls=required");
        assert_eq!(lettre_url("smtp://h?tls=opportunistic"), "smtp://h?tls=opportunistic");
        assert_eq!(lettre_url("smtp://h:25?tls=none"), "smtp://h:25");
        assert_eq!(lettre_url("smtps://u:p@h"), "smtps://u:p@h");
        for ok in [
            "smtp://u:p@h:587",
            "smtp://h:25?tls=none",
            "smtps://u:p@h:465",
            "smtp://h?tls=opportunistic",
        ] {
            assert!(check_smtp_url(ok).is_ok(), "{ok}");
        }
        for bad in ["http://h", "smtp://h?tls=maybe", "smtp://"] {
            assert!(check_smtp_url(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_outbox_gets_one_complete_message_per_mail() {
        let dir = std::env::temp_dir().join(format!("portcullis-mail-{}", uuid::Uuid::new_v4().simple()));
        let config = MailConfig {
            smtp_url: None,
            outbox_dir: Some(dir.clone()),
            from: "Auth <auth@example.com>".into(),
        };
        let mailer = Mailer::from_config(&config).unwrap();
        let mail = Mail {
            to: "ada@example.com".into(),
            subject: "Hello".into(),
            body: "line one\r\nline two\r\n".into(),
        };
        assert!(!format!("{mail:?}").contains("line one"));
        mailer.send(mail).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(&files[0]).unwrap();
        for h in [
            "From: Auth <auth@example.com>",
            "To: ada@example.com",
            "Subject: Hello",
            "Date: ",
            "Message-ID: <",
        ] {
            assert!(text.contains(h), "{h} in {text}");
        }
        assert!(text.contains("line one\r\nline two"));
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A minimal SMTP server on loopback: accepts one message and hands back its DATA.
    async fn fake_smtp() -> (u16, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
            let mut data = String::new();
            let mut in_data = false;
            while let Some(line) = lines.next_line().await.unwrap() {
                if in_data {
                    if line == "." {
                        in_data = false;
                        write.write_all(b"250 queued\r\n").await.unwrap();
                    } else {
                        data.push_str(&line);
                        data.push('\n');
                    }
                    continue;
                }
                let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" | "HELO" => b"250 fake\r\n",
                    "DATA" => {
                        in_data = true;
                        b"354 go ahead\r\n"
                    }
                    "QUIT" => {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    }
                    _ => b"250 ok\r\n",
                };
                write.write_all(reply).await.unwrap();
            }
            data
        });
        (port, task)
    }

    #[tokio::test]
    async fn smtp_delivers_to_the_configured_server() {
        let (port, server) = fake_smtp().await;
        let config = MailConfig {
            smtp_url: Some(crate::config::Secret::new(format!("smtp://127.0.0.1:{port}?tls=none"))),
            outbox_dir: None,
            from: "auth@example.com".into(),
        };
        let mailer = Mailer::from_config(&config).unwrap();
        let mail = Mail {
            to: "ada@example.com".into(),
            subject: "Over SMTP".into(),
            body: "hello there\r\n".into(),
        };
        mailer.send(mail).await.unwrap();
        let data = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .unwrap()
            .unwrap();
        assert!(data.contains("Subject: Over SMTP"), "{data}");
        assert!(data.contains("hello there"), "{data}");
    }
}
