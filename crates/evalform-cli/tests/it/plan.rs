//! `evalform plan` end to end against the sandbox: no changes, drift from a dashboard edit, and the promise that
//! 1,000 evaluators needing the same metric and instruction tail cost two write calls.

use serde_json::json;

use crate::apply::World;

/// The evaluator of `agent` named `name`, by its sandbox id.
fn id_of(w: &World, agent: u64, name: &str) -> u64 {
    w.state().evaluators.values().find(|e| e.agent == Some(agent) && e.name == name).expect(name).id
}

#[test]
fn an_unchanged_platform_plans_no_changes_and_exits_0() {
    let w = World::examples();
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    w.sb.clear_requests();
    let out = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(w.writes().is_empty());
    insta::assert_snapshot!(out.snapshot(), @r"
    exit: 0
    --- stdout
    No changes. The platform matches the manifests.
    --- stderr
    ");
}

#[test]
fn one_dashboard_edit_exits_2_and_names_it() {
    let w = World::examples();
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    let id = id_of(&w, 202, "Toothache emergency");
    w.sb.with_state(|s| s.edit_evaluator(id, json!({"max_duration": 600}))).unwrap();
    let out = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.code, 2, "{}", out.snapshot());
    assert!(out.stdout.contains("Toothache emergency") && out.stdout.contains("max_duration"), "{}", out.stdout);
    crate::apply::apply_settings().bind(|| insta::assert_snapshot!("plan-one-dashboard-edit", out.snapshot()));
}

#[test]
fn plan_of_a_small_drifted_state() {
    let w = World::examples();
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    let order = id_of(&w, 101, "Order status inquiry");
    let legal = id_of(&w, 101, "Legal threat");
    w.sb.with_state(|s| {
        s.edit_evaluator(order, json!({"expected_outcome_prompt": "Whatever.", "tags": ["smoke"], "metrics": [501]}))
            .unwrap();
        // `first_message` is in ignore_changes for this one: not drift.
        s.edit_evaluator(legal, json!({"first_message": "Hello?"})).unwrap();
        let profile = *s.test_profiles.iter().find(|(_, p)| p.name == "New customer").unwrap().0;
        s.edit_test_profile(
            profile,
            json!({"information": {"testing_agent_variables": {"customer_name": "L. Ortega"}}}),
        )
        .unwrap();
        let case = s.test_cases.values().find(|c| c.title == "Rude customer").unwrap().id.clone();
        s.edit_test_case(&case, json!({"expectedOutput": "Says sorry."})).unwrap();
    });
    let out = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.code, 2, "{}", out.snapshot());
    crate::apply::apply_settings().bind(|| insta::assert_snapshot!("plan-small-drift", out.snapshot()));
}

#[test]
fn a_thousand_evaluators_needing_a_metric_and_a_tail_take_two_write_calls() {
    let w = World::new();
    let mut yaml = String::from(
        "version: 1\ncekura:\n  agent: 12\n  defaults:\n    metrics: [501, 506]\n    instructions_suffix: \"\\nAlways confirm the order number.\"\n  evaluators:\n",
    );
    w.sb.with_state(|s| {
        for i in 0..1000u64 {
            let body = json!({"name": format!("Case {i:04}"), "agent": 12, "personality": 7,
                "instructions": format!("Caller {i} asks about an order."), "metrics": [501]});
            s.insert_evaluator(10_000 + i, body).unwrap();
        }
    });
    for i in 0..1000 {
        yaml.push_str(&format!("    - name: Case {i:04}\n      instructions: \"Caller {i} asks about an order.\"\n"));
    }
    w.write("suite.yaml", &yaml);
    let plan = w.run(&["plan"]);
    assert!(
        plan.stdout.starts_with("Plan: 0 to create, 1000 to update, 0 to delete, in 2 API calls."),
        "{}",
        &plan.stdout[..300.min(plan.stdout.len())]
    );

    let out = w.run(&["apply", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}", &out.stderr);
    let writes = w.writes();
    assert_eq!(writes.len(), 2, "{:?}", writes.iter().map(|r| &r.path).collect::<Vec<_>>());
    assert!(writes.iter().all(|r| r.path.ends_with("/adv_update/")));
    assert_eq!(w.appends().len(), 1000);
    w.assert_no_append_twice();
    w.assert_exact();
}

/// With `project:` in the manifest, an agent id that does not exist is said as such, once; not as one "unknown
/// metric" per evaluator. An agent of another project is named with both projects.
#[test]
fn a_wrong_agent_id_with_a_project_is_named_not_reported_as_unknown_metrics() {
    let w = World::new();
    let manifest = |agent: u64| {
        format!(
            "version: 1\ncekura:\n  agent: {agent}\n  project: 7\n  evaluators:\n{}",
            (0..5)
                .map(|i| format!("    - name: Case {i}\n      instructions: Call.\n      metrics: [call_success]\n"))
                .collect::<String>()
        )
    };
    w.write("suite.yaml", &manifest(999));
    let out = w.run(&["plan"]);
    crate::apply::apply_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        error: reading Cekura agent 999
        caused by: GET /test_framework/v2/aiagents/999/: 404 Not Found: Not found.
        hint: check `cekura.agent` in the manifests: the platform has no such cekura agent
        ")
    });
    w.write("suite.yaml", &manifest(12));
    let out = w.run(&["plan"]);
    crate::apply::apply_settings().bind(|| {
        insta::assert_snapshot!(out.snapshot(), @r"
        exit: 1
        --- stdout
        --- stderr
        error: Cekura agent 12 is in project 1376, not in project 7 as the manifests say
        hint: correct `project:` in the manifests, or leave it out: evalform reads the agent's project
        ")
    });
}

/// The reads started before loading follow a quick look at the files' headers; a header it cannot read (a quoted
/// key) only means that agent or prompt is read after loading. The plan is the same, and each client is built
/// (and says where its settings came from) once.
#[test]
fn headers_the_quick_look_cannot_read_change_nothing() {
    let w = World::examples();
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    w.edit("tela/order-support.yaml", "  prompt:", "  \"prompt\":");
    w.edit("bright-smile/reception.yaml", "  agent:", "  \"agent\":");
    let out = w.run(&["plan", "-v", "--detailed-exitcode"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    assert!(out.stdout.contains("No changes."), "{}", out.snapshot());
    assert_eq!(out.stderr.matches("Cekura: base URL").count(), 1, "{}", out.stderr);
    assert_eq!(out.stderr.matches("Tela: base URL").count(), 1, "{}", out.stderr);
}
