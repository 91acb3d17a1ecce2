//! `evalform plan` end to end against the sandbox: no changes, drift from a dashboard edit, and the promise that
//! 1,000 evaluators needing the same metric and instruction tail cost two write calls.

use serde_json::json;

use crate::apply::World;

/// Snapshot settings that hide the sandbox's ids, which depend on the order concurrent creates finished.
fn id_free() -> insta::Settings {
    let mut s = crate::apply::apply_settings();
    s.add_filter(r"\(id \d{4,}\)", "(id [ID])");
    s
}

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

#[test]
fn resources_no_manifest_declares_are_listed_never_changed_and_do_not_count_as_changes() {
    let w = World::examples();
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    w.sb.with_state(|s| {
        let body = json!({"name": "Made in the dashboard", "agent": 101, "personality": 7, "instructions": "Hi."});
        s.insert_evaluator(9001, body).unwrap();
    });
    w.sb.clear_requests();
    let out = w.run(&["plan", "--detailed-exitcode"]);
    assert!(w.writes().is_empty());
    insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 0
        --- stdout
        No changes to the managed resources. 1 evaluator on the platform is not managed (listed below).

        Not managed (on the platform, declared by no manifest; never changed):
          ? cekura.agent[101].evaluator["Made in the dashboard"] (id 9001)
        --- stderr
        "#);
    let json = w.run(&["plan", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    insta::assert_snapshot!(serde_json::to_string_pretty(&doc["unmanaged"]).unwrap(), @r#"
        [
          {
            "address": "cekura.agent[101].evaluator[\"Made in the dashboard\"]",
            "remote_id": "9001",
            "note": null
          }
        ]
        "#);
    let md = w.run(&["plan", "--format", "markdown"]);
    insta::assert_snapshot!(md.stdout, @r#"
        ### evalform plan

        No changes to the managed resources. 1 evaluator on the platform is not managed (listed below).

        **Not managed (on the platform, declared by no manifest; never changed)**

        - `cekura.agent[101].evaluator["Made in the dashboard"] (id 9001)`
        "#);
    // Apply leaves it alone.
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    assert!(w.state().evaluators.contains_key(&9001));
}

#[test]
fn renamed_from_renames_the_same_evaluator_and_test_profile_never_creates_a_second() {
    let w = World::examples();
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    let before = id_of(&w, 202, "Toothache emergency");
    let profile = |w: &World, name: &str| {
        w.state().test_profiles.values().find(|p| p.agent == Some(202) && p.name == name).map(|p| p.id)
    };
    let profile_before = profile(&w, "New patient").unwrap();
    let file = "bright-smile/reception.yaml";
    w.edit(
        file,
        "    - name: Toothache emergency\n",
        "    - name: Dental emergency\n      renamed_from: [Toothache emergency]\n",
    );
    w.edit(file, "    - name: New patient\n", "    - name: First-time patient\n      renamed_from: [New patient]\n");
    w.edit(file, "test_profile: New patient", "test_profile: First-time patient");
    let out = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.code, 2, "{}", out.snapshot());
    let _ids = id_free().bind_to_scope();
    insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 2
        --- stdout
        Plan: 0 to create, 2 to update, 0 to delete, in 2 API calls.

          ~ cekura.agent[202].test_profile["First-time patient"] (renamed from "New patient")
              name:          "New patient" -> "First-time patient"
          ~ cekura.agent[202].evaluator["Dental emergency"] (renamed from "Toothache emergency")
              name:          "Toothache emergency" -> "Dental emergency"

        API calls:
          1. PATCH /test_framework/v1/test-profiles/[ID]/            update test profile "First-time patient"
          2. PATCH /test_framework/v1/scenarios/[ID]/                update "Dental emergency": name
        --- stderr
        "#);
    let json = w.run(&["plan", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let renamed: Vec<String> = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| Some(format!("{} <- {}", c["address"].as_str()?, c["renamed_from"].as_str()?)))
        .collect();
    insta::assert_debug_snapshot!(renamed, @r#"
        [
            "cekura.agent[202].test_profile[\"First-time patient\"] <- New patient",
            "cekura.agent[202].evaluator[\"Dental emergency\"] <- Toothache emergency",
        ]
        "#);
    let md = w.run(&["plan", "--format", "markdown"]);
    assert!(
        md.stdout.contains(r#"evaluator["Dental emergency"] (renamed from "Toothache emergency")"#),
        "{}",
        md.stdout
    );
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    assert_eq!(id_of(&w, 202, "Dental emergency"), before, "the same evaluator, renamed");
    assert_eq!(profile(&w, "First-time patient"), Some(profile_before), "the same test profile, renamed");
    assert_eq!(profile(&w, "New patient"), None);
    assert!(!w.state().evaluators.values().any(|e| e.name == "Toothache emergency"));
    w.assert_exact();
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[test]
fn a_create_next_to_an_undeclared_evaluator_with_the_same_script_hints_at_renamed_from() {
    let w = World::examples();
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    w.edit("bright-smile/reception.yaml", "    - name: Toothache emergency\n", "    - name: Dental emergency\n");
    let out = w.run(&["plan"]);
    let tail: String = out.stdout.lines().skip_while(|l| !l.starts_with("Not managed")).collect::<Vec<_>>().join("\n");
    let _ids = id_free().bind_to_scope();
    insta::assert_snapshot!(tail, @r#"
        Not managed (on the platform, declared by no manifest; never changed):
          ? cekura.agent[202].evaluator["Toothache emergency"] (id [ID]): same script as "Dental emergency", which this plan creates

        Notes:
          - cekura.agent[202].evaluator["Dental emergency"]: looks like a rename of "Toothache emergency" (id [ID]), which has the same script and no manifest declares: to keep that evaluator and its history, add `renamed_from: ["Toothache emergency"]` to this evaluator
        "#);
}

#[test]
fn a_target_that_matches_nothing_is_an_error_naming_it_and_brackets_work_literally() {
    let w = World::examples();
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 0);
    let out = w.run(&["plan", "--detailed-exitcode", "--target", "Tootache*", "--exclude", "Nothing like this"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
        exit: 1
        --- stdout
        --- stderr
        error: cannot plan: 2 problems
        caused by: --target `Tootache*` matches no resource of the manifests' agents and prompts
        caused by: --exclude `Nothing like this` matches no resource of the manifests' agents and prompts
        hint: patterns are globs on a resource's name or address (`Order*`, `cekura.agent[12].*`); see docs/planning.md
        "#);
    let id = id_of(&w, 202, "Toothache emergency");
    w.sb.with_state(|s| s.edit_evaluator(id, json!({"max_duration": 600}))).unwrap();
    let out = w.run(&["plan", "--detailed-exitcode", "--target", "cekura.agent[202].*"]);
    assert_eq!(out.code, 2, "{}", out.snapshot());
    assert!(out.stdout.contains(r#"~ cekura.agent[202].evaluator["Toothache emergency"]"#), "{}", out.stdout);
}

#[test]
fn an_earlier_name_still_declared_by_another_evaluator_is_an_error() {
    let w = World::examples();
    w.edit(
        "bright-smile/reception.yaml",
        "    - name: Toothache emergency\n",
        "    - name: Toothache emergency\n      renamed_from: [Book a cleaning]\n",
    );
    let out = w.run(&["plan"]);
    assert_eq!(out.code, 1, "{}", out.snapshot());
    insta::assert_snapshot!(out.stderr, @r#"
        error: cannot plan: 1 problem
        caused by: bright-smile/reception.yaml:58:7: cekura.agent[202].evaluator["Toothache emergency"]: `renamed_from` names "Book a cleaning", which another evaluator of this agent is declared as (hint: an old name must not be in use; remove it from `renamed_from`, or rename the other)
        "#);
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

/// `-v` says where a plan's time goes: loading, the platform's reads (which start while the manifests load) and
/// planning.
#[test]
fn verbose_plan_says_where_the_time_goes() {
    let w = World::examples();
    let out = w.run(&["plan", "-v"]);
    assert_eq!(out.code, 0, "{}", out.snapshot());
    let timings: Vec<&str> = out.stderr.lines().filter(|l| l.contains("timing:")).collect();
    crate::common::settings().bind(|| insta::assert_snapshot!(timings.join("\n"), @"
    INFO timing: manifests loaded in [DURATION] (4 files, 2 agents, 13 evaluators, 4 test profiles, 1 prompt with 4 test cases)
    INFO timing: platform read [DURATION] after the start ([DURATION] after loading; the reads start while the manifests load)
    INFO timing: planned in [DURATION] (28 changes, 41 API calls)
    "));
}
