//! `evalform suggest` end to end: the real binary against the sandbox's `scenario-agent`. The suggestion for a
//! commented manifest is shown as a diff (snapshot) that changes only the suggested values; `--write` keeps every
//! comment; clarification, failure, cancellation, the unsupported answer and undeclared evaluators are reported.

use std::path::Path;

use evalform_sandbox::{RunningSandbox, Sandbox, SandboxConfig};
use serde_json::json;

use crate::common::{self, Output};

const MANIFEST: &str = "\
# Acme Shop support: evaluators kept in git, reviewed like code.
version: 1
cekura:
  agent: 101 # Acme Shop support
  evaluators:
    # Orders come first.
    - name: Order status inquiry
      expected_outcome: The agent gives the delivery date. # keep it short
      tags: [smoke, orders]

    - name: Refund request
      # Written by the support lead.
      expected_outcome: |-
        The agent offers a refund.
      tags: [smoke] # smoke only
";

async fn sandbox() -> RunningSandbox {
    let sb = Sandbox::start(0, SandboxConfig::default()).await.expect("start the sandbox");
    let evaluators = [
        (5, "Order status inquiry", "The agent gives the delivery date.", vec!["smoke", "orders"]),
        (6, "Refund request", "The agent offers a refund.", vec!["smoke"]),
        (7, "Only on the platform", "", vec![]),
    ];
    for (id, name, outcome, tags) in evaluators {
        sb.with_state(|s| {
            s.insert_evaluator(
                id,
                json!({"name": name, "agent": 101, "personality": 7, "expected_outcome_prompt": outcome, "tags": tags}),
            )
        })
        .expect("seed an evaluator");
    }
    sb
}

fn suggest(sb: &RunningSandbox, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = common::evalform();
    cmd.env("CEKURA_API_KEY", "sandbox-key")
        .env("CEKURA_BASE_URL", sb.base_url())
        .env("EVALFORM_POLL_INTERVAL_MS", "5")
        .arg("suggest")
        .args(args);
    common::run(cmd, Some(dir))
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("suite.yaml"), MANIFEST).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggestions_are_a_diff_of_the_suggested_values_only() {
    let sb = sandbox().await;
    let dir = setup();
    let out = suggest(&sb, dir.path(), &["--message", "Make the outcomes stricter"]);
    common::settings().bind(|| {
        insta::assert_snapshot!("suggest_diff", out.snapshot());
    });
    assert_eq!(std::fs::read_to_string(dir.path().join("suite.yaml")).unwrap(), MANIFEST, "a diff writes nothing");
    let asked = sb.requests().into_iter().find(|r| r.path.ends_with("/scenario-agent/")).unwrap();
    assert_eq!(
        asked.body,
        Some(
            json!({"user_message": "Make the outcomes stricter", "agent_id": 101, "scenarios": [5, 6], "apply_changes": false})
        )
    );
    assert!(
        sb.requests().iter().all(|r| r.method == "GET" || r.path.ends_with("/scenario-agent/")),
        "nothing is written to the platform"
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_keeps_every_comment_and_changes_only_suggested_lines() {
    let sb = sandbox().await;
    let dir = setup();
    let out = suggest(&sb, dir.path(), &["--message", "Make the outcomes stricter", "--write"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    common::settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
            exit: 0
            --- stdout
            --- stderr
            asked Cekura's AI about 2 evaluators of agent 101
            Cekura's AI: Suggested changes for 2 evaluators.
            updated suite.yaml (2 changes)
        ");
    });
    let after = std::fs::read_to_string(dir.path().join("suite.yaml")).unwrap();
    for line in MANIFEST.lines().filter(|l| l.contains('#')) {
        assert!(after.contains(line.trim_start().split(" # ").last().unwrap()), "comment kept: {line}");
        if !line.contains("expected_outcome") {
            assert!(after.lines().any(|a| a == line), "line kept byte for byte: {line}");
        }
    }
    let changed: Vec<(&str, &str)> = MANIFEST.lines().zip(after.lines()).filter(|(a, b)| a != b).collect();
    assert!(
        changed.iter().all(|(a, _)| a.contains("expected_outcome") || a.contains("The agent offers")),
        "{changed:?}"
    );
    assert_eq!(MANIFEST.lines().count(), after.lines().count());
    // The result is a valid manifest, and running suggest again on it changes nothing more than the sandbox adds.
    let validate = common::run(
        {
            let mut c = common::evalform();
            c.arg("validate");
            c
        },
        Some(dir.path()),
    );
    assert_eq!(validate.code, 0, "{}", validate.snapshot());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_other_ending_is_reported() {
    let sb = sandbox().await;
    let dir = setup();
    let clarify = suggest(&sb, dir.path(), &["--message", "Please clarify the outcomes"]);
    let crash = suggest(&sb, dir.path(), &["--message", "crash please"]);
    let cancel = suggest(&sb, dir.path(), &["--message", "cancel this"]);
    let unsupported = suggest(&sb, dir.path(), &["--message", "unsupported request"]);
    let undeclared = suggest(&sb, dir.path(), &["--message", "Improve all evaluators", "--name", "Refund*"]);
    common::settings().bind(|| {
        insta::assert_snapshot!(clarify.snapshot(), @r"
            exit: 1
            --- stdout
            --- stderr
            asked Cekura's AI about 2 evaluators of agent 101
            error: Cekura's AI needs more detail before it suggests changes
            caused by: it asks: Which behaviour should the evaluators check more closely?
            hint: run `evalform suggest` again with a --message that answers the question
        ");
        insta::assert_snapshot!(crash.snapshot(), @r"
            exit: 1
            --- stdout
            --- stderr
            asked Cekura's AI about 2 evaluators of agent 101
            error: the suggestion session failed on the platform
            caused by: The improvement agent stopped unexpectedly.
        ");
        insta::assert_snapshot!(cancel.snapshot(), @r"
            exit: 1
            --- stdout
            --- stderr
            asked Cekura's AI about 2 evaluators of agent 101
            error: the suggestion session was cancelled on the platform
            hint: nothing was written; run `evalform suggest` again
        ");
        insta::assert_snapshot!(unsupported.snapshot(), @r"
            exit: 1
            --- stdout
            --- stderr
            error: Cekura's AI improvement call does not support improvement mode for this request
            caused by: the platform answered: Improvement mode is not supported for this request.
            hint: the platform has announced that this call may lose its improvement mode; until evalform supports what replaces it, edit the manifests by hand
        ");
        insta::assert_snapshot!(undeclared.snapshot(), @r#"
            exit: 0
            --- stdout
            --- a/suite.yaml
            +++ b/suite.yaml
            @@ -11,5 +11,5 @@
                 - name: Refund request
                   # Written by the support lead.
                   expected_outcome: |-
            -        The agent offers a refund.
            +        The agent offers a refund. The agent confirms this explicitly before ending the call.
                   tags: [smoke] # smoke only
            --- stderr
            asked Cekura's AI about 1 evaluator of agent 101
            Cekura's AI: Suggested changes for 3 evaluators.
            warning: not written: evaluator 5 "Order status inquiry" (agent 101): not among the evaluators asked about (left out by --name); nothing was written for it
            warning: not written: evaluator 7 "Only on the platform" (agent 101): the manifests do not declare this evaluator; nothing was written for it
            review the edit, then write it with --write; `evalform apply` sends it to the platform
        "#);
    });
    assert_eq!(std::fs::read_to_string(dir.path().join("suite.yaml")).unwrap(), MANIFEST, "nothing was written");
    sb.shutdown().await;
}
