//! `rask status`: each user's one visible state for Alexa events (no grant, active,
//! refreshing, revoked, refused, with the reason) and their last delivery and its outcome;
//! and `rask press DEVICE`: a doorbell press from the command line, into the outbox.

use std::path::PathBuf;

use anyhow::{Context, bail};
use rask_store::Store;
use rask_store::sealer::Sealer;

/// Arguments of `rask status`.
#[derive(clap::Args)]
pub struct StatusArgs {
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Arguments of `rask press`.
#[derive(clap::Args)]
pub struct PressArgs {
    /// The doorbell's id.
    device: String,
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn sealer(config: &crate::config::Config) -> anyhow::Result<Sealer> {
    let path = config
        .alexa
        .as_ref()
        .map(|a| a.secret_key_file.clone())
        .unwrap_or_else(|| PathBuf::from("rask-data/secret.key"));
    Sealer::from_env_or_file(&path)
        .with_context(|| format!("the key that seals LWA tokens ({})", path.display()))
}

/// Runs `rask status`.
pub async fn status(args: StatusArgs) -> anyhow::Result<bool> {
    let config = crate::serve::load(args.config.as_deref())?;
    let store = Store::connect(&config.database.url).await?;
    let sealer = sealer(&config)?;
    let grants = store
        .grants(&sealer)
        .await
        .context("the grants could not be read (is this the same secret key?)")?;
    let log = store.event_log(1000).await?;
    for user in store.users().await? {
        let state = match grants.iter().find(|g| g.user_id == user.id) {
            None => {
                "no grant (Alexa has not sent AcceptGrant: enable the skill and link the account)".to_owned()
            }
            Some(g) => {
                let detail = g.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
                format!("{} ({}){detail}", g.state.as_str(), g.region)
            }
        };
        println!("{}: {state}", user.name);
        match log.iter().find(|a| a.user_id == user.id) {
            Some(a) => println!(
                "    last delivery: {} {} of {}, attempt {}: {} ({})",
                rask_model::timestamp::seconds(
                    time::OffsetDateTime::from_unix_timestamp(a.at / 1000)
                        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
                ),
                a.kind,
                a.endpoint_id,
                a.attempt,
                a.outcome,
                a.detail
            ),
            None => println!("    no delivery yet"),
        }
    }
    Ok(true)
}

/// Runs `rask press DEVICE`.
pub async fn press(args: PressArgs) -> anyhow::Result<bool> {
    let config = crate::serve::load(args.config.as_deref())?;
    let registry = config.registry(args.config.is_some());
    let Some(device) = registry.get(&args.device) else {
        let known: Vec<&str> = registry.devices().iter().map(|d| d.id.as_str()).collect();
        bail!(
            "no device {:?}; the devices are: {}",
            args.device,
            known.join(", ")
        );
    };
    if device.kind != rask_home::DeviceKind::Doorbell {
        bail!("{} is not a doorbell", device.id);
    }
    let store = Store::connect(&config.database.url).await?;
    let triggers =
        rask_home::triggers::Triggers::new(store, registry.clone(), Default::default(), Default::default());
    let n = triggers.press(&args.device).await?;
    println!(
        "queued {n} DoorbellPress event{} (a running rask serve delivers them)",
        if n == 1 { "" } else { "s" }
    );
    Ok(true)
}
