//! What a newcomer runs into, with the real binary: paths read from the configuration's
//! folder, a database that cannot be reached or a variable that is wrong named as such, an
//! MQTT broker that refuses named and backed off from, `mqtts://` refused saying why, and
//! benchmarks that clean up after themselves.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rask-newcomer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rask_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask"));
    cmd.args(args)
        .current_dir(dir)
        .env("RASK_LOG", "warn")
        .env_remove("RASK_DATABASE_URL")
        .env_remove("RASK_SECRET_KEY")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A relative `secret_file` is read from beside the configuration, not from where rask runs.
#[test]
fn relative_files_are_read_from_the_configurations_folder() {
    let d = fresh_dir("relative");
    std::fs::create_dir_all(d.join("etc")).unwrap();
    std::fs::write(d.join("etc/client-secret"), "a-client-secret-of-some-length\n").unwrap();
    std::fs::write(
        d.join("etc/rask.toml"),
        "[[linking.clients]]\nid = \"alexa\"\nsecret_file = \"client-secret\"\n\
         redirect_uris = [\"https://layla.amazon.com/api/skill/link/M1\"]\n",
    )
    .unwrap();
    let o = rask_in(&d, &["check", "--config", "etc/rask.toml"], &[]);
    let out = text(&o);
    assert!(
        out.contains("ok    config: etc/rask.toml is valid and every secret it names is readable"),
        "{out}"
    );
}

/// PostgreSQL that is not there: said within seconds, naming the URL and the reason.
#[test]
fn an_unreachable_database_is_named_at_once() {
    let d = fresh_dir("unreachable");
    std::fs::write(
        d.join("rask.toml"),
        "[database]\nurl = \"postgres://postgres@127.0.0.1:1/test\"\n",
    )
    .unwrap();
    let began = Instant::now();
    let o = rask_in(&d, &["user", "list", "--config", "rask.toml"], &[]);
    assert!(began.elapsed() < Duration::from_secs(10), "{:?}", began.elapsed());
    assert_eq!(o.status.code(), Some(2));
    let out = text(&o);
    assert!(
        out.contains("cannot reach the database postgres://postgres@127.0.0.1:1/test")
            && out.contains("refused"),
        "{out}"
    );
}

/// A bad value from the environment is reported under the variable that gave it.
#[test]
fn bad_variables_are_named() {
    let d = fresh_dir("variables");
    let o = rask_in(&d, &["status"], &[("RASK_DATABASE_URL", "mysql://db/rask")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("RASK_DATABASE_URL: use sqlite://PATH"),
        "{}",
        text(&o)
    );
    // The embedded default never runs on a database the environment names: it would be some
    // instance's, whose grants its start retires.
    let o = rask_in(&d, &["serve"], &[("RASK_DATABASE_URL", "sqlite://instance.db")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("RASK_DATABASE_URL is set, but without --config"),
        "{}",
        text(&o)
    );
    assert!(!d.join("instance.db").exists() && !d.join("rask-data").exists());
    let o = rask_in(&d, &["demo"], &[("RASK_SECRET_KEY", "not-a-key")]);
    assert_eq!(o.status.code(), Some(2));
    let out = text(&o);
    assert!(
        out.contains("(RASK_SECRET_KEY, which overrides alexa.secret_key_file)")
            && out.contains("in RASK_SECRET_KEY"),
        "{out}"
    );
}

/// `mqtts://` is refused at the check, saying it is not supported yet and what to do, and the
/// password in the URL is not repeated.
#[test]
fn mqtt_over_tls_is_refused_saying_why() {
    let d = fresh_dir("mqtts");
    std::fs::write(
        d.join("rask.toml"),
        "[mqtt]\nurl = \"mqtts://bob:hunter22-secret@broker.example:8883\"\n",
    )
    .unwrap();
    let o = rask_in(&d, &["check", "--config", "rask.toml"], &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("mqtt.url") && out.contains("not supported yet"),
        "{out}"
    );
    assert!(!out.contains("hunter22-secret"), "{out}");
}

/// A broker that refuses: each failure names it, and the waits between attempts grow.
#[test]
fn a_refusing_broker_is_named_and_backed_off_from() {
    let d = fresh_dir("broker");
    std::fs::write(
        d.join("rask.toml"),
        "[server]\nbind = \"127.0.0.1:0\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:1\"\n\
         [alexa]\nlwa_client_id = \"rehearsal\"\nlwa_client_secret_file = \"lwa-secret\"\napi = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    std::fs::write(d.join("lwa-secret"), "an-lwa-secret-of-some-length\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["serve", "--config", "rask.toml"])
        .current_dir(&d)
        .env("RASK_LOG", "warn")
        .env("NO_COLOR", "1")
        .env_remove("RASK_DATABASE_URL")
        .env_remove("RASK_SECRET_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(3800));
    let _ = child.kill();
    let _ = child.wait();
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    let tries: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("MQTT broker 127.0.0.1:1: connection lost or refused"))
        .collect();
    assert!(
        tries.len() >= 2 && tries.len() <= 3,
        "1 s, then 2 s: two or three attempts in 3.8 s, not one a second:\n{log}"
    );
    assert!(
        tries[0].contains("next try in 1 s") && tries[1].contains("next try in 2 s"),
        "{log}"
    );
}

/// `rask bench` leaves none of its scratch databases in the temporary folder; the doorbell
/// benchmark reports its rounds, each with rask's and the ceiling's CPU per event, and their
/// median share, and refuses zero rounds by name.
#[test]
fn a_benchmark_cleans_up_its_databases() {
    let d = fresh_dir("bench");
    let child = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args([
            "bench",
            "doorbell",
            "--rate",
            "20",
            "--seconds",
            "1",
            "--users",
            "2",
            "--presses",
            "1",
        ])
        .current_dir(&d)
        .env("RASK_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let said = text(&o);
    for round in ["round 1:", "round 2:", "round 3:"] {
        assert!(said.contains(round), "{said}");
    }
    assert!(said.contains("µs of CPU per event"), "{said}");
    assert!(said.contains("of the ceiling (median of 3 rounds;"), "{said}");
    let zero = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["bench", "doorbell", "--rounds", "0"])
        .current_dir(&d)
        .env("RASK_LOG", "error")
        .output()
        .unwrap();
    assert!(!zero.status.success());
    assert!(
        text(&zero).contains("--rounds must be at least 1"),
        "{}",
        text(&zero)
    );
    let mine = format!("rask_sqlite_{pid}_");
    let left: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&mine))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
