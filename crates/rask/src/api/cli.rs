//! `rask api-key new NAME --action messages`: a new key for the HTTP API, printed once, with
//! the `[[api_keys]]` entry that holds only its SHA-256.

use super::keys::{Action, new_key};

/// Arguments of `rask api-key`.
#[derive(clap::Args)]
pub struct ApiKeyArgs {
    #[command(subcommand)]
    command: ApiKeyCommand,
}

#[derive(clap::Subcommand)]
enum ApiKeyCommand {
    /// Make a new key.
    New {
        /// Who will use it (`shop`), for logs.
        name: String,
        /// What it may do: messages, notifications (repeat for both; default both).
        #[arg(long = "action", value_name = "ACTION", value_parser = ["messages", "notifications"])]
        actions: Vec<String>,
    },
}

/// Runs `rask api-key`.
pub fn run(args: ApiKeyArgs) -> anyhow::Result<bool> {
    let ApiKeyCommand::New { name, mut actions } = args.command;
    if name.is_empty() || name.len() > 64 || name.contains('"') {
        anyhow::bail!("NAME: 1 to 64 characters, without quotes");
    }
    if actions.is_empty() {
        actions = [Action::Messages, Action::Notifications]
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect();
    }
    actions.dedup();
    let (key, hex) = new_key();
    let list: Vec<String> = actions.iter().map(|a| format!("{a:?}")).collect();
    println!("key (give it to the caller; it is not shown again, and rask keeps only its hash):");
    println!("  {key}");
    println!();
    println!("add to rask.toml:");
    println!("[[api_keys]]");
    println!("name = {name:?}");
    println!("sha256 = \"{hex}\"");
    println!("actions = [{}]", list.join(", "));
    Ok(true)
}
