//! `evalform run` of Tela test cases end to end (issue 18): a prompt's test cases started in one `run-all`, waited
//! for through `includeGenerations`, and reported with the Cekura runs (text, JSON, JUnit, Markdown); a failing and a
//! crashing case; `--name` (one `run` per case) and `--tags` (test cases have none); `--no-wait`; a test case not on
//! the platform; a start that Tela refuses, never resent; prompt versions (`tela.prompt_version`) under the
//! default reading and under `tela-run-requires-version`.

use std::path::Path;

use evalform_sandbox::{FaultConfig, FaultKind, Reading, RunningSandbox, Sandbox, SandboxConfig};
use serde_json::json;

use crate::common::{self, Output};

const PROMPT: &str = "5f0c2a4e-0000-4000-8000-000000000001";

const TELA: &str = "\
version: 1
tela:
  prompt: 5f0c2a4e-0000-4000-8000-000000000001
  test_cases:
    - title: Late order
      messages:
        - {role: user, content: Where is my order?}
      expected_output: Gives the tracking link.
    - title: Refund that should fail
      messages:
        - {role: user, content: I want my money back.}
      expected_output: Explains the refund policy.
";

const CEKURA: &str = "\
version: 1
cekura:
  agent: 101
  evaluators:
    - name: Order status inquiry
      tags: [smoke]
";

/// A sandbox holding the test cases (id, title) of [`PROMPT`] and the evaluator of [`CEKURA`].
async fn sandbox(cases: &[(&str, &str)]) -> RunningSandbox {
    sandbox_with(SandboxConfig::default(), cases).await
}

async fn sandbox_with(config: SandboxConfig, cases: &[(&str, &str)]) -> RunningSandbox {
    let sb = Sandbox::start(0, config).await.expect("start the sandbox");
    sb.with_state(|s| {
        s.insert_evaluator(
            5,
            json!({"name": "Order status inquiry", "agent": 101, "personality": 7, "tags": ["smoke"], "metrics": [501]}),
        )
        .expect("seed an evaluator");
        for (id, title) in cases {
            s.insert_test_case(id, json!({"promptId": PROMPT, "title": title})).expect("seed a test case");
        }
    });
    sb
}

const BOTH: &[(&str, &str)] = &[("tc-late", "Late order"), ("tc-refund", "Refund that should fail")];

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn run_cmd(sb: &RunningSandbox, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = common::evalform();
    cmd.env("CEKURA_API_KEY", "sandbox-key")
        .env("CEKURA_BASE_URL", sb.base_url())
        .env("TELA_API_KEY", "tela-key")
        .env("TELA_BASE_URL", sb.base_url())
        .env("EVALFORM_POLL_INTERVAL_MS", "5")
        .arg("run")
        .args(args);
    common::run(cmd, Some(dir))
}

fn snapshot_settings() -> insta::Settings {
    let mut s = common::settings();
    s.add_filter(r#"time="[0-9.]+""#, r#"time="[TIME]""#);
    s
}

/// The Tela run requests the sandbox saw, as `METHOD path`.
fn tela_runs(sb: &RunningSandbox) -> Vec<String> {
    sb.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.starts_with("/test-case/"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompts_test_cases_run_in_one_run_all_and_a_failing_case_fails_the_run() {
    let sb = sandbox(BOTH).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", TELA);
    let out = run_cmd(&sb, dir.path(), &[]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        prompt 5f0c2a4e-0000-4000-8000-000000000001: completed, 1 of 2 runs succeeded
          passed  Late order (1/1 runs)
          FAILED  Refund that should fail (0/1 runs)
                  generation 9e4e2a7e-0000-4000-8000-0000000003ea failed on Expected output: "Refund that should fail" is marked to fail in the sandbox.
        FAILED: 1 of 2 runs succeeded (50%); required 100%
        --- stderr
        started 2 test cases of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (run-all)
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Late order": running
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Refund that should fail": running
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Late order": completed
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Refund that should fail": completed
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001: completed
        "#);
    });
    assert_eq!(tela_runs(&sb), ["POST /test-case/run-all"], "one call for the whole prompt");
    let body = sb.requests().into_iter().find(|r| r.path == "/test-case/run-all").unwrap().body.unwrap();
    assert_eq!(body, json!({"testCaseIds": ["tc-late", "tc-refund"]}), "by id: undeclared cases never run");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_selects_test_cases_by_title_and_starts_each_with_its_own_run() {
    let sb = sandbox(BOTH).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", TELA);
    let out = run_cmd(&sb, dir.path(), &["--name", "Late*"]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 0
        --- stdout
        prompt 5f0c2a4e-0000-4000-8000-000000000001: completed, 1 of 1 runs succeeded
          passed  Late order (1/1 runs)
        passed: 1 of 1 runs succeeded (100%); required 100%
        --- stderr
        started 1 test case of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (one run each)
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Late order": running
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Late order": completed
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001: completed
        "#);
    });
    assert_eq!(tela_runs(&sb), ["POST /test-case/tc-late/run"]);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_select_evaluators_only_since_test_cases_have_none() {
    let sb = sandbox(BOTH).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", TELA);
    write(dir.path(), "cekura.yaml", CEKURA);
    let out = run_cmd(&sb, dir.path(), &["--tags", "smoke"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(tela_runs(&sb).is_empty(), "no test case started: {:?}", tela_runs(&sb));
    let tela_only = tempfile::tempdir().unwrap();
    write(tela_only.path(), "tela.yaml", TELA);
    let none = run_cmd(&sb, tela_only.path(), &["--tags", "smoke"]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(none.snapshot(), @"
        exit: 1
        --- stdout
        --- stderr
        error: no declared evaluator or Tela test case matches --tags smoke
        hint: check the filters against the manifests' tags, folders and names (Tela test cases have no tags or folders; --name matches their title)
        ");
    });
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junit_and_markdown_report_tela_cases_beside_cekura_runs() {
    let sb = sandbox(&[("tc-late", "Late order"), ("tc-refund", "Refund that should fail")]).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", TELA);
    write(dir.path(), "cekura.yaml", CEKURA);
    let junit = run_cmd(&sb, dir.path(), &["--format", "junit", "--quiet"]);
    snapshot_settings().bind(|| insta::assert_snapshot!(junit.snapshot(), @r#"
    exit: 1
    --- stdout
    <?xml version="1.0" encoding="UTF-8"?>
    <testsuites name="evalform run" tests="3" failures="1" errors="0" time="[TIME]">
      <testsuite name="agent-101" id="0" tests="1" failures="0" errors="0" skipped="0" time="[TIME]">
        <properties>
          <property name="result_id" value="1001"/>
          <property name="status" value="completed"/>
        </properties>
        <testcase classname="agent-101" name="Order status inquiry"/>
      </testsuite>
      <testsuite name="prompt-5f0c2a4e-0000-4000-8000-000000000001" id="1" tests="2" failures="1" errors="0" skipped="0" time="[TIME]">
        <properties>
          <property name="prompt" value="5f0c2a4e-0000-4000-8000-000000000001"/>
          <property name="status" value="completed"/>
        </properties>
        <testcase classname="prompt-5f0c2a4e-0000-4000-8000-000000000001" name="Late order"/>
        <testcase classname="prompt-5f0c2a4e-0000-4000-8000-000000000001" name="Refund that should fail">
          <failure message="generation 9e4e2a7e-0000-4000-8000-0000000003ec failed on Expected output: &quot;Refund that should fail&quot; is marked to fail in the sandbox." type="run-failed">generation 9e4e2a7e-0000-4000-8000-0000000003ec failed on Expected output: &quot;Refund that should fail&quot; is marked to fail in the sandbox.</failure>
        </testcase>
      </testsuite>
    </testsuites>
    --- stderr
    "#));
    let doc = roxmltree::Document::parse(&junit.stdout).expect("JUnit parses");
    let suites: Vec<&str> =
        doc.descendants().filter(|n| n.has_tag_name("testsuite")).filter_map(|n| n.attribute("name")).collect();
    assert_eq!(suites, ["agent-101", &format!("prompt-{PROMPT}")], "one testsuite per prompt");
    let markdown = run_cmd(&sb, dir.path(), &["--format", "markdown", "--quiet"]);
    snapshot_settings().bind(|| insta::assert_snapshot!(markdown.snapshot(), @r#"
    exit: 1
    --- stdout
    ### ❌ evalform run failed

    2 of 3 runs succeeded (67%); required 100%.

    Results: agent 101: result 1006 (completed); prompt 5f0c2a4e-0000-4000-8000-000000000001: test cases (completed).

    | | Evaluator / test case | Agent / prompt | Runs passed | Failing metric | Explanation |
    |---|---|---|---|---|---|
    | ❌ | Refund that should fail | prompt 5f0c2a4e-0000-4000-8000-000000000001 | 0/1 | Expected output | "Refund that should fail" is marked to fail in the sandbox. |
    | ✅ | Order status inquiry | 101 | 1/1 |  |  |
    | ✅ | Late order | prompt 5f0c2a4e-0000-4000-8000-000000000001 | 1/1 |  |  |
    --- stderr
    "#));
    let json = run_cmd(&sb, dir.path(), &["--format", "json", "--quiet"]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON report");
    let tela = &report["results"][1];
    assert_eq!((&tela["prompt"], tela.get("agent"), tela.get("result_id")), (&json!(PROMPT), None, None));
    assert_eq!(tela["evaluators"][1]["test_case_id"], "tc-refund");
    assert!(tela["evaluators"][1]["failures"][0]["generation_id"].is_string());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_case_is_an_error_and_a_case_already_running_is_not_waited_for() {
    let sb = sandbox(&[("tc-late", "Late order"), ("tc-refund", "Refund crash")]).await;
    // A generation of tc-late is already in progress: Tela skips it.
    sb.with_state(|s| s.run_test_case("tc-late", None)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", &TELA.replace("Refund that should fail", "Refund crash"));
    let out = run_cmd(&sb, dir.path(), &[]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        prompt 5f0c2a4e-0000-4000-8000-000000000001: failed, 0 of 1 runs succeeded
          ERROR   Late order (0/0 runs)
                  Tela skipped it: a generation was already in progress
          ERROR   Refund crash (0/1 runs)
                  generation 9e4e2a7e-0000-4000-8000-0000000003ea ended failed
        FAILED: 0 of 1 runs succeeded (0%); required 100%
        --- stderr
        started 1 test case of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (run-all)
        warning: test case "Late order" of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 was not started: Tela skipped it: a generation was already in progress
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Refund crash": running
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Refund crash": failed
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001: failed
        "#);
    });
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wait_names_each_generation() {
    let sb = sandbox(BOTH).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", TELA);
    let out = run_cmd(&sb, dir.path(), &["--no-wait"]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 0
        --- stdout
        prompt 5f0c2a4e-0000-4000-8000-000000000001: test case "Late order": generation 9e4e2a7e-0000-4000-8000-0000000003e9
        prompt 5f0c2a4e-0000-4000-8000-000000000001: test case "Refund that should fail": generation 9e4e2a7e-0000-4000-8000-0000000003ea
        --- stderr
        started 2 test cases of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (run-all)
        "#);
    });
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_case_not_on_the_platform_is_named_before_anything_starts() {
    let sb = sandbox(&[("tc-late", "Late order")]).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", TELA);
    let out = run_cmd(&sb, dir.path(), &[]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: 1 selected Tela test case is not on the platform
        caused by: "Refund that should fail" of prompt 5f0c2a4e-0000-4000-8000-000000000001, declared at tela.yaml:9:7
        hint: run `evalform apply` first, so that Tela has every test case the manifests declare
        "#);
    });
    assert!(tela_runs(&sb).is_empty());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_start_is_a_clear_error_and_is_not_resent() {
    let sb = sandbox(BOTH).await;
    sb.set_faults(FaultConfig::fail_next(FaultKind::ServerError, 1, Some("POST"), Some("/test-case/run-all")));
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", TELA);
    write(dir.path(), "cekura.yaml", CEKURA);
    let out = run_cmd(&sb, dir.path(), &[]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @"
        exit: 1
        --- stdout
        --- stderr
        started result 1001 for agent 101: 1 evaluator
        error: cannot start the Tela test cases of prompt 5f0c2a4e-0000-4000-8000-000000000001
        caused by: POST /test-case/run-all: outcome unknown: the server answered 500 Internal Server Error: A server error occurred.; the request was sent and may or may not have been applied
        hint: the test cases may have started anyway; look at them in Tela before running again (evalform does not resend a run)
        hint: already started: result 1001 (agent 101)
        ");
    });
    assert_eq!(tela_runs(&sb), ["POST /test-case/run-all"], "a run-all that may have started is never resent");
    sb.shutdown().await;
}

/// Ctrl-C while waiting: every started test case is aborted (once), the user is told which, and evalform ends
/// with an error. The signal is sent once the wait has printed a status, so no timing is involved.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_aborts_the_started_test_cases() {
    use std::io::{BufRead, BufReader, Read};

    let sb = sandbox(&[("tc-late", "Stuck late order"), ("tc-stuck", "Stuck order")]).await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "tela.yaml",
        &TELA.replace("Refund that should fail", "Stuck order").replace("Late order", "Stuck late order"),
    );
    let mut cmd = common::evalform();
    cmd.env("TELA_API_KEY", "tela-key")
        .env("TELA_BASE_URL", sb.base_url())
        .env("EVALFORM_POLL_INTERVAL_MS", "5")
        .args(["run", "--timeout", "120"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("start evalform");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert_ne!(stderr.read_line(&mut line).unwrap(), 0, "evalform ended before waiting: {seen}");
        seen.push_str(&line);
        if line.contains("\"Stuck order\": running") {
            break;
        }
    }
    let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    stderr.read_to_string(&mut seen).unwrap();
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let out = Output { code: status.code().unwrap_or(-1), stdout, stderr: seen };
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        prompt 5f0c2a4e-0000-4000-8000-000000000001: interrupted, 0 of 2 runs succeeded
          ERROR   Stuck late order (0/1 runs)
                  generation 9e4e2a7e-0000-4000-8000-0000000003e9: interrupted (Ctrl-C) before it ended (last seen: running)
          ERROR   Stuck order (0/1 runs)
                  generation 9e4e2a7e-0000-4000-8000-0000000003ea: interrupted (Ctrl-C) before it ended (last seen: running)
        FAILED: 0 of 2 runs succeeded (0%); required 100%
        --- stderr
        started 2 test cases of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (run-all)
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Stuck late order": running
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Stuck order": running
        abort sent: test case "Stuck late order" of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (generation 9e4e2a7e-0000-4000-8000-0000000003e9)
        abort sent: test case "Stuck order" of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (generation 9e4e2a7e-0000-4000-8000-0000000003ea)
        error: interrupted: stopped waiting
        "#);
    });
    let aborts: Vec<String> = tela_runs(&sb).into_iter().filter(|r| r.ends_with("/abort")).collect();
    assert_eq!(aborts, ["POST /test-case/tc-late/abort", "POST /test-case/tc-stuck/abort"]);
    let statuses = sb.with_state(|s| s.test_cases.values().map(|t| t.generations[0].status()).collect::<Vec<_>>());
    assert_eq!(statuses, ["aborted", "aborted"]);
    sb.shutdown().await;
}

/// [`TELA`] with `prompt_version` set.
fn tela_with_version(version: &str) -> String {
    TELA.replace("  test_cases:\n", &format!("  prompt_version: {version}\n  test_cases:\n"))
}

/// The bodies of the Tela run requests the sandbox saw.
fn run_bodies(sb: &RunningSandbox) -> Vec<serde_json::Value> {
    sb.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && (r.path.ends_with("/run") || r.path == "/test-case/run-all"))
        .map(|r| r.body.unwrap_or_default())
        .collect()
}

fn requiring_version() -> SandboxConfig {
    SandboxConfig { readings: [Reading::TelaRunRequiresVersion].into(), ..SandboxConfig::default() }
}

/// A Tela that requires `promptVersionId`, and no `prompt_version` in the manifests: the refused start is a clear
/// error that says what to set, it is not resent, and nothing is left running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_version_a_tela_that_requires_one_stops_the_run_saying_what_to_set() {
    let sb = sandbox_with(requiring_version(), BOTH).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", TELA);
    let out = run_cmd(&sb, dir.path(), &[]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @"
        exit: 1
        --- stdout
        --- stderr
        error: Tela requires a prompt version to run the test cases of prompt 5f0c2a4e-0000-4000-8000-000000000001
        caused by: POST /test-case/run-all: 400 Bad Request: promptVersionId must be a string.
        hint: set `prompt_version: ID` under `tela:` in the manifests of prompt 5f0c2a4e-0000-4000-8000-000000000001 (per environment: `prompt_version: ${var:NAME}`); the refused request started nothing
        ");
    });
    assert_eq!(tela_runs(&sb), ["POST /test-case/run-all"], "never resent");
    let out = run_cmd(&sb, dir.path(), &["--name", "Late*"]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @"
        exit: 1
        --- stdout
        --- stderr
        error: Tela requires a prompt version to run the test cases of prompt 5f0c2a4e-0000-4000-8000-000000000001
        caused by: POST /test-case/tc-late/run: 400 Bad Request: promptVersionId must be a string.
        hint: set `prompt_version: ID` under `tela:` in the manifests of prompt 5f0c2a4e-0000-4000-8000-000000000001 (per environment: `prompt_version: ${var:NAME}`); the refused request started nothing
        ");
    });
    assert_eq!(tela_runs(&sb), ["POST /test-case/run-all", "POST /test-case/tc-late/run"], "one run, not resent");
    let cases = sb.with_state(|s| s.test_cases.values().map(|t| t.generations.len()).sum::<usize>());
    assert_eq!(cases, 0, "nothing was started");
    sb.shutdown().await;
}

/// With `prompt_version` (here from the chosen environment, `${var:...}`), every run body names it: the run-all and
/// each single run, and the run reports as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_version_every_run_body_names_it_and_the_run_reports() {
    let sb = sandbox_with(requiring_version(), BOTH).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", &tela_with_version("${var:tela_version}"));
    write(dir.path(), "evalform.toml", "[environments.staging]\nvars = { tela_version = \"v-staging-3\" }\n");
    let out = run_cmd(&sb, dir.path(), &["--env", "staging"]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        prompt 5f0c2a4e-0000-4000-8000-000000000001: completed, 1 of 2 runs succeeded
          passed  Late order (1/1 runs)
          FAILED  Refund that should fail (0/1 runs)
                  generation 9e4e2a7e-0000-4000-8000-0000000003ea failed on Expected output: "Refund that should fail" is marked to fail in the sandbox.
        FAILED: 1 of 2 runs succeeded (50%); required 100%
        --- stderr
        Environment staging: prompt 5f0c2a4e-0000-4000-8000-000000000001
        started 2 test cases of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (run-all)
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Late order": running
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Refund that should fail": running
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Late order": completed
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Refund that should fail": completed
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001: completed
        "#);
    });
    let out = run_cmd(&sb, dir.path(), &["--env", "staging", "--name", "Late*", "--no-wait"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert_eq!(
        run_bodies(&sb),
        [
            json!({"testCaseIds": ["tc-late", "tc-refund"], "promptVersionId": "v-staging-3"}),
            json!({"promptVersionId": "v-staging-3"})
        ]
    );
    sb.shutdown().await;
}

/// Under the default reading a run works with and without a version; without one the body carries none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_reading_runs_with_or_without_a_version() {
    let sb = sandbox(BOTH).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", TELA);
    let without = run_cmd(&sb, dir.path(), &["--name", "Late*"]);
    assert_eq!(without.code, 0, "{}", without.snapshot());
    write(dir.path(), "tela.yaml", &tela_with_version("v-1"));
    let with = run_cmd(&sb, dir.path(), &["--name", "Late*"]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(with.snapshot(), @r#"
        exit: 0
        --- stdout
        prompt 5f0c2a4e-0000-4000-8000-000000000001: completed, 1 of 1 runs succeeded
          passed  Late order (1/1 runs)
        passed: 1 of 1 runs succeeded (100%); required 100%
        --- stderr
        started 1 test case of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (one run each)
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Late order": running
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Late order": completed
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001: completed
        "#);
    });
    assert_eq!(run_bodies(&sb), [json!({}), json!({"promptVersionId": "v-1"})]);
    let generations = sb.with_state(|s| {
        s.test_cases["tc-late"].generations.iter().map(|g| g.prompt_version_id.clone()).collect::<Vec<_>>()
    });
    assert_eq!(generations, [json!(null), json!("v-1")], "the sandbox kept the version each run named");
    sb.shutdown().await;
}

/// `prompt_version` is not a managed field: a plan of a manifest that sets it shows no change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_ignore_the_prompt_version() {
    let sb = sandbox(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", TELA);
    let mut apply = common::evalform();
    apply.env("TELA_API_KEY", "tela-key").env("TELA_BASE_URL", sb.base_url()).args(["apply", "--auto-approve"]);
    let applied = common::run(apply, Some(dir.path()));
    assert_eq!(applied.code, 0, "{}", applied.snapshot());
    write(dir.path(), "tela.yaml", &tela_with_version("v-9"));
    let mut plan = common::evalform();
    plan.env("TELA_API_KEY", "tela-key").env("TELA_BASE_URL", sb.base_url()).args(["plan", "--detailed-exitcode"]);
    let planned = common::run(plan, Some(dir.path()));
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(planned.snapshot(), @"
        exit: 0
        --- stdout
        No changes. The platform matches the manifests.
        --- stderr
        ");
    });
    sb.shutdown().await;
}

/// `prompt_version: ${env:NAME}` with NAME unset: `run` does not need the environment for anything else, but running
/// here would test whichever version Tela picks. It refuses before starting anything; `${env:NAME:-}` (empty on
/// purpose) lets Tela choose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_version_whose_variable_is_unset_runs_nothing() {
    let sb = sandbox(BOTH).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", &tela_with_version("${env:EVALFORM_TEST_PROMPT_VERSION}"));
    let out = run_cmd(&sb, dir.path(), &["--name", "Late*"]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @"
        exit: 1
        --- stdout
        --- stderr
        error: `tela.prompt_version` of prompt 5f0c2a4e-0000-4000-8000-000000000001 is `${env:EVALFORM_TEST_PROMPT_VERSION}`, and its variable is not set
        hint: set the variable, or leave `prompt_version` out to let Tela choose the version; nothing was run
        ");
    });
    assert_eq!(run_bodies(&sb), Vec::<serde_json::Value>::new(), "nothing was started");
    write(dir.path(), "tela.yaml", &tela_with_version("${env:EVALFORM_TEST_PROMPT_VERSION:-}"));
    let out = run_cmd(&sb, dir.path(), &["--name", "Late*"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert_eq!(run_bodies(&sb), [json!({})]);
    sb.shutdown().await;
}

/// Two live test cases with one title (a copy made in Tela): `run` would have run one and `apply` changed the other.
/// Both refuse, naming the copies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_title_the_platform_has_twice_is_refused_by_run_and_plan() {
    let sb =
        sandbox(&[("tc-late", "Late order"), ("tc-late-copy", "Late order"), ("tc-refund", "Refund that should fail")])
            .await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", TELA);
    let out = run_cmd(&sb, dir.path(), &["--name", "Late*"]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: 1 selected Tela test case is not on the platform exactly once
        caused by: "Late order" of prompt 5f0c2a4e-0000-4000-8000-000000000001, declared at tela.yaml:5:7: 2 test cases on the platform have this title (tc-late, tc-late-copy)
        hint: a title is a test case's identity: delete or rename the copies in Tela, then run again; nothing was run
        "#);
    });
    assert_eq!(run_bodies(&sb), Vec::<serde_json::Value>::new(), "nothing was started");
    let mut cmd = common::evalform();
    cmd.env("TELA_API_KEY", "tela-key").env("TELA_BASE_URL", sb.base_url()).arg("plan");
    let plan = common::run(cmd, Some(dir.path()));
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(plan.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: cannot plan: 1 problem
        caused by: tela.yaml:5:7: tela.prompt[5f0c2a4e-0000-4000-8000-000000000001].test_case["Late order"]: 2 test cases with this title exist on the platform (ids tc-late, tc-late-copy) (hint: a title is a test case's identity: delete or rename the copies in Tela)
        "#);
    });
    sb.shutdown().await;
}

/// Run `evalform run ARGS` on `dir` against `sb` with both keys, send it SIGINT once it has printed a stderr line
/// containing `line` (when given) and the sandbox holds `held` requests in their latency (a start on its way),
/// and collect what it printed. No timing: the signal follows what evalform printed and what the sandbox holds.
#[cfg(unix)]
fn interrupt_when(sb: &RunningSandbox, dir: &Path, args: &[&str], line: Option<&str>, held: usize) -> Output {
    let mut cmd = common::evalform();
    cmd.env("CEKURA_API_KEY", "sandbox-key")
        .env("CEKURA_BASE_URL", sb.base_url())
        .env("TELA_API_KEY", "tela-key")
        .env("TELA_BASE_URL", sb.base_url())
        .env("EVALFORM_POLL_INTERVAL_MS", "5")
        .args(["run", "--timeout", "120"])
        .args(args)
        .current_dir(dir);
    let mut child = common::Interruptible::start(cmd);
    if let Some(line) = line {
        child.until_line(line);
    }
    until_held(sb, held);
    child.interrupt();
    child.finish()
}

/// Wait until the sandbox holds `n` requests in their latency (a start on its way).
pub fn until_held(sb: &RunningSandbox, n: usize) {
    for _ in 0..12_000 {
        if sb.held_requests() >= n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("the sandbox never held {n} request(s)");
}

/// Hold every `POST` to `path` open (for ten minutes: the test interrupts evalform long before).
fn hold(sb: &RunningSandbox, path: &str) {
    sb.set_faults(FaultConfig {
        latency_ms: 600_000,
        method: Some("POST".into()),
        path: Some(path.into()),
        ..FaultConfig::default()
    });
}

/// Ctrl-C while a later start is in flight (the Cekura runs started, Tela's run-all held open by the sandbox):
/// evalform does not die silently leaving the Cekura runs unnamed; it names them, names the start that was in
/// flight (it may have started), reports what it started as interrupted, and exits 1.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_a_later_start_is_in_flight_names_everything_started() {
    let sb = sandbox(BOTH).await;
    hold(&sb, "/test-case/run-all");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", TELA);
    write(dir.path(), "cekura.yaml", CEKURA);
    let out = interrupt_when(&sb, dir.path(), &[], Some("started result 1001"), 1);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
            exit: 1
            --- stdout
            agent 101, result 1001: interrupted, 0 of 0 runs succeeded
              ERROR   Order status inquiry (0/0 runs)
                      interrupted (Ctrl-C) before it ended
            FAILED: 0 of 0 runs succeeded (0%); required 100%
            --- stderr
            started result 1001 for agent 101: 1 evaluator
            error: interrupted: stopped starting the runs
            caused by: POST /test-case/run-all for test cases "Late order" (id tc-late), "Refund that should fail" (id tc-refund) of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 was on its way when interrupted, so its runs may have started; evalform did not send it again and cannot abort them (it never learned their ids)
            hint: Cekura has no cancel: result 1001 (agent 101) goes on running
            "#);
    });
    drop(sb); // the held request never ends: do not wait for it
}

/// Ctrl-C after some results ended: the report of what ended is printed (the rest as interrupted), the started
/// Tela test cases are aborted, and evalform exits 1 with the interruption.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_prints_the_report_of_what_ended_then_the_interruption() {
    let sb = sandbox(&[("tc-stuck", "Stuck order")]).await;
    let dir = tempfile::tempdir().unwrap();
    let tela = "version: 1\ntela:\n  prompt: 5f0c2a4e-0000-4000-8000-000000000001\n  test_cases:\n    - title: Stuck order\n      messages:\n        - {role: user, content: Where is it?}\n      expected_output: A link.\n";
    write(dir.path(), "tela.yaml", tela);
    write(dir.path(), "cekura.yaml", CEKURA);
    let out = interrupt_when(&sb, dir.path(), &[], Some("\"Stuck order\": running"), 0);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        agent 101, result 1001: completed, 1 of 1 runs succeeded
          passed  Order status inquiry (1/1 runs)
        prompt 5f0c2a4e-0000-4000-8000-000000000001: interrupted, 0 of 1 runs succeeded
          ERROR   Stuck order (0/1 runs)
                  generation 9e4e2a7e-0000-4000-8000-0000000003eb: interrupted (Ctrl-C) before it ended (last seen: running)
        FAILED: 1 of 2 runs succeeded (50%); required 100%
        --- stderr
        started result 1001 for agent 101: 1 evaluator
        started 1 test case of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (run-all)
        result 1001 (agent 101): running
        result 1001 (agent 101): completed
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Stuck order": running
        abort sent: test case "Stuck order" of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (generation 9e4e2a7e-0000-4000-8000-0000000003eb)
        error: interrupted: stopped waiting
        hint: Cekura has no cancel: result 1001 (agent 101) goes on running
        "#);
    });
    let aborts: Vec<String> = tela_runs(&sb).into_iter().filter(|r| r.ends_with("/abort")).collect();
    assert_eq!(aborts, ["POST /test-case/tc-stuck/abort"]);
    sb.shutdown().await;
}

/// Tela answers the run-all 200 with a page evalform cannot read: the test cases may have started. The error says
/// so, names what was sent, and the start is not resent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_answered_2xx_with_an_unreadable_body_may_have_started_and_is_not_resent() {
    let sb = sandbox(BOTH).await;
    sb.set_faults(FaultConfig::fail_next(FaultKind::UnreadableOk, 1, Some("POST"), Some("/test-case/run-all")));
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", TELA);
    let out = run_cmd(&sb, dir.path(), &[]);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
            exit: 1
            --- stdout
            --- stderr
            error: the Tela test cases of prompt 5f0c2a4e-0000-4000-8000-000000000001 may have started: Tela accepted the start, and evalform cannot read its answer
            caused by: POST /test-case/run-all: unexpected response: expected JSON, got an HTML page ("OK", 73 bytes)
            hint: sent once and not retried (evalform never resends a start whose outcome is unknown): POST /test-case/run-all for test cases "Late order" (id tc-late), "Refund that should fail" (id tc-refund) of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001
            hint: look at their generations in Tela before running again; stop them there, or with POST /test-case/{id}/abort
            "#);
    });
    assert_eq!(tela_runs(&sb), ["POST /test-case/run-all"], "a start whose answer cannot be read is never resent");
    let running = sb.with_state(|s| s.test_cases.values().map(|t| t.generations.len()).sum::<usize>());
    assert_eq!(running, 2, "the sandbox did start both test cases");
    sb.shutdown().await;
}

/// Ctrl-C while a prompt's test cases are started one by one (`--name` selects some of them) and the second `run`
/// is on its way: the first, already started, is aborted; the second is named as possibly started.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_between_two_runs_of_one_prompt_aborts_the_first_and_names_the_second() {
    let sb =
        sandbox(&[("tc-late", "Late order"), ("tc-stuck", "Stuck order"), ("tc-later", "Stuck later order")]).await;
    hold(&sb, "/test-case/tc-later/run");
    let dir = tempfile::tempdir().unwrap();
    let tela = TELA.replace("Refund that should fail", "Stuck order")
        + "    - title: Stuck later order\n      messages:\n        - {role: user, content: And now?}\n";
    write(dir.path(), "tela.yaml", &tela);
    let out = interrupt_when(&sb, dir.path(), &["--name", "Stuck*"], None, 1);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        prompt 5f0c2a4e-0000-4000-8000-000000000001: interrupted, 0 of 1 runs succeeded
          ERROR   Stuck order (0/1 runs)
                  generation 9e4e2a7e-0000-4000-8000-0000000003e9: interrupted (Ctrl-C) before it ended
        FAILED: 0 of 1 runs succeeded (0%); required 100%
        --- stderr
        abort sent: test case "Stuck order" of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (generation 9e4e2a7e-0000-4000-8000-0000000003e9)
        error: interrupted: stopped starting the runs
        caused by: POST /test-case/tc-later/run for test case "Stuck later order" (id tc-later) of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 was on its way when interrupted, so its runs may have started; evalform did not send it again and cannot abort them (it never learned their ids)
        "#);
    });
    let posts = tela_runs(&sb);
    assert_eq!(
        posts,
        ["POST /test-case/tc-stuck/run", "POST /test-case/tc-stuck/abort"],
        "the held run is not logged yet"
    );
    drop(sb); // the held request never ends: do not wait for it
}

/// A Cekura-only run interrupted while waiting: the report (the result as interrupted), the result named as going
/// on, exit 1; before, the process died of the signal without a word.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_in_a_cekura_only_run_reports_and_names_the_result() {
    let sb = sandbox(&[]).await;
    sb.with_state(|s| {
        s.insert_evaluator(9, json!({"name": "Stuck caller", "agent": 101, "personality": 7, "metrics": [501]}))
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "cekura.yaml", "version: 1\ncekura:\n  agent: 101\n  evaluators:\n    - name: Stuck caller\n");
    let out = interrupt_when(&sb, dir.path(), &["--format", "junit"], Some("result 1001 (agent 101): running"), 0);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        <?xml version="1.0" encoding="UTF-8"?>
        <testsuites name="evalform run" tests="1" failures="0" errors="1" time="[TIME]">
          <testsuite name="agent-101" id="0" tests="1" failures="0" errors="1" skipped="0" time="[TIME]">
            <properties>
              <property name="result_id" value="1001"/>
              <property name="status" value="interrupted"/>
            </properties>
            <testcase classname="agent-101" name="Stuck caller">
              <error message="interrupted (Ctrl-C) before it ended (last seen: running)" type="run-error">interrupted (Ctrl-C) before it ended (last seen: running)</error>
            </testcase>
          </testsuite>
        </testsuites>
        --- stderr
        started result 1001 for agent 101: 1 evaluator
        result 1001 (agent 101): running
        error: interrupted: stopped waiting
        hint: Cekura has no cancel: result 1001 (agent 101) goes on running
        "#);
    });
    sb.shutdown().await;
}

/// With `--no-wait`, an interruption while a later start is on its way prints what was started as `--no-wait`
/// does (not a report), and names the start on its way.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_with_no_wait_prints_what_was_started() {
    let sb = sandbox(BOTH).await;
    hold(&sb, "/test-case/run-all");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", TELA);
    write(dir.path(), "cekura.yaml", CEKURA);
    let out = interrupt_when(&sb, dir.path(), &["--no-wait"], Some("started result 1001"), 1);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        agent 101: result 1001
        --- stderr
        started result 1001 for agent 101: 1 evaluator
        error: interrupted: stopped starting the runs
        caused by: POST /test-case/run-all for test cases "Late order" (id tc-late), "Refund that should fail" (id tc-refund) of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 was on its way when interrupted, so its runs may have started; evalform did not send it again and cannot abort them (it never learned their ids)
        hint: Cekura has no cancel: result 1001 (agent 101) goes on running
        "#);
    });
    drop(sb); // the held request never ends: do not wait for it
}

/// Ctrl-C while waiting: each test case that had not ended shows the last status evalform read for it, in the
/// report's explanation (here JSON), so the user knows how far it got.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_shows_the_last_status_read_of_each_interrupted_test_case() {
    let sb = sandbox(&[("tc-stuck", "Stuck order")]).await;
    let dir = tempfile::tempdir().unwrap();
    let tela = "version: 1\ntela:\n  prompt: 5f0c2a4e-0000-4000-8000-000000000001\n  test_cases:\n    - title: Stuck order\n      messages:\n        - {role: user, content: Where is it?}\n      expected_output: A link.\n";
    write(dir.path(), "tela.yaml", tela);
    let out = interrupt_when(&sb, dir.path(), &["--format", "json"], Some("\"Stuck order\": running"), 0);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        {
          "passed": false,
          "min_success_rate": 1.0,
          "total_runs": 1,
          "successful_runs": 0,
          "success_rate": 0.0,
          "results": [
            {
              "prompt": "5f0c2a4e-0000-4000-8000-000000000001",
              "status": "interrupted",
              "total_runs": 1,
              "successful_runs": 0,
              "seconds": 0.0,
              "evaluators": [
                {
                  "id": 0,
                  "test_case_id": "tc-stuck",
                  "name": "Stuck order",
                  "source": "tela.yaml:5:7",
                  "verdict": "error",
                  "runs": 1,
                  "successful_runs": 0,
                  "failures": [
                    {
                      "run_id": null,
                      "generation_id": "9e4e2a7e-0000-4000-8000-0000000003e9",
                      "status": "interrupted",
                      "metric": null,
                      "explanation": "interrupted (Ctrl-C) before it ended (last seen: running)"
                    }
                  ]
                }
              ]
            }
          ]
        }
        --- stderr
        started 1 test case of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (run-all)
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Stuck order": running
        abort sent: test case "Stuck order" of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (generation 9e4e2a7e-0000-4000-8000-0000000003e9)
        error: interrupted: stopped waiting
        "#);
    });
    sb.shutdown().await;
}

/// Ctrl-C while a prompt's test cases are waited for, after one of them ended: that one is reported as it ended
/// (passed, from the generation evalform read), only the one still running as interrupted; only it is aborted.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_reports_a_test_case_that_ended_before_it_as_it_ended() {
    let sb = sandbox(&[("tc-late", "Late order"), ("tc-stuck", "Stuck order")]).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tela.yaml", &TELA.replace("Refund that should fail", "Stuck order"));
    let out = interrupt_when(&sb, dir.path(), &[], Some("\"Late order\": completed"), 0);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        prompt 5f0c2a4e-0000-4000-8000-000000000001: interrupted, 1 of 2 runs succeeded
          passed  Late order (1/1 runs)
          ERROR   Stuck order (0/1 runs)
                  generation 9e4e2a7e-0000-4000-8000-0000000003ea: interrupted (Ctrl-C) before it ended (last seen: running)
        FAILED: 1 of 2 runs succeeded (50%); required 100%
        --- stderr
        started 2 test cases of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (run-all)
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Late order": running
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Stuck order": running
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Late order": completed
        abort sent: test case "Stuck order" of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (generation 9e4e2a7e-0000-4000-8000-0000000003ea)
        error: interrupted: stopped waiting
        "#);
    });
    let aborts: Vec<String> = tela_runs(&sb).into_iter().filter(|r| r.ends_with("/abort")).collect();
    assert_eq!(aborts, ["POST /test-case/tc-stuck/abort"], "a test case that ended is not aborted");
    sb.shutdown().await;
}

/// Ctrl-C while the second prompt's test cases are waited for: the first prompt's, read as ended, are reported as
/// they ended and not sent an abort; only the one still running is aborted.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_aborts_only_what_had_not_ended() {
    const SECOND: &str = "5f0c2a4e-0000-4000-8000-000000000002";
    let sb = sandbox(&[("tc-late", "Late order")]).await;
    sb.with_state(|s| s.insert_test_case("tc-stuck", json!({"promptId": SECOND, "title": "Stuck order"})))
        .expect("seed a test case");
    let dir = tempfile::tempdir().unwrap();
    let case = |prompt: &str, title: &str| {
        format!("version: 1\ntela:\n  prompt: {prompt}\n  test_cases:\n    - title: {title}\n      messages:\n        - {{role: user, content: Where is it?}}\n")
    };
    write(dir.path(), "first.yaml", &case(PROMPT, "Late order"));
    write(dir.path(), "second.yaml", &case(SECOND, "Stuck order"));
    let out = interrupt_when(&sb, dir.path(), &[], Some("\"Stuck order\": running"), 0);
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        prompt 5f0c2a4e-0000-4000-8000-000000000001: completed, 1 of 1 runs succeeded
          passed  Late order (1/1 runs)
        prompt 5f0c2a4e-0000-4000-8000-000000000002: interrupted, 0 of 1 runs succeeded
          ERROR   Stuck order (0/1 runs)
                  generation 9e4e2a7e-0000-4000-8000-0000000003eb: interrupted (Ctrl-C) before it ended (last seen: running)
        FAILED: 1 of 2 runs succeeded (50%); required 100%
        --- stderr
        started 1 test case of Tela prompt 5f0c2a4e-0000-4000-8000-000000000001 (run-all)
        started 1 test case of Tela prompt 5f0c2a4e-0000-4000-8000-000000000002 (run-all)
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Late order": running
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001, test case "Late order": completed
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000001: completed
        Tela prompt 5f0c2a4e-0000-4000-8000-000000000002, test case "Stuck order": running
        abort sent: test case "Stuck order" of Tela prompt 5f0c2a4e-0000-4000-8000-000000000002 (generation 9e4e2a7e-0000-4000-8000-0000000003eb)
        error: interrupted: stopped waiting
        "#);
    });
    let aborts: Vec<String> = tela_runs(&sb).into_iter().filter(|r| r.ends_with("/abort")).collect();
    assert_eq!(aborts, ["POST /test-case/tc-stuck/abort"], "a test case that ended is not aborted");
    sb.shutdown().await;
}
