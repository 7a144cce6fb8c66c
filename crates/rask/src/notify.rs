//! `rask notify --file EVENT.json (--user USER | --everyone) [--live]`: a Proactive Event for
//! the configured custom skill's users, checked against Amazon's rules, stored in the
//! out-of-session outbox, and sent by the running `rask serve`: to the user's own region, or,
//! for everyone, to each region's Multicast.

use std::path::PathBuf;

use anyhow::{Context, bail};
use rask_model::proactive::{ProactiveEventRequest, RelevantAudience};
use rask_model::region::Region;
use rask_store::Store;
use rask_store::service_outbox::Enqueued;

/// Arguments of `rask notify`.
#[derive(clap::Args)]
pub struct NotifyArgs {
    /// The event body: timestamp, referenceId, expiryTime, event, localizedAttributes (its
    /// relevantAudience is set from --user or --everyone).
    #[arg(long, value_name = "EVENT.json")]
    file: PathBuf,
    /// One user's id for the skill (`amzn1.ask.account.…`): a Unicast event in their region.
    #[arg(long, conflicts_with = "everyone")]
    user: Option<String>,
    /// Every subscribed user: a Multicast event in each region.
    #[arg(long)]
    everyone: bool,
    /// The live stage (default: development, the developer's own accounts).
    #[arg(long)]
    live: bool,
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Runs `rask notify`.
pub async fn run(args: NotifyArgs) -> anyhow::Result<bool> {
    let config = crate::serve::load(args.config.as_deref())?;
    let Some(skill) = &config.skill else {
        bail!(
            "rask notify sends for the custom skill of [skill], and the configuration has none (docs/config.md)"
        );
    };
    if skill.client_id.is_none() {
        bail!(
            "skill.client_id: events are sent with the skill's own client (its Permissions page); set it and its secret (docs/config.md)"
        );
    }
    if args.user.is_none() && !args.everyone {
        bail!("say who: --user USER, or --everyone");
    }
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let mut raw: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", args.file.display()))?;
    raw["relevantAudience"] = serde_json::to_value(RelevantAudience::multicast())?;
    let mut event: ProactiveEventRequest = serde_json::from_value(raw)
        .with_context(|| format!("{} is not a proactive event", args.file.display()))?;
    let store = Store::connect(&config.database.url).await.with_context(|| {
        format!(
            "cannot open the database {}",
            rask_store::redact_url(&config.database.url)
        )
    })?;
    let regions = match &args.user {
        Some(user) => {
            let Some(seen) = store.skill_user(&skill.id, user).await? else {
                bail!(
                    "{} has not used the skill yet, so their region is unknown: they open the skill once",
                    rask_model::limits::logged(user)
                );
            };
            event.relevant_audience = RelevantAudience::unicast(user);
            vec![
                Region::from_api_endpoint(&seen.api_endpoint)
                    .context("the user's recorded endpoint names no region")?,
            ]
        }
        None => Region::ALL.to_vec(),
    };
    for region in regions {
        let call =
            rask_home::out_of_session::event_call(&skill.id, region, args.live, &event, rask_store::now_ms())
                .map_err(|e| anyhow::anyhow!("the event is not one Amazon takes: {e}"))?;
        match store.enqueue_service_call(&call).await? {
            Enqueued::New(id) => crate::sim::say(&format!("queued {id} for {}", region.as_str())),
            Enqueued::Duplicate(id) => crate::sim::say(&format!(
                "already queued as {id} for {} (the same referenceId and audience)",
                region.as_str()
            )),
        }
    }
    Ok(true)
}
