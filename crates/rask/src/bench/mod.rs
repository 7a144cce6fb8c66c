//! `rask bench`: benchmarks that run with one command, against `rask sim` and a real broker on
//! loopback (docs/PERFORMANCE.md has the figures and how to read them).
//!
//! - [`doorbell`]: presses to the Event Gateway, latency and sustained rate, with the ceiling;
//! - [`mqtt`]: device states in over MQTT, stored, at a paced rate and flat out;
//! - [`peers`]: rask side by side with the ASK SDKs and the bare-server limit, in one run;
//! - [`skill`]: the benchmark's reference custom skill on rask-skill, which `peers` runs;
//! - [`scale`]: 1, 2 and 3 instances on one PostgreSQL behind HAProxy;
//! - [`messages`]: Skill Messaging from the HTTP API to the simulator, with the ceiling.

mod doorbell;
mod messages;
mod mqtt;
mod peers;
mod scale;
mod signed;
mod skill;

/// Arguments of `rask bench`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Press-to-gateway latency and sustained delivery rate, with the bare-client ceiling.
    Doorbell {
        /// The database: sqlite://PATH (default: a fresh file under the temp directory) or
        /// postgres://... (a fresh database is made there).
        #[arg(long)]
        database: Option<String>,
        /// Presses per second in the latency run.
        #[arg(long, default_value_t = 100)]
        rate: u32,
        /// Seconds the latency run lasts.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
        /// Granted users in the throughput run.
        #[arg(long, default_value_t = 1000)]
        users: usize,
        /// Presses in the throughput run (each makes one event per user).
        #[arg(long, default_value_t = 5)]
        presses: usize,
        /// Rounds of the throughput run and the ceiling.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Device states over MQTT into the store: at each rate, how many arrive and are stored,
    /// and how fast.
    Mqtt {
        /// The broker (default RASK_TEST_MQTT_URL, else mqtt://127.0.0.1:1883).
        #[arg(long)]
        broker: Option<String>,
        /// The database, as for `rask bench doorbell`.
        #[arg(long)]
        database: Option<String>,
        /// Messages per run.
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        /// Sensors the messages are spread over.
        #[arg(long, default_value_t = 200)]
        sensors: usize,
        /// Rates to run at, messages per second, comma-separated.
        #[arg(long, default_value = "4000,10000", value_delimiter = ',')]
        rates: Vec<u32>,
    },
    /// rask in the shared benchmark with its peers (ASK SDK for Python and Node, a bare hyper
    /// server), one session, one table with ratios.
    Peers {
        /// The harness: a writable copy of shared/bench, set up as its README says.
        #[arg(long, value_name = "DIR")]
        harness: std::path::PathBuf,
        /// Measured runs per server.
        #[arg(long, default_value_t = 2)]
        runs: u32,
        /// Request types (the harness's requests/*.json).
        #[arg(
            long,
            default_value = "smarthome-discover,smarthome-turnon,custom-launch,custom-ring-intent,custom-message-received",
            value_delimiter = ','
        )]
        types: Vec<String>,
        /// Servers to run: rask (smart home: rask serve; custom: the reference skill on
        /// rask-skill, verification off), rask-verified (custom only, every request signed by
        /// the sim and verified), and the harness's peers.
        #[arg(
            long,
            default_value = "rask,rask-verified,limit,node,python",
            value_delimiter = ','
        )]
        servers: Vec<String>,
    },
    /// Instances behind HAProxy on one PostgreSQL: directives/s and deliveries/s for each
    /// number of instances.
    Scale {
        /// The PostgreSQL server (default RASK_TEST_DATABASE_URL, else
        /// postgres://postgres@127.0.0.1:5432/test); a fresh database is made there per run.
        #[arg(long)]
        database: Option<String>,
        /// Numbers of instances to run, comma-separated.
        #[arg(long, default_value = "1,2,3", value_delimiter = ',')]
        instances: Vec<usize>,
        /// Granted users (each press is one event per user).
        #[arg(long, default_value_t = 500)]
        users: usize,
        /// Presses.
        #[arg(long, default_value_t = 10)]
        presses: usize,
        /// Seconds of TurnOn load.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
    },
    /// Skill Messaging messages from the HTTP API to the simulator's 202, sustained, with the
    /// bare-client ceiling.
    Messages {
        /// The database, as for `rask bench doorbell`.
        #[arg(long)]
        database: Option<String>,
        /// Users, spread over NA, EU and FE.
        #[arg(long, default_value_t = 1000)]
        users: usize,
        /// Messages.
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        /// API calls in flight at once.
        #[arg(long, default_value_t = 32)]
        clients: usize,
    },
    /// The benchmark's reference custom skill on rask-skill (started by `bench peers`).
    #[command(hide = true)]
    ReferenceSkill {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: String,
        /// Verify every request against this rask sim's signing root and chains.
        #[arg(long)]
        sim: Option<String>,
        /// Where its SQLite database goes.
        #[arg(long)]
        data: std::path::PathBuf,
    },
}

/// Runs `rask bench`.
pub async fn run(args: Args) -> anyhow::Result<bool> {
    let outcome = run_one(args).await;
    remove_scratch_databases();
    outcome
}

/// The CPU time this process has used so far, user and system, in seconds (Linux's
/// `/proc/self/stat`, in clock ticks of 10 ms); `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command's closing parenthesis; utime and stime are the 14th and
    // 15th of the line, the 12th and 13th after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// The CPU used since `since` (from [`cpu_seconds`]) per one of `n` things, as `123 µs`.
fn cpu_per(since: Option<f64>, n: usize) -> String {
    match (since, cpu_seconds()) {
        (Some(a), Some(b)) if n > 0 => format!("{:.0} µs", (b - a) * 1e6 / n as f64),
        _ => "unknown".into(),
    }
}

/// Removes the SQLite databases this process made in the temporary folder
/// ([`rask_store::testing::sqlite_url`]), whatever became of the benchmark.
fn remove_scratch_databases() {
    let mine = format!("rask_sqlite_{}_", std::process::id());
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&mine) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

async fn run_one(args: Args) -> anyhow::Result<bool> {
    match args.what {
        What::Doorbell {
            database,
            rate,
            seconds,
            users,
            presses,
            rounds,
        } => doorbell::run(database, rate, seconds, users, presses, rounds).await,
        What::Mqtt {
            broker,
            database,
            messages,
            sensors,
            rates,
        } => mqtt::run(broker, database, messages, sensors, rates).await,
        What::Peers {
            harness,
            runs,
            types,
            servers,
        } => peers::run(harness, runs, types, servers).await,
        What::Messages {
            database,
            users,
            messages,
            clients,
        } => messages::run(database, users, messages, clients).await,
        What::ReferenceSkill { bind, sim, data } => skill::serve(bind, sim, &data).await,
        What::Scale {
            database,
            instances,
            users,
            presses,
            seconds,
        } => scale::run(database, instances, users, presses, seconds).await,
    }
}
