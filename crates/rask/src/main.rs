//! The `rask` command line: one binary for every rask command.
//!
//! Each subcommand lives in its own module; `main` only parses arguments and maps the
//! outcome to an exit code (0 success, 1 a negative verdict such as an invalid message,
//! 2 a usage or I/O error).

mod api;
mod bench;
mod check;
mod config;
mod console;
mod custom_skill;
mod demo;
mod evaluate;
mod invoked;
mod link;
mod listener;
mod logs;
mod message;
mod metrics;
mod notify;
mod proxy;
mod serve;
mod sim;
mod status;
mod user;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// rask: Alexa skills and smart-home devices, self-hosted, with a simulator of Alexa's cloud.
#[derive(Parser)]
#[command(name = "rask", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Say whether each file is a valid Alexa message, and if not, exactly where and why.
    ///
    /// Smart Home events are checked against Amazon's official schema and rask's rules;
    /// directives, custom-skill requests and responses, Skill Messaging and Proactive Events
    /// bodies by rask's rules. Use - to read standard input.
    Validate(validate::Args),
    /// Run a simulator of Alexa's cloud (LWA, Event Gateway, Skill Messaging, Proactive
    /// Events, Endpoint Enumeration), or drive a running one.
    Sim(Box<sim::Args>),
    /// Run the rask server: account linking, smart home, custom skills, the out-of-session API
    /// (docs/config.md for its configuration; with none, the embedded demo).
    Serve(serve::Args),
    /// Manage the people who can link their accounts.
    User(user::Args),
    /// Account linking: the log of every attempt.
    Link(link::Args),
    /// Each user's state for Alexa events, and their last delivery.
    Status(status::StatusArgs),
    /// Queue a Skill Messaging message for a user of the custom skill (sent by rask serve).
    Message(message::MessageArgs),
    /// Queue a Proactive Event for one user or every user of the custom skill (sent by rask serve).
    Notify(notify::NotifyArgs),
    /// Make a key for the HTTP API (/api/v1): prints the key once and its [[api_keys]] entry.
    ApiKey(api::cli::ApiKeyArgs),
    /// Press a doorbell from the command line: its events go into the outbox.
    Press(status::PressArgs),
    /// F1 to F5 end to end in one process, each step printed with its time: link an account,
    /// grant, discover, press the doorbell and see the Event Gateway accept it, turn on the
    /// light, open the window and see its ChangeReport.
    Demo,
    /// Is this rask ready for real Alexa? Validates the configuration and its secrets, tries
    /// the skill's LWA credentials, fetches the public URL over HTTPS, and looks for the
    /// forwarder secret; one line per check.
    Check(check::Args),
    /// Benchmarks against rask sim on loopback (docs/PERFORMANCE.md).
    Bench(bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logs::init() {
        eprintln!("rask: {e}");
        return ExitCode::from(2);
    }
    let outcome = match cli.command {
        Command::Validate(args) => validate::run(&args, &mut std::io::stdout().lock()),
        Command::Sim(args) => runtime().and_then(|rt| rt.block_on(sim::run(*args))),
        Command::Serve(args) => runtime().and_then(|rt| rt.block_on(serve::run(args))),
        Command::User(args) => runtime().and_then(|rt| rt.block_on(user::run(args))),
        Command::Link(args) => runtime().and_then(|rt| rt.block_on(link::run(args))),
        Command::Status(args) => runtime().and_then(|rt| rt.block_on(status::status(args))),
        Command::Message(args) => runtime().and_then(|rt| rt.block_on(message::run(args))),
        Command::Notify(args) => runtime().and_then(|rt| rt.block_on(notify::run(args))),
        Command::ApiKey(args) => api::cli::run(args),
        Command::Press(args) => runtime().and_then(|rt| rt.block_on(status::press(args))),
        Command::Demo => runtime().and_then(|rt| rt.block_on(demo::run())),
        Command::Check(args) => runtime().and_then(|rt| rt.block_on(check::run(args))),
        Command::Bench(args) => runtime().and_then(|rt| rt.block_on(bench::run(args))),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("rask: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
