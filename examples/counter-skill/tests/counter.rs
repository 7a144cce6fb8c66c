//! The example as its README section runs it: the built binary against `rask sim`, on SQLite
//! and PostgreSQL: a session with its attributes round-tripped, a count kept across a restart
//! and across a crash while it was being saved, and the README showing this very source.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use rask_sim::drivers::custom;
use rask_sim::{Sim, SimConfig};
use serde_json::json;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The skill's binary, started; returns it and the URL it printed.
fn start(skill_id: &str, sim_url: &str, database: &str) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_counter-skill"))
        .env("SKILL_ID", skill_id)
        .env("SIM_URL", sim_url)
        .env("DATABASE_URL", database)
        .env("BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://"), "{line:?}");
    (Running(child), url)
}

async fn say(sim: &Sim, skill: &str, spec: serde_json::Value) -> String {
    let ex = custom::send(sim, skill, "alice", &serde_json::from_value(spec).unwrap())
        .await
        .unwrap();
    assert!(ex.valid, "{ex:#?}");
    ex.received["response"]["outputSpeech"]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Holds the database's write lock from outside the skill, as a long transaction would: the
/// skill still reads, and its save waits.
async fn hold_writes(database: &str) -> sqlx::AnyConnection {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(database).await.unwrap();
    if database.starts_with("sqlite:") {
        c.execute("BEGIN IMMEDIATE").await.unwrap();
    } else {
        c.execute("BEGIN").await.unwrap();
        c.execute("LOCK TABLE skill_attributes IN EXCLUSIVE MODE")
            .await
            .unwrap();
    }
    c
}

fn add(by: &str) -> serde_json::Value {
    json!({"type": "IntentRequest", "intent": "AddIntent", "slots": {"by": by}})
}

/// A session, a restart, and a crash while the count is being saved, on `database`.
async fn the_count_survives(database: &str) {
    let (sim, addr) = Sim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let sim_url = format!("http://{addr}");
    let skill = sim
        .world()
        .register_skill(serde_json::from_value(json!({"name": "counter"})).unwrap())
        .unwrap()
        .skill_id;
    sim.world()
        .add_user("alice", rask_sim::Region::Na, vec![])
        .unwrap();

    let (running, url) = start(&skill, &sim_url, database);
    sim.world().set_custom_endpoint(&skill, &url).unwrap();
    assert_eq!(
        say(&sim, &skill, json!({"type": "LaunchRequest"})).await,
        "The count is 0. Say add, or add three."
    );
    assert_eq!(say(&sim, &skill, add("3")).await, "Added 3. The count is 3.");
    let second = custom::send(&sim, &skill, "alice", &serde_json::from_value(add("2")).unwrap())
        .await
        .unwrap();
    assert!(second.valid, "{second:#?}");
    assert_eq!(
        second.sent["session"]["attributes"],
        json!({"added": 3}),
        "the session's attributes came back"
    );
    assert_eq!(
        second.received["response"]["outputSpeech"]["text"],
        "Added 2. The count is 5."
    );
    assert_eq!(
        say(
            &sim,
            &skill,
            json!({"type": "IntentRequest", "intent": "AMAZON.StopIntent"})
        )
        .await,
        "You added 5 this time. Goodbye."
    );
    let forged = custom::send(
        &sim,
        &skill,
        "alice",
        &serde_json::from_value(
            json!({"type": "IntentRequest", "intent": "AddIntent", "forge": "bad-signature"}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(forged.status, 400);
    drop(running);

    let (running, url) = start(&skill, &sim_url, database);
    sim.world().set_custom_endpoint(&skill, &url).unwrap();
    assert_eq!(
        say(&sim, &skill, json!({"type": "LaunchRequest"})).await,
        "The count is 5. Say add, or add three."
    );

    // Killed after the handler counted 5 + 4, while its save waits for the lock.
    let lock = hold_writes(database).await;
    let asked = {
        let (sim, skill) = (sim.clone(), skill.clone());
        tokio::spawn(async move {
            custom::send(&sim, &skill, "alice", &serde_json::from_value(add("4")).unwrap()).await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    drop(running);
    let crashed = asked.await.unwrap().unwrap();
    assert!(
        crashed.error.is_some() || crashed.status != 200,
        "the add must still have been saving when the skill died: {crashed:#?}"
    );
    drop(lock);

    // Alexa heard no answer, so nothing was counted; the next add counts from 5.
    let (_running, url) = start(&skill, &sim_url, database);
    sim.world().set_custom_endpoint(&skill, &url).unwrap();
    assert_eq!(
        say(&sim, &skill, json!({"type": "LaunchRequest"})).await,
        "The count is 5. Say add, or add three."
    );
    assert_eq!(say(&sim, &skill, add("4")).await, "Added 4. The count is 9.");
}

// Several threads: starting the skill blocks on its first line while it asks the sim for its root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_count_survives_a_restart_and_a_crash_on_sqlite() {
    the_count_survives(&rask_store::testing::sqlite_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_count_survives_a_restart_and_a_crash_on_postgres() {
    the_count_survives(&rask_store::testing::postgres_url().await).await;
}

#[test]
fn the_readme_shows_this_source() {
    let readme = include_str!("../../../README.md");
    let source = include_str!("../src/main.rs");
    assert!(
        readme.contains(source),
        "README.md's \"A custom skill in Rust\" must show examples/counter-skill/src/main.rs as it is"
    );
}
