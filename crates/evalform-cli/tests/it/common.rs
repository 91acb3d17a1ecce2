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

/// An evalform process whose stderr is read as it comes, for the tests that send it SIGINT at a chosen point: the
/// signal follows what it printed (and what the sandbox holds), never a delay.
#[cfg(unix)]
pub struct Interruptible {
    child: std::process::Child,
    stderr: std::io::BufReader<std::process::ChildStderr>,
    seen: String,
}

#[cfg(unix)]
impl Interruptible {
    pub fn start(mut cmd: Command) -> Interruptible {
        use std::process::Stdio;
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start evalform");
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        Interruptible { child, stderr, seen: String::new() }
    }

    /// Read stderr up to the first line that contains `wanted`; evalform ending first fails the test.
    pub fn until_line(&mut self, wanted: &str) {
        use std::io::BufRead;
        loop {
            let mut line = String::new();
            let read = self.stderr.read_line(&mut line).unwrap();
            self.seen.push_str(&line);
            assert_ne!(read, 0, "evalform ended before printing {wanted:?}:\n{}", self.seen);
            if line.contains(wanted) {
                return;
            }
        }
    }

    /// Send SIGINT (what Ctrl-C sends).
    pub fn interrupt(&self) {
        let sent = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success());
    }

    /// Wait for the end, and collect everything printed.
    pub fn finish(mut self) -> Output {
        use std::io::Read;
        self.stderr.read_to_string(&mut self.seen).unwrap();
        let status = self.child.wait().unwrap();
        let mut stdout = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
        Output { code: status.code().unwrap_or(-1), stdout, stderr: self.seen }
    }
}
