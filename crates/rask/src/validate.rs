//! `rask validate FILE...`: a verdict per file, with the line and column of bad JSON and the
//! JSON path and rule of every broken Alexa rule.

use std::io::{Read, Write};
use std::path::PathBuf;

use rask_model::check::{self, Report};

/// Arguments of `rask validate`.
#[derive(clap::Args)]
pub struct Args {
    /// JSON files to check; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Checks every file and prints a verdict for each. `Ok(true)` when all are valid; an error,
/// once every other file is checked, when some could not be read.
pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<bool> {
    let mut all_valid = true;
    let mut unreadable = Vec::new();
    for path in &args.files {
        let name = path.display().to_string();
        let text = match read(path) {
            Ok(t) => t,
            Err(e) => {
                writeln!(out, "UNREADABLE {name}: {e}")?;
                unreadable.push(name);
                continue;
            }
        };
        match check::check_text(&text) {
            Err(e) => {
                all_valid = false;
                writeln!(out, "INVALID {name}: not JSON: {e}")?;
            }
            Ok(report) => {
                all_valid &= report.is_valid();
                print_report(out, &name, &report)?;
            }
        }
    }
    if !unreadable.is_empty() {
        anyhow::bail!("cannot read {}", unreadable.join(", "));
    }
    Ok(all_valid)
}

fn read(path: &PathBuf) -> std::io::Result<String> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(path)
    }
}

fn print_report(out: &mut impl Write, name: &str, report: &Report) -> std::io::Result<()> {
    if report.is_valid() {
        writeln!(out, "valid   {name}: {}", report.describe())
    } else {
        writeln!(out, "INVALID {name}: {}", report.describe())?;
        for f in &report.findings {
            writeln!(out, "        {f}")?;
        }
        Ok(())
    }
}
