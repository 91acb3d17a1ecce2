//! The core flows under every alternative reading of the points where the vendor's sources disagree (see
//! docs/sandbox.md, "Readings"): apply with verification, a clean plan after it, prune, run (Cekura evaluators, and
//! Tela test cases with `tela.prompt_version` set), and import followed by a clean plan. evalform must work under
//! each reading, not only under the sandbox's defaults.

use evalform_sandbox::{Reading, SandboxConfig};
use serde_json::json;

use crate::apply::World;

/// Everything a reading can change, exercised once against a sandbox following `reading`.
fn core_flows_work_under(reading: Reading) {
    let w = World::examples_with(SandboxConfig { readings: [reading].into(), ..SandboxConfig::default() });
    // Prune: the agent's evaluators not in the manifests are deleted (`delete_scenarios`).
    w.edit("acme-shop/orders.yaml", "  project: 7\n", "  project: 7\n  prune: true\n");
    // Made by evalform (it carries the ownership tag): prune may delete it. (A hand-made one it never would.)
    let tags = [evalform::model::OWNERSHIP_TAG];
    w.sb.with_state(|s| {
        s.insert_evaluator(900, json!({"name": "Stray", "agent": 101, "personality": 7, "tags": tags}))
    })
    .expect("seed a stray evaluator");

    let applied = w.run(&["apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{reading}: apply\n{}", applied.snapshot());
    if reading == Reading::ToolsLowerCase {
        // The platform keeps its own spelling; the clean plan below shows evalform reads it as the manifests'.
        let tools: Vec<String> = w.state().evaluators.values().flat_map(|e| e.tool_ids.clone()).collect();
        assert!(tools.contains(&"end_call".to_string()), "{tools:?}");
    } else {
        w.assert_exact();
    }
    assert!(!w.state().evaluators.contains_key(&900), "{reading}: prune left the stray evaluator");

    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{reading}: a plan after apply shows changes\n{}", plan.snapshot());

    // "Cancel an order" carries the sandbox's cancel marker: run the ones that end normally.
    let mut run = w.cmd(&["run", "acme-shop", "--name", "Order*", "--timeout", "60"]);
    run.env("EVALFORM_POLL_INTERVAL_MS", "5");
    let ran = crate::common::run(run, None);
    assert_eq!(ran.code, 0, "{reading}: run\n{}", ran.snapshot());
    assert!(ran.stdout.contains("passed: "), "{reading}: {}", ran.stdout);

    // Tela: with a prompt version set (what a Tela that requires one needs), every test case runs and passes.
    let prompt = "  prompt: 5f0c2a4e-0000-4000-8000-000000000001\n";
    w.edit("tela/order-support.yaml", prompt, &format!("{prompt}  prompt_version: v-2026-11\n"));
    let mut tela = w.cmd(&["run", "tela", "--timeout", "60"]);
    tela.env("EVALFORM_POLL_INTERVAL_MS", "5");
    let ran = crate::common::run(tela, None);
    assert_eq!(ran.code, 0, "{reading}: Tela run\n{}", ran.snapshot());
    assert!(ran.stdout.contains("completed, 4 of 4 runs succeeded"), "{reading}: {}", ran.stdout);

    let imported = w.run(&["import", "--agent", "101", "--out", "imported"]);
    assert_eq!(imported.code, 0, "{reading}: import\n{}", imported.snapshot());
    let replan = w.run(&["plan", "--detailed-exitcode", "imported"]);
    assert_eq!(replan.code, 0, "{reading}: a plan of what import wrote shows changes\n{}", replan.snapshot());
}

#[test]
fn folders_listed_top_level_only() {
    core_flows_work_under(Reading::FoldersTopLevel);
}

#[test]
fn statuses_in_upper_case() {
    core_flows_work_under(Reading::StatusUpper);
}

#[test]
fn delete_scenarios_takes_scenario_ids() {
    core_flows_work_under(Reading::DeleteScenarioIds);
}

#[test]
fn adv_update_takes_objects() {
    core_flows_work_under(Reading::AdvUpdateObjects);
}

#[test]
fn adv_update_answers_one_object() {
    core_flows_work_under(Reading::AdvUpdateObjectReply);
}

#[test]
fn tool_ids_in_lower_case() {
    core_flows_work_under(Reading::ToolsLowerCase);
}

#[test]
fn first_message_honoured_on_create() {
    core_flows_work_under(Reading::FirstMessageOnCreate);
}

#[test]
fn tela_runs_require_a_prompt_version() {
    core_flows_work_under(Reading::TelaRunRequiresVersion);
}

/// A run whose result times out reads `FAILED` under the upper-case reading (no `timeout` there): the run set
/// fails at once, naming the status, instead of polling until evalform's own timeout.
#[test]
fn an_upper_case_failed_result_ends_the_wait() {
    let w = World::examples_with(SandboxConfig { readings: [Reading::StatusUpper].into(), ..SandboxConfig::default() });
    w.sb.with_state(|s| {
        s.insert_evaluator(901, json!({"name": "Slow timeout", "agent": 101, "personality": 7, "instructions": "x"}))
    })
    .expect("seed");
    w.write("slow.yaml", "version: 1\ncekura:\n  agent: 101\n  evaluators:\n    - name: Slow timeout\n      personality: 7\n      instructions: x\n");
    let mut run = w.cmd(&["run", "slow.yaml", "--timeout", "60"]);
    run.env("EVALFORM_POLL_INTERVAL_MS", "5");
    let ran = crate::common::run(run, None);
    assert_eq!(ran.code, 1, "{}", ran.snapshot());
    assert!(ran.stdout.contains("failed"), "{}", ran.snapshot());
}
