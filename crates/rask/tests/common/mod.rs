//! Running the real `rask` binary in tests: one-shot commands, and servers that print their
//! address on their first line and are killed when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};

/// A running `rask` server, killed when dropped.
pub struct Running {
    child: Child,
    /// Its first line of output.
    pub first_line: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// The URL at the end of the first line ("... listening on URL").
    pub fn url(&self) -> String {
        self.first_line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Starts `rask ARGS` with `envs`, waits for its first line, and keeps draining its output so
/// later lines have somewhere to go.
pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask"));
    cmd.args(args)
        .env("RASK_LOG", "warn")
        .env_remove("RASK_SECRET_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("rask starts");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first_line = String::new();
    out.read_line(&mut first_line).unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Running { child, first_line }
}

/// Runs `rask ARGS` to completion, with `stdin` if given.
pub fn rask(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(args)
        .env("RASK_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rask starts");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}
