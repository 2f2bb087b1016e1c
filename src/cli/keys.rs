//! `portcullis keys …`: the admin API's key operations, audited with the CLI as the actor.

use clap::Subcommand;
use serde_json::json;

use super::output::{Stop, emit, print_lines};
use super::{cli_admin, cli_meta, describe, missing};
use crate::domain::Domain;

/// Signing-key subcommands.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List signing keys, newest first, one JSON object per line (no key material).
    List,
    /// Rotate: publish the next signing key, which signs after PORTCULLIS_KEY_PUBLISH_AHEAD.
    ///
    /// When a key is already pending (published, not yet signing), that key is the next one
    /// and no other is made. Prints every key afterwards, one JSON object per line.
    Rotate {
        /// Make the next key (the pending one, or a new one when none is pending) sign at once;
        /// tokens already issued keep verifying until they expire. To stop trusting a leaked
        /// key, use `keys revoke KID` instead.
        #[arg(long)]
        now: bool,
    },
    /// Revoke a key: it leaves the JWKS at once, so every token it signed stops verifying;
    /// if it was signing, the next key takes over immediately.
    Revoke {
        /// The key's id (`kid`), as `keys list` shows it.
        kid: String,
    },
}

/// Runs a `keys` subcommand.
pub async fn run(domain: &Domain, cmd: KeysCommand) -> Result<(), Stop> {
    let admin = cli_admin();
    match cmd {
        KeysCommand::List => print_lines(&domain.admin_keys(&admin).await.map_err(describe)?.items),
        KeysCommand::Rotate { now } => {
            let page = domain
                .admin_rotate_keys(&admin, now, &cli_meta())
                .await
                .map_err(describe)?;
            print_lines(&page.items)
        }
        KeysCommand::Revoke { kid } => {
            domain
                .admin_revoke_key(&admin, &kid, &cli_meta())
                .await
                .map_err(|e| missing(e, || format!("no key {kid} that could be revoked")))?;
            emit(&json!({ "revoked": kid }).to_string())
        }
    }
}
