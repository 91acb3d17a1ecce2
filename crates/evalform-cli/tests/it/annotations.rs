//! `--message-format`: manifest problems as GitHub workflow annotations (also chosen by `GITHUB_ACTIONS=true`) and
//! as a GitLab Code Quality report, end to end through the binary on a fixture with several problems.

use std::path::Path;

use crate::common::{evalform, run};

const FIXTURE: &str = "tests/fixtures/manifests/invalid/many-problems.yaml";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `::error` / `::warning` lines of a stderr.
fn workflow_commands(stderr: &str) -> String {
    stderr.lines().filter(|l| l.starts_with("::")).map(|l| format!("{l}\n")).collect()
}

#[test]
fn github_format_adds_one_annotation_per_problem() {
    let mut cmd = evalform();
    cmd.args(["--message-format", "github", "validate", FIXTURE]);
    let out = run(cmd, Some(root()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.stdout, "", "annotations must not reach stdout, where a plan goes");
    // The human text is still there, unchanged, before the annotations.
    let mut human = evalform();
    human.args(["validate", FIXTURE]);
    let human = run(human, Some(root()));
    assert!(out.stderr.starts_with(&human.stderr), "{}", out.stderr);
    let annotations = workflow_commands(&out.stderr);
    assert_eq!(annotations.lines().count(), human.stderr.matches("\nerror: ").count());
    crate::common::settings().bind(|| insta::assert_snapshot!("annotations-github", annotations));
}

#[test]
fn github_actions_environment_chooses_github_and_the_flag_overrides_it() {
    let mut cmd = evalform();
    cmd.args(["validate", FIXTURE]).env("GITHUB_ACTIONS", "true");
    let auto = run(cmd, Some(root()));
    assert_eq!(auto.code, 1);
    let mut explicit = evalform();
    explicit.args(["--message-format", "github", "validate", FIXTURE]);
    assert_eq!(auto.stderr, run(explicit, Some(root())).stderr);

    let mut human = evalform();
    human.args(["validate", "--message-format", "human", FIXTURE]).env("GITHUB_ACTIONS", "true");
    let human = run(human, Some(root()));
    assert_eq!(workflow_commands(&human.stderr), "", "{}", human.stderr);

    let mut other = evalform();
    other.args(["validate", FIXTURE]).env("GITHUB_ACTIONS", "false");
    assert_eq!(workflow_commands(&run(other, Some(root())).stderr), "");
}

#[test]
fn gitlab_format_writes_a_code_quality_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("cq.json");
    let mut cmd = evalform();
    cmd.args(["--message-format", "gitlab", "--code-quality-report"]).arg(&report).args(["validate", FIXTURE]);
    let out = run(cmd, Some(root()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(workflow_commands(&out.stderr), "", "gitlab gets a file, not workflow commands");
    let text = std::fs::read_to_string(&report).unwrap();
    let issues: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(issues.len() >= 3, "{text}");
    let mut fingerprints: Vec<&str> = issues.iter().map(|i| i["fingerprint"].as_str().unwrap()).collect();
    fingerprints.sort_unstable();
    fingerprints.dedup();
    assert_eq!(fingerprints.len(), issues.len(), "fingerprints are unique per problem");
    crate::common::settings().bind(|| insta::assert_snapshot!("annotations-gitlab", text));

    // The same run gives the same report (fingerprints are stable), and fixed manifests give an empty one.
    let mut again = evalform();
    again.args(["--message-format", "gitlab", "--code-quality-report"]).arg(&report).args(["validate", FIXTURE]);
    run(again, Some(root()));
    assert_eq!(std::fs::read_to_string(&report).unwrap(), text);

    let valid = crate::common::workspace_root().join("examples/specs");
    let mut ok = evalform();
    ok.args(["--message-format", "gitlab", "validate"]).arg(&valid).current_dir(dir.path());
    let ok = run(ok, None);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(std::fs::read_to_string(dir.path().join("gl-code-quality-report.json")).unwrap(), "[]\n");
}

#[cfg(unix)]
#[test]
fn github_format_annotates_manifest_warnings_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let manifest =
        "version: 1\ncekura:\n  agent: 1\n  evaluators:\n    - name: A\n      personality: 7\n      instructions: Hi\n";
    std::fs::write(d.join("m.yaml"), manifest).unwrap();
    std::os::unix::fs::symlink("nowhere.yaml", d.join("gone.yaml")).unwrap();
    let mut cmd = evalform();
    cmd.args(["--message-format", "github", "validate", "."]);
    let out = run(cmd, Some(d));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The warning stays a human line, and gains a workflow command so it shows on the pull request.
    assert!(out.stderr.lines().any(|l| l.starts_with("warning: skipped gone.yaml")), "{}", out.stderr);
    crate::common::settings().bind(|| {
        insta::assert_snapshot!(workflow_commands(&out.stderr), @"::warning::skipped gone.yaml: a link that cannot be followed (No such file or directory (os error 2))");
    });

    let mut human = evalform();
    human.args(["validate", "."]);
    assert_eq!(workflow_commands(&run(human, Some(d)).stderr), "", "no workflow commands without the format");
}

#[test]
fn github_format_annotates_a_default_no_evaluator_uses_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        "version: 1\ncekura:\n  agent: 12\n  defaults:\n    metrics: [501]\n  evaluators:\n    - name: A\n      \
                metrics: [502]\n";
    std::fs::write(dir.path().join("suite.yaml"), text).unwrap();
    let mut cmd = evalform();
    cmd.args(["--message-format", "github", "validate"]);
    let out = run(cmd, Some(dir.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.starts_with("warning: suite.yaml:5:5: `defaults.metrics` is never used"), "{}", out.stderr);
    crate::common::settings().bind(|| {
        insta::assert_snapshot!(workflow_commands(&out.stderr), @"::warning file=suite.yaml,line=5,col=5::`defaults.metrics` is never used: every evaluator of this file sets `metrics` itself%0Ashadowed by every evaluator%0Ahelp: to add to every evaluator's own `metrics`, use `defaults.extra_metrics`");
    });
}
