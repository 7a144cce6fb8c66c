//! `rask user add|passwd|remove|list`: the people who can link their accounts, and with
//! `--owner` the owners who sign in to the console at `/` (apart: an owner cannot link an
//! Alexa account, a linking user cannot open the console). A password comes from a prompt, or
//! from standard input when that is not a terminal (for scripts).

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::{Context, bail};
use rask_store::{Store, StoreError};

/// Arguments of `rask user`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Add a user; the password is asked for (or read from standard input).
    Add {
        /// The login name.
        name: String,
        /// The configuration file, for the database.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// An owner of the console at `/`, not a person who links an account.
        #[arg(long)]
        owner: bool,
    },
    /// Set a user's password; the password is asked for (or read from standard input).
    Passwd {
        /// The login name.
        name: String,
        /// The configuration file, for the database.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// An owner of the console at `/`, not a person who links an account.
        #[arg(long)]
        owner: bool,
    },
    /// Remove a user: their links end, their grant and pending events go with them.
    Remove {
        /// The login name.
        name: String,
        /// The configuration file, for the database.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// An owner of the console at `/`, not a person who links an account.
        #[arg(long)]
        owner: bool,
    },
    /// List the users (and, with --owner, the console's owners).
    List {
        /// The configuration file, for the database.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// An owner of the console at `/`, not a person who links an account.
        #[arg(long)]
        owner: bool,
    },
}

/// The fewest characters an owner's password may have: it opens everything rask keeps.
pub const MIN_OWNER_PASSWORD_CHARS: usize = 12;

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password again: ")?;
        if first != again {
            bail!("the passwords do not match");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// Runs `rask user`.
pub async fn run(args: Args) -> anyhow::Result<bool> {
    match args.action {
        Action::Add { name, config, owner } => {
            let config = crate::serve::load(config.as_deref())?;
            if name.trim().is_empty() || name.chars().any(char::is_whitespace) {
                bail!("the user name must be one word");
            }
            let password = read_password()?;
            if owner && password.chars().count() < MIN_OWNER_PASSWORD_CHARS {
                bail!(
                    "an owner's password needs at least {MIN_OWNER_PASSWORD_CHARS} characters: it opens the console"
                );
            }
            let hash = rask_link::password::hash(&password)?;
            crate::serve::say_database(&config);
            let store = Store::connect(&config.database.url).await?;
            let added = if owner {
                store.add_owner(&name, &hash).await
            } else {
                store
                    .add_user(&uuid::Uuid::new_v4().to_string(), &name, &hash)
                    .await
                    .map(|_| ())
            };
            let what = if owner { "owner" } else { "user" };
            match added {
                Ok(()) if owner => println!("added owner {name}: they sign in to the console at /"),
                Ok(()) => println!("added user {name}"),
                Err(StoreError::Duplicate(_)) => bail!("a {what} named {name} already exists"),
                Err(e) => return Err(e.into()),
            }
            Ok(true)
        }
        Action::Passwd { name, config, owner } => {
            let config = crate::serve::load(config.as_deref())?;
            let store = crate::serve::existing_store(&config).await?;
            let exists = if owner {
                store.owner(&name).await?.is_some()
            } else {
                store.user_by_name(&name).await?.is_some()
            };
            if !exists {
                bail!(
                    "there is no {} named {name} (rask user list{} shows them)",
                    who(owner),
                    flag(owner)
                );
            }
            let password = read_password()?;
            if owner && password.chars().count() < MIN_OWNER_PASSWORD_CHARS {
                bail!(
                    "an owner's password needs at least {MIN_OWNER_PASSWORD_CHARS} characters: it opens the console"
                );
            }
            let hash = rask_link::password::hash(&password)?;
            if owner {
                store.set_owner_password(&name, &hash).await?;
                println!("the password of owner {name} is changed; their console sessions are ended");
            } else {
                store.set_password(&name, &hash).await?;
                println!("the password of {name} is changed (their links stay as they are)");
            }
            Ok(true)
        }
        Action::Remove { name, config, owner } => {
            let config = crate::serve::load(config.as_deref())?;
            let store = crate::serve::existing_store(&config).await?;
            if owner {
                if !store.remove_owner(&name).await? {
                    bail!("there is no owner named {name} (rask user list --owner shows them)");
                }
                println!("removed owner {name}: their console sessions are ended");
                return Ok(true);
            }
            if !store.remove_user(&name).await? {
                bail!("there is no user named {name} (rask user list shows them)");
            }
            println!(
                "removed {name}: their links, grant and pending events are gone \
                 (a running rask refuses their tokens within {} s)",
                rask_link::CACHE_LIFE.as_secs()
            );
            Ok(true)
        }
        Action::List { config, owner } => {
            let config = crate::serve::load(config.as_deref())?;
            crate::serve::say_database(&config);
            let store = crate::serve::existing_store(&config).await?;
            if owner {
                for name in store.owner_names().await? {
                    println!("{name}");
                }
            } else {
                for u in store.users().await? {
                    println!("{}", u.name);
                }
            }
            Ok(true)
        }
    }
}

fn who(owner: bool) -> &'static str {
    if owner { "owner" } else { "user" }
}

fn flag(owner: bool) -> &'static str {
    if owner { " --owner" } else { "" }
}
