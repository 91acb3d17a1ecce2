//! Helpers shared by the integration tests: run the real binary and capture exit code, stdout and stderr in one
//! snapshot-friendly text, with filters for ports, temp dirs and durations.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root (the workspace), where README.md, docs/ and examples/ are.
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The `evalform` binary under test.
pub fn evalform() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_evalform"));
    cmd.env_remove("CEKURA_API_KEY")
        .env_remove("CEKURA_BASE_URL")
        .env_remove("CEKURA_API_URL")
        // No vendor CLI login of whoever runs the tests is ever read.
        .env("HOME", "/nonexistent/evalform-test-home")
        .env_remove("TELA_API_KEY")
        .env_remove("TELA_BASE_URL")
        .env_remove("GITHUB_ACTIONS")
        .env("NO_COLOR", "1");
    cmd
}

/// Exit code, stdout and stderr of a finished command, as one text for a snapshot.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn snapshot(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code,
            ensure_newline(&self.stdout),
            ensure_newline(&self.stderr)
        )
    }
}

fn ensure_newline(s: &str) -> String {
    if s.is_empty() || s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

/// Run a command in `dir` (when given) and capture its output.
pub fn run(mut cmd: Command, dir: Option<&Path>) -> Output {
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = cmd.output().expect("run evalform");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// insta filters for what changes between runs: loopback ports, temp dirs, durations.
pub fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (r"/tmp/\.tmp[A-Za-z0-9]+", "[TEMP]"),
        (r"\b\d+(\.\d+)?(ms|s)\b", "[DURATION]"),
    ]
}

/// Snapshot settings with [`filters`] applied; use as `settings().bind(|| insta::assert_snapshot!(...))`.
pub fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    for (pattern, replacement) in filters() {
        s.add_filter(pattern, replacement);
    }
    s.set_prepend_module_to_snapshot(false);
    s
}
