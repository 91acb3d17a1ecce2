//! `evalform run` end to end: the real binary against the sandbox. Runs that pass, a run that fails (exit 1, the
//! failure named), every other final status, a result that never ends (`--timeout`), a flaky poll, selection by
//! tag, an evaluator that is not on the platform, `--no-wait`, and the JUnit report parsed as XML.

use std::path::Path;

use evalform_sandbox::{FaultConfig, FaultKind, RunningSandbox, Sandbox, SandboxConfig};
use serde_json::json;

use crate::common::{self, Output};

const MANIFEST: &str = "\
version: 1
cekura:
  agent: 101
  evaluators:
    - name: Order status inquiry
      tags: [smoke, orders]
    - name: Refund request
      tags: [smoke]
    - name: Nightly load
";

async fn sandbox(evaluators: &[(u64, &str, &[&str])]) -> RunningSandbox {
    let sb = Sandbox::start(0, SandboxConfig::default()).await.expect("start the sandbox");
    for (id, name, tags) in evaluators {
        sb.with_state(|s| {
            s.insert_evaluator(
                *id,
                json!({"name": name, "agent": 101, "personality": 7, "tags": tags, "metrics": [501]}),
            )
        })
        .expect("seed an evaluator");
    }
    sb
}

fn write_manifest(dir: &Path, text: &str) {
    std::fs::write(dir.join("suite.yaml"), text).unwrap();
}

fn run_cmd(sb: &RunningSandbox, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = common::evalform();
    cmd.env("CEKURA_API_KEY", "sandbox-key")
        .env("CEKURA_BASE_URL", sb.base_url())
        .env("EVALFORM_POLL_INTERVAL_MS", "5")
        .arg("run")
        .args(args);
    common::run(cmd, Some(dir))
}

fn snapshot_settings() -> insta::Settings {
    let mut s = common::settings();
    s.add_filter(r#"time="[0-9.]+""#, r#"time="[TIME]""#);
    s.add_filter(r#""seconds": [0-9.e-]+"#, r#""seconds": "[SECONDS]""#);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_runs_pass() {
    let sb = sandbox(&[
        (5, "Order status inquiry", &["smoke", "orders"]),
        (6, "Refund request", &["smoke"]),
        (7, "Nightly load", &[]),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), MANIFEST);
    let out = run_cmd(&sb, dir.path(), &["--tags", "smoke"]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 0
        --- stdout
        agent 101, result 1001: completed, 2 of 2 runs succeeded
          passed  Order status inquiry (1/1 runs)
          passed  Refund request (1/1 runs)
        passed: 2 of 2 runs succeeded (100%); required 100%
        --- stderr
        started result 1001 for agent 101: 2 evaluators
        result 1001 (agent 101): running
        result 1001 (agent 101): completed
        ");
    });
    let started: Vec<_> = sb.requests().into_iter().filter(|r| r.path.ends_with("/run_scenarios/")).collect();
    assert_eq!(started.len(), 1, "one run_scenarios call per agent");
    assert_eq!(started[0].body, Some(json!({"agent_id": 101, "scenarios": [5, 6], "name": "evalform run"})));
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_run_fails_the_set_and_is_named() {
    let sb = sandbox(&[
        (5, "Order status inquiry", &["smoke"]),
        (6, "Refund request", &["smoke", "will-fail"]),
        (7, "Nightly load", &[]),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), &MANIFEST.replace("tags: [smoke]\n", "tags: [smoke, will-fail]\n"));
    let out = run_cmd(&sb, dir.path(), &["--name", "*e*", "--frequency", "2"]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        agent 101, result 1001: completed, 2 of 4 runs succeeded
          passed  Order status inquiry (2/2 runs)
          FAILED  Refund request (0/2 runs)
                  run 1004 failed on Call success: Call success was not met: the evaluator is marked to fail.
                  run 1005 failed on Call success: Call success was not met: the evaluator is marked to fail.
        FAILED: 2 of 4 runs succeeded (50%); required 100%
        --- stderr
        warning: 1 selected evaluator differs on the platform from the manifests, and run runs the platform's copy: "Order status inquiry" (tags)
          hint: `evalform test` runs them as the manifests say, without changing the platform; or `evalform apply` first
        started result 1001 for agent 101: 2 evaluators
        result 1001 (agent 101): running
        result 1001 (agent 101): completed
        "#);
    });
    // The same result, judged against a lower bar, passes.
    let half = run_cmd(&sb, dir.path(), &["--name", "*e*", "--min-success-rate", "0.5", "-q"]);
    assert_eq!(half.code, 0, "{}", half.snapshot());
    let md = run_cmd(&sb, dir.path(), &["--tags", "smoke", "--format", "markdown", "-q"]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(md.snapshot(), @r#"
        exit: 1
        --- stdout
        ### ❌ evalform run failed

        1 of 2 runs succeeded (50%); required 100%.

        Results: agent 101: result 1009 (completed).

        | | Evaluator | Agent | Runs passed | Failing metric | Explanation |
        |---|---|---|---|---|---|
        | ❌ | Refund request | 101 | 0/1 | Call success | Call success was not met: the evaluator is marked to fail. |
        | ✅ | Order status inquiry | 101 | 1/1 |  |  |
        --- stderr
        warning: 1 selected evaluator differs on the platform from the manifests, and run runs the platform's copy: "Order status inquiry" (tags)
          hint: `evalform test` runs them as the manifests say, without changing the platform; or `evalform apply` first
        "#);
    });
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junit_report_parses_with_the_expected_shape() {
    let sb = sandbox(&[
        (5, "Order status inquiry", &["smoke"]),
        (6, "Refund <fail> & \"co\"", &["smoke"]),
        (7, "Call gets cancelled", &["smoke"]),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_manifest(
        dir.path(),
        "version: 1\ncekura:\n  agent: 101\n  evaluators:\n    - name: Order status inquiry\n    - name: 'Refund <fail> & \"co\"'\n    - name: Call gets cancelled\n",
    );
    let out = run_cmd(&sb, dir.path(), &["--format", "junit", "-q"]);
    assert_eq!(out.code, 1);
    let doc = roxmltree::Document::parse(&out.stdout).expect("the JUnit report is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert!(suites.iter().all(|s| s.has_tag_name("testsuite")));
    for attr in ["name", "tests", "failures", "errors", "time"] {
        assert!(suites[0].attribute(attr).is_some(), "testsuite has {attr}");
    }
    assert_eq!(suites[0].attribute("name"), Some("agent-101"));
    assert_eq!(
        (suites[0].attribute("tests"), suites[0].attribute("failures"), suites[0].attribute("errors")),
        (Some("3"), Some("1"), Some("1"))
    );
    let cases: Vec<_> = suites[0].children().filter(|n| n.has_tag_name("testcase")).collect();
    let names: Vec<_> =
        cases.iter().map(|c| (c.attribute("classname").unwrap(), c.attribute("name").unwrap())).collect();
    assert_eq!(
        names,
        vec![
            ("agent-101", "Order status inquiry"),
            ("agent-101", "Refund <fail> & \"co\""),
            ("agent-101", "Call gets cancelled")
        ]
    );
    let failure = cases[1].children().find(|n| n.has_tag_name("failure")).expect("a failure element");
    assert!(failure.attribute("message").unwrap().contains("Call success"));
    let error = cases[2].children().find(|n| n.has_tag_name("error")).expect("an error element");
    assert_eq!(error.attribute("message"), Some("run 1004 ended cancelled"));
    snapshot_settings().bind(|| insta::assert_snapshot!("run_junit", out.stdout));
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_final_statuses_fail_the_set() {
    let sb = sandbox(&[(5, "Crash test", &["crash"]), (6, "Slow line", &["timeout"])]).await;
    let dir = tempfile::tempdir().unwrap();
    write_manifest(
        dir.path(),
        "version: 1\ncekura:\n  agent: 101\n  evaluators:\n    - name: Crash test\n    - name: Slow line\n",
    );
    let out = run_cmd(&sb, dir.path(), &["--format", "json", "--min-success-rate", "0", "-q"]);
    assert_eq!(out.code, 1, "{}", out.snapshot());
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["passed"], false);
    assert_eq!(report["results"][0]["status"], "failed");
    let verdicts: Vec<_> =
        report["results"][0]["evaluators"].as_array().unwrap().iter().map(|e| e["verdict"].clone()).collect();
    assert_eq!(verdicts, vec![json!("error"), json!("error")]);
    assert_eq!(report["results"][0]["evaluators"][1]["failures"][0]["status"], "timeout");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_that_never_ends_is_cut_by_the_timeout() {
    let sb = sandbox(&[(5, "Stuck caller", &[])]).await;
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), "version: 1\ncekura:\n  agent: 101\n  evaluators:\n    - name: Stuck caller\n");
    let out = run_cmd(&sb, dir.path(), &["--timeout", "1"]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 1
        --- stdout
        agent 101, result 1001: running, 0 of 0 runs succeeded
          ERROR   Stuck caller (0/0 runs)
                  result 1001 did not end in time
        FAILED: 0 of 0 runs succeeded (0%); required 100%
        --- stderr
        started result 1001 for agent 101: 1 evaluator
        result 1001 (agent 101): running
        error: result 1001 of agent 101 did not end within [DURATION] (last status: running)
        hint: the runs go on without evalform: look at result 1001 later on the Cekura dashboard or at GET /test_framework/v2/results/1001/
        ");
    });
    // A CI job still gets a JUnit file that lists the evaluator, as an error.
    let junit = run_cmd(&sb, dir.path(), &["--timeout", "0", "--format", "junit", "-q"]);
    assert_eq!(junit.code, 1);
    let doc = roxmltree::Document::parse(&junit.stdout).expect("well-formed JUnit on timeout");
    let error = doc.descendants().find(|n| n.has_tag_name("error")).expect("the timed-out evaluator is an error");
    assert_eq!(error.attribute("message"), Some("result 1003 did not end in time"));
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_poll_is_retried() {
    let sb = sandbox(&[(5, "Order status inquiry", &[])]).await;
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), "version: 1\ncekura:\n  agent: 101\n  evaluators:\n    - name: Order status inquiry\n");
    // More failures in a row than the transport retries one read: the poll loop must try again itself.
    sb.set_faults(FaultConfig::fail_next(FaultKind::ServerError, 7, Some("GET"), Some("/results/")));
    let out = run_cmd(&sb, dir.path(), &[]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(out.stdout.contains("passed: 1 of 1 runs succeeded"), "{}", out.stdout);
    assert!(out.stderr.contains("poll failed"), "the failed poll is reported: {}", out.stderr);
    let polls = sb.requests().iter().filter(|r| r.path.contains("/results/")).count();
    assert!(polls >= 10, "7 failed reads and 3 answered ones, got {polls}");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selection_errors_name_what_is_missing() {
    let sb = sandbox(&[(5, "Order status inquiry", &["smoke"])]).await;
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), MANIFEST);
    let missing = run_cmd(&sb, dir.path(), &["--tags", "smoke"]);
    let nothing = run_cmd(&sb, dir.path(), &["--tags", "nope"]);
    common::settings().bind(|| {
        insta::assert_snapshot!(missing.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: 1 selected evaluator is not on the platform
        caused by: "Refund request" of agent 101, declared at suite.yaml:7:7
        hint: run `evalform apply` first, so that the platform has every evaluator the manifests declare
        "#);
        insta::assert_snapshot!(nothing.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        error: no declared evaluator matches --tags nope
        hint: check the filters against the manifests' tags, folders and names
        ");
    });
    assert!(!sb.requests().iter().any(|r| r.path.ends_with("/run_scenarios/")), "nothing was started");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wait_prints_the_result_id() {
    let sb = sandbox(&[(5, "Order status inquiry", &[])]).await;
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), "version: 1\ncekura:\n  agent: 101\n  evaluators:\n    - name: Order status inquiry\n");
    let out = run_cmd(&sb, dir.path(), &["--no-wait", "--personality", "9"]);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 0
    --- stdout
    agent 101: result 1001
    --- stderr
    started result 1001 for agent 101: 1 evaluator
    ");
    assert!(!sb.requests().iter().any(|r| r.path.contains("/results/")), "no poll");
    let body = sb.requests().into_iter().find(|r| r.path.ends_with("/run_scenarios/")).unwrap().body.unwrap();
    assert_eq!(body["personality_ids"], json!([9]));
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_set_per_agent_and_a_lost_start_is_never_resent() {
    let sb = sandbox(&[(5, "Order status inquiry", &["smoke"])]).await;
    sb.with_state(|s| {
        s.insert_evaluator(8, json!({"name": "Book a cleaning", "agent": 202, "personality": 7, "tags": ["smoke"]}))
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), "version: 1\ncekura:\n  agent: 101\n  evaluators:\n    - name: Order status inquiry\n");
    std::fs::write(
        dir.path().join("dental.yaml"),
        "version: 1\ncekura:\n  agent: 202\n  evaluators:\n    - name: Book a cleaning\n",
    )
    .unwrap();
    let out = run_cmd(&sb, dir.path(), &["--tags", "smoke", "-q"]);
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 0
    --- stdout
    agent 101, result 1001: completed, 1 of 1 runs succeeded
      passed  Order status inquiry (1/1 runs)
    agent 202, result 1003: completed, 1 of 1 runs succeeded
      passed  Book a cleaning (1/1 runs)
    passed: 2 of 2 runs succeeded (100%); required 100%
    --- stderr
    ");

    sb.clear_requests();
    sb.set_faults(FaultConfig::fail_next(FaultKind::DropAfterCommit, 1, Some("POST"), Some("run_scenarios")));
    let lost = run_cmd(&sb, dir.path(), &["--tags", "smoke"]);
    insta::assert_snapshot!(lost.snapshot(), @r"
    exit: 1
    --- stdout
    --- stderr
    error: cannot start the runs of agent 101
    caused by: POST /test_framework/v1/scenarios/run_scenarios/: outcome unknown: connection closed before message completed; the request was sent and may or may not have been applied
    hint: the runs may have started anyway; look at the agent's results on the platform before running again
    ");
    let starts = sb.requests().iter().filter(|r| r.path.ends_with("/run_scenarios/")).count();
    assert_eq!(starts, 1, "a start whose answer was lost is not sent again");
    sb.shutdown().await;
}

/// `run` runs the platform's copy: a selected evaluator whose manifest says something else (an edit not applied)
/// is named with its fields before the runs start, with the two ways out. In sync, nothing is said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_edit_not_applied_is_named_before_running() {
    let sb =
        sandbox(&[(1001, "Order status inquiry", &["smoke", "orders"]), (1002, "Refund request", &["smoke"])]).await;
    let dir = tempfile::tempdir().unwrap();
    write_manifest(
        dir.path(),
        "version: 1\ncekura:\n  agent: 101\n  evaluators:\n    - name: Order status inquiry\n      tags: [smoke, orders]\n      max_duration: 240\n    - name: Refund request\n      tags: [smoke]\n",
    );
    let out = run_cmd(&sb, dir.path(), &["--tags", "smoke"]);
    let warning: Vec<&str> = out.stderr.lines().filter(|l| l.contains("warning:") || l.contains("hint:")).collect();
    insta::assert_snapshot!(warning.join("\n"), @r#"
    warning: 1 selected evaluator differs on the platform from the manifests, and run runs the platform's copy: "Order status inquiry" (max_duration)
      hint: `evalform test` runs them as the manifests say, without changing the platform; or `evalform apply` first
    "#);

    write_manifest(dir.path(), MANIFEST);
    let out = run_cmd(&sb, dir.path(), &["--tags", "smoke"]);
    assert!(!out.stderr.contains("differ"), "{}", out.stderr);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_deadline_also_bounds_the_wait() {
    let sb = sandbox(&[(5, "Stuck caller", &[])]).await;
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), "version: 1\ncekura:\n  agent: 101\n  evaluators:\n    - name: Stuck caller\n");
    // `--timeout` is the default half hour; `--deadline 2` ends the whole command first.
    let out = run_cmd(&sb, dir.path(), &["--deadline", "2"]);
    assert_eq!(out.code, 1, "{}", out.snapshot());
    assert!(out.stderr.contains("did not end within"), "{}", out.snapshot());
    sb.shutdown().await;
}

/// The platform answers the start 201 with a page evalform cannot read: the runs may have started. The error says
/// so, names what was sent, and the start is not resent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_answered_2xx_with_an_unreadable_body_may_have_started_and_is_not_resent() {
    let sb = sandbox(&[(5, "Order status inquiry", &["smoke"]), (6, "Refund request", &["smoke"])]).await;
    sb.set_faults(FaultConfig::fail_next(FaultKind::UnreadableOk, 1, Some("POST"), Some("run_scenarios")));
    let dir = tempfile::tempdir().unwrap();
    write_manifest(dir.path(), MANIFEST);
    let out = run_cmd(&sb, dir.path(), &["--tags", "smoke"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit: 1
    --- stdout
    --- stderr
    error: the runs of agent 101 may have started: the platform accepted the start, and evalform cannot read its answer
    caused by: POST /test_framework/v1/scenarios/run_scenarios/: unexpected response: expected JSON, got an HTML page ("OK", 73 bytes)
    hint: sent once and not retried (evalform never resends a start whose outcome is unknown): POST /test_framework/v1/scenarios/run_scenarios/ for agent 101, evaluators "Order status inquiry" (id 5), "Refund request" (id 6)
    hint: look at the agent's results on the Cekura dashboard before running again
    "#);
    let starts = sb.requests().iter().filter(|r| r.path.ends_with("/run_scenarios/")).count();
    assert_eq!(starts, 1, "a start whose answer cannot be read is not sent again");
    sb.shutdown().await;
}
