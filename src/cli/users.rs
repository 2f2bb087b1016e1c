//! `portcullis users …`: the same domain calls as the admin API, so every change is audited
//! (with `cli` as the actor).

use clap::{Args, Subcommand};

use super::output::{Stop, print_all_pages, print_json};
use super::{cli_admin, cli_meta, describe, read_password};
use crate::config::Config;
use crate::domain::Domain;
use crate::domain::admin::users::UserQuery;
use crate::domain::users::{DEFAULT_TENANT, Registration, UserView};
use crate::storage::users::UserRecord;

/// User subcommands.
#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Create a user; prints it as one JSON object.
    Create(CreateUser),
    /// List users by id, one JSON object per line.
    List {
        /// Only this tenant's users (every tenant when not given).
        #[arg(long)]
        tenant: Option<String>,
        /// Only users whose email, username or names contain this text.
        #[arg(long)]
        q: Option<String>,
        /// Only holders of this role.
        #[arg(long)]
        role: Option<String>,
        /// Only users with this status: active or disabled.
        #[arg(long)]
        status: Option<String>,
    },
    /// Grant an existing role of the user's tenant; prints the user.
    GrantRole {
        #[command(flatten)]
        who: Who,
        /// Role to grant.
        #[arg(long)]
        role: String,
    },
    /// Set a user's password (read from standard input); every session of the user ends.
    SetPassword {
        #[command(flatten)]
        who: Who,
        /// Read the password from standard input (first line) instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable the account and end its sessions; prints the user with its lock state.
    Disable(Who),
    /// Re-enable a disabled account; prints the user with its lock state.
    Enable(Who),
    /// Lock password logins for PORTCULLIS_LOCKOUT_MAX_DURATION (needs REDIS_URL: locks live
    /// in the shared counters); prints the user with its lock state.
    Lock(Who),
    /// Lift a lock and forget recent failed passwords (needs REDIS_URL, as `lock`).
    Unlock(Who),
}

/// The user a command acts on.
#[derive(Args, Debug)]
pub struct Who {
    /// The user's email address.
    #[arg(long)]
    email: String,
    /// The user's tenant.
    #[arg(long, default_value = DEFAULT_TENANT)]
    tenant: String,
}

/// `users create` arguments.
#[derive(Args, Debug)]
pub struct CreateUser {
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
    /// Tenant.
    #[arg(long, default_value = DEFAULT_TENANT)]
    tenant: String,
}

/// Runs a `users` subcommand.
pub async fn run(domain: &Domain, config: &Config, cmd: UsersCommand) -> Result<(), Stop> {
    let meta = cli_meta();
    match cmd {
        UsersCommand::Create(args) => {
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
            let user = domain.create_user(r, &roles, true, &meta).await.map_err(describe)?;
            print_json(&UserView::from(user))
        }
        UsersCommand::List {
            tenant,
            q,
            role,
            status,
        } => {
            let query = UserQuery {
                tenant,
                q,
                role,
                status,
            };
            let admin = cli_admin();
            print_all_pages(|page| {
                let (admin, query) = (&admin, query.clone());
                async move { domain.admin_list_users(admin, query, &page).await }
            })
            .await
        }
        UsersCommand::GrantRole { who, role } => {
            let user = find(domain, &who).await?;
            let user = domain.grant_role(&user, &role, &meta).await.map_err(describe)?;
            print_json(&UserView::from(user))
        }
        UsersCommand::SetPassword { who, password_stdin } => {
            let password = read_password(password_stdin)?;
            let user = find(domain, &who).await?;
            domain
                .set_user_password(&user, &password, &meta)
                .await
                .map_err(describe)?;
            print_json(&UserView::from(user))
        }
        UsersCommand::Disable(who) => set_status(domain, &who, true).await,
        UsersCommand::Enable(who) => set_status(domain, &who, false).await,
        UsersCommand::Lock(who) => {
            shared_counters(config, "lock")?;
            let user = find(domain, &who).await?;
            domain.admin_lock(&user, &meta).await.map_err(describe)?;
            print_json(&domain.admin_user_view(user).await)
        }
        UsersCommand::Unlock(who) => {
            shared_counters(config, "unlock")?;
            let user = find(domain, &who).await?;
            domain.admin_unlock(&user, &meta).await.map_err(describe)?;
            print_json(&domain.admin_user_view(user).await)
        }
    }
}

async fn set_status(domain: &Domain, who: &Who, disabled: bool) -> Result<(), Stop> {
    let user = find(domain, who).await?;
    let user = domain
        .admin_set_status(&user, disabled, &cli_meta())
        .await
        .map_err(describe)?;
    print_json(&domain.admin_user_view(user).await)
}

/// Without Redis each server keeps locks in its own memory, where this process cannot reach.
fn shared_counters(config: &Config, what: &str) -> Result<(), Stop> {
    if config.redis_url.is_some() {
        return Ok(());
    }
    Err(Stop::Failed(format!(
        "users {what} needs REDIS_URL: without it every server keeps its locks in its own memory, out of this \
         command's reach; use POST /admin/users/{{id}}/{what} on the running server (or `users disable`)"
    )))
}

async fn find(domain: &Domain, who: &Who) -> Result<UserRecord, Stop> {
    let user = domain
        .store
        .user_by_login(&who.tenant, &who.email)
        .await
        .map_err(|e| e.to_string())?
        .filter(|u| u.email.eq_ignore_ascii_case(who.email.trim()));
    Ok(user.ok_or_else(|| format!("no user with email {} in tenant {}", who.email, who.tenant))?)
}
