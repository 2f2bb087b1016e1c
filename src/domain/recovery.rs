//! Account recovery (password reset by email) and email verification.
//!
//! Both send a single-use token (256 random bits, base64url) by mail; only its SHA-256 is
//! stored. Asking for a reset never tells whether the account exists. Mail goes out after the
//! database commit, in the background, so neither timing on SMTP nor its failures reach the
//! caller.

use serde_json::json;

use super::clients::{new_secret, sha256_hex};
use super::limits::{LimitPolicy, throttled};
use super::selfservice::Principal;
use super::{Domain, DomainError, DomainResult, Meta, validate};
use crate::clock::duration_ms;
use crate::config::{Secret, WindowLimit};
use crate::mail::Mail;
use crate::storage::action_tokens::{ActionTokenRecord, EMAIL_VERIFICATION, PASSWORD_RESET};
use crate::storage::users::{UserRecord, normalize};

/// Which kind of emailed token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A password-reset token.
    PasswordReset,
    /// An email-verification token.
    EmailVerification,
}

/// Why a recovery or verification step failed.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The token is unknown, used, expired, or no longer matches the account.
    #[error("invalid or expired token")]
    InvalidToken(TokenKind),
    /// Any other refusal or failure.
    #[error(transparent)]
    Domain(#[from] DomainError),
}

impl From<crate::storage::StoreError> for RecoveryError {
    fn from(e: crate::storage::StoreError) -> Self {
        RecoveryError::Domain(e.into())
    }
}

impl From<super::password::HashError> for RecoveryError {
    fn from(e: super::password::HashError) -> Self {
        RecoveryError::Domain(e.into())
    }
}

/// The password-reset link's path under the issuer (the hosted page).
pub const RESET_PATH: &str = "/password/reset";
/// The email-verification link's path under the issuer (the hosted page).
pub const VERIFY_PATH: &str = "/email/verify";
/// Where an application posts a reset token itself (JSON API).
pub const RESET_API_PATH: &str = "/auth/password/reset";
/// Where an application posts a verification token itself (JSON API).
pub const VERIFY_API_PATH: &str = "/auth/email/verify";

impl Domain {
    /// Counts one request against `limit` under `key`; refuses past it.
    async fn limit_recovery(&self, name: &'static str, key: &str, limit: WindowLimit) -> DomainResult<()> {
        let r = self.counters.incr_below(key, limit.max, limit.window).await;
        if r.granted {
            Ok(())
        } else {
            Err(throttled(LimitPolicy::new(name, limit), r.hit.ttl))
        }
    }

    /// Asks for a password-reset mail. The answer is the same whether or not the account
    /// exists; only a malformed email or a limit refuses.
    pub async fn request_password_reset(&self, tenant: &str, email: &str, meta: &Meta) -> DomainResult<()> {
        let mut errors = Vec::new();
        validate::email("email", email, &mut errors);
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors));
        }
        let limit = self.config.limits.resets;
        if let Some(ip) = &meta.ip {
            self.limit_recovery("resets_ip", &format!("reset:ip:{ip}"), limit)
                .await?;
        }
        // Keyed by the address asked for, not the user, so unknown and known emails are
        // throttled alike (no enumeration through 429s).
        self.limit_recovery(
            "resets_account",
            &format!("reset:acct:{tenant}:{}", normalize(email)),
            limit,
        )
        .await?;
        let user = self
            .store
            .user_by_login(tenant, email)
            .await?
            .filter(|u| normalize(&u.email) == normalize(email) && u.status == "active");
        let Some(user) = user else {
            tracing::debug!("password reset asked for an unknown or inactive account");
            return Ok(());
        };
        let token = self
            .issue_token(
                &user,
                PASSWORD_RESET,
                self.config.password_reset_ttl,
                "password.reset_requested",
                meta,
            )
            .await?;
        let link = format!("{}{RESET_PATH}?token={token}", self.issuer);
        let minutes = self.config.password_reset_ttl.as_secs().div_ceil(60);
        self.mailer.send_later(Mail {
            to: user.email.clone(),
            subject: "Reset your password".into(),
            body: format!(
                "Someone (hopefully you) asked to reset the password of your account.\r\n\r\n\
                 Open this link to choose a new password:\r\n\r\n{link}\r\n\r\n\
                 Or send this token to POST {RESET_API_PATH} with your new password:\r\n\r\n{token}\r\n\r\n\
                 The link works once and expires in {minutes} minutes. Using it signs you out everywhere.\r\n\
                 If you did not ask for this, ignore this message: your password stays as it is.\r\n"
            ),
        });
        Ok(())
    }

    /// Sets a new password with a reset token: the token is used up, every session ends and
    /// the account's lockout is lifted. A password the policy refuses leaves the token usable.
    pub async fn reset_password(&self, token: &str, new: &Secret, meta: &Meta) -> Result<(), RecoveryError> {
        let invalid = || RecoveryError::InvalidToken(TokenKind::PasswordReset);
        let now = self.clock.now_ms();
        let record = self
            .store
            .action_token(&sha256_hex(token), PASSWORD_RESET)
            .await?
            .filter(|t| t.is_usable(now))
            .ok_or_else(invalid)?;
        let user = self
            .store
            .user_by_id(Some(&record.tenant_id), &record.user_id)
            .await?
            .filter(|u| u.status == "active" && normalize(&u.email) == normalize(&record.email))
            .ok_or_else(invalid)?;
        let mut errors = Vec::new();
        validate::password("new_password", new.expose(), Some(&user.email), &mut errors);
        if !errors.is_empty() {
            return Err(DomainError::Validation(errors).into());
        }
        let hash = self.hasher.hash(new).await?;
        // Hashing took a while: the token's expiry is checked again, in the transaction.
        let now = self.clock.now_ms();
        let events = [
            meta.event(&user.tenant_id, "password.reset", Some(&user.id), now),
            meta.event(&user.tenant_id, "session.revoked", Some(&user.id), now)
                .with_detail(json!({ "scope": "all", "reason": "password_reset" })),
        ];
        if !self
            .store
            .reset_password_with_token(&record, &hash, now, &events)
            .await?
        {
            return Err(invalid());
        }
        self.unlock_user(&user).await;
        Ok(())
    }

    /// Mails the caller a verification link for their current email (nothing when it is
    /// verified already).
    pub async fn request_email_verification(&self, p: &Principal, meta: &Meta) -> DomainResult<()> {
        if p.user.email_verified {
            return Ok(());
        }
        let limit = self.config.limits.resets;
        if let Some(ip) = &meta.ip {
            self.limit_recovery("verifications_ip", &format!("verify:ip:{ip}"), limit)
                .await?;
        }
        self.limit_recovery("verifications_account", &format!("verify:user:{}", p.user.id), limit)
            .await?;
        let token = self
            .issue_token(
                &p.user,
                EMAIL_VERIFICATION,
                self.config.email_verify_ttl,
                "email.verification_requested",
                &p.meta(meta),
            )
            .await?;
        let link = format!("{}{VERIFY_PATH}?token={token}", self.issuer);
        let hours = self.config.email_verify_ttl.as_secs().div_ceil(3600);
        self.mailer.send_later(Mail {
            to: p.user.email.clone(),
            subject: "Confirm your email address".into(),
            body: format!(
                "Please confirm that this address belongs to your account.\r\n\r\n\
                 Open this link:\r\n\r\n{link}\r\n\r\n\
                 Or send this token to POST {VERIFY_API_PATH}:\r\n\r\n{token}\r\n\r\n\
                 The link works once and expires in {hours} hours.\r\n\
                 If you did not create an account, ignore this message.\r\n"
            ),
        });
        Ok(())
    }

    /// Marks the email verified with a verification token, if the account's email is still
    /// the one the token was sent to; returns the user as it is now.
    pub async fn verify_email(&self, token: &str, meta: &Meta) -> Result<UserRecord, RecoveryError> {
        let invalid = || RecoveryError::InvalidToken(TokenKind::EmailVerification);
        let now = self.clock.now_ms();
        let record = self
            .store
            .action_token(&sha256_hex(token), EMAIL_VERIFICATION)
            .await?
            .filter(|t| t.is_usable(now))
            .ok_or_else(invalid)?;
        let event = meta.event(&record.tenant_id, "email.verified", Some(&record.user_id), now);
        if !self.store.verify_email_with_token(&record, now, &event).await? {
            return Err(invalid());
        }
        Ok(self.user(&record.tenant_id, &record.user_id).await?)
    }

    /// Creates and stores a token for `user` (retiring older ones of the kind); returns it raw.
    async fn issue_token(
        &self,
        user: &UserRecord,
        kind: &str,
        ttl: std::time::Duration,
        event: &str,
        meta: &Meta,
    ) -> DomainResult<String> {
        let token = new_secret()?;
        let now = self.clock.now_ms();
        let record = ActionTokenRecord {
            token_hash: sha256_hex(&token),
            kind: kind.to_string(),
            user_id: user.id.clone(),
            tenant_id: user.tenant_id.clone(),
            email: user.email.clone(),
            created_at: now,
            expires_at: now.saturating_add(duration_ms(ttl)),
            used_at: None,
        };
        let event = meta.event(&user.tenant_id, event, Some(&user.id), now);
        self.store.issue_action_token(&record, &event).await?;
        Ok(token)
    }
}
