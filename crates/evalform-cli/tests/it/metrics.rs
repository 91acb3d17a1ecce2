//! Metrics as code (`cekura.metrics`) end to end: a judge prompt edited in a manifest is planned as a diff, applied
//! and verified; a dashboard edit of it is drift, and `pull` brings it back; a new metric is created and attached
//! to evaluators by name in one apply; `import` writes the project's metrics so that a plan shows no changes.

use evalform_sandbox::state::WriteMode;
use serde_json::json;

use crate::apply::World;
use crate::common::settings;

const SUITE: &str = r#"version: 1
cekura:
  agent: 12
  metrics:
    - name: Greets the caller by name
      type: llm_judge
      eval_type: binary
      description: |
        Score TRUE if the agent used the caller's name within its first three turns.
        Score FALSE otherwise.
      simulation_enabled: true
  evaluators:
    - name: Order status inquiry
      personality: 7
      instructions: Ask where order 1234 is.
      metrics: [Greets the caller by name, call_success]
"#;

/// The id of the project metric of this name in the sandbox.
fn metric_id(w: &World, name: &str) -> u64 {
    w.sb.with_state(|s| s.metrics.values().find(|m| m.name == name).map(|m| m.id)).expect("the metric exists")
}

/// The metric ids of the evaluator of this name.
fn evaluator_metrics(w: &World, name: &str) -> Vec<u64> {
    w.sb.with_state(|s| s.evaluators.values().find(|e| e.name == name).map(|e| e.metrics.clone()))
        .expect("the evaluator exists")
}

#[test]
fn a_judge_prompt_edit_is_planned_as_a_diff_applied_verified_drift_detected_and_pulled_back() {
    let w = World::new();
    w.write("suite.yaml", SUITE);
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let id = metric_id(&w, "Greets the caller by name");
    assert!(evaluator_metrics(&w, "Order status inquiry").contains(&id), "attached by name in the same apply");
    let mark = w.sb.with_state(|s| s.metrics[&id].settings.get("configuration").cloned());
    assert_eq!(mark, Some(json!({"managed_by": "evalform"})), "created with evalform's ownership mark");

    // The judge prompt edited in the manifest: a line diff.
    w.edit("suite.yaml", "within its first three turns.", "within its first two turns, and politely.");
    let out = w.run(&["plan", "--detailed-exitcode"]);
    settings().bind(|| insta::assert_snapshot!("metric_prompt_edit_plan", out.snapshot()));
    assert_eq!(out.code, 2);
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let stored = w.sb.with_state(|s| s.metrics[&id].description.clone());
    assert!(stored.contains("first two turns, and politely."), "{stored}");
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0, "verified: nothing left to change");

    // A dashboard edit of the judge prompt is drift.
    w.sb.with_state(|s| {
        let body = json!({"description": "Score TRUE if the agent greets the caller by name.\n"});
        s.write_metric(WriteMode::Dashboard, Some(id), &body).unwrap();
    });
    let out = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.code, 2, "{}", out.snapshot());
    assert!(out.stdout.contains("description"), "{}", out.stdout);

    // `pull` accepts it: the manifest now says what the dashboard says, and nothing is left to change.
    let out = w.run(&["pull"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let text = std::fs::read_to_string(w.path("suite.yaml")).unwrap();
    assert!(text.contains("Score TRUE if the agent greets the caller by name."), "{text}");
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[test]
fn a_new_enum_metric_is_created_and_attached_to_evaluators_by_name_in_one_apply() {
    let w = World::new();
    w.write(
        "suite.yaml",
        r#"version: 1
cekura:
  agent: 12
  evaluators:
    - name: Refund request
      personality: 7
      instructions: Ask for a refund.
    - name: Late delivery
      personality: 7
      instructions: Complain about a late parcel.
"#,
    );
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    // The metric is declared, and both the existing evaluators and a new one refer to it by name.
    w.write(
        "suite.yaml",
        r#"version: 1
cekura:
  agent: 12
  metrics:
    - name: Caller mood
      type: llm_judge
      eval_type: enum
      enum_values: [calm, annoyed, angry]
      description: How does the caller sound at the end of the call?
  defaults:
    personality: 7
    metrics: [Caller mood]
  evaluators:
    - name: Refund request
      instructions: Ask for a refund.
    - name: Late delivery
      instructions: Complain about a late parcel.
    - name: Wrong item
      instructions: Say the parcel held the wrong item.
"#,
    );
    let out = w.run(&["plan"]);
    settings().bind(|| insta::assert_snapshot!("metric_enum_created_and_attached_plan", out.snapshot()));
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let id = metric_id(&w, "Caller mood");
    let (kind, values) = w.sb.with_state(|s| (s.metrics[&id].eval_type.clone(), s.metrics[&id].enum_values.clone()));
    assert_eq!((kind.as_str(), values), ("enum", json!(["calm", "annoyed", "angry"])));
    for name in ["Refund request", "Late delivery", "Wrong item"] {
        assert_eq!(evaluator_metrics(&w, name), vec![id], "{name}");
    }
    // Verified in the same apply: no second round was needed.
    assert!(!out.stderr.contains("repairing"), "{}", out.stderr);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[test]
fn import_of_an_agent_with_custom_metrics_then_plan_shows_no_changes() {
    let w = World::new();
    let (judge, code) = w.sb.with_state(|s| {
        let judge = json!({
            "name": "Confirms the order number", "project": 1376, "type": "llm_judge", "eval_type": "enum",
            "enum_values": ["yes", "no", "not asked"], "evaluation_trigger": "automatic",
            "description": "Did the agent read the order number back to the caller?\nAnswer with one value.",
            "observability_enabled": true,
        });
        let code = json!({
            "name": "Short call", "project": 1376, "type": "custom_code", "eval_type": "numeric",
            "custom_code": "def evaluate(call):\n    return call.duration < 120\n",
        });
        (
            s.write_metric(WriteMode::Create, None, &judge).unwrap(),
            s.write_metric(WriteMode::Create, None, &code).unwrap(),
        )
    });
    w.sb.with_state(|s| {
        s.insert_evaluator(
            9001,
            json!({"name": "Where is my order", "agent": 12, "personality": 7, "instructions": "Ask for order 1234.",
                   "metrics": [judge, code, 501]}),
        )
        .unwrap();
    });
    let out = w.run(&["import", "--agent", "12", "--out", "suite"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let agent_file = std::fs::read_to_string(w.path("suite/agent-12/_agent.yaml")).unwrap();
    settings().bind(|| insta::assert_snapshot!("metric_import_agent_file", agent_file));
    let evaluators = std::fs::read_to_string(w.path("suite/agent-12/_root.yaml")).unwrap();
    assert!(evaluators.contains("metrics: [Confirms the order number, Short call,"), "by name:\n{evaluators}");
    let out = w.run(&["plan", "--detailed-exitcode", "suite"]);
    assert_eq!(out.code, 0, "a plan right after import shows no changes:\n{}", out.snapshot());
}

#[test]
fn the_metrics_example_validates_and_a_bad_metric_is_located() {
    let mut cmd = crate::common::evalform();
    cmd.args(["validate", "examples/metrics"]);
    let out = crate::common::run(cmd, Some(&crate::common::workspace_root()));
    insta::assert_snapshot!(out.snapshot(), @"
    exit: 0
    --- stdout
    ok: 1 file, 1 agent, 1 evaluator, 0 test profiles, 2 metrics, 1 schedule, 0 prompts with 0 test cases
    --- stderr
    ");

    let w = World::new();
    w.write(
        "suite.yaml",
        "version: 1\ncekura:\n  agent: 12\n  metrics:\n    - name: Mood\n      type: llm_judge\n      eval_type: enum\n      description: How does the caller sound?\n",
    );
    let out = w.run(&["validate"]);
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        error: metric `Mood` is `enum` without values
         --> suite.yaml:7:18
          |
        7 |       eval_type: enum
          |                  ^^^^ expected `enum_values` beside it
          = help: list the values the metric may yield under `enum_values`

        error: 1 problem in 1 file
        ");
    });
}

#[test]
fn a_metric_renamed_with_renamed_from_keeps_its_id_and_its_evaluators() {
    let w = World::new();
    w.write("suite.yaml", &SUITE.replace("agent: 12\n", "agent: 12\n  prune: true\n"));
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    let id = metric_id(&w, "Greets the caller by name");

    let renamed = SUITE
        .replace("agent: 12\n", "agent: 12\n  prune: true\n")
        .replace(
            "    - name: Greets the caller by name\n",
            "    - name: Uses the caller's name\n      renamed_from: [Greets the caller by name]\n",
        )
        .replace(
            "metrics: [Greets the caller by name, call_success]",
            "metrics: [\"Uses the caller's name\", call_success]",
        );
    w.write("suite.yaml", &renamed);
    let out = w.run(&["plan", "--detailed-exitcode"]);
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
    exit: 2
    --- stdout
    Plan: 0 to create, 1 to update, 0 to delete, in 1 API call.

      ~ cekura.agent[12].metric["Uses the caller's name"] (renamed from "Greets the caller by name")
          name:          "Greets the caller by name" -> "Uses the caller's name"

    API calls:
      1. PATCH /test_framework/v2/metrics/1001/                  update metric "Uses the caller's name": name
    --- stderr
    "#)
    });
    w.sb.clear_requests();
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let writes: Vec<String> = w.writes().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(writes, [format!("PATCH /test_framework/v2/metrics/{id}/")]);
    assert_eq!(metric_id(&w, "Uses the caller's name"), id, "the same metric, renamed");
    assert!(evaluator_metrics(&w, "Order status inquiry").contains(&id), "still attached");
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[test]
fn a_metric_earlier_name_another_declared_metric_has_is_an_error() {
    let w = World::new();
    let suite = SUITE.replace(
        "  evaluators:\n",
        "    - name: Short call\n      renamed_from: [Greets the caller by name]\n      description: Score TRUE if short.\n  evaluators:\n",
    );
    w.write("suite.yaml", &suite);
    let out = w.run(&["plan"]);
    settings().bind(|| insta::assert_snapshot!(out.snapshot(), @r#"
    exit: 1
    --- stdout
    --- stderr
    error: cannot plan: 1 problem
    caused by: suite.yaml:12:7: cekura.agent[12].metric["Short call"]: `renamed_from` names "Greets the caller by name", which another metric of this agent is declared as (hint: an old name must not be in use; remove it from `renamed_from`, or rename the other)
    "#));
}

#[test]
fn a_metric_name_two_metrics_of_the_project_share_is_refused_not_guessed() {
    let w = World::new();
    // Someone made a project metric named like the predefined `call_success` ("Call success").
    w.sb.with_state(|s| {
        let twin = json!({"name": "Call success", "project": 1376, "type": "llm_judge", "eval_type": "binary",
                          "description": "Did the caller get what they called for?"});
        s.write_metric(WriteMode::Create, None, &twin).unwrap();
    });
    w.write(
        "suite.yaml",
        "version: 1\ncekura:\n  agent: 12\n  evaluators:\n    - name: Order status\n      personality: 7\n      \
         instructions: Ask for order 1234.\n      metrics: [Call success]\n",
    );
    let out = w.run(&["plan"]);
    settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: cannot plan: 1 problem
        caused by: suite.yaml:5:7: cekura.agent[12].evaluator["Order status"]: metric `Call success` could mean the metrics 501 and 1001 (hint: refer to it by id or slug)
        "#);
    });
    // By slug it is the predefined one, unambiguously.
    w.write(
        "suite.yaml",
        &std::fs::read_to_string(w.path("suite.yaml")).unwrap().replace("[Call success]", "[call_success]"),
    );
    assert_eq!(w.run(&["plan"]).code, 0);
}

// Metrics belong to the project: agents 101 and 202 share project 7, and so share its metrics. A rename one agent's
// manifests declare is a statement about the project's metric, which the other agent's manifests must agree with.

const OLD: &str = "Greets the caller by name";

/// A project-7 metric made by evalform (ownership mark), named `name`: returns its id.
fn owned_project_metric(w: &World, name: &str) -> u64 {
    w.sb.with_state(|s| {
        let body = json!({"name": name, "project": 7, "type": "llm_judge", "eval_type": "binary",
                          "description": "Score TRUE if the agent used the caller's name.",
                          "configuration": {"managed_by": "evalform"}});
        s.write_metric(WriteMode::Create, None, &body).unwrap()
    })
}

/// Agent `agent`'s manifest declaring one metric `name` (with `renamed_from` when given) and one evaluator that
/// refers to `uses` by name.
fn agent_suite(agent: u64, prune: bool, metric: Option<(&str, Option<&str>)>, uses: &str) -> String {
    let mut out = format!("version: 1\ncekura:\n  agent: {agent}\n");
    if prune {
        out.push_str("  prune: true\n");
    }
    if let Some((name, renamed_from)) = metric {
        out.push_str(&format!("  metrics:\n    - name: {name:?}\n"));
        if let Some(old) = renamed_from {
            out.push_str(&format!("      renamed_from: [{old:?}]\n"));
        }
        out.push_str("      description: Score TRUE if the agent used the caller's name.\n");
    }
    out.push_str(&format!(
        "  evaluators:\n    - name: Question of agent {agent}\n      personality: 7\n      instructions: Ask a question.\n      metrics: [{uses:?}]\n"
    ));
    out
}

fn metric_names(w: &World, project: u64) -> Vec<String> {
    w.sb.with_state(|s| s.metrics.values().filter(|m| m.project == project).map(|m| m.name.clone()).collect())
}

#[test]
fn two_agents_of_a_project_renaming_one_metric_to_different_names_is_a_located_error() {
    let w = World::new();
    owned_project_metric(&w, OLD);
    w.write("a.yaml", &agent_suite(101, false, Some(("Uses the caller's name", Some(OLD))), "Uses the caller's name"));
    w.write("b.yaml", &agent_suite(202, false, Some(("Says the caller's name", Some(OLD))), "Says the caller's name"));
    let out = w.run(&["apply", "--auto-approve"]);
    settings().bind(|| insta::assert_snapshot!("metric_renamed_twice_across_agents", out.snapshot()));
    assert_eq!(out.code, 1);
    assert!(w.writes().is_empty(), "nothing applied: {:?}", w.writes());
    assert_eq!(metric_names(&w, 7), [OLD]);
}

#[test]
fn a_metric_one_agent_renames_while_another_declares_it_under_its_old_name_is_a_located_error() {
    let w = World::new();
    owned_project_metric(&w, OLD);
    w.write("a.yaml", &agent_suite(101, false, Some(("Uses the caller's name", Some(OLD))), "Uses the caller's name"));
    w.write("b.yaml", &agent_suite(202, false, Some((OLD, None)), OLD));
    let out = w.run(&["apply", "--auto-approve"]);
    settings().bind(|| insta::assert_snapshot!("metric_renamed_and_declared_across_agents", out.snapshot()));
    assert_eq!(out.code, 1);
    assert!(w.writes().is_empty(), "nothing applied: {:?}", w.writes());
    assert_eq!(metric_names(&w, 7), [OLD]);
}

#[test]
fn a_rename_whose_new_name_exists_too_is_refused_under_prune_and_deletes_nothing() {
    let w = World::new();
    let old = owned_project_metric(&w, OLD);
    owned_project_metric(&w, "Uses the caller's name");
    w.write("a.yaml", &agent_suite(101, true, Some(("Uses the caller's name", Some(OLD))), "Uses the caller's name"));
    w.write("b.yaml", &agent_suite(202, false, None, "call_success"));
    let out = w.run(&["apply", "--auto-approve"]);
    settings().bind(|| insta::assert_snapshot!("metric_rename_target_exists_prune", out.snapshot()));
    assert_eq!(out.code, 1);
    assert!(w.writes().is_empty(), "nothing applied: {:?}", w.writes());
    assert!(w.sb.with_state(|s| s.metrics.contains_key(&old)), "the old metric is kept");

    // Without prune nothing would be lost: the old metric is left alone and listed, saying why it was not renamed.
    w.write("a.yaml", &agent_suite(101, false, Some(("Uses the caller's name", Some(OLD))), "Uses the caller's name"));
    let out = w.run(&["plan"]);
    settings().bind(|| insta::assert_snapshot!("metric_rename_target_exists_no_prune", out.snapshot()));
    assert_eq!(out.code, 0);
}

#[test]
fn an_evaluator_of_another_agent_naming_a_metric_renamed_in_the_same_run_by_its_old_name_is_a_located_error() {
    let w = World::new();
    let id = owned_project_metric(&w, OLD);
    w.write("a.yaml", &agent_suite(101, false, Some(("Uses the caller's name", Some(OLD))), "Uses the caller's name"));
    w.write("b.yaml", &agent_suite(202, false, None, OLD));
    let out = w.run(&["apply", "--auto-approve"]);
    settings().bind(|| insta::assert_snapshot!("metric_renamed_old_name_used_by_other_agent", out.snapshot()));
    assert_eq!(out.code, 1);
    assert!(w.writes().is_empty(), "nothing applied: {:?}", w.writes());

    // By its new name, the other agent's evaluator is attached to the same metric, renamed in the same apply.
    w.write("b.yaml", &agent_suite(202, false, None, "Uses the caller's name"));
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert_eq!(metric_names(&w, 7), ["Uses the caller's name"]);
    assert_eq!(metric_id(&w, "Uses the caller's name"), id, "the same metric, renamed");
    assert_eq!(evaluator_metrics(&w, "Question of agent 202"), vec![id]);
    assert_eq!(evaluator_metrics(&w, "Question of agent 101"), vec![id]);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[test]
fn a_metric_one_agent_renames_and_another_declares_under_the_new_name_alone_is_a_located_error() {
    let w = World::new();
    let id = owned_project_metric(&w, OLD);
    w.write("a.yaml", &agent_suite(101, false, Some(("Uses the caller's name", Some(OLD))), "Uses the caller's name"));
    w.write("b.yaml", &agent_suite(202, false, Some(("Uses the caller's name", None)), "Uses the caller's name"));
    let out = w.run(&["apply", "--auto-approve"]);
    settings().bind(|| insta::assert_snapshot!("metric_renamed_by_one_agent_created_by_other", out.snapshot()));
    assert_eq!(out.code, 1);
    assert!(w.writes().is_empty(), "nothing applied: {:?}", w.writes());

    // With the same `renamed_from` in both, the project's metric is renamed, and no second one is created.
    w.write("b.yaml", &agent_suite(202, false, Some(("Uses the caller's name", Some(OLD))), "Uses the caller's name"));
    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(!out.stdout.contains("failed"), "{}", out.snapshot());
    assert_eq!(metric_names(&w, 7), ["Uses the caller's name"]);
    assert_eq!(metric_id(&w, "Uses the caller's name"), id, "the same metric, renamed");
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

/// Two agents of a project declare one new metric alike, each with an evaluator that uses it: it is created once,
/// and both evaluators are attached to it in the same apply (the platform refuses a second metric of one name in a
/// project).
#[test]
fn a_new_metric_two_agents_of_a_project_declare_is_created_once_for_both() {
    let w = World::new();
    w.write("a.yaml", &agent_suite(101, false, Some(("Uses the caller's name", None)), "Uses the caller's name"));
    w.write("b.yaml", &agent_suite(202, false, Some(("Uses the caller's name", None)), "Uses the caller's name"));
    // One call at a time: the progress lines on stderr come in one order.
    let out = w.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    settings().bind(|| insta::assert_snapshot!("metric_declared_by_two_agents_created_once", out.snapshot()));
    assert_eq!(out.code, 0);
    assert_eq!(metric_names(&w, 7), ["Uses the caller's name"]);
    let id = metric_id(&w, "Uses the caller's name");
    assert_eq!(evaluator_metrics(&w, "Question of agent 101"), vec![id]);
    assert_eq!(evaluator_metrics(&w, "Question of agent 202"), vec![id]);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);

    // Declared differently where both set a field: a located error, and nothing is written.
    let other = agent_suite(202, false, Some(("Uses the caller's name", None)), "Uses the caller's name");
    w.write("b.yaml", &other.replace("Score TRUE if the agent used", "Score TRUE only if the agent used"));
    let out = w.run(&["plan"]);
    settings().bind(|| insta::assert_snapshot!("metric_declared_differently_by_two_agents", out.snapshot()));
    assert_eq!(out.code, 1);
}

/// A metric one agent's manifests declare, new on the platform, named by an evaluator of another agent of the
/// project whose manifests do not declare it: created once, before both agents' evaluators are attached to it.
#[test]
fn an_evaluator_may_name_a_new_metric_another_agent_of_its_project_declares() {
    let w = World::new();
    w.write("a.yaml", &agent_suite(101, false, Some(("Uses the caller's name", None)), "Uses the caller's name"));
    w.write("b.yaml", &agent_suite(202, false, None, "Uses the caller's name"));
    // One call at a time: the progress lines on stderr come in one order.
    let out = w.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    settings().bind(|| insta::assert_snapshot!("metric_declared_by_one_agent_used_by_another", out.snapshot()));
    assert_eq!(out.code, 0);
    assert_eq!(metric_names(&w, 7), ["Uses the caller's name"]);
    let id = metric_id(&w, "Uses the caller's name");
    assert_eq!(evaluator_metrics(&w, "Question of agent 101"), vec![id]);
    assert_eq!(evaluator_metrics(&w, "Question of agent 202"), vec![id]);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}
