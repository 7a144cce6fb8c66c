//! `rask message USER key=value…`: a Skill Messaging message for one user of the configured
//! custom skill, stored in the out-of-session outbox; the running `rask serve` sends it to that
//! user's region (the one their requests come from) and retries it as Amazon advises.

use std::path::PathBuf;

use anyhow::bail;
use rask_home::service_queue::ServiceQueue;
use rask_model::messaging::SkillMessageRequest;
use serde_json::{Map, Value};

/// Arguments of `rask message`.
#[derive(clap::Args)]
pub struct MessageArgs {
    /// The user's id for the skill (`context.System.user.userId`, `amzn1.ask.account.…`).
    user: String,
    /// The message's data, KEY=VALUE each; the skill receives it as `request.message`.
    #[arg(value_name = "KEY=VALUE")]
    data: Vec<String>,
    /// How long Alexa keeps trying to deliver it, 60 to 86400 seconds (default 3600).
    #[arg(long, value_name = "SECONDS")]
    expires: Option<u64>,
    /// A key of yours: the same key again is the same message, sent once.
    #[arg(long)]
    key: Option<String>,
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Runs `rask message`.
pub async fn run(args: MessageArgs) -> anyhow::Result<bool> {
    let config = crate::serve::load(args.config.as_deref())?;
    // Without a configuration: the embedded default's skill, as `rask status` reads its data.
    let embedded = match (&config.skill, &args.config) {
        (None, None) => crate::demo::embedded_skill(),
        _ => None,
    };
    let Some(skill) = config.skill.as_ref().or(embedded.as_ref()) else {
        bail!(
            "rask message sends for the custom skill of [skill], and the configuration has none (docs/config.md)"
        );
    };
    if skill.client_id.is_none() {
        bail!(
            "skill.client_id: messages are sent with the skill's own client (its Permissions page); set it and its secret (docs/config.md)"
        );
    }
    let mut data = Map::new();
    for pair in &args.data {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("{pair:?} is not KEY=VALUE");
        };
        if k.is_empty() {
            bail!("{pair:?} has no key");
        }
        data.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    let mut message = SkillMessageRequest::new(data);
    message.expires_after_seconds = args.expires;
    let store = crate::serve::existing_store(&config).await?;
    let queue = ServiceQueue::new(store, skill.id.as_str()).with_message_key_field(skill.message_key_field());
    let queued = queue
        .message(&args.user, &message, args.key.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match queued.duplicate {
        false => crate::sim::say(&format!(
            "queued {}: rask serve sends it to the user's region ({})",
            queued.id,
            queued.region.as_str()
        )),
        true => crate::sim::say(&format!("already queued as {} (the same --key)", queued.id)),
    }
    Ok(true)
}
