//! Consents as their owner sees and withdraws them (`/account`).

use serde_json::json;

use super::{Domain, DomainError, DomainResult, Meta};
use crate::storage::consents::ConsentRecord;
use crate::storage::users::UserRecord;

impl Domain {
    /// The clients a user has consented to.
    pub async fn consents(&self, user: &UserRecord) -> DomainResult<Vec<ConsentRecord>> {
        Ok(self.store.consents_of(&user.id).await?)
    }

    /// Withdraws consent for a client; its sessions for the user end too.
    pub async fn revoke_consent(&self, user: &UserRecord, client_id: &str, meta: &Meta) -> DomainResult<()> {
        let now = self.clock.now_ms();
        let event = Meta {
            actor_id: Some(user.id.clone()),
            ..meta.clone()
        }
        .event(&user.tenant_id, "consent.revoked", Some(&user.id), now)
        .with_detail(json!({ "client_id": client_id }));
        if !self.store.revoke_consent(&user.id, client_id, now, &event).await? {
            return Err(DomainError::NotFound("consent"));
        }
        Ok(())
    }
}
