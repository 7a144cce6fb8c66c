//! What the console shows: the overview (each part's health in words, users by grant state,
//! events, a chart), the users with their grant and its fix, the devices, the event log
//! (filterable), and the linking attempts. Read-only: changes are in [`super::actions`].

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use rask_store::activity::EventFilter;
use rask_store::grants::{GrantState, GrantStatus};
use serde::Deserialize;

use super::auth::Signed;
use super::chart;
use super::{Console, Frame, outcome_class, render, when};

/// One part's health.
pub struct Health {
    part: &'static str,
    words: String,
    class: &'static str,
}

#[derive(askama::Template)]
#[template(path = "console/overview.html")]
struct Overview {
    f: Frame,
    health: Vec<Health>,
    grants: Vec<(String, i64)>,
    pending: i64,
    hour: (i64, i64),
    day: (i64, i64),
    chart: String,
}

const HOUR_MS: i64 = 3_600_000;

/// Delivered and dropped among `counts`.
fn fates(counts: &[(String, i64)]) -> (i64, i64) {
    let sum = |these: &[&str]| {
        counts
            .iter()
            .filter(|(o, _)| these.contains(&o.as_str()))
            .map(|(_, n)| n)
            .sum()
    };
    (sum(chart::DELIVERED), sum(chart::DROPPED))
}

/// `GET /`.
pub(super) async fn overview(State(c): State<Console>, session: Signed) -> Response {
    let store = &c.0.store;
    let now = rask_store::now_ms();
    let mut health = Vec::new();
    let gauges = store.gauges().await;
    health.push(match &gauges {
        Ok(_) => Health {
            part: "Database",
            words: format!("reachable ({})", c.0.database),
            class: "good",
        },
        Err(e) => Health {
            part: "Database",
            words: format!("cannot be read: {e}"),
            class: "bad",
        },
    });
    health.push(match &c.0.home.mqtt {
        None => Health {
            part: "MQTT broker",
            words: "not configured ([mqtt] in rask.toml)".into(),
            class: "",
        },
        Some(m) if m.connected() => Health {
            part: "MQTT broker",
            words: "connected".into(),
            class: "good",
        },
        Some(_) => Health {
            part: "MQTT broker",
            words: "not connected: devices cannot be commanded (Alexa hears BRIDGE_UNREACHABLE); rask keeps retrying".into(),
            class: "bad",
        },
    });
    // What Amazon's side last said to this instance, since it started.
    let seen = rask_home::metrics::metrics().last_seen();
    let said = |s: &rask_home::metrics::Seen| format!("{} at {}: {}", s.outcome, when(s.at), s.detail);
    let class = |outcome: &str| match outcome {
        "refreshed" | "exchanged" | "accepted" => "good",
        other => outcome_class(other),
    };
    health.push(match &seen.credentials {
        None => Health {
            part: "Login with Amazon, the skill's credentials",
            words: "not tried yet ([alexa] with its client secret tries them every 10 minutes)".into(),
            class: "",
        },
        Some(s) => Health {
            part: "Login with Amazon, the skill's credentials",
            words: said(s),
            class: class(&s.outcome),
        },
    });
    if let Some(s) = &seen.lwa {
        health.push(Health {
            part: "Login with Amazon, users' tokens",
            words: said(s),
            class: class(&s.outcome),
        });
    }
    if seen.gateways.is_empty() {
        health.push(Health {
            part: "Event Gateway",
            words: "no event sent since rask started".into(),
            class: "",
        });
    }
    for (region, s) in &seen.gateways {
        health.push(Health {
            part: match *region {
                "NA" => "Event Gateway, NA",
                "EU" => "Event Gateway, EU",
                _ => "Event Gateway, FE",
            },
            words: format!("last delivery attempt {}", said(s)),
            class: class(&s.outcome),
        });
    }
    health.push(match (&seen.forwarder, c.0.forwarded) {
        (_, false) => Health {
            part: "Forwarder",
            words: "not configured: directives come unsigned (alexa.forwarder_secret_env turns it on)".into(),
            class: "",
        },
        (None, true) => Health {
            part: "Forwarder",
            words: "no signed directive since rask started".into(),
            class: "",
        },
        (Some(s), true) => Health {
            part: "Forwarder",
            words: format!("last directive {}", said(s)),
            class: class(&s.outcome),
        },
    });
    let (grants, pending) = match gauges {
        Ok(g) => {
            let users = store.users().await.map(|u| u.len() as i64).unwrap_or(0);
            let granted: i64 = g.grants.iter().map(|(_, n)| n).sum();
            let mut rows = g.grants;
            rows.push(("no grant yet".into(), (users - granted).max(0)));
            (rows, g.events.pending + g.services.pending)
        }
        Err(_) => (Vec::new(), 0),
    };
    let hour = fates(&store.outcomes_since(now - HOUR_MS).await.unwrap_or_default());
    let day = fates(&store.outcomes_since(now - 24 * HOUR_MS).await.unwrap_or_default());
    let hours = store
        .outcomes_by_hour(now - 24 * HOUR_MS)
        .await
        .unwrap_or_default();
    render(Overview {
        f: Frame::page("Overview", "/", &session),
        health,
        grants,
        pending,
        hour,
        day,
        chart: chart::svg(&chart::per_hour(&hours, now / HOUR_MS)),
    })
}

/// One user as the users page shows them.
struct UserRow {
    id: String,
    name: String,
    link: String,
    link_class: &'static str,
    grant: String,
    class: &'static str,
    fix: Option<String>,
    region: String,
    events: Vec<String>,
    linking: Vec<String>,
}

#[derive(askama::Template)]
#[template(path = "console/users.html")]
struct Users {
    f: Frame,
    users: Vec<UserRow>,
}

/// The grant's state in words, its class, and what to do about it.
fn grant_words(g: Option<&GrantStatus>) -> (String, &'static str, Option<String>) {
    let Some(g) = g else {
        return (
            "no grant: Alexa has not sent AcceptGrant".into(),
            "warn",
            Some("the person links the account in the Alexa app and enables the skill; rask then hears AcceptGrant".into()),
        );
    };
    let detail = g.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
    match g.state {
        GrantState::Active => ("active: events reach Alexa".into(), "good", None),
        GrantState::Refreshing => ("active, its token being refreshed".into(), "good", None),
        GrantState::Revoked => (
            format!("revoked{detail}"),
            "bad",
            Some("the person must disable and re-enable the skill in the Alexa app; if they never disabled it, check that their region is right (the forwarder's region, or alexa.region)".into()),
        ),
        GrantState::Refused => (
            format!("refused by Login with Amazon{detail}"),
            "bad",
            Some("the person must disable and re-enable the skill in the Alexa app; if every user is refused, run rask check (the skill's LWA client id and secret)".into()),
        ),
    }
}

/// `GET /users`.
pub(super) async fn users(State(c): State<Console>, session: Signed) -> Response {
    let store = &c.0.store;
    let people = store.users().await.unwrap_or_default();
    let grants: HashMap<String, GrantStatus> = store
        .grant_statuses()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|g| (g.user_id.clone(), g))
        .collect();
    let log = store.link_log(2_000).await.unwrap_or_default();
    let links: HashMap<String, i64> = store.live_links().await.unwrap_or_default().into_iter().collect();
    let mut users = Vec::new();
    for u in people {
        let g = grants.get(&u.id);
        let (grant, class, fix) = grant_words(g);
        let filter = EventFilter {
            user: Some(u.id.clone()),
            ..EventFilter::default()
        };
        let events = store
            .event_log_matching(&filter, 5)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|a| format!("{} {} {}: {}", when(a.at), a.kind, a.outcome, a.detail))
            .collect();
        let linking = log
            .iter()
            .filter(|e| e.user_name.as_deref() == Some(u.name.as_str()))
            .take(5)
            .map(|e| {
                let verdict = if e.ok { "ok" } else { "FAILED" };
                format!("{} {} {verdict}: {}", when(e.at), e.step, e.detail)
            })
            .collect();
        let (link, link_class) = match links.get(&u.id) {
            Some(n) => (
                format!("linked ({n} live link{})", if *n == 1 { "" } else { "s" }),
                "good",
            ),
            None => (
                "not linked: the person links the account in the Alexa app".to_owned(),
                "warn",
            ),
        };
        users.push(UserRow {
            id: u.id,
            name: u.name,
            link,
            link_class,
            grant,
            class,
            fix,
            region: g.map_or_else(
                || "not known yet (AcceptGrant records it)".into(),
                |g| g.region.clone(),
            ),
            events,
            linking,
        });
    }
    render(Users {
        f: Frame::page("Users", "/users", &session),
        users,
    })
}

struct DeviceRow {
    id: String,
    name: String,
    kind: &'static str,
    state: String,
    heard: String,
    connectivity: &'static str,
    class: &'static str,
    last_event: String,
    pressable: bool,
    reportable: bool,
    /// Commands published and not yet confirmed by the device.
    awaiting: String,
}

#[derive(askama::Template)]
#[template(path = "console/devices.html")]
struct Devices {
    f: Frame,
    devices: Vec<DeviceRow>,
}

/// `GET /devices`.
pub(super) async fn devices(State(c): State<Console>, session: Signed) -> Response {
    let now = rask_store::now_ms();
    let mut rows = Vec::new();
    for d in c.0.home.registry.devices() {
        let state = match &c.0.home.states {
            Some(s) => s.read(&d.id).await.ok(),
            None => None,
        };
        let heard_at = state.as_ref().and_then(|s| s.heard_at);
        let values: Vec<String> = state
            .as_ref()
            .map(|s| {
                s.properties
                    .iter()
                    .filter(|p| p.property != "connectivity")
                    .map(|p| format!("{} {}", p.property, rask_model::limits::logged(&p.value)))
                    .collect()
            })
            .unwrap_or_default();
        let reachable =
            rask_home::reports::connectivity(d, heard_at, now) == rask_model::smarthome::Connectivity::Ok;
        // What the device last told Alexa: its presses, or its ChangeReports.
        let filter = EventFilter {
            device: Some(d.id.clone()),
            kind: Some(
                if d.kind == rask_home::devices::DeviceKind::Doorbell {
                    "DoorbellPress"
                } else {
                    "ChangeReport"
                }
                .into(),
            ),
            ..EventFilter::default()
        };
        let last_event =
            c.0.store
                .event_log_matching(&filter, 1)
                .await
                .ok()
                .and_then(|l| l.into_iter().next())
                .map_or_else(
                    || "none".into(),
                    |a| format!("{} {} {}", when(a.at), a.kind, a.outcome),
                );
        rows.push(DeviceRow {
            id: d.id.clone(),
            name: d.name.clone(),
            kind: d.kind.name(),
            state: if values.is_empty() {
                "nothing reported yet".into()
            } else {
                values.join(", ")
            },
            heard: heard_at.map_or_else(|| "never".into(), when),
            connectivity: if reachable { "OK" } else { "UNREACHABLE" },
            class: if reachable { "good" } else { "bad" },
            last_event,
            pressable: d.kind == rask_home::devices::DeviceKind::Doorbell && c.0.home.triggers.is_some(),
            reportable: !d.kind.properties().is_empty() && c.0.home.triggers.is_some(),
            awaiting: c.0.home.states.as_ref().map_or_else(String::new, |s| {
                s.awaiting(&d.id)
                    .into_iter()
                    .map(|(p, v)| format!("{} {v}", p.field()))
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        });
    }
    render(Devices {
        f: Frame::page("Devices", "/devices", &session),
        devices: rows,
    })
}

/// The event log's filter, as the form sends it (empty fields match all).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Filter {
    #[serde(default)]
    user: String,
    #[serde(default)]
    device: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    outcome: String,
}

struct EventRow {
    /// The outbox row, when it was dropped and can be asked to be sent again.
    resend: Option<String>,
    at: String,
    user: String,
    device: String,
    kind: String,
    attempt: i64,
    outcome: String,
    class: &'static str,
    detail: String,
}

#[derive(askama::Template)]
#[template(path = "console/events.html")]
struct Events {
    f: Frame,
    filter: Filter,
    /// When, user, device, kind, next try, retries, life left.
    waiting: Vec<[String; 7]>,
    events: Vec<EventRow>,
}

/// `GET /events?user=&device=&kind=&outcome=`.
pub(super) async fn events(
    State(c): State<Console>,
    session: Signed,
    Query(filter): Query<Filter>,
) -> Response {
    let some = |s: &str| {
        let s = s.trim();
        (!s.is_empty()).then(|| rask_model::limits::cut_to(s, 200).into_owned())
    };
    let f = EventFilter {
        user: some(&filter.user),
        device: some(&filter.device),
        kind: some(&filter.kind),
        outcome: some(&filter.outcome),
    };
    let names: HashMap<String, String> =
        c.0.store
            .users()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|u| (u.id, u.name))
            .collect();
    let resendable = c.0.home.triggers.is_some();
    let events = c
        .0
        .store
        .event_log_matching(&f, 200)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|a| EventRow {
            resend: (resendable && !a.endpoint_id.is_empty() && chart::DROPPED.contains(&a.outcome.as_str()))
                .then(|| a.outbox_id.clone()),
            at: when(a.at),
            user: names.get(&a.user_id).cloned().unwrap_or(a.user_id),
            device: a.endpoint_id,
            kind: a.kind,
            attempt: a.attempt,
            class: outcome_class(&a.outcome),
            outcome: a.outcome,
            detail: a.detail,
        })
        .collect();
    let now = rask_store::now_ms();
    let waiting =
        c.0.store
            .waiting_events(100)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|w| f.user.as_ref().is_none_or(|u| *u == w.user_id))
            .filter(|w| f.device.as_ref().is_none_or(|d| *d == w.endpoint_id))
            .filter(|w| f.kind.as_ref().is_none_or(|k| *k == w.kind))
            .filter(|_| f.outcome.as_deref().is_none_or(|o| o == "pending"))
            .map(|w| {
                [
                    when(w.created_at),
                    names.get(&w.user_id).cloned().unwrap_or(w.user_id),
                    w.endpoint_id,
                    w.kind,
                    if w.next_attempt_at <= now {
                        "now".into()
                    } else {
                        when(w.next_attempt_at)
                    },
                    w.retries.to_string(),
                    format!("{} s", ((w.expires_at - now).max(0)) / 1000),
                ]
            })
            .collect();
    render(Events {
        f: Frame::page("Events", "/events", &session),
        filter,
        waiting,
        events,
    })
}

struct AttemptRow {
    at: String,
    who: String,
    client: String,
    remote: String,
    verdict: String,
    class: &'static str,
    steps: Vec<(bool, String, String)>,
}

#[derive(askama::Template)]
#[template(path = "console/linking.html")]
struct Linking {
    f: Frame,
    attempts: Vec<AttemptRow>,
}

/// `GET /linking`: every attempt, newest first, with its first failed step.
pub(super) async fn linking(State(c): State<Console>, session: Signed) -> Response {
    let log = c.0.store.link_log(2_000).await.unwrap_or_default();
    let mut attempts: Vec<AttemptRow> = crate::link::attempts(log)
        .into_iter()
        .map(|a| {
            let first = &a[0];
            let failed = a.iter().find(|e| !e.ok);
            AttemptRow {
                at: when(first.at),
                who: a
                    .iter()
                    .find_map(|e| e.user_name.clone())
                    .unwrap_or_else(|| "(no user yet)".into()),
                client: first.client_id.clone().unwrap_or_else(|| "?".into()),
                remote: first.remote.clone().unwrap_or_else(|| "?".into()),
                verdict: failed
                    .map_or_else(|| "ok".into(), |f| format!("failed at {}: {}", f.step, f.detail)),
                class: if failed.is_some() { "bad" } else { "good" },
                steps: a
                    .iter()
                    .map(|e| (e.ok, e.step.clone(), e.detail.clone()))
                    .collect(),
            }
        })
        .collect();
    attempts.reverse();
    render(Linking {
        f: Frame::page("Linking", "/linking", &session),
        attempts,
    })
}
