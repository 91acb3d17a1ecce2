//! The command line itself: help texts and commands that are not built yet.

use crate::common::{evalform, run, settings};

#[test]
fn top_level_help_lists_every_command() {
    let mut cmd = evalform();
    cmd.arg("--help");
    let out = run(cmd, None);
    assert_eq!(out.code, 0);
    for command in ["validate", "plan", "apply", "import", "pull", "run", "suggest", "schema", "sandbox", "demo"] {
        assert!(out.stdout.contains(command), "help lacks {command}");
    }
    settings().bind(|| insta::assert_snapshot!("help", out.snapshot()));
}

/// `evalform schema | head -1`: the reader goes away before evalform writes. Every command that writes data ends
/// quietly with 141 (as after SIGPIPE), never with a panic (101) or an error message.
#[test]
fn a_closed_stdout_ends_quietly_with_the_sigpipe_status() {
    for args in [&["schema"][..], &["completions", "bash"], &["validate", "--help"], &["man"]] {
        // A connected socket pair whose reading end is closed before the child starts: every write the child
        // makes to stdout fails with a broken pipe, whatever the timing.
        let (writer, reader) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(reader);
        let mut cmd = evalform();
        cmd.args(args).stdout(std::process::Stdio::from(std::os::fd::OwnedFd::from(writer)));
        cmd.stderr(std::process::Stdio::piped());
        let out = cmd.spawn().expect("spawn evalform").wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        if args[0] == "validate" {
            // clap prints help itself; it must not panic either.
            assert_ne!(code, Some(101), "{args:?}: {stderr}");
            continue;
        }
        assert_eq!(code, Some(141), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}
