//! `rask user add|passwd|remove|list`: the people who can link their accounts. A password comes
//! from a prompt, or from standard input when that is not a terminal (for scripts).

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
    },
    /// Set a user's password; the password is asked for (or read from standard input).
    Passwd {
        /// The login name.
        name: String,
        /// The configuration file, for the database.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Remove a user: their links end, their grant and pending events go with them.
    Remove {
        /// The login name.
        name: String,
        /// The configuration file, for the database.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// List the users.
    List {
        /// The configuration file, for the database.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

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
        Action::Add { name, config } => {
            let config = crate::serve::load(config.as_deref())?;
            if name.trim().is_empty() || name.chars().any(char::is_whitespace) {
                bail!("the user name must be one word");
            }
            let password = read_password()?;
            let hash = rask_link::password::hash(&password)?;
            crate::serve::say_database(&config);
            let store = Store::connect(&config.database.url).await?;
            match store
                .add_user(&uuid::Uuid::new_v4().to_string(), &name, &hash)
                .await
            {
                Ok(_) => println!("added user {name}"),
                Err(StoreError::Duplicate(_)) => bail!("a user named {name} already exists"),
                Err(e) => return Err(e.into()),
            }
            Ok(true)
        }
        Action::Passwd { name, config } => {
            let config = crate::serve::load(config.as_deref())?;
            let store = crate::serve::existing_store(&config).await?;
            if store.user_by_name(&name).await?.is_none() {
                bail!("there is no user named {name} (rask user list shows them)");
            }
            let password = read_password()?;
            let hash = rask_link::password::hash(&password)?;
            store.set_password(&name, &hash).await?;
            println!("the password of {name} is changed (their links stay as they are)");
            Ok(true)
        }
        Action::Remove { name, config } => {
            let config = crate::serve::load(config.as_deref())?;
            let store = crate::serve::existing_store(&config).await?;
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
        Action::List { config } => {
            let config = crate::serve::load(config.as_deref())?;
            crate::serve::say_database(&config);
            let store = crate::serve::existing_store(&config).await?;
            for u in store.users().await? {
                println!("{}", u.name);
            }
            Ok(true)
        }
    }
}
