//! `evalform test`: the manifests' own text runs (as a spec run), the platform's suite is not touched, the exit
//! code follows the results, `--dry-run` prints the estimate, `--max-credits` refuses an expensive selection.

use crate::apply::{apply_settings, World};

/// The examples applied, then one evaluator edited locally and not applied: the branch's text.
fn edited_world() -> World {
    let w = World::examples();
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    w.edit(
        "bright-smile/reception.yaml",
        "You have had a severe toothache since last night and want to be seen today.",
        "You have had a severe toothache since last night; the branch says you also have a fever.",
    );
    w.sb.clear_requests();
    w
}

#[test]
fn the_branch_text_runs_and_the_platform_suite_is_unchanged() {
    let w = edited_world();
    let before = w.state();
    let out = w.run(&["test", "--agent", "202", "--name", "Toothache*"]);
    apply_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @"
        exit: 0
        --- stdout
        agent 202, result 1022: completed, 1 of 1 runs succeeded
          passed  Toothache emergency (1/1 runs)
        passed: 1 of 1 runs succeeded (100%); required 100%
        --- stderr
        started result 1022 for agent 202: 1 test case from the manifests
        result 1022 (agent 202): running
        result 1022 (agent 202): completed
        ");
    });
    let sent: Vec<_> = w.log().into_iter().filter(|r| r.method != "GET").collect();
    assert_eq!(sent.len(), 1, "one spec run and nothing else: {sent:?}");
    assert!(sent[0].path.ends_with("/run_scenarios_json/"), "{}", sent[0].path);
    let body = sent[0].body.as_ref().unwrap();
    assert_eq!(
        body["spec"]["scenarios"][0]["instructions"],
        "You have had a severe toothache since last night; the branch says you also have a fever."
    );
    assert_eq!(body["agent_id"], 202);
    assert_eq!(w.state().evaluators, before.evaluators, "the agent's suite is not touched");
}

#[test]
fn a_failing_test_case_fails_the_command() {
    let w = edited_world();
    w.edit("bright-smile/reception.yaml", "name: Toothache emergency", "name: Toothache emergency fails");
    let out = w.run(&["test", "--agent", "202", "--name", "Toothache*", "--format", "junit"]);
    assert_eq!(out.code, 1, "{}", out.snapshot());
    let doc = roxmltree::Document::parse(&out.stdout).expect("JUnit is XML");
    let failures: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("failure")).collect();
    assert_eq!(failures.len(), 1, "{}", out.stdout);
}

#[test]
fn dry_run_prints_the_estimate_and_max_credits_refuses() {
    let w = edited_world();
    let out = w.run(&["test", "--agent", "202", "--dry-run"]);
    apply_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @"
        exit: 0
        --- stdout
        agent 202: 5 test cases, 50 credits estimated
        The specs are valid. Estimated cost: 50 credits. Nothing was run.
        --- stderr
        ");
    });
    let out = w.run(&["test", "--agent", "202", "--max-credits", "5"]);
    apply_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @"
        exit: 1
        --- stdout
        --- stderr
        error: the platform estimates 50 credits, more than --max-credits 5; nothing was run
        hint: narrow the selection (--tags, --folder, --name), or raise --max-credits
        ");
    });
    let started = w
        .log()
        .into_iter()
        .filter(|r| r.method == "POST" && !r.query.as_deref().unwrap_or("").contains("dry_run"))
        .count();
    assert_eq!(started, 0, "nothing was run");
}

#[test]
fn more_than_200_test_cases_go_as_several_spec_runs_and_report_as_one() {
    let w = World::new();
    let mut text = String::from("version: 1\ncekura:\n  agent: 12\n  evaluators:\n");
    for i in 0..250 {
        text.push_str(&format!(
            "    - name: Case {i:03}\n      personality: 7\n      instructions: Ask about order {i}.\n"
        ));
    }
    w.write("suite.yaml", &text);
    let out = w.run(&["test"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let runs: Vec<_> = w.log().into_iter().filter(|r| r.path.ends_with("/run_scenarios_json/")).collect();
    let sizes: Vec<usize> =
        runs.iter().map(|r| r.body.as_ref().unwrap()["spec"]["scenarios"].as_array().unwrap().len()).collect();
    // The platform takes at most 200 test cases in one spec: 250 go as two runs, every case exactly once.
    assert_eq!(sizes, [200, 50], "{}", out.snapshot());
    let mut names: Vec<String> = runs
        .iter()
        .flat_map(|r| r.body.as_ref().unwrap()["spec"]["scenarios"].as_array().unwrap().clone())
        .map(|s| s["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 250);
    assert!(out.stdout.contains("250 of 250 runs succeeded"), "{}", out.stdout);
    assert_eq!(w.state().evaluators.len(), 0, "nothing was created in the agent's suite");
}

/// A suite of one agent (12) whose evaluators are `names`, each a spec test case.
fn suite_of(names: &[&str]) -> World {
    let w = World::new();
    let mut text = String::from("version: 1\ncekura:\n  agent: 12\n  evaluators:\n");
    for name in names {
        text.push_str(&format!("    - name: {name}\n      personality: 7\n      instructions: Ask about an order.\n"));
    }
    w.write("suite.yaml", &text);
    w
}

/// Run `evalform test ARGS` in `w`, send it SIGINT once it has printed a stderr line containing `line` (when
/// given) and the sandbox holds `held` requests in their latency (a start on its way), and collect what it
/// printed. No timing: the signal follows what evalform printed and what the sandbox holds.
#[cfg(unix)]
fn interrupt_test_when(w: &World, args: &[&str], line: Option<&str>, held: usize) -> crate::common::Output {
    let mut cmd = w.cmd(&[&["test", "--timeout", "120"], args].concat());
    cmd.env("EVALFORM_POLL_INTERVAL_MS", "5");
    let mut child = crate::common::Interruptible::start(cmd);
    if let Some(line) = line {
        child.until_line(line);
    }
    crate::tela_run::until_held(&w.sb, held);
    child.interrupt();
    child.finish()
}

/// Ctrl-C while waiting for a spec run: the report (what had not ended as interrupted), the result named as going
/// on (Cekura has no cancel), exit 1; before, the process died of the signal without a word.
#[cfg(unix)]
#[test]
fn ctrl_c_while_waiting_reports_and_names_the_result() {
    let w = suite_of(&["Stuck caller", "Quick caller"]);
    let out = interrupt_test_when(&w, &[], Some("(agent 12): running"), 0);
    apply_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @"
        exit: 1
        --- stdout
        agent 12, result 1001: interrupted, 0 of 0 runs succeeded
          ERROR   Stuck caller (0/0 runs)
                  interrupted (Ctrl-C) before it ended (last seen: running)
          ERROR   Quick caller (0/0 runs)
                  interrupted (Ctrl-C) before it ended (last seen: running)
        FAILED: 0 of 0 runs succeeded (0%); required 100%
        --- stderr
        started result 1001 for agent 12: 2 test cases from the manifests
        result 1001 (agent 12): running
        error: interrupted: stopped waiting
        hint: Cekura has no cancel: result 1001 (agent 12) goes on running
        ");
    });
    assert_eq!(w.state().evaluators.len(), 0, "nothing was created in the agent's suite");
}

/// Ctrl-C while the spec run's start is on its way (held open by the sandbox): nothing is known to have started,
/// and the start is named as possibly started (and not sent again), exit 1.
#[cfg(unix)]
#[test]
fn ctrl_c_while_the_start_is_on_its_way_names_it() {
    let w = suite_of(&["Quick caller"]);
    w.sb.set_faults(evalform_sandbox::FaultConfig {
        latency_ms: 600_000,
        method: Some("POST".into()),
        path: Some("/run_scenarios_json/".into()),
        ..evalform_sandbox::FaultConfig::default()
    });
    let out = interrupt_test_when(&w, &[], None, 1);
    apply_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @"
        exit: 1
        --- stdout
        --- stderr
        error: interrupted: stopped starting the runs
        caused by: POST /test_framework/v1/scenarios/run_scenarios_json/ for agent 12, 1 test case from the manifests was on its way when interrupted, so its runs may have started; evalform did not send it again and cannot abort them (it never learned their ids)
        ");
    });
}
