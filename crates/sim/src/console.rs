//! The console at `/sim/`: skills, users, their gadgets with what each received, the
//! Works with Alexa evaluations, and the latest events with their verdicts, as one server-rendered page that refreshes itself (no
//! JavaScript).

use axum::extract::State;
use axum::response::Html;
use serde_json::Value;

use crate::Sim;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /sim/`.
pub async fn page(State(sim): State<Sim>) -> Html<String> {
    let evaluations: Vec<crate::evaluate::Evaluation> =
        sim.world().evaluations.list().into_iter().cloned().collect();
    let (skills, users, events, inboxes) = {
        let w = sim.world();
        let users = w.users();
        let inboxes: Vec<Vec<Value>> = users
            .iter()
            .flat_map(|u| {
                u.gadgets
                    .iter()
                    .map(|g| w.gadget_directives(&u.name, &g.endpoint_id))
            })
            .collect();
        (w.skills(), users, w.log.latest(50), inboxes)
    };
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>rask sim</title>\
         <style>body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse;width:100%}\
         td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}td:nth-child(2){white-space:nowrap}\
         .bad{color:#a00}.good{color:#060}code{font-size:.85rem}</style></head><body><h1>rask sim</h1>",
    );
    html.push_str(&format!(
        "<p>Alexa's cloud, simulated, at <code>{}</code>. Regions: <code>/na</code>, <code>/eu</code>, <code>/fe</code>. \
         Login with Amazon: <code>/auth/o2/token</code>. Event log as JSON: <a href=\"/sim/events\">/sim/events</a>.</p>",
        esc(sim.base_url())
    ));
    html.push_str("<h2>Skills</h2><table><tr><th>Skill id</th><th>Name</th><th>Smart home</th><th>Custom</th><th>Events permission</th></tr>");
    for s in &skills {
        html.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.skill_id),
            esc(&s.name),
            esc(s.smart_home_endpoint.as_deref().unwrap_or("—")),
            esc(s.custom_endpoint.as_deref().unwrap_or("—")),
            if s.send_events { "on" } else { "off" }
        ));
    }
    html.push_str(
        "</table><h2>Users</h2><table><tr><th>Name</th><th>Region</th><th>Skills (linked, granted)</th></tr>",
    );
    for u in &users {
        let skills: Vec<String> = u
            .skills
            .iter()
            .map(|(id, e)| {
                format!(
                    "{}: {}{}{}",
                    esc(id),
                    if e.enabled { "enabled" } else { "disabled" },
                    if e.link.is_some() { ", linked" } else { "" },
                    if e.granted { ", granted" } else { "" }
                )
            })
            .collect();
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&u.name),
            u.region,
            skills.join("<br>")
        ));
    }
    html.push_str(
        "</table><h2>Gadgets</h2><table><tr><th>User</th><th>Gadget</th><th>Interfaces</th>\
         <th>Directives received</th><th>Latest</th></tr>",
    );
    let mut inbox = inboxes.iter();
    for u in &users {
        for g in &u.gadgets {
            let got = inbox.next().map(Vec::as_slice).unwrap_or_default();
            let interfaces: Vec<&str> = g
                .capabilities
                .iter()
                .filter_map(|c| c["interface"].as_str())
                .collect();
            let latest = got
                .last()
                .map(|d| {
                    let payload = d["payload"].to_string();
                    format!(
                        "{}.{} {}",
                        d["header"]["namespace"].as_str().unwrap_or(""),
                        d["header"]["name"].as_str().unwrap_or(""),
                        rask_model::limits::cut_to(&payload, 120)
                    )
                })
                .unwrap_or_else(|| "—".into());
            html.push_str(&format!(
                "<tr><td>{}</td><td>{} <code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&u.name),
                esc(&g.friendly_name),
                esc(&g.endpoint_id),
                esc(&interfaces.join(", ")),
                got.len(),
                esc(&latest)
            ));
        }
    }
    html.push_str(
        "</table><h2>Notifications</h2><table><tr><th>User</th><th>Skill</th><th>Held</th>\
         <th>Subscribed to</th><th>Latest</th></tr>",
    );
    for u in &users {
        let mut skills: Vec<_> = u.skills.iter().collect();
        skills.sort_by(|a, b| a.0.cmp(b.0));
        for (skill, e) in skills {
            if e.notifications.is_empty() && e.subscriptions.is_none() {
                continue;
            }
            let subscribed = match &e.subscriptions {
                None => "all".to_owned(),
                Some(s) if s.is_empty() => "none".to_owned(),
                Some(s) => s.join(", "),
            };
            let latest = e
                .notifications
                .last()
                .map(|n| {
                    let payload = n.payload.to_string();
                    format!(
                        "{} {} ({}, {}) {}",
                        n.received_at,
                        n.name,
                        n.stage,
                        n.reference_id,
                        rask_model::limits::cut_to(&payload, 120)
                    )
                })
                .unwrap_or_else(|| "—".into());
            html.push_str(&format!(
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&u.name),
                esc(skill),
                e.notifications.len(),
                esc(&subscribed),
                esc(&latest)
            ));
        }
    }
    html.push_str(
        "</table><h2>Evaluations</h2><table><tr><th>#</th><th>Skill</th><th>User</th><th>Progress</th>\
         <th>Rows</th><th>Started</th></tr>",
    );
    for e in &evaluations {
        let s = e.summary;
        let progress = match (&e.error, &e.waiting_for) {
            (Some(why), _) => format!("<span class=\"bad\">stopped: {}</span>", esc(why)),
            (None, Some(waiting)) => format!("running: {}", esc(waiting)),
            (None, None) => format!("{:?}", e.progress).to_lowercase(),
        };
        html.push_str(&format!(
            "<tr><td><a href=\"/sim/evaluations/{id}\">{id}</a></td><td><code>{}</code></td><td>{}</td><td>{progress}</td>\
             <td><span class=\"{}\">{} passed, {} failed</span>, {} not applicable, {} not checked</td><td>{}</td></tr>",
            esc(&e.skill_id),
            esc(&e.user),
            if s.fail == 0 { "good" } else { "bad" },
            s.pass,
            s.fail,
            s.not_applicable,
            s.not_checked,
            esc(&e.started),
            id = e.id,
        ));
    }
    html.push_str("</table><h2>Latest events</h2><table><tr><th>#</th><th>Time</th><th>API</th><th>Status</th><th>Message</th><th>Verdict</th></tr>");
    for e in &events {
        let verdict = if e.valid {
            "<span class=\"good\">valid</span>".to_owned()
        } else {
            let mut why: Vec<String> = e
                .findings
                .iter()
                .map(|f| format!("{}: {}", f.path, f.message))
                .collect();
            if let Some(err) = &e.error {
                why.insert(0, err.clone());
            }
            format!("<span class=\"bad\">{}</span>", esc(&why.join("; ")))
        };
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.seq,
            esc(&e.time),
            esc(&e.api),
            e.region.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
            e.status,
            esc(e.name.as_deref().unwrap_or("")),
            verdict
        ));
    }
    html.push_str("</table></body></html>");
    Html(html)
}
