//! `rask notify`: a Proactive Event for the configured custom skill's users, checked against
//! Amazon's rules, stored in the out-of-session outbox, and sent by the running `rask serve`:
//! to the user's own region, or, for everyone, to each region's Multicast.
//!
//! The event is either a file (`--file EVENT.json`, the Proactive Events body) or a schema and
//! its fields (`rask notify AMAZON.OrderStatus.Updated state.status=ORDER_SHIPPED
//! order.seller.name=Shop`): a field the schema wants localized goes into
//! `localizedAttributes` for `--locale` and is referenced from the payload.

use std::path::PathBuf;

use anyhow::{Context, bail};
use rask_home::service_queue::ServiceQueue;
use rask_model::check::Finding;
use rask_model::proactive::{ProactiveEventRequest, RelevantAudience};
use serde_json::{Map, Value, json};

/// Arguments of `rask notify`.
#[derive(clap::Args)]
pub struct NotifyArgs {
    /// The event's schema (`AMAZON.OrderStatus.Updated`), when it is given as fields.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    schema: Option<String>,
    /// The payload's fields, PATH=VALUE each (`state.status=ORDER_SHIPPED`); dots nest.
    #[arg(value_name = "PATH=VALUE")]
    fields: Vec<String>,
    /// The event body instead: timestamp, referenceId, expiryTime, event, localizedAttributes
    /// (its relevantAudience is set from --user or --everyone).
    #[arg(long, value_name = "EVENT.json")]
    file: Option<PathBuf>,
    /// One user's id for the skill (`amzn1.ask.account.…`): a Unicast event in their region.
    #[arg(long, conflicts_with = "everyone")]
    user: Option<String>,
    /// Every subscribed user: a Multicast event in each region.
    #[arg(long)]
    everyone: bool,
    /// The live stage (default: development, the developer's own accounts).
    #[arg(long)]
    live: bool,
    /// The locale of localized fields given as PATH=VALUE.
    #[arg(long, default_value = "en-US")]
    locale: String,
    /// The event's referenceId (default: a new one; the same id again is the same event).
    #[arg(long, value_name = "ID")]
    reference_id: Option<String>,
    /// Seconds until Alexa deletes the notification undelivered (default 3600; 300 to 86400).
    #[arg(long, value_name = "SECONDS")]
    expires: Option<i64>,
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// How long an event lives when its body does not say.
pub const DEFAULT_EXPIRY: time::Duration = time::Duration::hours(1);

/// The event in `raw` (a Proactive Events body, with `timestamp` and `expiryTime` now and an
/// hour from now when absent) for `user`, or for everyone.
pub fn event_for(raw: Value, user: Option<&str>, everyone: bool) -> Result<ProactiveEventRequest, Finding> {
    let Value::Object(mut raw) = raw else {
        return Err(Finding::new("", "type", "the event must be a JSON object"));
    };
    let audience = match (user, everyone) {
        (Some(u), false) => RelevantAudience::unicast(u),
        (None, true) => RelevantAudience::multicast(),
        _ => return Err(Finding::new("/user", "required", "say who: a user, or everyone")),
    };
    let now = time::OffsetDateTime::now_utc();
    raw.entry("timestamp")
        .or_insert_with(|| rask_model::timestamp::seconds(now).into());
    raw.entry("expiryTime")
        .or_insert_with(|| rask_model::timestamp::seconds(now + DEFAULT_EXPIRY).into());
    raw.insert(
        "relevantAudience".into(),
        serde_json::to_value(audience).unwrap_or_default(),
    );
    serde_json::from_value(Value::Object(raw)).map_err(|e| Finding::new("", "shape", e.to_string()))
}

/// The body for `schema` and its `PATH=VALUE` fields.
fn from_fields(args: &NotifyArgs, schema: &str) -> anyhow::Result<Value> {
    let mut payload = Map::new();
    let mut localized = Map::new();
    for pair in &args.fields {
        let Some((path, value)) = pair.split_once('=') else {
            bail!("{pair:?} is not PATH=VALUE");
        };
        let steps: Vec<&str> = path.split('.').collect();
        if steps.iter().any(|s| s.is_empty()) {
            bail!("{path:?} is not a field path (such as state.status)");
        }
        let value = match rask_model::proactive::localized_key(schema, path) {
            Some(key) => {
                localized.insert(key.to_owned(), Value::String(value.to_owned()));
                Value::String(format!("localizedattribute:{key}"))
            }
            None => typed(value),
        };
        set(&mut payload, &steps, value)
            .with_context(|| format!("{path}: a field cannot be inside a value"))?;
    }
    let now = time::OffsetDateTime::now_utc();
    let expires = time::Duration::seconds(args.expires.unwrap_or(DEFAULT_EXPIRY.whole_seconds()));
    let mut body = json!({
        "timestamp": rask_model::timestamp::seconds(now),
        "referenceId": args.reference_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        "expiryTime": rask_model::timestamp::seconds(now + expires),
        "event": {"name": schema, "payload": payload},
    });
    if !localized.is_empty() {
        localized.insert("locale".into(), args.locale.clone().into());
        body["localizedAttributes"] = json!([localized]);
    }
    Ok(body)
}

/// Numbers and booleans as JSON; anything else as text.
fn typed(value: &str) -> Value {
    match serde_json::from_str::<Value>(value) {
        Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
        _ => Value::String(value.to_owned()),
    }
}

fn set(into: &mut Map<String, Value>, steps: &[&str], value: Value) -> Option<()> {
    let (last, parents) = steps.split_last()?;
    let mut at = into;
    for s in parents {
        at = at
            .entry((*s).to_owned())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()?;
    }
    at.insert((*last).to_owned(), value);
    Some(())
}

/// Runs `rask notify`.
pub async fn run(args: NotifyArgs) -> anyhow::Result<bool> {
    let config = crate::serve::load(args.config.as_deref())?;
    // Without a configuration: the embedded default's skill, as `rask status` reads its data.
    let embedded = match (&config.skill, &args.config) {
        (None, None) => crate::demo::embedded_skill(),
        _ => None,
    };
    let Some(skill) = config.skill.as_ref().or(embedded.as_ref()) else {
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
    let raw = match (&args.file, &args.schema) {
        (Some(file), _) => {
            let text =
                std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
            serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?
        }
        (None, Some(schema)) => from_fields(&args, schema)?,
        (None, None) => bail!("give the event: SCHEMA PATH=VALUE…, or --file EVENT.json"),
    };
    let event = event_for(raw, args.user.as_deref(), args.everyone)
        .map_err(|f| anyhow::anyhow!("the event is not one Amazon takes: {f}"))?;
    let store = crate::serve::existing_store(&config).await?;
    let queue = ServiceQueue::new(store, skill.id.as_str());
    let calls = queue
        .notify(&event, args.live)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for q in calls {
        match q.duplicate {
            false => crate::sim::say(&format!("queued {} for {}", q.id, q.region.as_str())),
            true => crate::sim::say(&format!(
                "already queued as {} for {} (the same referenceId and audience)",
                q.id,
                q.region.as_str()
            )),
        }
    }
    Ok(true)
}
