//! `rask link log`: the latest account-linking attempts, each with the first step that failed
//! and why. A failing link must never be a black box. `rask link revoke USER`: ends every link
//! of a user at once.

use std::path::PathBuf;

use rask_store::link_log::LogEntry;

/// Arguments of `rask link`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Show the latest linking attempts, the first failed step of each, and every step.
    Log {
        /// How many attempts.
        #[arg(long, default_value_t = 10)]
        attempts: usize,
        /// The configuration file, for the database.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// End every link of a user at once: each access and refresh token they hold is refused,
    /// and Alexa asks them to link again.
    Revoke {
        /// The login name.
        user: String,
        /// The configuration file, for the database.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// Steps grouped into attempts: an attempt starts at `authorize`; token refreshes and
/// revocations stand alone.
pub fn attempts(mut newest_first: Vec<LogEntry>) -> Vec<Vec<LogEntry>> {
    newest_first.reverse();
    let mut out: Vec<Vec<LogEntry>> = Vec::new();
    for e in newest_first {
        let starts = matches!(e.step.as_str(), "authorize" | "refresh" | "revoke")
            || out
                .last()
                .is_none_or(|a| matches!(a[0].step.as_str(), "refresh" | "revoke"));
        if starts {
            out.push(vec![e]);
        } else if let Some(a) = out.last_mut() {
            a.push(e);
        }
    }
    out
}

fn time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .map(rask_model::timestamp::seconds)
        .unwrap_or_else(|_| ms.to_string())
}

/// Renders attempts for the terminal.
pub fn render(attempts: &[Vec<LogEntry>]) -> String {
    let mut out = String::new();
    for a in attempts {
        let first = &a[0];
        let who = a
            .iter()
            .find_map(|e| e.user_name.clone())
            .unwrap_or_else(|| "(no user yet)".into());
        let client = first.client_id.clone().unwrap_or_else(|| "?".into());
        let verdict = match a.iter().find(|e| !e.ok) {
            Some(f) => format!("FAILED at {}: {}", f.step, f.detail),
            None => {
                let last = a.last().map(|e| e.step.as_str()).unwrap_or("");
                if a.iter().any(|e| e.step == "token") || last == "refresh" || last == "revoke" {
                    "ok".to_owned()
                } else {
                    format!("unfinished: stopped after {last}")
                }
            }
        };
        out.push_str(&format!(
            "{}  client {client}  user {who}  from {}: {verdict}\n",
            time(first.at),
            first.remote.clone().unwrap_or_else(|| "?".into())
        ));
        for e in a {
            out.push_str(&format!(
                "    {} {:<9} {}\n",
                if e.ok { "ok  " } else { "FAIL" },
                e.step,
                e.detail
            ));
        }
    }
    if out.is_empty() {
        out.push_str("no linking attempts yet\n");
    }
    out
}

/// Runs `rask link`.
pub async fn run(args: Args) -> anyhow::Result<bool> {
    match args.action {
        Action::Log { attempts: n, config } => {
            let config = crate::serve::load(config.as_deref())?;
            let store = crate::serve::existing_store(&config).await?;
            let all = attempts(store.link_log((n as i64).saturating_mul(12)).await?);
            let start = all.len().saturating_sub(n);
            print!("{}", render(&all[start..]));
            Ok(true)
        }
        Action::Revoke { user, config } => {
            let config = crate::serve::load(config.as_deref())?;
            let store = crate::serve::existing_store(&config).await?;
            let Some(u) = store.user_by_name(&user).await? else {
                anyhow::bail!("there is no user named {user} (rask user list shows them)");
            };
            let n = store
                .revoke_user_links(
                    &u.id,
                    "revoked by the operator (rask link revoke)",
                    rask_store::now_ms(),
                )
                .await?;
            store
                .log_link_step(&rask_store::link_log::LogEntry {
                    id: 0,
                    at: rask_store::now_ms(),
                    client_id: None,
                    user_name: Some(u.name.clone()),
                    remote: Some("rask link revoke".into()),
                    step: "revoke".into(),
                    ok: true,
                    detail: format!("{n} link(s) revoked by the operator"),
                })
                .await?;
            println!(
                "{user}: {n} link{} revoked; a running rask refuses their tokens within {} s, \
                 and Alexa asks them to link the account again",
                if n == 1 { "" } else { "s" },
                rask_link::CACHE_LIFE.as_secs()
            );
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: i64, step: &str, ok: bool, detail: &str) -> LogEntry {
        LogEntry {
            id,
            at: 1_700_000_000_000 + id,
            client_id: Some("alexa".into()),
            user_name: (step != "authorize").then(|| "alice".into()),
            remote: Some("127.0.0.1".into()),
            step: step.into(),
            ok,
            detail: detail.into(),
        }
    }

    #[test]
    fn attempts_name_their_first_failure() {
        let newest_first = vec![
            e(6, "refresh", true, "refresh token rotated"),
            e(5, "token", false, "invalid_grant: redirect_uri does not match"),
            e(4, "consent", true, "allowed"),
            e(3, "login", true, "signed in"),
            e(2, "login", false, "wrong password"),
            e(1, "authorize", true, "client_id=alexa"),
        ];
        let a = attempts(newest_first);
        assert_eq!(a.len(), 2);
        let text = render(&a);
        assert!(
            text.contains("user alice  from 127.0.0.1: FAILED at login: wrong password"),
            "{text}"
        );
        assert!(
            text.lines()
                .filter(|l| !l.starts_with("    "))
                .nth(1)
                .unwrap()
                .ends_with(": ok"),
            "{text}"
        );
        assert_eq!(render(&[]), "no linking attempts yet\n");
    }
}
