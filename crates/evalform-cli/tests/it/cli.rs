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

/// `--color always` colours into a pipe; `auto` does not (not a terminal), nor does `never`, nor `--no-color`
/// with `always` (the older flag wins: it was asked for by name).
#[test]
fn color_is_chosen_by_the_flag() {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests/invalid/unknown-key.yaml");
    let colored = |args: &[&str]| {
        let mut cmd = evalform();
        cmd.env_remove("NO_COLOR").arg("validate").args(args).arg(&fixture);
        let out = run(cmd, None);
        assert_eq!(out.code, 1, "{}", out.stderr);
        out.stderr.contains("\u{1b}[")
    };
    assert!(colored(&["--color", "always"]));
    assert!(!colored(&["--color", "auto"]));
    assert!(!colored(&["--color", "never"]));
    assert!(!colored(&["--color", "always", "--no-color"]));
    let mut cmd = evalform();
    cmd.args(["validate", "--color", "sometimes"]);
    let out = run(cmd, None);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 1
    --- stdout
    --- stderr
    error: invalid value 'sometimes' for '--color <WHEN>'
      [possible values: auto, always, never]

    For more information, try '--help'.
    ");
}

/// A saved plan carries its own manifests: a path given beside `--plan` would be ignored, so it is refused.
#[test]
fn apply_with_a_saved_plan_refuses_manifest_paths() {
    let mut cmd = evalform();
    cmd.args(["apply", "--plan", "plan.json", "examples/specs"]);
    let out = run(cmd, None);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 1
    --- stdout
    --- stderr
    error: apply --plan plan.json takes no manifest paths (given: examples/specs)
    hint: a saved plan holds the manifests it was made from; to apply the files as they are now, run `evalform apply PATH` without --plan
    ");
}
