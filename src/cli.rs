//! Command line: `serve` (default), `migrate`, `keys`, `users`, `purge`.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::clock::Clock;
use crate::config::{Config, Secret};
use crate::domain::Meta;
use crate::domain::clients::{ClientSpec, ClientView};
use crate::domain::users::{ADMIN_ROLE, DEFAULT_TENANT, Registration, UserView};
use crate::startup::{Application, connect};
use crate::storage::Store;
use crate::telemetry;

/// portcullis: OAuth 2.0 / OpenID Connect authorization server.
///
/// Configuration comes from the environment (DATABASE_URL, REDIS_URL, PORTCULLIS_*) and an
/// optional TOML file named by PORTCULLIS_CONFIG; every subcommand reads the same settings.
#[derive(Parser, Debug)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Delete expired and long-revoked sessions now.
    Purge,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// List signing keys (no key material).
    List,
    /// Publish a new signing key; it signs after PORTCULLIS_KEY_PUBLISH_AHEAD, or at once with --now.
    Rotate {
        /// Start signing with the new key immediately (after a suspected compromise).
        #[arg(long)]
        now: bool,
    },
}

#[derive(Subcommand, Debug)]
enum UsersCommand {
    /// Create a user; prints it as JSON.
    Create(CreateUser),
    /// Grant an existing role of the user's tenant; prints the user as JSON.
    GrantRole {
        /// The user's email address.
        #[arg(long)]
        email: String,
        /// Role to grant.
        #[arg(long)]
        role: String,
        /// Tenant (default `default`).
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
    },
    /// Set a user's password (read from standard input); every session of the user ends.
    SetPassword {
        /// The user's email address.
        #[arg(long)]
        email: String,
        /// Read the password from standard input (first line) instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        /// Tenant (default `default`).
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
    },
}

#[derive(Subcommand, Debug)]
enum ClientsCommand {
    /// Register a client; prints `client_id` (and, once, `client_secret`) as JSON.
    Create(CreateClient),
    /// List clients as JSON lines.
    List {
        /// Only this tenant's clients.
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

#[derive(Args, Debug)]
struct CreateClient {
    /// Display name.
    #[arg(long)]
    name: String,
    /// A public client (no secret; no client_credentials; always PKCE).
    #[arg(long)]
    public: bool,
    /// Allowed grant (repeatable): authorization_code, password, refresh_token, client_credentials.
    #[arg(long = "grant")]
    grants: Vec<String>,
    /// Allowed scope (repeatable).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Audience for access tokens (repeatable; the issuer when none).
    #[arg(long = "audience")]
    audiences: Vec<String>,
    /// Tenant (default `default`).
    #[arg(long, default_value = DEFAULT_TENANT)]
    tenant: String,
    /// Access-token lifetime for this client (e.g. 5m).
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

#[derive(Args, Debug)]
struct CreateUser {
    /// Email address.
    #[arg(long)]
    email: String,
    /// Read the password from standard input (first line) instead of prompting.
    #[arg(long)]
    password_stdin: bool,
    /// Optional username.
    #[arg(long)]
    username: Option<String>,
    /// Roles to grant (repeatable); `customer` when none is given.
    #[arg(long = "role")]
    roles: Vec<String>,
    /// Tenant (default `default`).
    #[arg(long, default_value = DEFAULT_TENANT)]
    tenant: String,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    telemetry::init(config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let store = Store::connect(&config.database_url)
                .await
                .map_err(|e| format!("DATABASE_URL: {e}"))?;
            store.migrate().await.map_err(|e| e.to_string())?;
            println!("{}", json!({ "migrated": true }));
            Ok(())
        }
        Command::Keys(cmd) => {
            let parts = connect_cli(config).await?;
            let keys = match cmd {
                KeysCommand::List => parts.domain.keys.list().await,
                KeysCommand::Rotate { now } => parts.domain.keys.rotate(now, &cli_meta()).await,
            }
            .map_err(|e| e.to_string())?;
            print_json(&keys)
        }
        Command::Users(UsersCommand::Create(args)) => {
            let parts = connect_cli(config).await?;
            let password = read_password(args.password_stdin)?;
            let roles = if args.roles.is_empty() {
                vec!["customer".to_string()]
            } else {
                args.roles
            };
            let r = Registration {
                email: args.email,
                password,
                username: args.username,
                first_name: None,
                last_name: None,
                tenant: args.tenant,
            };
            let user = parts
                .domain
                .create_user(r, &roles, true, &cli_meta())
                .await
                .map_err(describe)?;
            print_json(&UserView::from(user))
        }
        Command::Users(UsersCommand::GrantRole { email, role, tenant }) => {
            let parts = connect_cli(config).await?;
            let user = user_by_email(&parts.domain, &tenant, &email).await?;
            let user = parts
                .domain
                .grant_role(&user, &role, &cli_meta())
                .await
                .map_err(describe)?;
            print_json(&UserView::from(user))
        }
        Command::Users(UsersCommand::SetPassword {
            email,
            password_stdin,
            tenant,
        }) => {
            let parts = connect_cli(config).await?;
            let password = read_password(password_stdin)?;
            let user = user_by_email(&parts.domain, &tenant, &email).await?;
            parts
                .domain
                .set_user_password(&user, &password, &cli_meta())
                .await
                .map_err(describe)?;
            print_json(&UserView::from(user))
        }
        Command::Clients(cmd) => clients(config, cmd).await,
        Command::Purge => {
            let parts = connect_cli(config).await?;
            let n = parts.domain.purge().await.map_err(describe)?;
            println!("{}", json!({ "purged_sessions": n }));
            Ok(())
        }
    }
}

async fn clients(config: Config, cmd: ClientsCommand) -> Result<(), String> {
    let parts = connect_cli(config).await?;
    let domain = &parts.domain;
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
            let mut cursor: Option<String> = None;
            loop {
                let page = domain
                    .store
                    .clients(tenant.as_deref(), cursor.as_deref(), 200)
                    .await
                    .map_err(|e| e.to_string())?;
                let Some(last) = page.last().map(|c| c.id.clone()) else {
                    break;
                };
                for c in page {
                    print_json(&ClientView::new(c, None))?;
                }
                cursor = Some(last);
            }
            Ok(())
        }
        ClientsCommand::Delete { client_id } => {
            let now = domain.clock.now_ms();
            let event = cli_meta().event(DEFAULT_TENANT, "client.deleted", Some(&client_id), now);
            if !domain
                .store
                .delete_client(&client_id, now, &event)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("no deletable client {client_id}"));
            }
            println!("{}", json!({ "deleted": client_id }));
            Ok(())
        }
        ClientsCommand::RotateSecret { client_id } => {
            let client = domain.store.client(&client_id).await.map_err(|e| e.to_string())?;
            let client = client.ok_or_else(|| format!("no client {client_id}"))?;
            print_json(
                &domain
                    .rotate_client_secret(client, &cli_meta())
                    .await
                    .map_err(describe)?,
            )
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let app = Application::build(config).await.map_err(|e| e.to_string())?;
    let shutdown = crate::startup::shutdown_signal();
    let issuer = app.state().domain.issuer.clone();
    tracing::info!(address = %app.address(), "listening");
    println!("portcullis listening on http://{}", app.address());
    println!("issuer:    {issuer}");
    println!("discovery: {issuer}/.well-known/openid-configuration");
    let admins = app.state().domain.store.count_with_role(ADMIN_ROLE).await.unwrap_or(0);
    if admins == 0 {
        println!("no admin yet; create one with:");
        println!("  portcullis users create --email you@example.com --role admin --password-stdin");
        println!("or set PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL and PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD before starting");
    }
    let _ = std::io::stdout().flush();
    app.run_until(shutdown).await.map_err(|e| e.to_string())
}

async fn connect_cli(config: Config) -> Result<crate::startup::Parts, String> {
    let issuer = config
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    connect(config, Clock::system(), issuer)
        .await
        .map_err(|e| e.to_string())
}

async fn user_by_email(
    domain: &crate::domain::Domain,
    tenant: &str,
    email: &str,
) -> Result<crate::storage::users::UserRecord, String> {
    domain
        .store
        .user_by_login(tenant, email)
        .await
        .map_err(|e| e.to_string())?
        .filter(|u| u.email.eq_ignore_ascii_case(email.trim()))
        .ok_or_else(|| format!("no user with email {email} in tenant {tenant}"))
}

fn cli_meta() -> Meta {
    Meta {
        actor_id: Some("cli".into()),
        user_agent: Some("portcullis-cli".into()),
        ip: None,
    }
}

fn describe(e: crate::domain::DomainError) -> String {
    match e {
        crate::domain::DomainError::Validation(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

fn read_password(from_stdin: bool) -> Result<Secret, String> {
    let stdin = std::io::stdin();
    if !from_stdin && stdin.is_terminal() {
        eprint!("password: ");
        let _ = std::io::stderr().flush();
    } else if !from_stdin {
        return Err("pass --password-stdin to read the password from standard input".into());
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err("empty password".into());
    }
    Ok(Secret::new(password))
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), String> {
    println!("{}", serde_json::to_string(v).map_err(|e| e.to_string())?);
    Ok(())
}
