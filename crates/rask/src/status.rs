//! `rask status`: each user's one visible state for Alexa events (no grant, active,
//! refreshing, revoked, refused, with the reason) and their last delivery and its outcome;
//! the custom skill's out-of-session calls (messages, proactive events) with Amazon's answers;
//! and `rask press DEVICE`: a doorbell press from the command line, into the outbox.

use std::path::PathBuf;

use anyhow::bail;
use rask_store::Store;

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

fn key_path(config: &crate::config::Config) -> PathBuf {
    config
        .alexa
        .as_ref()
        .map(|a| a.secret_key_file.clone())
        .unwrap_or_else(|| PathBuf::from(crate::demo::SECRET_KEY_FILE))
}

/// A time as Alexa writes it, whole seconds, UTC.
fn at(ms: i64) -> String {
    rask_model::timestamp::seconds(
        time::OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

/// One grant's state in words: the state with its reason, a refresh that could not finish,
/// a lease whose holder died.
fn grant_line(g: &rask_store::grants::GrantStatus, now: i64) -> String {
    use rask_store::grants::GrantState;
    let detail = g.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
    let mut line = format!("{} ({}){detail}", g.state.as_str(), g.region);
    if g.state == GrantState::Refreshing {
        if g.lease_until < now {
            line.push_str(&format!(
                "; the refresh stalled: its lease ran out at {} (its holder stopped mid-refresh); \
                 the next event takes it over",
                at(g.lease_until)
            ));
        } else {
            line.push_str(&format!(
                "; a refresh is under way (lease until {})",
                at(g.lease_until)
            ));
        }
    }
    if let Some((when, why)) = &g.refresh_problem {
        line.push_str(&format!("; the last refresh failed at {}: {why}", at(*when)));
    }
    if matches!(g.state, GrantState::Active | GrantState::Refreshing) && g.expires_at < now {
        line.push_str(&format!(
            "; the access token expired at {} (refreshed when the next event goes out)",
            at(g.expires_at)
        ));
    }
    line
}

/// Runs `rask status`. It reads states only: it needs no sealing key and never makes one,
/// but says whether the key it finds opens the stored grants.
pub async fn status(args: StatusArgs) -> anyhow::Result<bool> {
    let config = crate::serve::load(args.config.as_deref())?;
    crate::serve::say_database(&config);
    let store = crate::serve::existing_store(&config).await?;
    let grants = store.grant_statuses().await?;
    let path = key_path(&config);
    if !grants.is_empty() {
        match Store::existing_sealer(&path) {
            Ok(Some(sealer)) => {
                let (n, opened) = store.grants_opened(&sealer).await?;
                if opened < n {
                    println!(
                        "warning: the sealing key ({}) opens {opened} of the {n} stored grants: rask serve will refuse it",
                        path.display()
                    );
                }
            }
            Ok(None) => println!(
                "warning: no sealing key at {} (nor RASK_SECRET_KEY): rask serve will not start without the key the grants were sealed with",
                path.display()
            ),
            Err(e) => println!("warning: the sealing key cannot be read: {e}"),
        }
    }
    let log = store.event_log(1000).await?;
    let now = rask_store::now_ms();
    for user in store.users().await? {
        let state = match grants.iter().find(|g| g.user_id == user.id) {
            None => {
                "no grant (Alexa has not sent AcceptGrant: enable the skill and link the account)".to_owned()
            }
            Some(g) => grant_line(g, now),
        };
        println!("{}: {state}", user.name);
        match log.iter().find(|a| a.user_id == user.id) {
            Some(a) => println!(
                "    last delivery: {} {} of {}, attempt {}: {} ({})",
                at(a.at),
                a.kind,
                a.endpoint_id,
                a.attempt,
                a.outcome,
                a.detail
            ),
            None => println!("    no delivery yet"),
        }
    }
    if let Some(skill) = &config.skill {
        out_of_session(&store, &skill.id).await?;
    }
    Ok(true)
}

/// The custom skill's out-of-session calls: how many in each state, and the latest, each with
/// whom it was for, where, and Amazon's answer.
async fn out_of_session(store: &Store, skill_id: &str) -> anyhow::Result<()> {
    let (pending, sent, failed) = store.service_call_counts().await?;
    println!(
        "custom skill {}: out-of-session calls: {pending} pending, {sent} sent, {failed} failed",
        rask_model::limits::logged(skill_id)
    );
    for c in store.service_calls(10).await? {
        let whom = if c.user_id.is_empty() {
            "everyone".to_owned()
        } else {
            rask_model::limits::logged(&c.user_id).into_owned()
        };
        println!(
            "    {} {} {} for {whom} in {}: {} after {} attempt(s){}",
            at(c.created_at),
            c.id,
            c.kind,
            c.region,
            c.status,
            c.attempts,
            c.outcome.map(|o| format!(": {o}")).unwrap_or_default()
        );
    }
    Ok(())
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
    crate::serve::say_database(&config);
    let store = crate::serve::existing_store(&config).await?;
    let triggers =
        rask_home::triggers::Triggers::new(store, registry.clone(), Default::default(), Default::default());
    let n = triggers.press(&args.device).await?;
    if n == 0 {
        bail!("{}", rask_home::triggers::NOBODY_GRANTED);
    }
    println!(
        "queued {n} DoorbellPress event{} (a running rask serve delivers them)",
        if n == 1 { "" } else { "s" }
    );
    Ok(true)
}
