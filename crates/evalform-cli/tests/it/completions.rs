//! `evalform completions` and `evalform man`: both are generated from the clap definitions, so these tests check
//! that they run, name every command, and snapshot the top of each (the rest is clap's, not ours).

use crate::common::{evalform, run, settings};

/// The first `lines` lines of a text, for a snapshot that does not churn with every help-text edit.
fn head(text: &str, lines: usize) -> String {
    text.lines().take(lines).collect::<Vec<_>>().join("\n")
}

/// Snapshot settings that also hide the crate version, so a release does not rewrite the snapshots.
fn versioned_settings() -> insta::Settings {
    let mut s = settings();
    s.add_filter(&regex_escape(env!("CARGO_PKG_VERSION")), "[VERSION]");
    s
}

fn regex_escape(text: &str) -> String {
    text.chars().flat_map(|c| if c.is_ascii_alphanumeric() { vec![c] } else { vec!['\\', c] }).collect()
}

#[test]
fn bash_completion_covers_every_command() {
    let mut cmd = evalform();
    cmd.args(["completions", "bash"]);
    let out = run(cmd, None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    for command in ["validate", "plan", "apply", "import", "pull", "run", "suggest", "schema", "sandbox", "demo"] {
        assert!(out.stdout.contains(&format!("evalform__subcmd__{command})")), "bash completion lacks {command}");
    }
    assert!(out.stdout.contains("--detailed-exitcode"));
    assert!(out.stdout.contains("complete -F _evalform"));
    versioned_settings().bind(|| insta::assert_snapshot!("completions_bash_head", head(&out.stdout, 12)));
}

#[test]
fn every_shell_gets_a_script() {
    for (shell, marker) in [
        ("zsh", "#compdef evalform"),
        ("fish", "complete -c evalform"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[evalform]"),
    ] {
        let mut cmd = evalform();
        cmd.args(["completions", shell]);
        let out = run(cmd, None);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains(marker), "{shell} script lacks {marker:?}");
    }
}

#[test]
fn unknown_shell_is_refused_with_the_choices() {
    let mut cmd = evalform();
    cmd.args(["completions", "tcsh"]);
    let out = run(cmd, None);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 1
    --- stdout
    --- stderr
    error: invalid value 'tcsh' for '<SHELL>'
      [possible values: bash, elvish, fish, powershell, zsh]

      tip: a similar value exists: 'zsh'

    For more information, try '--help'.
    ");
}

#[test]
fn man_page_is_roff_and_names_every_command() {
    let mut cmd = evalform();
    cmd.arg("man");
    let out = run(cmd, None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(".TH evalform 1"));
    for command in ["validate", "plan", "apply", "import", "pull", "run", "suggest", "schema", "sandbox", "demo"] {
        assert!(out.stdout.contains(&format!("evalform\\-{command}(1)")), "man page lacks {command}");
    }
    // The exit codes are part of the contract; the page must carry them.
    assert!(out.stdout.contains("Exit codes: 0 success"));
    assert!(!out.stdout.contains("evalform\\-help(1)"), "names a page that is never written");
    versioned_settings().bind(|| insta::assert_snapshot!("man_head", head(&out.stdout, 8)));
}

#[test]
fn man_out_dir_writes_one_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = evalform();
    cmd.arg("man").arg("--out-dir").arg(dir.path());
    let out = run(cmd, None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    let mut pages: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    pages.sort();
    insta::assert_snapshot!(pages.join("\n"), @"
    evalform-apply.1
    evalform-completions.1
    evalform-demo.1
    evalform-doctor.1
    evalform-export.1
    evalform-fmt.1
    evalform-import.1
    evalform-init.1
    evalform-man.1
    evalform-plan.1
    evalform-pull.1
    evalform-run.1
    evalform-sandbox.1
    evalform-schema.1
    evalform-show.1
    evalform-suggest.1
    evalform-test.1
    evalform-validate.1
    evalform.1
    ");
    let plan = std::fs::read_to_string(dir.path().join("evalform-plan.1")).unwrap();
    assert!(plan.contains("detailed\\-exitcode"));
}

#[test]
fn man_out_dir_that_does_not_exist_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let mut cmd = evalform();
    cmd.arg("man").arg("--out-dir").arg(&missing);
    let out = run(cmd, None);
    let text = out.snapshot().replace(&missing.display().to_string(), "[DIR]");
    insta::assert_snapshot!(text, @r"
    exit: 1
    --- stdout
    --- stderr
    error: cannot write the man pages into [DIR]
    caused by: No such file or directory (os error 2)
    hint: the directory must exist and be writable
    ");
}
