//! The example as its README section runs it: the built binary against `rask sim`, a count
//! kept across a restart, and the README showing this very source.

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

// Several threads: starting the skill blocks on its first line while it asks the sim for its root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_count_survives_a_restart_and_every_request_is_verified() {
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
    let dir = std::env::temp_dir().join(format!("counter-skill-{}", std::process::id()));
    let database = format!("sqlite://{}/counter.db", dir.display());

    let (running, url) = start(&skill, &sim_url, &database);
    sim.world().set_custom_endpoint(&skill, &url).unwrap();
    assert_eq!(
        say(&sim, &skill, json!({"type": "LaunchRequest"})).await,
        "The count is 0. Say add, or add three."
    );
    assert_eq!(
        say(
            &sim,
            &skill,
            json!({"type": "IntentRequest", "intent": "AddIntent", "slots": {"by": "3"}})
        )
        .await,
        "Added 3. The count is 3."
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

    let (_running, url) = start(&skill, &sim_url, &database);
    sim.world().set_custom_endpoint(&skill, &url).unwrap();
    assert_eq!(
        say(&sim, &skill, json!({"type": "LaunchRequest"})).await,
        "The count is 3. Say add, or add three."
    );
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
