//! The owner's console, as its owner meets it in Chromium (tests/browser/console.mjs) and as an
//! attacker does: no session, a forged form, a linking user's password, a wrong password.

mod common;

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const OWNER_PASSWORD: &str = "console-owner-password";

/// The embedded default with an owner from `RASK_OWNER_PASSWORD`, its demo user linked and granted.
fn serve(name: &str) -> (common::Running, PathBuf) {
    let d = common::fresh_dir(name);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask"));
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .current_dir(&d)
        .env("RASK_LOG", "warn")
        .env("RASK_OWNER_PASSWORD", OWNER_PASSWORD)
        .env_remove("RASK_SECRET_KEY")
        .env_remove("RASK_DATABASE_URL");
    let server = common::start_command(cmd, 21);
    let text = server.lines.join("\n");
    assert!(text.contains("owner's console:"), "{text}");
    for step in ["sim link ", "sim grant ", "LaunchRequest"] {
        common::run_printed(&text, step, &d);
    }
    (server, d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_signs_in_and_presses_the_doorbell_in_chromium() {
    let (server, d) = serve("console-browser");
    // The kitchen window reports a state, so that its ChangeReport can be tested.
    let text = server.lines.join("\n");
    let window_secret = common::printed_secret(&text, "kitchen-window/state");
    let opened = reqwest::Client::new()
        .post(format!("{}/hooks/devices/kitchen-window/state", server.url()))
        .bearer_auth(&window_secret)
        .body("open")
        .send()
        .await
        .unwrap();
    assert!(opened.status().is_success(), "{}", opened.status());
    let dir = root().join("tests/browser");
    let ok = Command::new("bash").arg(dir.join("ensure.sh")).status();
    assert!(ok.is_ok_and(|st| st.success()), "tests/browser/ensure.sh failed");
    let shots = root().join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    // The server is its own process: blocking here holds up nothing it needs.
    let out = Command::new("node")
        .arg("console.mjs")
        .current_dir(&dir)
        .env("BASE_URL", server.url())
        .env("OWNER", "owner")
        .env("PASSWORD", OWNER_PASSWORD)
        .env("SCREENSHOTS", &shots)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("console ok"),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(server);
    // What the owner did is in the owners' action log.
    let store = rask_store::Store::connect_existing(&format!(
        "sqlite://{}",
        d.join("rask-data/demo/rask.db").display()
    ))
    .await
    .unwrap();
    let actions: Vec<String> = store
        .owner_actions(10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    for done in ["press", "sign-in", "test-change-report", "check"] {
        assert!(actions.contains(&done.to_owned()), "{done} not in {actions:?}");
    }
}

/// The value of `name` in the `Set-Cookie` headers of `r`.
fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let (k, rest) = v.split_once('=')?;
        (k == name).then(|| rest.split(';').next().unwrap_or("").to_owned())
    })
}

/// Signs in as the environment's owner, as a browser would; the session cookie's value.
async fn sign_in(http: &reqwest::Client, url: &str) -> String {
    let page = http.get(format!("{url}/signin")).send().await.unwrap();
    let issued = cookie(&page, "rask_console_signin").unwrap();
    let csrf = hidden_csrf(&page.text().await.unwrap());
    let ok = http
        .post(format!("{url}/signin"))
        .header("cookie", format!("rask_console_signin={issued}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "owner"),
            ("password", OWNER_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    cookie(&ok, "rask_console").expect("signed in")
}

fn hidden_csrf(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_refuses_strangers_forged_forms_and_linking_users() {
    let (server, _d) = serve("console-refusals");
    let url = server.url();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // No session: pages and actions lead to the sign-in, and nothing is pressed.
    for path in ["/", "/users", "/events", "/devices/front-door/press"] {
        let r = http.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()["location"], "/signin");
    }
    let r = http
        .post(format!("{url}/devices/front-door/press"))
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    let signin = |name: &'static str, password: &'static str, with_cookie: bool| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let page = http.get(format!("{url}/signin")).send().await.unwrap();
            let issued = cookie(&page, "rask_console_signin").unwrap();
            let csrf = hidden_csrf(&page.text().await.unwrap());
            let mut post = http.post(format!("{url}/signin")).form(&[
                ("csrf", csrf.as_str()),
                ("name", name),
                ("password", password),
            ]);
            if with_cookie {
                post = post.header("cookie", format!("rask_console_signin={issued}"));
            }
            post.send().await.unwrap()
        }
    };
    // A form posted without the cookie it was issued with (another site's) is refused.
    assert_eq!(signin("owner", OWNER_PASSWORD, false).await.status(), 403);
    // The demo user links accounts; the console is not theirs.
    let linking_user = signin("demo", "demo-password", true).await;
    assert_eq!(linking_user.status(), 401);
    assert!(
        linking_user
            .text()
            .await
            .unwrap()
            .contains("do not match an owner")
    );
    assert_eq!(signin("owner", "wrong-password-here", true).await.status(), 401);

    let ok = signin("owner", OWNER_PASSWORD, true).await;
    assert_eq!(ok.status(), 303);
    let set = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    let session = set.iter().find(|c| c.starts_with("rask_console=")).unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let session = cookie(&ok, "rask_console").unwrap();
    let with = |r: reqwest::RequestBuilder| r.header("cookie", format!("rask_console={session}"));
    // No page of the console can be framed (a click-through of its confirm pages).
    let overview = with(http.get(format!("{url}/"))).send().await.unwrap();
    assert_eq!(overview.headers()["x-frame-options"], "DENY");
    let csp = overview.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );

    // Signed in, a form without this session's token changes nothing.
    let forged = with(http.post(format!("{url}/devices/front-door/press")))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let events = with(http.get(format!("{url}/events?device=front-door")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        events.contains("No events match"),
        "the forged press queued nothing"
    );
    // With it, the press is queued.
    let page = with(http.get(format!("{url}/devices/front-door/press")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let pressed = with(http.post(format!("{url}/devices/front-door/press")))
        .form(&[("csrf", hidden_csrf(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status(), 200);
    assert!(pressed.text().await.unwrap().contains("1 event queued"));
    // A name from the network is escaped, never markup.
    let page = with(http.get(format!("{url}/events?kind=%3Cscript%3Ealert(1)%3C/script%3E")))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>alert(1)") && html.contains("&#60;script&#62;")
            || html.contains("&lt;script&gt;"),
        "{html}"
    );
}

/// `rask user add --owner`: owners apart from the people who link accounts, with a longer
/// password; a new password signs the owner out everywhere.
#[test]
fn owners_are_added_apart_from_linking_users() {
    let d = common::fresh_dir("console-owners");
    std::fs::write(d.join("rask.toml"), "[server]\nbind = \"127.0.0.1:0\"\n").unwrap();
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_rask"))
            .args(args)
            .args(["--config", "rask.toml"])
            .current_dir(&d)
            .env("RASK_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let o = child.wait_with_output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let (code, said) = run(&["user", "add", "--owner", "olga"], "short-pw\n");
    assert_eq!(code, Some(2));
    assert!(said.contains("at least 12 characters"), "{said}");
    let (code, said) = run(&["user", "add", "--owner", "olga"], "a-long-owner-password\n");
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("added owner olga"), "{said}");
    assert_eq!(run(&["user", "add", "alice"], "alice-password\n").0, Some(0));
    assert!(run(&["user", "list", "--owner"], "").1.contains("olga"));
    let users = run(&["user", "list"], "").1;
    assert!(users.contains("alice") && !users.contains("olga"), "{users}");
    let (code, said) = run(&["user", "passwd", "--owner", "nobody"], "whatever-password\n");
    assert_eq!(code, Some(2));
    assert!(said.contains("no owner named nobody"), "{said}");
    assert_eq!(run(&["user", "remove", "--owner", "olga"], "").0, Some(0));
    assert!(!run(&["user", "list", "--owner"], "").1.contains("olga"));
}

/// A press that Amazon refused (a 400 from the Event Gateway) is dropped, with the reason on the
/// events page; sent again from the console, it is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_event_is_sent_again_from_the_console() {
    let (server, _d) = serve("console-resend");
    let url = server.url();
    let text = server.lines.join("\n");
    let sim = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("simulator console:"))
        .unwrap()
        .trim()
        .trim_end_matches("/sim/")
        .to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let fault = http
        .post(format!("{sim}/sim/faults"))
        .json(&serde_json::json!({"target": "gateway", "status": 400, "code": "INVALID_REQUEST_EXCEPTION", "count": 1}))
        .send()
        .await
        .unwrap();
    assert!(fault.status().is_success());

    let session = sign_in(&http, &url).await;
    let get = |path: String| {
        let r = http
            .get(format!("{url}{path}"))
            .header("cookie", format!("rask_console={session}"));
        async move { r.send().await.unwrap().text().await.unwrap() }
    };
    let post = |path: String, csrf: String| {
        let r = http
            .post(format!("{url}{path}"))
            .header("cookie", format!("rask_console={session}"))
            .form(&[("csrf", csrf)]);
        async move { r.send().await.unwrap() }
    };
    let confirm = get("/devices/front-door/press".into()).await;
    assert_eq!(
        post("/devices/front-door/press".into(), hidden_csrf(&confirm))
            .await
            .status(),
        200
    );
    let mut events = String::new();
    for _ in 0..100 {
        events = get("/events?device=front-door".into()).await;
        if events.contains("Send again") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        events.contains("the gateway refused the event: 400 InvalidRequest"),
        "the reason is shown: {events}"
    );
    let link = events
        .split("href=\"/events/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a Send again link")
        .to_owned();
    let confirm = get(format!("/events/{link}")).await;
    let resent = post(format!("/events/{link}"), hidden_csrf(&confirm)).await;
    assert_eq!(resent.status(), 200);
    assert!(resent.text().await.unwrap().contains("queued again"));
    let mut delivered = false;
    for _ in 0..100 {
        if get("/events?device=front-door&outcome=delivered".into())
            .await
            .contains("202 from the NA gateway")
        {
            delivered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(delivered, "the event sent again is delivered");
    // Once is enough: it is no longer dropped.
    let again = post(format!("/events/{link}"), hidden_csrf(&confirm)).await;
    assert_eq!(again.status(), 409);

    // While Amazon takes its time, the press waits in the outbox, and the page says so.
    let hang = http
        .post(format!("{sim}/sim/faults"))
        .json(&serde_json::json!({"target": "gateway", "hangMs": 3000, "count": 1}))
        .send()
        .await
        .unwrap();
    assert!(hang.status().is_success());
    let confirm = get("/devices/front-door/press".into()).await;
    assert_eq!(
        post("/devices/front-door/press".into(), hidden_csrf(&confirm))
            .await
            .status(),
        200
    );
    let page = get("/events?device=front-door".into()).await;
    let waiting = page
        .split("Waiting in the outbox")
        .nth(1)
        .unwrap_or_else(|| panic!("{page}"));
    let waiting = waiting.split("Delivery attempts").next().unwrap();
    assert!(
        waiting.contains("<td>demo</td><td>front-door</td><td>DoorbellPress</td>"),
        "{waiting}"
    );
}

/// The owner from `RASK_OWNER_PASSWORD` is signed out by a restart: the variable may have
/// changed, and a session must not outlive the password it was opened with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_ends_the_environment_owners_sessions() {
    let (server, d) = serve("console-restart");
    let url = server.url();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let session = sign_in(&http, &url).await;
    let overview = |url: String| {
        let r = http
            .get(format!("{url}/"))
            .header("cookie", format!("rask_console={session}"));
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(overview(url.clone()).await, 200);
    drop(server);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask"));
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .current_dir(&d)
        .env("RASK_LOG", "warn")
        .env("RASK_OWNER_PASSWORD", "another-owner-password")
        .env_remove("RASK_SECRET_KEY")
        .env_remove("RASK_DATABASE_URL");
    let again = common::start_command(cmd, 1);
    assert_eq!(
        overview(again.url()).await,
        303,
        "the old session leads to the sign-in"
    );
}
