//! Background upkeep and first-start setup.

use std::time::Duration;

use super::users::{ADMIN_ROLE, DEFAULT_TENANT, Registration};
use super::{Domain, DomainError, DomainResult, Meta};
use crate::clock::duration_ms;

/// Revoked sessions stay visible this long before they are purged.
const KEEP_REVOKED: Duration = Duration::from_secs(86_400);

impl Domain {
    /// Deletes expired sessions, sessions revoked more than a day ago, expired authorization
    /// codes and requests, and expired emailed tokens.
    pub async fn purge(&self) -> DomainResult<u64> {
        let now = self.clock.now_ms();
        let sessions = self.store.purge_sessions(now, now - duration_ms(KEEP_REVOKED)).await?;
        let codes = self.store.purge_authorization(now).await?;
        Ok(sessions + codes + self.store.purge_action_tokens(now).await?)
    }

    /// Runs [`Domain::purge`] forever at the configured interval.
    pub fn spawn_purge(&self) -> tokio::task::JoinHandle<()> {
        let domain = self.clone();
        tokio::spawn(async move {
            let mut timer = tokio::time::interval(domain.config.purge_interval);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                timer.tick().await;
                match domain.purge().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "purged expired sessions"),
                    Err(e) => tracing::error!(error = %e, "session purge failed"),
                }
            }
        })
    }

    /// Creates the configured bootstrap admin unless an admin exists already.
    pub async fn bootstrap_admin(&self) -> DomainResult<()> {
        let (Some(email), Some(password)) = (
            &self.config.bootstrap_admin_email,
            &self.config.bootstrap_admin_password,
        ) else {
            return Ok(());
        };
        if self.store.count_with_role(ADMIN_ROLE).await? > 0 {
            return Ok(());
        }
        let r = Registration {
            email: email.clone(),
            password: password.clone(),
            username: None,
            first_name: None,
            last_name: None,
            tenant: DEFAULT_TENANT.into(),
        };
        let meta = Meta {
            actor_id: Some("bootstrap".into()),
            ..Meta::default()
        };
        match self.create_user(r, &[ADMIN_ROLE.to_string()], true, &meta).await {
            Ok(u) => {
                tracing::info!(user_id = u.id, "created the bootstrap admin");
                Ok(())
            }
            // Another instance created it at the same moment.
            Err(DomainError::EmailTaken) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
