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

/// Checks an SMTP URL without connecting; the error never repeats the URL (it may hold a password).
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
        return Err("must start with smtp:// or smtps://".into());
    }
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
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
            let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
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
                // The body holds a one-time secret: only the envelope is logged.
                tracing::info!(to = %mail.to, subject = %mail.subject, "no mail transport configured: would send to {}, subject {:?}", mail.to, mail.subject);
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
