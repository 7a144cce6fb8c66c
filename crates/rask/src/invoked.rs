//! How to run this very rask again, for the commands rask prints for a person to copy.
//!
//! `cargo run --release -p rask -- serve` (the README's command) puts no `rask` on PATH, so a
//! printed `rask sim link ...` would fail as printed. Printed commands use `rask` only when
//! the `rask` on PATH is this binary, and otherwise its path.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The command that runs this binary from the current directory: `rask` when PATH finds this
/// binary under that name, otherwise its path (relative when it is under the current
/// directory, quoted when it has spaces).
pub fn rask() -> &'static str {
    static RASK: OnceLock<String> = OnceLock::new();
    RASK.get_or_init(|| {
        let Ok(exe) = std::env::current_exe().and_then(|p| p.canonicalize()) else {
            return "rask".to_owned();
        };
        if on_path(&exe) {
            return "rask".to_owned();
        }
        let cwd = std::env::current_dir().ok();
        shown(&exe, cwd.as_deref())
    })
}

/// Whether this binary needed its path spelt out (so the printed commands say how to install).
pub fn needs_path() -> bool {
    rask() != "rask"
}

fn on_path(exe: &Path) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    // The first `rask` on PATH is the one a shell runs; it must be this binary.
    std::env::split_paths(&path)
        .map(|dir| dir.join("rask"))
        .find(|candidate| candidate.is_file())
        .and_then(|found| found.canonicalize().ok())
        .is_some_and(|found| found == exe)
}

fn shown(exe: &Path, cwd: Option<&Path>) -> String {
    let relative: Option<PathBuf> = cwd
        .and_then(|cwd| cwd.canonicalize().ok())
        .and_then(|cwd| exe.strip_prefix(&cwd).ok().map(|rest| Path::new(".").join(rest)));
    let text = relative.as_deref().unwrap_or(exe).display().to_string();
    if text.contains([' ', '\'', '"', '$', '\\']) {
        format!("'{}'", text.replace('\'', r"'\''"))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_under_the_current_directory_is_shown_relative() {
        let shown = shown(Path::new("/tmp/x/target/release/rask"), Some(Path::new("/tmp")));
        // /tmp may itself be a link; either form names a binary that runs as printed.
        assert!(
            shown == "./x/target/release/rask" || shown == "/tmp/x/target/release/rask",
            "{shown}"
        );
    }

    #[test]
    fn a_path_with_spaces_is_quoted() {
        assert_eq!(shown(Path::new("/opt/my rask/rask"), None), "'/opt/my rask/rask'");
    }
}
