//! `portcullis clients …`: the admin API's client operations, audited with the CLI as the actor.

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{Stop, emit, print_all_pages, print_json};
use super::{cli_admin, cli_meta, describe, missing};
use crate::domain::Domain;
use crate::domain::clients::ClientSpec;
use crate::domain::users::DEFAULT_TENANT;

/// Client subcommands.
#[derive(Subcommand, Debug)]
pub enum ClientsCommand {
    /// Register a client; prints `client_id` (and, once, `client_secret`) as one JSON object.
    Create(CreateClient),
    /// List clients by id, one JSON object per line (no secrets).
    List {
        /// Only this tenant's clients (every tenant when not given).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Delete a client and end the sessions it opened.
    Delete {
        /// The client's id.
        client_id: String,
    },
    /// Replace a confidential client's secret; prints the new one once.
    RotateSecret {
        /// The client's id.
        client_id: String,
    },
}

/// `clients create` arguments.
#[derive(Args, Debug)]
pub struct CreateClient {
    /// Display name.
    #[arg(long)]
    name: String,
    /// A public client (no secret, no client_credentials; PKCE always on).
    #[arg(long)]
    public: bool,
    /// Allowed grant (repeatable): authorization_code, password, refresh_token,
    /// client_credentials. When none is given: client_credentials, or password and
    /// refresh_token for a public client.
    #[arg(long = "grant")]
    grants: Vec<String>,
    /// Allowed scope (repeatable).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// `aud` of this client's access tokens (repeatable), e.g. the URL of the API the tokens
    /// are for; the issuer when none is given.
    #[arg(long = "audience")]
    audiences: Vec<String>,
    /// Tenant.
    #[arg(long, default_value = DEFAULT_TENANT)]
    tenant: String,
    /// Access-token lifetime for this client (e.g. 5m); PORTCULLIS_ACCESS_TOKEN_TTL when not given.
    #[arg(long)]
    access_token_ttl: Option<String>,
    /// Redirect URI for the authorization code flow (repeatable; exact match, any port on
    /// http://127.0.0.1 and http://[::1]).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser back to (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// Skip the consent page (first-party applications).
    #[arg(long)]
    no_consent: bool,
    /// Allow the authorization code flow without PKCE (confidential clients only).
    #[arg(long)]
    no_pkce: bool,
}

/// Runs a `clients` subcommand.
pub async fn run(domain: &Domain, cmd: ClientsCommand) -> Result<(), Stop> {
    match cmd {
        ClientsCommand::Create(a) => {
            let grants = if a.grants.is_empty() {
                if a.public {
                    vec!["password".into(), "refresh_token".into()]
                } else {
                    vec!["client_credentials".into()]
                }
            } else {
                a.grants
            };
            let access_ttl_secs = match a.access_token_ttl {
                Some(v) => Some(
                    crate::config::parse_duration(&v)
                        .map_err(|e| format!("--access-token-ttl {e}"))?
                        .as_secs() as i64,
                ),
                None => None,
            };
            let spec = ClientSpec {
                name: a.name,
                public: a.public,
                grant_types: grants,
                scopes: a.scopes,
                audiences: a.audiences,
                tenant: a.tenant,
                access_ttl_secs,
                redirect_uris: a.redirect_uris,
                post_logout_redirect_uris: a.post_logout_redirect_uris,
                require_consent: Some(!a.no_consent),
                require_pkce: Some(!a.no_pkce),
                ..ClientSpec::default()
            };
            print_json(&domain.create_client(spec, &cli_meta()).await.map_err(describe)?)
        }
        ClientsCommand::List { tenant } => {
            let admin = cli_admin();
            print_all_pages(|page| {
                let (admin, tenant) = (&admin, tenant.as_deref());
                async move { domain.admin_clients(admin, tenant, &page).await }
            })
            .await
        }
        ClientsCommand::Delete { client_id } => {
            let client = domain
                .admin_client(&cli_admin(), &client_id)
                .await
                .map_err(|e| missing(e, || format!("no client {client_id}")))?;
            domain
                .admin_delete_client(&client, &cli_meta())
                .await
                .map_err(describe)?;
            emit(&json!({ "deleted": client_id }).to_string())
        }
        ClientsCommand::RotateSecret { client_id } => {
            let client = domain
                .admin_client(&cli_admin(), &client_id)
                .await
                .map_err(|e| missing(e, || format!("no client {client_id}")))?;
            print_json(
                &domain
                    .rotate_client_secret(client, &cli_meta())
                    .await
                    .map_err(describe)?,
            )
        }
    }
}
