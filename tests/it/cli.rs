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
