//! Command line: `serve` (default), `migrate`, `keys`, `users`, `clients`, `purge`.
//!
//! Every command prints JSON on stdout, one object per line (a list prints one line per
//! item), and a failure as one line on stderr with a non-zero exit.

mod clients;
mod keys;
mod output;
mod users;

use std::io::{BufRead, IsTerminal, Write};

use clap::{Parser, Subcommand};
use serde_json::json;

use crate::clock::Clock;
use crate::config::{Config, Secret};
use crate::domain::admin::Admin;
use crate::domain::users::{ADMIN_ROLE, DEFAULT_TENANT};
use crate::domain::{DomainError, Meta};
use crate::startup::{Application, connect};
use crate::storage::Store;
use crate::telemetry;
use output::{Stop, emit};

/// portcullis: OAuth 2.0 / OpenID Connect authorization server.
///
/// Configuration comes from the environment (DATABASE_URL, REDIS_URL, PORTCULLIS_*) and an
/// optional TOML file named by PORTCULLIS_CONFIG; every subcommand reads the same settings.
/// Output is JSON, one object per line.
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
    Keys(keys::KeysCommand),
    /// Manage users.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
    /// Delete now what the server deletes every PORTCULLIS_PURGE_INTERVAL: expired sessions,
    /// sessions revoked more than a day ago, and expired password-reset and email-verification
    /// tokens. Prints how many rows went.
    Purge,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), String> {
    match run_command(cli).await {
        Ok(()) | Err(Stop::OutputClosed) => Ok(()),
        Err(Stop::Failed(message)) => Err(message),
    }
}

async fn run_command(cli: Cli) -> Result<(), Stop> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let command = cli.command.unwrap_or(Command::Serve);
    // Commands other than `serve` print JSON on stdout, so their logs go to stderr.
    telemetry::init_with(config.log_format, !matches!(command, Command::Serve));
    match command {
        Command::Serve => Ok(serve(config).await?),
        Command::Migrate => {
            let store = Store::connect(&config.database_url)
                .await
                .map_err(|e| format!("DATABASE_URL: {e}"))?;
            store.migrate().await.map_err(|e| e.to_string())?;
            emit(&json!({ "migrated": true }).to_string())
        }
        Command::Keys(cmd) => keys::run(&connect_cli(&config).await?, cmd).await,
        Command::Users(cmd) => users::run(&connect_cli(&config).await?, &config, cmd).await,
        Command::Clients(cmd) => clients::run(&connect_cli(&config).await?, cmd).await,
        Command::Purge => {
            let n = connect_cli(&config).await?.purge().await.map_err(describe)?;
            emit(&json!({ "purged": n }).to_string())
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let app = Application::build(config.clone()).await.map_err(|e| e.to_string())?;
    let shutdown = crate::startup::shutdown_signal();
    let issuer = app.state().domain.issuer.clone();
    tracing::info!(address = %app.address(), "listening");
    for warning in config.start_warnings(app.address(), &issuer) {
        tracing::warn!("{warning}");
    }
    // A closed stdout must not stop a server: these lines are a courtesy.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "portcullis listening on http://{}", app.address());
    let _ = writeln!(out, "issuer:    {issuer}");
    let _ = writeln!(out, "discovery: {issuer}/.well-known/openid-configuration");
    let admins = app.state().domain.store.count_with_role(ADMIN_ROLE).await.unwrap_or(0);
    if admins == 0 {
        let _ = writeln!(out, "no admin yet; create one with:");
        let _ = writeln!(
            out,
            "  portcullis users create --email you@example.com --role admin --password-stdin"
        );
        let _ = writeln!(
            out,
            "or set PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL and PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD before starting"
        );
    }
    let _ = out.flush();
    drop(out);
    app.run_until(shutdown).await.map_err(|e| e.to_string())
}

async fn connect_cli(config: &Config) -> Result<crate::domain::Domain, String> {
    let issuer = config
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    let parts = connect(config.clone(), Clock::system(), issuer)
        .await
        .map_err(|e| e.to_string())?;
    Ok(parts.domain)
}

/// The CLI acts as an admin of the default tenant: it sees every tenant.
fn cli_admin() -> Admin {
    Admin {
        user_id: "cli".into(),
        tenant: DEFAULT_TENANT.into(),
    }
}

fn cli_meta() -> Meta {
    Meta {
        actor_id: Some("cli".into()),
        user_agent: Some("portcullis-cli".into()),
        ip: None,
    }
}

fn describe(e: DomainError) -> String {
    match e {
        DomainError::Validation(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// `message` for a missing thing, [`describe`] for any other failure.
fn missing(e: DomainError, message: impl FnOnce() -> String) -> String {
    match e {
        DomainError::NotFound(_) => message(),
        other => describe(other),
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
